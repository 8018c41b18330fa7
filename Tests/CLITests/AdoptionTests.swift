import Foundation
import Testing
import MPTScanKit
import _MPTScanTestSupport

/// Adopting mptscan on a repository that already leaks: baseline, ignore file, configuration file.
@Suite struct AdoptionTests {
    func json(_ text: String) throws -> [[String: Any]] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        return try #require(object["findings"] as? [[String: Any]])
    }

    func failing(_ findings: [[String: Any]]) -> [[String: Any]] { findings.filter { $0["suppressed"] as? Bool == false } }

    /// 30 existing leaks: a baseline accepts them; one new leak in a new commit is the only failing finding;
    /// a baselined token moved to another line stays baselined; the same token in a new file is new.
    @Test func aBaselineLetsOnlyNewLeaksFail() throws {
        let repo = try GitRecipe()
        var lines: [String] = []
        for i in 0..<30 { lines.append("export const T\(i) = \"\(SyntheticTokens.token(seed: 800 + i))\";") }
        try repo.write("src/old.ts", lines.joined(separator: "\n") + "\n")
        try repo.commit("thirty leaks")
        let baseline = repo.directory.appendingPathComponent("mptscan-baseline.json").path

        let write = try CLITests.run(["history", repo.path, "--write-baseline", baseline, "-q"])
        #expect(write.status == 0, "findings recorded in the baseline are accepted: \(write.stderr)")
        let text = try String(contentsOfFile: baseline, encoding: .utf8)
        #expect(text.components(separatedBy: "\"fingerprint\"").count - 1 == 30)
        #expect(!text.contains(String(SyntheticTokens.token(seed: 800).suffix(64))), "no secret in the baseline")
        #expect(!text.contains("\"line\""), "no line numbers")
        // sorted and stable: writing it again gives the same bytes
        _ = try CLITests.run(["history", repo.path, "--write-baseline", baseline, "-q"])
        #expect(try String(contentsOfFile: baseline, encoding: .utf8) == text)

        // move a baselined token to another line, add one new leak, and put a baselined token in a new file
        lines.insert("// a new first line", at: 0)
        try repo.write("src/old.ts", lines.joined(separator: "\n") + "\n")
        try repo.write("src/new.ts", "export const N = \"\(SyntheticTokens.token(seed: 850))\";\n")
        try repo.write("src/copy.ts", "export const C = \"\(SyntheticTokens.token(seed: 801))\";\n")
        try repo.commit("moved, new and copied")
        let scan = try CLITests.run(["scan", repo.path, "--baseline", baseline, "--format", "json"])
        #expect(scan.status == 1)
        let found = try self.json(scan.stdout)
        #expect(Set(self.failing(found).compactMap { $0["path"] as? String }) == ["src/new.ts", "src/copy.ts"])
        #expect(found.filter { $0["suppression"] as? String == "baseline" }.count == 30)
        let history = try CLITests.run(["history", repo.path, "--baseline", baseline, "--format", "json"])
        #expect(self.failing(try self.json(history.stdout)).count == 2, "history agrees")
        // the summary counts baselined findings; text says so
        let text2 = try CLITests.run(["scan", repo.path, "--baseline", baseline])
        #expect(text2.stderr.contains("30 baselined"), "\(text2.stderr)")
    }

    @Test func anIgnoreFileAndTheConfigurationAllowKnownTestTokens() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = SyntheticTokens.token(seed: 860), b = SyntheticTokens.token(seed: 861), c = SyntheticTokens.token(seed: 862)
        try Data("A=\(a)\nB=\(b)\nC=\(c)\n".utf8).write(to: dir.appendingPathComponent("test.env"))
        let fa = SHA256.hexDigest(of: Array(a.utf8))
        try Data("# the integration tests' token\n\(fa) *.env  # synthetic\n".utf8).write(to: dir.appendingPathComponent(".mptscanignore"))
        let config = """
            {"version": 1, "allow": {"token_ids": ["\(SyntheticTokens.tokenID(seed: 861))"]}, "severity": {"mpt-api-token": "medium"}}
            """
        try Data(config.utf8).write(to: dir.appendingPathComponent(".mptscan.json"))
        let r = try CLITests.run(["scan", dir.path, "--format", "json"])
        #expect(r.status == 1)
        let found = try self.json(r.stdout)
        #expect(found.filter { $0["suppression"] as? String == "ignored" }.count == 2)
        #expect(self.failing(found).map { $0["severity"] as? String } == ["medium"])
        // CRLF line ends are lines too
        try Data("# the integration tests' token\r\n\(fa) *.env\r\n".utf8).write(to: dir.appendingPathComponent(".mptscanignore"))
        let crlf = try CLITests.run(["scan", dir.path, "--format", "json"])
        #expect(try self.json(crlf.stdout).filter { $0["suppression"] as? String == "ignored" }.count == 2)
        // a malformed ignore line names the file and line, and never echoes what it holds (a pasted token)
        try Data("\(a)\n".utf8).write(to: dir.appendingPathComponent(".mptscanignore"))
        let bad = try CLITests.run(["scan", dir.path])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains(".mptscanignore:1: expected a fingerprint (64 hexadecimal digits); this looks like a token"), "\(bad.stderr)")
        #expect(!bad.stderr.contains(String(a.suffix(64).prefix(12))))
    }

    @Test func aConfigurationTypoIsAnErrorNamingTheKeyAndItsPath() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func run(_ config: String) throws -> CLITests.Run {
            try Data(config.utf8).write(to: dir.appendingPathComponent(".mptscan.json"))
            return try CLITests.run(["scan", dir.path])
        }
        let typo = try run(#"{"version": 1, "exludes": ["dist/"]}"#)
        #expect(typo.status == 2)
        #expect(typo.stderr.contains(".mptscan.json: exludes: unknown key (did you mean 'excludes'?)"), "\(typo.stderr)")
        let nested = try run(#"{"version": 1, "allow": {"fingerprint": []}}"#)
        #expect(nested.stderr.contains("allow.fingerprint: unknown key (did you mean 'fingerprints'?)"), "\(nested.stderr)")
        let type = try run(#"{"version": 1, "excludes": ["a", "b", 3]}"#)
        #expect(type.stderr.contains("excludes[2]: expected a string"), "\(type.stderr)")
        #expect(try run(#"{"version": true}"#).stderr.contains("version: expected a whole number"))
        let choice = try run(#"{"version": 1, "fail_on": "sometimes"}"#)
        #expect(choice.stderr.contains("fail_on: 'sometimes' is not one of any, unverified, live"), "\(choice.stderr)")
        let credential = try run(#"{"version": 1, "registry": "idt:TKN-1234-5678:xyz"}"#)
        #expect(credential.stderr.contains("registry: looks like a credential"), "\(credential.stderr)")
        // a configuration in the scanned tree may not point the credential at a URL; an explicit --config may
        let url = try run(#"{"version": 1, "registry": "https://registry.example.invalid/public/v1"}"#)
        #expect(url.status == 2)
        #expect(url.stderr.contains("may name only production, qa, test, dev"), "\(url.stderr)")
        #expect(try run(#"{"version": 1, "registry": "qa"}"#).status == 0)
        // a token pasted where an id belongs is never echoed
        let token = SyntheticTokens.token(seed: 871)
        let pasted = try run(#"{"version": 1, "allow": {"token_ids": ["\#(token)"]}}"#)
        #expect(pasted.stderr.contains("looks like a whole token"), "\(pasted.stderr)")
        #expect(!pasted.stderr.contains(String(token.suffix(64).prefix(12))))
        // settings take effect: excludes and fail_on
        try Data("T=\(SyntheticTokens.token(seed: 870))\n".utf8).write(to: dir.appendingPathComponent("x.env"))
        #expect(try run(#"{"version": 1, "excludes": ["*.env"]}"#).status == 0)
        #expect(try run(#"{"version": 1}"#).status == 1)
        // docs/CONFIG.md lists every setting, as the table declares them
        let docs = try String(contentsOf: TestPaths.repositoryRoot.appendingPathComponent("docs/CONFIG.md"), encoding: .utf8)
        #expect(docs.contains(Configuration.markdownTable()), "regenerate docs/CONFIG.md's table from Configuration.markdownTable()")
    }

    /// `init` writes a starter configuration and a pipeline; it keeps an existing configuration and refuses to
    /// overwrite an existing pipeline without --force.
    @Test func initKeepsTheConfigurationAndGuardsThePipeline() throws {
        let dir = try TestPaths.makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(try CLITests.run(["init", dir.path]).status == 0)
        let config = dir.appendingPathComponent(".mptscan.json")
        #expect(try Configuration.load(from: config.path).failOn == .any, "the starter parses, with the defaults")
        try Data(#"{"version": 1, "fail_on": "live"}"#.utf8).write(to: config)
        let ci = try CLITests.run(["init", "--ci", "github", dir.path])
        #expect(ci.status == 0, "\(ci.stderr)")
        #expect(try String(contentsOf: config, encoding: .utf8).contains("live"), "the existing configuration is kept")
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(".github/workflows/mptscan.yml").path))
        let again = try CLITests.run(["init", "--ci", "github", dir.path])
        #expect(again.status == 2)
        #expect(again.stderr.contains("exists (use --force to overwrite)"))
        #expect(try CLITests.run(["init", "--ci", "github", "--force", dir.path]).status == 0)
    }
}
