import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `registry` subcommands: `emulate`.
extension MPTScan {
    static let registry = CommandSpec(
        overview: "Work with the Marketplace token registry.",
        usage: "mptscan registry <subcommand>",
        options: [],
        subcommands: [
            ("export", "Write an offline snapshot of the registry (ids, status, accounts, SHA-256 of values; no secret)."),
            ("emulate", "Run a local registry emulator on a loopback address (for tests and trials)."),
        ])

    static let registryExport = CommandSpec(
        overview: "Write an offline snapshot of the token registry for --registry-file: every token's id, status, account, name, lastAccessAt and the SHA-256 of its value. No secret is written.",
        usage: "mptscan registry export --output <file> [--registry <url|env>] [--registry-token-file <file>]",
        options: [
            OptionSpec(long: "output", short: "o", valueName: "file", help: "The snapshot file to write (mode 0600)."),
            registryOption,
            registryTokenFileOption,
        ],
        discussion: """
        Pages through GET /accounts/api-tokens (100 at a time). The credential needs Access Management in the
        accounts to cover (or Platform Account Management for all); tokens whose value it may not read are
        written without a hash and get the verdict 'forbidden' offline. A snapshot older than a day is flagged
        when used.

        EXIT CODES:
          0    snapshot written
          2    the registry could not be read, or the file could not be written
          64   bad usage
        """)

    static let disable = CommandSpec(
        overview: "Disable the leaked tokens of a JSON report that the registry confirms live (re-checked, confirmed, audited; never deletes).",
        usage: "mptscan disable --from-report <file> [--yes] [--dry-run] [--audit-log <file>] [--registry <url|env>]",
        options: [
            OptionSpec(long: "from-report", valueName: "file", help: "A JSON report from 'mptscan scan/history --format json'."),
            OptionSpec(long: "yes", help: "Do not ask for confirmation (needed when not on a terminal)."),
            OptionSpec(long: "dry-run", help: "Re-check and print the plan; disable nothing."),
            auditLogOption,
            registryOption,
            registryTokenFileOption,
        ],
        discussion: """
        Reports are redacted, so each token is re-checked by comparing the SHA-256 of the registry's value with
        the finding's fingerprint: only a token whose id and value match and whose status is Active is
        disabled (a real id beside a fake or old secret never is). Each disable is written to the audit log
        before the request (intent) and after the re-read that confirms status Disabled (outcome), each line
        fsync'd. Intents left without an outcome by an interrupted run are re-checked and completed first.
        Running it again sends nothing for tokens already disabled.

        EXIT CODES:
          0    every planned disable confirmed (or nothing to do)
          2    a disable failed or could not start (registry, audit log, report)
          64   bad usage
          130  interrupted (143 SIGTERM, 129 SIGHUP): the disable in flight was finished and logged, no
               other was sent; run again to finish
        """)

    static let registryEmulate = CommandSpec(
        overview: "Run a local emulator of the token registry (GET, disable, enable and list tokens) on a loopback address.",
        usage: "mptscan registry emulate [--host <address>] [--port <port>] [--state <file>]",
        options: [
            OptionSpec(long: "host", valueName: "address", help: "IPv4 loopback address to bind (127.0.0.0/8). (default: 127.0.0.1)"),
            OptionSpec(long: "port", valueName: "port", help: "TCP port; 0 picks a free one. (default: 0)"),
            OptionSpec(long: "state", valueName: "file", help: "JSON state file: read at start when it exists, written after every change (mode 0600)."),
        ],
        discussion: """
        The first line on standard output is the registry URL to give mptscan, e.g.
        http://127.0.0.1:PORT/public/v1. The emulator runs until interrupted (Ctrl-C or SIGTERM), then exits 0.

        The state file holds {"tokens":[…],"credentials":[…]}: tokens as the platform's token object (plus
        "grants" for what a token may do as itself), credentials as {"name","sha256" or "bearer","permissions",
        "accounts"} with permissions accessManagement, platformAccountManagement, readValue. Bearers written
        in plain text are stored back hashed. When MPT_REGISTRY_TOKEN is set, it is added as an admin credential
        ("env": platformAccountManagement, readValue), so the same variable works for mptscan and the emulator.

        EXIT CODES:
          0    stopped by a signal
          2    the address could not be bound, or the state file could not be read or written
          64   bad usage
        """)

