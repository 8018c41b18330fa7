import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if canImport(Synchronization) && !canImport(Darwin) // the same condition as in `StopFlag`
import Synchronization
#endif

/// Exit codes, as documented in README.md ("Exit codes").
public enum ExitCode: Int32, Sendable {
    /// Scan complete, nothing that fails the policy.
    case clean = 0
    /// Unsuppressed leaks found.
    case leaks = 1
    /// Incomplete or failed: a path missing or unreadable, a bad rule file, a report that could not be written.
    case incomplete = 2
    /// Bad usage: unknown flag, bad value.
    case usage = 64
    /// Stopped by SIGHUP (128 + 1); the partial summary is printed (see `Interrupt`).
    case hangUp = 129
    /// Interrupted (Ctrl-C, SIGINT: 128 + 2); the partial summary is printed.
    case interrupted = 130
    /// Stopped by SIGTERM (128 + 15); the partial summary is printed (see `Interrupt`).
    case terminated = 143

    /// True for the codes of a run a stop signal ended (129, 130, 143).
    public var isInterruption: Bool { self == .hangUp || self == .interrupted || self == .terminated }
}

/// The `mptscan` command line. The executable only calls `MPTScan.main`.
public enum MPTScan {
    /// The version printed by `--version` (`ToolInfo.version`).
    public static var version: String { ToolInfo.version }

    static let root = CommandSpec(
        overview: "Find leaked SoftwareOne Marketplace API tokens in files, directories and bundles.",
        usage: "mptscan <subcommand>",
        options: [OptionSpec(long: "version", help: "Show the version.")],
        subcommands: [
            ("scan", "Scan files and directories for Marketplace API tokens."),
            ("history", "Scan a repository's git history (all of it, or a range of commits)."),
            ("staged", "Scan what the next commit will hold (for a pre-commit hook)."),
            ("pre-push", "Scan the commits a push sends (for a pre-push hook)."),
            ("install-hook", "Install mptscan as the repository's pre-commit (and pre-push) hook."),
            ("sweep", "Scan the full history of many local clones into one JSON Lines report (resumable, incremental, sharded)."),
            ("merge", "Combine sweep outputs, de-duplicated on repository, path, rule id and fingerprint."),
            ("rules", "List or check the built-in detection rules."),
            ("init", "Write a starter .mptscan.json (and a CI pipeline with --ci)."),
            ("disable", "Disable the live tokens of a JSON report (re-checked, confirmed, audited)."),
            ("registry", "Work with the token registry (export: an offline snapshot; emulate: a local emulator)."),
            ("help", "Show help for a subcommand ('help config': the configuration file's settings)."),
        ])

    static let scan = CommandSpec(
        overview: "Scan files and directories for Marketplace API tokens.",
        usage: "mptscan scan [<options>] [<path> ...]",
        arguments: [("<path>", "Files or directories to scan; '-' reads standard input. (default: .)")],
        options: [
            OptionSpec(long: "format", valueName: "format", help: "Report format: \(reportFormatNames). (default: text)"),
            OptionSpec(long: "output", short: "o", valueName: "file", help: "Write the report to <file> (mode 0600) instead of standard output."),
            OptionSpec(long: "report", valueName: "format:file", help: "Also write a report in <format> to <file> (mode 0600); repeatable: --report sarif:out.sarif --report junit:out.xml.", repeatable: true),
            OptionSpec(long: "exclude", valueName: "glob", help: "Leave out paths matching a gitignore-style glob, relative to the scan root (repeatable).", repeatable: true),
            OptionSpec(long: "follow-symlinks", help: "Follow symbolic links (each file is scanned once, loops end)."),
            OptionSpec(long: "skip-unreadable", help: "Report unreadable paths as warnings instead of failing the scan (exit 2)."),
            OptionSpec(long: "show-secrets", help: "Show full token values (and names holding one) instead of redacted ones; never on standard error, never into an existing file its group or others may read."),
            OptionSpec(long: "no-color", help: "Never colour the text report (NO_COLOR is honoured too)."),
            OptionSpec(long: "jobs", short: "j", valueName: "n", help: "Worker threads. (default: the number of cores)"),
            OptionSpec(long: "quiet", short: "q", help: "Print no summary on standard error (errors are still printed)."),
        ] + adoptionOptions + registryOptions + limitOptions,
        discussion: """
        EXIT CODES:
          0    scan complete, nothing that fails the --fail-on policy
          1    leaks found that fail the policy (takes precedence over 2)
          2    scan incomplete: a path missing or unreadable (see --skip-unreadable), bytes left unscanned (a
               limit reached, a damaged archive), a registry that could not answer, a disable that failed
          64   bad usage
          130  interrupted (Ctrl-C); 143 SIGTERM, 129 SIGHUP: the partial summary is printed

        \(limitsDiscussion)

        \(registryDiscussion)

        A finding is allowed by `mptscan:allow` on its line or `mptscan:allow-next-line` on the line before;
        allowed findings are counted in the summary and listed in JSON with "suppressed": true.
        """)

