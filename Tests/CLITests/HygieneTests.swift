import Foundation
import Testing
import MPTScanKit
import _MPTScanTestSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Secret hygiene end to end: a tree, a repository and a registry full of synthetic tokens (in contents, file
/// and directory names, archive member names, source map sources, commit messages, author names, ref and
/// tag names, a configuration's bad value, a registry's error answers), every command and format run over
/// them, and every byte they print or write (standard output and error, reports, baselines, sweep state and
/// output, the audit log, the snapshot, `TMPDIR`, the environment git children get) searched for each raw
/// secret: none may be there, except in reports asked for with `--show-secrets`, where they must be.
@Suite(.serialized) struct HygieneTests {
    let dir: URL
    let scenario = RegistryScenario()
    let emulator: RegistryEmulator
    let planted = Planted()

    /// What was planted.
    final class Planted: @unchecked Sendable {
        /// Every raw secret planted anywhere, and the registry credential.
        var secrets: [String] = []
        /// Secrets of tokens written in file contents (what `--show-secrets` must show).
        var contentSecrets: [String] = []
    }
    var secrets: [String] { self.planted.secrets }
    var contentSecrets: [String] { self.planted.contentSecrets }

    init() throws {
        self.dir = try TestPaths.makeTemporaryDirectory("mptscan-hygiene")
        self.emulator = try RegistryEmulator(state: self.scenario.state)
        for sub in ["tree/src", "out", "tmp", "bad", "gitenv"] {
            try FileManager.default.createDirectory(at: self.dir.appendingPathComponent(sub), withIntermediateDirectories: true)
        }
    }

    /// A token for `seed`, remembered as planted.
    func token(_ seed: Int, inContent: Bool = false) -> String {
        self.planted.secrets.append(SyntheticTokens.secret(seed: seed))
        if inContent { self.planted.contentSecrets.append(SyntheticTokens.secret(seed: seed)) }
        return SyntheticTokens.token(seed: seed)
    }

    func path(_ relative: String) -> String { self.dir.appendingPathComponent(relative).path }

    func write(_ relative: String, _ text: String) throws {
        let url = self.dir.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    /// The environment of every run: a fresh TMPDIR, the admin credential, git through a wrapper that records
    /// the environment it was given.
    var environment: [String: String] {
        var env = ProcessInfo.processInfo.environment
        env["TMPDIR"] = self.path("tmp")
        env["MPT_REGISTRY_TOKEN"] = self.scenario.adminBearer
        env["no_proxy"] = "127.0.0.1"
        env["XDG_STATE_HOME"] = self.path("out/xdg")
        env["MPTSCAN_REAL_PATH"] = env["PATH"] ?? "/usr/bin:/bin"
        env["MPTSCAN_ENV_DUMP"] = self.path("gitenv/env")
        env["PATH"] = self.path("gitenv/bin") + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        env.removeValue(forKey: "MPT_REGISTRY_URL")
        env.removeValue(forKey: "GITHUB_ACTIONS")
        // URLSession's debug switch would log the Authorization header; TLS keys would decrypt it
        env["URLSessionDebugLibcurl"] = "1"
        env["SSLKEYLOGFILE"] = self.path("out/tls-keys.txt")
        return env
    }

    /// Builds the tree, the repository, the bad configuration and the git wrapper; returns the repository.
    func plant() throws -> GitRecipe {
        // file contents, and the registry scenario's leaks (8 of them live)
        try self.write("tree/src/app.ts", "export const TOKEN = \"\(self.token(1740, inContent: true))\";\n")
        try self.write("tree/leaks.ts", self.scenario.leaks)
        for token in self.scenario.leaked.values {
            self.planted.secrets.append(String(token.suffix(64)))
            self.planted.contentSecrets.append(String(token.suffix(64)))
        }
        // names: a directory, a file, an archive member, a corrupt archive, a FIFO, a symlink loop, a map's source
        try self.write("tree/\(self.token(1741))/x.env", "MPT=\(self.token(1742, inContent: true))\n")
        try self.write("tree/\(self.token(1743)).txt", "MPT=\(self.token(1744, inContent: true))\n")
        let member = "\(self.token(1745))/x.js"
        try Data(ArchiveBuilder.zip([(member, Array("var t=\"\(self.token(1746, inContent: true))\";\n".utf8))])).write(to: self.dir.appendingPathComponent("tree/bundle.zip"))
        try Data("PK\u{3}\u{4}truncated".utf8).write(to: self.dir.appendingPathComponent("tree/\(self.token(1747)).zip"))
        #expect(mkfifo(self.path("tree/fifo-\(self.token(1748))"), 0o600) == 0)
        let loop = "tree/loop-\(self.token(1749))"
        try FileManager.default.createSymbolicLink(atPath: self.path(loop), withDestinationPath: (loop as NSString).lastPathComponent)
        let mapSource = "webpack:///\(self.token(1750))/src/app.ts"
        try self.write("tree/app.js.map", #"{"version":3,"sources":["\#(mapSource)"],"sourcesContent":["const t = \"\#(self.token(1751, inContent: true))\";\n"],"mappings":""}"#)

        // a repository: a token in a directory name, an author name, a commit message, a branch and a tag name
        // (percent-encoded: refs cannot hold ':'), a tag message; and a staged file named after one
        let repo = try GitRecipe("hygiene-repo")
        try repo.write("d-\(self.token(1752))/f.txt", "X=\(self.token(1753, inContent: true))\n")
        try repo.commit("add config \(self.token(1755, inContent: true))", author: "Dev \(self.token(1754))")
        let percent = { (t: String) in t.replacingOccurrences(of: ":", with: "%3A") }
        try repo.git("branch", "feature/\(percent(self.token(1756)))")
        try repo.git("tag", "-a", "v-\(percent(self.token(1757)))", "-m", "release \(self.token(1758, inContent: true))")
        try repo.write("s-\(self.token(1759)).env", "K=\(self.token(1760, inContent: true))\n")
        try repo.git("add", "-A")

        // a configuration with a token where a value goes
        try self.write("bad/.mptscan.json", #"{"version": 1, "fail_on": "\#(self.token(1761))"}"#)
        // the registry answers one id with a problem that echoes the credential and a token
        let problem = #"{"title":"Bad \#(self.token(1762))","status":400,"detail":"echo \#(self.scenario.adminBearer) \#(self.token(1763))"}"#
        self.emulator.setFaults([.init(.body(status: 400, contentType: "application/problem+json", body: problem), when: .always,
                                       method: "GET", pathPrefix: "/accounts/api-tokens/TKN-9000-0042")])
        self.planted.secrets.append(self.scenario.adminBearer)
        // a live token named after a token, in an account named after one
        let (tokenName, accountName) = (self.token(1767), self.token(1768))
        self.emulator.update { state in
            state.tokens[0].record.name = "deploy \(tokenName)"
            state.tokens[0].record.account?.name = "Acme \(accountName)"
        }

        // git, through a wrapper that keeps the environment mptscan gives it
        try self.write("gitenv/bin/git", "#!/bin/sh\nenv >> \"$MPTSCAN_ENV_DUMP\"\nPATH=\"$MPTSCAN_REAL_PATH\" exec git \"$@\"\n")
        chmod(self.path("gitenv/bin/git"), 0o755)
        try self.write("repos.txt", repo.path + "\n")
        return repo
    }

    func mptscan(_ args: [String]) throws -> TestProcess.Result {
        try TestProcess.run(CLITests.binary, args, environment: self.environment, directory: self.dir)
    }

    /// Every regular file under `relative`, recursively (FIFOs and links left out).
    func files(under relative: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: self.path(relative)) else { return [] }
        return walker.compactMap { $0 as? String }.map { self.path(relative) + "/" + $0 }.filter { path in
            var st = stat()
            return lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFREG
        }
    }

    @Test func noCommandPrintsOrWritesASecret() throws {
        defer { self.emulator.stop(); try? FileManager.default.removeItem(at: self.dir) }
        let repo = try self.plant()
        let url = self.emulator.baseURL
        let formats = ["text", "json", "jsonl", "sarif", "junit", "gitlab", "github"]
        var printed: [(String, TestProcess.Result)] = []
        func run(_ args: [String], expect status: Int32) throws {
            let r = try self.mptscan(args)
            #expect(r.status == status, "\(args.joined(separator: " ")): \(r.stderr)")
            printed.append((args.joined(separator: " "), r))
        }

        for format in formats {
            try run(["scan", "tree", "--format", format], expect: 1)
            try run(["history", repo.path, "--format", format], expect: 1)
        }
        try run(["scan", "tree", "-o", "out/scan.txt", "--write-baseline", "out/baseline.json"]
                + formats.flatMap { ["--report", "\($0):out/scan-report.\($0)"] }, expect: 2) // the baseline accepts all; the corrupt zip leaves bytes unscanned
        try run(["scan", "tree", "--baseline", "out/baseline.json", "--format", "json"], expect: 2)
        try run(["history", repo.path, "-o", "out/history.json", "--format", "json", "--write-baseline", "out/history-baseline.json"]
                + formats.flatMap { ["--report", "\($0):out/history-report.\($0)"] }, expect: 0)
        try run(["staged", repo.path, "--format", "json"], expect: 1)
        try run(["staged", repo.path], expect: 1)
        try run(["scan", "tree", "--registry", url, "--format", "json", "-o", "out/registry.json"], expect: 1)
        try run(["sweep", "--repos", "repos.txt", "--state", "out/sweep-state", "-o", "out/sweep.jsonl"], expect: 1)
        try run(["sweep", "--repos", "repos.txt"], expect: 1)
        try run(["merge", "-o", "out/merged.jsonl", "out/sweep.jsonl"], expect: 1)
        try run(["disable", "--from-report", "out/registry.json", "--registry", url, "--dry-run", "--audit-log", "out/audit.jsonl"], expect: 0)
        try run(["scan", "tree", "--registry", url, "--disable-live", "--yes", "--audit-log", "out/audit.jsonl", "--format", "sarif"], expect: 1)
        // the re-check sends nothing more; the id the registry answers with an error fails the run
        try run(["disable", "--from-report", "out/registry.json", "--registry", url, "--yes", "--audit-log", "out/audit.jsonl"], expect: 2)
        try run(["registry", "export", "-o", "out/snapshot.json", "--registry", url], expect: 0)
        // error paths that could quote a token
        try run(["scan", "bad"], expect: 2)
        try run(["scan", "--format", SyntheticTokens.token(seed: 1764), "tree"], expect: 64)
        try run(["history", repo.path, "--range", "\(SyntheticTokens.token(seed: 1765))..HEAD"], expect: 2)
        try run(["scan", "tree", "--report", SyntheticTokens.token(seed: 1766)], expect: 64)
        self.planted.secrets += [1764, 1765, 1766].map { SyntheticTokens.secret(seed: $0) }
        #expect(self.emulator.requestCount(method: "POST", path: "/accounts/api-tokens/\(RegistryScenario.tokenID(0))/disable") == 1, "the disable ran")

        // nothing printed or written holds a secret
        let written = self.files(under: "out") + self.files(under: "tmp") + self.files(under: "gitenv")
        #expect(written.count > 20, "\(written)")
        for secret in self.secrets {
            for (command, r) in printed {
                #expect(!r.stdout.contains(secret), "stdout of \(command) holds \(secret.prefix(8))…")
                #expect(!r.stderr.contains(secret), "stderr of \(command) holds \(secret.prefix(8))…")
            }
            for file in written {
                #expect(!String(decoding: try Data(contentsOf: URL(fileURLWithPath: file)), as: UTF8.self).contains(secret), "\(file) holds \(secret.prefix(8))…")
            }
        }
        // the names were seen, redacted: an archive member named after a token, a tag, a map's source
        let text = try #require(printed.first { $0.0 == "scan tree --format text" }?.1)
        #expect(text.stdout.contains("bundle.zip!idt:\(SyntheticTokens.tokenID(seed: 1745)):\(SyntheticTokens.secret(seed: 1745).prefix(4))…/x.js"))
        #expect(text.stdout.contains("original source webpack:///idt:\(SyntheticTokens.tokenID(seed: 1750)):"))
        #expect(text.stderr.contains("idt:\(SyntheticTokens.tokenID(seed: 1747)):\(SyntheticTokens.secret(seed: 1747).prefix(4))….zip"))
        // git ran, and never saw the registry credential
        #expect((try String(contentsOfFile: self.path("gitenv/env"), encoding: .utf8)).contains("PATH="))

        // every file mptscan wrote is its owner's alone
        for file in self.files(under: "out") {
            let mode = (try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int) ?? -1
            #expect(mode == 0o600, "\(file): mode \(String(mode, radix: 8))")
        }

        // --show-secrets shows them in the report (and nowhere on standard error)
        let shown = try self.mptscan(["scan", "tree", "--show-secrets", "--format", "json", "-o", "out/shown.json", "--report", "sarif:out/shown.sarif"])
        #expect(shown.status == 1)
        let shownJSON = try String(contentsOfFile: self.path("out/shown.json"), encoding: .utf8)
        let shownSARIF = try String(contentsOfFile: self.path("out/shown.sarif"), encoding: .utf8)
        for secret in self.contentSecrets where ![1753, 1755, 1758, 1760].map({ SyntheticTokens.secret(seed: $0) }).contains(secret) {
            #expect(shownJSON.contains(secret) && shownSARIF.contains(secret), "\(secret.prefix(8))… shown")
        }
        #expect(shownJSON.contains(SyntheticTokens.token(seed: 1745)), "a path is shown as it is")
        for secret in self.secrets { #expect(!shown.stderr.contains(secret)) }
        let history = try self.mptscan(["history", repo.path, "--show-secrets", "--format", "jsonl"])
        #expect(history.stdout.contains(SyntheticTokens.token(seed: 1755)) && history.stdout.contains(SyntheticTokens.token(seed: 1752)))
        for file in ["out/shown.json", "out/shown.sarif"] {
            #expect((try FileManager.default.attributesOfItem(atPath: self.path(file))[.posixPermissions] as? Int) == 0o600)
        }
    }

    /// Full token values never go into an existing file others may read: refused before the scan (64).
    @Test func showSecretsRefusesFilesOthersMayRead() throws {
        defer { self.emulator.stop(); try? FileManager.default.removeItem(at: self.dir) }
        let token = SyntheticTokens.token(seed: 1770)
        try self.write("tree/a.env", "K=\(token)\n")
        for (name, mode) in [("readable.json", 0o644), ("group.json", 0o640)] {
            try self.write("out/\(name)", "old\n")
            chmod(self.path("out/\(name)"), mode_t(mode))
            for args in [["-o", "out/\(name)"], ["--report", "json:out/\(name)"]] {
                let r = try self.mptscan(["scan", "tree", "--show-secrets", "-q"] + args)
                #expect(r.status == 64, "\(args): \(r.stderr)")
                #expect(r.stderr.contains("group or others may read"))
                #expect(try String(contentsOfFile: self.path("out/\(name)"), encoding: .utf8) == "old\n", "left alone")
            }
            // without --show-secrets the report is redacted, and the file made private
            #expect(try self.mptscan(["scan", "tree", "-q", "-o", "out/\(name)"]).status == 1)
            #expect((try FileManager.default.attributesOfItem(atPath: self.path("out/\(name)"))[.posixPermissions] as? Int) == 0o600)
        }
        // a private file, or a new one (created 0600), takes them
        #expect(try self.mptscan(["scan", "tree", "--show-secrets", "-q", "-o", "out/readable.json"]).status == 1)
        #expect(try self.mptscan(["scan", "tree", "--show-secrets", "-q", "-o", "out/new.json", "--format", "json"]).status == 1)
        #expect(try String(contentsOfFile: self.path("out/new.json"), encoding: .utf8).contains(token))
        #expect((try FileManager.default.attributesOfItem(atPath: self.path("out/new.json"))[.posixPermissions] as? Int) == 0o600)

        // standard output redirected to a file others may read (`> report.txt` under umask 022)
        for (mode, status) in [(0o644, Int32(64)), (0o600, Int32(1))] {
            let file = self.path("out/stdout-\(String(mode, radix: 8)).txt")
            #expect(FileManager.default.createFile(atPath: file, contents: nil, attributes: [.posixPermissions: mode]))
            let handle = try #require(FileHandle(forWritingAtPath: file))
            let process = Process()
            process.executableURL = CLITests.binary
            process.arguments = ["scan", self.path("tree"), "--show-secrets", "-q"]
            process.standardOutput = handle
            process.standardError = FileHandle.nullDevice
            let exited = DispatchSemaphore(value: 0)
            process.terminationHandler = { _ in exited.signal() }
            try process.run()
            exited.wait()
            try handle.close()
            #expect(process.terminationStatus == status, "stdout mode \(String(mode, radix: 8))")
            #expect((try String(contentsOfFile: file, encoding: .utf8)).contains(token) == (status == 1))
        }
        // the same for sweep's output
        try self.write("out/sweep.jsonl", "")
        chmod(self.path("out/sweep.jsonl"), 0o644)
        try self.write("repos.txt", "\(self.path("tree"))\n")
        #expect(try self.mptscan(["sweep", "--repos", "repos.txt", "--show-secrets", "-o", "out/sweep.jsonl"]).status == 64)
        // and for merge, when the records it passes on hold full values (a sweep run with --show-secrets)
        let repo = try GitRecipe()
        try repo.write("a.env", "K=\(token)\n")
        try repo.commit("leak")
        try self.write("repos.txt", "\(repo.path)\n")
        #expect(try self.mptscan(["sweep", "--repos", "repos.txt", "--show-secrets", "-o", "out/shown.jsonl"]).status == 1)
        #expect(try self.mptscan(["sweep", "--repos", "repos.txt", "-o", "out/redacted.jsonl"]).status == 1)
        try self.write("out/merged.jsonl", "")
        chmod(self.path("out/merged.jsonl"), 0o644)
        let refused = try self.mptscan(["merge", "-o", "out/merged.jsonl", "out/shown.jsonl"])
        #expect(refused.status == 64, "\(refused.stderr)")
        #expect(try self.mptscan(["merge", "-o", "out/merged.jsonl", "out/redacted.jsonl"]).status == 1, "redacted records go anywhere")
        #expect(try self.mptscan(["merge", "-o", "out/merged-new.jsonl", "out/shown.jsonl"]).status == 1)
        #expect((try String(contentsOfFile: self.path("out/merged-new.jsonl"), encoding: .utf8)).contains(token))
    }
}
