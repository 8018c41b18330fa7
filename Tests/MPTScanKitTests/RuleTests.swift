import Foundation
import XCTest
@testable import MPTScanKit
import _MPTScanTestSupport

final class RuleTests: XCTestCase {
    /// The generic rule test: every must_match and must_not_match example of every built-in rule, as written
    /// and in every `ExampleMutation`, through the real detector and streaming scanner.
    func testEveryRuleExampleInEveryForm() {
        let problems = RuleValidator(rules: BuiltinRules.all).validate()
        XCTAssertEqual(problems.map(\.description), [])
        XCTAssertGreaterThanOrEqual(BuiltinRules.all.count, 2)
        XCTAssertEqual(Set(BuiltinRules.all.map(\.detector)), [.currentToken, .legacyPair, .platformJWT])
    }

    /// Drift check: the rules compiled into the binary are exactly the bytes of rules/*.json.
    func testEmbeddedRulesMatchRuleFiles() throws {
        let dir = TestPaths.repositoryRoot.appendingPathComponent("rules")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".json") }.sorted()
        let embedded = BuiltinRules.embeddedFiles
        XCTAssertEqual(embedded.map(\.name), names, "rules/ and the embedded rules differ: run scripts/generate-rules")
        for (name, bytes) in embedded {
            let onDisk = try Data(contentsOf: dir.appendingPathComponent(name))
            XCTAssertEqual(Array(onDisk), bytes, "\(name) changed since it was embedded: run scripts/generate-rules")
        }
        XCTAssertEqual(try RuleFiles.load(directory: dir.path), BuiltinRules.all)
    }

    /// The validator can fail: a must_match example that is a placeholder, a must_not_match example that is a
    /// real token, a wrong span, a missing `why` and a duplicate id are each reported.
    func testValidatorReportsBrokenRules() throws {
        var rule = try XCTUnwrap(BuiltinRules.all.first { $0.id == "mpt-api-token" })
        let token = SyntheticTokens.token(seed: 7)
        rule.examples.mustMatch = ["«idt:TKN-1234-5678:your_token_here»", "x = «\(token)» ", "x = \(token)"]
        rule.examples.mustNotMatch = [CounterExample(text: "t = \(SyntheticTokens.token(seed: 8))", why: "")]
        let problems = RuleValidator(rules: [rule]).validate().map(\.message)
        XCTAssertTrue(problems.contains { $0.hasPrefix("must_match example as written: expected [\"1:1-34@0\"], found []") }, "placeholder in must_match")
        XCTAssertTrue(problems.contains { $0.hasPrefix("must_match example marks no span") })
        XCTAssertTrue(problems.contains { $0.hasPrefix("must_not_match example as written was reported at [\"1:5\"]") })
        XCTAssertTrue(problems.contains { $0.hasPrefix("must_not_match example has no 'why'") })
        // the well-formed example passes in every form, so it adds no problem
        XCTAssertFalse(problems.contains { $0.contains(": x = «") })

        var renamed = rule
        renamed.id = "Bad_Id"
        let idProblems = RuleValidator(rules: [renamed, renamed]).validate().map(\.message)
        XCTAssertTrue(idProblems.contains("duplicate rule id"))
        XCTAssertTrue(idProblems.contains { $0.hasPrefix("id must be kebab-case") })
    }

    /// No real secret in the repository: every token the scanner finds in rules/ and fixtures/ carries a secret
    /// made by `SyntheticTokens`.
    func testRuleExamplesAndFixturesUseOnlySyntheticSecrets() {
        var options = ScanOptions()
        let root = TestPaths.repositoryRoot
        options.paths = [root.appendingPathComponent("rules").path, root.appendingPathComponent("fixtures").path]
        // the fuzz corpus: libFuzzer's mutations of synthetic seeds (scripts/make-fuzz-seeds), secrets changed by design
        options.excludes = [try! PathGlob("fuzz-corpus/")]
        let report = TreeScanner(detector: TokenDetector(rules: BuiltinRules.all), options: options).run()
        XCTAssertGreaterThan(report.findings.count, 20)
        for finding in report.findings {
            if finding.claims != nil {
                XCTAssertTrue(SyntheticTokens.isSyntheticJWT(finding.token), "\(finding.path):\(finding.line): JWT signature is not from SyntheticTokens")
                continue
            }
            let secret = String(finding.token.suffix(finding.secretLength))
            XCTAssertTrue(SyntheticTokens.isSynthetic(secret), "\(finding.path):\(finding.line): secret is not from SyntheticTokens")
        }
    }

    func testRuleDecodingErrorsNameTheCodingPath() {
        let json = #"{"id": "x", "name": "n", "description": "d", "remediation": "r", "severity": "extreme"}"#
        XCTAssertThrowsError(try Rule.decode(Data(json.utf8), file: "x.json")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("x.json: "), text)
            XCTAssertTrue(text.contains("severity"), text)
        }
    }

    func testMarkedText() throws {
        let marked = try XCTUnwrap(MarkedText("a\n«bc»d«é»"))
        XCTAssertEqual(marked.bytes, Array("a\nbcdé".utf8))
        XCTAssertEqual(marked.spans, [2..<4, 5..<7])
        XCTAssertEqual(marked.position(ofByte: 5).line, 2)
        XCTAssertEqual(marked.position(ofByte: 5).column, 4)
        XCTAssertNil(MarkedText("«a"))
        XCTAssertNil(MarkedText("«a«b»»"))
    }
}
