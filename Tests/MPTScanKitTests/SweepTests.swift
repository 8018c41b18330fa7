import Foundation
import XCTest
@testable import MPTScanKit
import _MPTScanTestSupport

/// `mptscan sweep` and `merge` over repositories built from recipes: records, resume, incremental scans,
/// shards, merging; and the incremental history scan underneath (`HistoryOptions.knownObjects`).
final class SweepTests: XCTestCase {
    let detector = TokenDetector(rules: BuiltinRules.all)
    var temp: URL!

    override func setUpWithError() throws { self.temp = try TestPaths.makeTemporaryDirectory("mptscan-sweep") }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: self.temp) }

    /// A repository whose `keys.env` holds the synthetic token of `seed` (none for nil), and a README.
    func repository(_ name: String, seed: Int?) throws -> GitRecipe {
        let repo = try GitRecipe(name)
        try repo.write("README.md", "\(name)\n")
        try repo.commit("init")
        if let seed {
            try repo.write("keys.env", "# settings\nMPT_TOKEN=\(SyntheticTokens.token(seed: seed))\n")
            try repo.commit("add keys", author: "Leaky \(name)", email: "\(name)@example.test")
        }
        return repo
    }

    /// Runs a sweep; returns the result and the output's lines.
    @discardableResult
    func sweep(_ paths: [String], state: String? = nil, shard: String? = nil, output: String,
               cancelAfter: Int? = nil) throws -> (result: SweepResult, lines: [String]) {
        var options = SweepOptions()
        options.repositories = paths
        options.shard = shard.flatMap(SweepShard.init)
        options.stateDirectory = state
        options.output = output
        options.history.jobs = 2
        options.history.objectsPerJob = 5
        let flag = Flag()
        let result = try Sweep(detector: self.detector, options: options).run(isCancelled: { flag.value }, progress: { line in
            if let n = cancelAfter, line.contains("[\(n)/") { flag.value = true }
        })
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        return (result, text.split(separator: "\n").map(String.init))
    }

    final class Flag: @unchecked Sendable { var value = false }

    func object(_ line: String) throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    func path(_ name: String) -> String { self.temp.appendingPathComponent(name).path }

    func testOneRecordPerFindingThenASummaryPerRepositoryInListOrder() throws {
        let a = try self.repository("alpha", seed: 701), b = try self.repository("beta", seed: nil)
        let c = try self.repository("gamma", seed: 702)
        let broken = self.path("not-a-repo")
        try FileManager.default.createDirectory(atPath: broken, withIntermediateDirectories: true)
        let (result, lines) = try self.sweep([a.path, b.path, broken, c.path], output: self.path("out.jsonl"))
        XCTAssertEqual(result.exitCode, .leaks)
        XCTAssertEqual(lines.count, 6, lines.joined(separator: "\n"))
        let records = try lines.map(self.object)
        XCTAssertEqual(records.map { $0["repository"] as? String }, [a.path, a.path, b.path, broken, c.path, c.path])
        XCTAssertTrue(lines[0].hasPrefix("{\"repository\":"), "the repository comes first")
        XCTAssertEqual(records[0]["path"] as? String, "keys.env")
        XCTAssertEqual(records[0]["rule_id"] as? String, "mpt-api-token")
        XCTAssertEqual(records[0]["fingerprint"] as? String, SHA256.hexDigest(of: Array(SyntheticTokens.token(seed: 701).utf8)))
        XCTAssertEqual((records[0]["git"] as? [String: Any])?["author_name"] as? String, "Leaky alpha")
        XCTAssertFalse(lines.joined().contains(SyntheticTokens.secret(seed: 701)), "secrets are redacted")
        let summaries = records.compactMap { $0["summary"] as? [String: Any] }
        XCTAssertEqual(summaries.map { $0["status"] as? String }, ["ok", "ok", "failed", "ok"])
        XCTAssertEqual(summaries.map { $0["findings"] as? Int }, [1, 0, 0, 1])
        XCTAssertTrue((summaries[2]["message"] as? String)?.contains("not a git repository") == true)
        XCTAssertEqual(summaries[2]["complete"] as? Bool, false)
        // the same JSON finding object as `history --format jsonl`
        var options = HistoryOptions()
        options.repository = a.path
        let report = try HistoryScanner(detector: self.detector, options: options).run()
        XCTAssertEqual(lines[0] + "\n", "{\"repository\":" + JSONValue.string(a.path).serialized() + ","
                       + JSONLinesReporter(options: ReportOptions()).line(for: report.findings[0]).dropFirst())
    }

    func testAFailedRepositoryWithoutFindingsIsExitTwoNeverZero() throws {
        let clean = try self.repository("clean", seed: nil)
        let shallowSource = try self.repository("deep", seed: nil)
        try shallowSource.write("README.md", "more\n")
        try shallowSource.commit("more")
        let shallow = self.path("shallow")
        try clean.git("clone", "-q", "--depth", "1", "file://" + shallowSource.path, shallow)
        let (result, lines) = try self.sweep([clean.path, shallow, self.path("missing")], output: self.path("out.jsonl"))
        XCTAssertEqual(result.exitCode, .incomplete)
        let statuses = try lines.map(self.object).compactMap { ($0["summary"] as? [String: Any])?["status"] as? String }
        XCTAssertEqual(statuses, ["ok", "failed", "failed"])
        XCTAssertTrue(lines[1].contains("shallow clone"))
    }

    func testAnInterruptedSweepIsResumedWithoutRepeatingOrLosingRecords() throws {
        let repos = [try self.repository("r1", seed: 711), try self.repository("r2", seed: 712), try self.repository("r3", seed: nil)]
        let paths = repos.map(\.path)
        let (_, expected) = try self.sweep(paths, output: self.path("full.jsonl"))

        let out = self.path("out.jsonl"), state = self.path("state")
        let first = try self.sweep(paths, state: state, output: out, cancelAfter: 1)
        XCTAssertTrue(first.result.interrupted)
        XCTAssertEqual(first.result.exitCode, .interrupted)
        XCTAssertEqual(first.lines, Array(expected.prefix(2)), "only the first repository's records")
        // a kill in the middle of the next repository's write leaves half a record behind
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: out))
        handle.seekToEndOfFile()
        handle.write(Data("{\"repository\":\"half".utf8))
        handle.closeFile()

        let second = try self.sweep(paths, state: state, output: out)
        XCTAssertFalse(second.result.interrupted)
        XCTAssertEqual(second.result.outcomes.map(\.resumed), [true, false, false], "the first repository is skipped")
        XCTAssertEqual(second.lines, expected, "appended after the first repository, the half record cut off")
        XCTAssertEqual(second.result.exitCode, .leaks, "the findings written before the interruption still count")
        let run = try XCTUnwrap(try SweepState(directory: state).loadRun())
        XCTAssertTrue(run.finished)
    }

    func testAResumedStateSayingOneOfThreeDoneSkipsIt() throws {
        let repos = [try self.repository("s1", seed: 721), try self.repository("s2", seed: nil), try self.repository("s3", seed: 722)]
        let paths = repos.map(\.path)
        let out = self.path("out.jsonl"), state = self.path("state")
        // state as an interrupted run leaves it: run not finished, s1 recorded as done in it, its records written
        let s1 = try self.sweep([paths[0]], output: self.path("s1.jsonl")).lines.joined(separator: "\n") + "\n"
        try Data(s1.utf8).write(to: URL(fileURLWithPath: out))
        var options = SweepOptions()
        options.repositories = paths
        options.output = out
        let sweep = Sweep(detector: self.detector, options: options)
        let identity = SHA256.hexDigest(of: Array(("shard -\noutput \(out)\n" + paths.joined(separator: "\n")).utf8))
        do {
            let st = try SweepState(directory: state)
            defer { st.close() }
            try st.save(SweepState.Run(id: "run-1", identity: identity, finished: false))
            try st.save(SweepState.Repository(path: paths[0], scanKey: sweep.scanKey, tips: [], objects: nil, objectCount: 0, lastRun: "run-1",
                                              outputEnd: s1.utf8.count, status: "ok", failing: 1), objects: nil)
        }
        let (result, lines) = try self.sweep(paths, state: state, output: out)
        XCTAssertEqual(result.outcomes.map(\.resumed), [true, false, false])
        XCTAssertEqual(try lines.map(self.object).map { $0["repository"] as? String }, [paths[0], paths[0], paths[1], paths[2], paths[2]])
        XCTAssertEqual(result.exitCode, .leaks)
    }

    func testAnIncrementalSweepScansOnlyNewBlobsAndReportsOnlyNewTokens() throws {
        let repo = try self.repository("inc", seed: 731)
        let other = try self.repository("other", seed: nil)
        let state = self.path("state")
        let first = try self.sweep([repo.path, other.path], state: state, output: self.path("1.jsonl"))
        XCTAssertEqual(first.result.exitCode, .leaks)
        XCTAssertEqual(first.lines.count, 3)

        // nothing changed: nothing scanned, nothing reported
        let second = try self.sweep([repo.path, other.path], state: state, output: self.path("2.jsonl"))
        XCTAssertEqual(second.result.exitCode, .clean)
        XCTAssertEqual(second.result.outcomes.map(\.status), [.unchanged, .unchanged])
        XCTAssertEqual(second.lines.count, 2)
        XCTAssertTrue(second.lines[0].contains("\"status\":\"unchanged\""))

        // a new commit with a new token: only its blob is read, only the new token reported
        let token = SyntheticTokens.token(seed: 732)
        try repo.write("deploy/new.env", "TOKEN=\(token)\n")
        let added = try repo.commit("add deploy key", author: "New Leaker", email: "new@example.test")
        let third = try self.sweep([repo.path, other.path], state: state, output: self.path("3.jsonl"))
        XCTAssertEqual(third.result.exitCode, .leaks)
        let records = try third.lines.map(self.object)
        XCTAssertEqual(records.count, 3, third.lines.joined(separator: "\n"))
        XCTAssertEqual(records[0]["path"] as? String, "deploy/new.env")
        XCTAssertEqual(records[0]["fingerprint"] as? String, SHA256.hexDigest(of: Array(token.utf8)))
        let git = try XCTUnwrap(records[0]["git"] as? [String: Any])
        XCTAssertEqual(git["commit"] as? String, added)
        XCTAssertEqual(git["author_name"] as? String, "New Leaker")
        let summary = try XCTUnwrap(records[1]["summary"] as? [String: Any])
        XCTAssertEqual(summary["scan"] as? String, "incremental")
        XCTAssertEqual(summary["files_scanned"] as? Int, 1, "only the new blob is read")
        XCTAssertEqual(summary["commits_scanned"] as? Int, 1, "only the new commit's message is scanned")
        XCTAssertEqual(third.result.outcomes.map(\.status), [.ok, .unchanged])

        // an edit next to the old token: a new blob that still holds it, not reported again
        try repo.write("keys.env", "# settings\nMPT_TOKEN=\(SyntheticTokens.token(seed: 731))\nDEBUG=1\n")
        try repo.commit("debug on")
        let fourth = try self.sweep([repo.path], state: state, output: self.path("4.jsonl"))
        XCTAssertEqual(fourth.result.exitCode, .clean, fourth.lines.joined(separator: "\n"))
        XCTAssertEqual(fourth.lines.count, 1)
        XCTAssertTrue(fourth.lines[0].contains("\"files_scanned\":1"))

        // the state holds no secret, and every file is private
        let files = try FileManager.default.subpathsOfDirectory(atPath: state)
        for file in files {
            let full = state + "/" + file
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory)
            let mode = (try FileManager.default.attributesOfItem(atPath: full)[.posixPermissions] as? Int) ?? 0
            XCTAssertEqual(mode, isDirectory.boolValue ? 0o700 : 0o600, file)
            if isDirectory.boolValue { continue }
            let data = try Data(contentsOf: URL(fileURLWithPath: full))
            for seed in [731, 732] { XCTAssertNil(data.range(of: Data(SyntheticTokens.secret(seed: seed).utf8)), file) }
        }
    }

    func testKnownObjectsKeepAttributionOfAFullScan() throws {
        let repo = try GitRecipe()
        try repo.write("a.txt", "one\n")
        try repo.commit("init")
        var options = HistoryOptions()
        options.repository = repo.path
        options.jobs = 1
        let before = HistoryScanner(detector: self.detector, options: options)
        XCTAssertTrue(try before.run().findings.isEmpty)
        let known = Set(before.scannedObjects)
        XCTAssertEqual(known.count, 2, "a blob and a commit")
        // the same token on a branch and later on main: the branch's commit introduced it
        let token = SyntheticTokens.token(seed: 741)
        try repo.git("checkout", "-q", "-b", "topic")
        try repo.write("b.env", "T=\(token)\n")
        let first = try repo.commit("topic key")
        try repo.git("checkout", "-q", "main")
        try repo.git("merge", "-q", "--no-ff", "-m", "merge topic", "topic", environment: repo.dated())
        options.knownObjects = known
        let incremental = HistoryScanner(detector: self.detector, options: options)
        let report = try incremental.run()
        options.knownObjects = []
        let full = try HistoryScanner(detector: self.detector, options: options).run()
        XCTAssertEqual(report.findings, full.findings)
        XCTAssertEqual(report.findings.first?.git?.commit, first)
        XCTAssertEqual(report.summary.filesScanned, 1)
        XCTAssertTrue(Set(incremental.scannedObjects).isSuperset(of: known))
    }

    func testShardsMergedEqualTheUnshardedSweep() throws {
        let repos = try (0..<6).map { try self.repository("m\($0)", seed: $0 % 2 == 0 ? 750 + $0 : nil) }
        let paths = repos.map(\.path)
        let (_, all) = try self.sweep(paths, output: self.path("all.jsonl"))
        let (_, s0) = try self.sweep(paths, shard: "0/2", output: self.path("s0.jsonl"))
        let (_, s1) = try self.sweep(paths, shard: "1/2", output: self.path("s1.jsonl"))
        let shard0 = Set(try s0.map(self.object).compactMap { $0["repository"] as? String })
        let shard1 = Set(try s1.map(self.object).compactMap { $0["repository"] as? String })
        XCTAssertTrue(shard0.isDisjoint(with: shard1))
        XCTAssertEqual(shard0.union(shard1), Set(paths))
        for p in paths { XCTAssertEqual(shard0.contains(p), SweepShard.shard(of: p, count: 2) == 0) }

        func merged(_ files: [String]) throws -> (lines: [String], code: ExitCode) {
            var merge = SweepMerge()
            for f in files { try merge.add(try Data(contentsOf: URL(fileURLWithPath: self.path(f))), name: f) }
            return (merge.lines, merge.exitCode)
        }
        let whole = try merged(["all.jsonl"]), parts = try merged(["s1.jsonl", "s0.jsonl"])
        XCTAssertEqual(parts.lines, whole.lines)
        XCTAssertEqual(Set(whole.lines), Set(all.map { $0 + "\n" }))
        XCTAssertEqual(whole.code, .leaks, all.joined(separator: "\n"))
        // merging outputs again, or twice, adds nothing
        XCTAssertEqual(try merged(["all.jsonl", "s0.jsonl", "s1.jsonl", "all.jsonl"]).lines, whole.lines)
    }

    /// A repository scanned with something left out (here a zip bomb committed to it, over the ratio limit)
    /// exits 2 with no leak, says `"complete": false`, and is not remembered as covered: with the same ref
    /// tips, the next sweep scans it in full again (and says so again) instead of calling it unchanged.
    func testAnIncompleteRepositoryExitsTwoAndIsScannedAgain() throws {
        let repo = try self.repository("bomb", seed: nil)
        try Data(ArchiveBuilder.zip([("zeros.bin", [UInt8](repeating: 0, count: 16 << 20))])).write(to: repo.directory.appendingPathComponent("bomb.zip"))
        try repo.commit("a bomb")
        let state = self.path("state")
        let first = try self.sweep([repo.path], state: state, output: self.path("one.jsonl"))
        XCTAssertEqual(first.result.exitCode, .incomplete)
        XCTAssertEqual(first.result.outcomes.map(\.incomplete), [true])
        let summary = try XCTUnwrap(try self.object(XCTUnwrap(first.lines.last))["summary"] as? [String: Any])
        XCTAssertEqual(summary["status"] as? String, "ok")
        XCTAssertEqual(summary["complete"] as? Bool, false)
        XCTAssertEqual((summary["limits_reached"] as? [[String: Any]])?.first?["limit"] as? String, "max-archive-ratio")

        let second = try self.sweep([repo.path], state: state, output: self.path("two.jsonl"))
        XCTAssertEqual(second.result.exitCode, .incomplete, "still incomplete, never unchanged")
        let again = try XCTUnwrap(try self.object(XCTUnwrap(second.lines.last))["summary"] as? [String: Any])
        XCTAssertEqual(again["scan"] as? String, "full")

        var merge = SweepMerge()
        try merge.add(Data((first.lines.joined(separator: "\n") + "\n").utf8), name: "one.jsonl")
        XCTAssertEqual(merge.exitCode, .incomplete, "merge: a summary that is not complete is never clean")
    }

    func testMergeDeduplicatesOnRepositoryPathRuleAndFingerprint() throws {
        let finding = #"{"repository":"r","rule_id":"mpt-api-token","path":"a.env","line":2,"column":1,"fingerprint":"ff","suppressed":false}"#
        let moved = #"{"repository":"r","rule_id":"mpt-api-token","path":"a.env","line":9,"column":1,"fingerprint":"ff","suppressed":false}"#
        let otherRepo = #"{"repository":"q","rule_id":"mpt-api-token","path":"a.env","line":2,"column":1,"fingerprint":"ff","suppressed":false}"#
        let failed = #"{"repository":"r","summary":{"status":"failed"}}"#
        let ok = #"{"repository":"r","summary":{"status":"ok"}}"#
        var merge = SweepMerge()
        try merge.add(Data((finding + "\n" + failed + "\n").utf8), name: "monday")
        try merge.add(Data((moved + "\n" + otherRepo + "\n\n" + ok + "\n").utf8), name: "tuesday")
        XCTAssertEqual(merge.lines, [otherRepo + "\n", finding + "\n", ok + "\n"])
        XCTAssertEqual(merge.exitCode, .leaks)
        var onlyFailed = SweepMerge()
        try onlyFailed.add(Data(failed.utf8), name: "x")
        XCTAssertEqual(onlyFailed.exitCode, .incomplete)
        XCTAssertThrowsError(try onlyFailed.add(Data("{\"path\":\"x\"}\n".utf8), name: "bad.jsonl")) { error in
            XCTAssertTrue("\(error)".contains("bad.jsonl:1"))
        }
    }

    func testShardSpecAndList() throws {
        XCTAssertEqual(SweepShard("0/4"), SweepShard("0/4"))
        for bad in ["4/4", "-1/2", "1", "a/b", "0/0", "1/2/3"] { XCTAssertNil(SweepShard(bad), bad) }
        let repo = try self.repository("listed", seed: nil)
        let list = self.path("repos.txt")
        try Data("# org repositories\n\n\(repo.path)\n  \(repo.path)  \n/elsewhere\n".utf8).write(to: URL(fileURLWithPath: list))
        XCTAssertEqual(try SweepList.load(list), [repo.path, "/elsewhere"])
        // a directory: its git repositories, sorted
        let dir = self.path("clones")
        for name in ["b", "a", "plain"] { try FileManager.default.createDirectory(atPath: dir + "/" + name, withIntermediateDirectories: true) }
        try repo.git("init", "-q", dir + "/b")
        try repo.git("init", "-q", "--bare", dir + "/a")
        XCTAssertEqual(try SweepList.load(dir), [dir + "/a", dir + "/b"])
    }

    func testObjectsFileRoundTrip() throws {
        let ids = [String(repeating: "ab", count: 20), "0123456789abcdef0123456789abcdef01234567", String(repeating: "f", count: 40)].compactMap(ObjectID.init)
        let bytes = SweepState.encodeObjects(ids)
        XCTAssertEqual(bytes.count, "mptscan-objects 1 20 3\n".utf8.count + 60)
        XCTAssertEqual(try SweepState.decodeObjects(bytes, file: "f"), Set(ids))
        let wide = [String(repeating: "1f", count: 32)].compactMap(ObjectID.init)
        XCTAssertEqual(try SweepState.decodeObjects(SweepState.encodeObjects(wide), file: "f"), Set(wide))
        XCTAssertThrowsError(try SweepState.decodeObjects(Array(bytes.dropLast()), file: "f"))
    }
}
