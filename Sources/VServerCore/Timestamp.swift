import Glibc

/// UTC time as ISO 8601 ("2026-11-23T18:30:00Z"), the form `startedAt` uses.
func iso8601(_ seconds: time_t) -> String {
    var time = seconds
    var parts = tm()
    gmtime_r(&time, &parts)
    var buffer = [CChar](repeating: 0, count: 32)
    let length = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
    return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
