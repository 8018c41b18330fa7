import Foundation
import Testing
import MPTScanKit
import _MPTScanTestSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The registry workflow end to end: the built binary against the emulator over loopback sockets, with the
/// scenario of 200 tokens and 20 leaks (`RegistryScenario`).
@Suite(.serialized) struct RegistryScanTests {
    let scenario = RegistryScenario()
    let dir: URL
    let emulator: RegistryEmulator

    init() throws {
        self.dir = FileManager.default.temporaryDirectory.appendingPathComponent("mptscan-registry-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: self.dir.appendingPathComponent("tree"), withIntermediateDirectories: true)
        try Data(self.scenario.leaks.utf8).write(to: self.dir.appendingPathComponent("tree/leaks.ts"))
        self.emulator = try RegistryEmulator(state: self.scenario.state)
    }

    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["MPT_REGISTRY_TOKEN"] = self.scenario.adminBearer
        env["no_proxy"] = "127.0.0.1"
        env["XDG_STATE_HOME"] = self.dir.appendingPathComponent("state").path
        env.removeValue(forKey: "MPT_REGISTRY_URL")
        return env
    }

    func mptscan(_ args: [String], environment: [String: String]? = nil) throws -> TestProcess.Result {
        try TestProcess.run(CLITests.binary, args, environment: environment ?? self.environment, directory: self.dir)
    }

