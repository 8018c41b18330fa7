import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a scanning command was asked to do with the registry, validated before the scan starts.
struct RegistrySetup {
    var source: RegistrySource = .none
    var policy: FailPolicy = .any
    /// Set when `--disable-live` was given: the admin client and the audit log path.
    var disable: (client: RegistryClient, auditPath: String, yes: Bool, operatorName: String)? = nil
    /// Printed once, before the report (a loopback http registry, a stale snapshot).
    var warnings: [String] = []
}

/// A registry setting that cannot be used (exit 2, like a bad config file).
struct RegistryConfigError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { self.message }
}

extension MPTScan {
    /// Registry options shared by `scan`, `history`, `staged` and `pre-push`.
    /// `--registry`, `--registry-token-file` and `--audit-log`, declared once for every command that has them.
    static let registryOption = OptionSpec(long: "registry", valueName: "url|env", help: "Token registry: a base URL ending in /public/v1, or production, qa, test, dev. (default: MPT_REGISTRY_URL; for scans, then the configuration's)")
    static let registryTokenFileOption = OptionSpec(long: "registry-token-file", valueName: "file", help: "Read the registry credential from <file> (default: MPT_REGISTRY_TOKEN). Never given on the command line.")
    static let auditLogOption = OptionSpec(long: "audit-log", valueName: "file", help: "Append-only log of disables. (default: $XDG_STATE_HOME/mptscan/audit.jsonl or ~/.local/state/mptscan/audit.jsonl)")

    static let registryOptions: [OptionSpec] = [
        registryOption,
        registryTokenFileOption,
        OptionSpec(long: "registry-file", valueName: "file", help: "Give verdicts offline from a snapshot written by 'mptscan registry export'."),
        OptionSpec(long: "verify", valueName: "how", help: "registry (an admin lookup by id; the default with a registry) or self (each found token reads its own record: uses the leaked credential)."),
        OptionSpec(long: "fail-on", valueName: "policy", help: "Which findings fail the run: any, unverified (all the registry has not proven dead) or live. (default: any)"),
        OptionSpec(long: "disable-live", help: "Disable the tokens the registry confirms live (re-checked, confirmed, audited; never deletes)."),
        OptionSpec(long: "yes", help: "With --disable-live: do not ask for confirmation (needed when not on a terminal)."),
        auditLogOption,
    ]

    static let registryDiscussion = """
        REGISTRY:
          Each finding gets a verdict: live, disabled, deleted, mismatch (real id, other value), unknown,
          forbidden (the credential may not read it), invalid (self-check refused), error (the registry could
          not answer: the scan is incomplete, exit 2) or unverified (no registry). A found secret is never sent
          anywhere, except by --verify self, which authenticates one read of the token's own record with it
          (and so touches its lastAccessAt).
        """

    /// The registry endpoint and admin credential from options and environment, or nil when none is set.
    static func registryClient(_ parsed: ParsedArguments, required: Bool, config: Configuration = Configuration()) throws -> (RegistryClient, RegistryCredential, [String])? {
        let env = ProcessInfo.processInfo.environment
        guard let where_ = parsed.value("registry") ?? env["MPT_REGISTRY_URL"].flatMap({ $0.isEmpty ? nil : $0 }) ?? config.registry else {
            if required { throw RegistryConfigError("no registry: give --registry URL (or production, qa, test, dev) or set MPT_REGISTRY_URL") }
            return nil
        }
        let endpoint: RegistryEndpoint
        do { endpoint = try RegistryEndpoint.parse(where_) } catch {
            throw RegistryConfigError("registry \(Printable.text(where_)): \(error)")
        }
        let credential: RegistryCredential
        do {
            if let file = parsed.value("registry-token-file") {
                credential = try RegistryCredential.fromFile(file)
            } else if let fromEnv = try RegistryCredential.fromEnvironment() {
                credential = fromEnv
            } else if !required && parsed.value("registry") == nil && (env["MPT_REGISTRY_URL"] ?? "").isEmpty {
                // only the configuration names a registry (say, for those who hold a credential): without one,
                // findings stay unverified rather than every developer's hook failing
                Self.stderr("mptscan: note: the configuration names registry \(Printable.text(where_)), but MPT_REGISTRY_TOKEN is not set: verdicts are 'unverified'\n")
                return nil
            } else {
                throw RegistryConfigError("no registry credential: set MPT_REGISTRY_TOKEN or give --registry-token-file FILE")
            }
        } catch let error as RegistryCredentialError {
            throw RegistryConfigError("\(error)")
        }
        Self.bypassProxyForLoopback(endpoint)
        return (RegistryClient(endpoint: endpoint, credential: credential), credential, endpoint.warning.map { [$0] } ?? [])
    }

