import Foundation

/// A git failure, with what to tell the user. Every one makes the scan incomplete (exit 2).
public struct GitError: Error, CustomStringConvertible, Sendable {
    /// What went wrong and, where there is one, what to do about it; quotes git's own message.
    public var message: String
    /// An error with `message`.
    public init(_ message: String) { self.message = message }
    public var description: String { self.message }
}

/// Runs git as a subprocess, configured so that nothing in the scanned repository can run code: hooks,
/// fsmonitor, pagers, external diff and textconv drivers, credential and SSH helpers are all switched off on the
/// command line (which overrides the repository's own `.git/config`), and no prompt can block.
///
/// Paths are passed after `--` and read back NUL-separated (`-z`), so names with spaces, newlines, non-UTF-8 bytes
/// or a leading dash survive.
public struct Git: Sendable {
    /// The directory git runs in (`git -C`).
    public var directory: String
    /// The git executable (looked up on `PATH`).
    public var executable = "git"
    /// Leave `core.hooksPath` as the repository sets it (only to ask git where hooks live, never to run any).
    var honoursHooksPath = false
    /// Keep `GIT_DIR`, `GIT_WORK_TREE`, `GIT_INDEX_FILE` and the other variables that choose a repository, as
    /// git sets them for hooks. False when the user named the repository: then `directory` alone decides.
    public var inheritsRepositoryEnvironment = true
    /// Run against this git directory alone (`--git-dir`, with the directory itself as the work tree): for a
    /// submodule's git directory whose `core.worktree` may point at a folder that no longer exists.
    var gitDirectoryOnly: String? = nil

    /// Git run in `directory` (a work tree, a subdirectory of one, or a git directory).
    public init(directory: String) { self.directory = directory }

    /// Configuration given on every command line; command-line `-c` values override every config file (the
    /// repository's `.git/config` and whatever it includes). Most of these name things mptscan never makes git do
    /// (edit, sign, fetch): set anyway, so that no future command can reach a program the repository names.
    /// Filter, textconv and external diff drivers named in `.gitattributes` are not listed: no command here
    /// reads the work tree or makes a patch (`--no-ext-diff --no-textconv` where diffs are listed).
    static let safeConfig: [String] = [
        "core.fsmonitor=false", "core.hooksPath=/dev/null", "core.pager=cat", "core.sshCommand=false",
        "core.askPass=false", "credential.helper=", "diff.external=", "log.showSignature=false",
        "core.untrackedCache=false", "protocol.allow=never", "gc.auto=0", "maintenance.auto=false",
        "diff.relative=false", "advice.graftFileDeprecated=false",
        "core.editor=false", "sequence.editor=false", "gpg.program=false", "gpg.ssh.program=false",
        "gpg.x509.program=false", "core.alternateRefsCommand=false",
    ]

    /// Variables that make git look at another repository, index or object store than `directory`'s.
    static let repositoryVariables = ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
                                      "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_NAMESPACE",
                                      "GIT_CEILING_DIRECTORIES", "GIT_DISCOVERY_ACROSS_FILESYSTEM"]

    /// The environment for this git: `environment`, without the repository variables unless inherited.
    var childEnvironment: [String: String] {
        guard !self.inheritsRepositoryEnvironment else { return Self.environment }
        var env = Self.environment
        for key in Self.repositoryVariables { env.removeValue(forKey: key) }
        return env
    }

    /// The argument vector for `git <arguments>` with the safe configuration.
    func commandLine(_ arguments: [String]) -> [String] {
        var argv = [self.executable, "--no-pager", "--no-replace-objects", "-C", self.directory]
        if let dir = self.gitDirectoryOnly { argv += ["--git-dir=" + dir, "--work-tree=" + dir] }
        for setting in Self.safeConfig where !(self.honoursHooksPath && setting.hasPrefix("core.hooksPath=")) {
            argv += ["-c", setting]
        }
        return argv + arguments
    }

    /// The environment for git: ours, with prompts, pagers, external diff and optional locks switched off.
    static let environment: [String: String] = {
        var env = ProcessInfo.processInfo.environment
        // git never needs the registry credential
        env.removeValue(forKey: RegistryCredential.environmentVariable)
        env["GIT_TERMINAL_PROMPT"] = "0"
        env["GIT_PAGER"] = "cat"
        env["PAGER"] = "cat"
        env["GIT_OPTIONAL_LOCKS"] = "0"
        env["GIT_ASKPASS"] = "false"
        env["SSH_ASKPASS"] = "false"
        env["GIT_SSH_COMMAND"] = "false"
        env["GIT_EDITOR"] = "false"
        env["GIT_SEQUENCE_EDITOR"] = "false"
        env["GIT_NO_REPLACE_OBJECTS"] = "1"  // refs/replace/ could hide a commit
        env["GIT_GRAFT_FILE"] = "/dev/null"   // so could .git/info/grafts
        env.removeValue(forKey: "GIT_CONFIG_PARAMETERS")
        env.removeValue(forKey: "GIT_CONFIG_COUNT")
        env.removeValue(forKey: "GIT_EXTERNAL_DIFF")
        env.removeValue(forKey: "GIT_PROXY_COMMAND")
        return env
    }()

    /// Starts `git <arguments>`; the caller reads `stdoutFD` and calls `wait()`.
    /// - Throws: `GitError` when git cannot be started.
    func start(_ arguments: [String], input: Bool = false) throws -> ChildProcess {
        do {
            return try ChildProcess(self.commandLine(arguments), environment: self.childEnvironment, input: input)
        } catch let error as ChildProcess.SpawnError {
            throw GitError(error.code == ENOENT ? "git was not found on PATH (mptscan needs git for this command)" : error.description)
        }
    }

    /// Runs `git <arguments>` to the end and returns its standard output.
    /// - Parameter allowFailure: exit codes that are answers, not errors (e.g. 1 for `rev-parse --verify -q`).
    /// - Throws: `GitError` carrying git's own message when git fails.
    func run(_ arguments: [String], input: [UInt8]? = nil, allowFailure: Set<Int32> = []) throws -> (output: [UInt8], status: Int32) {
        let child = try self.start(arguments, input: input != nil)
        var writer: Thread? = nil
        if let input {
            let done = DispatchSemaphore(value: 0)
            writer = Thread { input.withUnsafeBytes { _ = child.writeInput($0) }; child.closeInput(); done.signal() }
            writer?.start()
            defer { done.wait() }
            return try self.finish(child, arguments, allowFailure)
        }
        return try self.finish(child, arguments, allowFailure)
    }

    private func finish(_ child: ChildProcess, _ arguments: [String], _ allowFailure: Set<Int32>) throws -> (output: [UInt8], status: Int32) {
        let stream = ByteStream(fd: child.stdoutFD, capacity: 1 << 16)
        var output: [UInt8] = []
        _ = stream.stream(Int.max) { output.append(contentsOf: $0) }
        let status = child.wait()
        guard let code = status.exitCode else {
            throw GitError("git \(arguments.first ?? "") was killed by signal \(status.signal ?? 0)")
        }
        if code != 0 && !allowFailure.contains(code) { throw self.failure(arguments, child) }
        return (output, code)
    }

    /// A `GitError` quoting git's own message for a failed command.
    func failure(_ arguments: [String], _ child: ChildProcess) -> GitError {
        let status = child.wait()
        let message = child.errorText.isEmpty ? "exit \(status.exitCode.map(String.init) ?? "signal \(status.signal ?? 0)")" : child.errorText
        let shown = arguments.prefix { !$0.hasPrefix("--format") }.prefix(3).joined(separator: " ")
        return GitError("git \(shown) failed in \(self.directory): \(message)")
    }

    /// Output as text lines (lossy UTF-8), without empty lines.
    static func lines(_ bytes: [UInt8]) -> [String] {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// NUL-separated fields of `-z` output.
    static func fields(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        if bytes.isEmpty { return [] }
        return bytes.split(separator: 0, omittingEmptySubsequences: false).dropLast(bytes.last == 0 ? 1 : 0).map { $0 }
    }
}

