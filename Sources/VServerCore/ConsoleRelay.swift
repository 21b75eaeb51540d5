import CVServerSpawn
import Glibc
import Synchronization
import VServerConfig
import VServerProtocol

/// Copies what guests write to their pty console (the pty on /dev/console and their PID 1's stdout and stderr) into
/// their console logs, for all guests from one thread: epoll over the pty masters. The daemon holds the only master
/// of each console, so no host process per guest is needed, and a slave of it too: without one a guest that closes
/// every console fd it has (systemd does between its messages) would hang the pty up until it opens one again.
final class ConsoleRelay: Sendable {
    /// One guest's console: the fds it owns until the guest is gone.
    final class Console: Sendable {
        let master: Int32
        /// Keeps the pty up while no guest process has the console open.
        let slave: Int32
        let log: Int32
        let path: String
        /// The masters of its /dev/ttyN: held (their gettys wait for a login nobody types), not read.
        let ttys: [Int32]
        /// A CR right before the LF of the next read (the pty turns "\n" into "\r\n"; the log keeps "\n").
        let pendingCarriageReturn = Mutex(false)

        init(master: Int32, slave: Int32, log: Int32, path: String, ttys: [Int32]) {
            self.master = master
            self.slave = slave
            self.log = log
            self.path = path
            self.ttys = ttys
        }

        deinit {
            close(master)
            close(slave)
            close(log)
            for tty in ttys { close(tty) }
        }
    }

    private let epollFD: Int32
    private let consoles = Mutex<[Int32: Console]>([:])

    init() throws(SystemError) {
        epollFD = vs_epoll_create()
        guard epollFD >= 0 else { throw SystemError("epoll_create1") }
        Thread.detach { [self] in run() }
    }

    /// Starts copying from `master` (a pty master, which this takes, with the tty masters) to the log file at
    /// `logPath`.
    func attach(master: Int32, ttys: [Int32], logPath: String) throws(SystemError) -> Console {
        let log = open(logPath, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o640)
        let slave = log < 0 ? -1 : vs_pty_peer(master)
        let flags = slave < 0 ? -1 : vs_fcntl(master, F_GETFL, 0)
        guard flags >= 0, vs_fcntl(master, F_SETFL, flags | O_NONBLOCK) == 0 else {
            let error = log < 0
                ? SystemError("open", path: logPath) : SystemError("open the console pty of", path: logPath)
            for fd in [master, log, slave] + ttys where fd >= 0 { close(fd) }
            throw error
        }
        let console = Console(master: master, slave: slave, log: log, path: logPath, ttys: ttys)
        consoles.withLock { $0[master] = console }
        guard vs_epoll_add(epollFD, master) == 0 else {
            let error = SystemError("epoll_ctl add console")
            _ = consoles.withLock { $0.removeValue(forKey: master) }
            throw error
        }
        return console
    }

    /// Copies what is still buffered and stops watching: the guest has ended.
    func detach(_ console: Console) {
        guard consoles.withLock({ $0.removeValue(forKey: console.master) }) != nil else { return }
        vs_epoll_remove(epollFD, console.master)
        drain(console)
    }

    private func run() {
        Epoll.forEachReady(epollFD) { fd in
            guard let console = consoles.withLock({ $0[fd] }) else { return }
            if !drain(console) {
                // EIO with nothing to read: nobody can write to it any more; stop rather than spin.
                consoles.withLock { _ = $0.removeValue(forKey: console.master) }
                vs_epoll_remove(epollFD, console.master)
            }
        }
    }

    /// Reads until the master is empty and appends to the log; false when the pty is gone.
    @discardableResult
    private func drain(_ console: Console) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(console.master, $0.baseAddress, $0.count) }
            if count > 0 {
                let text = console.pendingCarriageReturn.withLock { pending in
                    Self.withoutCarriageReturns(buffer[0..<count], pending: &pending)
                }
                _ = text.withUnsafeBytes { write(console.log, $0.baseAddress, $0.count) }
                continue
            }
            if count < 0 && errno == EINTR { continue }
            return count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
        }
    }

    /// The bytes with each CR that comes right before an LF left out; a CR at the end is held back in `pending`
    /// until the next read shows what follows it.
    static func withoutCarriageReturns(_ bytes: ArraySlice<UInt8>, pending: inout Bool) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 1)
        for byte in bytes {
            if pending && byte != UInt8(ascii: "\n") { out.append(UInt8(ascii: "\r")) }
            pending = byte == UInt8(ascii: "\r")
            if !pending { out.append(byte) }
        }
        return out
    }
}