    static let rules = CommandSpec(
        overview: "List or check the built-in detection rules.",
        usage: "mptscan rules <subcommand>",
        options: [],
        subcommands: [
            ("list", "List the rules (--format text|json)."),
            ("check", "Validate rules and run every example through the detector (built-in rules, or the *.json files in <dir>)."),
        ])

    static let rulesList = CommandSpec(
        overview: "List the built-in detection rules.", usage: "mptscan rules list [--format <format>]",
        options: [OptionSpec(long: "format", valueName: "format", help: "text or json. (default: text)")])

    static let rulesCheck = CommandSpec(
        overview: "Validate rules: ids, required fields, grammar, and every must-match and must-not-match example, in mutated forms too.",
        usage: "mptscan rules check [<dir>]",
        arguments: [("<dir>", "A directory of rule files (*.json) to check instead of the built-in rules.")],
        options: [])

    /// Environment variables removed at start: each would make a library print or store the registry credential.
    static let credentialLeakingVariables = ["URLSessionDebugLibcurl", "SSLKEYLOGFILE"]

    /// Runs the command line `args` (without the program name) and returns the exit code.
    public static func main(_ args: [String]) -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        // A closed stdin/stdout/stderr (`>&-`) would let the next open(2) take its number, and the report
        // would land in that file: hold each closed descriptor with /dev/null.
        for fd in [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO] where fcntl(fd, F_GETFD) == -1 {
            let null = open("/dev/null", fd == STDIN_FILENO ? O_RDONLY : O_WRONLY)
            if null >= 0 && null != fd { dup2(null, fd); _ = systemClose(null) }
        }
        _ = StopSignals.ignoredAtStart // read before any handler changes them
        // debugging switches that would hand out the registry credential: swift-corelibs-foundation's URLSession
        // logs every request header (Authorization included) to stderr when URLSessionDebugLibcurl is set, and
        // libcurl writes TLS session keys (which decrypt it on the wire) to SSLKEYLOGFILE
        for name in Self.credentialLeakingVariables { unsetenv(name) }
        var out = OutputStream.standardOutput
        do {
            let code = try self.dispatch(args, out: &out)
            // a run a stop signal ended exits 128 + that signal's number (130, 143, 129)
            return code == .interrupted ? Interrupt.exitCode.rawValue : code.rawValue
        } catch let error as UsageError {
            Self.stderr("mptscan: error: \(error.message)\nUsage: see 'mptscan help' or 'mptscan <subcommand> --help'.\n")
            return ExitCode.usage.rawValue
        } catch {
            // a git stopped by the signal fails its command: that is the interruption, not a git error
            if Interrupt.requested {
                Self.stderr("mptscan: interrupted: the scan is incomplete\n")
                return Interrupt.exitCode.rawValue
            }
            Self.stderr("mptscan: error: \(error)\n")
            return ExitCode.incomplete.rawValue
        }
    }

    private static func dispatch(_ args: [String], out: inout OutputStream) throws -> ExitCode {
        // no subcommand is bad usage (a CI step that forgot it must not pass): help on stderr, exit 64
        guard let first = args.first else { Self.stderr(self.root.helpText()); return .usage }
        let rest = Array(args.dropFirst())
        switch first {
        case "-h", "--help": out.write(self.root.helpText()); return .clean
        case "--version": out.write(self.version + "\n"); return .clean
        case "help":
            switch rest {
            case []: out.write(self.root.helpText())
            case ["scan"]: out.write(self.scan.helpText())
            case ["history"]: out.write(self.history.helpText())
            case ["staged"]: out.write(self.staged.helpText())
            case ["pre-push"]: out.write(self.prePush.helpText())
            case ["install-hook"]: out.write(self.installHook.helpText())
            case ["sweep"]: out.write(self.sweep.helpText())
            case ["merge"]: out.write(self.merge.helpText())
            case ["rules"]: out.write(self.rules.helpText())
            case ["rules", "list"]: out.write(self.rulesList.helpText())
            case ["rules", "check"]: out.write(self.rulesCheck.helpText())
            case ["registry"]: out.write(self.registry.helpText())
            case ["registry", "emulate"]: out.write(self.registryEmulate.helpText())
            case ["registry", "export"]: out.write(self.registryExport.helpText())
            case ["disable"]: out.write(self.disable.helpText())
            case ["init"]: out.write(self.initSpec.helpText())
            case ["config"]: out.write("The settings of .mptscan.json (version \(Configuration.currentVersion)):\n\n" + Configuration.markdownTable())
            default: throw UsageError("No help for '\(rest.joined(separator: " "))'")
            }
            return .clean
        case "scan": return try self.runScan(rest, out: &out)
        case "history": return try self.runHistory(rest, out: &out)
        case "staged": return try self.runStaged(rest, out: &out)
        case "pre-push": return try self.runPrePush(rest, out: &out)
        case "install-hook": return try self.runInstallHook(rest, out: &out)
        case "sweep": return try self.runSweep(rest, out: &out)
        case "merge": return try self.runMerge(rest, out: &out)
        case "rules": return try self.runRules(rest, out: &out)
        case "registry": return try self.runRegistry(rest, out: &out)
        case "disable": return try self.runDisable(rest, out: &out)
        case "init": return try self.runInit(rest, out: &out)
        default:
            if first.hasPrefix("-") { throw UsageError("Unknown option '\(first)'") }
            throw UsageError("Unknown subcommand '\(first)'")
        }
    }

    // MARK: - scan

    private static func runScan(_ args: [String], out: inout OutputStream) throws -> ExitCode {
        let parsed = try self.scan.parse(args)
        if parsed.wantsHelp { out.write(self.scan.helpText()); return .clean }
        var options = ScanOptions()
        options.paths = parsed.positionals.isEmpty ? ["."] : parsed.positionals
        options.followSymlinks = parsed.has("follow-symlinks")
        if let jobs = parsed.value("jobs") {
            guard let n = Int(jobs), n >= 1, n <= 256 else { throw UsageError("--jobs needs a whole number from 1 to 256, not '\(jobs)'") }
            options.jobs = n
        }
        if options.paths.filter({ $0 == "-" }).count > 1 { throw UsageError("'-' (standard input) can be given once") }
        if let path = parsed.value("output") {
            // the report file is opened only after the scan (it may be in the tree); refuse now what would fail
            // or destroy input then
            if let problem = OutputStream.problemWriting(to: path, scanning: options.paths) {
                throw UsageError("--output \(path): \(problem)")
            }
        }
        var setup = try self.runSetup(parsed, root: options.paths[0], scanning: options.paths)
        setup.setPathPrefix(scanning: options.paths)
        options.excludes = setup.excludes
        options.limits = setup.limits
        Interrupt.install()
        let started = Date()
        let scanner = TreeScanner(detector: TokenDetector(rules: BuiltinRules.all), options: options)
        let progress = ScanProgress()
        let display = ProgressDisplay.start(progress, enabled: !parsed.has("quiet") && isatty(STDERR_FILENO) == 1)
        // JSON lines to standard output are written while the scan runs (in the final order) when nothing after
        // the scan can change a finding: no registry, no baseline being written
        var streamedLines: StreamedLines? = nil
        if setup.format == "jsonl" && parsed.value("output") == nil && setup.writeBaseline == nil, case .none = setup.registry.source {
            streamedLines = StreamedLines(setup: setup, showSecrets: parsed.has("show-secrets"), out: out)
        }
        let streamed = streamedLines
        var onFindings: (@Sendable ([Finding]) -> Void)? = nil
        if let lines = streamedLines { onFindings = { lines.write($0) } }
        let report = scanner.run(isCancelled: { Interrupt.requested || streamed?.broken == true }, progress: progress, stream: onFindings)
        display?.stop()
        if let streamed {
            setup.streamedFindings = streamed.written
            // the reader went away: stop quietly; the scan was cut short, so never "clean"
            if streamed.broken { return report.findings.contains(where: setup.registry.policy.fails) ? .leaks : .incomplete }
        }
        return self.deliver(report, parsed: parsed, seconds: Date().timeIntervalSince(started), setup: setup, out: &out)
    }

    /// Runs the stages after a scan (suppression: severity overrides, ignore list, baseline and
    /// `--write-baseline`; registry verdicts and `--disable-live`), then writes `report` (to `--output` or
    /// `out`, and each `--report FORMAT:FILE`) and the summary (stderr), and returns the exit code under the
    /// `--fail-on` policy. Shared by every scanning subcommand; their options mean the same everywhere.
    static func deliver(_ report: ScanReport, parsed: ParsedArguments, seconds: Double?,
                        quietWhenClean: Bool = false, advice: Bool = true, setup: RunSetup,
                        out: inout OutputStream) -> ExitCode {
        let showSecrets = parsed.has("show-secrets")
        let acceptUnreadable = parsed.has("skip-unreadable")
        let format = setup.format
        var report = report
        self.applySuppressions(&report, setup)
        if !report.summary.interrupted { self.applyRegistry(&report, setup.registry, quiet: parsed.has("quiet")) }
        // names that hold a token (a file or archive member named after one, a ref, git's error output) are
        // shown redacted like the tokens themselves
        if !showSecrets { report = report.redactingNames() }
        var setup = setup
        setup.uriBase = setup.uriBase.map { Redaction.secrets(in: $0, showSecrets: showSecrets) }
        let policy = setup.registry.policy
        if let path = parsed.value("output") {
            guard let file = OutputStream(creatingFile: path) else {
                Self.stderr("mptscan: error: cannot write report to \(path): \(String(cString: strerror(errno)))\n")
                let code = self.exitCode(report, acceptUnreadable: acceptUnreadable, policy: policy)
                return code == .clean ? .incomplete : code
            }
            out = file
        }

        let color = format == "text" && out.isTerminal && !parsed.has("no-color") && (ProcessInfo.processInfo.environment["NO_COLOR"] ?? "").isEmpty
        let text = TextReporter(showSecrets: showSecrets, color: color)
        var checkoutReport = report
        if setup.pathPrefix != nil {
            for i in checkoutReport.findings.indices {
                checkoutReport.findings[i].path = Redaction.secrets(in: setup.checkoutPath(checkoutReport.findings[i].path), showSecrets: showSecrets)
            }
        }
        /// One format into one stream, in pieces of at most 64 KiB.
        func render(_ format: String, into stream: inout OutputStream, isReportFile: Bool = false) {
            var pending = ""
            func flush(_ piece: String) {
                pending += piece
                if pending.utf8.count >= 1 << 16 { stream.write(pending); pending = "" }
            }
            switch format {
            case "jsonl" where setup.streamedFindings != nil && !isReportFile:
                // the findings went out during the scan: only the summary line is left
                flush(JSONLinesReporter(options: ReportOptions(showSecrets: showSecrets)).summaryLine(report))
            case "json": JSONReporter(showSecrets: showSecrets).write(report, to: flush)
            case "text":
                flush(text.render(report, rules: BuiltinRules.all))
                // in GitHub Actions the text report also annotates the pull request
                if ProcessInfo.processInfo.environment["GITHUB_ACTIONS"] == "true" {
                    self.reportFormatReporter("github", showSecrets: showSecrets, policy: policy, acceptUnreadable: acceptUnreadable,
                                              seconds: seconds, uriBase: setup.uriBase).write(checkoutReport, to: flush)
                }
            case "github", "gitlab", "junit":
                // CI systems resolve these paths against the checkout, not the scan root
                self.reportFormatReporter(format, showSecrets: showSecrets, policy: policy, acceptUnreadable: acceptUnreadable,
                                          seconds: seconds, uriBase: setup.uriBase).write(checkoutReport, to: flush)
            default:
                self.reportFormatReporter(format, showSecrets: showSecrets, policy: policy, acceptUnreadable: acceptUnreadable,
                                          seconds: seconds, uriBase: setup.uriBase).write(report, to: flush)
            }
            stream.write(pending)
        }
        render(format, into: &out)
        out.close()
        // --report FORMAT:PATH, each its own file (mode 0600)
        var reportFailed = false
        for (reportFormat, path) in setup.reports {
            guard var file = OutputStream(creatingFile: path) else {
                Self.stderr("mptscan: error: cannot write the \(reportFormat) report to \(path): \(String(cString: strerror(errno)))\n")
                reportFailed = true
                continue
            }
            render(reportFormat, into: &file, isReportFile: true)
            file.close()
            if file.failed {
                Self.stderr("mptscan: error: writing the \(reportFormat) report to \(path) failed: \(String(cString: strerror(file.errorCode)))\n")
                reportFailed = true
            }
        }

        let code = self.exitCode(report, acceptUnreadable: acceptUnreadable, policy: policy)
        // a reader that went away (`mptscan scan | head`) ends the run quietly: no summary, no advice
        let quiet = parsed.has("quiet") || (quietWhenClean && code == .clean) || out.brokenPipe
        Self.stderr(text.summary(report, seconds: seconds, acceptUnreadable: acceptUnreadable, quiet: quiet, advice: advice))
        if (out.failed && !out.brokenPipe) || reportFailed {
            if out.failed && !out.brokenPipe { Self.stderr("mptscan: error: writing the report failed: \(String(cString: strerror(out.errorCode)))\n") }
            return code == .clean ? .incomplete : code // leaks (1) still take precedence
        }
        return code
    }

    /// Leaks that fail `policy` (1) take precedence over an incomplete scan (2); an interrupted scan is 130.
    static func exitCode(_ report: ScanReport, acceptUnreadable: Bool, policy: FailPolicy = .any) -> ExitCode {
        if report.summary.interrupted { return .interrupted }
        if report.findings.contains(where: policy.fails) { return .leaks }
        if report.summary.isIncomplete(acceptUnreadable: acceptUnreadable) { return .incomplete }
        return .clean
    }

    // MARK: - rules

    private static func runRules(_ args: [String], out: inout OutputStream) throws -> ExitCode {
        guard let sub = args.first, !sub.hasPrefix("-") else {
            if args.first == "-h" || args.first == "--help" || args.isEmpty { out.write(self.rules.helpText()); return .clean }
            throw UsageError("Unknown option '\(args[0])'")
        }
        let rest = Array(args.dropFirst())
        switch sub {
        case "list":
            let parsed = try self.rulesList.parse(rest)
            if parsed.wantsHelp { out.write(self.rulesList.helpText()); return .clean }
            guard parsed.positionals.isEmpty else { throw UsageError("Unexpected argument '\(parsed.positionals[0])'") }
            switch parsed.value("format") ?? "text" {
            case "text":
                let width = BuiltinRules.all.map(\.id.count).max() ?? 0
                for rule in BuiltinRules.all {
                    let id = rule.id + String(repeating: " ", count: width - rule.id.count)
                    let severity = rule.severity.rawValue + String(repeating: " ", count: 8 - rule.severity.rawValue.count)
                    out.write("\(id)  \(severity)  confidence \(rule.confidence.rawValue)  \(rule.name)\n")
                }
            case "json":
                out.write(JSONValue.array(BuiltinRules.all.map { rule in
                    .object([("id", .string(rule.id)), ("name", .string(rule.name)), ("severity", .string(rule.severity.rawValue)),
                             ("confidence", .string(rule.confidence.rawValue)), ("detector", .string(rule.detector.rawValue)),
                             ("description", .string(rule.description)), ("remediation", .string(rule.remediation))])
                }).serialized() + "\n")
            case let other:
                throw UsageError("Unknown format '\(other)' (expected text or json)")
            }
            return .clean
        case "check":
            let parsed = try self.rulesCheck.parse(rest)
            if parsed.wantsHelp { out.write(self.rulesCheck.helpText()); return .clean }
            guard parsed.positionals.count <= 1 else { throw UsageError("Unexpected argument '\(parsed.positionals[1])'") }
            let rules: [Rule]
            if let dir = parsed.positionals.first {
                do {
                    rules = try RuleFiles.load(directory: dir)
                } catch {
                    Self.stderr("mptscan: error: \(error)\n")
                    return .incomplete
                }
            } else {
                rules = BuiltinRules.all
            }
            let problems = RuleValidator(rules: rules).validate()
            for problem in problems { out.write("error: \(problem)\n") }
            let examples = rules.reduce(0) { $0 + $1.examples.mustMatch.count + $1.examples.mustNotMatch.count }
            out.write("\(rules.count) rules, \(examples) examples, \(ExampleMutation.allCases.count) forms each: ")
            out.write(problems.isEmpty ? "ok\n" : "\(problems.count) problem\(problems.count == 1 ? "" : "s")\n")
            return problems.isEmpty ? .clean : .leaks
        default:
            throw UsageError("Unknown subcommand 'rules \(sub)'")
        }
    }

    /// Writes `text` to standard error with every token in it redacted (`Redaction.secrets(in:)`), whatever
    /// `--show-secrets` says: paths, git's error output, registry messages and quoted values all pass here, and
    /// CI logs keep standard error.
    static func stderr(_ text: String) {
        var err = OutputStream.standardError
        err.write(Redaction.secrets(in: text))
    }
}

