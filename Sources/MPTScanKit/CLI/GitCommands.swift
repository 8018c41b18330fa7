import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The git subcommands: `history`, `staged`, `pre-push`, `install-hook`.
extension MPTScan {
    /// Report options shared by every git scan (same meaning as for `scan`).
    static let gitReportOptions: [OptionSpec] = [
        OptionSpec(long: "format", valueName: "format", help: "Report format: \(reportFormatNames). (default: text)"),
        OptionSpec(long: "output", short: "o", valueName: "file", help: "Write the report to <file> (mode 0600) instead of standard output."),
        OptionSpec(long: "report", valueName: "format:file", help: "Also write a report in <format> to <file> (mode 0600); repeatable.", repeatable: true),
        OptionSpec(long: "exclude", valueName: "glob", help: "Leave out findings at paths matching a gitignore-style glob (repeatable).", repeatable: true),
        OptionSpec(long: "show-secrets", help: "Show full token values (and names holding one) instead of redacted ones; never on standard error, never into an existing file its group or others may read."),
        OptionSpec(long: "no-color", help: "Never colour the text report (NO_COLOR is honoured too)."),
        OptionSpec(long: "quiet", short: "q", help: "Print no summary on standard error (errors are still printed)."),
    ] + adoptionOptions + registryOptions + limitOptions

    static let gitExitCodes = """
        EXIT CODES:
          0    scan complete, no unsuppressed finding
          1    leaks found
          2    scan incomplete or failed: not a repository, unknown revision, shallow clone (full history),
               git missing or failing, a missing object, a limit reached (see --max-archive-size and the like)
          64   bad usage
          130  interrupted (Ctrl-C); 143 SIGTERM, 129 SIGHUP: the partial summary is printed
        """

    static let history = CommandSpec(
        overview: "Scan a repository's git history: every blob once, commit and tag messages, with the commit that introduced each token.",
        usage: "mptscan history [<options>] [<repository>]",
        arguments: [("<repository>", "A directory inside the repository, or a bare repository. (default: .)")],
        options: [
            OptionSpec(long: "all-objects", help: "Also scan objects no ref reaches (dangling blobs, dropped stashes, rewritten commits)."),
            OptionSpec(long: "range", valueName: "A..B", help: "Scan only what the commits in A..B introduce (for a pull request: base..head)."),
            OptionSpec(long: "since-commit", valueName: "rev", help: "Scan only what the commits after <rev> up to HEAD introduce (<rev>..HEAD)."),
            OptionSpec(long: "no-messages", help: "Do not scan commit and tag messages."),
            OptionSpec(long: "recurse-submodules", help: "Also scan the full history of each submodule (under .git/modules)."),
            OptionSpec(long: "jobs", short: "j", valueName: "n", help: "Threads reading and scanning git objects. (default: the number of cores)"),
        ] + gitReportOptions,
        discussion: """
        Full history covers every object reachable from every ref (branches, tags, remote-tracking refs,
        refs/stash) and HEAD. Each finding is one token at one path, attributed to the commit that introduced
        it there (earliest in topological order), with its author, the number of commits and refs holding it,
        and whether HEAD still holds it. A shallow clone is refused (exit 2) unless a range is given.

        \(gitExitCodes)
        """)

    static let staged = CommandSpec(
        overview: "Scan what the next commit will hold (the index against HEAD): the pre-commit check.",
        usage: "mptscan staged [<options>] [<repository>]",
        arguments: [("<repository>", "A directory inside the work tree. (default: .)")],
        options: gitReportOptions,
        discussion: """
        Only tokens the staged version of a file adds are reported: a token the HEAD version already held (a
        line edited next to it, a rename) is not, nor is a token only in the work tree. Prints nothing when
        the commit is clean.

        EXIT CODES:
          0    nothing staged adds a token
          1    leaks found: the commit should not be made
          2    failed: not a work tree, git missing or failing, a staged object missing, a limit reached
          64   bad usage
          130  interrupted (Ctrl-C); 143 SIGTERM, 129 SIGHUP: the partial summary is printed
        """)