    static func runRegistry(_ args: [String], out: inout OutputStream) throws -> ExitCode {
        guard let sub = args.first, !sub.hasPrefix("-") else {
            if args.first == "-h" || args.first == "--help" || args.isEmpty { out.write(self.registry.helpText()); return .clean }
            throw UsageError("Unknown option '\(args[0])'")
        }
        let rest = Array(args.dropFirst())
        switch sub {
        case "emulate": return try self.runRegistryEmulate(rest, out: &out)
        case "export": return try self.runRegistryExport(rest, out: &out)
        default: throw UsageError("Unknown subcommand 'registry \(sub)'")
        }
    }

    private static func runRegistryExport(_ args: [String], out: inout OutputStream) throws -> ExitCode {
        let parsed = try self.registryExport.parse(args)
        if parsed.wantsHelp { out.write(self.registryExport.helpText()); return .clean }
        guard parsed.positionals.isEmpty else { throw UsageError("Unexpected argument '\(parsed.positionals[0])'") }
        guard let path = parsed.value("output") else { throw UsageError("registry export needs --output FILE") }
        guard let (client, _, warnings) = try self.registryClient(parsed, required: true) else { return .incomplete }
        for warning in warnings { Self.stderr("mptscan: warning: \(warning)\n") }
        let records: [APITokenRecord]
        switch client.listAllTokens() {
        case .success(let all): records = all
        case .failure(let failure):
            Self.stderr("mptscan: error: listing the registry's tokens failed: \(failure)\n")
            return .incomplete
        }
        let snapshot = RegistrySnapshot(records: records, registry: client.endpoint.description, takenAt: Date())
        guard var file = OutputStream(creatingFile: path) else {
            Self.stderr("mptscan: error: cannot write \(path): \(String(cString: strerror(errno)))\n")
            return .incomplete
        }
        file.write(String(decoding: snapshot.serialized(), as: UTF8.self) + "\n")
        file.close()
        if file.failed {
            Self.stderr("mptscan: error: writing \(path) failed: \(String(cString: strerror(file.errorCode)))\n")
            return .incomplete
        }
        let hidden = snapshot.tokens.filter { $0.sha256 == nil }.count
        Self.stderr("mptscan: \(snapshot.tokens.count) tokens written to \(path)\(hidden > 0 ? " (\(hidden) without a hash: their values were hidden from this credential)" : "")\n")
        return .clean
    }

    static func runDisable(_ args: [String], out: inout OutputStream) throws -> ExitCode {
        let parsed = try self.disable.parse(args)
        if parsed.wantsHelp { out.write(self.disable.helpText()); return .clean }
        guard parsed.positionals.isEmpty else { throw UsageError("Unexpected argument '\(parsed.positionals[0])'") }
        guard let reportPath = parsed.value("from-report") else { throw UsageError("disable needs --from-report FILE (a JSON report)") }
        if !parsed.has("yes") && !parsed.has("dry-run") && isatty(STDIN_FILENO) != 1 {
            throw UsageError("disable asks for confirmation on a terminal; when not interactive, add --yes (or --dry-run)")
        }
        let targets: [DisableTarget]
        do { targets = try DisableTarget.fromReport(at: reportPath) } catch {
            Self.stderr("mptscan: error: \(error)\n")
            return .incomplete
        }
        guard let (client, credential, warnings) = try self.registryClient(parsed, required: true) else { return .incomplete }
        for warning in warnings { Self.stderr("mptscan: warning: \(warning)\n") }
        let auditPath = parsed.value("audit-log") ?? AuditLog.defaultPath()
        let audit: AuditLog
        do { audit = try AuditLog(path: auditPath) } catch {
            Self.stderr("mptscan: error: \(error)\n")
            return .incomplete
        }
        Interrupt.install()
        // waiting for another disable run to finish: a stop signal ends this one at once (nothing sent yet)
        do { try Interrupt.exitingAtOnce(saying: "stopped while waiting for the audit log's lock: nothing was disabled") { try audit.lockExclusive() } } catch {
            Self.stderr("mptscan: error: \(error)\n")
            return .incomplete
        }
        let disabler = Disabler(client: client, audit: audit, operatorName: AuditLog.operatorName(credential: credential))
        let all = Disabler.recoveryTargets(auditPath: auditPath, registry: client.endpoint.description) + targets
        guard !all.isEmpty else {
            Self.stderr("mptscan: the report holds no API token finding: nothing to disable\n")
            return .clean
        }
        let plan = disabler.plan(all)
        guard let results = self.confirmAndExecute(plan, disabler: disabler, yes: parsed.has("yes"), dryRun: parsed.has("dry-run")) else {
            Self.stderr("mptscan: not confirmed: nothing was disabled\n")
            return .incomplete
        }
        if parsed.has("dry-run") { return .clean }
        if Interrupt.requested {
            Self.stderr("mptscan: interrupted after \(results.count) of \(plan.count) planned item\(plan.count == 1 ? "" : "s"); run again to finish (the audit log shows what was done)\n")
            return .interrupted
        }
        let failed = results.filter { !$0.succeeded }.count
        let done = results.filter { $0.outcome == "disabled" }.count
        Self.stderr("mptscan: \(done) disabled, \(results.count - done - failed) left as they were, \(failed) failed; audit log \(auditPath)\n")
        return failed == 0 ? .clean : .incomplete
    }

