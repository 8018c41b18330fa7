import Foundation
import XCTest
@testable import MPTScanKit
import _MPTScanTestSupport

final class TreeScannerTests: XCTestCase {
    private func run(_ paths: [String], jobs: Int = 2, follow: Bool = false, excludes: [String] = [], parallelWalk: Bool = true,
                     handleDepth: Int? = nil, isCancelled: @escaping @Sendable () -> Bool = { false },
                     stream: (@Sendable ([Finding]) -> Void)? = nil) throws -> ScanReport {
        var options = ScanOptions()
        options.paths = paths
        options.jobs = jobs
        options.followSymlinks = follow
        options.excludes = try excludes.map(PathGlob.init)
        options.parallelWalk = parallelWalk
        options.handleDepth = handleDepth
        return TreeScanner(detector: TokenDetector(rules: BuiltinRules.all), options: options).run(isCancelled: isCancelled, stream: stream)
    }

    /// A seeded tree of `directories` nested directories holding files, some with a token (in the middle of a
    /// file or as its only line), symlinks, FIFOs, `.git` and excluded directories, names that sort in byte order
    /// (upper case, digits, a dash, invalid UTF-8).
    private func makeWideTree(at root: URL, directories: Int, seed: UInt64) throws {
        var rng = seed
        func next(_ bound: Int) -> Int {
            rng = rng &* 6364136223846793005 &+ 1442695040888963407
            return Int((rng >> 33) % UInt64(bound))
        }
        let fm = FileManager.default
        var dirs = [root]
        let names = ["a", "B", "b-", "c.d", "Z9", "0", "m", "\u{E9}t\u{E9}"]
        for i in 0..<directories {
            let parent = dirs[next(dirs.count)]
            let dir = parent.appendingPathComponent("\(names[next(names.count)])\(i)")
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
            dirs.append(dir)
        }
        for (i, dir) in dirs.enumerated() {
            for f in 0..<next(5) {
                let name = "\(names[next(names.count)])\(f).txt"
                let body: String
                switch next(6) {
                case 0: body = "key = \"\(SyntheticTokens.token(seed: (i * 7 + f) % SyntheticTokens.seedBound))\"\n"
                case 1: body = String(repeating: "filler line without secrets\n", count: 20) + "t=\(SyntheticTokens.token(seed: (i * 3 + f) % SyntheticTokens.seedBound))\n"
                default: body = String(repeating: "x", count: next(400)) + "\n"
                }
                try Data(body.utf8).write(to: dir.appendingPathComponent(name))
            }
            switch next(8) {
            case 0: try fm.createSymbolicLink(atPath: dir.appendingPathComponent("link").path, withDestinationPath: "..")
            case 1: XCTAssertEqual(mkfifo(dir.appendingPathComponent("pipe").path, 0o600), 0)
            case 2:
                try fm.createDirectory(at: dir.appendingPathComponent(".git"), withIntermediateDirectories: true)
                try Data("t=\(SyntheticTokens.token(seed: 7))\n".utf8).write(to: dir.appendingPathComponent(".git/config"))
            case 3:
                try fm.createDirectory(at: dir.appendingPathComponent("node_modules"), withIntermediateDirectories: true)
                try Data("t=\(SyntheticTokens.token(seed: 8))\n".utf8).write(to: dir.appendingPathComponent("node_modules/x.js"))
            case 4:
                // a name that is not UTF-8, holding a token
                let path = Array(dir.path.utf8) + [0x2F, 0x62, 0xFF, 0x2E, 0x74, 0x78, 0x74, 0]
                let fd = path.withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_CREAT | O_WRONLY, 0o644) } }
                XCTAssertGreaterThanOrEqual(fd, 0)
                let line = Array("t=\(SyntheticTokens.token(seed: 9))\n".utf8)
                XCTAssertEqual(line.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }, line.count)
                close(fd)
            default: break
            }
        }
    }

    /// The walk on every worker hands results over in exactly the order, and with exactly the content, of the
    /// one-thread walk, for any number of threads, streamed or not.
    func testParallelWalkGivesTheSequentialWalksReport() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try self.makeWideTree(at: dir, directories: 200, seed: 11)
        let sequential = try self.run([dir.path], jobs: 1, excludes: ["node_modules"], parallelWalk: false)
        XCTAssertGreaterThan(sequential.findings.count, 50)
        XCTAssertGreaterThan(sequential.summary.skipped.count, 20)
        let reporter = JSONReporter(showSecrets: false)
        let expected = reporter.render(sequential)
        // kept-open directories to the computed depth, none (everything by path), and a shallow mix
        for (jobs, depth) in [(1, nil), (2, nil), (3, nil), (8, nil), (2, 0), (3, 2)] as [(Int, Int?)] {
            let streamed = Locked<[String]>([])
            let walks = ParallelTreeWalk.runs.withLock { $0 }
            let report = try self.run([dir.path], jobs: jobs, excludes: ["node_modules"], handleDepth: depth, stream: { batch in
                streamed.withLock { $0 += batch.map { "\($0.path):\($0.line)" } }
            })
            XCTAssertGreaterThan(ParallelTreeWalk.runs.withLock { $0 }, walks, "the walk on every worker ran")
            XCTAssertEqual(reporter.render(report), expected, "jobs \(jobs), handle depth \(String(describing: depth))")
            XCTAssertEqual(streamed.withLock { $0 }, report.findings.map { "\($0.path):\($0.line)" }, "streamed in report order, jobs \(jobs)")
        }
    }

    /// Directories listed through a `readdir` stream (Darwin, a libc without `getdents64`) give the same report
    /// as the `getdents64` listing, in both walks.
    func testTheReaddirListingGivesTheSameReportAsGetdents() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try self.makeWideTree(at: dir, directories: 120, seed: 12)
        let reporter = JSONReporter(showSecrets: false)
        let direct = reporter.render(try self.run([dir.path], jobs: 2, excludes: ["node_modules"]))
        DirectoryHandle.useStream = true
        defer { DirectoryHandle.useStream = false }
        XCTAssertEqual(reporter.render(try self.run([dir.path], jobs: 2, excludes: ["node_modules"])), direct)
        XCTAssertEqual(reporter.render(try self.run([dir.path], jobs: 1, excludes: ["node_modules"], parallelWalk: false)), direct)
        XCTAssertTrue(direct.contains("\"findings\""))
    }

    /// Directory entries are read only up to their name's end: copying the declared 256-byte name of the last
    /// record in a full `getdents` buffer read past the buffer (a crash when it ended at an unmapped page; the
    /// AddressSanitizer run of this test sees any such read). Long names of many lengths fill the buffers
    /// with every possible slack at their ends.
    func testLongNamesFillingTheDirectoryBufferAreReadInBounds() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var expected: [String] = []
        for i in 0..<900 {
            let name = String(format: "%05d", i) + String(repeating: "n", count: 150 + (i * 37) % 100)
            expected.append(name)
            try Data((i % 300 == 0 ? "t=\(SyntheticTokens.token(seed: 50 + i / 300))\n" : "x\n").utf8).write(to: dir.appendingPathComponent(name))
        }
        for parallel in [true, false] {
            let report = try self.run([dir.path], jobs: 2, parallelWalk: parallel)
            XCTAssertEqual(report.summary.filesScanned, 900)
            XCTAssertEqual(report.findings.map(\.path), stride(from: 0, to: 900, by: 300).map { expected[$0] })
        }
    }

    /// A directory swapped for a symbolic link after its listing is refused, not followed out of the tree, when
    /// opened relative to its parent or by path; a root given as a link is followed.
    func testADirectorySwappedForALinkIsNotFollowed() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("outside"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("tree"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("tree/zzz").path, withDestinationPath: "../outside")
        let tree = Array((dir.path + "/tree/").utf8)
        let parent = try XCTUnwrap(DirectoryHandle(raw: tree, nameStart: 0, parent: nil, follow: true))
        let swapped = tree + Array("zzz/".utf8)
        XCTAssertNil(DirectoryHandle(raw: swapped, nameStart: tree.count, parent: parent), "relative to its parent")
        XCTAssertNil(DirectoryHandle(raw: swapped, nameStart: 0, parent: nil), "by path")
        XCTAssertNotNil(DirectoryHandle(raw: swapped, nameStart: 0, parent: nil, follow: true), "a root named on the command line")
    }

    /// Paths longer than PATH_MAX: the walk on every worker could open them relative to their directory, but
    /// reports them as opening them by path does, so the report does not depend on `--jobs` or the descriptor
    /// limit.
    func testPathsPastPathMaxAreReportedAlikeForAnyJobs() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer {
            let rm = Process()
            rm.executableURL = URL(fileURLWithPath: "/bin/rm")
            rm.arguments = ["-rf", dir.path]
            try? rm.run()
            rm.waitUntilExit()
        }
        var fd = open(dir.path, O_RDONLY | O_DIRECTORY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        for level in 0..<24 {
            let name = String(format: "%02d", level) + String(repeating: "d", count: 198)
            XCTAssertEqual(mkdirat(fd, name, 0o755), 0)
            let file = openat(fd, "t\(level).txt", O_CREAT | O_WRONLY, 0o644)
            let line = Array("t=\(SyntheticTokens.token(seed: 60 + level))\n".utf8)
            XCTAssertEqual(line.withUnsafeBytes { write(file, $0.baseAddress, $0.count) }, line.count)
            close(file)
            let next = openat(fd, name, O_RDONLY | O_DIRECTORY)
            close(fd)
            fd = next
        }
        close(fd)
        let reporter = JSONReporter(showSecrets: false)
        let reference = try self.run([dir.path], jobs: 1, parallelWalk: false)
        XCTAssertLessThan(reference.findings.count, 24)
        XCTAssertTrue(reference.summary.unreadable.contains { $0.message.contains("too long") }, "\(reference.summary.unreadable)")
        for jobs in [1, 2, 64] {
            XCTAssertEqual(reporter.render(try self.run([dir.path], jobs: jobs)), reporter.render(reference), "jobs \(jobs)")
        }
    }

    /// Cancelled part way, the walk on every worker still reports what it finished, in walk order, and says
    /// it was interrupted.
    func testCancelledParallelWalkReportsWhatItFinishedInOrder() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try self.makeWideTree(at: dir, directories: 150, seed: 12)
        let full = try self.run([dir.path], jobs: 2)
        let polls = Locked(0)
        let partial = try self.run([dir.path], jobs: 2, isCancelled: { polls.withLock { $0 += 1; return $0 > 200 } })
        XCTAssertTrue(partial.summary.interrupted)
        XCTAssertFalse(full.summary.interrupted)
        XCTAssertLessThan(partial.findings.count, full.findings.count)
        XCTAssertGreaterThan(partial.findings.count, 0)
        // a subsequence of the full report, in its order
        var rest = full.findings.map { "\($0.path):\($0.line):\($0.column)" }[...]
        for f in partial.findings.map({ "\($0.path):\($0.line):\($0.column)" }) {
            guard let i = rest.firstIndex(of: f) else { return XCTFail("\(f) out of order or unknown") }
            rest = rest[(i + 1)...]
        }
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
