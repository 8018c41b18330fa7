import Foundation
import Testing
import MPTScanKit
import _MPTScanTestSupport

/// `--format` for every report format on the built binary: same bytes on every run and for any `--jobs`, exit 1
/// on the fixture tree's leaks, no secret, and an unknown format is bad usage (64).
@Suite struct ReportFormatCLITests {
    @Test(arguments: ["json", "jsonl", "sarif", "junit", "gitlab", "github"])
    func scanningTwiceGivesTheSameBytes(format: String) throws {
        let epoch = ["SOURCE_DATE_EPOCH": "1700000000"]
        let first = try CLITests.run(["scan", "--format", format, "-q", "-j", "1", CLITests.fixtureTree], environment: epoch)
        let second = try CLITests.run(["scan", "--format", format, "-q", "-j", "4", CLITests.fixtureTree], environment: epoch)
        #expect(first.status == 1)
        #expect(second.status == 1)
        #expect(!first.stdout.isEmpty)
        #expect(first.stdout == second.stdout)
        // the secret of the token in fixtures/tree/.env never appears
        let env = try String(contentsOfFile: CLITests.fixtureTree + "/.env", encoding: .utf8)
        let start = try #require(env.range(of: "idt:TKN-0103-0001:")).upperBound
        let secret = String(env[start...].prefix(64))
        #expect(secret.count == 64)
        #expect(!first.stdout.contains(secret))
    }

    @Test func anUnknownFormatIsBadUsage() throws {
        let run = try CLITests.run(["scan", "--format", "xml", CLITests.fixtureTree])
        #expect(run.status == 64)
        #expect(run.stderr.contains("sarif"))
    }

    /// One scan writes several reports (`--report FORMAT:FILE`, repeatable), each equal to its `--format` output.
    @Test func reportsAreWrittenSideBySide() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let epoch = ["SOURCE_DATE_EPOCH": "1700000000"]
        let sarif = dir.appendingPathComponent("out.sarif").path, junit = dir.appendingPathComponent("out.xml").path
        let r = try CLITests.run(["scan", "-q", CLITests.fixtureTree, "--report", "sarif:\(sarif)", "--report", "junit:\(junit)"], environment: epoch)
        #expect(r.status == 1)
        #expect(r.stdout.contains("── "), "the text report still goes to stdout")
        for (format, path) in [("sarif", sarif), ("junit", junit)] {
            let alone = try CLITests.run(["scan", "-q", CLITests.fixtureTree, "--format", format], environment: epoch)
            #expect(try String(contentsOfFile: path, encoding: .utf8) == alone.stdout, "\(format)")
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o600)
        }
        #expect(try CLITests.run(["scan", CLITests.fixtureTree, "--report", "pdf:x.pdf"]).status == 64)
        // never over a file being scanned, nor two reports into one file
        let scanned = dir.appendingPathComponent("scanned.env")
        try Data("A=1\n".utf8).write(to: scanned)
        let over = try CLITests.run(["scan", scanned.path, "--report", "json:\(scanned.path)"])
        #expect(over.status == 64)
        #expect(try String(contentsOf: scanned, encoding: .utf8) == "A=1\n", "the scanned file is untouched")
        #expect(try CLITests.run(["scan", CLITests.fixtureTree, "-o", sarif, "--report", "json:\(sarif)"]).status == 64)
        #expect(try CLITests.run(["scan", CLITests.fixtureTree, "--report", "sarif"]).status == 64)
    }

    /// In GitHub Actions the text report carries workflow commands that annotate the pull request.
    @Test func githubActionsGetsAnnotations() throws {
        let r = try CLITests.run(["scan", "-q", CLITests.fixtureTree], environment: ["GITHUB_ACTIONS": "true"])
        #expect(r.stdout.contains("fixtures/tree/src/api.ts,line=3,"), "paths as the checkout sees them: \(r.stdout.prefix(400))")
        let plain = try CLITests.run(["scan", "-q", CLITests.fixtureTree], environment: ["GITHUB_ACTIONS": "false"])
        #expect(!plain.stdout.contains("::error"))
    }

    /// JSON lines to standard output are written during the scan; they equal the lines written after it.
    @Test func streamedJSONLinesEqualTheReportWrittenAfterTheScan() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("out.jsonl").path
        let streamed = try CLITests.run(["scan", "-q", "--format", "jsonl", "-j", "4", TestPaths.repositoryRoot.appendingPathComponent("fixtures").path])
        _ = try CLITests.run(["scan", "-q", "--format", "jsonl", "-o", file, TestPaths.repositoryRoot.appendingPathComponent("fixtures").path])
        #expect(streamed.status == 1)
        #expect(streamed.stdout == (try String(contentsOfFile: file, encoding: .utf8)))
        #expect(streamed.stdout.split(separator: "\n").count > 20)
    }

    /// A reader that goes away (`mptscan scan --format jsonl | head -1`) ends the scan quietly: no summary.
    @Test func aClosedPipeEndsStreamedLinesQuietly() throws {
        let r = try CLITests.run(["scan", "--format", "jsonl", TestPaths.repositoryRoot.appendingPathComponent("fixtures").path], closeStdout: true)
        #expect(r.status == 1, "leaks were found before the reader left")
        #expect(!r.stderr.contains("findings"), "\(r.stderr)")
    }
}
