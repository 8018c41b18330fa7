/// The default human-readable report: unsuppressed findings grouped by file (a `── path (n findings)` header,
/// then one block per finding) on stdout; the summary is separate
/// (`summary(_:)`, written to stderr). Colour only when asked (a TTY without `NO_COLOR`).
public struct TextReporter: Sendable {
    public var showSecrets: Bool
    public var color: Bool

    public init(showSecrets: Bool, color: Bool) {
        self.showSecrets = showSecrets
        self.color = color
    }

    /// Findings as text, grouped by file, e.g.
    /// `src/api.ts:3:15: critical: SoftwareOne Marketplace API token TKN-1234-5678 [mpt-api-token]`,
    /// then, indented, the redacted snippet, how it was decoded, its original source, git provenance, JWT
    /// claims, registry verdict, a one-line next step (`nextStep`) and the fingerprint.
    public func render(_ report: ScanReport, rules: [Rule]) -> String {
        var out = ""
        let open = report.findings.filter { !$0.isSuppressed }
        // by the path's bytes: `String` compares canonically, so `café` precomposed and decomposed (two files
        // of one directory) would share a header and a count
        var perFile: [[UInt8]: Int] = [:]
        for f in open { perFile[Array(f.path.utf8), default: 0] += 1 }
        var currentFile: [UInt8]? = nil
        for f in open {
            // grouped by file: a header when the file changes (findings keep `path:line:col` for editors)
            let path = Array(f.path.utf8)
            if path != currentFile {
                if currentFile != nil { out += "\n" }
                currentFile = path
                let n = perFile[path] ?? 1
                out += self.paint("── \(Printable.text(f.path)) (\(n) finding\(n == 1 ? "" : "s"))", "1") + "\n"
            }
            let name = rules.first { $0.id == f.ruleID }?.name ?? f.ruleID
            let severity = self.paint(f.severity.rawValue, f.severity >= .critical ? "1;31" : "33")
            out += "\(self.paint("\(Printable.text(f.path)):\(f.line):\(f.column)", "1")): \(severity): \(name) \(Printable.text(f.tokenID)) [\(f.ruleID)]\n"
            out += "    \(f.snippet(showSecrets: self.showSecrets))\n"
            if f.encoding != .plain { out += "    separators written as \(f.encoding.rawValue) (\(f.encoding.example))\n" }
            if !f.decodings.isEmpty { out += "    decoded: \(f.decodings.joined(separator: " → "))\n" }
            if let o = f.original {
                let via = o.via.hasPrefix("sourcesContent") ? "\(o.via) of the source map" : o.via
                out += "    original source \(Printable.text(o.source)):\(o.line):\(o.column) (\(Printable.text(via)))\n"
            }
            if let g = f.git { out += self.provenance(g) }
            if let c = f.claims { out += Self.describe(c) }
            if let v = f.registry, v.source != "none" { out += Self.describe(v) }
            out += "    next: \(Self.nextStep(f))\n"
            out += "    fingerprint \(f.fingerprint)\n"
        }
        return out
    }

    /// One line saying what to do about a finding, from what is known of it (verdict, git, bundle, JWT).
    static func nextStep(_ f: Finding) -> String {
        if let c = f.claims {
            if c.expired { return "expired, so it no longer opens anything: remove it from the file" }
            return c.kind == .extension ? "rotate the extension key, then remove it from the file" : "sign the user out of all sessions, then remove the token from the file"
        }
        switch f.registry?.verdict {
        case .disabled?, .deleted?, .invalid?:
            return "the token no longer works: remove it from the file (and its history)"
        case .mismatch?:
            return "not the token's current value (a fake or an old one): remove it; nothing to disable"
        case .unknown?:
            return "the registry knows no token \(f.tokenID): check the environment (--registry) or remove it as a fake"
        case .forbidden?:
            return "the registry credential may not read \(f.tokenID): ask its account's admin to check and disable it"
        case .live?:
            return "disable \(f.tokenID) now (`mptscan disable`, or Settings > API tokens), then remove it and issue a new one"
        default: break
        }
        if let g = f.git, g.presentAtHead == false {
            return "disable \(f.tokenID) in the Marketplace Platform: it is gone from HEAD but stays in history (rewrite with git filter-repo if needed)"
        }
        if let o = f.original, o.via.hasPrefix("sourcesContent") || o.via.hasPrefix("mappings") {
            return "disable \(f.tokenID), remove it from \(Printable.text(o.source)), and rebuild: shipped bundles keep it"
        }
        if f.path.contains("!") {
            return "disable \(f.tokenID), then rebuild the archive without it: copies already shipped keep it"
        }
        return "disable \(f.tokenID) in the Marketplace Platform and load it from a secret store; a test value can be marked mptscan:allow"
    }

