import Foundation

/// Builds a git repository in a temporary folder, step by step, for tests: files written, commits made with
/// fixed authors and dates (one minute apart, from 2023-11-14T22:13:20Z), branches, tags, stashes. No `.git`
/// folder is ever committed to mptscan's repository: every test repository is built from its recipe at test time.
public final class GitRecipe {
    /// The work tree (and `.git` inside it).
    public let directory: URL
    private var clock = 1_700_000_000

    /// Creates an empty repository on branch `main`.
    public init(_ name: String = "repo") throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("mptscan-git-\(UUID().uuidString)")
        self.directory = base.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        try self.git("init", "-q", "-b", "main")
        try self.git("config", "user.name", "Default Author")
        try self.git("config", "user.email", "default@example.test")
        try self.git("config", "commit.gpgsign", "false")
    }

    deinit { if self.owned { try? FileManager.default.removeItem(at: self.directory.deletingLastPathComponent()) } }

    /// The path of the work tree.
    public var path: String { self.directory.path }

    /// Runs git in the repository; returns standard output, trimmed.
    /// - Throws: when git exits non-zero (with its standard error).
    @discardableResult
    public func git(_ arguments: String..., environment: [String: String] = [:], input: String? = nil) throws -> String {
        try self.run(arguments, environment: environment, input: input)
    }

    @discardableResult
    public func run(_ arguments: [String], environment: [String: String] = [:], input: String? = nil) throws -> String {
        let result = try self.run(arguments, environment: environment, input: input, allowFailure: true)
        guard result.status == 0 else {
            throw RecipeError(message: "git \(arguments.joined(separator: " ")): \(result.stderr)")
        }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// What a git command printed and how it ended.
    public typealias Result = TestProcess.Result

    /// Opens a repository that already exists (a clone made by a recipe); it is not deleted by this object.
    public static func existing(_ directory: URL) throws -> GitRecipe {
        try GitRecipe(existing: directory)
    }

    private var owned = true

    private init(existing directory: URL) throws {
        self.directory = directory
        self.owned = false
        try self.git("config", "user.name", "Default Author")
        try self.git("config", "user.email", "default@example.test")
    }

    /// Runs git and returns its status and output whatever the status (`allowFailure` must be true).
    public func run(_ arguments: [String], environment: [String: String] = [:], input: String? = nil, allowFailure: Bool) throws -> Result {
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("GIT_") { env.removeValue(forKey: key) }
        env["GIT_CONFIG_NOSYSTEM"] = "1"
        env["HOME"] = self.directory.deletingLastPathComponent().path
        for (k, v) in environment { env[k] = v }
        return try TestProcess.run(URL(fileURLWithPath: "/usr/bin/env"), ["git"] + arguments, environment: env,
                                   directory: self.directory, input: input.map { Data($0.utf8) })
    }

    /// Writes `text` to `path` (relative to the work tree), creating folders.
    public func write(_ path: String, _ text: String) throws {
        let url = self.directory.appendingPathComponent(path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    /// Stages everything (unless `all` is false) and commits, skipping hooks; returns the new commit's id. One shell process
    /// for the three git commands keeps recipes with many commits fast.
    @discardableResult
    public func commit(_ message: String, author: String = "Default Author", email: String = "default@example.test",
                       all: Bool = true, allowEmpty: Bool = false) throws -> String {
        var env = self.dated(author: author, email: email)
        env["MPTSCAN_RECIPE_MESSAGE"] = message
        let script = (all ? "git add -A && " : "") + "git commit -q --no-verify \(allowEmpty ? "--allow-empty " : "")-m \"$MPTSCAN_RECIPE_MESSAGE\" && git rev-parse HEAD"
        return try self.run(["-c", "alias.recipe-sh=!sh -c '\(script)'", "recipe-sh"], environment: env)
    }

    /// Environment fixing author, committer and both dates for the next git command; advances the clock.
    public func dated(author: String = "Default Author", email: String = "default@example.test") -> [String: String] {
        self.clock += 60
        let date = "@\(self.clock) +0000"
        return ["GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": email, "GIT_AUTHOR_DATE": date,
                "GIT_COMMITTER_NAME": author, "GIT_COMMITTER_EMAIL": email, "GIT_COMMITTER_DATE": date]
    }

    public struct RecipeError: Error, CustomStringConvertible {
        public var message: String
        public var description: String { self.message }
    }
}
