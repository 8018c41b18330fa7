import Foundation
import XCTest
@testable import MPTScanKit
import _MPTScanTestSupport

/// History, range and staged scans over repositories built from recipes at test time.
final class GitHistoryTests: XCTestCase {
    let detector = TokenDetector(rules: BuiltinRules.all)

    func history(_ repo: GitRecipe, allObjects: Bool = false, revisions: [String]? = nil, jobs: Int = 2,
                 messages: Bool = true, excludes: [String] = [], recurse: Bool = false, push: PrePush.Push? = nil) throws -> ScanReport {
        try self.history(path: repo.path, allObjects: allObjects, revisions: revisions, jobs: jobs, messages: messages,
                         excludes: excludes, recurse: recurse, push: push)
    }

    /// A history scan of the repository at `path` (a range when `revisions` or `push` is given).
    func history(path: String, allObjects: Bool = false, revisions: [String]? = nil, jobs: Int = 2,
                 messages: Bool = true, excludes: [String] = [], recurse: Bool = false, push: PrePush.Push? = nil) throws -> ScanReport {
        var options = HistoryOptions()
        options.repository = path
        options.allObjects = allObjects
        options.revisions = push?.revisions ?? revisions
        options.pushedObjects = push?.objects ?? []
        options.jobs = jobs
        options.objectsPerJob = 5 // several cat-file streams even for small recipes
        options.scanMessages = messages
        options.excludes = try excludes.map(PathGlob.init)
        options.recurseSubmodules = recurse
        return try HistoryScanner(detector: self.detector, options: options).run()
    }

    func staged(_ repo: GitRecipe) throws -> [Finding] {
        try StagedScanner(detector: self.detector).run(repository: repo.path).findings
    }

    func testDeletedFileLeakIsAttributedToTheCommitThatAddedIt() throws {
        let repo = try GitRecipe()
        let token = SyntheticTokens.token(seed: 301)
        try repo.write("README.md", "hello\n")
        try repo.commit("init")
        try repo.write("src/config.js", "// settings\nconst key = \"\(token)\";\n")
        let added = try repo.commit("add config", author: "Alice Leaker", email: "alice@example.test")
        try repo.write("README.md", "hello again\n")
        try repo.commit("edit readme")
        try repo.git("rm", "-q", "src/config.js")
        try repo.commit("remove config")

        let findings = try self.history(repo).findings
        XCTAssertEqual(findings.count, 1)
        let f = try XCTUnwrap(findings.first)
        XCTAssertEqual(f.path, "src/config.js")
        XCTAssertEqual(f.token, token)
        XCTAssertEqual(f.line, 2)
        XCTAssertEqual(f.column, 14)
        XCTAssertEqual(f.git?.commit, added)
        XCTAssertEqual(f.git?.authorName, "Alice Leaker")
        XCTAssertEqual(f.git?.authorEmail, "alice@example.test")
        XCTAssertEqual(f.git?.authorDate, "2023-11-14T22:15:20+00:00")
        XCTAssertEqual(f.git?.commitCount, 2, "the adding commit and the readme edit hold it")
        XCTAssertEqual(f.git?.presentAtHead, false)
        XCTAssertEqual(f.git?.source, .blob)
    }

    func testATokenLivingThroughManyCommitsAndBranchesIsReportedOnceAtItsFirstCommit() throws {
        let repo = try GitRecipe()
        let token = SyntheticTokens.token(seed: 302)
        try repo.write("a.txt", "0\n")
        try repo.commit("init")
        try repo.write("keys.env", "MPT_TOKEN=\(token)\n")
        let first = try repo.commit("add keys")
        for i in 1...12 {
            try repo.write("a.txt", "\(i)\n")
            try repo.commit("edit \(i)")
            if i % 3 == 0 { try repo.git("branch", "b\(i)") }
        }
        for jobs in [1, 2, 3] {
            let findings = try self.history(repo, jobs: jobs).findings
            XCTAssertEqual(findings.count, 1, "jobs \(jobs)")
            XCTAssertEqual(findings.first?.git?.commit, first)
            XCTAssertEqual(findings.first?.git?.commitCount, 13)
            XCTAssertEqual(findings.first?.git?.refCount, 5, "main, b3…b12 (HEAD is on main)")
            XCTAssertEqual(findings.first?.git?.exampleRef, "refs/heads/b12")
            XCTAssertEqual(findings.first?.git?.presentAtHead, true)
        }
    }

