import Foundation
import Testing
import MPTScanKit
import _MPTScanTestSupport

/// The git subcommands through the built binary and through git itself: hooks installed, commits and pushes
/// blocked or let through.
@Suite struct GitCLITests {
    @Test func historyReportsJSONWithProvenanceAndExitCodes() throws {
        let repo = try GitRecipe()
        let token = SyntheticTokens.token(seed: 401)
        try repo.write("app.js", "const t = '\(token)';\n")
        let commit = try repo.commit("leak", author: "Carol", email: "carol@example.test")
        let run = try CLITests.run(["history", "--format", "json", repo.path])
        #expect(run.status == 1)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        let findings = try #require(json["findings"] as? [[String: Any]])
        #expect(findings.count == 1)
        let git = try #require(findings.first?["git"] as? [String: Any])
        #expect(git["commit"] as? String == commit)
        #expect(git["author_name"] as? String == "Carol")
        #expect(git["present_at_head"] as? Bool == true)
        #expect(!run.stdout.contains(String(token.suffix(60))), "redacted by default")

        let notRepo = try CLITests.run(["history", FileManager.default.temporaryDirectory.path])
        #expect(notRepo.status == 2)
        #expect(notRepo.stderr.contains("not a git repository"))
        let badRange = try CLITests.run(["history", "--range", "nope..HEAD", repo.path])
        #expect(badRange.status == 2)
        #expect(badRange.stderr.contains("nope"))
        let injected = try CLITests.run(["history", "--range", "--output=/tmp/x..y", repo.path])
        #expect(injected.status == 64)
    }

    /// A git that cuts `cat-file --batch` short, or fails after a complete stream: never a clean scan.
    @Test(arguments: ["| head -c 300; exit 0", "; exit 3"])
    func aTruncatedOrFailingGitStreamIsNeverClean(_ tail: String) throws {
        let repo = try GitRecipe()
        for i in 0..<3 {
            try repo.write("f\(i).txt", String(repeating: "content line \(i)\n", count: 50))
            try repo.commit("c\(i)")
        }
        let realGit = try #require(ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":")
            .map { "\($0)/git" }.first { FileManager.default.isExecutableFile(atPath: $0) })
        let bin = repo.directory.deletingLastPathComponent().appendingPathComponent("fakebin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let script = """
            #!/bin/sh
            case " $* " in
              *" cat-file --batch --buffer "*) '\(realGit)' "$@" \(tail) ;;
            esac
            exec '\(realGit)' "$@"