/// JSON lines written during a tree scan: each batch of findings (already in report order) goes through the
/// same per-finding stages as the final report (severity overrides, ignore list, baseline, the "no registry"
/// verdict) and out, so the lines equal those `--format jsonl` writes after a scan.
final class StreamedLines: @unchecked Sendable {
    private let setup: RunSetup
    private let reporter: JSONLinesReporter
    private let showSecrets: Bool
    private var out: OutputStream
    private(set) var written = 0

    init(setup: RunSetup, showSecrets: Bool, out: OutputStream) {
        self.setup = setup
        self.showSecrets = showSecrets
        self.reporter = JSONLinesReporter(options: ReportOptions(showSecrets: showSecrets))
        self.out = out
    }

    /// True once the reader of standard output went away: the scan then stops (nobody reads its findings).
    var broken: Bool { self.out.brokenPipe }

    /// Called by the scan with its collector's lock held: one caller at a time, in order.
    func write(_ findings: [Finding]) {
        guard !self.out.brokenPipe else { return }
        var batch = ScanReport(findings: findings, summary: ScanSummary())
        MPTScan.applyFindingStages(&batch, self.setup)
        _ = RegistryCheck.apply(to: &batch.findings, source: .none)
        if !self.showSecrets { batch = batch.redactingNames() }
        self.out.write(batch.findings.map(self.reporter.line(for:)).joined())
        self.written += batch.findings.count
    }
}