    func testLeaksOnAnUnmergedBranchInATagInTheStashAndInMessages() throws {
        let repo = try GitRecipe()
        let branchToken = SyntheticTokens.token(seed: 303), tagToken = SyntheticTokens.token(seed: 304)
        let stashToken = SyntheticTokens.token(seed: 305), messageToken = SyntheticTokens.token(seed: 306)
        let taggedToken = SyntheticTokens.token(seed: 307)
        try repo.write("a.txt", "a\n")
        try repo.commit("init")
        try repo.git("checkout", "-q", "-b", "feature")
        try repo.write("feature.yml", "token: \(branchToken)\n")
        let onBranch = try repo.commit("feature work")
        try repo.git("checkout", "-q", "main")
        // a commit reachable only from a lightweight tag
        try repo.git("checkout", "-q", "--detach")
        try repo.write("release.txt", "\(taggedToken)\n")
        let tagged = try repo.commit("release build")
        try repo.git("tag", "v1-light")
        try repo.git("checkout", "-q", "main")
        try repo.run(["tag", "-a", "v1", "-m", "release notes mention \(tagToken)"], environment: repo.dated())
        let messaged = try repo.commit("oops \(messageToken)", allowEmpty: true)
        try repo.write("wip.txt", "\(stashToken)\n")
        try repo.git("add", "wip.txt")
        try repo.run(["stash", "-q"], environment: repo.dated())

        let findings = try self.history(repo, allObjects: false).findings
        let byToken = Dictionary(grouping: findings, by: \.token)
        XCTAssertEqual(byToken[branchToken]?.count, 1)
        XCTAssertEqual(byToken[branchToken]?.first?.git?.commit, onBranch)
        XCTAssertEqual(byToken[branchToken]?.first?.git?.exampleRef, "refs/heads/feature")
        XCTAssertEqual(byToken[taggedToken]?.first?.git?.commit, tagged)
        XCTAssertEqual(byToken[taggedToken]?.first?.git?.exampleRef, "refs/tags/v1-light")
        XCTAssertEqual(byToken[tagToken]?.first?.git?.source, .tagMessage)
        XCTAssertEqual(byToken[tagToken]?.first?.git?.tag, "v1")
        XCTAssertEqual(byToken[stashToken]?.first?.path, "wip.txt")
        XCTAssertEqual(byToken[stashToken]?.first?.git?.exampleRef, "refs/stash")
        let messages = try XCTUnwrap(byToken[messageToken])
        XCTAssertTrue(messages.contains { $0.git?.source == .commitMessage && $0.git?.commit == messaged })
    }

    func testATokenIntroducedByAMergeResolutionIsAttributedToTheMerge() throws {
        let repo = try GitRecipe()
        let token = SyntheticTokens.token(seed: 308)
        try repo.write("conf.ini", "a=1\n")
        try repo.commit("init")
        try repo.git("checkout", "-q", "-b", "side")
        try repo.write("conf.ini", "a=2\n")
        try repo.commit("side")
        try repo.git("checkout", "-q", "main")
        try repo.write("conf.ini", "a=3\n")
        try repo.commit("main")
        _ = try? repo.run(["merge", "-q", "side"], environment: repo.dated())
        try repo.write("conf.ini", "a=4\nkey=\(token)\n")
        try repo.git("add", "conf.ini")
        try repo.run(["commit", "-q", "--no-edit"], environment: repo.dated())
        let merge = try repo.git("rev-parse", "HEAD")

        let findings = try self.history(repo).findings
        XCTAssertEqual(findings.count, 1)
        XCTAssertEqual(findings.first?.git?.commit, merge)
        XCTAssertEqual(findings.first?.line, 2)
        let range = try self.history(repo, revisions: ["HEAD^..HEAD"]).findings
        XCTAssertEqual(range.map(\.token), [token], "the resolution is what the merge introduces")
    }

