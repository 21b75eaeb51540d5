import Glibc

/// C strings that live as long as the arena: what a C struct points to during one call.
package final class CStringArena {
    private var pointers: [UnsafeMutablePointer<CChar>] = []

    package init() {}

    package func copy(_ string: String) -> UnsafePointer<CChar> {
        let pointer = strdup(string)!
        pointers.append(pointer)
        return UnsafePointer(pointer)
    }

    /// A NULL-terminated array of C strings (argv, envp).
    package func nullTerminated(_ strings: [String]) -> [UnsafePointer<CChar>?] {
        strings.map { copy($0) } + [nil]
    }

    deinit {
        for pointer in pointers { free(pointer) }
    }
}