    /// A loopback registry (the emulator) is reached directly: libcurl would send 127.0.0.1 to `http_proxy`
    /// unless `no_proxy` lists it.
    static func bypassProxyForLoopback(_ endpoint: RegistryEndpoint) {
        guard let host = endpoint.baseURL.host, RegistryEndpoint.isLoopback(host) else { return }
        for key in ["no_proxy", "NO_PROXY"] {
            let current = ProcessInfo.processInfo.environment[key] ?? ""
            if !current.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces) == host }) {
                setenv(key, current.isEmpty ? host : current + "," + host, 1)
            }
        }
    }

    /// Validates the registry options before a scan. Throws `UsageError` (exit 64) or `RegistryConfigError`.
    static func registrySetup(_ parsed: ParsedArguments, config: Configuration = Configuration()) throws -> RegistrySetup {
        var setup = RegistrySetup()
        setup.policy = config.failOn
        if let policy = parsed.value("fail-on") {
            guard let p = FailPolicy(rawValue: policy) else { throw UsageError("--fail-on needs any, unverified or live, not '\(policy)'") }
            setup.policy = p
        }
        let verify = parsed.value("verify")
        if let verify, !["registry", "self"].contains(verify) { throw UsageError("--verify needs registry or self, not '\(verify)'") }
        if parsed.has("yes") && !parsed.has("disable-live") { throw UsageError("--yes only confirms --disable-live") }
        if let snapshotPath = parsed.value("registry-file") {
            if verify != nil || parsed.value("registry") != nil { throw UsageError("--registry-file gives verdicts offline: it cannot be combined with --registry or --verify") }
            if parsed.has("disable-live") { throw UsageError("--disable-live needs the live registry (--registry), not a snapshot") }
            let snapshot: RegistrySnapshot
            do { snapshot = try RegistrySnapshot.load(from: snapshotPath) } catch { throw RegistryConfigError("\(error)") }
            var stale: String? = nil
            if let age = snapshot.age() {
                if age > RegistrySnapshot.staleAfter {
                    stale = "the registry snapshot is \(Int(age / 3600)) hours old (taken \(snapshot.takenAt)): verdicts may be out of date"
                }
            } else {
                stale = "the registry snapshot's taken_at '\(Printable.text(String(snapshot.takenAt.prefix(40))))' is unreadable or in the future: verdicts may be out of date"
            }
            if let stale { setup.warnings.append(stale) }
            setup.source = .snapshot(snapshot, stale: stale)
            return setup
        }
        if verify == "self" {
            let env = ProcessInfo.processInfo.environment
            guard let where_ = parsed.value("registry") ?? env["MPT_REGISTRY_URL"].flatMap({ $0.isEmpty ? nil : $0 }) ?? config.registry else {
                throw RegistryConfigError("--verify self needs the registry's address: give --registry URL (or production, qa, test, dev) or set MPT_REGISTRY_URL")
            }
            let endpoint: RegistryEndpoint
            do { endpoint = try RegistryEndpoint.parse(where_) } catch { throw RegistryConfigError("registry \(Printable.text(where_)): \(error)") }
            Self.bypassProxyForLoopback(endpoint)
            if let warning = endpoint.warning { setup.warnings.append(warning) }
            setup.source = .selfCheck(endpoint, RegistryClientOptions())
            if parsed.has("disable-live") {
                guard let (client, credential, _) = try self.registryClient(parsed, required: true, config: config) else { return setup }
                setup.disable = (client, parsed.value("audit-log") ?? AuditLog.defaultPath(), parsed.has("yes"), AuditLog.operatorName(credential: credential))
            }
        } else if let (client, credential, warnings) = try self.registryClient(parsed, required: verify == "registry" || parsed.has("disable-live"), config: config) {
            setup.source = .registry(client)
            setup.warnings += warnings
            if parsed.has("disable-live") {
                setup.disable = (client, parsed.value("audit-log") ?? AuditLog.defaultPath(), parsed.has("yes"), AuditLog.operatorName(credential: credential))
            }
        }
        if case .none = setup.source, setup.policy == .live {
            throw UsageError("--fail-on live needs verdicts: give --registry, --registry-file or --verify self (without them no finding can be live, and the run would always pass)")
        }
        if setup.disable != nil && !parsed.has("yes") && isatty(STDIN_FILENO) != 1 {
            throw UsageError("--disable-live asks for confirmation on a terminal; when not interactive, add --yes")
        }
        return setup
    }

    /// Gives the report's findings their verdicts, then (with `--disable-live`) disables the live ones. Issues
    /// (lookups that failed, disables that failed) are added to the summary: the scan is then incomplete.
    static func applyRegistry(_ report: inout ScanReport, _ setup: RegistrySetup, quiet: Bool) {
        for warning in setup.warnings { Self.stderr("mptscan: warning: \(warning)\n") }
        report.summary.unreadable += RegistryCheck.apply(to: &report.findings, source: setup.source, isCancelled: { Interrupt.requested })
        if Interrupt.requested { report.summary.interrupted = true; return }
        guard let disable = setup.disable else { return }
        let targets = DisableTarget.from(report.findings.filter { $0.registry?.verdict == .live })
            + Disabler.recoveryTargets(auditPath: disable.auditPath, registry: disable.client.endpoint.description)
        guard !targets.isEmpty else { return }
        let audit: AuditLog
        do { audit = try AuditLog(path: disable.auditPath) } catch {
            report.summary.unreadable.append(ScanIssue(path: "disable", message: "\(error); nothing was disabled", isPath: false))
            return
        }
        do { try audit.lockExclusive() } catch {
            report.summary.unreadable.append(ScanIssue(path: "disable", message: "\(error); nothing was disabled", isPath: false))
            return
        }
        let disabler = Disabler(client: disable.client, audit: audit, operatorName: disable.operatorName)
        let plan = disabler.plan(targets)
        let results = self.confirmAndExecute(plan, disabler: disabler, yes: disable.yes, dryRun: false)
        guard let results else {
            report.summary.unreadable.append(ScanIssue(path: "disable", message: "not confirmed: nothing was disabled", isPath: false))
            return
        }
        if Interrupt.requested { report.summary.interrupted = true }
        for result in results {
            if result.outcome == "disabled" || result.outcome == "already-disabled" {
                // the verdict stays what the scan found (a live token leaked); the finding says it is now off
                for i in report.findings.indices where report.findings[i].tokenID == result.item.target.tokenID && report.findings[i].registry?.verdict == .live {
                    report.findings[i].registry?.disabledByRun = result.outcome == "disabled"
                    report.findings[i].registry?.detail = result.outcome == "disabled" ? "disabled by this run (audit log: \(disable.auditPath))" : "disabled meanwhile"
                }
            } else if !result.succeeded {
                report.summary.unreadable.append(ScanIssue(path: "disable", message: "\(result.item.target.tokenID): \(result.detail ?? "failed")", isPath: false))
            }
        }
    }

    /// Prints the plan (stderr), asks on a terminal unless `yes`, and runs it. Nil when not confirmed.
    static func confirmAndExecute(_ plan: [DisablePlanItem], disabler: Disabler, yes: Bool, dryRun: Bool) -> [DisableResult]? {
        let live = plan.filter(\.willDisable)
        var text = "mptscan: disable plan (\(live.count) to disable, \(plan.count - live.count) left as they are):\n"
        for item in plan {
            let v = item.verdict
            var line = "  \(item.willDisable ? "DISABLE" : "skip   ") \(item.target.tokenID)  \(v.verdict.rawValue)"
            if let account = v.accountID { line += "  account \(account)\(v.accountName.map { " \"\(Printable.text($0))\"" } ?? "")" }
            line += "  found at \(Printable.text(item.target.foundAt))"
            if let leaked = item.target.firstLeaked { line += ", first leaked in \(leaked)" }
            if item.target.completes != nil { line += " (unfinished in an earlier run)" }
            text += line + "\n"
        }
        Self.stderr(text)
        if dryRun { return [] }
        if !live.isEmpty && !yes {
            Self.stderr("Disable \(live.count) token\(live.count == 1 ? "" : "s")? Type 'yes' to go on: ")
            // a stop signal while the question waits ends the run at once: nothing was sent yet
            let answer = Interrupt.exitingAtOnce(saying: "not confirmed: nothing was disabled") { readLine() }
            guard let answer, answer.trimmingCharacters(in: .whitespaces).lowercased() == "yes" else { return nil }
        }
        return disabler.execute(plan, isCancelled: { Interrupt.requested }) { result in
            // what was done; items left alone were listed in the plan
            guard result.item.willDisable || result.item.target.completes != nil else { return }
            Self.stderr("  \(result.item.target.tokenID): \(result.outcome)\(result.detail.map { " (\(Printable.text($0)))" } ?? "")\n")
        }
    }
}