    func testRenamedFilesAndAwkwardNames() throws {
        let repo = try GitRecipe()
        let token = SyntheticTokens.token(seed: 309)
        let names = ["dir with space/ünïcode file.txt", "-leading-dash.txt", "new\nline.txt", "tab\tname.txt"]
        try repo.write("a.txt", "\(token)\n")
        let first = try repo.commit("add")
        try repo.git("mv", "a.txt", "b.txt")
        let renamed = try repo.commit("rename")
        for name in names { try repo.write(name, "x \(token)\n") }
        try repo.commit("spread")
        let findings = try self.history(repo).findings
        XCTAssertEqual(Set(findings.map(\.path)), Set(["a.txt", "b.txt"] + names))
        XCTAssertEqual(findings.first { $0.path == "a.txt" }?.git?.commit, first)
        XCTAssertEqual(findings.first { $0.path == "b.txt" }?.git?.commit, renamed)
        XCTAssertEqual(findings.first { $0.path == "a.txt" }?.git?.presentAtHead, false)
        XCTAssertEqual(findings.first { $0.path == "b.txt" }?.git?.presentAtHead, true)
        // a range over the rename alone introduces nothing: the renamed file held the token already
        XCTAssertEqual(try self.history(repo, revisions: ["\(first)..\(renamed)"]).findings.count, 0)
    }

    func testUnreachableObjectsNeedAllObjects() throws {
        let repo = try GitRecipe()
        let token = SyntheticTokens.token(seed: 310)
        try repo.write("a.txt", "a\n")
        try repo.commit("init")
        try repo.write("leak.txt", "\(token)\n")
        let lost = try repo.commit("leak")
        try repo.git("reset", "-q", "--hard", "HEAD~1")
        try repo.git("reflog", "expire", "--expire=now", "--all")
        let dangling = SyntheticTokens.token(seed: 311)
        try repo.write("dangling.txt", "\(dangling)\n")
        try repo.git("add", "dangling.txt")
        try repo.git("rm", "-q", "--cached", "dangling.txt")

        let normal = try self.history(repo)
        XCTAssertEqual(normal.findings.count, 0)
        XCTAssertEqual(normal.summary.unreachableHits, 2)
        let all = try self.history(repo, allObjects: true).findings
        XCTAssertEqual(all.first { $0.token == token }?.git?.commit, lost)
        XCTAssertEqual(all.first { $0.token == token }?.git?.unreachable, true)
        XCTAssertEqual(all.first { $0.token == dangling }?.git?.unreachable, true)
        XCTAssertNil(all.first { $0.token == dangling }?.git?.commit)
    }

    func testRangesReportOnlyWhatTheirCommitsIntroduce() throws {
        let repo = try GitRecipe()
        let old = SyntheticTokens.token(seed: 312), new = SyntheticTokens.token(seed: 313)
        try repo.write("a.txt", "keep \(old)\nline 2\n")
        let base = try repo.commit("base")
        try repo.write("a.txt", "keep \(old)\nline 2 edited\n")
        try repo.commit("edit next to an old token")
        try repo.write("b.txt", "\(new)\n")
        let adds = try repo.commit("add new token", author: "Bob", email: "bob@example.test")
        let findings = try self.history(repo, revisions: ["\(base)..HEAD"]).findings
        XCTAssertEqual(findings.map(\.token), [new])
        XCTAssertEqual(findings.first?.git?.commit, adds)
        XCTAssertEqual(findings.first?.git?.authorName, "Bob")
        XCTAssertThrowsError(try self.history(repo, revisions: ["nosuchrev..HEAD"])) { error in
            XCTAssertTrue("\(error)".contains("nosuchrev"), "\(error)")
        }
    }

    func testStagedScansTheIndexNotTheWorkTree() throws {
        let repo = try GitRecipe()
        let committed = SyntheticTokens.token(seed: 314), staged = SyntheticTokens.token(seed: 315)
        let worktreeOnly = SyntheticTokens.token(seed: 316)
        // no commit yet: everything staged counts
        try repo.write("first.txt", "\(committed)\n")
        try repo.git("add", "first.txt")
        XCTAssertEqual(try self.staged(repo).map(\.token), [committed])
        try repo.commit("first")
        XCTAssertEqual(try self.staged(repo).count, 0)

        // editing the line next to a committed token, and removing a token, report nothing
        try repo.write("first.txt", "\(committed)\nnew line\n")
        try repo.git("add", "first.txt")
        XCTAssertEqual(try self.staged(repo).count, 0)
        try repo.write("first.txt", "nothing\n")
        try repo.git("add", "first.txt")
        XCTAssertEqual(try self.staged(repo).count, 0)

        // a token only in the work tree is not reported; one only in the index is
        try repo.write("second.txt", "\(worktreeOnly)\n")
        XCTAssertEqual(try self.staged(repo).count, 0)
        try repo.write("third.txt", "a\nb \(staged)\n")
        try repo.git("add", "third.txt")
        try repo.write("third.txt", "cleaned up in the work tree only\n")
        let findings = try self.staged(repo)
        XCTAssertEqual(findings.map(\.token), [staged])
        XCTAssertEqual(findings.first?.path, "third.txt")
        XCTAssertEqual(findings.first?.line, 2)
        XCTAssertEqual(findings.first?.git?.source, .staged)
    }

