# Sourced by scripts/test and scripts/demo: installs the Debian packages and the Python Varlink client
# the build and the tests need, only when something is missing.
# gcc and libc6-dev: the seccomp and confinement tests compile static probes with /usr/bin/cc.
# btrfs-progs: the disk quota tests make a btrfs image with mkfs.btrfs.
# xfsprogs, rsync, acl, libcap2-bin: the storage tests copy roots on XFS with reflinks and compare them with rsync,
#   with an ACL (setfacl) and a file capability (setcap) in them.
# prometheus: the metrics test scrapes `vserverd --metrics` with a Prometheus of its own (its own ports and data).
# lxcfs: the lxcfs = true test runs an lxcfs of its own on a temp dir.
# bpftool: the net = "bound" tests check that stop leaves none of the guest's BPF programs loaded.
# tar, zstd: export and import-archive run them (their test also sets ACLs and capabilities and uses rsync).
debian_packages="libsystemd-dev pkg-config busybox-static util-linux iproute2 python3 gcc libc6-dev btrfs-progs
    prometheus lxcfs bpftool xfsprogs rsync acl libcap2-bin tar zstd"

# scripts/package and scripts/e2e-package: dpkg-dev (dpkg-shlibdeps), lintian, systemd-container (systemd-nspawn).
# shellcheck disable=SC2034  # used by the scripts that source this file
packaging_packages="dpkg-dev lintian systemd-container"

# install_packages PACKAGE...: the ones that are not installed yet.
install_packages() {
    missing=""
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
    done
    if [ -n "$missing" ]; then
        echo "installing:$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq $missing >/dev/null
    fi
}

install_deps() {
    # shellcheck disable=SC2086
    install_packages $debian_packages
    # The tests talk to vserverd with a real Varlink client: python's varlink package.
    if ! python3 -c 'import varlink' 2>/dev/null; then
        python3 -m pip install --quiet varlink 2>/dev/null \
            || python3 -m pip install --quiet --break-system-packages varlink
    fi
    if ! command -v swift >/dev/null 2>&1; then
        echo "swift is not on PATH (Swift 6.1 or newer is needed)" >&2
        exit 1
    fi
}
