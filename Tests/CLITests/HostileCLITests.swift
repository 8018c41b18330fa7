import Foundation
import Testing
import MPTScanKit
import _MPTScanTestSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Hostile input through the built binary (issue 8, items 3 and 6): a repository whose configuration, hooks and
/// attributes name programs git would run, scanned by every command that runs git; a directory only another
/// user can read; limits reached, reported and counted, with their exit codes.
@Suite struct HostileCLITests {
    /// Every configuration key, hook and attribute driver that makes git run a program, each set to a command
    /// that creates its own marker file.
    static let hostileConfiguration: [String] = [
        "core.fsmonitor", "core.pager", "pager.log", "pager.diff", "pager.show", "diff.external", "diff.evil.textconv",
        "diff.evil.command", "filter.evil.smudge", "filter.evil.clean", "filter.evil.process", "merge.evil.driver",
        "core.sshCommand", "core.editor", "sequence.editor", "credential.helper", "gpg.program", "gpg.ssh.program",
        "core.askPass", "uploadpack.packObjectsHook", "core.alternateRefsCommand", "core.gitProxy", "remote.origin.uploadpack",
        "remote.origin.receivepack", "submodule.lib.update",
    ]
    static let hooks = ["pre-commit", "prepare-commit-msg", "commit-msg", "post-commit", "post-checkout", "post-merge",
                        "pre-push", "post-index-change", "reference-transaction", "pre-auto-gc", "post-rewrite",
                        "fsmonitor-watchman", "push-to-checkout", "sendemail-validate"]

    /// A repository with a token on main, another on a branch, a third staged, a modified tracked file, and
    /// the hostile configuration; returns it and the marker directory.
    static func hostileRepository() throws -> (GitRecipe, URL) {
        let repo = try GitRecipe()
        let markers = repo.directory.deletingLastPathComponent().appendingPathComponent("markers")
        try FileManager.default.createDirectory(at: markers, withIntermediateDirectories: true)
        try repo.write(".gitattributes", "* filter=evil diff=evil merge=evil\n")
        try repo.write("a.txt", "k=\(SyntheticTokens.token(seed: 1201))\n")
        try repo.commit("init")
        try repo.git("checkout", "-q", "-b", "feature")
        try repo.write("b.txt", "k=\(SyntheticTokens.token(seed: 1202))\n")
        try repo.commit("feature")
        try repo.write("c.txt", "k=\(SyntheticTokens.token(seed: 1203))\n")
        try repo.git("add", "c.txt") // staged before the configuration: git itself would run it
        try repo.write("a.txt", "changed in the work tree\n")
        let hookDirectory = repo.directory.deletingLastPathComponent().appendingPathComponent("evil-hooks")
        try FileManager.default.createDirectory(at: hookDirectory, withIntermediateDirectories: true)
        for hook in Self.hooks {
            let script = "#!/bin/sh\ntouch '\(markers.path)/hook-\(hook)'\ncat >/dev/null 2>&1 </dev/null\nexit 0\n"
            for dir in [hookDirectory, repo.directory.appendingPathComponent(".git/hooks")] {
                try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                try Data(script.utf8).write(to: dir.appendingPathComponent(hook))
                chmod(dir.appendingPathComponent(hook).path, 0o755)
            }
        }
        for key in Self.hostileConfiguration {
            var command = "touch '\(markers.path)/\(key)'; cat"
            if key == "credential.helper" || key == "submodule.lib.update" { command = "!" + command }
            try repo.git("config", key, command)
        }
        try repo.git("config", "filter.evil.required", "true")
        try repo.git("config", "core.hooksPath", hookDirectory.path)
        try repo.git("config", "remote.origin.url", "ssh://git@example.invalid/repo.git")
        return (repo, markers)
    }

    static func markers(_ directory: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
    }

