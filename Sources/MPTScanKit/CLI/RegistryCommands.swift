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
            ("emulate", "Run a local registry emulator on a loopback address (for tests and trials)."),
        ])

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
        default: throw UsageError("Unknown subcommand 'registry \(sub)'")
        }
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
                Self.stderr("mptscan: error: state file \(stateFile): \(Self.describe(error))\n")
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

    /// A decoding error as `path: what`, other errors as they describe themselves.
    private static func describe(_ error: any Error) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined()
        }
        switch error {
        case DecodingError.keyNotFound(let key, let context): return "missing \(path(context.codingPath + [key]))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context),
             DecodingError.dataCorrupted(let context):
            return "\(path(context.codingPath).isEmpty ? "not JSON" : path(context.codingPath)): \(context.debugDescription)"
        default: return error.localizedDescription
        }
    }
}