/// Everything a scanning command needs besides its input, settled before the scan: the configuration file,
/// the report format, the suppression stages (ignore list, baseline) and the registry.
struct RunSetup {
    var config = Configuration()
    /// The configuration file used, if any.
    var configPath: String? = nil
    var format = "text"
    var registry = RegistrySetup()
    var ignore = IgnoreList()
    var baseline: Baseline? = nil
    /// `--write-baseline FILE`.
    var writeBaseline: String? = nil
    /// Globs from `--exclude` and the configuration.
    var excludes: [PathGlob] = []
    /// `--report FORMAT:PATH`, in the order given.
    var reports: [(format: String, path: String)] = []
    /// `--max-…` and `--snippet-context` (command line only).
    var limits = ScanLimits()
    /// How many findings were written as JSON lines during the scan (nil: none were).
    var streamedFindings: Int? = nil
    /// The scan root as an absolute directory, for SARIF's `%SRCROOT%`.
    var uriBase: String? = nil
    /// For a tree scan of one directory other than the working directory: that directory, relative to the
    /// working directory when inside it. Formats read by CI systems that resolve paths against the checkout
    /// (GitHub annotations, GitLab, JUnit) put it in front of each finding's path (`dist/` + `assets/app.js`).
    var pathPrefix: String? = nil