    static let prePush = CommandSpec(
        overview: "Scan the commits a push sends; reads git's pre-push lines (<local ref> <local sha> <remote ref> <remote sha>) on standard input.",
        usage: "mptscan pre-push [<options>] [<remote> [<url>]]",
        arguments: [("<remote> <url>", "The arguments git gives a pre-push hook (not used).")],
        options: [OptionSpec(long: "repository", valueName: "dir", help: "The repository. (default: .)")] + gitReportOptions,
        discussion: """
        New branches are scanned from where they leave the remote-tracking branches; deletions are ignored.
        Under the pre-commit framework, PRE_COMMIT_FROM_REF and PRE_COMMIT_TO_REF give the range instead.

        \(gitExitCodes)
        """)

    static let installHook = CommandSpec(
        overview: "Install mptscan as the repository's pre-commit hook (and pre-push hook with --pre-push).",
        usage: "mptscan install-hook [<options>] [<repository>]",
        arguments: [("<repository>", "A directory inside the repository. (default: .)")],
        options: [
            OptionSpec(long: "pre-push", help: "Also install the pre-push hook (scans the commits being pushed)."),
            OptionSpec(long: "force", help: "Replace a hook mptscan did not write (the old one is kept as <hook>.mptscan-backup)."),
            OptionSpec(long: "chain", help: "Keep a hook mptscan did not write and run it first (it is moved to <hook>.local)."),
        ],
        discussion: """
        The hook directory is the one git uses: core.hooksPath when set, otherwise the hooks folder of the
        repository's common git directory (shared by all worktrees).
        """)

    // MARK: - history

    static func runHistory(_ args: [String], out: inout OutputStream) throws -> ExitCode {
        let parsed = try self.history.parse(args)
        if parsed.wantsHelp { out.write(self.history.helpText()); return .clean }
        guard parsed.positionals.count <= 1 else { throw UsageError("Unexpected argument '\(parsed.positionals[1])'") }
        if let arg = parsed.positionals.first, arg.contains(".."), !FileManager.default.fileExists(atPath: arg) {
            throw UsageError("'\(arg)' is not a directory; to scan a range of commits use --range \(arg)")
        }
        var options = HistoryOptions()
        options.repository = parsed.positionals.first ?? "."
        options.repositoryNamed = !parsed.positionals.isEmpty
        options.allObjects = parsed.has("all-objects")
        options.scanMessages = !parsed.has("no-messages")
        options.recurseSubmodules = parsed.has("recurse-submodules")
        if options.recurseSubmodules && parsed.value("range") != nil || options.recurseSubmodules && parsed.value("since-commit") != nil {
            throw UsageError("--recurse-submodules scans whole histories; it cannot be combined with a range")
        }
        if let jobs = parsed.value("jobs") {
            guard let n = Int(jobs), n >= 1, n <= 256 else { throw UsageError("--jobs needs a whole number from 1 to 256, not '\(jobs)'") }
            options.jobs = n
        }
        if parsed.value("range") != nil && parsed.value("since-commit") != nil {
            throw UsageError("--range and --since-commit cannot be combined")
        }
        if let range = parsed.value("range") {
            guard range.contains(".."), !range.hasPrefix("-"), range.trimmingCharacters(in: CharacterSet(charactersIn: ".")).count > 0 else {
                throw UsageError("--range needs A..B (or A...B), not '\(range)'")
            }
            options.revisions = [range]
        } else if let since = parsed.value("since-commit") {
            guard !since.isEmpty, !since.hasPrefix("-") else { throw UsageError("--since-commit needs a revision, not '\(since)'") }
            options.revisions = ["\(since)..HEAD"]
        }
        if options.allObjects && options.revisions != nil { throw UsageError("--all-objects scans the whole repository; it cannot be combined with a range") }
        try self.checkOutput(parsed)
        let setup = try self.runSetup(parsed, root: options.repository)
        options.excludes = setup.excludes
        options.limits = setup.limits
        Interrupt.install()
        let started = Date()
        let report = try self.gitScan { try HistoryScanner(detector: TokenDetector(rules: BuiltinRules.all), options: options).run(isCancelled: { Interrupt.requested }) }
        return self.deliver(report, parsed: parsed, seconds: Date().timeIntervalSince(started), setup: setup, out: &out)
    }

