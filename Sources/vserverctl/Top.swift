import ArgumentParser
import CVServerSpawn
import Glibc
import VServerCLI
import VServerConfig
import VServerProtocol

extension TopSort: ExpressibleByArgument {}

struct Top: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the running vservers' CPU, memory and I/O, refreshed (like vtop or systemd-cgtop).",
        discussion: """
            Columns: NAME CTX TASKS CPU% MEM PEAK READ/s WRITE/s. CPU% is user + system time per wall time over \
            the last interval (100 = one CPU), READ/s and WRITE/s bytes per second: both from two samples \
            --delay seconds apart, "-" where the guest's cgroups do not count them. On a terminal the view \
            refreshes in place: c, m, t, i or n sorts by CPU, memory, tasks, I/O or name, q quits. Otherwise (or \
            with --json) it prints a table (a JSON line) per refresh, like `top -b`; --once prints one and exits.
            """)

    @Option(help: "What to sort by, largest first (name: A to Z).")
    var sort: TopSort = .cpu

    @Option(help: "Seconds between refreshes (and between the two samples of --once).")
    var delay: Double = 1

    @Flag(help: "Print one table, --delay seconds after the first sample, and exit.")
    var once = false

    @Flag(help: "Print each refresh as one JSON line: {\"vservers\": [{\"name\", \"cpuPercent\", ...}]}.")
    var json = false

    @OptionGroup var connection: ConnectionOptions

    func validate() throws {
        guard delay >= 0.05 && delay <= 86400 else {
            throw ValidationError("--delay must be between 0.05 and 86400 seconds")
        }
    }

    func run() throws {
        if once || json || isatty(1) == 0 {
            try printRefreshes(connection.manager)
            return
        }
        switch onTerminal(connection.manager) {
        case .quit:
            return
        case .signal(let number):
            // The terminal and the signal mask are restored: end as the signal would have ended it.
            raise(number)
            throw ExitCode(128 + number)
        case .failure(let failure):
            printError("top", failure)
            throw ExitCode.failure
        }
    }

    /// Without a terminal: a table (or a JSON line) per refresh, until --once or a signal ends it.
    private func printRefreshes(_ manager: ManagerClient) throws {
        do throws(ManagerError) {
            var previous = try Self.sample(manager)
            var first = true
            repeat {
                Self.sleep(until: previous.time + delay)
                let current = try Self.sample(manager)
                let rows = TopRow.sorted(TopRow.rows(from: previous, to: current), by: sort)
                if json {
                    print(TopRow.json(rows))
                } else {
                    if !first { print("") }
                    print(Self.screen(rows, sort, keys: false).lines().joined(separator: "\n"))
                }
                fflush(nil)
                (previous, first) = (current, false)
            } while !once
        } catch {
            printError("top", CommandFailure(error))
            throw ExitCode.failure
        }
    }

    private enum Ending {
        case quit
        case signal(Int32)
        case failure(CommandFailure)
    }

    /// The live view. When it returns, the terminal is as it was and the signals are unblocked again.
    private func onTerminal(_ manager: ManagerClient) -> Ending {
        let interruption: Interruption
        do { interruption = try Interruption(signals: [SIGINT, SIGTERM, SIGHUP, SIGWINCH, SIGTSTP]) } catch {
            return .failure(CommandFailure("\(error)"))
        }
        let terminal = TopTerminal()
        let ending = refresh(manager, terminal, interruption)
        terminal.restore()
        return ending
    }

    private func refresh(_ manager: ManagerClient, _ terminal: TopTerminal, _ interruption: Interruption) -> Ending {
        var sort = self.sort
        var current: TopSample
        do { current = try Self.sample(manager) } catch { return .failure(CommandFailure(error)) }
        var rows = TopRow.rows(from: nil, to: current)
        var readsKeys = terminal.readsKeys
        terminal.draw(Self.screen(rows, sort, keys: readsKeys))
        var next = current.time + delay
        while true {
            var fds = [pollfd(fd: interruption.fd, events: Int16(POLLIN), revents: 0)]
            if readsKeys { fds.append(pollfd(fd: 0, events: Int16(POLLIN), revents: 0)) }
            let timeout = Int32(max(0, ((next - Self.monotonicNow()) * 1000).rounded(.up)))
            if poll(&fds, nfds_t(fds.count), timeout) < 0 && errno != EINTR {
                return .failure(CommandFailure("\(SystemError("poll"))"))
            }
            var redraw = false
            if fds[0].revents != 0 {
                while case let signal = vs_signalfd_next(interruption.fd), signal > 0 {
                    switch signal {
                    case SIGWINCH:
                        redraw = true
                    case SIGTSTP:
                        terminal.suspend()
                        redraw = true
                    default:
                        return .signal(signal)
                    }
                }
            }
            if readsKeys && fds[1].revents != 0 {
                var keys = [UInt8](repeating: 0, count: 64)
                let count = read(0, &keys, keys.count)
                if count == 0 || (count < 0 && errno != EINTR && errno != EAGAIN) { readsKeys = false }
                for key in keys.prefix(max(0, count)) {
                    if key == UInt8(ascii: "q") || key == UInt8(ascii: "Q") { return .quit }
                    if let picked = TopSort(key: key) { (sort, redraw) = (picked, true) }
                }
            }
            if Self.monotonicNow() >= next {
                let previous = current
                do { current = try Self.sample(manager) } catch { return .failure(CommandFailure(error)) }
                rows = TopRow.rows(from: previous, to: current)
                next = max(next + delay, Self.monotonicNow())
                redraw = true
            }
            if redraw { terminal.draw(Self.screen(rows, sort, keys: readsKeys)) }
        }
    }

    /// A `List` reply, timed at the middle of the call.
    private static func sample(_ manager: ManagerClient) throws(ManagerError) -> TopSample {
        let before = monotonicNow()
        let vservers = try manager.list()
        return TopSample(vservers: vservers, time: (before + monotonicNow()) / 2)
    }

    private static func screen(_ rows: [TopRow], _ sort: TopSort, keys: Bool) -> TopScreen {
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        func two(_ n: Int32) -> String { n < 10 ? "0\(n)" : "\(n)" }
        let host = TopHost(loadavg: try? FileSystem.readText("/proc/loadavg"),
                           meminfo: try? FileSystem.readText("/proc/meminfo"))
        return TopScreen(clock: "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))", host: host,
                         rows: TopRow.sorted(rows, by: sort), sort: sort, keys: keys)
    }

    static func monotonicNow() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    private static func sleep(until deadline: Double) {
        var until = timespec(tv_sec: Int(deadline), tv_nsec: Int((deadline - deadline.rounded(.down)) * 1e9))
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, nil) == EINTR {}
    }
}

