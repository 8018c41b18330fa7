import Foundation

/// Known findings a repository adopts mptscan with, so that only new leaks fail: `--write-baseline FILE`
/// records them, `--baseline FILE` marks the same findings `baselined`. An entry is a rule id, a fingerprint and
/// a path: no line numbers (they churn as code moves) and no secret (the fingerprint is the SHA-256 of the
/// token). A token that reappears in another file is a new finding. JSON, version 1, sorted and pretty-printed
/// so diffs are reviewable: `{"version": 1, "findings": [{"rule_id", "fingerprint", "path"}]}`.
public struct Baseline: Sendable, Equatable, Codable {
    public struct Entry: Sendable, Hashable, Codable, Comparable {
        public var ruleID: String
        /// SHA-256, lowercase hex, of the canonical token (`Finding.fingerprint`).
        public var fingerprint: String
        /// The finding's path as reported (relative to the scan root; `a.zip!b.js` for archive members; the
        /// repository path for git findings), with any token in it redacted (`Redaction.secrets(in:)`).
        public var path: String

        enum CodingKeys: String, CodingKey {
            case ruleID = "rule_id"
            case fingerprint, path
        }

        public static func < (a: Entry, b: Entry) -> Bool { (a.path, a.ruleID, a.fingerprint) < (b.path, b.ruleID, b.fingerprint) }
    }

    public static let currentVersion = 1
    public var version: Int
    /// Sorted by path, rule id, fingerprint; no duplicates.
    public var findings: [Entry]

    /// The baseline of `findings`: every one not suppressed in the source, one entry per (rule, fingerprint,
    /// path). Findings already baselined or ignored are kept (re-writing a baseline does not drop them).
    /// A path holding a token (a file or archive member named after one) is written redacted: the file holds
    /// no secret.
    public init(findings: [Finding]) {
        self.version = Self.currentVersion
        let entries = findings.filter { $0.suppression.map { !$0.isInSource } ?? true }
            .map { Entry(ruleID: $0.ruleID, fingerprint: $0.fingerprint, path: Redaction.secrets(in: $0.path)) }
        self.findings = Array(Set(entries)).sorted()
    }

    /// Reads a baseline file. Throws `BaselineError` naming the file and the problem.
    public static func load(from path: String) throws -> Baseline {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BaselineError("\(path): cannot read the baseline (\(String(cString: strerror(errno))))")
        }
        let baseline: Baseline
        do { baseline = try JSONDecoder().decode(Baseline.self, from: data) } catch {
            throw BaselineError("\(path): not a baseline (write one with --write-baseline): \(ConfigError.describe(error))")
        }
        guard baseline.version == Self.currentVersion else {
            throw BaselineError("\(path): baseline version \(baseline.version) is not supported (expected \(Self.currentVersion))")
        }
        for (i, e) in baseline.findings.enumerated() where e.fingerprint.count != 64 || !e.fingerprint.allSatisfy(\.isHexDigit) {
            throw BaselineError("\(path): findings[\(i)].fingerprint: expected 64 hexadecimal digits")
        }
        var normalized = baseline
        normalized.findings = baseline.findings.map { var e = $0; e.fingerprint = e.fingerprint.lowercased(); return e }
        return normalized
    }

    /// The file's text: pretty-printed, keys sorted, ending with a newline.
    public func serialized() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self) + "\n"
    }

    /// Marks the unsuppressed findings the baseline holds (same rule, fingerprint and path) as `.baseline`.
    /// Returns how many were marked.
    @discardableResult
    public func apply(to findings: inout [Finding]) -> Int {
        let known = Set(self.findings)
        var marked = 0
        for i in findings.indices where findings[i].suppression == nil {
            let f = findings[i]
            // entries hold paths redacted; one written before paths were redacted holds the path as it was
            if known.contains(Entry(ruleID: f.ruleID, fingerprint: f.fingerprint, path: Redaction.secrets(in: f.path)))
                || known.contains(Entry(ruleID: f.ruleID, fingerprint: f.fingerprint, path: f.path)) {
                findings[i].suppression = .baseline
                marked += 1
            }
        }
        return marked
    }
}

/// A baseline file that cannot be read or used.
public struct BaselineError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { self.message }
}

/// Known test tokens to ignore: `.mptscanignore` at the scan root (or `--ignore-file`). One entry per line:
/// a fingerprint (64 hex digits, `Finding.fingerprint`), optionally a path it applies to (a gitignore-style
/// glob, as `--exclude`), and a comment after `#`. Blank lines and `#` lines are skipped:
/// ```
/// # synthetic token of the integration tests
/// 3dd3755f6c5088c5df71eb84c71a829149be0afe59d1df61fa541156f13f93a0 tests/fixtures/**  # CI fixture
/// ```
public struct IgnoreList: Sendable {
    public struct Entry: Sendable {
        public var fingerprint: String?
        public var tokenID: String?
        public var path: PathGlob?
    }

    public var entries: [Entry] = []

    public init(entries: [Entry] = []) { self.entries = entries }

    /// The ignore file's default name, looked for at the scan root.
    public static let fileName = ".mptscanignore"

    /// Parses an ignore file's text. Throws `ConfigError` naming the line (1-based) of a malformed entry.
    public static func parse(_ text: String, file: String) throws -> IgnoreList {
        var list = IgnoreList()
        // lines end at LF or CRLF (a String splits "\r\n" as one Character, so split its scalars)
        let lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { String(String.UnicodeScalarView($0)) }
        for (n, raw) in lines.enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)?
                .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            if line.isEmpty { continue }
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            guard parts[0].count == 64, parts[0].allSatisfy(\.isHexDigit) else {
                // never echo the entry: it may be the secret itself, pasted by mistake
                let hint = parts[0].contains("TKN-") ? "this looks like a token: put its fingerprint (the SHA-256 a report gives) here, never the token" : "found \(parts[0].count) characters"
                throw ConfigError("\(file):\(n + 1): expected a fingerprint (64 hexadecimal digits); \(hint)")
            }
            guard parts.count <= 2 else { throw ConfigError("\(file):\(n + 1): expected '<fingerprint> [path glob]', found \(parts.count) fields") }
            var glob: PathGlob? = nil
            if parts.count == 2 {
                do { glob = try PathGlob(parts[1]) } catch let error as PathGlob.Error {
                    throw ConfigError("\(file):\(n + 1): \(error.message)")
                }
            }
            list.entries.append(Entry(fingerprint: parts[0].lowercased(), tokenID: nil, path: glob))
        }
        return list
    }

    /// Marks unsuppressed findings an entry covers (fingerprint or token id, and path when given) as
    /// `.ignored`. Returns how many were marked.
    @discardableResult
    public func apply(to findings: inout [Finding]) -> Int {
        guard !self.entries.isEmpty else { return 0 }
        var marked = 0
        for i in findings.indices where findings[i].suppression == nil {
            let f = findings[i]
            let covered = self.entries.contains { e in
                let byToken = (e.fingerprint.map { $0 == f.fingerprint } ?? false) || (e.tokenID.map { $0 == f.tokenID } ?? false)
                return byToken && (e.path.map { $0.matchesFileOrParent(f.path) } ?? true)
            }
            if covered {
                findings[i].suppression = .ignored
                marked += 1
            }
        }
        return marked
    }
}
