import Testing
import VServerProtocol

import VServerCLI

@Suite struct TopTests {
    static func guest(_ name: String, context: Int, state: VServerState = .running, pid: Int32? = 100,
                      processes: Int? = 3, memory: Int? = nil, peak: Int? = nil, user: Double? = nil,
                      system: Double? = nil, read: Int? = nil, written: Int? = nil) -> VServerInfo {
        var info = VServerInfo(name: name, context: context, state: state, root: "/vservers/\(name)", hostname: name,
                               autostart: false, pid: state == .running ? pid : nil,
                               startedAt: state == .running ? "2026-11-30T20:00:00Z" : nil,
                               processes: state == .running ? processes : nil, memoryBytes: memory)
        (info.memoryPeakBytes, info.cpuUserSeconds, info.cpuSystemSeconds) = (peak, user, system)
        (info.ioReadBytes, info.ioWriteBytes) = (read, written)
        return info
    }

    @Test func ratesAreTheCountersDifferenceOverTheWallTimeBetweenTheSamples() {
        let before = TopSample(vservers: [Self.guest("web", context: 1001, user: 1.0, system: 0.5, read: 1000,
                                                     written: 0)], time: 10)
        let after = TopSample(vservers: [Self.guest("web", context: 1001, processes: 7, memory: 5 << 20,
                                                    peak: 6 << 20, user: 2.5, system: 1.0, read: 5096,
                                                    written: 1 << 20)], time: 12)
        #expect(TopRow.rows(from: before, to: after) == [
            TopRow(name: "web", context: 1001, tasks: 7, cpuPercent: 100, memoryBytes: 5 << 20,
                   memoryPeakBytes: 6 << 20, ioReadBytesPerSecond: 2048, ioWriteBytesPerSecond: 512 * 1024),
        ])
    }

    @Test func onlyRunningGuestsHaveRowsAndTheFirstSampleHasNoRates() {
        let sample = TopSample(vservers: [
            Self.guest("web", context: 1001, memory: 1024, user: 1, system: 1, read: 1, written: 1),
            Self.guest("db", context: 1002, state: .stopped), Self.guest("old", context: 1003, state: .failed),
        ], time: 5)
        #expect(TopRow.rows(from: nil, to: sample) == [TopRow(name: "web", context: 1001, tasks: 3, memoryBytes: 1024)])
    }

    @Test func aGuestStartedAgainBetweenTheSamplesOrWithoutCountersHasNoRates() {
        let before = TopSample(vservers: [
            Self.guest("web", context: 1001, pid: 100, user: 0.2, system: 0, read: 10, written: 10),
            Self.guest("db", context: 1002, user: 1, system: 1),
            Self.guest("shop", context: 1004, pid: 300, user: 50, system: 5, read: 1 << 30, written: 1 << 30),
        ], time: 1)
        let after = TopSample(vservers: [
            // Started again: a new PID 1 whose counters began anew (and by now passed the old ones).
            Self.guest("web", context: 1001, pid: 200, user: 0.5, system: 0, read: 20, written: 20),
            Self.guest("db", context: 1002),
            Self.guest("new", context: 1003, user: 1, system: 1),
            // The same PID 1 but counters that went down (a cgroup made anew): never a negative rate.
            Self.guest("shop", context: 1004, pid: 300, user: 0.1, system: 0, read: 0, written: 0),
        ], time: 2)
        let rows = TopRow.rows(from: before, to: after)
        #expect(rows.map(\.name) == ["web", "db", "new", "shop"])
        #expect(rows.allSatisfy { $0.cpuPercent == nil && $0.ioReadBytesPerSecond == nil })
        #expect(rows.allSatisfy { $0.ioWriteBytesPerSecond == nil })
    }

    @Test func eachSortPutsTheLargestFirstUnknownFiguresLastAndTiesByName() {
        let rows = [
            TopRow(name: "a", context: 1, tasks: 2, cpuPercent: 5, memoryBytes: 300, ioReadBytesPerSecond: 10),
            TopRow(name: "b", context: 2, tasks: 9, cpuPercent: nil, memoryBytes: 100, ioWriteBytesPerSecond: 50),
            TopRow(name: "c", context: 3, tasks: 2, cpuPercent: 80, memoryBytes: nil),
            TopRow(name: "d", context: 4, tasks: nil, cpuPercent: 5, memoryBytes: 200, ioReadBytesPerSecond: 30,
                   ioWriteBytesPerSecond: 30),
        ]
        func order(_ sort: TopSort) -> String { TopRow.sorted(rows.reversed(), by: sort).map(\.name).joined() }
        #expect(order(.cpu) == "cadb")
        #expect(order(.memory) == "adbc")
        #expect(order(.tasks) == "bacd")
        #expect(order(.io) == "dbac")
        #expect(order(.name) == "abcd")
    }

    @Test func theSortKeysAreCMTIN() {
        #expect("cmtin".utf8.map { TopSort(key: $0) } == [.cpu, .memory, .tasks, .io, .name])
        #expect(TopSort(key: UInt8(ascii: "q")) == nil)
        #expect(TopSort(key: UInt8(ascii: "C")) == nil)
    }

    @Test func theHostFiguresComeFromLoadavgAndMeminfo() {
        let host = TopHost(loadavg: "0.52 1.40 10.31 2/345 6789\n", meminfo: """
            MemTotal:        8056748 kB
            MemFree:          123456 kB
            MemAvailable:    4028374 kB

            """)
        #expect(host == TopHost(loadAverage: [0.52, 1.40, 10.31], memoryTotalBytes: 8056748 * 1024,
                                memoryAvailableBytes: 4028374 * 1024))
        #expect(TopHost(loadavg: nil, meminfo: "MemTotal: x kB\n") == TopHost())
    }

    static let screen = TopScreen(
        clock: "21:30:05", host: TopHost(loadAverage: [0.5, 1.25, 0.005], memoryTotalBytes: 8 << 30,
                                         memoryAvailableBytes: 3 << 29),
        rows: [
            TopRow(name: "web", context: 1001, tasks: 12, cpuPercent: 99.84, memoryBytes: 123 << 20,
                   memoryPeakBytes: 200 << 20, ioReadBytesPerSecond: 1536, ioWriteBytesPerSecond: 0),
            TopRow(name: "database", context: 42, tasks: 3, cpuPercent: 0, memoryBytes: 1 << 20),
        ],
        sort: .cpu, keys: true)

    @Test func theScreenIsAHeaderTheKeysAndATableWithNumbersRightAligned() {
        #expect(Self.screen.lines() == [
            "21:30:05  2 running  load 0.50 1.25 0.01  memory 1.5G available of 8.0G",
            "sorted by cpu; keys: c cpu, m memory, t tasks, i io, n name, q quit",
            "",
            "NAME       CTX  TASKS  CPU%   MEM  PEAK  READ/s  WRITE/s",
            "web       1001     12  99.8  123M  200M    1.5K       0B",
            "database    42      3   0.0  1.0M     -       -        -",
        ])
        var once = Self.screen
        once.keys = false
        #expect(once.lines().count == 5)
        #expect(!once.lines().joined().contains("keys"))
    }

    @Test func theScreenIsCutToTheWindowsWidthAndHeight() {
        let lines = Self.screen.lines(width: 20, height: 5)
        #expect(lines == [
            "21:30:05  2 running ",
            "sorted by cpu; keys:",
            "",
            "NAME       CTX  TASK",
            "web       1001     1",
        ])
        #expect(Self.screen.lines(width: 200, height: 100) == Self.screen.lines())
        #expect(Self.screen.lines(width: 0, height: 0) == [])
    }

    @Test func aNameWithControlCharactersCannotWriteEscapesToTheTerminal() {
        var screen = Self.screen
        screen.rows = [TopRow(name: "evil\u{1B}[2J", context: 7)]
        #expect(screen.lines().last?.hasPrefix("evil?[2J  ") == true)
    }

    @Test func theJSONLineHasTheFiguresAndLeavesOutUnknownOnes() throws {
        let line = TopRow.json(Self.screen.rows)
        #expect(!line.contains("\n"))
        let vservers = try #require(try JSON.parse(line)["vservers"]?.arrayValue)
        #expect(vservers.count == 2)
        #expect(vservers[0] == [
            "name": "web", "context": 1001, "tasks": 12, "cpuPercent": 99.84, "memoryBytes": .int(123 << 20),
            "memoryPeakBytes": .int(200 << 20), "ioReadBytesPerSecond": 1536.0, "ioWriteBytesPerSecond": 0.0,
        ])
        #expect(vservers[1] == ["name": "database", "context": 42, "tasks": 3, "cpuPercent": 0.0,
                                "memoryBytes": .int(1 << 20)])
    }
}