/// The terminal while `top` shows on it: the alternate screen without a cursor, and stdin (when it is a terminal)
/// without line editing or echo, so that single keys arrive. `restore` puts it back as it was.
private final class TopTerminal {
    /// stdin's settings before, when stdin is a terminal.
    private let saved: termios?
    private var active = false

    init() {
        var settings = termios()
        saved = isatty(0) != 0 && tcgetattr(0, &settings) == 0 ? settings : nil
        enter()
    }

    deinit { restore() }

    var readsKeys: Bool { saved != nil }

    func enter() {
        if var raw = saved {
            raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
            withUnsafeMutableBytes(of: &raw.c_cc) {
                $0[Int(VMIN)] = 1
                $0[Int(VTIME)] = 0
            }
            tcsetattr(0, TCSADRAIN, &raw)
        }
        write("\u{1B}[?1049h\u{1B}[?25l")
        active = true
    }

    /// The main screen, the cursor and stdin's settings again; once, however often it is called.
    func restore() {
        guard active else { return }
        active = false
        write("\u{1B}[?25h\u{1B}[?1049l")
        if var saved { tcsetattr(0, TCSADRAIN, &saved) }
    }

    /// Ctrl-Z: the terminal as it was while stopped, the view again after `fg`.
    func suspend() {
        restore()
        kill(getpid(), SIGSTOP)
        enter()
    }

    /// Clears the screen and draws `screen` cut to the window's size (TIOCGWINSZ of stdout).
    func draw(_ screen: TopScreen) {
        var size = winsize()
        let known = vs_ioctl(1, UInt(TIOCGWINSZ), &size) == 0 && size.ws_col > 0 && size.ws_row > 0
        let lines = screen.lines(width: known ? Int(size.ws_col) : nil, height: known ? Int(size.ws_row) : nil)
        write("\u{1B}[H\u{1B}[2J" + lines.joined(separator: "\r\n"))
    }

    private func write(_ text: String) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(1, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            if written <= 0 { return }
            bytes = bytes.dropFirst(written)
        }
    }
}