    func verdicts(_ json: String) throws -> [String: String] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let findings = try #require(object["findings"] as? [[String: Any]])
        var out: [String: String] = [:]
        for f in findings {
            let registry = try #require(f["registry"] as? [String: Any])
            out[f["token_id"] as! String] = registry["verdict"] as? String
        }
        return out
    }

    var expected: [String: String] { self.scenario.expected.mapValues(\.rawValue) }

    func disables(_ id: String) -> Int { self.emulator.requestCount(method: "POST", path: "/accounts/api-tokens/\(id)/disable") }

    func noSecretIn(_ texts: String...) {
        for text in texts {
            #expect(!text.contains(self.scenario.adminBearer))
            for (_, token) in self.scenario.leaked { #expect(!text.contains(String(token.suffix(64)))) }
        }
    }

    @Test func everyLeakGetsItsVerdict() throws {
        defer { self.emulator.stop(); try? FileManager.default.removeItem(at: self.dir) }
        let r = try self.mptscan(["scan", "tree", "--registry", self.emulator.baseURL, "--format", "json"])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(try self.verdicts(r.stdout) == self.expected)
        #expect(self.emulator.totalRequests == 20, "one lookup per distinct id")
        #expect(self.emulator.requests.allSatisfy { $0.userAgent?.hasPrefix("mptscan/") == true })
        // text shows them, and the summary counts them
        let text = try self.mptscan(["scan", "tree", "--registry", self.emulator.baseURL])
        #expect(text.stdout.contains("registry: live (Active) — account ACC-1000-0001 \"Example Client\" (Client)"))
        #expect(text.stderr.contains("registry verdicts: 2 unknown, 2 forbidden, 2 deleted, 3 mismatch, 3 disabled, 8 live"), "\(text.stderr)")
        self.noSecretIn(r.stdout, r.stderr, text.stdout, text.stderr)
        // --fail-on: unverified fails on live, unknown, forbidden; live only on live
        #expect(try self.mptscan(["scan", "tree", "--registry", self.emulator.baseURL, "--fail-on", "unverified", "-q"]).status == 1)
        #expect(try self.mptscan(["scan", "tree", "--registry", self.emulator.baseURL, "--fail-on", "live", "-q"]).status == 1)
    }

    @Test func disableLiveDisablesExactlyTheLiveOnesOnceAndAudits() throws {
        defer { self.emulator.stop(); try? FileManager.default.removeItem(at: self.dir) }
        let audit = self.dir.appendingPathComponent("audit.jsonl").path
        let r = try self.mptscan(["scan", "tree", "--registry", self.emulator.baseURL, "--disable-live", "--yes",
                                  "--audit-log", audit, "--fail-on", "live", "--format", "json"])
        #expect(r.status == 1, "live tokens were leaked, even if this run disabled them: \(r.stderr)")
        let live = self.scenario.expected.filter { $0.value == .live }.map(\.key)
        for (id, verdict) in self.scenario.expected {
            #expect(self.disables(id) == (verdict == .live ? 1 : 0), "\(id) \(verdict)")
            if verdict == .live { #expect(self.emulator.token(id: id)?.record.status == .disabled) }
        }
        // the verdict stays 'live' (what was found); the finding says this run disabled it
        #expect(try self.verdicts(r.stdout).filter { live.contains($0.key) }.values.allSatisfy { $0 == "live" })
        #expect(r.stdout.components(separatedBy: "\"disabled_by_run\": true").count - 1 == live.count)
        // the log: an intent and an outcome per live token, fsync'd lines, no secret, mode 0600
        let records = AuditLog.records(at: audit)
        #expect(records.count == 2 * live.count)
        for id in live {
            #expect(records.filter { $0.tokenID == id }.map(\.event) == ["intent", "outcome"])
            #expect(records.last { $0.tokenID == id }?.outcome == "disabled")
        }
        #expect(AuditLog.unfinished(records).isEmpty)
        let info = try FileManager.default.attributesOfItem(atPath: audit)
        #expect((info[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        self.noSecretIn(try String(contentsOfFile: audit, encoding: .utf8), r.stderr, r.stdout)

        // again: nothing is sent, the log does not grow
        let again = try self.mptscan(["scan", "tree", "--registry", self.emulator.baseURL, "--disable-live", "--yes", "--audit-log", audit, "-q"])
        #expect(again.status == 1, "the findings are still leaks under --fail-on any")
        for id in live { #expect(self.disables(id) == 1) }
        #expect(AuditLog.records(at: audit).count == records.count)
    }

    @Test func disableFromARedactedReport() throws {
        defer { self.emulator.stop(); try? FileManager.default.removeItem(at: self.dir) }
        let report = self.dir.appendingPathComponent("report.json").path
        #expect(try self.mptscan(["scan", "tree", "--format", "json", "-o", report, "-q"]).status == 1)
        let dry = try self.mptscan(["disable", "--from-report", report, "--registry", self.emulator.baseURL, "--dry-run"])
        #expect(dry.status == 0)
        #expect(dry.stderr.contains("disable plan (8 to disable, 12 left as they are)"), "\(dry.stderr)")
        #expect(self.emulator.requestCounts.keys.allSatisfy { !$0.hasPrefix("POST") })
        // not on a terminal: --yes is required
        #expect(try self.mptscan(["disable", "--from-report", report, "--registry", self.emulator.baseURL]).status == 64)
        let done = try self.mptscan(["disable", "--from-report", report, "--registry", self.emulator.baseURL, "--yes"])
        #expect(done.status == 0, "\(done.stderr)")
        #expect(done.stderr.contains("8 disabled, 12 left as they were, 0 failed"))
        for (id, verdict) in self.scenario.expected { #expect(self.disables(id) == (verdict == .live ? 1 : 0)) }
        // the default audit log under XDG_STATE_HOME
        #expect(AuditLog.records(at: self.dir.appendingPathComponent("state/mptscan/audit.jsonl").path).count == 16)
        self.noSecretIn(done.stderr, done.stdout)
    }

    /// The same live token in two forms (current and legacy) is one disable; a second disable that the
    /// registry refuses (400) because the token is already off counts as done; a torn audit line is not lost.
    @Test func oneDisablePerTokenIdAndAlreadyDisabledIsDone() throws {
        defer { self.emulator.stop(); try? FileManager.default.removeItem(at: self.dir) }
        let id = RegistryScenario.tokenID(0)
        let token = try #require(self.scenario.leaked[id])
        try Data("LEGACY=\(token.dropFirst(4))\n".utf8).write(to: self.dir.appendingPathComponent("tree/legacy.env"))
        let audit = self.dir.appendingPathComponent("audit.jsonl").path
        try Data("{\"event\":\"intent\",\"torn".utf8).write(to: URL(fileURLWithPath: audit))
        let r = try self.mptscan(["scan", "tree", "--registry", self.emulator.baseURL, "--disable-live", "--yes", "--audit-log", audit, "-q"])
        #expect(r.status == 1, "\(r.stderr)")
        #expect(!r.stderr.contains("error"), "\(r.stderr)")
        #expect(self.disables(id) == 1)
        #expect(AuditLog.records(at: audit).filter { $0.tokenID == id }.map(\.event) == ["intent", "outcome"], "the record after the torn line is whole")

        // someone disables a token between the re-check and the request: 400, read back, done
        self.emulator.update { state in
            if let i = state.tokens.firstIndex(where: { $0.record.id == RegistryScenario.tokenID(4) }) { state.tokens[i].record.status = .active }
        }
        let disabler = Disabler(client: RegistryClient(endpoint: try RegistryEndpoint.parse(self.emulator.baseURL),
                                                       credential: try RegistryCredential(self.scenario.adminBearer)),
                                audit: try AuditLog(path: audit), operatorName: "test")
        let target = DisableTarget(tokenID: RegistryScenario.tokenID(4), fingerprint: SHA256.hexDigest(of: Array(try #require(self.scenario.leaked[RegistryScenario.tokenID(4)]).utf8)), foundAt: "x:1")
        let plan = disabler.plan([target])
        #expect(plan.first?.willDisable == true)
        _ = disabler.client.disableToken(id: RegistryScenario.tokenID(4)) // another actor, after the plan
        let results = disabler.execute(plan)
        let outcomes = results.map { $0.outcome }
        let allSucceeded = results.allSatisfy { $0.succeeded }
        #expect(outcomes == ["already-disabled"])
        #expect(allSucceeded)
    }

    /// With the registry down, a disable run fails (2) and leaves an earlier run's unfinished intent open.
    @Test func aDisableThatCannotReCheckFailsAndKeepsTheLogOpen() throws {
        defer { self.emulator.stop(); try? FileManager.default.removeItem(at: self.dir) }
        let report = self.dir.appendingPathComponent("report.json").path
        let audit = self.dir.appendingPathComponent("audit.jsonl").path
        #expect(try self.mptscan(["scan", "tree", "--format", "json", "-o", report, "-q"]).status == 1)
        let id = RegistryScenario.tokenID(0)
        let intent = AuditRecord(event: "intent", time: "2026-11-29T00:00:00Z", run: "earlier-run", tokenID: id,
                                 fingerprint: SHA256.hexDigest(of: Array(try #require(self.scenario.leaked[id]).utf8)),
                                 verdict: "live", foundAt: "tree/leaks.ts:1", operator: "test", registry: self.emulator.baseURL)
        try AuditLog(path: audit).append(intent)
        let url = self.emulator.baseURL
        self.emulator.stop()
        let r = try self.mptscan(["disable", "--from-report", report, "--registry", url, "--yes", "--audit-log", audit])
        #expect(r.status == 2, "\(r.stderr)")
        #expect(AuditLog.unfinished(AuditLog.records(at: audit)).map(\.run) == ["earlier-run"], "still open")
    }

    @Test func anEditedReportOrADamagedSnapshotIsRefused() throws {
        defer { self.emulator.stop(); try? FileManager.default.removeItem(at: self.dir) }
        let report = self.dir.appendingPathComponent("edited.json").path
        try Data(#"{"findings": [{"token_id": "TKN-1500-1000", "path": "a", "line": 1}]}"#.utf8).write(to: URL(fileURLWithPath: report))
        let r = try self.mptscan(["disable", "--from-report", report, "--registry", self.emulator.baseURL, "--yes"])
        #expect(r.status == 2)
        #expect(r.stderr.contains("no valid fingerprint"), "\(r.stderr)")
        #expect(self.emulator.totalRequests == 0)

        let snapshot = self.dir.appendingPathComponent("snap.json").path
        #expect(try self.mptscan(["registry", "export", "--output", snapshot, "--registry", self.emulator.baseURL]).status == 0)
        let text = try String(contentsOfFile: snapshot, encoding: .utf8)
        let upper = text.replacingOccurrences(of: #""sha256" : "([0-9a-f]{8})"#, with: #""sha256" : "ABCDEF01"#, options: .regularExpression)
        try Data(upper.utf8).write(to: URL(fileURLWithPath: snapshot))
        let bad = try self.mptscan(["scan", "tree", "--registry-file", snapshot])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("sha256: expected 64 lower-case hexadecimal digits"), "\(bad.stderr)")
    }

    @Test func faultsGiveTheSameVerdictsAndAnOutageIsNeverClean() throws {
        defer { self.emulator.stop(); try? FileManager.default.removeItem(at: self.dir) }
        // seeds under which no token meets a fault on all five attempts (the draw is per token and attempt, so
        // the outcome does not depend on the order in which the concurrent lookups arrive); 55 requests in all
        self.emulator.setFaults([
            .init(.status(429, retryAfter: "1"), when: .fraction(1.0 / 3, seed: 3)),
            .init(.status(500), when: .fraction(1.0 / 3, seed: 22)),
        ])
        let started = Date()
        let r = try self.mptscan(["scan", "tree", "--registry", self.emulator.baseURL, "--format", "json"])
        let seconds = Date().timeIntervalSince(started)
        #expect(r.status == 1, "\(r.stderr)")
        #expect(try self.verdicts(r.stdout) == self.expected)
        #expect(self.emulator.totalRequests > 20, "faults were injected and retried")
        #expect(seconds < 45, "retries wait what Retry-After and the backoff say (about 4 s idle; generous for a loaded CI): \(seconds) s")

        // the registry down: verdicts 'error', the scan incomplete; never 0
        self.emulator.stop()
        let down = try self.mptscan(["scan", "tree", "--registry", self.emulator.baseURL, "--fail-on", "live"])
        #expect(down.status == 2, "\(down.stderr)")
        #expect(down.stderr.contains("mptscan: error: registry: 20 tokens could not be checked"), "\(down.stderr)")
        // --skip-unreadable accepts unreadable paths, never an outage: the verdicts are still unknown
        let skipping = try self.mptscan(["scan", "tree", "--skip-unreadable", "--registry", self.emulator.baseURL, "--fail-on", "live"])
        #expect(skipping.status == 2, "\(skipping.stderr)")
    }

    @Test func aRunKilledBetweenIntentAndOutcomeIsCompletedByTheNextOne() throws {
        defer { self.emulator.stop(); try? FileManager.default.removeItem(at: self.dir) }
        let report = self.dir.appendingPathComponent("report.json").path
        let audit = self.dir.appendingPathComponent("audit.jsonl").path
        #expect(try self.mptscan(["scan", "tree", "--format", "json", "-o", report, "-q"]).status == 1)
        // the third disable hangs: the run is killed while it waits, its intent written, its outcome not
        self.emulator.setFaults([.init(.delay(5), when: .everyNth(3), method: "POST")])
        let process = Process()
        process.executableURL = CLITests.binary
        process.arguments = ["disable", "--from-report", report, "--registry", self.emulator.baseURL, "--yes", "--audit-log", audit]
        process.environment = self.environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline && AuditLog.records(at: audit).filter({ $0.event == "intent" }).count < 3 { usleep(20_000) }
        usleep(200_000)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let before = AuditLog.records(at: audit)
        #expect(AuditLog.unfinished(before).count == 1, "\(before.map { "\($0.event) \($0.tokenID)" })")
        self.emulator.setFaults([])

        let rerun = try self.mptscan(["disable", "--from-report", report, "--registry", self.emulator.baseURL, "--yes", "--audit-log", audit])
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let after = AuditLog.records(at: audit)
        #expect(AuditLog.unfinished(after).isEmpty, "every intent has its outcome")
        for (id, verdict) in self.scenario.expected {
            #expect(self.disables(id) == (verdict == .live ? 1 : 0), "\(id): disabled exactly once")
            if verdict == .live { #expect(self.emulator.token(id: id)?.record.status == .disabled) }
        }
    }

    @Test func selfVerificationNeedsNoAdminCredential() throws {
        defer { self.emulator.stop(); try? FileManager.default.removeItem(at: self.dir) }
        var env = self.environment
        env.removeValue(forKey: "MPT_REGISTRY_TOKEN")
        let r = try self.mptscan(["scan", "tree", "--registry", self.emulator.baseURL, "--verify", "self", "--format", "json"], environment: env)
        #expect(r.status == 1, "\(r.stderr)")
        // the token itself authenticates only while active and exact: everything else is refused (invalid)
        let want = self.scenario.expected.mapValues { v -> String in
            switch v {
            case .live, .forbidden: return "live"
            default: return "invalid"
            }
        }
        #expect(try self.verdicts(r.stdout) == want)
        #expect(self.emulator.requests.allSatisfy { $0.hadAuthorization })
        // without a registry address it is a configuration error, before any scanning
        #expect(try self.mptscan(["scan", "tree", "--verify", "self"], environment: env).status == 2)
    }

    @Test func anOfflineSnapshotGivesVerdictsWithoutNetwork() throws {
        defer { self.emulator.stop(); try? FileManager.default.removeItem(at: self.dir) }
        let snapshot = self.dir.appendingPathComponent("snapshot.json").path
        let export = try self.mptscan(["registry", "export", "--output", snapshot, "--registry", self.emulator.baseURL])
        #expect(export.status == 0, "\(export.stderr)")
        let text = try String(contentsOfFile: snapshot, encoding: .utf8)
        self.noSecretIn(text)
        self.emulator.stop()
        var env = self.environment
        env.removeValue(forKey: "MPT_REGISTRY_TOKEN")
        let r = try self.mptscan(["scan", "tree", "--registry-file", snapshot, "--format", "json"], environment: env)
        #expect(r.status == 1)
        // the fourth account is not visible to the exporter: its tokens are unknown offline
        #expect(try self.verdicts(r.stdout) == self.expected.mapValues { $0 == "forbidden" ? "unknown" : $0 })
        // a stale snapshot is flagged
        let old = text.replacingOccurrences(of: #""taken_at" : "[^"]*""#, with: #""taken_at" : "2020-01-01T00:00:00Z""#, options: .regularExpression)
        try Data(old.utf8).write(to: URL(fileURLWithPath: snapshot))
        let stale = try self.mptscan(["scan", "tree", "--registry-file", snapshot, "-q"], environment: env)
        #expect(stale.stderr.contains("warning: the registry snapshot is"), "\(stale.stderr)")
        #expect(try self.mptscan(["scan", "tree", "--fail-on", "live"], environment: env).status == 64, "live needs verdicts")
    }
}
