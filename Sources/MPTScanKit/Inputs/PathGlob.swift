#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A gitignore-style path pattern, matched against `/`-separated paths relative to the scan root.
///
/// Rules (a subset of gitignore(5) "PATTERN FORMAT"): `*`, `?` and `[...]` match within one path segment
/// (fnmatch(3) with `FNM_PATHNAME`); `**` as a whole segment matches zero or more segments; a pattern with no
/// `/` except a trailing one matches a file or directory name at any depth; a pattern containing `/` is
/// anchored at the scan root (a leading `/` is allowed); a trailing `/` matches directories only. A matched
/// directory excludes everything below it.
public struct PathGlob: Sendable, Equatable {
    /// The pattern as given.
    public let pattern: String
    private let segments: [String]
    private let directoryOnly: Bool
    /// For a pattern of one segment and no `/` (`*.gz`, `node_modules`): it only ever matches the last path
    /// segment, so that is all that is compared (most excludes are like this; the walk asks for every path).
    private let lastSegment: String?
    /// True when `lastSegment` has no wildcard: a plain string compare.
    private let lastSegmentIsLiteral: Bool

    /// A pattern that cannot be used.
    public struct Error: Swift.Error, Sendable, Equatable {
        public var message: String
    }

    /// - Throws: `PathGlob.Error` for an empty pattern (or one that is only `/`).
    public init(_ pattern: String) throws {
        var p = pattern
        guard !p.isEmpty, p != "/" else { throw Error(message: "empty pattern") }
        self.pattern = pattern
        self.directoryOnly = p.hasSuffix("/")
        while p.hasSuffix("/") { p.removeLast() }
        let anchored = p.dropFirst().contains("/") || p.hasPrefix("/")
        if p.hasPrefix("/") { p.removeFirst() }
        var parts = p.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        let single = !anchored && parts.count == 1 && parts[0] != "**"
        self.lastSegment = single ? parts[0] : nil
        self.lastSegmentIsLiteral = single && !parts[0].contains(where: { "*?[\\".contains($0) })
        if !anchored { parts.insert("**", at: 0) }
        self.segments = parts
    }

    /// Whether `path` (relative, `/`-separated, no leading `./`) is matched. `isDirectory` tells whether it is
    /// a directory.
    public func matches(_ path: String, isDirectory: Bool) -> Bool {
        if self.directoryOnly && !isDirectory { return false }
        if let last = self.lastSegment {
            let name = path.lastIndex(of: "/").map { path[path.index(after: $0)...] } ?? path[...]
            if name.isEmpty { return false }
            return self.lastSegmentIsLiteral ? name == last : fnmatch(last, String(name), FNM_PATHNAME) == 0
        }
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        return Self.match(self.segments[...], parts[...])
    }

    /// Whether the file at `path` is excluded: the file itself matches, or one of the directories above it
    /// does (as when walking a tree, where a matched directory is never entered). For paths that come without
    /// a walk, such as paths in git history.
    public func matchesFileOrParent(_ path: String) -> Bool {
        var prefix = Substring("")
        for segment in path.split(separator: "/", omittingEmptySubsequences: false).dropLast() {
            prefix = prefix.isEmpty ? segment : Substring(String(prefix) + "/" + segment)
            if self.matches(String(prefix), isDirectory: true) { return true }
        }
        return self.matches(path, isDirectory: false)
    }

    /// Segment matching by dynamic programming over (pattern segment, path segment): O(pattern × path), so
    /// patterns with many `**` cannot blow up the way backtracking would.
    private static func match(_ pattern: ArraySlice<String>, _ path: ArraySlice<String>) -> Bool {
        let p = Array(pattern), s = Array(path)
        // reachable[j]: the first i pattern segments can match the first j path segments
        var reachable = [Bool](repeating: false, count: s.count + 1)
        reachable[0] = true
        for segment in p {
            var next = [Bool](repeating: false, count: s.count + 1)
            if segment == "**" {
                var any = false
                for j in 0...s.count {
                    any = any || reachable[j]
                    next[j] = any // zero or more segments
                }
            } else {
                for j in 0..<s.count where reachable[j] && fnmatch(segment, s[j], FNM_PATHNAME) == 0 {
                    next[j + 1] = true
                }
            }
            reachable = next
        }
        return reachable[s.count]
    }
}