    /// The line of a registry verdict: `registry: live (Active) — account ACC-… "Name" (Client), token "CI", last used …`.
    static func describe(_ v: RegistryVerdict) -> String {
        var line = "    registry: \(v.verdict.rawValue)"
        if let status = v.status { line += " (\(Printable.text(status)))" }
        var facts: [String] = []
        if let account = v.accountID {
            var a = "account \(Printable.text(account))"
            if let name = v.accountName { a += " \"\(Printable.text(name))\"" }
            if let type = v.accountType { a += " (\(Printable.text(type)))" }
            facts.append(a)
        }
        if let name = v.tokenName { facts.append("token \"\(Printable.text(name))\"") }
        if let last = v.lastAccessAt { facts.append("last used \(Printable.text(last))") }
        if !facts.isEmpty { line += " — " + facts.joined(separator: ", ") }
        if v.source != "registry" { line += " [\(v.source)]" }
        if v.disabledByRun { line += "; DISABLED by this run" }
        if let detail = v.detail { line += "\n      \(Printable.text(detail))" }
        return line + "\n"
    }

    /// The line of a platform JWT finding: whose it is and when it expires.
    static func describe(_ c: PlatformClaims) -> String {
        var whose = c.kind == .extension ? "extension key" : "user login"
        if let id = c.extensionID ?? c.userID { whose += " of \(Printable.text(id))" }
        if let account = c.accountID { whose += " in \(Printable.text(account))" }
        let expiry = c.expiresAtText.map { c.expired ? "expired \($0)" : "expires \($0)" } ?? "no expiry"
        return "    platform JWT: \(whose); \(expiry)\n"
    }

    /// The git lines of a finding: where it came from and how far it spread.
    func provenance(_ g: GitProvenance) -> String {
        var out = ""
        if let commit = g.commit {
            let verb = g.source == .blob ? "introduced in" : "in the message of"
            var line = "    \(verb) commit \(commit.prefix(12))"
            if let name = g.authorName { line += " by \(Printable.text(name)) <\(Printable.text(g.authorEmail ?? ""))>" }
            if let date = g.authorDate { line += " on \(date)" }
            out += line + "\n"
        } else if g.source == .tagMessage, let tag = g.tag {
            out += "    in the message of tag \(Printable.text(tag)) (object \(g.object.prefix(12)))\n"
        }
        if g.source == .blob {
            var parts: [String] = []
            if g.commitCount > 0 { parts.append("in \(g.commitCount) commit\(g.commitCount == 1 ? "" : "s")") }
            if g.refCount > 0 {
                parts.append("reachable from \(g.refCount) ref\(g.refCount == 1 ? "" : "s")" + (g.exampleRef.map { " (\(Printable.text($0)))" } ?? ""))
            }
            if let atHead = g.presentAtHead { parts.append(atHead ? "still in HEAD's tree" : "not in HEAD's tree (but in history)") }
            if g.unreachable { parts.append("unreachable from every ref") }
            if let sub = g.submodule { parts.append("in submodule \(Printable.text(sub))") }
            if !parts.isEmpty { out += "    " + parts.joined(separator: ", ") + "\n" }
        }
        return out
    }

    /// The closing summary (for stderr): unreadable paths (as errors, or warnings when `acceptUnreadable`), then
    /// counts, skipped entries and how to fix or allow. With `quiet`, only the unreadable paths.
    /// - Parameter advice: end with how to fix or allow a finding (hooks print their own advice instead).
    public func summary(_ report: ScanReport, seconds: Double?, acceptUnreadable: Bool, quiet: Bool, advice: Bool = true) -> String {
        let s = report.summary
        var lines = s.unreadable.map {
            "mptscan: \($0.isAccepted(acceptUnreadable: acceptUnreadable) ? "warning" : "error"): \(Printable.text($0.path)): \($0.message)"
        }
        if !quiet {
            lines += self.counts(report, seconds: seconds, acceptUnreadable: acceptUnreadable, advice: advice)
        }
        return lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
    }

