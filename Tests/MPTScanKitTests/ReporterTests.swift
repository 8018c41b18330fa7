import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest
@testable import MPTScanKit
import _MPTScanTestSupport

/// Every report format against golden files (Tests/MPTScanKitTests/Golden/report.*), from a fixed set of
/// findings that exercises each kind of data a format must carry; determinism; SARIF structure; JUnit
/// well-formedness; GitHub escaping; and that no format shows a secret unless asked.
///
/// Regenerate the golden files after an intended change with
/// `MPTSCAN_UPDATE_GOLDEN=1 swift test --filter ReporterTests`, then review the diff.
final class ReporterTests: XCTestCase {
    static let goldenDirectory = TestPaths.repositoryRoot.appendingPathComponent("Tests/MPTScanKitTests/Golden")
    static let start = Date(timeIntervalSince1970: 1_700_000_000) // a SOURCE_DATE_EPOCH-style fixed time
    static let end = Date(timeIntervalSince1970: 1_700_000_042)

    /// A finding of `token` (canonical form) with everything else plain; callers set what they test.
    static func finding(_ token: String, rule: String = "mpt-api-token", path: String, line: Int, column: Int,
                        severity: Severity = .critical, secretLength: Int = 64, before: String = "TOKEN = \"", after: String = "\"") -> Finding {
        let id = token.split(separator: ":").dropFirst(token.hasPrefix("idt:") ? 1 : 0).first.map(String.init) ?? "JWT"
        return Finding(ruleID: rule, tokenID: id, severity: severity, confidence: .high, path: path, line: line, column: column,
                       endColumn: column + token.unicodeScalars.count, byteOffset: 100 * line + column - 1, token: token,
                       secretLength: secretLength, snippetBefore: before, snippetAfter: after,
                       fingerprint: SHA256.hexDigest(of: Array(token.utf8)), encoding: .plain, suppression: nil)
    }

