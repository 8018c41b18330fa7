import XCTest
@testable import MPTScanKit
import _MPTScanTestSupport

/// `Redaction.secrets(in:)`: tokens in names and messages, found by the real detector, cut like reports cut them.
final class RedactionTests: XCTestCase {
    func testATokenInAPathIsCutToItsRedactedForm() {
        let token = SyntheticTokens.token(seed: 1720)
        let secret = SyntheticTokens.secret(seed: 1720)
        let path = "bundle.zip!\(token)/x.js"
        let shown = Redaction.secrets(in: path)
        XCTAssertEqual(shown, "bundle.zip!idt:\(SyntheticTokens.tokenID(seed: 1720)):\(secret.prefix(4))…/x.js")
        XCTAssertFalse(shown.contains(secret))
        XCTAssertEqual(Redaction.secrets(in: path, showSecrets: true), path)
    }

    /// Two names that differ only in Unicode normalisation (two files of one directory) keep their own bytes in
    /// a redacted report: `String` equality is canonical, so a cache keyed by it showed both in one spelling.
    func testNamesDifferingOnlyInNormalisationKeepTheirBytes() {
        let composed = "caf\u{E9}.txt", decomposed = "cafe\u{301}.txt"
        XCTAssertEqual(composed, decomposed, "Swift compares them canonically")
        var report = ScanReport(findings: [], summary: ScanSummary())
        report.summary.skipped = [SkippedEntry(path: composed, reason: .fifo), SkippedEntry(path: decomposed, reason: .fifo)]
        let shown = report.redactingNames().summary.skipped.map { Array($0.path.utf8) }
        XCTAssertEqual(shown, [Array(composed.utf8), Array(decomposed.utf8)])
    }

    func testTextWithoutATokenIsUnchanged() {
        for text in ["", "src/app.ts", "dist/0123456789abcdef0123456789abcdef.chunk.js", "idt:TKN-XXXX-XXXX:your_token_here",
                     "fatal: bad revision 'main..feature'", String(repeating: "é", count: 300)] {
            XCTAssertEqual(Redaction.secrets(in: text), text)
        }
    }

    func testEncodedFormsAreRedactedToo() throws {
        let token = SyntheticTokens.token(seed: 1721)
        let secret = SyntheticTokens.secret(seed: 1721)
        let percent = token.replacingOccurrences(of: ":", with: "%3A")
        let base64 = Data(token.utf8).base64EncodedString()
        let escaped = token.replacingOccurrences(of: ":", with: "\\u003a")
        for text in ["refs/heads/feature/\(percent)", "Authorization: Basic \(base64)", #"{"t":"\#(escaped)"}"#,
                     "fatal: bad revision '\(token)..HEAD'"] {
            let shown = Redaction.secrets(in: text)
            XCTAssertFalse(shown.contains(secret), shown)
            XCTAssertFalse(shown.contains(base64), shown)
            XCTAssertTrue(shown.contains("idt:\(SyntheticTokens.tokenID(seed: 1721)):\(secret.prefix(4))…"), shown)
        }
    }