    /// `history` (full, a range, every object, submodules), `staged`, `pre-push`, `sweep` and `scan` on that
    /// repository, by path and from inside it as a hook runs: the scans find the tokens and no marker appears.
    /// The control at the end shows the configuration is live: plain git commands do create markers.
    @Test func gitNeverRunsAProgramTheScannedRepositoryNames() throws {
        let (repo, markers) = try Self.hostileRepository()
        #expect(Self.markers(markers).isEmpty, "the recipe itself ran a command")
        let main = try repo.git("rev-parse", "main"), feature = try repo.git("rev-parse", "feature")
        let list = repo.directory.deletingLastPathComponent().appendingPathComponent("repos.txt")
        try Data((repo.path + "\n").utf8).write(to: list)
        let runs: [(args: [String], stdin: String?, directory: URL?, status: Int32)] = [
            (["history", repo.path], nil, nil, 1),
            (["history", "--range", "main..feature", repo.path], nil, nil, 1),
            (["history", "--all-objects", "--recurse-submodules", repo.path], nil, nil, 1),
            (["staged", repo.path], nil, nil, 1),
            (["pre-push", "--repository", repo.path, "origin", "ssh://git@example.invalid/repo.git"],
             "refs/heads/feature \(feature) refs/heads/feature \(main)\n", nil, 1),
            (["sweep", "--repos", list.path], nil, nil, 1),
            (["scan", repo.path], nil, nil, 1),
            // as hooks run them: in the work tree, no repository named
            (["staged"], nil, repo.directory, 1),
            (["history"], nil, repo.directory, 1),
            (["pre-push", "origin", "ssh://git@example.invalid/repo.git"], "refs/heads/feature \(feature) refs/heads/feature \(main)\n", repo.directory, 1),
        ]
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("GIT_") { env.removeValue(forKey: key) }
        env["HOME"] = repo.directory.deletingLastPathComponent().path
        for run in runs {
            let result = try TestProcess.run(CLITests.binary, run.args, environment: env, directory: run.directory,
                                             input: run.stdin.map { Data($0.utf8) })
            #expect(result.status == run.status, "\(run.args): \(result.stderr)")
            #expect(Self.markers(markers).isEmpty, "\(run.args) ran: \(Self.markers(markers))")
        }

        // control: git itself, run plainly in the same repository, does run them (the failing process filter
        // disarmed after the first command, so that the others get as far as their own programs)
        _ = try repo.run(["status"], allowFailure: true)
        let disarm = ["-c", "filter.evil.process=", "-c", "filter.evil.required=false"]
        for args in [["diff"], ["log", "-p", "-1"], ["commit", "-q", "--allow-empty", "-m", "x"]] {
            _ = try repo.run(disarm + args, allowFailure: true)
        }
        let ran = Self.markers(markers)
        for expected in ["core.fsmonitor", "filter.evil.process", "diff.evil.command", "diff.evil.textconv", "hook-pre-commit"] {
            #expect(ran.contains(expected), "the control did not run \(expected): \(ran)")
        }
    }

    /// A directory no one but its owner may open, scanned as user nobody (root opens everything): reported
    /// once, the rest scanned; exit 1 when the rest leaks (the summary still says incomplete), 2 otherwise, and
    /// a warning (exit 0) with --skip-unreadable.
    @Test func anUnreadableDirectoryAsAnotherUser() throws {
        let base = try TestPaths.makeTemporaryDirectory("mptscan-perm")
        defer { chmod(base.appendingPathComponent("tree/locked").path, 0o755); try? FileManager.default.removeItem(at: base) }
        let tree = base.appendingPathComponent("tree")
        try FileManager.default.createDirectory(at: tree.appendingPathComponent("locked"), withIntermediateDirectories: true)
        try Data("k=\(SyntheticTokens.token(seed: 1204))\n".utf8).write(to: tree.appendingPathComponent("locked/secret.env"))
        try Data("nothing here\n".utf8).write(to: tree.appendingPathComponent("open.txt"))
        chmod(tree.appendingPathComponent("locked").path, 0o700)
        var prefix: [String] = []
        var binary = CLITests.binary
        if getuid() == 0 {
            guard let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return }
            // a copy of the binary and a tree that user nobody can reach (but not read the locked directory of)
            binary = base.appendingPathComponent("mptscan")
            try FileManager.default.copyItem(at: CLITests.binary, to: binary)
            for path in [base.path, tree.path, binary.path] { chmod(path, 0o755) }
            prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
        } else {
            chmod(tree.appendingPathComponent("locked").path, 0)
        }
        func run(_ args: [String]) throws -> TestProcess.Result {
            let argv = prefix + [binary.path] + args
            return try TestProcess.run(URL(fileURLWithPath: argv[0]), Array(argv.dropFirst()), environment: ["PATH": "/usr/bin:/bin", "NO_COLOR": "1"])
        }
        let clean = try run(["scan", tree.path])
        #expect(clean.status == 2, "\(clean.stderr)")
        #expect(clean.stderr.components(separatedBy: "locked: cannot open directory: Permission denied").count == 2, "once: \(clean.stderr)")
        #expect(clean.stderr.contains("1 path could not be read: the scan is incomplete"))
        let accepted = try run(["scan", "--skip-unreadable", tree.path])
        #expect(accepted.status == 0, "\(accepted.stderr)")
        #expect(accepted.stderr.contains("mptscan: warning: "))
        #expect(accepted.stderr.contains("1 path could not be read, accepted with --skip-unreadable"), "\(accepted.stderr)")
        #expect(!accepted.stderr.contains("the scan is incomplete"), "exit 0 and 'incomplete' never together: \(accepted.stderr)")