    static let jwt = SyntheticTokens.jwt(seed: 1401, claims: #"{"https://claims.softwareone.com/userId":"USR-1111-2222","https://claims.softwareone.com/accountId":"ACC-3333-4444","exp":1600000000}"#)

    /// The fixed report: a live token; a token from git history; a source-map hit with its original position;
    /// a Base64 token in an archive member; a token in a commit message; an expired platform JWT; a disabled
    /// token; an inline-allowed and a baselined one; a path that needs escaping in every format; an unreadable
    /// path and a skipped symlink.
    static func report() -> ScanReport {
        var findings: [Finding] = []

        var live = finding(SyntheticTokens.token(seed: 1), path: "src/api.ts", line: 3, column: 16, before: "const TOKEN = \"", after: "\";")
        var verdict = RegistryVerdict(verdict: .live, source: "registry")
        verdict.status = "Active"
        verdict.accountID = "ACC-1234-5678"
        verdict.accountName = "Example Client"
        verdict.accountType = "Client"
        verdict.tokenName = "CI"
        verdict.lastAccessAt = "2024-05-01T12:00:00Z"
        live.registry = verdict
        findings.append(live)

        var history = finding(SyntheticTokens.token(seed: 2), path: "config/app.env", line: 7, column: 15, before: "MPT_API_TOKEN=", after: "")
        var git = GitProvenance(source: .blob, object: String(repeating: "ab", count: 20))
        git.commit = String(repeating: "c0ffee", count: 6) + "c0ff"
        git.authorName = "Dev Eloper"
        git.authorEmail = "dev@example.com"
        git.authorDate = "2024-05-01T12:00:00+02:00"
        git.commitCount = 3
        git.refCount = 1
        git.exampleRef = "refs/heads/main"
        git.presentAtHead = false
        history.git = git
        history.registry = RegistryVerdict(verdict: .unverified, source: "none")
        findings.append(history)

        var map = finding(SyntheticTokens.token(seed: 3), path: "dist/app.js.map", line: 1, column: 120, before: "export const K = \\\"", after: "\\\";")
        map.original = OriginalLocation(source: "../src/secret config.ts", line: 12, column: 18, via: "sourcesContent[0]")
        map.registry = RegistryVerdict(verdict: .unverified, source: "none")
        findings.append(map)

        var member = finding(SyntheticTokens.token(seed: 4), path: "release/app.zip!dist/main.js", line: 2, column: 9, before: "a=atob(\"", after: "\")")
        member.decodings = ["base64"]
        member.encoding = .percent
        member.registry = RegistryVerdict(verdict: .unverified, source: "none")
        findings.append(member)

        var message = finding(SyntheticTokens.token(seed: 5), path: "(commit c0ffeec0ffee message)", line: 3, column: 1, before: "", after: "")
        var messageGit = GitProvenance(source: .commitMessage, object: String(repeating: "c0ffee", count: 6) + "c0ff")
        messageGit.commit = messageGit.object
        messageGit.authorName = "Dev Eloper"
        messageGit.authorEmail = "dev@example.com"
        messageGit.authorDate = "2024-05-02T09:30:00+00:00"
        messageGit.commitCount = 1
        message.git = messageGit
        message.registry = RegistryVerdict(verdict: .unverified, source: "none")
        findings.append(message)

        var jwt = finding(Self.jwt, rule: "mpt-platform-jwt", path: "notebooks/login.ipynb", line: 40, column: 22, severity: .low,
                          secretLength: Self.jwt.utf8.count - 8, before: "\"Authorization: Bearer ", after: "\\n\"")
        jwt.tokenID = "USR-1111-2222"
        jwt.claims = PlatformClaims(kind: .user, userID: "USR-1111-2222", accountID: "ACC-3333-4444", extensionID: nil,
                                    issuer: nil, expiresAt: 1_600_000_000, expired: true)
        jwt.original = OriginalLocation(source: "cell 2", line: 1, column: 22, via: "cells[1].source")
        jwt.registry = RegistryVerdict(verdict: .unverified, source: "none", detail: "not an API token: the registry does not hold it")
        findings.append(jwt)

        var disabled = finding(SyntheticTokens.token(seed: 6), path: "docs/we<ird> & \"q\",x:y%\u{7}é #1.md", line: 5, column: 3,
                               before: "x: '", after: "' & <y>")
        var dead = RegistryVerdict(verdict: .disabled, source: "registry")
        dead.status = "Disabled"
        dead.accountID = "ACC-1234-5678"
        disabled.registry = dead
        findings.append(disabled)

        var allowed = finding(SyntheticTokens.token(seed: 7), path: "tests/fixture.py", line: 9, column: 12, before: "TOKEN = \"", after: "\"  # mptscan:allow")
        allowed.suppression = .inlineAllow
        findings.append(allowed)

        var baselined = finding(SyntheticTokens.token(seed: 8), path: "legacy/old.env", line: 1, column: 11, before: "API_TOKEN=", after: "")
        baselined.suppression = .baseline
        findings.append(baselined)

        var summary = ScanSummary()
        summary.filesScanned = 9
        summary.bytesScanned = 123_456
        summary.skipped = [SkippedEntry(path: "link.txt", reason: .symlink)]
        summary.unreadable = [ScanIssue(path: "secrets/locked.env", message: "cannot read: Permission denied")]
        return ScanReport(findings: findings, summary: summary)
    }

    static var options: ReportOptions {
        ReportOptions(showSecrets: false, rules: BuiltinRules.all, policy: .any, startTime: start, endTime: end, uriBase: "/work/repo")
    }

    /// The secrets of the fixed findings: the 64-character secrets and the JWT after its first 12 characters.
    static var secrets: [String] {
        self.report().findings.map { f in String(f.token.unicodeScalars.suffix(f.secretLength - Redaction.visibleSecretCharacters)) }
    }

    static let goldenNames: [ReportFormat: String] = [
        .text: "report.txt", .json: "report.json", .jsonl: "report.jsonl", .sarif: "report.sarif",
        .junit: "report.junit.xml", .gitlab: "report.gitlab.json", .github: "report.github.txt",
    ]

    func render(_ format: ReportFormat, _ report: ScanReport = ReporterTests.report(), options: ReportOptions = ReporterTests.options) -> String {
        format.reporter(options).render(report)
    }

    func assertGolden(_ text: String, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let url = Self.goldenDirectory.appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["MPTSCAN_UPDATE_GOLDEN"] == "1" {
            try FileManager.default.createDirectory(at: Self.goldenDirectory, withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
            return
        }
        let golden = try String(contentsOf: url, encoding: .utf8)
        XCTAssertEqual(text, golden, "\(name) differs from its golden file; if intended, rerun with MPTSCAN_UPDATE_GOLDEN=1 and review the diff",
                       file: file, line: line)
    }

    // MARK: - golden files and determinism

    func testEveryFormatMatchesItsGoldenFile() throws {
        for format in ReportFormat.allCases {
            try self.assertGolden(self.render(format), try XCTUnwrap(Self.goldenNames[format]))
        }
        // an empty report, where the shape differs most
        let empty = ScanReport(findings: [], summary: ScanSummary())
        try self.assertGolden(self.render(.sarif, empty), "empty.sarif")
        try self.assertGolden(self.render(.junit, empty), "empty.junit.xml")
        try self.assertGolden(self.render(.gitlab, empty), "empty.gitlab.json")
    }

    func testRenderingTwiceGivesTheSameBytesAndStreamedPiecesEqualTheWhole() {
        for format in ReportFormat.allCases {
            let reporter = format.reporter(Self.options)
            let first = reporter.render(Self.report())
            XCTAssertEqual(first, format.reporter(Self.options).render(Self.report()), "\(format)")
            var pieces: [String] = []
            reporter.write(Self.report()) { pieces.append($0) }
            XCTAssertEqual(pieces.joined(), first, "\(format)")
        }
    }

    // MARK: - secrets

    func testNoFormatShowsASecretUnlessAsked() {
        for format in ReportFormat.allCases {
            let text = self.render(format)
            for secret in Self.secrets {
                XCTAssertFalse(text.contains(secret), "\(format) shows a secret")
            }
        }
        var shown = Self.options
        shown.showSecrets = true
        for format in [ReportFormat.json, .jsonl, .sarif, .junit, .gitlab, .github] {
            XCTAssertTrue(self.render(format, options: shown).contains(Self.secrets[0]), "\(format) with showSecrets")
        }
    }

    // MARK: - text

    /// Two files whose names differ only in Unicode normalisation (`café` precomposed and decomposed, in one
    /// directory) get a header each in the text report: grouping by `String` (canonical equality) gave them one
    /// header counting both.
    func testTextGroupsByThePathsBytes() {
        let composed = "caf\u{E9}.env", decomposed = "cafe\u{301}.env"
        let findings = [Self.finding(SyntheticTokens.token(seed: 1402), path: composed, line: 1, column: 1),
                        Self.finding(SyntheticTokens.token(seed: 1403), path: decomposed, line: 1, column: 1)]
        let text = TextReporter(showSecrets: false, color: false).render(ScanReport(findings: findings, summary: ScanSummary()), rules: BuiltinRules.all)
        let headers = text.split(separator: "\n").filter { $0.hasPrefix("── ") }.map { Array($0.utf8) }
        XCTAssertEqual(headers, [Array("── \(composed) (1 finding)".utf8), Array("── \(decomposed) (1 finding)".utf8)])
    }

    // MARK: - SARIF

    func testSARIFStructure() throws {
        let log = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(self.render(.sarif).utf8)) as? [String: Any])
        XCTAssertEqual(log["version"] as? String, "2.1.0")
        let runs = try XCTUnwrap(log["runs"] as? [[String: Any]])
        XCTAssertEqual(runs.count, 1)
        let run = runs[0]
        XCTAssertEqual(run["columnKind"] as? String, "unicodeCodePoints")
        let base = (run["originalUriBaseIds"] as? [String: Any])?["%SRCROOT%"] as? [String: Any]
        XCTAssertEqual(base?["uri"] as? String, "file:///work/repo/")
        let driver = try XCTUnwrap((run["tool"] as? [String: Any])?["driver"] as? [String: Any])
        XCTAssertEqual(driver["name"] as? String, "mptscan")
        let rules = try XCTUnwrap(driver["rules"] as? [[String: Any]])
        let ids = rules.compactMap { $0["id"] as? String }
        XCTAssertEqual(ids, BuiltinRules.all.map(\.id))
        XCTAssertEqual(Set(ids).count, ids.count, "rule ids are unique")
        for rule in rules {
            let properties = try XCTUnwrap(rule["properties"] as? [String: Any])
            XCTAssertNotNil(Double(try XCTUnwrap(properties["security-severity"] as? String)))
            XCTAssertTrue((properties["tags"] as? [String])?.contains("secret") == true)
            XCTAssertNotNil((rule["help"] as? [String: Any])?["markdown"])
        }
        let results = try XCTUnwrap(run["results"] as? [[String: Any]])
        XCTAssertEqual(results.count, Self.report().findings.count)
        for (result, finding) in zip(results, Self.report().findings) {
            let index = try XCTUnwrap(result["ruleIndex"] as? Int)
            XCTAssertEqual(ids[index], result["ruleId"] as? String, "ruleIndex names the result's rule")
            XCTAssertEqual(result["ruleId"] as? String, finding.ruleID)
            let fingerprints = result["partialFingerprints"] as? [String: String]
            XCTAssertEqual(fingerprints?["mptscanFingerprint/v1"], finding.fingerprint)
            let location = try XCTUnwrap(((result["locations"] as? [[String: Any]])?.first?["physicalLocation"]) as? [String: Any])
            let artifact = try XCTUnwrap(location["artifactLocation"] as? [String: Any])
            let uri = try XCTUnwrap(artifact["uri"] as? String)
            XCTAssertEqual(artifact["uriBaseId"] as? String, "%SRCROOT%")
            XCTAssertNil(uri.rangeOfCharacter(from: CharacterSet(charactersIn: " \"<>#?:\u{7}")), uri)
            XCTAssertEqual(uri.removingPercentEncoding, finding.path, "the URI decodes to the path")
            let region = try XCTUnwrap(location["region"] as? [String: Any])
            XCTAssertEqual(region["startLine"] as? Int, finding.line)
            XCTAssertEqual(region["startColumn"] as? Int, finding.column)
            XCTAssertEqual(region["endColumn"] as? Int, finding.endColumn)
            let suppressions = result["suppressions"] as? [[String: Any]]
            switch finding.suppression {
            case .inlineAllow?: XCTAssertEqual(suppressions?.first?["kind"] as? String, "inSource")
            case .baseline?: XCTAssertEqual(suppressions?.first?["kind"] as? String, "external")
            default: XCTAssertNil(suppressions)
            }
            XCTAssertEqual(result["relatedLocations"] != nil, finding.original != nil)
        }
        XCTAssertEqual(results.map { $0["level"] as? String }, ["error", "error", "error", "error", "error", "note", "error", "error", "error"])
        // the source-map original, resolved against the map's directory and percent-encoded
        let related = try XCTUnwrap((results[2]["relatedLocations"] as? [[String: Any]])?.first?["physicalLocation"] as? [String: Any])
        XCTAssertEqual((related["artifactLocation"] as? [String: Any])?["uri"] as? String, "src/secret%20config.ts")
        XCTAssertEqual(results[3]["properties"].flatMap { ($0 as? [String: Any])?["decodings"] as? [String] }, ["base64"])
        let invocation = try XCTUnwrap((run["invocations"] as? [[String: Any]])?.first)
        XCTAssertEqual(invocation["executionSuccessful"] as? Bool, false, "an unreadable path fails the execution")
        XCTAssertEqual((invocation["toolExecutionNotifications"] as? [Any])?.count, 1)
        XCTAssertEqual(invocation["startTimeUtc"] as? String, "2023-11-14T22:13:20Z")
    }

