import VServerProtocol

/// The CONTEXT and VSERVER columns of `vserverctl ps`.
public enum PSColumns {
    /// Context and vserver as shown: "0" and "host" for a host process.
    package static func cells(_ process: HostProcess) -> (context: String, vserver: String) {
        ("\(process.context ?? 0)", process.vserver ?? "host")
    }

    /// PID CONTEXT VSERVER COMMAND, numbers right-aligned as ps does.
    public static func table(_ processes: [HostProcess]) -> String {
        let rows = processes.map { process in
            let (context, vserver) = cells(process)
            return ("\(process.pid)", context, vserver, printable(process.command))
        }
        let pidWidth = max(5, rows.map(\.0.count).max() ?? 0)
        let contextWidth = max(7, rows.map(\.1.count).max() ?? 0)
        let vserverWidth = max(7, rows.map(\.2.count).max() ?? 0)
        var text = ""
        for (pid, context, vserver, command) in [("PID", "CONTEXT", "VSERVER", "COMMAND")] + rows {
            text += pid.leftPadded(to: pidWidth) + " " + context.leftPadded(to: contextWidth) + " "
                + vserver.rightPadded(to: vserverWidth) + " " + command + "\n"
        }
        return text
    }

    /// A guest's command line as it may reach a terminal: control characters (C0, DEL, C1: an ESC sequence could
    /// rewrite the admin's screen or title) become "?", as ps(1) shows them.
    package static func printable(_ command: String) -> String {
        guard command.unicodeScalars.contains(where: isControl) else { return command }
        return String(String.UnicodeScalarView(command.unicodeScalars.map { isControl($0) ? "?" : $0 }))
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    /// ps(1) output with " CONTEXT VSERVER" inserted after the PID column on every line; the rest of each line
    /// is kept as it was, so columns stay aligned. With `onlyListed` only lines of listed PIDs stay (ps NAME).
    /// nil when the header has no PID column.
    public static func insert(into output: String, processes: [HostProcess], onlyListed: Bool) -> String? {
        var lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last?.isEmpty == true { lines.removeLast() }
        guard let header = lines.first,
              let column = header.split(separator: " ").firstIndex(of: "PID"),
              let headerEnd = endOfField(column, in: header)
        else { return nil }
        var byPID: [Int32: (context: String, vserver: String)] = [:]
        for process in processes { byPID[process.pid] = cells(process) }
        let contextWidth = max(7, byPID.values.map(\.context.count).max() ?? 0)
        let vserverWidth = max(7, byPID.values.map(\.vserver.count).max() ?? 0)
        func inserted(_ line: Substring, at end: String.Index, _ context: String, _ vserver: String) -> String {
            String(line[..<end]) + " " + context.leftPadded(to: contextWidth) + " "
                + vserver.rightPadded(to: vserverWidth) + line[end...]
        }

        var text = inserted(header, at: headerEnd, "CONTEXT", "VSERVER") + "\n"
        for line in lines.dropFirst() {
            guard let end = endOfField(column, in: line) else {
                if !onlyListed { text += line + "\n" }
                continue
            }
            let cells = Int32(line[..<end].split(separator: " ").last ?? "").flatMap { byPID[$0] }
            if onlyListed && cells == nil { continue }
            text += inserted(line, at: end, cells?.context ?? "-", cells?.vserver ?? "-") + "\n"
        }
        return text
    }

    /// Where the field with this index (0-based, fields separated by spaces) ends, nil when the line has fewer.
    package static func endOfField(_ index: Int, in line: Substring) -> String.Index? {
        var position = line.startIndex
        for field in 0...index {
            guard let start = line[position...].firstIndex(where: { $0 != " " }) else { return nil }
            position = line[start...].firstIndex(of: " ") ?? line.endIndex
            if field == index { return position }
        }
        return nil
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }

    fileprivate func rightPadded(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