/// A one-line progress display on a terminal's stderr (files, bytes, rate, findings), redrawn every 200 ms
/// after the first second and erased at the end; nothing when stderr is not a terminal.
final class ProgressDisplay: @unchecked Sendable {
    private let progress: ScanProgress
    private let started = Date()
    private let done = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private var drawn = false

    private init(_ progress: ScanProgress) { self.progress = progress }

    static func start(_ progress: ScanProgress, enabled: Bool) -> ProgressDisplay? {
        guard enabled else { return nil }
        let display = ProgressDisplay(progress)
        Thread.detachNewThread {
            // short scans draw nothing
            if display.done.wait(timeout: .now() + 1) == .timedOut {
                while display.done.wait(timeout: .now() + 0.2) == .timedOut { display.draw() }
            }
            if display.drawn { MPTScan.stderr("\r\u{1B}[K") }
            display.finished.signal()
        }
        return display
    }

    private func draw() {
        let (files, bytes, findings) = self.progress.current
        let seconds = max(0.001, Date().timeIntervalSince(self.started))
        let mb = Double(bytes) / 1_000_000
        MPTScan.stderr(String(format: "\rmptscan: %d files, %.1f MB (%.0f MB/s), %d finding%@\u{1B}[K", files, mb, mb / seconds, findings, findings == 1 ? "" : "s"))
        self.drawn = true
    }

