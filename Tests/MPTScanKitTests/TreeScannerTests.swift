import Foundation
import XCTest
@testable import MPTScanKit
import _MPTScanTestSupport

final class TreeScannerTests: XCTestCase {
    private func run(_ paths: [String], jobs: Int = 2, follow: Bool = false, excludes: [String] = []) throws -> ScanReport {
        var options = ScanOptions()
        options.paths = paths
        options.jobs = jobs
        options.followSymlinks = follow
        options.excludes = try excludes.map(PathGlob.init)
        return TreeScanner(detector: TokenDetector(rules: BuiltinRules.all), options: options).run()
    }

    private struct Expected: Decodable, Equatable {
        var path: String
        var line: Int
        var column: Int
        var rule_id: String
        var suppressed: Bool
    }

    /// fixtures/tree holds tokens planted the ways real leaks were written (and placeholders that must not fire);
    /// every expected finding is reported exactly once at its line and column, and nothing else.
    func testFixtureTreeGivesExactlyTheExpectedFindings() throws {
        let root = TestPaths.repositoryRoot.appendingPathComponent("fixtures")
        let expected = try JSONDecoder().decode([Expected].self, from: Data(contentsOf: root.appendingPathComponent("tree.expected.json")))
        let report = try self.run([root.appendingPathComponent("tree").path])
        let got = report.findings.map { Expected(path: $0.path, line: $0.line, column: $0.column, rule_id: $0.ruleID, suppressed: $0.isSuppressed) }
        XCTAssertEqual(got.sorted { ($0.path, $0.line, $0.column) < ($1.path, $1.line, $1.column) }, expected)
        XCTAssertEqual(report.summary.filesDecoded, 1)
        XCTAssertTrue(report.summary.unreadable.isEmpty)
    }

    private struct ExpectedBundleFinding: Decodable, Equatable {
        struct Original: Decodable, Equatable {
            var source: String
            var line: Int
        }
        var path: String
        var line: Int
        var column: Int
        var rule_id: String
        var decodings: [String]
        var original: Original?
    }

    /// fixtures/bundle (scripts/make-bundle-fixtures) is a built front end and its release artifacts with a token
    /// in every decoding and container: each is reported once, at its physical position, with the decodings and
    /// original source position that led there; the decoys (image data, SRI and lockfile hashes) stay quiet.
    func testBundleFixturesGiveExactlyTheExpectedFindings() throws {
        let root = TestPaths.repositoryRoot.appendingPathComponent("fixtures")
        let expected = try JSONDecoder().decode([ExpectedBundleFinding].self,
                                                from: Data(contentsOf: root.appendingPathComponent("bundle.expected.json")))
        let base = root.appendingPathComponent("bundle").path
        let report = try self.run([base])
        let got = report.findings.map {
            ExpectedBundleFinding(path: $0.path, line: $0.line, column: $0.column, rule_id: $0.ruleID,
                                  decodings: $0.decodings, original: $0.original.map { .init(source: $0.source, line: $0.line) })
        }
        XCTAssertEqual(got.sorted { ($0.path, $0.line, $0.column, $0.rule_id) < ($1.path, $1.line, $1.column, $1.rule_id) }, expected)
        XCTAssertEqual(report.summary.unreadable.map(\.message), [])
        XCTAssertGreaterThanOrEqual(Set(expected.map { $0.decodings.first ?? "" }).count, 5, "plain, base64, percent, html-entity, joined-literals")
    }

    func testOutputIsTheSameWhateverTheNumberOfJobs() throws {
        let root = TestPaths.repositoryRoot.appendingPathComponent("fixtures/tree").path
        let one = JSONReporter(showSecrets: false).render(try self.run([root], jobs: 1))
        let four = JSONReporter(showSecrets: false).render(try self.run([root], jobs: 4))
        XCTAssertEqual(one, four)
        XCTAssertEqual(one, JSONReporter(showSecrets: false).render(try self.run([root], jobs: 4)))
    }