    /// The root-relative path `path` as the working directory sees it.
    func checkoutPath(_ path: String) -> String {
        guard let prefix = self.pathPrefix, !path.hasPrefix("/"), !path.hasPrefix("(") else { return path }
        return prefix + "/" + path
    }

    /// Sets `pathPrefix` for a tree scan of `paths`.
    mutating func setPathPrefix(scanning paths: [String]) {
        var isDirectory: ObjCBool = false
        guard paths.count == 1, paths[0] != "-", FileManager.default.fileExists(atPath: paths[0], isDirectory: &isDirectory), isDirectory.boolValue else { return }
        let root = URL(fileURLWithPath: paths[0]).standardizedFileURL.path
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).standardizedFileURL.path
        if root == cwd { return }
        self.pathPrefix = root.hasPrefix(cwd + "/") ? String(root.dropFirst(cwd.count + 1)) : root
    }
}

extension MPTScan {
    /// Adoption options shared by every scanning command.
    static let adoptionOptions: [OptionSpec] = [
        OptionSpec(long: "config", valueName: "file", help: "Configuration file. (default: .mptscan.json at the scan root, if there)"),
        OptionSpec(long: "baseline", valueName: "file", help: "Findings recorded in <file> are baselined: they do not fail the run (new leaks do)."),
        OptionSpec(long: "write-baseline", valueName: "file", help: "Record the current findings in <file> (rule id, fingerprint, path; no secret) and accept them."),
        OptionSpec(long: "ignore-file", valueName: "file", help: "Fingerprints of known test tokens to ignore. (default: .mptscanignore at the scan root, if there)"),
    ]