    func stop() {
        self.done.signal()
        self.finished.wait()
    }
}

/// Stop signals: SIGINT (Ctrl-C), SIGTERM (a CI runner or supervisor stopping the job) and SIGHUP (the
/// terminal went away) are handled alike. The first asks the run to stop: a scan stops reading, prints its
/// partial summary and exits 128 + the signal's number (130, 143, 129); a disable finishes the request in
/// flight (its outcome is logged), sends no other and exits the same way; git children are stopped at once
/// (`ChildProcess.terminateAll`), so a read waiting on git ends. A second signal exits at once with 128 + its
/// number. A signal ignored when mptscan started (`nohup`, a background job of a script) stays ignored.
///
/// The signals are taken by Dispatch sources (not C handlers), so the state is an ordinary lock-protected
/// value, with an atomic flag beside it for `requested` (`StopFlag`); readers blocked on standard input notice
/// it through `ChunkReader`'s 100 ms poll.
enum Interrupt {
    private static let state = InterruptState()

    /// True once a stop signal arrived. Read several times per file by every scanning thread: an atomic load,
    /// no lock (`StopFlag`).
    static var requested: Bool { self.state.raised.isSet }

    /// The first stop signal received, if any.
    static var signal: Int32? { self.state.first }

    /// The exit code of a run the first signal stopped: 128 + its number (130 for SIGINT, 143 for SIGTERM,
    /// 129 for SIGHUP); 130 when no signal arrived (a library caller's cancellation).
    static var exitCode: ExitCode { ExitCode(rawValue: 128 + (self.signal ?? SIGINT)) ?? .interrupted }

