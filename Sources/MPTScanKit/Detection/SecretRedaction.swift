/// Redaction of tokens in text that is not a finding's token: paths (a file or archive member named after a
/// token), ref and tag names, registry messages, git's error output, configuration errors that quote a value.
///
/// The text goes through the real detector (the built-in rules, with the Base64, escaped and joined-literal
/// searches a file gets), so whatever would be a finding in a file is recognised in a name too; each span
/// found is replaced by the token's redacted form (`idt:TKN-1234-5678:Ab12…`). Text without a token is
/// returned unchanged.
extension Redaction {
    /// The detector behind `secrets(in:)`: the built-in rules, compiled once.
    static let detector = TokenDetector(rules: BuiltinRules.all)

    /// `text` with every token the built-in rules find in it, as written or encoded, replaced by its redacted
    /// form (`Redaction.redact`): the token's id and the first `visibleSecretCharacters` of its secret, then `…`.
    /// Overlapping spans (one token seen by two rules or two decodings) are cut once, as their union.
    public static func secrets(in text: String) -> String {
        // the shortest thing any rule can report is longer than this (an id alone is 13 characters)
        guard text.utf8.count >= 16 else { return text }
        let bytes = Array(text.utf8)
        var spans: [(range: Range<Int>, replacement: String)] = []
        bytes.withUnsafeBufferPointer { b in
            let all = 0..<b.count
            let emit: (Candidate) -> Void = { c in
                guard c.start < c.end, c.start >= 0, c.end <= b.count else { return }
                let shown: String
                if c.spanIsSecretOnly {
                    shown = Redaction.redact(String(c.canonical.unicodeScalars.suffix(c.secretLength)), secretLength: c.secretLength)
                } else {
                    shown = Redaction.redact(c.canonical, secretLength: c.secretLength)
                }
                spans.append((c.start..<c.end, shown))
            }
            self.detector.scan(b, anchorRange: all, emit: emit)
            Base64Tokens.forEach(in: b, anchorRange: all, detector: self.detector, emit)
            EscapedTokens.forEach(in: b, anchorRange: all, detector: self.detector, emit)
            JoinedLiterals.forEach(in: b, anchorRange: all, detector: self.detector, emit)
        }
        guard !spans.isEmpty else { return text }
        spans.sort { ($0.range.lowerBound, -$0.range.count) < ($1.range.lowerBound, -$1.range.count) }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var position = 0
        var index = 0
        while index < spans.count {
            var range = spans[index].range
            let replacement = spans[index].replacement
            index += 1
            // the union of every span overlapping this one
            while index < spans.count && spans[index].range.lowerBound < range.upperBound {
                range = range.lowerBound..<max(range.upperBound, spans[index].range.upperBound)
                index += 1
            }
            guard range.lowerBound >= position else { continue }
            out += bytes[position..<range.lowerBound]
            out += Array(replacement.utf8)
            position = range.upperBound
        }
        out += bytes[position...]
        return String(decoding: out, as: UTF8.self)
    }

    /// Runs of letters and digits at least this long are cut by `quote` (as snippets cut them).
    static let quotedRunLimit = 20

    /// Text from outside quoted in an error message (git's unexpected output, an id that is not one, an input
    /// line): tokens redacted (`secrets(in:)`), then every other run of `quotedRunLimit` or more letters and
    /// digits cut to its first 4 characters and `…` (a piece of a secret that no rule recognises once cut), then
    /// at most `limit` characters (`…` marks the cut), terminal-safe (`Printable.text`). Only the first 4 KiB of
    /// `text` are looked at.
    public static func quote(_ text: String, limit: Int) -> String {
        let window = String(decoding: text.utf8.prefix(4096), as: UTF8.self)
        var out = String.UnicodeScalarView()
        var run = String.UnicodeScalarView()
        func flush() {
            if run.count >= self.quotedRunLimit { out.append(contentsOf: run.prefix(4)); out.append("…") } else { out.append(contentsOf: run) }
            run = String.UnicodeScalarView()
        }
        for scalar in self.secrets(in: window).unicodeScalars {
            if scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)) { run.append(scalar); continue }
            flush()
            out.append(scalar)
        }
        flush()
        let quoted = Printable.text(String(out))
        return quoted.count > limit ? String(quoted.prefix(max(0, limit - 1))) + "…" : quoted
    }

    /// `text` through `secrets(in:)`, or unchanged when `showSecrets`.
    public static func secrets(in text: String, showSecrets: Bool) -> String {
        showSecrets ? text : self.secrets(in: text)
    }
}

extension Finding {
    /// The finding with every text that is not its token redacted by `Redaction.secrets(in:)`: the path (a file,
    /// directory or archive member named after a token), the original source and how it was reached, git
    /// names (ref, tag, author, submodule) and the registry's texts (account and token names, details). The
    /// token and the snippet are left as they are (they are redacted when displayed, unless secrets are shown);
    /// the fingerprint and positions do not change.
    public func redactingNames() -> Finding {
        self.redactingNames(with: { Redaction.secrets(in: $0) })
    }

    /// `redactingNames()` with `redact` for each text (a cache, for a report's many findings in few files).
    func redactingNames(with redact: (String) -> String) -> Finding {
        var f = self
        f.path = redact(f.path)
        if var o = f.original {
            o.source = redact(o.source)
            o.via = redact(o.via)
            f.original = o
        }
        if var g = f.git {
            g.exampleRef = g.exampleRef.map { redact($0) }
            g.tag = g.tag.map { redact($0) }
            g.authorName = g.authorName.map { redact($0) }
            g.authorEmail = g.authorEmail.map { redact($0) }
            g.submodule = g.submodule.map { redact($0) }
            f.git = g
        }
        if var r = f.registry {
            r.accountName = r.accountName.map { redact($0) }
            r.tokenName = r.tokenName.map { redact($0) }
            r.detail = r.detail.map { redact($0) }
            r.status = r.status.map { redact($0) }
            r.lastAccessAt = r.lastAccessAt.map { redact($0) }
            f.registry = r
        }
        if var c = f.claims {
            c.issuer = c.issuer.map { redact($0) }
            c.userID = c.userID.map { redact($0) }
            c.accountID = c.accountID.map { redact($0) }
            c.extensionID = c.extensionID.map { redact($0) }
            f.claims = c
        }
        return f
    }
}

extension ScanReport {
    /// The report as it may be shown without `--show-secrets`: each finding through `Finding.redactingNames()`,
    /// and the paths and messages of skipped and unreadable entries through `Redaction.secrets(in:)` (a message
    /// can quote git's error output, which can name a ref or a path).
    public func redactingNames() -> ScanReport {
        var r = self
        // keyed by the bytes: Strings compare canonically, so `café` precomposed and decomposed (two files in one
        // directory) would share an entry and both be shown in the first one's spelling
        var cache: [[UInt8]: String] = [:]
        func redact(_ text: String) -> String {
            let key = Array(text.utf8)
            if let known = cache[key] { return known }
            let shown = Redaction.secrets(in: text)
            cache[key] = shown
            return shown
        }
        r.findings = r.findings.map { $0.redactingNames(with: redact) }
        r.summary.skipped = r.summary.skipped.map { var entry = $0; entry.path = redact(entry.path); return entry }
        // every other field (the limit an issue hit) kept as it is
        r.summary.unreadable = r.summary.unreadable.map { var issue = $0; issue.path = redact(issue.path); issue.message = redact(issue.message); return issue }
        return r
    }
}
