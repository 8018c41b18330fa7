import Foundation
import XCTest
@testable import MPTScanKit
import _MPTScanTestSupport

/// Platform JWTs: found by the claims' domain in the payload, reported with whose they are and when they
/// expire; expired ones at low severity; other JWTs stay quiet.
final class PlatformJWTTests: XCTestCase {
    let scanner = ContentScanner(detector: TokenDetector(rules: BuiltinRules.all))
    static let ns = "https://claims.softwareone.com/"

    func scan(_ text: String) -> [Finding] { self.scanner.scan(bytes: Array(text.utf8), path: "t.env").findings }

    func testUserLoginWithExpiryAndAccount() throws {
        let jwt = SyntheticTokens.jwt(seed: 1301, claims: #"{"\#(Self.ns)userId":"USR-1111-2222","\#(Self.ns)accountId":"ACC-3333-4444","exp":4102444800}"#)
        let found = self.scan("# session\nTOKEN=\(jwt)\n")
        XCTAssertEqual(found.count, 1)
        let f = try XCTUnwrap(found.first)
        XCTAssertEqual(f.ruleID, "mpt-platform-jwt")
        XCTAssertEqual(f.tokenID, "USR-1111-2222")
        XCTAssertEqual(f.severity, .high)
        XCTAssertEqual([f.line, f.column, f.endColumn], [2, 7, 7 + jwt.utf8.count])
        XCTAssertEqual(f.token, jwt)
        XCTAssertEqual(f.fingerprint, SHA256.hexDigest(of: jwt.utf8))
        XCTAssertEqual(f.claims?.kind, .user)
        XCTAssertEqual(f.claims?.accountID, "ACC-3333-4444")
        XCTAssertEqual(f.claims?.expiresAtText, "2100-01-01T00:00:00Z")
        XCTAssertEqual(f.claims?.expired, false)
        // redacted: the start of the header only, never the payload or signature
        XCTAssertEqual(f.redactedToken, String(jwt.prefix(12)) + "…")
    }

    func testExpiredIsLowSeverityAndExtensionKeysAreNamed() throws {
        let expired = SyntheticTokens.jwt(seed: 1302, claims: #"{"\#(Self.ns)userId":"USR-1111-2223","exp":1700000000}"#)
        XCTAssertEqual(self.scan("t=\(expired)").map(\.severity), [.low])
        XCTAssertEqual(self.scan("t=\(expired)").first?.claims?.expired, true)
        let ext = SyntheticTokens.jwt(seed: 1303, claims: #"{"iss":"https://mpt-extensions.softwareone.com","sub":"x"}"#)
        let found = self.scan("key: \(ext)")
        XCTAssertEqual(found.first?.claims?.kind, .extension)
        XCTAssertEqual(found.first?.tokenID, "JWT")
        XCTAssertNil(found.first?.claims?.expiresAt)
    }

    /// The anchor lies at each of the three byte alignments of the payload: padding the claims shifts it.
    func testEveryAlignmentOfTheDomainInThePayload() {
        for pad in 0..<6 {
            let claims = #"{"p":"\#(String(repeating: "x", count: pad))","\#(Self.ns)userId":"USR-1111-2224"}"#
            let jwt = SyntheticTokens.jwt(seed: 1304 + pad, claims: claims)
            XCTAssertEqual(self.scan("Bearer \(jwt)").map(\.tokenID), ["USR-1111-2224"], "pad \(pad)")
        }
    }

    /// Two JWTs in one text, their anchors at every pair of alignments (so found under different pivot bytes of
    /// the anchor search, whose hits come pivot by pivot, not in text order): each is reported once, and a JWT
    /// whose payload holds the domain at two alignments is one finding.
    func testJWTsFoundUnderDifferentPivotsAreEachReportedOnce() {
        func jwt(_ pad: Int, seed: Int, id: String) -> String {
            SyntheticTokens.jwt(seed: seed, claims: #"{"p":"\#(String(repeating: "x", count: pad))","\#(Self.ns)userId":"\#(id)"}"#)
        }
        for first in 0..<3 {
            for second in 0..<3 {
                let text = "a=\(jwt(first, seed: 1330 + first, id: "USR-1111-2231"))\nb=\(jwt(second, seed: 1340 + second, id: "USR-1111-2232"))\n"
                XCTAssertEqual(self.scan(text).map(\.tokenID), ["USR-1111-2231", "USR-1111-2232"], "alignments \(first), \(second)")
            }
        }
        for pad in 0..<3 {
            let twice = SyntheticTokens.jwt(seed: 1350 + pad, claims: #"{"iss":"https://mpt-extensions.softwareone.com","p":"\#(String(repeating: "x", count: pad))","\#(Self.ns)userId":"USR-1111-2233"}"#)
            XCTAssertEqual(self.scan("t=\(twice)").count, 1, "pad \(pad)")
        }
    }

    func testOtherJWTsAndBrokenOnesStayQuiet() {
        let foreign = SyntheticTokens.jwt(seed: 1311, claims: #"{"iss":"https://accounts.example.invalid","email":"a@softwareone.com"}"#)
        XCTAssertEqual(self.scan("t=\(foreign)").count, 0, "the domain in an e-mail is no platform claim")
        let platform = SyntheticTokens.jwt(seed: 1312, claims: #"{"\#(Self.ns)userId":"USR-1111-2225"}"#)
        let parts = platform.split(separator: ".")
        XCTAssertEqual(self.scan("t=\(parts[0]).\(parts[1])").count, 0, "no signature part")
        XCTAssertEqual(self.scan("t=\(parts[1]).\(parts[2])").count, 0, "no header")
        XCTAssertEqual(self.scan("t=e30.\(parts[1]).\(parts[2])").count, 0, "a header too short to be one")
        // JSON output carries the claims
        let json = JSONReporter(showSecrets: false).render(ScanReport(findings: self.scan("t=\(platform)"), summary: ScanSummary()))
        XCTAssertTrue(json.contains("\"jwt\": {"), json)
        XCTAssertTrue(json.contains("\"user_id\": \"USR-1111-2225\""), json)
        XCTAssertFalse(json.contains(String(parts[2].prefix(20))), "no signature in the report")
    }

    /// Found when base64url characters are glued before it (URL-encoded space, a JSON `\n`, a name prefix);
    /// refused with a signature too short to be one; issuers with a trailing slash; absurd `exp` values.
    func testGluedPrefixesShortSignaturesIssuersAndExpiry() {
        let jwt = SyntheticTokens.jwt(seed: 1321, claims: #"{"\#(Self.ns)userId":"USR-1111-2226"}"#)
        for text in ["Authorization: Bearer%20\(jwt)", "q=%22\(jwt)%22", #"{"env": "A=1\n\#(jwt)"}"#, "jwt_\(jwt)"] {
            XCTAssertEqual(self.scan(text).map(\.token), [jwt], text)
        }
        let parts = jwt.split(separator: ".")
        for tail in ["", "!!!", "ab", String(parts[2].prefix(20))] {
            XCTAssertEqual(self.scan("See \(parts[0]).\(parts[1]).\(tail) for details").count, 0, "signature '\(tail)'")
        }
        let slash = SyntheticTokens.jwt(seed: 1322, claims: #"{"iss":"https://mpt-extensions.softwareone.com/","sub":"x"}"#)
        XCTAssertEqual(self.scan("k=\(slash)").first?.claims?.kind, .extension)
        let far = SyntheticTokens.jwt(seed: 1323, claims: #"{"\#(Self.ns)userId":"USR-1111-2227","exp":1e20}"#)
        let found = self.scan("k=\(far)").first
        XCTAssertNil(found?.claims?.expiresAt, "beyond year 9999: no usable date")
        XCTAssertEqual(found?.severity, .high)
    }

    /// Claims are data from the scanned file: ids are shown only in the platform's shape.
    func testCraftedClaimsAreNotPrinted() {
        let jwt = SyntheticTokens.jwt(seed: 1331, claims: #"{"\#(Self.ns)userId":"USR-1\u001b[2J\u001b]0;owned\u0007"}"#)
        let f = self.scan("t=\(jwt)").first
        XCTAssertEqual(f?.tokenID, "JWT")
        XCTAssertNil(f?.claims?.userID)
        let text = TextReporter(showSecrets: false, color: false).render(ScanReport(findings: self.scan("t=\(jwt)"), summary: ScanSummary()), rules: BuiltinRules.all)
        XCTAssertFalse(text.contains("\u{1B}"))
    }
}
