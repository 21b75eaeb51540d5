import Glibc
import Testing

import VServerProtocol

/// One line for scripts/test's reliability report: both corpora checked again as a whole, so that the line is
/// only written when every case gets its expected error.
@Test func theCorporaAreSummarisedForTheReliabilityReport() async {
    let configs = InvalidConfigCorpus.cases.filter { InvalidConfigCorpus.error($0.0) == $0.1 }.count
    var messages = 0
    for (message, expected) in MalformedMessageCorpus.cases {
        if await MalformedMessageCorpus.answer(message) == expected { messages += 1 }
    }
    #expect(InvalidConfigCorpus.cases.count >= 50 && MalformedMessageCorpus.cases.count >= 50)
    guard configs == InvalidConfigCorpus.cases.count, messages == MalformedMessageCorpus.cases.count,
          let report = getenv("VSERVERD_RELIABILITY_REPORT").map({ String(cString: $0) }), !report.isEmpty
    else { return }
    let line = "corpus: \(configs) invalid configs, \(messages) malformed messages, all refused with their expected "
        + "error\n"
    let fd = open(report, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
    #expect(fd >= 0, "cannot open \(report)")
    guard fd >= 0 else { return }
    defer { close(fd) }
    let bytes = Array(line.utf8)
    #expect(bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == bytes.count)
}
