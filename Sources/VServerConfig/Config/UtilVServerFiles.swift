/// What the readers of util-vserver's files in a vserver directory share (`UtilVServerResources`,
/// `UtilVServerInterfaces`): the directory, a way to read its files, and the warnings they give.
protocol UtilVServerFiles {
    /// The vserver's util-vserver directory.
    var directory: String { get }
    /// Reads a file of `directory` by its relative path, nil when it is missing.
    var readFile: UtilVServerResources.ReadFile { get }
    var warnings: [String] { get set }
}

extension UtilVServerFiles {
    func path(_ relative: String) -> String { Path.join(directory, relative) }

    /// `file` relative to the vserver directory, as messages name another file.
    func relative(_ file: String) -> String {
        file.hasPrefix(directory + "/") ? String(file.dropFirst(directory.count + 1)) : file
    }

    mutating func warn(_ file: String, _ message: String) {
        warnings.append(ConfigError(file: file, message: message).description)
    }

    /// The sorted names in a subdirectory, nil when it is not one.
    func names(in relative: String) throws(ConfigError) -> [String]? {
        let directory = path(relative)
        guard (try? FileSystem.status(directory))?.isDirectory == true else { return nil }
        do throws(SystemError) {
            return try FileSystem.listDirectory(directory)
        } catch {
            throw ConfigError(file: directory, failed: error)
        }
    }

    /// The first line, trimmed; nil when the file is missing.
    func line(_ relative: String) throws(ConfigError) -> (path: String, text: String)? {
        guard let (file, text) = try readFile(relative) else { return nil }
        let first = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return (file, trimmed(first))
    }
}
