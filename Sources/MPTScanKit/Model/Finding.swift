/// Why a finding does not fail the scan.
public enum Suppression: String, Codable, Sendable {
    /// `mptscan:allow` on the finding's line.
    case inlineAllow = "inline-allow"
    /// `mptscan:allow-next-line` on the line before.
    case inlineAllowNextLine = "inline-allow-next-line"
    /// Recorded in the baseline file given with `--baseline` (rule id, fingerprint and path match).
    case baseline
    /// Listed in the ignore file (`.mptscanignore`) or the config's allowed fingerprints or token ids.
    case ignored

    /// True for suppressions written in the scanned source itself (SARIF `kind` `inSource`); false for those
    /// kept outside it, in a baseline or an ignore list (`external`).
    public var isInSource: Bool { self == .inlineAllow || self == .inlineAllowNextLine }
}

/// One occurrence of a token: a byte span of one file, standard input, archive member (`a.zip!b/c.js`), git
/// blob (with `git` provenance) or commit or tag message. For encoded tokens the span is the encoded text
/// (`decodings`); for joined literals it runs from the first fragment to the last.
///
/// Positions are 1-based. `line` counts LF bytes. `column` counts Unicode scalars from the start of the line,
/// an invalid UTF-8 byte counting as one; in UTF-16 files, scalars of the decoded text. The span is ASCII, so
/// `endColumn` (exclusive) is `column` plus the span's length in bytes as written.
public struct Finding: Sendable, Equatable {
    /// The rule that matched (`mpt-api-token`).
    public var ruleID: String
    /// The token id the token carries (`TKN-1234-5678`).
    public var tokenID: String
    /// The rule's severity.
    public var severity: Severity
    /// The rule's confidence that such a hit is a real token.
    public var confidence: Confidence
    /// Path relative to the scan root, `/`-separated; `-` for standard input; archive members as
    /// `archive!member` (nested: `a!b!c`); git findings as the path in the repository, or
    /// `(commit <12 hex> message)` / `(tag <name> message)`.
    public var path: String
    /// 1-based line of the span's first byte (LF counted).
    public var line: Int
    /// 1-based column of the span's first character, in Unicode scalars.
    public var column: Int
    /// 1-based column just past the span (exclusive), in Unicode scalars.
    public var endColumn: Int
    /// Byte offset of the span in the file (0-based; in UTF-16 files, in the decoded UTF-8 text).
    public var byteOffset: Int
    /// The token in canonical decoded form (`idt:TKN-…:<64>`). Never printed unless secrets are shown.
    public var token: String
    /// Length of the secret at the end of `token`, in characters.
    public var secretLength: Int
    /// Up to about 40 characters of the line on each side of the token, with other secret-like runs masked.
    public var snippetBefore: String
    /// The context after the token (see `snippetBefore`).
    public var snippetAfter: String
    /// SHA-256 of `token`, lowercase hex: stable across files, commits and encodings.
    public var fingerprint: String
    /// How the token's separators were written.
    public var encoding: SeparatorEncoding
    /// Set when an inline allow comment covers this finding.
    public var suppression: Suppression?
    /// True when the span holds only the secret (a legacy secret under a key): the snippet shows the secret
    /// alone, as written, not the id-and-secret pair the fingerprint is made of.
    public var spanIsSecretOnly = false
    /// Set when the token was stored as UTF-16: a file decoded as a whole, or UTF-16 text found inside bytes
    /// that were not (then `line` and `column` count the raw bytes, two per character).
    public var textEncoding: TextEncoding? = nil
    /// The decodings that led from the bytes at the span to the token, outermost first (`["base64"]`); empty
    /// when the token is written as such (separators may still be escaped: `encoding`).
    public var decodings: [String] = []
    /// The original source position when the bytes are an embedded source of a source map.
    public var original: OriginalLocation? = nil
    /// Where in git history the finding was (history, staged and range scans); nil for file-tree scans.
    public var git: GitProvenance? = nil
    /// For a platform JWT: whose it is and when it expires (decoded from its payload, never verified).
    public var claims: PlatformClaims? = nil
    /// The token registry's verdict, once asked (`RegistryCheck`); nil for suppressed findings.
    public var registry: RegistryVerdict? = nil

