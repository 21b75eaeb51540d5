import Glibc

/// A mount as written (a `[[mount]]` table or an fstab line), before validation.
package struct MountSpec {
    package enum Field { case source, target, type, options }

    package var source: String
    package var target: String
    package var type: String?
    package var options: [String]
    /// "vserver.toml:12", "fstab:3".
    package var origin: String
    /// util-vserver's fstab takes targets relative to the guest's root as well.
    package var allowsRelativeTarget: Bool

    /// The validated mount, or nil for lines that are skipped on purpose (`noauto`, proc/sysfs/devpts), with
    /// warnings. `fail` and `warn` turn a message about a field into one that names file, line and key.
    package func validate(fail: (Field, String) -> ConfigError, warn: (Field, String) -> String) throws(ConfigError)
        -> (mount: VServerConfig.Mount?, warnings: [String])
    {
        let parsed: MountOptions.Parsed
        do throws(Problem) {
            parsed = try MountOptions.parse(options)
        } catch {
            throw fail(.options, error.message)
        }

        if !parsed.isBind, let type, let mountpoint = MountOptions.kernelManaged[type] {
            // util-vserver's default fstab lines for /proc and /dev/pts say what vserverd does anyway.
            let lost = options.filter { !MountOptions.kernelManagedDefaults(type).contains($0) }
            let (normalized, _) = Validation.guestPath(target, allowRelative: allowsRelativeTarget)
            if normalized == mountpoint && lost.isEmpty { return (nil, []) }
            let what = lost.isEmpty ? "" : ", and with it \(lost.joined(separator: ","))"
            return (nil, [warn(.type, "vserverd mounts \(mountpoint) itself; skipped\(what)")])
        }

        let (normalizedTarget, targetProblem) = Validation.guestPath(target, allowRelative: allowsRelativeTarget)
        guard let normalizedTarget else { throw fail(.target, targetProblem ?? "invalid target") }
        if parsed.isNoAuto { return (nil, [warn(.options, "noauto: not mounted")]) }

        var mountType: String?
        if parsed.isBind {
            if let type, type != "none" && type != "bind" {
                throw fail(.type, "a bind mount has no filesystem type, not \(quoted(type))")
            }
            guard source.hasPrefix("/") else {
                throw fail(.source, "the source of a bind mount must be an absolute host path, not \(quoted(source))")
            }
            let status: FileStatus?
            do throws(SystemError) {
                status = try FileSystem.status(source)
            } catch {
                throw fail(.source, error.description)
            }
            guard status != nil else { throw fail(.source, "\(source) does not exist on the host") }
            // The start opens it without following symlinks (docs/ARCHITECTURE.md §7): say so now, with the line.
            if let link = FileSystem.firstSymlink(in: source) {
                throw fail(.source, "\(link) is a symbolic link; bind sources are opened without following "
                               + "symlinks (one on the way could be swapped to point anywhere): give the real path")
            }
        } else {
            guard let type, !type.isEmpty else {
                throw fail(.type, "a filesystem type is required unless the options contain bind or rbind")
            }
            guard type != "none" else { throw fail(.type, "type \"none\" needs the bind or rbind option") }
            mountType = type
        }
        guard !source.isEmpty else { throw fail(.source, "must not be empty") }

        var warnings: [String] = []
        if parsed.isBind, let problem = MountWarnings.bindSourceProblem(source) {
            warnings.append(warn(.source, problem))
        }
        if let mountType, let problem = MountWarnings.typeProblem(mountType) { warnings.append(warn(.type, problem)) }
        if let shadowing = MountOptions.mountedLater.first(where: {
            normalizedTarget == $0 || normalizedTarget.hasPrefix($0 + "/")
        }) {
            warnings.append(
                warn(.target, "\(normalizedTarget) is hidden by the \(shadowing) vserverd mounts after this one"))
        }
        let mount = VServerConfig.Mount(
            source: source, target: normalizedTarget, type: mountType, flags: parsed.flags,
            data: parsed.data.isEmpty ? nil : parsed.data.joined(separator: ","), origin: origin)
        return (mount, warnings)
    }
}

