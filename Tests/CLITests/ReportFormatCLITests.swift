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
}