    func testStagedBinaryFilesAndRenames() throws {
        let repo = try GitRecipe()
        let token = SyntheticTokens.token(seed: 317)
        try repo.write("keep.txt", "\(token)\n")
        try repo.commit("keep")
        try repo.git("mv", "keep.txt", "moved.txt")
        XCTAssertEqual(try self.staged(repo).count, 0, "a rename adds no token")
        try repo.commit("moved")
        var binary = Data([0, 1, 2, 0xFF, 0])
        binary.append(Data(SyntheticTokens.token(seed: 318).utf8))
        binary.append(Data([0, 0, 7]))
        try binary.write(to: repo.directory.appendingPathComponent("blob.bin"))
        try repo.git("add", "blob.bin")
        XCTAssertEqual(try self.staged(repo).map(\.path), ["blob.bin"])
    }

    /// A committed archive (a release zip holding an apk, a tar.gz) is opened like one on disk: its members are
    /// scanned and named after the blob's path; a zip bomb in history makes the scan incomplete.
    func testArchivesCommittedToHistoryAreOpened() throws {
        let repo = try GitRecipe()
        let inApk = SyntheticTokens.token(seed: 331), inTar = SyntheticTokens.token(seed: 332)
        let apk = ArchiveBuilder.zip([("assets/index.android.bundle", Array("var t=\"\(inApk)\";\n".utf8))])
        try Data(ArchiveBuilder.zip([("README.txt", Array("notes\n".utf8)), ("app.apk", apk)])).write(to: repo.directory.appendingPathComponent("release.zip"))
        let tar = ArchiveBuilder.tar([("srv/.env", Array("A=1\nMPT_API_TOKEN=\(inTar)\n".utf8))])
        try FileManager.default.createDirectory(at: repo.directory.appendingPathComponent("dist"), withIntermediateDirectories: true)
        try Data(ArchiveBuilder.gzip(tar)).write(to: repo.directory.appendingPathComponent("dist/srv.tgz"))
        try repo.git("add", "-A")
        let added = try repo.commit("release artifacts")
        try repo.git("rm", "-q", "release.zip")
        try repo.commit("drop the zip")

        let report = try self.history(repo)
        XCTAssertEqual(report.findings.map(\.path).sorted(), ["dist/srv.tgz!srv/.env", "release.zip!app.apk!assets/index.android.bundle"])
        XCTAssertEqual(Set(report.findings.map(\.token)), [inApk, inTar])
        XCTAssertEqual(report.findings.first { $0.token == inTar }?.line, 2)
        XCTAssertEqual(Set(report.findings.compactMap(\.git?.commit)), [added])
        XCTAssertTrue(report.summary.unreadable.isEmpty)

        // a range and a staged scan name members the same way
        XCTAssertEqual(try self.history(repo, revisions: ["HEAD"]).findings.map(\.path).sorted(),
                       ["dist/srv.tgz!srv/.env", "release.zip!app.apk!assets/index.android.bundle"])
        try Data(ArchiveBuilder.zip([("k.txt", Array("\(SyntheticTokens.token(seed: 333))\n".utf8))])).write(to: repo.directory.appendingPathComponent("new.jar"))
        try repo.git("add", "new.jar")
        XCTAssertEqual(try self.staged(repo).map(\.path), ["new.jar!k.txt"])

        // a bomb: bytes left unscanned, so the scan is incomplete
        let bomb = ArchiveBuilder.zip([("zeros.bin", [UInt8](repeating: 0, count: 8 << 20))])
        try Data(bomb).write(to: repo.directory.appendingPathComponent("bomb.zip"))
        // a truncated zip (no central directory): its bytes are scanned as they are, and the scan is incomplete
        let cut = ArchiveBuilder.zip([("a.js", Array("var t=\"\(SyntheticTokens.token(seed: 334))\";\n".utf8))], stored: true)
        try Data(cut.dropLast(30)).write(to: repo.directory.appendingPathComponent("cut.zip"))
        try repo.git("add", "bomb.zip", "cut.zip")
        try repo.commit("bomb and a truncated zip")
        let incomplete = try self.history(repo)
        XCTAssertEqual(incomplete.summary.unreadable.count, 2, "\(incomplete.summary.unreadable)")
        XCTAssertTrue(incomplete.summary.unreadable.allSatisfy { $0.message.hasPrefix("archive partly unscanned: ") })
        XCTAssertTrue(incomplete.summary.unreadable.contains { $0.message.contains("unreadable, scanned as plain bytes") })
        XCTAssertTrue(incomplete.findings.contains { $0.path == "cut.zip" && $0.token == SyntheticTokens.token(seed: 334) },
                      "a stored member's bytes are still read")
    }

