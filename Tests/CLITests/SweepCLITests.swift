import Foundation
import Testing
import MPTScanKit
import _MPTScanTestSupport

/// `mptscan sweep` and `mptscan merge` through the built binary: a directory of clones, exit codes, state,
/// shards merged.
@Suite struct SweepCLITests {
    @Test func sweepADirectoryOfClonesThenMergeShards() throws {
        let dir = try TestPaths.makeTemporaryDirectory("mptscan-sweep-cli")
        defer { try? FileManager.default.removeItem(at: dir) }
        let clones = dir.appendingPathComponent("clones").path
        let leaky = try GitRecipe("leaky"), clean = try GitRecipe("clean")
        try leaky.write("app.env", "TOKEN=\(SyntheticTokens.token(seed: 781))\n")
        try leaky.commit("leak")
        try clean.write("README.md", "hi\n")
        try clean.commit("init")
        try FileManager.default.createDirectory(atPath: clones, withIntermediateDirectories: true)
        try leaky.git("clone", "-q", leaky.path, clones + "/leaky")
        try clean.git("clone", "-q", clean.path, clones + "/clean")
        try FileManager.default.createDirectory(atPath: clones + "/not-a-repo", withIntermediateDirectories: true)
        let state = dir.appendingPathComponent("state").path, out = dir.appendingPathComponent("out.jsonl").path

        let first = try CLITests.run(["sweep", "--repos", clones, "--state", state, "--output", out, "-q"])
        #expect(first.status == 1, "\(first.stderr)")
        let lines = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 3, "clean's summary, leaky's finding and summary (not-a-repo is no repository)")
        #expect(lines[0].hasPrefix("{\"repository\":\"\(clones)/clean\",\"summary\":{\"status\":\"ok\""))
        #expect(lines[1].contains("\"path\":\"app.env\""))
        // the next night: nothing new
        let second = try CLITests.run(["sweep", "--repos", clones, "--state", state, "--output", out])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stderr.contains("0 findings, 0 failed, 2 unchanged"))

        // a list with a path that is no repository: exit 2, never 0
        let list = dir.appendingPathComponent("repos.txt").path
        try Data("# org\n\(clones)/clean\n\(clones)/not-a-repo\n".utf8).write(to: URL(fileURLWithPath: list))
        let failed = try CLITests.run(["sweep", "--repos", list, "-q"])
        #expect(failed.status == 2)
        #expect(failed.stdout.contains("\"status\":\"failed\""))

        // shards merged equal the whole, and merge de-duplicates
        let s0 = dir.appendingPathComponent("s0.jsonl").path, s1 = dir.appendingPathComponent("s1.jsonl").path
        _ = try CLITests.run(["sweep", "--repos", clones, "--shard", "0/2", "-o", s0, "-q"])
        _ = try CLITests.run(["sweep", "--repos", clones, "--shard", "1/2", "-o", s1, "-q"])
        let whole = try CLITests.run(["sweep", "--repos", clones, "-q"])
        let wholeFile = dir.appendingPathComponent("whole.jsonl").path
        try Data(whole.stdout.utf8).write(to: URL(fileURLWithPath: wholeFile))
        let merged = try CLITests.run(["merge", s0, s1, s0])
        #expect(merged.status == 1)
        let mergedWhole = try CLITests.run(["merge", wholeFile])
        #expect(merged.stdout == mergedWhole.stdout)
        #expect(merged.stdout.split(separator: "\n").count == 3)

        // --list: each shard's repositories, together the whole list, nothing scanned
        let listed = try ["0/2", "1/2"].map { try CLITests.run(["sweep", "--repos", clones, "--shard", $0, "--list"]) }
        #expect(listed.allSatisfy { $0.status == 0 })
        #expect(Set(listed.flatMap { $0.stdout.split(separator: "\n").map(String.init) }) == [clones + "/clean", clones + "/leaky"])

        #expect(try CLITests.run(["sweep", "--repos", clones, "--shard", "2/2"]).status == 64)
        #expect(try CLITests.run(["sweep"]).status == 64)
        #expect(try CLITests.run(["merge", dir.appendingPathComponent("missing").path]).status == 2)
        let help = try CLITests.run(["help", "sweep"]), dashes = try CLITests.run(["sweep", "--help"])
        #expect(help.status == 0 && help.stdout == dashes.stdout)
    }
}
