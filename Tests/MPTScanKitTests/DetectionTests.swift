import XCTest
@testable import MPTScanKit
import _MPTScanTestSupport

final class DetectionTests: XCTestCase {
    let detector = TokenDetector(rules: BuiltinRules.all)
    var current: SecretQuality { SecretQuality(policy: BuiltinRules.all.first { $0.id == "mpt-api-token" }!.entropy!) }

    func testRandomSecretsPassTheEntropyPolicy() {
        let quality = self.current
        for seed in 0..<3000 {
            let secret = SyntheticTokens.secret(seed: seed)
            XCTAssertNil(quality.placeholderReason(secret), "seed \(seed): \(String(describing: quality.placeholderReason(secret)))")
        }
    }

    func testPlaceholdersFailWithTheirReason() {
        let q = self.current
        XCTAssertEqual(q.placeholderReason(String(repeating: "x", count: 64)), .longRun(64))
        XCTAssertEqual(q.placeholderReason("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab"), .sequence(26))
        XCTAssertEqual(q.placeholderReason(String(repeating: "Ab3dEf6h", count: 8)), .periodic(period: 8))
        XCTAssertEqual(q.placeholderReason(SyntheticTokens.secret(seed: 1).lowercased()), .singleCase)
        XCTAssertEqual(q.placeholderReason("ThisIsAnExampleTokenValue" + SyntheticTokens.secret(seed: 2).prefix(39)), .placeholderWord("example"))
        if case .alphabeticalOrder = q.placeholderReason("Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7cDe0fGh3iJk6lMn9oPq2rSt5uVw8x") {} else {
            XCTFail("alphabetical walk not caught")
        }
        // low entropy without any structural tell: 3 symbols in a varied order
        let low = SyntheticTokens.secret(seed: 1, alphabet: Array("aB9xY2".utf8))
        if case .lowEntropy = q.placeholderReason(low) {} else { XCTFail("low entropy not caught: \(String(describing: q.placeholderReason(low)))") }
    }

    func testEverySeparatorEncoding() {
        let secret = SyntheticTokens.secret(seed: 3)
        let forms: [(String, SeparatorEncoding)] = [
            (":", .plain), ("\\:", .backslashEscape), ("\\u003a", .unicodeEscape), ("\\u003A", .unicodeEscape),
            ("\\\\u003a", .unicodeEscape), ("\\\\\\\\u003a", .unicodeEscape), ("\\x3a", .hexEscape), ("\\x3A", .hexEscape),
            ("%3A", .percent), ("%3a", .percent), ("%253A", .doublePercent), ("&#58;", .htmlEntity), ("&#058;", .htmlEntity),
            ("&#x3a;", .htmlEntity), ("&#X3A;", .htmlEntity), ("&colon;", .htmlEntity),
        ]
        for (sep, encoding) in forms {
            let text = "x=\"idt\(sep)TKN-1234-5678\(sep)\(secret)\""
            let found = self.detector.candidates(in: Array(text.utf8))
            XCTAssertEqual(found.count, 1, sep)
            XCTAssertEqual(found.first?.start, 3, sep)
            XCTAssertEqual(found.first?.end, text.utf8.count - 1, sep)
            XCTAssertEqual(found.first?.canonical, "idt:TKN-1234-5678:\(secret)", sep)
            XCTAssertEqual(found.first?.encoding, encoding, sep)
        }
    }

    func testNoWordBoundaryIsRequired() {
        let secret = SyntheticTokens.secret(seed: 4)
        let text = "\\nidt:TKN-1234-5678:\(secret)TrailingLetters"
        let found = self.detector.candidates(in: Array(text.utf8))
        XCTAssertEqual(found.map(\.start), [2])
        XCTAssertEqual(found.first?.canonical, "idt:TKN-1234-5678:\(secret)")
        XCTAssertEqual(found.first?.end, 2 + 18 + 64)
    }