    func testGitIsNeverAskedToRunCodeFromTheRepository() throws {
        let repo = try GitRecipe()
        let marker = repo.directory.deletingLastPathComponent().appendingPathComponent("pwned").path
        let command = "touch \(marker)"
        try repo.write(".gitattributes", "* filter=evil diff=evil\n")
        try repo.write("a.txt", "\(SyntheticTokens.token(seed: 319))\n")
        try repo.commit("init")
        try repo.write("b.txt", "\(SyntheticTokens.token(seed: 320))\n")
        try repo.git("add", "b.txt") // staged before the hostile configuration: git itself would run it
        try repo.write("hooks/post-checkout", "#!/bin/sh\n\(command)\n")
        try repo.write("a.txt", "changed\n")
        for (key, value) in [("core.fsmonitor", command), ("core.pager", command), ("diff.external", command),
                             ("filter.evil.smudge", command), ("filter.evil.clean", command), ("filter.evil.process", command),
                             ("diff.evil.textconv", command), ("core.sshCommand", command), ("pager.log", command),
                             ("core.hooksPath", repo.directory.appendingPathComponent("hooks").path)] {
            try repo.git("config", key, value)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "the recipe itself ran the command")

        XCTAssertEqual(try self.history(repo).findings.count, 1)
        XCTAssertEqual(try self.history(repo, revisions: ["HEAD"]).findings.count, 1)
        XCTAssertEqual(try self.staged(repo).count, 1)
        XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "scanning ran a command from .git/config")
    }

    func testErrorsAreNeverClean() throws {
        let plain = FileManager.default.temporaryDirectory.appendingPathComponent("mptscan-notgit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: plain, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: plain) }
        XCTAssertThrowsError(try self.history(path: plain.path)) { error in
            XCTAssertTrue("\(error)".contains("not a git repository"), "\(error)")
        }

        let origin = try GitRecipe("origin")
        for i in 0..<3 {
            try origin.write("f.txt", "\(i)\n")
            try origin.commit("c\(i)")
        }
        let clone = origin.directory.deletingLastPathComponent().appendingPathComponent("shallow")
        try origin.run(["clone", "-q", "--depth", "1", "file://\(origin.path)", clone.path])
        XCTAssertThrowsError(try self.history(path: clone.path)) { error in
            XCTAssertTrue("\(error)".contains("shallow clone (1 commits available"), "\(error)")
            XCTAssertTrue("\(error)".contains("git fetch --unshallow"), "\(error)")
        }
        XCTAssertNoThrow(try self.history(path: clone.path, revisions: ["HEAD"]), "a range within the history is fine")
    }

    func testPrePushInputBecomesRevisions() throws {
        let repo = try GitRecipe()
        try repo.write("a", "a\n")
        let a = try repo.commit("a")
        try repo.run(["tag", "-a", "v1", "-m", "release"], environment: repo.dated())
        let tag = try repo.git("rev-parse", "v1")
        try repo.git("remote", "add", "origin", "https://example.test/repo.git")
        try repo.git("remote", "add", "origin/b", "https://example.test/other.git")
        try repo.git("update-ref", "refs/remotes/origin/main", a)
        try repo.write("b", "b\n")
        let b = try repo.commit("b")
        try repo.git("update-ref", "refs/remotes/origin/b/feat", b) // another remote's ref: not excluded for origin
        let zero = String(repeating: "0", count: 40)
        let git = Git(directory: repo.path)
        func parse(_ text: String, remote: String? = "origin") throws -> PrePush.Push { try PrePush.parse(text, remote: remote, git: git) }
        XCTAssertEqual(try parse("refs/heads/x \(zero) refs/heads/x \(a)\n").revisions, [], "a deletion sends nothing")
        XCTAssertEqual(try parse("refs/heads/main \(b) refs/heads/main \(zero)\n").revisions, [b, "^" + a])
        XCTAssertEqual(try parse("refs/heads/main \(b) refs/heads/main \(zero)\n", remote: "https://example.test/other.git").revisions, [b],
                       "pushing to a URL: nothing is known to be there")
        XCTAssertEqual(try parse("refs/heads/main \(a) refs/heads/main \(a)\n").revisions, [a, "^" + a])
        let unknown = String(repeating: "1", count: 40)
        XCTAssertEqual(try parse("refs/heads/main \(b) refs/heads/main \(unknown)\n").revisions, [b, "^" + a])
        XCTAssertEqual(try parse("refs/heads/main \(b) refs/heads/main \(zero)\n", remote: nil).revisions, [b, "--not", "--remotes"])
        let tagPush = try parse("refs/tags/v1 \(tag) refs/tags/v1 \(zero)\nrefs/tags/v1 \(tag) refs/tags/v1 \(zero)\n")
        XCTAssertEqual(tagPush.objects.map(\.description), [tag], "an annotated tag is scanned itself, once")
        let blob = try repo.git("hash-object", "-w", "--stdin", input: "data\n")
        let blobPush = try parse("refs/tags/raw \(blob) refs/tags/raw \(zero)\n")
        XCTAssertEqual(blobPush.objects.map(\.description), [blob], "a tag on a blob sends the blob")
        XCTAssertFalse(blobPush.revisions.contains(blob), "a blob is no revision")
        XCTAssertThrowsError(try parse("garbage\n"))
    }

    func testAPushedAnnotatedTagMessageIsScanned() throws {
        let repo = try GitRecipe()
        let token = SyntheticTokens.token(seed: 330)
        try repo.write("a", "a\n")
        try repo.commit("a")
        try repo.run(["tag", "-a", "v2", "-m", "notes \(token)"], environment: repo.dated())
        let push = try PrePush.parse("refs/tags/v2 \(try repo.git("rev-parse", "v2")) refs/tags/v2 \(String(repeating: "0", count: 40))\n",
                                     remote: nil, git: Git(directory: repo.path))
        let findings = try self.history(repo, push: push).findings
        XCTAssertEqual(findings.map(\.token), [token])
        XCTAssertEqual(findings.first?.git?.source, .tagMessage)
    }

    func testAPushedTagOnATreeIsScannedAtItsPaths() throws {
        let repo = try GitRecipe()
        let token = SyntheticTokens.token(seed: 336)
        try repo.write("a", "a\n")
        try repo.commit("a")
        let blob = try repo.git("hash-object", "-w", "--stdin", input: "\(token)\n")
        let tree = try repo.git("mktree", input: "100644 blob \(blob)\ts.env\n")
        let push = try PrePush.parse("refs/tags/t \(tree) refs/tags/t \(String(repeating: "0", count: 40))\n", remote: nil, git: Git(directory: repo.path))
        let findings = try self.history(repo, push: push).findings
        XCTAssertEqual(findings.map(\.path), ["s.env"])
    }

    func testAnAllowCommentRemovedLaterDoesNotHideTheToken() throws {
        let repo = try GitRecipe()
        let token = SyntheticTokens.token(seed: 331)
        try repo.write("t.js", "const T = \"\(token)\"; // mptscan:allow\n")
        try repo.commit("allowed fixture")
        try repo.write("t.js", "const T = \"\(token)\";\n")
        try repo.git("add", "t.js")
        XCTAssertEqual(try self.staged(repo).map(\.isSuppressed), [false], "the index drops the allow comment")
        let exposed = try repo.commit("allow removed")
        XCTAssertEqual(try self.history(repo, revisions: ["HEAD~1..HEAD"]).findings.map(\.isSuppressed), [false])
        let full = try self.history(repo).findings
        XCTAssertEqual(full.count, 1)
        XCTAssertEqual(full.first?.isSuppressed, false)
        XCTAssertEqual(full.first?.git?.commit, exposed)
    }

    func testRefsToBlobsAndTreesNoMessagesAndExcludedDirectories() throws {
        let repo = try GitRecipe()
        let blobToken = SyntheticTokens.token(seed: 332), treeToken = SyntheticTokens.token(seed: 333)
        let fileToken = SyntheticTokens.token(seed: 334)
        try repo.write("dist/app.js", "x='\(fileToken)'\n")
        try repo.commit("build output")
        let blob = try repo.git("hash-object", "-w", "--stdin", input: "k=\(blobToken)\n")
        try repo.git("tag", "-a", "-m", "a key", "keys", blob)
        let inner = try repo.git("hash-object", "-w", "--stdin", input: "\(treeToken)\n")
        let tree = try repo.git("mktree", input: "100644 blob \(inner)\tsecret.txt\n")
        try repo.git("tag", "snapshot", tree)

        let findings = try self.history(repo, messages: false).findings
        XCTAssertEqual(Set(findings.map(\.token)), [blobToken, treeToken, fileToken], "--no-messages still attributes blobs")
        XCTAssertEqual(findings.first { $0.token == treeToken }?.path, "secret.txt")
        XCTAssertEqual(findings.first { $0.token == blobToken }?.git?.exampleRef, "refs/tags/keys")
        for pattern in ["dist/", "dist", "/dist", "*.js", "dist/**"] {
            XCTAssertFalse(try self.history(repo, excludes: [pattern]).findings.contains { $0.token == fileToken }, pattern)
        }
    }

    func testReplaceRefsCannotHideACommit() throws {
        let repo = try GitRecipe()
        let token = SyntheticTokens.token(seed: 335)
        try repo.write("a.txt", "a\n")
        let clean = try repo.commit("base")
        try repo.write("s.txt", "\(token)\n")
        let leak = try repo.commit("leak")
        try repo.git("rm", "-q", "s.txt")
        try repo.commit("remove")
        try repo.git("replace", leak, clean)
        XCTAssertEqual(try self.history(repo).findings.first?.git?.commit, leak)
        XCTAssertEqual(try self.history(repo, revisions: ["HEAD"]).findings.map(\.token), [token])
    }

    func testSubmoduleHistoriesWithRecurseSubmodules() throws {
        let library = try GitRecipe("library")
        let token = SyntheticTokens.token(seed: 360)
        try library.write("secret.txt", "\(token)\n")
        let leak = try library.commit("leak in the library", author: "Lib Dev", email: "lib@example.test")
        try library.git("rm", "-q", "secret.txt")
        try library.commit("remove")
        let app = try GitRecipe("app")
        try app.write("README.md", "app\n")
        try app.commit("init")
        try app.run(["-c", "protocol.file.allow=always", "submodule", "add", "-q", library.path, "vendor/lib"], environment: app.dated())
        try app.commit("add submodule")

        XCTAssertEqual(try self.history(app).findings.count, 0, "without the flag the submodule's history is not read")
        let findings = try self.history(app, recurse: true).findings
        XCTAssertEqual(findings.map(\.path), ["vendor/lib/secret.txt"])
        XCTAssertEqual(findings.first?.git?.submodule, "vendor/lib")
        XCTAssertEqual(findings.first?.git?.commit, leak)
        XCTAssertEqual(findings.first?.git?.authorName, "Lib Dev")
    }

    func testSubmodulesClonedInPlaceRemovedOrNotInitialised() throws {
        let inner = try GitRecipe("inner")
        let token = SyntheticTokens.token(seed: 361)
        try inner.write("k.txt", "\(token)\n")
        try inner.commit("key")
        let app = try GitRecipe("app2")
        try app.write("README.md", "app\n")
        try app.commit("init")
        // a repository cloned in place, then added: its .git stays a folder in the work tree
        try app.run(["clone", "-q", inner.path, app.path + "/emb"])
        try app.run(["-c", "protocol.file.allow=always", "submodule", "add", "-q", inner.path, "emb"], environment: app.dated())
        // a submodule added, then removed from the work tree (its git directory stays under .git/modules)
        try app.run(["-c", "protocol.file.allow=always", "submodule", "add", "-q", inner.path, "gone"], environment: app.dated())
        try app.commit("subs")
        try app.git("rm", "-q", "gone")
        try? FileManager.default.removeItem(atPath: app.path + "/gone")
        try app.commit("drop gone")
        let report = try self.history(app, recurse: true)
        XCTAssertEqual(Set(report.findings.map(\.path)), ["emb/k.txt", "gone/k.txt"])
        XCTAssertTrue(report.summary.unreadable.isEmpty)

        // declared but never initialised: the scan is incomplete, and says how to fix it
        let fresh = app.directory.deletingLastPathComponent().appendingPathComponent("fresh")
        try app.run(["clone", "-q", app.path, fresh.path])
        let partial = try self.history(path: fresh.path, recurse: true)
        XCTAssertEqual(partial.summary.unreadable.map(\.path), ["emb"])
        XCTAssertTrue(partial.summary.unreadable.first?.message.contains("git submodule update --init") ?? false)
    }

    func testPartialClonesAreRefused() throws {
        let origin = try GitRecipe("origin-partial")
        try origin.git("config", "uploadpack.allowFilter", "true")
        try origin.write("a.txt", "\(SyntheticTokens.token(seed: 362))\n")
        try origin.commit("a")
        try origin.git("rm", "-q", "a.txt")
        try origin.commit("rm")
        let clone = origin.directory.deletingLastPathComponent().appendingPathComponent("partial")
        try origin.run(["clone", "-q", "--filter=blob:none", "file://\(origin.path)", clone.path])
        XCTAssertThrowsError(try self.history(path: clone.path)) { error in
            XCTAssertTrue("\(error)".contains("partial clone"), "\(error)")
        }
    }

    func testParallelStreamsGiveTheSameFindings() throws {
        let repo = try GitRecipe()
        for i in 0..<12 {
            try repo.write("f\(i % 4).txt", "v\(i) \(SyntheticTokens.token(seed: 340 + i))\n")
            try repo.commit("c\(i)")
        }
        let one = try self.history(repo, jobs: 1).findings
        XCTAssertEqual(one.count, 12)
        for jobs in [2, 3, 8] { XCTAssertEqual(try self.history(repo, jobs: jobs).findings, one, "jobs \(jobs)") }
    }

    func testObjectIDsAndDates() {
        let hex = "0123456789abcdef0123456789abcdef01234567"
        XCTAssertEqual(ObjectID(hex)?.description, hex)
        let long = String(repeating: "fedcba9876543210", count: 4)
        XCTAssertEqual(ObjectID(long)?.description, long)
        XCTAssertNil(ObjectID("xyz"))
        XCTAssertEqual(CommitHeader.isoDate(0, offset: "+0000"), "1970-01-01T00:00:00+00:00")
        // the graph-only parse gives the committer time the full parse gives, malformed lines included
        for committer in ["A <a@x> 1700000000 +0100", "A <a@x>  -42 +0000", "A <a@x> +7", "<> 12", "A a@x> 5",
                          "A <a@x>", "A <a@x> x1 +0000", "A <a> b> 99 +0000", "A <a@x> 99999999999999999999 +0000", "A <a@x> 17\u{e9} 1"] {
            let raw = Array("tree 0\nparent 0123456789abcdef0123456789abcdef01234567\ncommitter \(committer)\n\nmessage\n".utf8)
            raw.withUnsafeBufferPointer { b in
                let full = CommitHeader(b), graph = CommitHeader(b, authors: false)
                XCTAssertEqual(full.committerTime, graph.committerTime, committer)
                XCTAssertEqual(full.parents, graph.parents)
                XCTAssertEqual(full.messageStart, graph.messageStart)
            }
        }
        XCTAssertEqual(CommitHeader.isoDate(1_700_000_000, offset: "-0530"), "2023-11-14T16:43:20-05:30")
        XCTAssertEqual(CommitHeader.isoDate(951_782_400, offset: "+0100"), "2000-02-29T01:00:00+01:00")
    }
}
