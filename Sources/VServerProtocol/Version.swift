/// The version of vserverd and vserverctl (`--version`, Varlink GetInfo, the metrics' vserverd_build_info): the
/// VERSION file at the top of the repository, which scripts/package also puts on the .deb. SwiftPM cannot read a
/// file at build time without a plugin, so it is written here as well; VersionTests fails when the two disagree.
package let vserverdVersion = "0.15.0"
