import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes mptscan's git hooks. The hook directory is the one git itself uses (`git rev-parse --git-path
/// hooks`: `core.hooksPath` when set, else `hooks/` in the common git directory, shared by worktrees).
/// A hook mptscan wrote carries the marker line `# mptscan-hook`; any other hook is left alone unless the
/// caller asks to replace it (kept as `<hook>.mptscan-backup`) or chain it (moved to `<hook>.local`, which
/// mptscan's hook runs first, passing on its arguments and standard input).
public struct HookInstaller {
    /// The hooks mptscan can install (githooks(5)).
    public enum Hook: String, Sendable {
        /// Runs `mptscan staged` before each commit.
        case preCommit = "pre-commit"
        /// Runs `mptscan pre-push` with git's ref lines on standard input.
        case prePush = "pre-push"
    }

    /// What to do with a hook mptscan did not write.
    public enum Policy: Sendable {
        /// Leave it and fail.
        case refuse
        /// Keep it as `<hook>.mptscan-backup` and install mptscan's.
        case replace
        /// Move it to `<hook>.local`, which mptscan's hook runs first.
        case chain
    }

    static let marker = "# mptscan-hook"
    /// The hooks directory, absolute.
    public let directory: String
    let executable: String

    /// - Parameter executable: the mptscan binary the hook calls (falls back to `mptscan` on PATH).
    /// - Throws: `GitError` when `repository` is not in a git repository.
    public init(repository: String, executable: String) throws {
        var git = Git(directory: repository)
        git.honoursHooksPath = true
        let bare = try git.run(["rev-parse", "--is-bare-repository"], allowFailure: [128])
        if bare.status == 0 && Git.lines(bare.output).first == "true" {
            throw GitError("\(repository) is a bare repository: nobody commits or pushes from it, so its hooks would never run")
        }
        let result = try git.run(["rev-parse", "--path-format=absolute", "--git-path", "hooks"], allowFailure: [128])
        guard result.status == 0, let dir = Git.lines(result.output).first else {
            throw GitError("\(repository) is not a git repository")
        }
        self.directory = dir
        self.executable = executable
    }

    /// Writes `hook` (mode 0755) and returns what was done, for the user.
    /// - Throws: `GitError` when a hook mptscan did not write is in the way (policy `.refuse`), or the file
    ///   cannot be written.
    public func install(_ hook: Hook, policy: Policy) throws -> String {
        let fm = FileManager.default
        let path = self.directory + "/" + hook.rawValue
        let local = path + ".local"
        try fm.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
        var note = "installed"
        var info = stat()
        if lstat(path, &info) == 0 {
            let isLink = (info.st_mode & S_IFMT) == S_IFLNK
            guard isLink || (info.st_mode & S_IFMT) == S_IFREG else {
                throw GitError("\(path) exists and is not a file; move it away first")
            }
            // a dangling or unreadable hook is still someone's hook: never replaced without being asked
            let text = isLink ? nil : fm.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
            if let text, text.contains(Self.marker) {
                note = "updated"
            } else {
                switch policy {
                case .refuse:
                    throw GitError("\(path) exists and was not written by mptscan: use --chain to keep it and run it before mptscan, or --force to replace it")
                case .replace:
                    let backup = path + ".mptscan-backup"
                    try? fm.removeItem(atPath: backup)
                    try fm.moveItem(atPath: path, toPath: backup)
                    note = "installed (the previous hook is kept as \(backup))"
                case .chain:
                    guard !fm.fileExists(atPath: local) else {
                        throw GitError("cannot chain: \(local) already exists; move it away first")
                    }
                    try fm.moveItem(atPath: path, toPath: local)
                    note = "installed (runs the previous hook, now \(local), first)"
                }
            }
        }
        let script = Self.script(hook, executable: self.executable)
        let temporary = path + ".mptscan-new"
        guard fm.createFile(atPath: temporary, contents: Data(script.utf8), attributes: [.posixPermissions: 0o755]) else {
            throw GitError("cannot write \(temporary)")
        }
        guard rename(temporary, path) == 0 else {
            let why = String(cString: strerror(errno))
            try? fm.removeItem(atPath: temporary)
            throw GitError("cannot install \(path): \(why)")
        }
        return "mptscan: \(hook.rawValue) hook \(note): \(path)"
    }

    /// The hook script: POSIX sh, fails closed (blocks) when mptscan cannot be found.
    static func script(_ hook: Hook, executable: String) -> String {
        let quoted = "'" + executable.replacingOccurrences(of: "'", with: "'\\''") + "'"
        var s = """
        #!/bin/sh
        \(marker) v1: written by `mptscan install-hook`; re-run it to update, delete this file to uninstall.
        # A hook that was here before is kept as \(hook.rawValue).local and runs first.
        MPTSCAN_INSTALLED=\(quoted)
        MPTSCAN_BIN=$MPTSCAN_INSTALLED
        [ -x "$MPTSCAN_BIN" ] || MPTSCAN_BIN=mptscan
        if ! command -v "$MPTSCAN_BIN" >/dev/null 2>&1; then
            echo "mptscan \(hook.rawValue) hook: mptscan not found (not at $MPTSCAN_INSTALLED nor on PATH); install it, or delete $0" >&2
            exit 1
        fi
        LOCAL_HOOK="$(dirname "$0")/\(hook.rawValue).local"

        """
        switch hook {
        case .preCommit:
            s += """
            if [ -x "$LOCAL_HOOK" ]; then "$LOCAL_HOOK" "$@" || exit $?; fi
            exec "$MPTSCAN_BIN" staged

            """
        case .prePush:
            s += """
            input=$(cat)
            if [ -x "$LOCAL_HOOK" ]; then printf '%s\\n' "$input" | "$LOCAL_HOOK" "$@" || exit $?; fi
            printf '%s\\n' "$input" | "$MPTSCAN_BIN" pre-push "$@"

            """
        }
        return s
    }
}