    /// The signal's name (`SIGTERM`).
    static func name(_ number: Int32) -> String {
        switch number {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGHUP: return "SIGHUP"
        default: return "signal \(number)"
        }
    }

    /// Takes the stop signals (once per process; later calls do nothing).
    static func install() {
        _ = self.installed
    }

    private static let installed: Void = {
        for number in StopSignals.all where !StopSignals.ignoredAtStart.contains(number) {
            ignoreSignal(number)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { Interrupt.received(number) }
            source.resume()
            Interrupt.state.sources.append(source)
        }
    }()

    private static func received(_ number: Int32) {
        let (count, atPrompt) = self.state.record(number)
        if count > 1 { _exit(128 + number) }
        if let atPrompt {
            // nothing is in flight while a question waits for its answer: stop now
            MPTScan.stderr("\nmptscan: \(self.name(number)): \(atPrompt)\n")
            _exit(128 + number)
        }
        MPTScan.stderr("mptscan: \(self.name(number)) received: stopping after the step in progress (a second signal stops at once)\n")
        // raised only now: a scan that stops at once then writes its summary (and exits) after this line, not
        // before it (under load the summary came first, the process exited, and this line was lost)
        self.state.raise()
        ChildProcess.terminateAll()
    }

    /// Runs `body` (a question waiting for its answer on a terminal, a wait for a lock: nothing in flight) so
    /// that a stop signal during it exits at once, after printing `message`.
    static func exitingAtOnce<T>(saying message: String, _ body: () throws -> T) rethrows -> T {
        self.state.setPrompt(message)
        defer { self.state.setPrompt(nil) }
        return try body()
    }

}