/// mount(8)-style option words → MS_* flags and the data string the filesystem gets.
package enum MountOptions {
    package struct Parsed: Equatable {
        package var flags: UInt = 0
        package var data: [String] = []
        package var isBind: Bool { flags & UInt(MS_BIND) != 0 }
        package var isNoAuto = false
    }

    /// Option → (flags to set, flags to clear).
    package static let flagOptions: [String: (set: Int, clear: Int)] = [
        "ro": (MS_RDONLY, 0), "rw": (0, MS_RDONLY),
        "nosuid": (MS_NOSUID, 0), "suid": (0, MS_NOSUID),
        "nodev": (MS_NODEV, 0), "dev": (0, MS_NODEV),
        "noexec": (MS_NOEXEC, 0), "exec": (0, MS_NOEXEC),
        "noatime": (MS_NOATIME, 0), "atime": (0, MS_NOATIME),
        "nodiratime": (MS_NODIRATIME, 0), "diratime": (0, MS_NODIRATIME),
        "relatime": (MS_RELATIME, 0), "norelatime": (0, MS_RELATIME),
        "strictatime": (MS_STRICTATIME, 0), "nostrictatime": (0, MS_STRICTATIME),
        "sync": (MS_SYNCHRONOUS, 0), "async": (0, MS_SYNCHRONOUS),
        "dirsync": (MS_DIRSYNC, 0),
        "lazytime": (MS_LAZYTIME, 0), "nolazytime": (0, MS_LAZYTIME),
        "nosymfollow": (MS_NOSYMFOLLOW, 0),
        "bind": (MS_BIND, 0), "rbind": (MS_BIND | MS_REC, 0),
        "defaults": (0, 0),
    ]

    /// fstab words that mean something to mount(8) or systemd, never to the kernel.
    package static let ignored: Set<String> = ["auto", "nouser", "_netdev", "nofail"]

    /// Options that need more than one mount(2) call or a helper; refused rather than silently dropped.
    package static let unsupported: [String: String] = [
        "remount": "remounting is not a mount", "move": "moving mounts is not supported",
        "loop": "loop devices are not set up by vserverd",
        "shared": "propagation flags are not supported", "rshared": "propagation flags are not supported",
        "slave": "propagation flags are not supported", "rslave": "propagation flags are not supported",
        "private": "propagation flags are not supported", "rprivate": "propagation flags are not supported",
        "unbindable": "propagation flags are not supported", "runbindable": "propagation flags are not supported",
        "user": "user mounts are a host fstab feature", "users": "user mounts are a host fstab feature",
        "owner": "user mounts are a host fstab feature", "group": "user mounts are a host fstab feature",
    ]

    /// Filesystem types vserverd mounts itself (docs/ARCHITECTURE.md §4), with where.
    package static let kernelManaged = ["proc": "/proc", "sysfs": "/sys", "devpts": "/dev/pts"]

    /// Options of a `kernelManaged` line that vserverd's own mount has as well (rootfs_dev.c, spawn.c).
    package static func kernelManagedDefaults(_ type: String) -> Set<String> {
        let common: Set<String> = ["defaults", "rw", "nosuid", "nodev", "noexec", "relatime", "auto"]
        return type == "devpts"
            ? common.union(["gid=5", "mode=620", "mode=0620", "newinstance", "ptmxmode=0666", "ptmxmode=666"]) : common
    }

    /// vserverd mounts these after the configured mounts, hiding anything mounted beneath them.
    package static let mountedLater = ["/proc", "/sys", "/dev"]

    package static func parse(_ options: [String]) throws(Problem) -> Parsed {
        var parsed = Parsed()
        for option in options {
            if option.isEmpty { throw Problem("empty mount option") }
            if let (set, clear) = flagOptions[option] {
                parsed.flags = parsed.flags & ~UInt(clear) | UInt(set)
            } else if option == "noauto" {
                parsed.isNoAuto = true
            } else if let reason = unsupported[option] {
                throw Problem("mount option \(quoted(option)) is not supported: \(reason)")
            } else if ignored.contains(option) || option.hasPrefix("x-") || option.hasPrefix("comment=") {
                continue
            } else if option.utf8.contains(0) || option.utf8.contains(UInt8(ascii: ",")) {
                throw Problem("mount option \(quoted(option)) must not contain \",\" or NUL")
            } else {
                parsed.data.append(option)
            }
        }
        return parsed
    }
}
