import Foundation
import Testing
import MPTScanKit
import _MPTScanTestSupport

/// `mptscan registry emulate` as a process: prints its URL, serves the state file, stops cleanly on SIGINT.
@Suite struct RegistryCLITests {
    @Test func emulateServesTheStateFileAndStopsOnInterrupt() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mptscan-emulate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let stateFile = dir.appendingPathComponent("state.json").path
        let token = SyntheticTokens.token(seed: 940)
        let state = RegistryEmulator.State(tokens: [RegistryEmulator.Token(APITokenRecord(
            id: SyntheticTokens.tokenID(seed: 940), status: .active, token: token, account: .init(id: "ACC-1111-2222")))])
        try state.save(to: stateFile)
        let bearer = SyntheticTokens.secret(seed: 1520, length: 48)

        let process = Process()
        process.executableURL = CLITests.binary
        process.arguments = ["registry", "emulate", "--port", "0", "--state", stateFile]
        var env = ProcessInfo.processInfo.environment
        env["MPT_REGISTRY_TOKEN"] = bearer
        env["no_proxy"] = "127.0.0.1"
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        // the first line is the URL
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line += chunk
        }
        let url = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(url.hasPrefix("http://127.0.0.1:") && url.hasSuffix("/public/v1"))
        if ProcessInfo.processInfo.environment.keys.contains(where: { $0.lowercased() == "http_proxy" }) {
            setenv("no_proxy", "127.0.0.1", 1) // libcurl would send loopback requests to the proxy
        }

        let client = RegistryClient(endpoint: try RegistryEndpoint.parse(url), credential: try RegistryCredential(bearer))
        let record = try client.getToken(id: SyntheticTokens.tokenID(seed: 940)).get()
        #expect(record.valueEquals(token))
        #expect(try client.disableToken(id: SyntheticTokens.tokenID(seed: 940)).get().status == .disabled)

        process.interrupt()
        #expect(exited.wait(timeout: .now() + 10) == .success)
        #expect(process.terminationStatus == 0)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(stderr.contains("stopped after 2 requests"), "\(stderr)")
        #expect(!stderr.contains(bearer))
        let saved = try RegistryEmulator.State.load(from: stateFile)
        #expect(saved.tokens.first?.record.status == .disabled)
        #expect(!(try String(contentsOfFile: stateFile, encoding: .utf8)).contains(bearer), "the env credential is stored hashed")
    }

    @Test func emulateRefusesBadUsage() throws {
        #expect(try CLITests.run(["registry", "emulate", "--host", "10.0.0.1"]).status == 64)
        #expect(try CLITests.run(["registry", "emulate", "--port", "x"]).status == 64)
        #expect(try CLITests.run(["registry", "nope"]).status == 64)
        let help = try CLITests.run(["help", "registry", "emulate"])
        #expect(help.status == 0 && help.stdout.contains("USAGE: mptscan registry emulate"))
        #expect(try CLITests.run(["registry", "emulate", "--help"]).stdout == help.stdout)
    }
}