    // MARK: - staged

    static func runStaged(_ args: [String], out: inout OutputStream) throws -> ExitCode {
        let parsed = try self.staged.parse(args)
        if parsed.wantsHelp { out.write(self.staged.helpText()); return .clean }
        guard parsed.positionals.count <= 1 else { throw UsageError("Unexpected argument '\(parsed.positionals[1])'") }
        let repository = parsed.positionals.first ?? "."
        try self.checkOutput(parsed)
        let setup = try self.runSetup(parsed, root: repository)
        Interrupt.install()
        let scanner = StagedScanner(detector: TokenDetector(rules: BuiltinRules.all), excludes: setup.excludes, limits: setup.limits)
        let report = try self.gitScan { try scanner.run(repository: repository, named: !parsed.positionals.isEmpty, isCancelled: { Interrupt.requested }) }
        let code = self.deliver(report, parsed: parsed, seconds: nil, quietWhenClean: true, advice: false, setup: setup, out: &out)
        if code == .leaks && !parsed.has("quiet") && !out.brokenPipe { Self.stderr(self.hookAdvice(commit: true)) }
        return code
    }

    /// What a blocked developer can do.
    static func hookAdvice(commit: Bool) -> String {
        """
        mptscan: this \(commit ? "commit" : "push") would publish the token(s) above (as a hook, mptscan blocks it). Either
          1. remove the token from the \(commit ? "staged file (then `git add` it again)" : "commits (rewrite them, e.g. `git rebase -i`)"), and load it from the environment or a secret store;
          2. if it is a test value, not a real token, mark its line with `mptscan:allow` (or `mptscan:allow-next-line` above it);
          3. if it is real, treat it as leaked: disable it in the Marketplace Platform (Settings > API tokens) and create a new one.
        (`git \(commit ? "commit" : "push") --no-verify` skips the hook; the token then leaves with it.)

        """
    }

    // MARK: - pre-push