            """
        try Data(script.utf8).write(to: bin.appendingPathComponent("git"))
        chmod(bin.appendingPathComponent("git").path, 0o755)
        // the full history reads objects through cat-file only when told to (or when it cannot read the packs)
        let env = ["PATH": bin.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? ""), "MPTSCAN_GIT_OBJECTS": "cat-file"]
        for command in [["history", repo.path], ["history", "--range", "HEAD~2..HEAD", repo.path]] {
            let run = try CLITests.run(command, environment: env)
            #expect(run.status == 2, "\(command): \(run.stderr)")
            #expect(run.stderr.contains("git cat-file stopped after"), "\(run.stderr)")
        }
    }

    /// `MPTSCAN_GIT_OBJECTS=cat-file` reads the objects through git instead of the pack files: the same bytes.
    @Test func readingObjectsThroughGitGivesTheSameReport() throws {
        let repo = try GitRecipe()
        for i in 0..<6 {
            try repo.write("config.env", "KEY=\(SyntheticTokens.token(seed: 410 + i % 2))\nline \(i)\n" + String(repeating: "padding \(i % 3)\n", count: 30))
            try repo.commit("c\(i)")
            if i == 2 { try repo.git("gc", "-q") }
        }
        let packs = try CLITests.run(["history", "--format", "json", "--show-secrets", repo.path])
        let git = try CLITests.run(["history", "--format", "json", "--show-secrets", repo.path], environment: ["MPTSCAN_GIT_OBJECTS": "cat-file"])
        #expect(packs.status == 1, "\(packs.stderr)")
        #expect(git.status == 1, "\(git.stderr)")
        #expect(packs.stdout == git.stdout)
        #expect(packs.stdout.contains(SyntheticTokens.token(seed: 411)))
    }

    @Test func theInstalledPreCommitHookBlocksATokenAndLetsACleanCommitThrough() throws {
        let repo = try GitRecipe()
        try repo.write("README.md", "hi\n")
        try repo.commit("init")
        let install = try CLITests.run(["install-hook", repo.path])
        #expect(install.status == 0, "\(install.stderr)")
        let hook = try String(contentsOfFile: repo.path + "/.git/hooks/pre-commit", encoding: .utf8)
        #expect(hook.contains("# mptscan-hook"))
        #expect(hook.contains(CLITests.binary.path))

        // clean commit: passes, the hook prints nothing
        try repo.write("notes.txt", "nothing secret\n")
        try repo.git("add", "notes.txt")
        let clean = try commitThroughHooks(repo, "clean")
        #expect(clean.status == 0)
        #expect(clean.stderr.isEmpty, "\(clean.stderr)")

        // a staged token: blocked, with where and the three ways out
        try repo.write("src/api.ts", "export const token = \"\(SyntheticTokens.token(seed: 402))\";\n")
        try repo.git("add", "src/api.ts")
        let blocked = try commitThroughHooks(repo, "leak")
        #expect(blocked.status != 0)
        #expect((blocked.stdout + blocked.stderr).contains("src/api.ts:1:23"), "git sends a hook's output to stderr")
        #expect(blocked.stderr.contains("remove the token"))
        #expect(blocked.stderr.contains("mptscan:allow"))
        #expect(blocked.stderr.contains("disable it"))
        #expect(try repo.git("log", "--format=%s", "-1") == "clean")

        // a foreign hook is kept: refused without a flag, chained with --chain
        try Data("#!/bin/sh\necho foreign-ran >&2\n".utf8).write(to: URL(fileURLWithPath: repo.path + "/.git/hooks/pre-push"))
        let refused = try CLITests.run(["install-hook", "--pre-push", repo.path])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("not written by mptscan"))
        let chained = try CLITests.run(["install-hook", "--pre-push", "--chain", repo.path])
        #expect(chained.status == 0, "\(chained.stderr)")
        #expect(FileManager.default.fileExists(atPath: repo.path + "/.git/hooks/pre-push.local"))
    }

    @Test func installHookForceKeepsABackupAndBareRepositoriesAreRefused() throws {
        let repo = try GitRecipe()
        let hook = repo.path + "/.git/hooks/pre-commit"
        try FileManager.default.createDirectory(atPath: repo.path + "/.git/hooks", withIntermediateDirectories: true)
        try Data("#!/bin/sh\necho theirs\n".utf8).write(to: URL(fileURLWithPath: hook))
        let forced = try CLITests.run(["install-hook", "--force", repo.path])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try String(contentsOfFile: hook + ".mptscan-backup", encoding: .utf8).contains("echo theirs"))
        #expect(try String(contentsOfFile: hook, encoding: .utf8).contains("# mptscan-hook"))
        let both = try CLITests.run(["install-hook", "--force", "--chain", repo.path])
        #expect(both.status == 64)

        let bare = repo.directory.deletingLastPathComponent().appendingPathComponent("bare.git")
        try repo.run(["init", "-q", "--bare", bare.path])
        let refused = try CLITests.run(["install-hook", bare.path])
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("bare repository"))
    }

    @Test func historyUsageErrorsSayWhatToDo() throws {
        let repo = try GitRecipe()
        try repo.write("a", "a\n")
        try repo.commit("a")
        let rangeAsPath = try CLITests.run(["history", "HEAD~1..HEAD"], environment: [:])
        #expect(rangeAsPath.status == 64)
        #expect(rangeAsPath.stderr.contains("--range HEAD~1..HEAD"))
        for args in [["--range", "A..B", "--since-commit", "X"], ["--all-objects", "--range", "A..B"],
                     ["--recurse-submodules", "--range", "A..B"], ["--range", ".."], ["--jobs", "0"]] {
            let run = try CLITests.run(["history"] + args + [repo.path])
            #expect(run.status == 64, "\(args): \(run.stderr)")
        }
    }

    @Test func installHookHonoursCoreHooksPath() throws {
        let repo = try GitRecipe()
        try repo.git("config", "core.hooksPath", "githooks")
        let install = try CLITests.run(["install-hook", repo.path])
        #expect(install.status == 0, "\(install.stderr)")
        #expect(FileManager.default.fileExists(atPath: repo.path + "/githooks/pre-commit"))
    }

    @Test func prePushScansOnlyTheCommitsBeingPushed() throws {
        let remote = try GitRecipe("remote")
        try remote.git("config", "receive.denyCurrentBranch", "ignore")
        try remote.write("a.txt", "a\n")
        try remote.commit("init")
        let parent = remote.directory.deletingLastPathComponent()
        try remote.run(["clone", "-q", remote.path, parent.appendingPathComponent("work").path])
        let work = try GitRecipe.existing(parent.appendingPathComponent("work"))
        let install = try CLITests.run(["install-hook", "--pre-push", work.path])
        #expect(install.status == 0, "\(install.stderr)")

        try work.write("b.txt", "clean\n")
        try work.commit("clean")
        let ok = try work.run(["push", "-q", "origin", "main"], environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? ""], allowFailure: true)
        #expect(ok.status == 0, "\(ok.stderr)")

        try work.git("checkout", "-q", "-b", "topic")
        try work.write("c.txt", "\(SyntheticTokens.token(seed: 403))\n")
        try work.commit("leak on a new branch")
        let blocked = try work.run(["push", "-q", "origin", "topic"], allowFailure: true)
        #expect(blocked.status != 0)
        #expect(blocked.stdout.contains("c.txt") || blocked.stderr.contains("c.txt"), "\(blocked.stderr)")
        #expect(blocked.stderr.contains("this push would publish"))
    }

    /// `git commit` with hooks enabled (the recipe's own commits skip nothing either).
    func commitThroughHooks(_ repo: GitRecipe, _ message: String) throws -> GitRecipe.Result {
        try repo.run(["commit", "-q", "-m", message], environment: repo.dated(), allowFailure: true)
    }
}
