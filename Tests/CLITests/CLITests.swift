import Foundation
import Testing
import MPTScanKit
import _MPTScanTestSupport

/// End-to-end tests of the built `mptscan` binary: help, exit codes, formats, redaction, stdin, files, pipes.
@Suite struct CLITests {
    typealias Run = TestProcess.Result

    /// The `mptscan` executable built beside the test bundle.
    static let binary: URL = {
        if let explicit = ProcessInfo.processInfo.environment["MPTSCAN_BIN"] { return URL(fileURLWithPath: explicit) }
        var candidates = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()]
        candidates += Bundle.allBundles.map { $0.bundleURL.deletingLastPathComponent() }
        for dir in candidates {
            let url = dir.appendingPathComponent("mptscan")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return TestPaths.repositoryRoot.appendingPathComponent(".build/debug/mptscan")
    }()

    static let fixtureTree = TestPaths.repositoryRoot.appendingPathComponent("fixtures/tree").path

    /// What fixtures/tree.expected.json says the fixture tree holds: (findings, suppressed, files).
    static func expectedCounts() throws -> (findings: Int, suppressed: Int, files: Int) {
        let data = try Data(contentsOf: TestPaths.repositoryRoot.appendingPathComponent("fixtures/tree.expected.json"))
        let entries = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        let files = try #require(FileManager.default.enumerator(atPath: Self.fixtureTree)?.allObjects.compactMap { $0 as? String }
            .filter { path in
                var isDirectory: ObjCBool = false
                return FileManager.default.fileExists(atPath: Self.fixtureTree + "/" + path, isDirectory: &isDirectory) && !isDirectory.boolValue
            })
        let suppressed = entries.filter { $0["suppressed"] as? Bool == true }.count
        return (entries.count - suppressed, suppressed, files.count)
    }

    @discardableResult
    static func run(_ args: [String], stdin: Data? = nil, environment: [String: String] = [:], closeStdout: Bool = false) throws -> Run {
        var env = ProcessInfo.processInfo.environment
        env["NO_COLOR"] = nil
        for (k, v) in environment { env[k] = v }
        return try TestProcess.run(self.binary, args, environment: env, input: stdin, closeStdout: closeStdout)
    }

    @Test func helpIsTheSameForAllThreeSpellingsAndMatchesTheGoldenFile() throws {
        let dash = try Self.run(["scan", "-h"]), long = try Self.run(["scan", "--help"]), word = try Self.run(["help", "scan"])
        #expect(dash.status == 0 && long.status == 0 && word.status == 0)
        #expect(dash.stdout == long.stdout && long.stdout == word.stdout)
        let golden = try String(contentsOf: TestPaths.repositoryRoot.appendingPathComponent("Tests/CLITests/Golden/scan-help.txt"), encoding: .utf8)
        #expect(long.stdout == golden)
        let root = try Self.run(["--help"])
        for section in ["OVERVIEW:", "USAGE:", "OPTIONS:", "SUBCOMMANDS:"] { #expect(root.stdout.contains(section)) }
        #expect(try Self.run(["help"]).stdout == root.stdout)
        #expect(try Self.run(["-h"]).stdout == root.stdout)
        // no subcommand at all is bad usage: help on stderr, exit 64 (a CI step missing it must not pass)
        let bare = try Self.run([])
        #expect(bare.status == 64)
        #expect(bare.stderr == root.stdout)
    }

    @Test func versionPrintsTheVersion() throws {
        let r = try Self.run(["--version"])
        #expect(r.status == 0)
        #expect(r.stdout == MPTScan.version + "\n")
    }

    @Test(arguments: [["scan", "--bogus"], ["scan", "--format", "xml", "."], ["scan", "--jobs", "0"], ["scan", "--jobs"], ["frobnicate"],
                      ["scan", "--exclude", ""], ["rules", "list", "--format", "csv"], ["scan", "--show-secrets=yes"]])
    func badUsageExits64(args: [String]) throws {
        let r = try Self.run(args)
        #expect(r.status == 64)
        #expect(r.stderr.hasPrefix("mptscan: error: "), "one prefix for every error, usage or not")
        #expect(r.stdout.isEmpty)
    }

    /// A short option's value may be attached (`-j1`, as getopt reads it); a short flag may not take one.
    @Test func aShortOptionTakesAnAttachedValue() throws {
        let attached = try Self.run(["scan", "-j1", "--format", "json", Self.fixtureTree])
        let separate = try Self.run(["scan", "-j", "1", "--format", "json", Self.fixtureTree])
        #expect(attached.status == 1 && separate.status == 1, "\(attached.stderr)")
        func findings(_ json: String) -> String {
            let report = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
            guard let list = report?["findings"] as? [Any], let data = try? JSONSerialization.data(withJSONObject: list, options: [.sortedKeys]) else { return "none" }
            return String(decoding: data, as: UTF8.self)
        }
        #expect(findings(attached.stdout) != "none")
        #expect(findings(attached.stdout) == findings(separate.stdout))
        let flag = try Self.run(["scan", "-qx", Self.fixtureTree])
        #expect(flag.status == 64, "a flag takes no attached value")
        #expect(flag.stderr.contains("Unknown option '-qx'"), "\(flag.stderr)")
    }

    @Test func leaksExit1WithFileLineAndColumnAndNoSecretInOutput() throws {
        let r = try Self.run(["scan", Self.fixtureTree])
        #expect(r.status == 1)
        #expect(r.stdout.contains("src/api.ts:3:16: critical: SoftwareOne Marketplace API token TKN-0100-0001 [mpt-api-token]"))
        let expected = try Self.expectedCounts()
        #expect(r.stderr.contains("\(expected.findings) findings of "))
        #expect(r.stderr.contains("plus \(expected.suppressed) allowed by mptscan:allow; \(expected.files) files"))
        #expect(r.stderr.contains("mptscan:allow"))
        let secret = SyntheticTokens.secret(seed: 100)
        #expect(!r.stdout.contains(String(secret.prefix(8))), "secrets are redacted by default")
        #expect(!r.stderr.contains(String(secret.prefix(8))))
        let shown = try Self.run(["scan", "--show-secrets", Self.fixtureTree])
        #expect(shown.stdout.contains("idt:TKN-0100-0001:" + secret))
    }

    @Test func jsonReportIsVersionedDeterministicAndIndependentOfJobs() throws {
        let a = try Self.run(["scan", "--format", "json", "--jobs", "1", Self.fixtureTree])
        let b = try Self.run(["scan", "--format", "json", "--jobs", "3", Self.fixtureTree])
        #expect(a.status == 1)
        #expect(a.stdout == b.stdout)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(a.stdout.utf8)) as? [String: Any])
        #expect(object["schema_version"] as? Int == 1)
        let findings = try #require(object["findings"] as? [[String: Any]])
        let expected = try Self.expectedCounts()
        #expect(findings.count == expected.findings + expected.suppressed)
        #expect(findings.filter { $0["suppressed"] as? Bool == true }.count == expected.suppressed)
        let first = try #require(findings.first)
        for key in ["rule_id", "token_id", "severity", "path", "line", "column", "token", "snippet", "fingerprint"] { #expect(first[key] != nil, "\(key)") }
        #expect(!a.stdout.contains(SyntheticTokens.secret(seed: 100)))
    }

    @Test func cleanTreeExits0AndPrintsNoFinding() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("MPT_API_TOKEN=idt:TKN-XXXX-XXXX:your_token_here\n".utf8).write(to: dir.appendingPathComponent("README.md"))
        let r = try Self.run(["scan", dir.path])
        #expect(r.status == 0)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.contains("0 findings; 1 file"))
    }

    @Test func missingPathExits2UnlessSkipped_andLeaksTakePrecedence() throws {
        let missing = try Self.run(["scan", "/nonexistent/mptscan-test"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("/nonexistent/mptscan-test: cannot read: No such file or directory"))
        #expect(missing.stderr.contains("incomplete"))
        let skipped = try Self.run(["scan", "--skip-unreadable", "/nonexistent/mptscan-test"])
        #expect(skipped.status == 0)
        #expect(skipped.stderr.contains("warning:"))
        let both = try Self.run(["scan", Self.fixtureTree, "/nonexistent/mptscan-test"])
        #expect(both.status == 1)
        #expect(both.stderr.contains("incomplete"))
    }

    @Test func standardInputIsScannedAsDash() throws {
        let token = SyntheticTokens.token(seed: 50)
        let r = try Self.run(["scan", "--format", "json", "-"], stdin: Data("line one\nkey=\(token)\n".utf8))
        #expect(r.status == 1)
        #expect(r.stdout.contains("\"path\": \"-\""))
        #expect(r.stdout.contains("\"line\": 2"))
    }

    @Test func outputFileIsPrivateAndStdoutStaysEmpty() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let report = dir.appendingPathComponent("report.json")
        let r = try Self.run(["scan", "--format", "json", "--output", report.path, Self.fixtureTree])
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        let attributes = try FileManager.default.attributesOfItem(atPath: report.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try Data(contentsOf: report).count > 100)
    }

    @Test func quietPrintsOnlyErrors() throws {
        let r = try Self.run(["scan", "-q", Self.fixtureTree, "/nonexistent/mptscan-q"])
        #expect(r.status == 1)
        #expect(r.stderr == "mptscan: error: /nonexistent/mptscan-q: cannot read: No such file or directory\n")
        let clean = try Self.run(["scan", "-q", "--skip-unreadable", "/nonexistent/mptscan-q"])
        #expect(clean.status == 0)
        #expect(clean.stderr.hasPrefix("mptscan: warning: "))
    }

    @Test func excludeGlobsLeaveFilesOut() throws {
        let r = try Self.run(["scan", "--format", "json", "--exclude", "src/", "--exclude", "*.min.js", "--exclude", "/windows/**", Self.fixtureTree])
        #expect(r.status == 1)
        #expect(!r.stdout.contains("\"path\": \"src/"))
        #expect(!r.stdout.contains("app.min.js"))
        #expect(!r.stdout.contains("\"path\": \"windows/"))
        #expect(r.stdout.contains("\"path\": \".env\""))
    }

    @Test func overlappingRootsReportEachOccurrenceOnce() throws {
        let api = Self.fixtureTree + "/src/api.ts"
        let r = try Self.run(["scan", "--format", "json", Self.fixtureTree + "/src", api, Self.fixtureTree + "/./src"])
        #expect(r.stdout.components(separatedBy: "\"token_id\": \"TKN-0100-0001\"").count - 1 == 1)
    }

    /// A FIFO inside a tree is skipped, never opened; one named on the command line is read like standard
    /// input: mptscan waits for its writer (it is not taken as an empty, clean file).
    @Test func fifosInATreeAreSkippedAndNamedOnesWaitForTheirWriter() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("pipe").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let inTree = try Self.run(["scan", dir.path])
        #expect(inTree.status == 0)
        #expect(inTree.stderr.contains("1 fifo"))
        let token = SyntheticTokens.token(seed: 52)
        let writer = Thread {
            Thread.sleep(forTimeInterval: 0.4)
            if let handle = FileHandle(forWritingAtPath: fifo) {
                handle.write(Data("k=\(token)\n".utf8))
                try? handle.close()
            }
        }
        writer.start()
        let named = try Self.run(["scan", fifo])
        #expect(named.status == 1)
        #expect(named.stdout.contains(":1:3: critical"))
    }

    @Test func outputRefusesSymlinksAndFilesBeingScanned() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("v.env")
        let content = Data("MPT=\(SyntheticTokens.token(seed: 53))\n".utf8)
        try content.write(to: input)
        let same = try Self.run(["scan", "-o", input.path, input.path])
        #expect(same.status == 64)
        #expect(try Data(contentsOf: input) == content, "the input is untouched")
        let link = dir.appendingPathComponent("report.json").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: dir.appendingPathComponent("elsewhere").path)
        let linked = try Self.run(["scan", "-o", link, input.path])
        #expect(linked.status == 64)
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("elsewhere").path))
        // an existing report file inside a scanned directory would be scanned and then overwritten
        let inside = dir.appendingPathComponent("notes.txt")
        try Data("keep me\n".utf8).write(to: inside)
        #expect(try Self.run(["scan", "-o", inside.path, dir.path]).status == 64)
        #expect(try String(contentsOf: inside, encoding: .utf8) == "keep me\n")
        // a device is written to, never made private
        if getuid() == 0 {
            let device = dir.appendingPathComponent("null").path
            #expect(mknod(device, S_IFCHR | 0o666, dev_t((1 << 8) | 3)) == 0) // major 1, minor 3: /dev/null
            chmod(device, 0o666)
            #expect(try Self.run(["scan", "-q", "-o", device, input.path]).status == 1)
            #expect((try FileManager.default.attributesOfItem(atPath: device)[.posixPermissions] as? Int) == 0o666)
            try FileManager.default.removeItem(atPath: device)
        }
        // a report that could not be created is refused before the scan
        let missing = try Self.run(["scan", "-o", dir.appendingPathComponent("no/such/dir/r.json").path, input.path])
        #expect(missing.status == 64)
        #expect(missing.stderr.contains("cannot create it"))
        // an existing, world-readable report file becomes private
        let report = dir.appendingPathComponent("old.txt")
        try Data().write(to: report)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: report.path)
        #expect(try Self.run(["scan", "-o", report.path, input.path]).status == 1)
        #expect((try FileManager.default.attributesOfItem(atPath: report.path)[.posixPermissions] as? Int) == 0o600)
    }

    @Test func noColourWhenPipedOrAsked() throws {
        for extra in [[], ["--no-color"]] {
            let r = try Self.run(["scan"] + extra + [Self.fixtureTree])
            #expect(!r.stdout.contains("\u{1B}["))
        }
    }

    @Test func closedStdoutEndsQuietly() throws {
        let r = try Self.run(["scan", "--show-secrets", Self.fixtureTree], closeStdout: true)
        #expect(r.status == 1)
        #expect(!r.stderr.contains("error"))
    }

    @Test func rulesListAndCheck() throws {
        let list = try Self.run(["rules", "list"])
        #expect(list.status == 0)
        let lines = list.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(lines.contains { $0.first == "mpt-api-token" && $0.dropFirst().first == "critical" })
        #expect(lines.contains { $0.first == "mpt-api-token-legacy" && $0.dropFirst().first == "high" })
        let check = try Self.run(["rules", "check"])
        #expect(check.status == 0)
        #expect(check.stdout.hasSuffix(": ok\n"))
        let onDisk = try Self.run(["rules", "check", TestPaths.repositoryRoot.appendingPathComponent("rules").path])
        #expect(onDisk.status == 0)

        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var broken = try #require(BuiltinRules.all.first { $0.id == "mpt-api-token" })
        broken.examples.mustNotMatch.append(CounterExample(text: SyntheticTokens.token(seed: 51), why: "planted to fail"))
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        try encoder.encode(broken).write(to: dir.appendingPathComponent("broken.json"))
        let failing = try Self.run(["rules", "check", dir.path])
        #expect(failing.status == 1)
        #expect(failing.stdout.contains("must_not_match example as written was reported"))
        try Data("{".utf8).write(to: dir.appendingPathComponent("bad.json"))
        let invalid = try Self.run(["rules", "check", dir.path])
        #expect(invalid.status == 2)
        #expect(invalid.stderr.contains("bad.json"))
    }
}