/// Ignores signal `number` so that only its Dispatch source sees it (a free function: inside `Interrupt`,
/// `signal` names the first signal received).
private func ignoreSignal(_ number: Int32) {
    _ = signal(number, SIG_IGN)
}

private final class InterruptState: @unchecked Sendable {
    private let lock = ThreadLock()
    /// Set once the first signal is recorded.
    let raised = StopFlag()
    private var signals: [Int32] = []
    private var prompt: String? = nil
    var sources: [any DispatchSourceSignal] = []

    var first: Int32? {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.signals.first
    }

    /// Records a signal; returns how many arrived so far and the prompt's message when a question is waiting.
    /// Does not raise the flag the scan polls: `raise` does, once the signal was reported.
    func record(_ number: Int32) -> (Int, String?) {
        self.lock.lock()
        defer { self.lock.unlock() }
        self.signals.append(number)
        return (self.signals.count, self.prompt)
    }

    /// Raises the flag the scanning threads poll (`Interrupt.requested`).
    func raise() { self.raised.set() }

    func setPrompt(_ message: String?) {
        self.lock.lock()
        defer { self.lock.unlock() }
        self.prompt = message
    }
}

/// A flag set once by one thread and read by many, often (`Interrupt.requested`: several times per file by every
/// scanning thread). On Linux an atomic (`Synchronization.Atomic`): a lock read by every thread moved its cache
/// line between the cores at each read. On Darwin, where `Atomic` needs macOS 15, a lock.
///
/// Acquire and release order the flag with what the setter wrote before it, though readers only need the flag
/// itself (the signal's number is read under `InterruptState`'s lock): the load costs the same on x86-64.
final class StopFlag: Sendable {
    #if canImport(Synchronization) && !canImport(Darwin) // the same condition as the import at the top
    private let value = Atomic<Bool>(false)
    /// Whether `set` was called (by any thread).
    var isSet: Bool { self.value.load(ordering: .acquiring) }
    /// Sets the flag for good.
    func set() { self.value.store(true, ordering: .releasing) }
    #else
    private let value = Locked(false)
    /// Whether `set` was called (by any thread).
    var isSet: Bool { self.value.withLock { $0 } }
    /// Sets the flag for good.
    func set() { self.value.withLock { $0 = true } }
    #endif
}

/// A file descriptor to write reports to, that ends quietly on a closed pipe (`mptscan scan | head`).
struct OutputStream {
    private var fd: Int32
    private var owned: Bool
    private(set) var failed = false
    private(set) var brokenPipe = false
    private(set) var errorCode: Int32 = 0

    static var standardOutput: OutputStream { OutputStream(fd: STDOUT_FILENO, owned: false) }
    static var standardError: OutputStream { OutputStream(fd: STDERR_FILENO, owned: false) }

    private init(fd: Int32, owned: Bool) {
        self.fd = fd
        self.owned = owned
    }

