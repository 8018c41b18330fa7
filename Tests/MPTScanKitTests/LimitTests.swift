import Foundation
import XCTest
@testable import MPTScanKit
import _MPTScanTestSupport

/// Resource bounds (issue 8, item 6): every cap on what is derived from the input has a flag, is reported
/// where it cut, and is counted in the summary; the scan is then incomplete, except for caps that only shorten
/// what is said about a finding. Archive caps are exercised in HostileInputTests.
final class LimitTests: XCTestCase {
    let detector = TokenDetector(rules: BuiltinRules.all)

    func scanner(_ change: (inout ScanLimits) -> Void = { _ in }) -> ContentScanner {
        var limits = ScanLimits()
        change(&limits)
        return ContentScanner(detector: self.detector, limits: limits)
    }

    // MARK: - findings per file

    /// A file of 1,500 token lines keeps the first 1,000 findings (the default) and says how many more there
    /// were; memory grows with the cap, not with the file.
    func testFindingsPerFileAreCappedAndTheRestCounted() {
        let token = SyntheticTokens.token(seed: 1100)
        let text = Array(String(repeating: "k=\(token)\n", count: 1500).utf8)
        let capped = self.scanner().scan(bytes: text, path: "many.env")
        XCTAssertEqual(capped.findings.count, 1000)
        XCTAssertEqual(capped.findings.last?.line, 1000, "the first ones, in order")
        XCTAssertEqual(capped.issues, [ContentIssue("500 more findings past --max-findings-per-file 1000 not reported", limit: .findingsPerFile)])

        let raised = self.scanner { $0.maxFindingsPerFile = 2000 }.scan(bytes: text, path: "many.env")
        XCTAssertEqual(raised.findings.count, 1500)
        XCTAssertTrue(raised.issues.isEmpty)

        // through a tree scan: one issue for the file, counted once, the scan incomplete
        let dir = try! TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try! Data(text).write(to: dir.appendingPathComponent("many.env"))
        var options = ScanOptions()
        options.paths = [dir.path]
        let report = TreeScanner(detector: self.detector, options: options).run()
        XCTAssertEqual(report.findings.count, 1000)
        XCTAssertEqual(report.summary.unreadable.map(\.path), ["many.env"])
        XCTAssertEqual(report.summary.unreadable.map(\.limit), [.findingsPerFile])
        XCTAssertEqual(report.summary.limitsReached.reached.map(\.count), [1])
        XCTAssertTrue(report.summary.isIncomplete(acceptUnreadable: true))
        XCTAssertEqual(MPTScan.exitCode(report, acceptUnreadable: true), .leaks, "leaks take precedence")
    }

    /// In history, the cap applies per blob, and the issue names the blob.
    func testFindingsPerBlobInHistory() throws {
        let repo = try GitRecipe()
        let token = SyntheticTokens.token(seed: 1101)
        try repo.write("many.env", String(repeating: "k=\(token)\n", count: 30))
        try repo.commit("many")
        var options = HistoryOptions()
        options.repository = repo.path
        options.limits.maxFindingsPerFile = 10
        let report = try HistoryScanner(detector: self.detector, options: options).run()
        XCTAssertEqual(report.summary.unreadable.count, 1)
        XCTAssertTrue(report.summary.unreadable[0].path.hasPrefix("blob "), report.summary.unreadable[0].path)
        XCTAssertEqual(report.summary.unreadable[0].limit, .findingsPerFile)
        XCTAssertEqual(report.summary.limitsReached.reached.map(\.limit), [.findingsPerFile])
        XCTAssertEqual(report.summary.limitsReached.limits.maxFindingsPerFile, 10)
    }

    // MARK: - decode depth

    static func base64(_ text: String, times: Int) -> String {
        var out = text
        for _ in 0..<times { out = Data(out.utf8).base64EncodedString() }
        return out
    }

    static func percent(_ text: String, times: Int) -> String {
        var out = text.utf8.map { String(format: "%%%02X", $0) }.joined()
        for _ in 1..<times { out = out.replacingOccurrences(of: "%", with: "%25") }
        return out
    }

