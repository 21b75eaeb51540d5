import Foundation
import Testing

extension Integration {
    /// Issue 17, crash at every step: vserverd dies (VSERVERD_FAIL_AT, `_exit` as a `kill -9` would end it) at each
    /// step of a start and a stop, and a new vserverd starts on the same state directory. Whatever the step, no
    /// guest runs twice or untracked, a half-started one is adopted as running or undone with its post-stop hooks,
    /// no cgroup, veth or mount stays behind, and every file of the state directory parses.
    @Suite struct CrashRecovery {
        /// What the restarted vserverd is to make of the guest.
        enum Outcome: String {
            case undone = "undone, post-stop ran"
            case adopted = "adopted as running"
            case ended = "stopped, post-stop ran"
        }

        struct Step: CustomTestStringConvertible, Sendable {
            var name: String
            /// The crash comes in `vserverctl stop` (else in `start`).
            var inStop: Bool
            var outcome: String
            /// The hooks the log shows after the restart, in order.
            var hooks: [String]
            var testDescription: String { name }
        }

        static let steps: [Step] = [
            Step(name: "after-pre-start", inStop: false, outcome: Outcome.undone.rawValue,
                 hooks: ["pre-start", "post-stop"]),
            Step(name: "while-held", inStop: false, outcome: Outcome.undone.rawValue,
                 hooks: ["pre-start", "post-stop"]),
            Step(name: "after-clone", inStop: false, outcome: Outcome.undone.rawValue,
                 hooks: ["pre-start", "post-stop"]),
            Step(name: "before-state-file", inStop: false, outcome: Outcome.undone.rawValue,
                 hooks: ["pre-start", "post-stop"]),
            Step(name: "after-state-file", inStop: false, outcome: Outcome.adopted.rawValue, hooks: ["pre-start"]),
            Step(name: "during-post-start", inStop: false, outcome: Outcome.adopted.rawValue,
                 hooks: ["pre-start", "post-start"]),
            Step(name: "after-stop-signal", inStop: true, outcome: Outcome.ended.rawValue,
                 hooks: ["pre-start", "post-start", "pre-stop", "post-stop"]),
            Step(name: "before-post-stop", inStop: true, outcome: Outcome.ended.rawValue,
                 hooks: ["pre-start", "post-start", "pre-stop", "post-stop"]),
            // The one it died in runs again: post-stop hooks must bear running twice (README, Hooks).
            Step(name: "during-post-stop", inStop: true, outcome: Outcome.ended.rawValue,
                 hooks: ["pre-start", "post-start", "pre-stop", "post-stop", "post-stop"]),
        ]

        @Test(arguments: steps)
        func daemonKilledAtStepLosesNoGuest(_ step: Step) async throws {
            let context = 1700 + Self.steps.firstIndex { $0.name == step.name }!
            // A command nothing else on the machine runs: `ps` of the host counts the guest's copies by it.
            let marker = "\(900_000 + context)"
            let hostInterface = "vs\(context)"
            let address = "10.217.\(getpid() % 250).\(context % 250)"
            try await withTestHost { host in
                let log = "\(host.directory)/hooks.log"
                let root = try host.addVServer("web", config: """
                    context = \(context)
                    command = ["/bin/sleep", "\(marker)"]
                    stop-timeout = 5

                    [namespaces]
                    net = "veth"

                    [network]
                    address = "\(address)/32"

                    """)
                for flavour in ["pre-start", "post-start", "pre-stop", "post-stop"] {
                    // The log line first: a crash at its output line leaves the hook's work done.
                    try host.addHook("web", flavour, "echo \(flavour) >> \(log)\necho \(flavour) ran")
                }
                let cgroup = host.cgroupParentDirectory.map { "\($0)/vserver-web" }
                try host.startDaemon(environment: ["VSERVERD_FAIL_AT": step.name])
                if step.inStop {
                    #expect(try host.ctl("start", "web").status == 0)
                    #expect(Self.copies(of: marker) == 1)
                }
                let crashed = try host.ctl(step.inStop ? "stop" : "start", "web")
                #expect(crashed.status != 0, "the call vserverd died in fails: \(crashed)")
                try waitUntil("vserverd to die at \(step.name)") { host.daemon?.isRunning == false }
                #expect(host.daemon?.terminationStatus == 86, "vserverd died at the crash point, not elsewhere")

                try host.startDaemon()
                let status = try host.ctl("status", "web")
                let running = status.status == 0
                let outcome: Outcome = running ? .adopted : step.inStop ? .ended : .undone
                #expect(outcome.rawValue == step.outcome, "\(status)")
                // Each a leak: a copy untracked or twice, a veth or cgroup of a stopped guest, a mount, a bad file.
                var leaks = abs(Self.copies(of: marker) - (running ? 1 : 0))
                if FileManager.default.fileExists(atPath: "/sys/class/net/\(hostInterface)") != running { leaks += 1 }
                if let cgroup, FileManager.default.fileExists(atPath: cgroup) != running { leaks += 1 }
                leaks += try hostMountInfo(below: root).count
                leaks += try Self.unparseableStateFiles(host.stateDirectory).count
                #expect(leaks == 0, "\(host.daemonLogText)")
                let hooks = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init)
                #expect(hooks == step.hooks)

                // Business as usual afterwards: it stops (or starts and stops) once.
                if !running {
                    #expect(try host.ctl("start", "web").status == 0)
                }
                #expect(Self.copies(of: marker) == 1)
                #expect(try host.ctl("stop", "web").status == 0)
                #expect(Self.copies(of: marker) == 0)
                if let cgroup { leaks += FileManager.default.fileExists(atPath: cgroup) ? 1 : 0 }
                leaks += try Self.unparseableStateFiles(host.stateDirectory).count
                #expect(leaks == 0)
                // What was seen (not what was expected), for the table of scripts/test.
                let call = step.inStop ? "stop" : "start"
                reliabilityReport("crash at \(step.name) (\(call)): \(outcome.rawValue); hooks "
                    + "\(hooks.joined(separator: ",")); leaks \(leaks)")
            }
        }