/// What a repository is, asked of git once per scan.
public struct GitRepository: Sendable {
    /// Runs git in the repository.
    public var git: Git
    /// The absolute git directory.
    public var gitDirectory: String
    /// The top of the work tree; nil in a bare repository.
    public var workTree: String?
    /// True for a shallow clone (history cut at `.git/shallow`).
    public var isShallow: Bool
    /// The commit HEAD points at; nil when HEAD is unborn (no commit yet).
    public var head: String?
    /// The object id length in hex digits (40 for SHA-1, 64 for SHA-256 repositories).
    public var idLength: Int

    /// Opens the repository containing `path`.
    /// - Parameter named: true when the user named `path` (then `GIT_DIR` and the like are ignored); false for
    ///   the current directory of a hook, where git's variables choose the repository and index.
    /// - Throws: `GitError` when `path` is not in a git repository, or git is missing.
    /// - Parameter gitDirectoryOnly: `path` is a git directory to be read without its work tree (submodules).
    public static func open(_ path: String, named: Bool = false, gitDirectoryOnly: Bool = false) throws -> GitRepository {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw GitError("\(path): no such directory")
        }
        var git = Git(directory: isDirectory.boolValue ? path : (path as NSString).deletingLastPathComponent)
        git.inheritsRepositoryEnvironment = !named && !gitDirectoryOnly
        if gitDirectoryOnly { git.gitDirectoryOnly = (path as NSString).standardizingPath }
        let result = try git.run(["rev-parse", "--absolute-git-dir", "--is-bare-repository", "--is-shallow-repository",
                                  "--show-object-format"], allowFailure: [128])
        guard result.status == 0 else {
            throw GitError("\(path) is not a git repository (or git refused it: run `git -C \(path) status` to see why)")
        }
        let lines = Git.lines(result.output)
        guard lines.count >= 4 else { throw GitError("unexpected output from git rev-parse in \(path)") }
        var repository = GitRepository(git: git, gitDirectory: lines[0], workTree: nil, isShallow: lines[2] == "true",
                                       head: nil, idLength: lines[3] == "sha256" ? 64 : 40)
        if lines[1] != "true" && !gitDirectoryOnly {
            let top = try git.run(["rev-parse", "--show-toplevel"], allowFailure: [128])
            if top.status == 0 { repository.workTree = Git.lines(top.output).first }
        }
        let head = try git.run(["rev-parse", "-q", "--verify", "HEAD^{commit}"], allowFailure: [1, 128])
        if head.status == 0 { repository.head = Git.lines(head.output).first }
        return repository
    }

    /// A message for a shallow clone: how much history there is and how to get the rest.
    public func shallowMessage() -> String {
        let boundary = (try? String(contentsOfFile: self.gitDirectory + "/shallow", encoding: .utf8))?
            .split(separator: "\n").count ?? 0
        let commits = (try? self.git.run(["rev-list", "--count", "--all"]))
            .flatMap { Git.lines($0.output).first } ?? "?"
        return "history incomplete: this is a shallow clone (\(commits) commits available, cut at \(boundary) boundary commit\(boundary == 1 ? "" : "s")); "
            + "fetch the rest with `git fetch --unshallow` (in CI: actions/checkout with fetch-depth: 0) and scan again, "
            + "or scan a range within the available history with --range A..B"
    }
}