    /// Base64 is undone up to three layers (the default `--max-decode-depth`); a prefix under a fourth is
    /// recognised, not decoded, and reported once; a lower limit reports what it leaves encoded.
    func testBase64LayersUpToTheDecodeDepth() {
        let token = SyntheticTokens.token(seed: 1102)
        for times in 1...3 {
            let found = self.scanner().scan(bytes: Array("x = \(Self.base64("key: " + token, times: times))\n".utf8), path: "b.txt")
            XCTAssertEqual(found.findings.map(\.token), [token], "\(times) layers")
            XCTAssertEqual(found.findings.first?.decodings, Array(repeating: "base64", count: times))
            XCTAssertTrue(found.issues.isEmpty)
        }
        let four = self.scanner().scan(bytes: Array("x = \(Self.base64("key: " + token, times: 4))\n".utf8), path: "b.txt")
        XCTAssertEqual(four.findings.count, 0)
        XCTAssertEqual(four.issues.map(\.limit), [.decodeDepth])
        XCTAssertEqual(four.issues.first?.count, 1)
        XCTAssertTrue(four.issues.first?.message.contains("under more than 3 layers") ?? false, "\(four.issues)")

        let twiceAtOne = self.scanner { $0.maxDecodeDepth = 1 }.scan(bytes: Array(Self.base64(token, times: 2).utf8), path: "b.txt")
        XCTAssertEqual(twiceAtOne.findings.count, 0)
        XCTAssertEqual(twiceAtOne.issues.map(\.limit), [.decodeDepth])
        let onceAtZero = self.scanner { $0.maxDecodeDepth = 0 }.scan(bytes: Array(Self.base64(token, times: 1).utf8), path: "b.txt")
        XCTAssertEqual(onceAtZero.findings.count, 0)
        XCTAssertEqual(onceAtZero.issues.map(\.limit), [.decodeDepth])
        XCTAssertEqual(self.scanner { $0.maxDecodeDepth = 0 }.scan(bytes: Array("k=\(token)".utf8), path: "p").findings.count, 1,
                       "a plain token needs no decoding")
    }

    /// The issue names the first encoded prefix left undecoded in the file, whichever anchor found it: two
    /// tokens in Base64 at different alignments, in both orders (the decoders report them anchor by anchor).
    func testTheFirstPrefixOverTheDepthIsTheEarliest() {
        let one = SyntheticTokens.token(seed: 1104), two = SyntheticTokens.token(seed: 1105)
        for (first, second) in [("xx" + one, two), (two, "x" + one), ("x" + one, "xx" + two)] {
            let text = Self.base64(first, times: 1) + "\n" + Self.base64(second, times: 1) + "\n"
            let result = self.scanner { $0.maxDecodeDepth = 0 }.scan(bytes: Array(text.utf8), path: "b.txt")
            XCTAssertEqual(result.issues.first?.count, 2)
            let firstLine = Self.base64(first, times: 1)
            // the prefix's anchor lies within the first line's first quantum or two
            let offset = result.issues.first.flatMap { issue in issue.message.split(separator: " ").last.flatMap { Int($0) } } ?? -1
            XCTAssertTrue(offset >= 0 && offset < min(8, firstLine.count), "\(result.issues.map(\.message))")
        }
    }

    /// Percent-encoding and HTML references escaped again: the same depth applies to each family.
    func testEscapingLevelsUpToTheDecodeDepth() {
        let token = SyntheticTokens.token(seed: 1103)
        for times in 1...3 {
            let found = self.scanner().scan(bytes: Array("u=\(Self.percent(token, times: times))&x=1\n".utf8), path: "u.txt")
            XCTAssertEqual(found.findings.map(\.token), [token], "\(times) levels")
            XCTAssertEqual(found.findings.first?.decodings, Array(repeating: "percent", count: times))
        }
        let four = self.scanner().scan(bytes: Array("u=\(Self.percent(token, times: 4))\n".utf8), path: "u.txt")
        XCTAssertEqual(four.findings.count, 0)
        XCTAssertEqual(four.issues.map(\.limit), [.decodeDepth])

        let html = token.utf8.map { "&amp;amp;#\($0);" }.joined()
        XCTAssertEqual(self.scanner().scan(bytes: Array("<p>\(html)</p>".utf8), path: "h.html").findings.first?.decodings,
                       ["html-entity", "html-entity", "html-entity"])
        let lowered = self.scanner { $0.maxDecodeDepth = 2 }.scan(bytes: Array("<p>\(html)</p>".utf8), path: "h.html")
        XCTAssertEqual(lowered.findings.count, 0)
        XCTAssertEqual(lowered.issues.map(\.limit), [.decodeDepth])
    }

    /// The git fast path (blobs with nothing to find are not copied) still sees a prefix over the depth.
    func testTheInPlaceBlobPathReportsTheDecodeDepth() {
        let token = SyntheticTokens.token(seed: 1104)
        let bytes = Array(Self.base64(token, times: 4).utf8)
        let result = bytes.withUnsafeBufferPointer { self.scanner().scan(buffer: $0, path: { "blob" }) }
        XCTAssertEqual(result.issues.map(\.limit), [.decodeDepth])
    }