    /// The rule and the canonical token: equal for the same token found by the same rule anywhere (a key for
    /// sets, never printed).
    public var tokenKey: String { self.ruleID + "\u{0}" + self.token }

    /// True when an allow comment or list covers the finding; suppressed findings are counted, not dropped.
    public var isSuppressed: Bool { self.suppression != nil }

    /// The token with the secret cut to its first four characters: `idt:TKN-1234-5678:Ab12…`.
    public var redactedToken: String {
        Redaction.redact(self.token, secretLength: self.secretLength)
    }

    /// `token` when `showSecrets`, else `redactedToken`.
    public func displayToken(showSecrets: Bool) -> String { showSecrets ? self.token : self.redactedToken }

    /// The snippet with the token shown as `displayToken(showSecrets:)`.
    public func snippet(showSecrets: Bool) -> String {
        var middle = self.displayToken(showSecrets: showSecrets)
        if self.spanIsSecretOnly {
            let secret = String(self.token.unicodeScalars.suffix(self.secretLength))
            middle = showSecrets ? secret : Redaction.redact(secret, secretLength: self.secretLength)
        }
        return self.snippetBefore + middle + self.snippetAfter
    }
}

/// Redaction of secrets for display.
public enum Redaction {
    /// Characters of the secret kept visible.
    public static let visibleSecretCharacters = 4

    /// `token` with all but the first `visibleSecretCharacters` of its trailing secret replaced by `…`.
    public static func redact(_ token: String, secretLength: Int) -> String {
        let scalars = Array(token.unicodeScalars)
        let keep = scalars.count - secretLength + min(visibleSecretCharacters, secretLength)
        var out = String.UnicodeScalarView()
        out.append(contentsOf: scalars[0..<max(0, keep)])
        return String(out) + "…"
    }
}

/// Where a finding lives in git: the object that holds it and the commit that introduced it.
public struct GitProvenance: Sendable, Equatable {
    /// What held the bytes.
    public enum Source: String, Sendable {
        /// A file's content (a blob) at `Finding.path`.
        case blob
        /// A commit message; `commit` is that commit.
        case commitMessage = "commit-message"
        /// An annotated tag's message; `tag` names the tag.
        case tagMessage = "tag-message"
        /// The index (staging area): what the next commit will hold.
        case staged
    }

    /// What held the bytes.
    public var source: Source
    /// The blob (or commit, or tag object) that holds the span, full hex id.
    public var object: String
    /// The commit that introduced the token at this path: the earliest in topological order (parents before
    /// children; ties by committer date, then id) that holds it without an allow comment, if any does. For
    /// messages, the commit itself. Nil for staged findings, tag messages, and blobs no commit holds.
    public var commit: String?
    /// Author name of `commit`, as recorded (no mailmap).
    public var authorName: String?
    /// Author email of `commit`, as recorded (no mailmap).
    public var authorEmail: String?
    /// Author date of `commit`, ISO 8601 with the author's UTC offset (`2024-05-01T12:00:00+02:00`).
    public var authorDate: String?
    /// Commits whose tree holds this token at this path (for messages: 1).
    public var commitCount: Int = 0
    /// Refs (branches, tags, remote-tracking refs, stash) from which one of those commits is reachable.
    public var refCount: Int = 0
    /// One such ref, for display (`refs/heads/main`); nil when none.
    public var exampleRef: String?
    /// True when HEAD's tree still holds the token at this path; nil when not known (no HEAD, messages).
    public var presentAtHead: Bool?
    /// The annotated tag's name, for tag messages.
    public var tag: String?
    /// True when no ref reaches the object (found only with `--all-objects`).
    public var unreachable = false
    /// The submodule's path in the superproject when the finding is in a submodule's history
    /// (`--recurse-submodules`); `commit` is then a commit of the submodule.
    public var submodule: String? = nil

    /// Provenance with only the source and the object (hex id) set.
    public init(source: Source, object: String) {
        self.source = source
        self.object = object
    }
}