    static func runPrePush(_ args: [String], out: inout OutputStream) throws -> ExitCode {
        let parsed = try self.prePush.parse(args)
        if parsed.wantsHelp { out.write(self.prePush.helpText()); return .clean }
        guard parsed.positionals.count <= 2 else { throw UsageError("Unexpected argument '\(parsed.positionals[2])'") }
        let repository = parsed.value("repository") ?? "."
        try self.checkOutput(parsed)
        let setup = try self.runSetup(parsed, root: repository)
        let repo = try GitRepository.open(repository, named: parsed.value("repository") != nil)
        let env = ProcessInfo.processInfo.environment
        var push = PrePush.Push()
        if let from = env["PRE_COMMIT_FROM_REF"], let to = env["PRE_COMMIT_TO_REF"], !from.isEmpty, !to.isEmpty {
            // the pre-commit framework passes the push as environment variables, not on standard input
            guard !from.hasPrefix("-"), !to.hasPrefix("-") else { throw UsageError("PRE_COMMIT_FROM_REF/TO_REF must be revisions") }
            let remote = env["PRE_COMMIT_REMOTE_NAME"]
            push = try PrePush.parse("\(to) \(to) \(to) \(from)\n", remote: remote, git: repo.git, resolve: true)
        } else if let remote = env["PRE_COMMIT_REMOTE_NAME"], !remote.isEmpty {
            // the framework's first push of a branch (all files, no refs, standard input already read):
            // what HEAD has that the remote does not
            push.revisions = ["HEAD"] + (try PrePush.alreadyThere(remote: remote, git: repo.git))
        } else {
            var input = [UInt8]()
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                input += chunk[0..<n]
            }
            push = try PrePush.parse(String(decoding: input, as: UTF8.self), remote: parsed.positionals.first, git: repo.git)
        }
        guard !push.revisions.isEmpty || !push.objects.isEmpty else { return .clean } // only deletions
        var options = HistoryOptions()
        options.repository = repository
        options.repositoryNamed = parsed.value("repository") != nil
        options.revisions = push.revisions
        options.pushedObjects = push.objects
        options.excludes = setup.excludes
        options.limits = setup.limits
        Interrupt.install()
        let report = try self.gitScan { try HistoryScanner(detector: TokenDetector(rules: BuiltinRules.all), options: options).run(isCancelled: { Interrupt.requested }) }
        let code = self.deliver(report, parsed: parsed, seconds: nil, quietWhenClean: true, advice: false, setup: setup, out: &out)
        if code == .leaks && !parsed.has("quiet") && !out.brokenPipe { Self.stderr(self.hookAdvice(commit: false)) }
        return code
    }

    // MARK: - install-hook

    static func runInstallHook(_ args: [String], out: inout OutputStream) throws -> ExitCode {
        let parsed = try self.installHook.parse(args)
        if parsed.wantsHelp { out.write(self.installHook.helpText()); return .clean }
        guard parsed.positionals.count <= 1 else { throw UsageError("Unexpected argument '\(parsed.positionals[1])'") }
        if parsed.has("force") && parsed.has("chain") { throw UsageError("--force and --chain cannot be combined") }
        let installer = try HookInstaller(repository: parsed.positionals.first ?? ".", executable: Self.executablePath())
        let policy: HookInstaller.Policy = parsed.has("force") ? .replace : parsed.has("chain") ? .chain : .refuse
        var hooks: [HookInstaller.Hook] = [.preCommit]
        if parsed.has("pre-push") { hooks.append(.prePush) }
        for hook in hooks {
            let message = try installer.install(hook, policy: policy)
            out.write(message + "\n")
        }
        out.close()
        return .clean
    }

    /// The absolute path of the running mptscan binary, for the hook to call.
    static func executablePath() -> String {
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        #endif
        return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
    }

    // MARK: - helpers

    /// Runs a git scan. A failure while a stop signal is being handled (its git children were stopped, so a
    /// command failed) is the interruption: an empty report marked interrupted, delivered like any partial one.
    static func gitScan(_ scan: () throws -> ScanReport) throws -> ScanReport {
        do { return try scan() } catch {
            // a stop signal sent to the whole process group (Ctrl-C in a terminal, `timeout`, a CI runner) reaches
            // git too, which may die of it before our handler has set the flag: give the handler a moment
            var waited = 0
            while !Interrupt.requested && waited < 250 {
                usleep(5_000)
                waited += 5
            }
            guard Interrupt.requested else { throw error }
            var summary = ScanSummary.git
            summary.interrupted = true
            return ScanReport(findings: [], summary: summary)
        }
    }

    static func checkOutput(_ parsed: ParsedArguments) throws {
        if let path = parsed.value("output"), let problem = OutputStream.problemWriting(to: path, scanning: []) {
            throw UsageError("--output \(path): \(problem)")
        }
    }
}

/// The pre-push protocol: git writes one line per ref being pushed, `<local ref> <local sha> <remote ref>
/// <remote sha>` (githooks(5), "pre-push"); a zero local sha is a deletion, a zero remote sha a new branch.
enum PrePush {
    /// What a push sends: revision arguments for its commits, and the non-commit objects its refs point at
    /// (annotated tags, whose messages and targets are scanned too).
    struct Push: Equatable {
        var revisions: [String] = []
        var objects: [ObjectID] = []
    }

