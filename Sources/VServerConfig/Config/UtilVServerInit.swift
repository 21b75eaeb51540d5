/// util-vserver's `apps/init/` read the way its `_generateInitOptions` (scripts/vserver.functions) read it, mapped
/// onto vserverd's init styles:
///
/// - `style` missing or `sysv` (util-vserver's default): `init-style = "sysv"`, vserverd's stub init running the
///   guest's `/etc/init.d/rc` (or `/etc/rc.d/rc`) with `runlevel.start` (or `runlevel`, default 3) at start and
///   `runlevel.stop` (default 6) at stop. With no style, a guest without such an rc starts its own init
///   (`init-style = "auto"`), with a warning when it has one: util-vserver would not have started it.
/// - `plain`: the guest's /sbin/init as PID 1 (`runlevel.start` as its argument), `init-style = "auto"`: vserverd
///   asks it to stop the way that init wants (sysvinit: runlevel 0; systemd: SIGRTMIN+3). util-vserver sent it
///   SIGINT, which sysvinit and systemd take for ctrl-alt-del, a reboot that util-vserver's helper then ended.
/// - `minit`: /sbin/minit-start as PID 1, `init-style = "plain"`, `stop-signal = "SIGINT"` (what util-vserver sent).
/// - `gentoo`/`openrc`: `init-style = "rc"` with the guest's init-vserver.sh and `runlevel.start` (default
///   "default") at start and `env -i … RUNLEVEL=0 /sbin/rc shutdown` at stop; `arch`: /etc/rc.multi and
///   /etc/rc.shutdown.
/// - `cmd.start`, `cmd.stop` (one word a line) replace the style's start and stop commands: for sysv, gentoo and
///   arch they become `[rc] start` and `stop`; for plain and minit `cmd.start` is PID 1.
/// - `killseq` ("signal [wait signal]…", a word a line) → `kill-sequence` of the styles with the stub init.
/// - `environment` (VAR=VALUE a line) → `environment`.
/// What util-vserver had and vserverd does not run (its stop command for plain and minit, `runlevel.stop` where the
/// style takes none, a kill sequence for an init that ends the rest itself) is named by a warning.
struct UtilVServerInit: UtilVServerFiles {
    let directory: String
    let readFile: UtilVServerResources.ReadFile
    var warnings: [String] = []

