/// The IDL texts this project serves: `io.vserverd.Manager` (docs/ARCHITECTURE.md §6) and `org.varlink.service`.

public let managerInterfaceName = "io.vserverd.Manager"

/// The IDL of `io.vserverd.Manager`, served by `org.varlink.service.GetInterfaceDescription`.
public let managerInterfaceDescription = """
    # Manages the vservers of this host: Linux guest systems that run in their own namespaces.
    interface io.vserverd.Manager

    # How a PID 1 ended: how is exited (status is its exit status), killed or dumped (status is the signal
    # number; dumped: it also dumped core).
    type ExitStatus (how: string, status: int)

    # A vserver, its configuration and, while it runs, its PID 1 and usage.
    # state is one of stopped, starting, running, stopping, failed; reason says why it failed or stopped.
    # exit is how its last PID 1 ended, when vserverd saw it end (not for a stop it was asked for).
    # The accounting fields are there where its cgroups (or its root's file system, for disk) count them.
    type VServer (name: string, context: int, state: string, root: string, hostname: string,
                  autostart: bool, pid: ?int, startedAt: ?string, processes: ?int, memoryBytes: ?int,
                  memoryPeakBytes: ?int, cpuUserSeconds: ?float, cpuSystemSeconds: ?float, ioReadBytes: ?int,
                  ioWriteBytes: ?int, diskBytes: ?int, diskLimitBytes: ?int, reason: ?string, exit: ?ExitStatus)

    # A process on the host; vserver and context are null for a process of the host itself.
    type Process (pid: int, vserver: ?string, context: ?int, command: string)

    # All configured vservers, sorted by name.
    method List() -> (vservers: []VServer)

    # One vserver, by name or context number.
    method Get(name: string) -> (vserver: VServer)

    # Starts a vserver and returns once its PID 1 runs and its post-start hooks succeeded.
    method Start(name: string) -> (vserver: VServer)

    # Stops a vserver: stop-signal to its PID 1, SIGKILL after timeout seconds (default: stop-timeout;
    # 0 to 3600, else InvalidParameter).
    method Stop(name: string, timeout: ?int) -> (vserver: VServer)

    # Stops and starts a vserver.
    method Restart(name: string) -> (vserver: VServer)

    # A limit of [resources] or [disk], with its value as vserver.toml writes it (memory-max, "512M").
    type Limit (key: string, value: string)

    # A vserver with its limits: those in force while it runs (its config's, as changed by SetResources),
    # else its config's.
    method GetResources(name: string) -> (vserver: VServer, limits: []Limit)

    # Changes limits, each assignment "KEY=VALUE" (memory-max=128M; "max" or an empty value takes a limit
    # away). A running vserver gets them at once; unless runtime, they are also written into its vserver.toml,
    # keeping its comments and layout. A bad assignment is InvalidConfig, and nothing is changed.
    method SetResources(name: string, assignments: []string, runtime: bool) -> (vserver: VServer, limits: []Limit)

    # Starts every vserver with autostart = true, dependencies first, several at a time. A failure skips
    # its dependents; errors has one line per failed or skipped vserver ("web: pre-start hook ...").
    # started is in the order the starts finished. jobs: at most this many at once, 1 to 1024 (default: the
    # daemon's --jobs, which defaults to the number of CPUs). mark: the vservers with that mark instead
    # (util-vserver's apps/init/mark; a config's marks = [...]); "default" (the default) is autostart = true.
    # An invalid vserver with the mark is in failed, with its error.
    method StartAutostart(jobs: ?int, mark: ?string) -> (started: []string, failed: []string, errors: []string)

    # Starts every vserver with a valid config, like StartAutostart.
    method StartAll(jobs: ?int) -> (started: []string, failed: []string, errors: []string)

    # Stops every running vserver, dependents first.
    method StopAll() -> (stopped: []string, failed: []string, errors: []string)

    # Reads the configuration directory again.
    method Reload() -> (added: []string, removed: []string, changed: []string)

    # The vserver a host process belongs to; null for a process of the host.
    method Whois(pid: int) -> (vserver: ?string, context: ?int)

    # The processes of one vserver, or every process of the host when name is null (vserver and context are
    # null for the host's own).
    method Processes(name: ?string) -> (processes: []Process)

    # What vserverctl needs to run a command inside a running vserver (enter, exec): its PID 1 on the host with
    # the start time to check a pidfd against (field 22 of /proc/PID/stat), the environment its init got, its
    # bounding set (bit n = capability n), its shell, the directory of its own cgroup (its systemd scope)
    # when it has one, and of its cgroup in the v1 pids hierarchy of a hybrid host (its pids limit), and its
    # seccomp policy ("default" or "unconfined"). Root only: the caller joins its namespaces.
    method Join(name: string) -> (pid: int, startTime: int, environment: [string]string, capabilities: int,
                                  shell: []string, cgroup: ?string, seccomp: ?string, legacyCgroups: ?[]string)

    # Renames a stopped vserver, all or nothing: its config directory, its root when it is at the default place
    # (/vservers/NAME; movedRoot is then its new path), its console log and state, and the after of every other
    # vserver that names it (dependents). newName must be free.
    method Rename(name: string, newName: string) -> (vserver: VServer, movedRoot: ?string, dependents: []string)

    # Deletes a stopped vserver: its config directory and, unless keepRoot, its root (root: the path removed),
    # never crossing into another file system. Refused while another vserver names it in after. Both are first
    # renamed to hidden names, so a failure leaves it whole; leftOver lists what could not be removed after that.
    method Delete(name: string, keepRoot: bool) -> (root: ?string, leftOver: []string)

    # Copies a vserver to a new one, newName: its root (to root, default /vservers/NEWNAME) with reflinks where the
    # file system shares extents (btrfs, XFS with reflink=1; reflinked says so), else by copy, keeping owners,
    # modes, hard links, xattrs, ACLs, file capabilities, devices, holes and times; its config with that root,
    # context (default: a free one), hostname (default: newName), and no autostart or marks; a fresh
    # /etc/machine-id and /etc/hostname inside. The vserver must be stopped unless runningOk (the copy is then
    # crash-consistent at best). With "more": progress replies (done false) with the bytes copied so far of
    # totalBytes; a failure or a hang-up leaves nothing.
    method Clone(name: string, newName: string, root: ?string, context: ?int, hostname: ?string, runningOk: ?bool)
        -> (files: int, bytes: int, totalBytes: int, done: bool, reflinked: ?bool, vserver: ?VServer,
            warnings: ?[]string)

    # What a vserver's root uses on disk: bytes and inodes (a walk like du -sx, hard links once), and of the bytes
    # those in extents the file system shares (with another guest, a snapshot or a reflink copy: FIEMAP) and the
    # rest; a btrfs subvolume with qgroups is read from its qgroup (inodes null, limitBytes its limit).
    type RootDiskUsage (name: string, root: string, usedBytes: int, usedInodes: ?int, sharedBytes: int,
                        exclusiveBytes: int, limitBytes: ?int, source: string)

    # The disk usage of the vservers named (every valid one when names is empty), as vserverctl du shows it.
    method DiskUsage(names: []string) -> (vservers: []RootDiskUsage)

    # util-vserver's vhashify done with the kernel: identical regular files of 4 KiB or more across the vservers
    # named (every valid one when names is empty) share their extents through FIDEDUPERANGE. The kernel compares
    # the bytes itself and later writes are copy-on-write, so it is safe on running vservers; only data is shared
    # (owners, modes and times stay each file's). Each guest's dpkg conffiles and the files its util-vserver
    # apps/vunify/exclude names are left alone. dryRun only counts. A file system without shared extents (ext4)
    # is an InternalError naming it. With "more": progress replies (done false); a hang-up stops it (each
    # step is atomic: nothing is left half-shared).
    method Hashify(names: []string, dryRun: bool) -> (filesExamined: int, bytesExamined: int, filesDeduped: int,
                                                      bytesDeduped: int, skipped: int, done: bool)

    # Writes a vserver as a tar archive (POSIX format, numeric owners, xattrs, ACLs, hard links, devices, sparse
    # files): its config directory under vserver/NAME/, its root under root/. path is opened by the daemon: a
    # file is written under a temporary name and renamed once complete; a pipe (/proc/PID/fd/N) is written
    # as it goes. compression is "zstd", "gzip" or "none" (default: .tar.zst, .tar.gz by path, else none). The
    # vserver must be stopped unless runningOk (then the copy is only crash-consistent). Root only. With "more":
    # a reply every 1000 files (done false), then the last; hanging up stops it and removes what it wrote.
    method Export(name: string, path: string, compression: ?string, runningOk: ?bool) -> (files: int, done: bool)

    # Makes a vserver from an Export archive read from path (a file, or a pipe; compression as for Export,
    # found from the file's first bytes when not given): under name (default: the archived one), with its root
    # at root (default /vservers/NAME) and its context unless another vserver has that one (then a free one).
    # The archive is untrusted: members that would land outside the new root are not written, anything but
    # vserver/NAME/ and root/ is refused, and so are hooks (scripts/) and bind mounts of host paths in its config
    # unless trustConfig. A failure, or a hang-up during "more", leaves nothing behind. Root only.
    method ImportArchive(path: string, compression: ?string, name: ?string, root: ?string, trustConfig: ?bool)
        -> (files: int, done: bool, vserver: ?VServer, warnings: ?[]string)

    # Called with "more": first the current state of every vserver, then one reply per state change,
    # until the client hangs up.
    method Monitor() -> (name: string, state: string, reason: ?string)

    # No vserver has this name or context number.
    error NoSuchVServer (name: string)

    # The configuration of a vserver is invalid; file is the file at fault.
    error InvalidConfig (name: string, file: string, reason: string)

    error AlreadyRunning (name: string)

    error NotRunning (name: string)

    # A vserver listed in after is not running.
    error DependencyNotRunning (name: string, dependency: string)

    # A hook script failed; output holds its last lines. timeout is set when it was killed for running
    # longer than hook-timeout seconds.
    error HookFailed (name: string, hook: string, script: string, exitCode: int, output: string, timeout: ?int)

    # Starting failed at step (for example "mount proc on /vservers/web/proc").
    error StartFailed (name: string, step: string, reason: string)

    # Mutating methods need uid 0 or the group vserverd.
    error PermissionDenied (reason: string)

    # Anything else that failed on the daemon's side (a system call), as a sentence.
    error InternalError (reason: string)

    # Whois: no process has this PID.
    error NoSuchProcess (pid: int)

    """

/// The IDL of `org.varlink.service` as on https://varlink.org/Service, including the two errors added
/// there after the first published version.
public let varlinkServiceInterfaceDescription = """
    # The Varlink Service Interface is provided by every varlink service. It
    # describes the service and the interfaces it implements.
    interface org.varlink.service

    # Get a list of all the interfaces a service provides and information
    # about the implementation.
    method GetInfo() -> (
      vendor: string,
      product: string,
      version: string,
      url: string,
      interfaces: []string
    )

    # Get the description of an interface that is implemented by this service.
    method GetInterfaceDescription(interface: string) -> (description: string)

    # The requested interface was not found.
    error InterfaceNotFound (interface: string)

    # The requested method was not found
    error MethodNotFound (method: string)

    # The interface defines the requested method, but the service does not
    # implement it.
    error MethodNotImplemented (method: string)

    # One of the passed parameters is invalid.
    error InvalidParameter (parameter: string)

    # Client is denied access
    error PermissionDenied ()

    # Method is expected to be called with 'more' set to true, but wasn't
    error ExpectedMore ()

    """
