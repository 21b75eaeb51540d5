import Glibc
import VServerConfig

/// `exec --bind-ip ADDR… -- COMMAND` (util-vserver's `chbind --ip`): COMMAND on the host, not in a vserver, held to
/// ADDR as a bound vserver is to its addresses, so that a host service (xinetd, sshd) leaves the guests' addresses
/// free. vserverctl moves itself into a cgroup2 cgroup of its own, `vserverd-bound/PID-TIME`, with the bound programs
/// on it, and execs COMMAND there: COMMAND and everything it forks stay bound. 127.0.0.1 stays the host's; other
/// addresses of 127.0.0.0/8 are refused to it. Each run first removes the cgroups of the earlier ones that have ended
/// (rmdir refuses a cgroup that still has processes).
enum HostBinding {
    static func run(_ texts: [String], command: [String]) -> Int32 {
        do throws(CommandFailure) {
            try enterBoundCgroup(try addresses(texts))
        } catch {
            printError("exec", error)
            return Join.failureStatus
        }
        let argv = command.map { strdup($0) } + [nil]
        execvp(command[0], argv)
        let failure = errno
        printError("exec", CommandFailure("\(command[0]): \(String(cString: strerror(failure)))"))
        return failure == ENOENT ? 127 : 126
    }

    private static func addresses(_ texts: [String]) throws(CommandFailure) -> [IPAddress] {
        guard geteuid() == 0 else { throw CommandFailure("--bind-ip needs root", exitStatus: Join.failureStatus) }
        var addresses: [IPAddress] = []
        for text in texts {
            guard let address = IPAddress(text), !address.isUnspecified, !address.isLoopback, !address.isMulticast
            else {
                throw CommandFailure("--bind-ip: \(quoted(text)) is not an address a command can be bound to",
                                     exitStatus: Join.failureStatus)
            }
            guard BoundPrograms.isLocal(address) else {
                throw CommandFailure("--bind-ip: \(address) is not an address of this host",
                                     exitStatus: Join.failureStatus)
            }
            addresses.append(address)
        }
        return addresses
    }

    private static func enterBoundCgroup(_ addresses: [IPAddress]) throws(CommandFailure) {
        guard let unified = CgroupHost.current.unifiedMount else {
            throw CommandFailure("--bind-ip needs a cgroup2 hierarchy (on /sys/fs/cgroup or /sys/fs/cgroup/unified)",
                                 exitStatus: Join.failureStatus)
        }
        let base = "\(unified)/vserverd-bound"
        for entry in FileSystem.entries(base) { rmdir("\(base)/\(entry)") }
        let directory = "\(base)/\(getpid())-\(time(nil))"
        for path in [base, directory] where mkdir(path, 0o755) != 0 && errno != EEXIST {
            throw CommandFailure("\(SystemError("mkdir", path: path))", exitStatus: Join.failureStatus)
        }
        do throws(CommandFailure) {
            do throws(SpawnFailure) {
                try BoundPrograms.attach(to: directory, addresses: addresses,
                                         loopback: IPAddress(family: .v4, bytes: [127, 0, 0, 1]))
            } catch {
                throw CommandFailure("\(error)", exitStatus: Join.failureStatus)
            }
            do throws(SystemError) {
                // "0": the process that writes, vserverctl; COMMAND inherits the cgroup with the exec.
                try FileSystem.writeKernelFile("\(directory)/cgroup.procs", "0\n")
            } catch {
                throw CommandFailure("\(error)", exitStatus: Join.failureStatus)
            }
        } catch {
            rmdir(directory)
            throw error
        }
    }
}