    func testThreeGroupIdAndFingerprint() throws {
        let secret = SyntheticTokens.secret(seed: 5)
        let token = "idt:TKN-1234-5678-9012:\(secret)"
        let found = try XCTUnwrap(self.detector.candidates(in: Array(token.utf8)).first)
        XCTAssertEqual(found.tokenID, "TKN-1234-5678-9012")
        let encoded = "idt%3ATKN-1234-5678-9012%3A\(secret)"
        let scanner = ContentScanner(detector: self.detector)
        let a = try XCTUnwrap(scanner.scan(bytes: Array(token.utf8), path: "a").findings.first)
        let b = try XCTUnwrap(scanner.scan(bytes: Array(encoded.utf8), path: "b").findings.first)
        XCTAssertEqual(a.fingerprint, SHA256.hexDigest(of: Array(token.utf8)))
        XCTAssertEqual(a.fingerprint, b.fingerprint, "the fingerprint is of the decoded token, however it was written")
    }

    func testMalformedIdsAndShortSecrets() {
        let s = SyntheticTokens.secret(seed: 6)
        for text in ["idt:TKN-123-5678:\(s)", "idt:TKN-1234-567:\(s)", "idt:TKN-12345678:\(s)", "idt:TKN-1234-5678:\(s.prefix(63))",
                     "idt:TKN-1234-5678-9012-3456:\(s)", "idt:TKN-1234-5678 \(s)", "idtTKN-1234-5678:\(s)"] {
            let current = self.detector.candidates(in: Array(text.utf8)).filter { self.detector.rules[$0.ruleIndex].id == "mpt-api-token" }
            XCTAssertEqual(current.count, 0, text)
        }
    }

    func testLegacyPairs() throws {
        let s = SyntheticTokens.secret(seed: 9)
        let legacyIndex = try XCTUnwrap(BuiltinRules.all.firstIndex { $0.id == "mpt-api-token-legacy" })
        let pair = self.detector.candidates(in: Array("TKN-1234-5678:\(s)".utf8))
        XCTAssertEqual(pair.map(\.ruleIndex), [legacyIndex])
        XCTAssertEqual(pair.first?.canonical, "TKN-1234-5678:\(s)")
        let keyed = "MPT_API_TOKEN=\(s)\nMPT_API_TOKEN_ID=TKN-1234-5678\nOTHER_ID=TKN-9999-8888\n"
        let found = self.detector.candidates(in: Array(keyed.utf8))
        // two ids see the same secret; the scanner reports the span once
        XCTAssertEqual(Set(found.map(\.start)), [14])
        let findings = ContentScanner(detector: self.detector).scan(bytes: Array(keyed.utf8), path: "x").findings
        XCTAssertEqual(findings.count, 1)
        XCTAssertEqual(findings.first?.tokenID, "TKN-1234-5678")
        XCTAssertEqual(findings.first?.column, 15)
        // the snippet shows what is in the file: the secret alone, redacted
        XCTAssertEqual(findings.first?.snippet(showSecrets: false), "MPT_API_TOKEN=" + s.prefix(4) + "…")
    }

    /// A line of thousands of bare ids costs linear time (each byte of the key window is examined once) and a
    /// keyed secret among them is reported once (with the first id whose window reaches it).
    func testManyBareIdsOnOneLine() {
        let ids = (0..<5000).map { "TKN-1234-\(String(format: "%04d", $0))" }
        let secret = SyntheticTokens.secret(seed: 70)
        let text = ids[..<2500].joined(separator: ",") + ",MPT_API_TOKEN=\(secret)," + ids[2500...].joined(separator: ",") + "\n"
        let findings = ContentScanner(detector: self.detector, chunkSize: 8192).scan(bytes: Array(text.utf8), path: "ids.csv").findings
        XCTAssertEqual(findings.map(\.ruleID), ["mpt-api-token-legacy"])
        XCTAssertEqual(findings.first?.token.hasSuffix(":\(secret)"), true)
        XCTAssertEqual(findings.first?.column, text.utf8.distance(from: text.startIndex, to: text.range(of: secret)!.lowerBound) + 1)
    }
}