    func testEveryTokenOfALineIsRedactedAndLegacyAndJWTsToo() {
        let a = SyntheticTokens.token(seed: 1722), b = SyntheticTokens.token(seed: 1723)
        let legacy = "MPT_API_TOKEN_ID=TKN-2345-6789\nMPT_API_TOKEN=\(SyntheticTokens.secret(seed: 1724))"
        let jwt = SyntheticTokens.jwt(seed: 1725, claims: #"{"https://claims.softwareone.com/userId":"USR-1111-2222"}"#)
        let shown = Redaction.secrets(in: "\(a) and \(b)\n\(legacy)\nBearer \(jwt)")
        for secret in [SyntheticTokens.secret(seed: 1722), SyntheticTokens.secret(seed: 1723), SyntheticTokens.secret(seed: 1724)] {
            XCTAssertFalse(shown.contains(secret), shown)
        }
        XCTAssertFalse(shown.contains(String(jwt.split(separator: ".").last!)), shown)
        XCTAssertTrue(shown.contains("MPT_API_TOKEN=\(SyntheticTokens.secret(seed: 1724).prefix(4))…"), shown)
    }

    func testQuotedInputShowsNoSecretNotEvenAPiece() {
        let token = SyntheticTokens.token(seed: 1731), secret = SyntheticTokens.secret(seed: 1731)
        // a whole token is redacted; a cut one (which no rule recognises) loses its long run
        for text in ["\(token) blob 12", String(token.prefix(70)), "x" + String(secret.prefix(40))] {
            let quoted = Redaction.quote(text, limit: 80)
            XCTAssertFalse(quoted.contains(String(secret.prefix(8))), quoted)
        }
        XCTAssertEqual(Redaction.quote("refs/heads/main 1234 \u{1B}[2J", limit: 80), "refs/heads/main 1234 \u{FFFD}[2J")
        XCTAssertEqual(Redaction.quote(String(repeating: "a-", count: 50), limit: 10), "a-a-a-a-a…")
    }

    func testAReportsNamesAreRedactedButNotItsFingerprints() throws {
        let inName = SyntheticTokens.token(seed: 1726)
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent(inName), withIntermediateDirectories: true)
        try Data("k=\(SyntheticTokens.token(seed: 1727))\n".utf8).write(to: dir.appendingPathComponent("\(inName)/a.env"))
        var options = ScanOptions()
        options.paths = [dir.path]
        let report = TreeScanner(detector: TokenDetector(rules: BuiltinRules.all), options: options).run()
        XCTAssertEqual(report.findings.count, 1)
        let shown = report.redactingNames()
        XCTAssertEqual(shown.findings[0].path, Redaction.secrets(in: inName) + "/a.env")
        XCTAssertFalse(shown.findings[0].path.contains(SyntheticTokens.secret(seed: 1726)))
        XCTAssertEqual(shown.findings[0].fingerprint, report.findings[0].fingerprint)
        XCTAssertEqual(shown.findings[0].token, report.findings[0].token, "the token is redacted when shown, not here")
    }

    func testABaselineHoldsNoTokenFromAPathAndStillMatches() {
        let inName = SyntheticTokens.token(seed: 1728)
        var finding = Finding(ruleID: "mpt-api-token", tokenID: SyntheticTokens.tokenID(seed: 1729), severity: .critical, confidence: .high,
                              path: "\(inName)/x.js", line: 1, column: 1, endColumn: 83, byteOffset: 0, token: SyntheticTokens.token(seed: 1729),
                              secretLength: 64, snippetBefore: "", snippetAfter: "", fingerprint: SHA256.hexDigest(of: Array(SyntheticTokens.token(seed: 1729).utf8)),
                              encoding: .plain)
        let baseline = Baseline(findings: [finding])
        XCTAssertFalse(baseline.serialized().contains(SyntheticTokens.secret(seed: 1728)))
        var findings = [finding]
        XCTAssertEqual(baseline.apply(to: &findings), 1)
        // a baseline written before paths were redacted still matches
        finding.suppression = nil
        var old = Baseline(findings: [])
        old.findings = [Baseline.Entry(ruleID: finding.ruleID, fingerprint: finding.fingerprint, path: finding.path)]
        findings = [finding]
        XCTAssertEqual(old.apply(to: &findings), 1)
    }

    func testTheAuditLogHoldsNoToken() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("audit.jsonl").path
        let token = SyntheticTokens.token(seed: 1730)
        let record = AuditRecord(event: "intent", time: "2026-01-01T00:00:00Z", run: "r", tokenID: "TKN-1111-2222", fingerprint: String(repeating: "0", count: 64),
                                 accountName: "named \(token)", verdict: "live", foundAt: "a.zip!\(token)/x.js:1", operator: "ci", registry: "http://127.0.0.1/public/v1",
                                 detail: "echo \(token)")
        try AuditLog(path: path).append(record)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertFalse(text.contains(SyntheticTokens.secret(seed: 1730)), text)
        XCTAssertTrue(text.contains(Redaction.secrets(in: token)))
        XCTAssertEqual((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int), 0o600)
    }
}
