import Glibc

/// Splits a stream of output into lines, hands each on, and keeps the last few.
package struct LineCollector {
    package let keep: Int
    package let onLine: (String) -> Void
    package private(set) var lastLines: [String] = []
    private var partial: [UInt8] = []

    package init(keep: Int, onLine: @escaping (String) -> Void) {
        self.keep = keep
        self.onLine = onLine
    }

    /// Reads what is available from a non-blocking fd; false at end of file.
    package mutating func drain(_ fd: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count > 0 {
                append(buffer[0..<count])
            } else if count == 0 {
                return false
            } else {
                return errno == EAGAIN || errno == EINTR
            }
        }
    }

    package mutating func append(_ bytes: ArraySlice<UInt8>) {
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                emit()
            } else if partial.count < 4096 {
                partial.append(byte)
            }
        }
    }

    package mutating func flush() {
        if !partial.isEmpty { emit() }
    }

    private mutating func emit() {
        let line = String(decoding: partial, as: UTF8.self)
        partial.removeAll(keepingCapacity: true)
        onLine(line)
        lastLines.append(line)
        if lastLines.count > keep { lastLines.removeFirst() }
    }
}