        /// The open-files limit, what 10 000 guests meet first (4 fds each): the starts past it fail naming the limit
        /// and undo themselves, the daemon keeps answering, and the guests that run are unharmed.
        @Test func startsPastTheOpenFilesLimitFailClearlyAndLeaveNothing() async throws {
            try await withTestHost { host in
                // One root for all: a copy each would take longer than the test.
                let root = try host.addVServer("g1", config: Self.sleeper)
                for index in 2...24 {
                    let directory = "\(host.configDirectory)/g\(index)"
                    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                    try ("root = \"\(root)\"\n" + Self.sleeper)
                        .write(toFile: "\(directory)/vserver.toml", atomically: true, encoding: .utf8)
                }
                try host.startDaemon(wrapper: ["/usr/bin/prlimit", "--nofile=64:64", "--"])
                let started = try host.ctl("start", "--all")
                #expect(started.status != 0)
                #expect(started.stderr.contains("vserverd's limit of 64 open files is reached"), "\(started)")
                let list = try host.ctl("list", "--json")
                #expect(list.status == 0)
                let running = try host.ctl("list").stdout.split(separator: "\n").filter { $0.contains(" running ") }
                #expect(running.count > 3 && running.count < 24, "\(list.stdout)")
                let cgroups = try host.cgroupParentDirectory.map {
                    try FileManager.default.contentsOfDirectory(atPath: $0).filter { $0.hasPrefix("vserver-") }
                } ?? []
                if host.cgroupParentDirectory != nil { #expect(cgroups.count == running.count, "\(cgroups)") }
                #expect(try host.ctl("stop", "--all").status == 0)
                reliabilityReport("open-files limit 64: \(running.count) of 24 started, the rest refused naming the "
                    + "limit; \(cgroups.count - running.count) cgroups left")
            }
        }

        static let sleeper = "init = [\"/bin/sleep\", \"100000\"]\nstop-signal = \"SIGKILL\"\n"

        /// Host processes running `sleep MARKER`.
        static func copies(of marker: String) -> Int {
            let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.filter { Int($0) != nil } ?? []
            return pids.filter { pid in
                guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
                let arguments = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
                return arguments.last == marker && arguments.first?.hasSuffix("sleep") == true
            }.count
        }

        /// Files of the state directory that are no JSON object (a refused file would be `.refused`: none either).
        static func unparseableStateFiles(_ directory: String) throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: directory).filter { entry in
                guard entry.hasSuffix(".json"),
                      let data = FileManager.default.contents(atPath: "\(directory)/\(entry)")
                else { return true }
                return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] == nil
            }
        }
    }
}
