import CFuzzing
import Glibc

/// Coverage-guided fuzzers of what vserverd reads from others: config files, Varlink messages, state files.
///
/// `vserverd-fuzz TARGET FILE-OR-DIRECTORY…` runs the inputs through one harness and reports. Built with
/// `-Xswiftc -DFUZZING -Xcc -DFUZZING -Xswiftc -sanitize=fuzzer,address` (scripts/fuzz), the same command hands
/// everything after TARGET to libFuzzer instead. A harness traps (a crash libFuzzer reports) when the code under
/// test traps or breaks a property it must keep, such as "what is written reads back the same".
@main
struct FuzzMain {
    static let targets: [(name: String, run: @Sendable (UnsafeBufferPointer<UInt8>) -> Void)] = [
        ("toml", Harnesses.toml),
        ("config", Harnesses.config),
        ("json", Harnesses.json),
        ("varlink", Harnesses.varlink),
        ("framing", Harnesses.framing),
        ("utilvserver", Harnesses.utilVServer),
        ("state", Harnesses.state),
    ]

    nonisolated(unsafe) static var selected: (UnsafeBufferPointer<UInt8>) -> Void = { _ in }

    static func main() {
        var arguments = Array(CommandLine.arguments.dropFirst())
        // libFuzzer's own child processes (-fork, -jobs) get the target from the environment.
        let name = arguments.first.flatMap { $0.hasPrefix("-") ? nil : $0 }
            ?? getenv("VSERVERD_FUZZ_TARGET").map { String(cString: $0) }
        guard let name, let target = targets.first(where: { $0.name == name }) else {
            let names = targets.map(\.name).joined(separator: " ")
            complain("usage: vserverd-fuzz TARGET [FILE|DIRECTORY…]\ntargets: \(names)")
            exit(2)
        }
        if arguments.first == name { arguments.removeFirst() }
        setenv("VSERVERD_FUZZ_TARGET", name, 1)
        selected = target.run
        #if FUZZING
        var argv = ([CommandLine.arguments[0]] + arguments).map { strdup($0) }
        exit(vs_fuzz_run_driver(Int32(argv.count), &argv) { data, size in
            FuzzMain.selected(UnsafeBufferPointer(start: data, count: size))
            return 0
        })
        #else
        replay(name, arguments)
        #endif
    }

    /// Runs every file (directories: every file in them) through the harness: the corpus as a regression test.
    static func replay(_ name: String, _ paths: [String]) {
        var count = 0
        for path in paths {
            for file in Scratch.files(at: path) {
                guard let bytes = Scratch.read(file) else {
                    complain("vserverd-fuzz: cannot read \(file)")
                    exit(1)
                }
                bytes.withUnsafeBufferPointer { selected($0) }
                count += 1
            }
        }
        print("\(name): \(count) inputs, no crash")
    }

    static func complain(_ message: String) {
        let line = Array((message + "\n").utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
}

/// libFuzzer's entry point when linked with its own main; the driver above is what scripts/fuzz uses.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    FuzzMain.selected(UnsafeBufferPointer(start: data, count: size))
    return 0
}
