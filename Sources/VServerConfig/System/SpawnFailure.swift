import CVServerSpawn
import Glibc

/// A `vs_error` of the C shim (`{step, path, err}`, filled where the call failed, in the child or the parent) as
/// Swift carries it to the user's message: the one place that reads and renders one.
package struct SpawnFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was being done: "mount proc", "setns", "exec".
    package var step: String
    /// What it was done on; empty when nothing.
    package var path: String
    package var errno: Int32

    package init(step: String, path: String, errno: Int32) {
        self.step = step
        self.path = path
        self.errno = errno
    }

    package init(_ error: vs_error) {
        var error = error
        step = cString(of: &error.step)
        path = cString(of: &error.path)
        errno = error.err
    }

    /// The errno text alone ("No such file or directory").
    package var message: String { String(cString: strerror(errno)) }

    /// "mount proc on /vservers/web/proc: No such file or directory", "exec /sbin/init: Permission denied",
    /// "setrlimit: Operation not permitted".
    package var description: String {
        if path.isEmpty { return "\(step): \(message)" }
        // A step that ends in its own preposition ("check start time of") or names a program reads on directly.
        let direct = step == "exec" || ["of", "on", "to", "in", "at", "from", "for"].contains(where: {
            step.hasSuffix(" \($0)")
        })
        return direct ? "\(step) \(path): \(message)" : "\(step) on \(path): \(message)"
    }
}

/// Reads a fixed-size C char array (a struct field imported as a tuple) as a String.
package func cString<T>(of tuple: inout T) -> String {
    withUnsafeBytes(of: &tuple) { raw in
        let bytes = raw.prefix { $0 != 0 }
        return String(decoding: bytes, as: UTF8.self)
    }
}