    private static func runRegistryEmulate(_ args: [String], out: inout OutputStream) throws -> ExitCode {
        let parsed = try self.registryEmulate.parse(args)
        if parsed.wantsHelp { out.write(self.registryEmulate.helpText()); return .clean }
        guard parsed.positionals.isEmpty else { throw UsageError("Unexpected argument '\(parsed.positionals[0])'") }
        let host = parsed.value("host") ?? "127.0.0.1"
        guard RegistryEndpoint.isLoopback(host), host.first?.isNumber == true else {
            throw UsageError("--host must be an IPv4 loopback address (127.0.0.0/8), not '\(host)'")
        }
        var port: UInt16 = 0
        if let text = parsed.value("port") {
            guard let value = UInt16(text) else { throw UsageError("--port needs a whole number from 0 to 65535, not '\(text)'") }
            port = value
        }
        let stateFile = parsed.value("state")
        var state = RegistryEmulator.State()
        if let stateFile, FileManager.default.fileExists(atPath: stateFile) {
            do {
                state = try RegistryEmulator.State.load(from: stateFile)
            } catch {
                Self.stderr("mptscan: error: state file \(stateFile): \(ConfigError.describe(error))\n")
                return .incomplete
            }
        }
        do {
            if let bearer = try RegistryCredential.fromEnvironment() {
                let credential = RegistryEmulator.Credential(name: "env", bearer: bearer.value, permissions: [.platformAccountManagement, .readValue])
                if !state.credentials.contains(where: { $0.sha256 == credential.sha256 }) { state.credentials.append(credential) }
            }
        } catch {
            throw UsageError("\(error)")
        }
        if state.credentials.isEmpty && !state.tokens.contains(where: { $0.record.status == .active }) {
            Self.stderr("warning: no credentials and no active tokens: every request will get 401 (set MPT_REGISTRY_TOKEN or add credentials to the state file)\n")
        }

        let stop = DispatchSemaphore(value: 0)
        signal(SIGINT, SIG_IGN)
        signal(SIGTERM, SIG_IGN)
        let sources = [SIGINT, SIGTERM].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler { stop.signal() }
            source.resume()
            return source
        }
        let emulator: RegistryEmulator
        do {
            emulator = try RegistryEmulator(state: state, stateFile: stateFile, host: host, port: port)
        } catch {
            Self.stderr("mptscan: error: \(error)\n")
            return .incomplete
        }
        out.write(emulator.baseURL + "\n")
        Self.stderr("registry emulator: \(state.tokens.count) token\(state.tokens.count == 1 ? "" : "s"), \(state.credentials.count) credential\(state.credentials.count == 1 ? "" : "s")"
            + (stateFile.map { ", state in \($0)" } ?? ", state in memory only") + "; Ctrl-C stops it\n")
        stop.wait()
        emulator.stop()
        sources.forEach { $0.cancel() }
        Self.stderr("registry emulator: stopped after \(emulator.totalRequests) request\(emulator.totalRequests == 1 ? "" : "s")\n")
        if let error = emulator.lastSaveError {
            Self.stderr("mptscan: error: \(error)\n")
            return .incomplete
        }
        return .clean
    }

}