    func testSARIFDescribesARuleNoOptionHolds() throws {
        var report = Self.report()
        report.findings[0].ruleID = "custom-rule"
        let log = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(self.render(.sarif, report).utf8)) as? [String: Any])
        let run = try XCTUnwrap((log["runs"] as? [[String: Any]])?.first)
        let rules = try XCTUnwrap(((run["tool"] as? [String: Any])?["driver"] as? [String: Any])?["rules"] as? [[String: Any]])
        let result = try XCTUnwrap((run["results"] as? [[String: Any]])?.first)
        XCTAssertEqual(rules[try XCTUnwrap(result["ruleIndex"] as? Int)]["id"] as? String, "custom-rule")
    }

    func testSARIFURIs() {
        XCTAssertEqual(SARIFReporter.percentEncode("a.zip!b/c d.js"), "a.zip!b/c%20d.js")
        XCTAssertEqual(SARIFReporter.percentEncode("x:y%z#?é"), "x%3Ay%25z%23%3F%C3%A9")
        XCTAssertEqual(SARIFReporter.percentEncode("(commit 0123456789ab message)"), "(commit%200123456789ab%20message)")
        XCTAssertEqual(SARIFReporter.resolve("../src/a.ts", relativeTo: "dist/js/app.js.map"), "dist/src/a.ts")
        XCTAssertEqual(SARIFReporter.resolve("../../../x.ts", relativeTo: "dist/app.js.map"), "../../x.ts")
        XCTAssertEqual(SARIFReporter.resolve("./a.ts", relativeTo: "r.zip!m/app.js.map"), "r.zip!m/a.ts")
        XCTAssertEqual(SARIFReporter.directoryURI("/work/my repo"), "file:///work/my%20repo/")
        XCTAssertTrue(SARIFReporter.hasScheme("webpack://app/./src/a.ts"))
        XCTAssertFalse(SARIFReporter.hasScheme("src/a:b.ts"))
    }

    // MARK: - JUnit

    func testJUnitIsWellFormedXMLWithOneCasePerFinding() throws {
        let text = self.render(.junit)
        let parsed = try JUnitSummary.parse(text)
        XCTAssertEqual(parsed.suites, 1)
        // 7 open findings that fail `any`, 2 skipped, 1 error for the unreadable path
        XCTAssertEqual(parsed.failures, 7)
        XCTAssertEqual(parsed.skipped, 2)
        XCTAssertEqual(parsed.errors, 1)
        XCTAssertEqual(parsed.testcases.count, 10)
        XCTAssertEqual(parsed.attributes["tests"], "10")
        // attribute values survive escaping, control character replaced
        XCTAssertTrue(parsed.testcases.contains("docs/we<ird> & \"q\",x:y%\u{FFFD}é #1.md"), "\(parsed.testcases)")
    }

    func testJUnitPassesWhenThereIsNoFindingAndFollowsThePolicy() throws {
        let empty = try JUnitSummary.parse(self.render(.junit, ScanReport(findings: [], summary: ScanSummary())))
        XCTAssertEqual([empty.testcases.count, empty.failures, empty.errors, empty.skipped], [1, 0, 0, 0])
        var live = Self.options
        live.policy = .live
        live.acceptUnreadable = true
        let onlyLive = try JUnitSummary.parse(self.render(.junit, options: live))
        XCTAssertEqual([onlyLive.testcases.count, onlyLive.failures, onlyLive.errors, onlyLive.skipped], [9, 1, 0, 2])
    }

    func testXMLEscaping() {
        XCTAssertEqual(JUnitReporter.escape("a<b>&\"'\u{1}\u{FFFE}\t\n\r"), "a&lt;b&gt;&amp;&quot;&apos;\u{FFFD}\u{FFFD}\t\n&#13;")
        XCTAssertEqual(JUnitReporter.escape("\t\n", attribute: true), "&#9;&#10;")
    }

    // MARK: - GitLab

    func testGitLabReport() throws {
        let report = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(self.render(.gitlab).utf8)) as? [String: Any])
        XCTAssertEqual(report["version"] as? String, GitLabReporter.schemaVersion)
        let scan = try XCTUnwrap(report["scan"] as? [String: Any])
        XCTAssertEqual(scan["type"] as? String, "secret_detection")
        XCTAssertEqual(scan["start_time"] as? String, "2023-11-14T22:13:20")
        XCTAssertEqual(scan["end_time"] as? String, "2023-11-14T22:14:02")
        XCTAssertEqual(scan["status"] as? String, "failure", "an unreadable path fails the scan")
        for key in ["analyzer", "scanner"] {
            let component = try XCTUnwrap(scan[key] as? [String: Any])
            XCTAssertNotNil(component["id"] as? String)
            XCTAssertNotNil(component["version"] as? String)
            XCTAssertNotNil((component["vendor"] as? [String: Any])?["name"] as? String)
        }
        let vulnerabilities = try XCTUnwrap(report["vulnerabilities"] as? [[String: Any]])
        XCTAssertEqual(vulnerabilities.count, 7, "suppressed findings are left out")
        let ids = vulnerabilities.compactMap { $0["id"] as? String }
        XCTAssertEqual(Set(ids).count, 7)
        for id in ids { XCTAssertNotNil(id.range(of: "^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", options: .regularExpression), id) }
        XCTAssertEqual(vulnerabilities.compactMap { $0["severity"] as? String }, ["Critical", "Critical", "Critical", "Critical", "Critical", "Info", "Critical"])
        let shas = vulnerabilities.compactMap { (($0["location"] as? [String: Any])?["commit"] as? [String: Any])?["sha"] as? String }
        XCTAssertEqual(shas[0], "0000000")
        XCTAssertEqual(shas[1], String(repeating: "c0ffee", count: 6) + "c0ff")
    }

    // MARK: - GitHub

    func testGitHubWorkflowCommands() {
        XCTAssertEqual(GitHubAnnotationsReporter.escapeData("50% done\r\nnext: a,b"), "50%25 done%0D%0Anext: a,b")
        XCTAssertEqual(GitHubAnnotationsReporter.escapeProperty("a:b,c%d\n"), "a%3Ab%2Cc%25d%0A")
        let lines = self.render(.github).split(separator: "\n")
        XCTAssertEqual(lines.count, 8, "7 failing findings and the unreadable path")
        XCTAssertEqual(lines.filter { $0.hasPrefix("::warning ") }.count, 1, "the expired JWT")
        XCTAssertTrue(lines[0].hasPrefix("::error file=src/api.ts,line=3,col=16,endColumn=97,title="), String(lines[0]))
        var live = Self.options
        live.policy = .live
        XCTAssertEqual(self.render(.github, options: live).split(separator: "\n").count, 2)
    }

    // MARK: - JSON Lines

    func testJSONLinesHasOneFindingPerLineThenTheSummary() throws {
        let lines = self.render(.jsonl).split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.last, "")
        let objects = try lines.dropLast().map { try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        XCTAssertEqual(objects.count, Self.report().findings.count + 1)
        XCTAssertEqual(objects.dropLast().compactMap { $0["fingerprint"] as? String }, Self.report().findings.map(\.fingerprint))
        XCTAssertNotNil(objects.last?["summary"] as? [String: Any])
        let reporter = JSONLinesReporter(options: Self.options)
        XCTAssertEqual(Self.report().findings.map(reporter.line(for:)).joined() + reporter.summaryLine(Self.report()), self.render(.jsonl))
    }
}

/// What a JUnit document holds, read back with Foundation's `XMLParser` (which fails on malformed XML).
struct JUnitSummary {
    var suites = 0
    var testcases: [String] = []
    var failures = 0
    var errors = 0
    var skipped = 0
    /// Attributes of the `<testsuite>`.
    var attributes: [String: String] = [:]

    struct ParseError: Error { var message: String }

    static func parse(_ text: String) throws -> JUnitSummary {
        let parser = XMLParser(data: Data(text.utf8))
        let delegate = Delegate()
        parser.delegate = delegate
        guard parser.parse() else {
            throw ParseError(message: "not well-formed: \(parser.parserError.map { "\($0)" } ?? "?") at line \(parser.lineNumber)")
        }
        return delegate.summary
    }

    final class Delegate: NSObject, XMLParserDelegate {
        var summary = JUnitSummary()

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String] = [:]) {
            switch name {
            case "testsuite": self.summary.suites += 1; self.summary.attributes = attributes
            case "testcase": self.summary.testcases.append(attributes["classname"] ?? "")
            case "failure": self.summary.failures += 1
            case "error": self.summary.errors += 1
            case "skipped": self.summary.skipped += 1
            default: break
            }
        }
    }
}