    private func counts(_ report: ScanReport, seconds: Double?, acceptUnreadable: Bool, advice: Bool) -> [String] {
        let s = report.summary
        let open = report.findings.filter { !$0.isSuppressed }
        let allowed = report.findings.count - open.count
        let tokens = Set(open.map(\.fingerprint)).count
        var lines: [String] = []
        var head = "mptscan: \(open.count) finding\(open.count == 1 ? "" : "s")"
        if !open.isEmpty { head += " of \(tokens) distinct token\(tokens == 1 ? "" : "s")" }
        if allowed > 0 {
            var why: [String] = []
            let inSource = report.findings.filter { $0.suppression?.isInSource == true }.count
            let baselined = report.findings.filter { $0.suppression == .baseline }.count
            let ignored = report.findings.filter { $0.suppression == .ignored }.count
            if inSource > 0 { why.append("\(inSource) allowed by mptscan:allow") }
            if baselined > 0 { why.append("\(baselined) baselined") }
            if ignored > 0 { why.append("\(ignored) ignored") }
            head += ", plus " + why.joined(separator: ", ")
        }
        let unit = s.fromGit ? "blob" : "file"
        head += "; \(s.filesScanned) \(unit)\(s.filesScanned == 1 ? "" : "s") (\(Self.megabytes(s.bytesScanned)))"
        if s.commitsScanned > 0 { head += " and \(s.commitsScanned) commit\(s.commitsScanned == 1 ? "" : "s")" }
        head += " scanned"
        if let seconds { head += " in \(Self.seconds(seconds))" }
        lines.append(head)
        // registry verdicts, when a registry (or snapshot, or self-check) was asked
        let verdicts = open.compactMap(\.registry).filter { $0.source != "none" }
        if !verdicts.isEmpty {
            var counts: [Verdict: Int] = [:]
            for v in open.compactMap(\.registry) { counts[v.verdict, default: 0] += 1 }
            lines.append("mptscan: registry verdicts: " + Verdict.allCases.compactMap { v in counts[v].map { "\($0) \(v.rawValue)" } }.joined(separator: ", "))
        }
        if !s.skipped.isEmpty {
            var counts: [SkipReason: Int] = [:]
            for entry in s.skipped { counts[entry.reason, default: 0] += 1 }
            let parts = SkipReason.allCases.compactMap { r in counts[r].map { "\($0) \(r.rawValue)\($0 == 1 ? "" : "s")" } }
            var line = "mptscan: skipped (not content): " + parts.joined(separator: ", ")
            if counts[.symlink] != nil { line += "; symlinks are not followed without --follow-symlinks" }
            lines.append(line)
        }
        lines += s.limitsReached.lines.map { "mptscan: " + $0 }
        if s.interrupted { lines.append("mptscan: interrupted: the scan is incomplete") }
        if s.unreachableHits > 0 {
            lines.append("mptscan: \(s.unreachableHits) hit\(s.unreachableHits == 1 ? "" : "s") in objects no ref reaches left out; --all-objects reports them")
        }
        // what --skip-unreadable accepted is said as such: the scan then counts as complete (exit 0 possible)
        let accepted = s.unreadable.filter { $0.isAccepted(acceptUnreadable: acceptUnreadable) }.count
        let limited = s.unreadable.filter { $0.limit != nil }.count, unread = s.unreadable.count - limited - accepted
        if accepted > 0 {
            lines.append("mptscan: \(accepted) path\(accepted == 1 ? "" : "s") could not be read, accepted with --skip-unreadable")
        }
        if limited > 0 {
            var line = "mptscan: \(limited) path\(limited == 1 ? "" : "s") left partly unscanned at a limit"
            if unread > 0 { line += ", \(unread) could not be read" }
            lines.append(line + ": the scan is incomplete")
        } else if unread > 0 {
            lines.append("mptscan: \(unread) path\(unread == 1 ? "" : "s") could not be read: the scan is incomplete")
        } else if s.limitsReached.makesScanIncomplete {
            lines.append("mptscan: a limit was reached: the scan is incomplete")
        }
        if !open.isEmpty && advice {
            lines.append("mptscan: fix: disable each token in the Marketplace Platform, then remove it from the code and its history;")
            lines.append("         a test value can be allowed with `mptscan:allow` on its line (or `mptscan:allow-next-line` above it)")
        }
        return lines
    }

    private func paint(_ text: String, _ code: String) -> String {
        self.color ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }

    static func megabytes(_ bytes: Int) -> String {
        let mb = Double(bytes) / 1_000_000
        return mb >= 10 ? "\(Int(mb.rounded())) MB" : "\(Double(Int(mb * 10)) / 10) MB"
    }

    static func seconds(_ s: Double) -> String {
        s >= 10 ? "\(Int(s.rounded())) s" : "\(Double(Int(s * 100)) / 100) s"
    }
}