    func testSymlinksFIFOsAndLoops() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fm = FileManager.default
        let token = SyntheticTokens.token(seed: 40)
        try fm.createDirectory(at: dir.appendingPathComponent("a/b"), withIntermediateDirectories: true)
        try Data("t=\(token)\n".utf8).write(to: dir.appendingPathComponent("a/b/real.txt"))
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("a/link.txt").path, withDestinationPath: "b/real.txt")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("a/b/loop").path, withDestinationPath: "..")
        try fm.createSymbolicLink(atPath: dir.appendingPathComponent("dangling").path, withDestinationPath: "nowhere")
        XCTAssertEqual(mkfifo(dir.appendingPathComponent("pipe").path, 0o600), 0)

        let plain = try self.run([dir.path])
        XCTAssertEqual(plain.findings.map(\.path), ["a/b/real.txt"])
        XCTAssertEqual(plain.summary.skipped.map(\.path), ["a/b/loop", "a/link.txt", "dangling", "pipe"])
        XCTAssertEqual(plain.summary.skipped.map(\.reason), [.symlink, .symlink, .symlink, .fifo])
        XCTAssertTrue(plain.summary.unreadable.isEmpty)

        let followed = try self.run([dir.path], follow: true)
        XCTAssertEqual(followed.findings.map(\.path), ["a/b/real.txt"], "each file once, at its first path in walk order")
        XCTAssertEqual(followed.summary.skipped.map(\.reason), [.symlinkLoop, .brokenSymlink, .fifo])
    }

    func testMissingPathIsUnreadableAndSkipsGitAndExcludes() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let token = SyntheticTokens.token(seed: 41)
        for path in [".git/config", "node_modules/x/index.js", "src/a.min.js", "src/keep.ts", "build/out.js"] {
            let url = dir.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data("x=\(token)\n".utf8).write(to: url)
        }
        let report = try self.run([dir.path, dir.appendingPathComponent("missing").path], excludes: ["node_modules", "*.min.js", "/build/**"])
        let prefix = dir.path + "/"
        XCTAssertEqual(report.findings.map { String($0.path.dropFirst(prefix.count)) }, ["src/keep.ts"])
        XCTAssertEqual(report.summary.unreadable.map(\.path), [dir.appendingPathComponent("missing").path])
        XCTAssertTrue(report.summary.unreadable[0].message.contains("No such file or directory"))
    }

    func testPathGlobs() throws {
        let cases: [(String, String, Bool, Bool)] = [
            ("rules/**", "rules/a.json", false, true), ("rules/**", "rules/x/y.json", false, true), ("rules/**", "src/rules/a.json", false, false),
            ("*.min.js", "dist/app.min.js", false, true), ("*.min.js", "app.min.js.map", false, false),
            ("node_modules", "a/node_modules", true, true), ("build/", "build", true, true), ("build/", "build", false, false),
            ("/dist", "dist", true, true), ("/dist", "x/dist", true, false), ("src/**/gen", "src/a/b/gen", true, true),
            ("src/**/gen", "src/gen", true, true), (".build*/**", ".build-release/x", false, true), ("a?c", "abc", false, true),
        ]
        for (pattern, path, isDirectory, expected) in cases {
            XCTAssertEqual(try PathGlob(pattern).matches(path, isDirectory: isDirectory), expected, "\(pattern) vs \(path)")
        }
        XCTAssertThrowsError(try PathGlob(""))
        // many `**` against a deep path: matched in polynomial time (backtracking took minutes)
        let deep = Array(repeating: "d", count: 300).joined(separator: "/")
        XCTAssertFalse(try PathGlob(Array(repeating: "**", count: 12).joined(separator: "/") + "/zz").matches(deep, isDirectory: true))
        XCTAssertTrue(try PathGlob("**/**/d/**/d").matches(deep, isDirectory: true))
    }

    /// With --follow-symlinks a file is reported once, at its first path in walk order, even when that path
    /// is a link sorting before the real file.
    func testFollowedLinkSortingFirstIsTheReportedPath() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("z"), withIntermediateDirectories: true)
        try Data("t=\(SyntheticTokens.token(seed: 42))\n".utf8).write(to: dir.appendingPathComponent("z/real.txt"))
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("a.txt").path, withDestinationPath: "z/real.txt")
        XCTAssertEqual(try self.run([dir.path], follow: true).findings.map(\.path), ["a.txt"])
        XCTAssertEqual(try self.run([dir.path], follow: false).findings.map(\.path), ["z/real.txt"])
    }

    func testTextReportColourOnlyWhenAsked() throws {
        let report = try self.run([TestPaths.repositoryRoot.appendingPathComponent("fixtures/tree").path])
        XCTAssertTrue(TextReporter(showSecrets: false, color: true).render(report, rules: BuiltinRules.all).contains("\u{1B}["))
        XCTAssertFalse(TextReporter(showSecrets: false, color: false).render(report, rules: BuiltinRules.all).contains("\u{1B}["))
    }
}