    /// Reads git's pre-push lines. A new branch (or a remote commit unknown here) is scanned from where it leaves
    /// the remote-tracking branches of `remote` (all of them when `remote` is not a configured remote's name,
    /// e.g. a URL). Duplicate lines count once; object types are asked of git in one `cat-file --batch-check`.
    /// - Throws: `GitError` for a line that is not in that format, or when git fails.
    /// - Parameter resolve: the ids may be revision names (the pre-commit framework's refs): resolve them first.
    static func parse(_ input: String, remote: String?, git: Git, resolve: Bool = false) throws -> Push {
        var input = input
        if resolve {
            var lines: [String] = []
            for line in input.split(whereSeparator: \.isNewline) {
                let parts = line.split(separator: " ").map(String.init)
                guard parts.count == 4 else { continue }
                func id(_ name: String) throws -> String {
                    if ObjectID(name) != nil { return name }
                    let r = try git.run(["rev-parse", "-q", "--verify", "--end-of-options", name], allowFailure: [1, 128])
                    return Git.lines(r.output).first ?? String(repeating: "0", count: 40)
                }
                lines.append("\(parts[0]) \(try id(parts[1])) \(parts[2]) \(try id(parts[3]))")
            }
            input = lines.joined(separator: "\n")
        }
        var locals: [ObjectID] = [], remotes: [ObjectID] = []
        var seen = Set<String>()
        for line in input.split(whereSeparator: \.isNewline) where !line.trimmingCharacters(in: .whitespaces).isEmpty {
            guard seen.insert(String(line)).inserted else { continue }
            let parts = line.split(separator: " ")
            guard parts.count == 4, let local = ObjectID(String(parts[1])), let remote = ObjectID(String(parts[3])) else {
                throw GitError("pre-push: unexpected input line '\(Redaction.quote(String(line), limit: 200))' (expected <local ref> <local sha> <remote ref> <remote sha>)")
            }
            if local.isZero { continue } // deleting a remote ref sends nothing
            locals.append(local)
            remotes.append(remote)
        }
        guard !locals.isEmpty else { return Push() }
        let asked = Array(Set(locals + remotes.filter { !$0.isZero })).sorted()
        var kinds: [ObjectID: String] = [:]
        let text = asked.map { $0.description + "\n" }.joined()
        for line in Git.lines(try git.run(["cat-file", "--batch-check=%(objectname) %(objecttype)"], input: Array(text.utf8)).output) {
            let parts = line.split(separator: " ")
            if parts.count == 2, let id = ObjectID(String(parts[0])) { kinds[id] = String(parts[1]) }
        }
        // tags: what they finally point at (`<id>^{}`), so only commits become revisions
        var peeled: [ObjectID: String] = [:]
        let tags = locals.filter { kinds[$0] == "tag" }
        if !tags.isEmpty {
            let query = tags.map { $0.description + "^{}\n" }.joined()
            let out = Git.lines(try git.run(["cat-file", "--batch-check=%(objecttype)"], input: Array(query.utf8)).output)
            for (tag, kind) in zip(tags, out) { peeled[tag] = kind }
        }
        var push = Push()
        var fromTracking = false
        for (local, remoteID) in zip(locals, remotes) {
            if kinds[local] == "commit" || peeled[local] == "commit" { push.revisions.append(local.description) }
            if kinds[local] != "commit" { push.objects.append(local) } // tags, and tags' blobs and trees
            if kinds[remoteID] == "commit" {
                push.revisions.append("^" + remoteID.description)
            } else {
                fromTracking = true // a new branch, or the remote has commits we never fetched
            }
        }
        if fromTracking { push.revisions += try self.alreadyThere(remote: remote, git: git) }
        push.revisions = Array(NSOrderedSet(array: push.revisions)) as? [String] ?? push.revisions
        push.objects = Array(Set(push.objects)).sorted()
        return push
    }

    /// Revisions for what the remote is known to have: its remote-tracking refs (`^<id>` each, only refs of
    /// that remote, not of a remote whose name merely starts with `<remote>/`); all remote-tracking refs when
    /// no remote is given; nothing for a URL (nothing is known to be there).
    static func alreadyThere(remote: String?, git: Git) throws -> [String] {
        guard let remote, !remote.isEmpty else { return ["--not", "--remotes"] }
        let names = Set(Git.lines(try git.run(["remote"]).output))
        guard names.contains(remote) else { return [] }
        let longer = names.filter { $0.hasPrefix(remote + "/") }.map { "refs/remotes/\($0)/" }
        let refs = try git.run(["for-each-ref", "--format=%(objectname) %(refname)", "refs/remotes/\(remote)/"]).output
        return Git.lines(refs).compactMap { line in
            let parts = line.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, !longer.contains(where: { parts[1].hasPrefix($0) }) else { return nil }
            return "^" + parts[0]
        }
    }
}