    /// Why writing a report to `path` must be refused before scanning `roots`, or nil: a symbolic link (it
    /// could point anywhere), a file that is itself being scanned (it would be emptied), or a directory.
    static func problemWriting(to path: String, scanning roots: [String]) -> String? {
        var st = stat()
        guard lstat(path, &st) == 0 else {
            // does not exist yet: created after the scan, so its directory must exist now
            let parent = (path as NSString).deletingLastPathComponent
            return access(parent.isEmpty ? "." : parent, W_OK) == 0 ? nil : "cannot create it: \(String(cString: strerror(errno)))"
        }
        switch st.st_mode & S_IFMT {
        case S_IFLNK: return "is a symbolic link; refusing to write through it"
        case S_IFDIR: return "is a directory"
        case S_IFIFO, S_IFSOCK: return "is a FIFO or socket"
        case S_IFCHR: return nil // /dev/null, a terminal
        default: break
        }
        var input = stat()
        if roots.contains("-") && fstat(STDIN_FILENO, &input) == 0 && input.st_dev == st.st_dev && input.st_ino == st.st_ino {
            return "is standard input; writing the report would empty it"
        }
        let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        for root in roots where root != "-" {
            var r = stat()
            guard stat(root, &r) == 0 else { continue }
            if r.st_dev == st.st_dev && r.st_ino == st.st_ino {
                return "is one of the files to scan; writing the report would empty it"
            }
            let realRoot = URL(fileURLWithPath: root).resolvingSymlinksInPath().path
            if r.st_mode & S_IFMT == S_IFDIR && st.st_size > 0 && (real.hasPrefix(realRoot.hasSuffix("/") ? realRoot : realRoot + "/")) {
                return "exists inside the scanned tree \(root) and would be scanned, then overwritten; remove it or write the report elsewhere"
            }
        }
        return nil
    }

    /// Why full token values (`--show-secrets`) must not be written to the existing file `path`, or nil: a
    /// regular file that its group or others may read. Writing makes it 0600, but whoever opened it before
    /// keeps reading what is written. A file that does not exist yet is fine: it is created 0600.
    static func problemWritingSecrets(to path: String) -> String? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return Self.problemWritingSecrets(st)
    }

    /// Why full token values must not go to standard output, or nil: standard output is a regular file its
    /// group or others may read (`> report.txt` under umask 022 creates one 0644).
    static func problemWritingSecretsToStandardOutput() -> String? {
        var st = stat()
        guard fstat(STDOUT_FILENO, &st) == 0 else { return nil }
        return Self.problemWritingSecrets(st).map { "standard output \($0)" }
    }

    private static func problemWritingSecrets(_ st: stat) -> String? {
        guard st.st_mode & S_IFMT == S_IFREG, st.st_mode & 0o044 != 0 else { return nil }
        return "is a file its group or others may read (mode \(String(st.st_mode & 0o777, radix: 8))): full token values are not written there; remove it, `chmod 600` it, or write to a new file with --output"
    }

    /// Creates (or truncates) `path` with mode 0600, never through a symbolic link; nil when it cannot be
    /// opened (see `errno`).
    init?(creatingFile path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { return nil }
        // an existing file keeps its mode through O_CREAT: make a regular file private before anything is
        // written (never a device: `-o /dev/null` must not change /dev/null)
        guard Self.isCharacterDevice(fd) || fchmod(fd, 0o600) == 0 else {
            let code = errno
            _ = systemClose(fd)
            errno = code
            return nil
        }
        self.init(fd: fd, owned: true)
    }

    var isTerminal: Bool { isatty(self.fd) == 1 }

    private static func isCharacterDevice(_ fd: Int32) -> Bool {
        var st = stat()
        return fstat(fd, &st) == 0 && st.st_mode & S_IFMT == S_IFCHR
    }

    mutating func write(_ text: String) {
        guard !self.failed else { return }
        var bytes = Array(text.utf8)
        let total = bytes.count
        var done = 0
        bytes.withUnsafeMutableBytes { raw in
            while done < total {
                let r = systemWrite(self.fd, raw.baseAddress! + done, total - done)
                if r < 0 {
                    if errno == EINTR { continue }
                    self.failed = true
                    self.errorCode = errno
                    self.brokenPipe = errno == EPIPE
                    return
                }
                done += r
            }
        }
    }

    mutating func close() {
        if self.owned {
            if systemClose(self.fd) != 0 && !self.failed { self.failed = true; self.errorCode = errno }
            self.owned = false
        }
    }
}