        try Data("k=\(SyntheticTokens.token(seed: 1205))\n".utf8).write(to: tree.appendingPathComponent("open.txt"))
        let leaking = try run(["scan", tree.path])
        #expect(leaking.status == 1, "leaks take precedence over 2: \(leaking.stderr)")
        #expect(leaking.stderr.contains("the scan is incomplete"))
    }

    /// `--skip-unreadable` accepts a path that cannot be read, never bytes of a read archive left unscanned: an
    /// encrypted or damaged member still makes the scan incomplete (exit 2), not clean.
    @Test func skipUnreadableNeverAcceptsAnArchiveLeftPartlyUnscanned() throws {
        let dir = try TestPaths.makeTemporaryDirectory("mptscan-skip-archive")
        defer { try? FileManager.default.removeItem(at: dir) }
        let encrypted = ArchiveBuilder.zip([("a.env", Array("k=\(SyntheticTokens.token(seed: 1207))\n".utf8))], flags: 1)
        try Data(encrypted).write(to: dir.appendingPathComponent("secret.zip"))
        for args in [["scan", dir.path], ["scan", "--skip-unreadable", dir.path]] {
            let run = try CLITests.run(args)
            #expect(run.status == 2, "\(args): \(run.stderr)")
            #expect(run.stderr.contains("encrypted member not scanned"), "\(run.stderr)")
        }
    }

    /// Limits through the command line: a ratio bomb beside a token exits 1 (leaks first) and says once where
    /// and once which limit, with the flag that raises it; alone it exits 2, even with --skip-unreadable; the
    /// JSON summary counts it; raised, it is gone; bad values are bad usage.
    @Test func limitsAreReportedCountedAndRaisedByTheirFlags() throws {
        let dir = try TestPaths.makeTemporaryDirectory("mptscan-limits")
        defer { try? FileManager.default.removeItem(at: dir) }
        let bomb = ArchiveBuilder.zip([("zeros.bin", [UInt8](repeating: 0, count: 16 << 20))])
        try Data(bomb).write(to: dir.appendingPathComponent("bomb.zip"))
        let alone = try CLITests.run(["scan", dir.path])
        #expect(alone.status == 2, "\(alone.stderr)")
        #expect(alone.stderr.components(separatedBy: "mptscan: error: bomb.zip: archive partly unscanned").count == 2, "\(alone.stderr)")
        #expect(alone.stderr.components(separatedBy: "mptscan: limit --max-archive-ratio 1000 reached once").count == 2, "\(alone.stderr)")
        #expect(alone.stderr.contains("raise it with --max-archive-ratio <n>"))
        #expect(alone.stderr.contains("1 path left partly unscanned at a limit: the scan is incomplete"))
        #expect(try CLITests.run(["scan", "--skip-unreadable", dir.path]).status == 2, "a limit is not an unreadable path")
        let raised = try CLITests.run(["scan", "--max-archive-ratio", "100000", dir.path])
        #expect(raised.status == 0, "\(raised.stderr)")

        try Data("k=\(SyntheticTokens.token(seed: 1206))\n".utf8).write(to: dir.appendingPathComponent("leak.env"))
        let json = try CLITests.run(["scan", "--format", "json", dir.path])
        #expect(json.status == 1)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let summary = try #require(report["summary"] as? [String: Any])
        #expect(summary["complete"] as? Bool == false)
        let reached = try #require(summary["limits_reached"] as? [[String: Any]])
        #expect(reached.count == 1)
        #expect(reached.first?["limit"] as? String == "max-archive-ratio")
        #expect(reached.first?["flag"] as? String == "--max-archive-ratio")
        #expect(reached.first?["value"] as? Int == 1000)
        #expect(reached.first?["count"] as? Int == 1)
        let unreadable = try #require(summary["unreadable"] as? [[String: Any]])
        #expect(unreadable.first?["limit"] as? String == "max-archive-ratio")

        for args in [["--max-archive-depth", "-1"], ["--max-decode-depth", "4"], ["--max-archive-size", "1.5G"],
                     ["--max-findings-per-file", "0"], ["--snippet-context", "5000"], ["--max-archive-ratio", "x"]] {
            let bad = try CLITests.run(["scan"] + args + [dir.path])
            #expect(bad.status == 64, "\(args): \(bad.stderr)")
            #expect(bad.stderr.contains(args[0]), "\(bad.stderr)")
        }
        // the git commands take the same flags
        for command in ["history", "staged", "pre-push", "sweep"] {
            let help = try CLITests.run([command, "--help"])
            #expect(help.stdout.contains("--max-archive-depth <n>") && help.stdout.contains("--max-findings-per-file <n>"), "\(command)")
        }
    }
}
