import CSystemd
import Glibc
import Logging
import VarlinkServer

/// sd_notify(3): a no-op when the daemon was not started by systemd (no NOTIFY_SOCKET).
package enum SystemdNotify {
    package static func ready(status: String) {
        send("READY=1\nSTATUS=\(status)")
    }

    package static func status(_ status: String) {
        send("STATUS=\(status)")
    }

    package static func stopping() {
        send("STOPPING=1")
    }

    private static func send(_ state: String) {
        _ = sd_notify(0, state)
    }
}

/// The control socket: handed over by systemd socket activation (vserverd.socket), or bound here.
package enum ListeningSocket {
    package static func make(path: String, logger: Logger) throws -> Int32 {
        let passed = sd_listen_fds(1)
        if passed > 1 {
            logger.warning("systemd passed \(passed) sockets; using the first")
        }
        if passed >= 1 {
            logger.info("using the socket passed by systemd")
            return SD_LISTEN_FDS_START
        }
        // 0660 and the vserverd group: members may use vserverctl without root (docs/ARCHITECTURE.md §6).
        let group = AdministratorGroup.id()
        return try makeListeningSocket(path: path, mode: 0o660, group: group)
    }
}