    /// Loads the configuration (`--config`, or `.mptscan.json` in `root`), the ignore file and the baseline,
    /// and validates the registry options. Throws `UsageError` (exit 64) or `ConfigError`/`RegistryConfigError`
    /// (exit 2), before anything is scanned.
    /// `scanning`: the paths a tree scan reads, which no report may overwrite.
    static func runSetup(_ parsed: ParsedArguments, root: String, scanning: [String] = []) throws -> RunSetup {
        var setup = RunSetup()
        setup.limits = try Self.scanLimits(parsed)
        let fm = FileManager.default
        let rootDirectory: String = {
            var isDirectory: ObjCBool = false
            return fm.fileExists(atPath: root, isDirectory: &isDirectory) && isDirectory.boolValue ? root : "."
        }()
        if let path = parsed.value("config") {
            setup.config = try Configuration.load(from: path)
            setup.configPath = path
        } else if let path = Self.findUpward(Configuration.fileName, from: rootDirectory) {
            setup.config = try Configuration.load(from: path)
            setup.configPath = path
        }
        // a configuration found in the scanned tree is the tree's to write: it may pick a named environment, but
        // a URL there could send the registry credential (and, with --verify self, the found tokens) anywhere
        if parsed.value("config") == nil, let registry = setup.config.registry,
           !RegistryEndpoint.environments.contains(where: { $0.name == registry.lowercased() }) {
            throw ConfigError("\(setup.configPath ?? Configuration.fileName): registry: a configuration found in the scanned tree may name only \(RegistryEndpoint.environments.map(\.name).joined(separator: ", ")); give a URL with --registry, MPT_REGISTRY_URL or an explicit --config")
        }
        let config = setup.config
        setup.format = parsed.value("format") ?? config.format ?? "text"
        guard ReportFormat(rawValue: setup.format) != nil else {
            throw UsageError("Unknown format '\(setup.format)' (expected \(reportFormatNames))")
        }
        for value in parsed.all("report") {
            guard let colon = value.firstIndex(of: ":"), ReportFormat(rawValue: String(value[..<colon])) != nil, value.index(after: colon) < value.endIndex else {
                throw UsageError("--report needs FORMAT:FILE with a format among \(reportFormatNames), not '\(value)'")
            }
            let path = String(value[value.index(after: colon)...])
            if let problem = OutputStream.problemWriting(to: path, scanning: scanning) { throw UsageError("--report \(path): \(problem)") }
            let taken = setup.reports.map(\.path) + (parsed.value("output").map { [$0] } ?? [])
            if taken.contains(where: { URL(fileURLWithPath: $0).standardizedFileURL == URL(fileURLWithPath: path).standardizedFileURL }) {
                throw UsageError("--report \(path): another report already goes to this file")
            }
            setup.reports.append((String(value[..<colon]), path))
        }
        let absolute = rootDirectory.hasPrefix("/") ? rootDirectory : fm.currentDirectoryPath + "/" + rootDirectory
        setup.uriBase = URL(fileURLWithPath: absolute).standardizedFileURL.path
        do {
            setup.excludes = try (config.excludes + parsed.all("exclude")).map(PathGlob.init)
        } catch let error as PathGlob.Error {
            throw UsageError("--exclude: \(error.message)")
        }
        // the ignore file, and the configuration's allowed fingerprints and token ids
        let ignorePath = parsed.value("ignore-file") ?? Self.findUpward(IgnoreList.fileName, from: rootDirectory)
            ?? (rootDirectory as NSString).appendingPathComponent(IgnoreList.fileName)
        if let data = fm.contents(atPath: ignorePath) {
            setup.ignore = try IgnoreList.parse(String(decoding: data, as: UTF8.self), file: ignorePath)
        } else if parsed.value("ignore-file") != nil {
            throw ConfigError("\(ignorePath): cannot read the ignore file")
        }
        setup.ignore.entries += config.allowFingerprints.map { IgnoreList.Entry(fingerprint: $0, tokenID: nil, path: nil) }
        setup.ignore.entries += config.allowTokenIDs.map { IgnoreList.Entry(fingerprint: nil, tokenID: $0, path: nil) }
        // the baseline: a flag's path as given, the configuration's relative to the configuration file
        if let path = parsed.value("baseline") {
            setup.baseline = try Baseline.load(from: path)
        } else if let path = config.baseline, let configPath = setup.configPath {
            let full = path.hasPrefix("/") ? path : ((configPath as NSString).deletingLastPathComponent as NSString).appendingPathComponent(path)
            setup.baseline = try Baseline.load(from: full)
        }
        if let path = parsed.value("write-baseline") {
            if let problem = OutputStream.problemWriting(to: path, scanning: []) { throw UsageError("--write-baseline \(path): \(problem)") }
            setup.writeBaseline = path
        }
        setup.registry = try self.registrySetup(parsed, config: config)
        try self.checkSecretsDestinations(parsed, files: (parsed.value("output").map { [$0] } ?? []) + setup.reports.map(\.path))
        return setup
    }