    /// util-vserver's styles, each with what vserverd makes of it.
    static let styles = ["sysv", "plain", "minit", "gentoo", "openrc", "arch"]
    /// Where Gentoo's baselayout-vserver and OpenRC keep the script that boots a vserver.
    static let gentooWrappers = ["/lib/rcscripts/sh/init-vserver.sh", "/lib/rc/sh/init-vserver.sh"]
    /// util-vserver's gentoo stop command: OpenRC's shutdown runlevel in a clean environment.
    static let gentooStop = ["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "RUNLEVEL=0", "/sbin/rc", "shutdown"]
    static let rcScripts = ["/etc/init.d/rc", "/etc/rc.d/rc"]

    init(directory: String, readFile: @escaping UtilVServerResources.ReadFile) {
        self.directory = directory
        self.readFile = readFile
    }

    /// Needs `config.root` (the guest's tree says which rc, which init-vserver.sh it has).
    mutating func read(into config: inout VServerConfig) throws(ConfigError) {
        try readEnvironment(into: &config)
        let styleLine = try line("apps/init/style")
        let style = styleLine.map(\.text) ?? ""
        var start = try line("apps/init/runlevel.start")
        if start == nil { start = try line("apps/init/runlevel") }
        let stop = try line("apps/init/runlevel.stop")
        let startCommand = try words("apps/init/cmd.start")
        let stopCommand = try words("apps/init/cmd.stop")
        let killSequence = try readKillSequence()

        switch style {
        case "", "sysv":
            let rc = Self.rcScripts.first { GuestFiles.isExecutableFile($0, root: config.root) }
            if rc == nil && startCommand == nil {
                if let styleLine {
                    warn(styleLine.path, "sysv runs /etc/init.d/rc or /etc/rc.d/rc, which \(config.root) does not "
                         + "have: nothing will run in it but vserverd's stub init")
                } else {
                    // A tree with neither starts in neither; one with an init starts it here, and did not there.
                    if GuestFiles.isExecutableFile(VServerConfig.defaultInit[0], root: config.root) {
                        warn(path("apps/init/style"),
                             "missing: util-vserver's default style is sysv, which runs /etc/init.d/rc or "
                                + "/etc/rc.d/rc, and \(config.root) has neither (util-vserver would not start it): "
                                + "vserverd starts its /sbin/init (init-style = \"auto\")")
                    }
                    ignore(stop, because: "the guest's init runs as it is, and stops its own way")
                    ignore(killSequence)
                    return
                }
            }
            for (level, isStart) in [(start, true), (stop, false)] {
                guard let (file, text) = level else { continue }
                if let problem = Settings.runlevelProblem(text) {
                    throw ConfigError(file: file, line: 1, message: problem)
                }
                if isStart { config.startRunlevel = text } else { config.stopRunlevel = text }
            }
            config.killSequence = killSequence?.sequence ?? .standard
            guard startCommand != nil || stopCommand != nil else {
                config.initStyle = .sysv
                return
            }
            // cmd.start/cmd.stop replace the rc commands: vserverd's general form of the sysv style.
            let script = rc ?? Self.rcScripts[0]
            config.initStyle = .rc
            config.rcStart = startCommand?.argv ?? [script, config.startRunlevel]
            config.rcStop = stopCommand?.argv ?? [script, config.stopRunlevel]
        case "gentoo", "openrc":
            config.initStyle = .rc
            if let startCommand {
                config.rcStart = startCommand.argv
            } else {
                let root = config.root
                guard let wrapper = Self.gentooWrappers.first(where: { GuestFiles.isExecutableFile($0, root: root) })
                else {
                    throw ConfigError(file: styleLine!.path, line: 1, message: "\(quoted(style)) boots through "
                        + Self.gentooWrappers.joined(separator: " or ") + ", which \(config.root) does not have")
                }
                config.rcStart = [wrapper, start?.text ?? "default"]
            }
            config.rcStop = stopCommand?.argv ?? Self.gentooStop
            config.killSequence = killSequence?.sequence ?? .standard
            ignore(stop, because: "util-vserver's \(style) style stops with \"rc shutdown\"")
        case "arch":
            config.initStyle = .rc
            config.rcStart = startCommand?.argv ?? ["/etc/rc.multi"]
            config.rcStop = stopCommand?.argv ?? ["/etc/rc.shutdown"]
            config.killSequence = killSequence?.sequence ?? .standard
            ignore(stop, because: "util-vserver's arch style stops with /etc/rc.shutdown")
        case "plain", "minit":
            // The program is PID 1 itself (util-vserver's "fakeinit"), and util-vserver stopped it with SIGINT.
            let program = style == "plain" ? VServerConfig.defaultInit : ["/sbin/minit-start"]
            config.entry = .initProgram(startCommand?.argv ?? program + (start.map { [$0.text] } ?? []))
            if style == "plain" {
                config.initStyle = .auto
            } else {
                config.initStyle = .plain
                config.stopSignal = Signals.named("SIGINT")
            }
            if let stopCommand {
                warn(stopCommand.path, "ignored: util-vserver sent SIGINT to a \(style) init instead of running it"
                     + (style == "plain" ? "; vserverd asks the init to stop the way it wants" : ", as vserverd does"))
            }
            ignore(stop, because: "util-vserver stopped a \(style) init with SIGINT, not a runlevel")
            ignore(killSequence)
        default:
            throw ConfigError(
                file: styleLine!.path, line: 1,
                message: "unknown init style \(quoted(style)) (util-vserver's styles: "
                    + Self.styles.joined(separator: ", ") + ")")
        }
    }

    /// `apps/init/environment`: one VAR=VALUE a line, the environment util-vserver started the init with.
    private func readEnvironment(into config: inout VServerConfig) throws(ConfigError) {
        guard let (file, text) = try readFile("apps/init/environment") else { return }
        for (number, line) in meaningfulLines(text) {
            guard let equals = line.firstIndex(of: "=") else {
                throw ConfigError(file: file, line: number, message: "expected VAR=VALUE, found \(quoted(line))")
            }
            let name = String(line[..<equals])
            if let problem = Validation.environmentNameProblem(name) {
                throw ConfigError(file: file, line: number, message: problem)
            }
            config.environment[name] = String(line[line.index(after: equals)...])
        }
    }

    /// A command file as util-vserver's getFileArray reads it: one argument a line, blank lines skipped.
    private func words(_ relative: String) throws(ConfigError) -> (path: String, argv: [String])? {
        guard let (file, text) = try readFile(relative) else { return nil }
        let argv = text.split(separator: "\n").map(String.init).filter { !trimmed(Substring($0)).isEmpty }
        guard let program = argv.first else { return nil }
        if let problem = Settings.programProblem(program, allowsBareName: true) {
            throw ConfigError(file: file, line: 1, message: problem)
        }
        return (file, argv)
    }

    private func readKillSequence() throws(ConfigError) -> (path: String, sequence: KillSequence)? {
        guard let (file, text) = try readFile("apps/init/killseq") else { return nil }
        // A word a line, as getFileArray reads it (words on one line are taken too).
        let words = text.split(whereSeparator: { $0 == "\n" || $0 == " " || $0 == "\t" }).joined(separator: " ")
        do throws(Problem) {
            return (file, try KillSequence.parse(words))
        } catch {
            throw ConfigError(file: file, message: error.message)
        }
    }

    /// Files util-vserver read that mean nothing in the mapping chosen: each named, none silent.
    private mutating func ignore(_ stop: (path: String, text: String)?, because reason: String) {
        if let stop { warn(stop.path, "ignored: \(reason)") }
    }

    /// A kill sequence where PID 1 is the guest's own init: the kernel kills what is left when it ends.
    private mutating func ignore(_ killSequence: (path: String, sequence: KillSequence)?) {
        guard let killSequence, killSequence.sequence != .standard else { return }
        warn(killSequence.path, "ignored: PID 1 is the guest's own init, which stops its processes itself; what is "
             + "left when it ends is killed with SIGKILL")
    }
}