    // MARK: - snippets, values, summary lines

    func testSnippetContextIsAnOutputOnlyLimit() {
        let token = SyntheticTokens.token(seed: 1105)
        let line = Array("const aVeryLongVariableName = { key: \"\(token)\" };\n".utf8)
        let short = self.scanner { $0.snippetContext = 5 }.scan(bytes: line, path: "s.js").findings[0]
        XCTAssertEqual(short.snippetBefore, "…ey: \"")
        XCTAssertTrue(short.snippetAfter.hasPrefix("\" };") || short.snippetAfter.hasPrefix("\" }"), short.snippetAfter)
        let none = self.scanner { $0.snippetContext = 0 }.scan(bytes: line, path: "s.js")
        XCTAssertEqual(none.findings[0].snippetBefore, "…")
        XCTAssertTrue(none.issues.isEmpty, "not counted: a cut snippet says so with …")
    }

    func testLimitValuesParseWithUnitsAndRanges() throws {
        XCTAssertEqual(try ScanLimits.parse("256M", for: .archiveSize), 256 << 20)
        XCTAssertEqual(try ScanLimits.parse("2G", for: .archiveBytes), 2 << 30)
        XCTAssertEqual(try ScanLimits.parse("2GiB", for: .archiveBytes), 2 << 30)
        XCTAssertEqual(try ScanLimits.parse("64K", for: .archiveMemberBytes), 64 << 10)
        XCTAssertEqual(try ScanLimits.parse("1000", for: .sourceMapSize), 1000)
        XCTAssertEqual(try ScanLimits.parse("0", for: .archiveDepth), 0)
        XCTAssertEqual(try ScanLimits.parse("3", for: .decodeDepth), 3)
        for (text, limit) in [("4", ScanLimit.decodeDepth), ("-1", .archiveDepth), ("1.5G", .archiveSize), ("0", .findingsPerFile),
                              ("lots", .archiveMembers), ("2P", .archiveSize), ("99999999999999999999", .archiveBytes), ("0", .archiveRatio)] {
            XCTAssertThrowsError(try ScanLimits.parse(text, for: limit), "\(limit.flag) \(text)") { error in
                XCTAssertTrue("\(error)".contains(limit.flag), "\(error)")
            }
        }
        // every limit round-trips through the subscript and has a flag and help
        var limits = ScanLimits()
        for (i, limit) in ScanLimit.allCases.enumerated() {
            limits[limit] = 100 + i
            XCTAssertEqual(limits[limit], 100 + i)
            XCTAssertTrue(MPTScan.limitOptions.contains { $0.long == limit.rawValue })
        }
    }

    func testSummaryLinesNameTheLimitTheValueAndTheFlag() {
        var counts = LimitCounts()
        counts.add(.archiveDepth, count: 2)
        counts.add(.sourceMapSize)
        XCTAssertEqual(counts.lines, [
            "limit --max-archive-depth 3 reached 2 times: archive(s) nested deeper not opened; raise it with --max-archive-depth <n>",
            "limit --max-source-map-size 256 MiB reached once: file(s) with findings over it: original sources not looked up; raise it with --max-source-map-size <size>",
        ])
        XCTAssertTrue(counts.makesScanIncomplete)
        var outputOnly = LimitCounts()
        outputOnly.add(.sourceMapSize)
        XCTAssertFalse(outputOnly.makesScanIncomplete)

        var summary = ScanSummary()
        summary.limitsReached = counts
        summary.unreadable = [ScanIssue(path: "a.zip", message: "archive partly unscanned: …", limit: .archiveDepth)]
        let text = TextReporter(showSecrets: false, color: false).summary(ScanReport(findings: [], summary: summary), seconds: nil,
                                                                          acceptUnreadable: true, quiet: false)
        XCTAssertTrue(text.contains("mptscan: error: a.zip: archive partly unscanned"), "a limit is never a warning: \(text)")
        XCTAssertTrue(text.contains("mptscan: limit --max-archive-depth 3 reached 2 times"))
        XCTAssertTrue(text.contains("mptscan: 1 path left partly unscanned at a limit: the scan is incomplete"))
        let json = JSONReporter(showSecrets: false).render(ScanReport(findings: [], summary: summary))
        XCTAssertTrue(json.contains("\"complete\": false"), json)
        XCTAssertTrue(json.contains("\"limit\": \"max-archive-depth\""), json)
        XCTAssertTrue(json.contains("\"flag\": \"--max-archive-depth\""), json)
    }
}