    /// With `--show-secrets`, refuses (`UsageError`, exit 64, before anything is scanned) to write full token
    /// values into an existing file its group or others may read: each of `files` (`--output`, `--report`),
    /// and standard output when no `--output` is given. New files are created 0600, so they are fine.
    static func checkSecretsDestinations(_ parsed: ParsedArguments, files: [String]) throws {
        guard parsed.has("show-secrets") else { return }
        for path in files {
            if let problem = OutputStream.problemWritingSecrets(to: path) { throw UsageError("--show-secrets: \(path) \(problem)") }
        }
        if parsed.value("output") == nil, let problem = OutputStream.problemWritingSecretsToStandardOutput() {
            throw UsageError("--show-secrets: \(problem)")
        }
    }

    /// The stages that look at one finding at a time (and so can run on findings streamed during a scan):
    /// severity overrides, the ignore list, the baseline.
    static func applyFindingStages(_ report: inout ScanReport, _ setup: RunSetup) {
        for i in report.findings.indices {
            if let severity = setup.config.severity[report.findings[i].ruleID], report.findings[i].claims?.expired != true {
                report.findings[i].severity = severity
            }
        }
        setup.ignore.apply(to: &report.findings)
        setup.baseline?.apply(to: &report.findings)
    }

    /// `name` in `directory` or the nearest parent that has it, stopping at the enclosing git work tree's top
    /// (a directory holding `.git`): a configuration at the repository root applies to `scan src/` too.
    static func findUpward(_ name: String, from directory: String) -> String? {
        let fm = FileManager.default
        let start = URL(fileURLWithPath: directory).standardizedFileURL
        let here = (directory as NSString).appendingPathComponent(name)
        if fm.fileExists(atPath: here) { return here }
        // outside a git work tree only the directory itself counts (a stray file in $HOME must not apply)
        var chain: [URL] = []
        var dir = start
        for _ in 0..<64 {
            chain.append(dir)
            if fm.fileExists(atPath: dir.appendingPathComponent(".git").path) {
                return chain.dropFirst().lazy.map { $0.appendingPathComponent(name).path }.first { fm.fileExists(atPath: $0) }
            }
            if dir.path == "/" { return nil }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    /// The suppression stages after the scan, in order: severity overrides, the ignore list, the baseline, and
    /// `--write-baseline` (which records and then accepts what is left).
    static func applySuppressions(_ report: inout ScanReport, _ setup: RunSetup) {
        self.applyFindingStages(&report, setup)
        if let path = setup.writeBaseline {
            let baseline = Baseline(findings: report.findings)
            guard var file = OutputStream(creatingFile: path) else {
                report.summary.unreadable.append(ScanIssue(path: path, message: "cannot write the baseline: \(String(cString: strerror(errno)))", isPath: false))
                return
            }
            file.write(baseline.serialized())
            file.close()
            if file.failed {
                report.summary.unreadable.append(ScanIssue(path: path, message: "writing the baseline failed: \(String(cString: strerror(file.errorCode)))", isPath: false))
                return
            }
            baseline.apply(to: &report.findings)
            Self.stderr("mptscan: baseline of \(baseline.findings.count) finding\(baseline.findings.count == 1 ? "" : "s") written to \(path)\n")
        }
    }
}
