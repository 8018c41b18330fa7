/// The `--format github` report: GitHub Actions workflow commands, one line per finding that fails the policy:
/// `::error file=src/api.ts,line=3,col=15,endColumn=96,title=…::…`, `::warning` for low severity and expired
/// platform JWTs (a commit or tag message's without `file`, as it is no file of the checkout); and one per
/// unreadable path (`::error`, or `::warning` when accepted). Suppressed findings and
/// findings that pass the policy write nothing. GitHub shows each line as an annotation on the file and line.
///
/// Source: https://docs.github.com/en/actions/reference/workflow-commands-for-github-actions ("Setting an error
/// message"); escaping as `@actions/core` does it (`escapeData`, `escapeProperty` in
/// https://github.com/actions/toolkit/blob/main/packages/core/src/command.ts): in the message `%` → `%25`,
/// CR → `%0D`, LF → `%0A`; in property values also `:` → `%3A` and `,` → `%2C`. `col` is 1-based;
/// `endColumn` is the last column of the token (inclusive), in Unicode scalars like `col`.
public struct GitHubAnnotationsReporter: Reporter {
    public var options: ReportOptions

    public init(options: ReportOptions) { self.options = options }

    /// The workflow command of one finding (with its trailing `\n`), or nil when it does not fail the policy.
    public func command(for f: Finding) -> String? {
        guard self.options.policy.fails(f) else { return nil }
        let rule = ReportSupport.uniqueRules(self.options.rules).first { $0.id == f.ruleID }
        let level = f.severity == .low || ReportSupport.isExpired(f) ? "warning" : "error"
        var message = "\(ReportSupport.headline(f, rule: rule, showSecrets: self.options.showSecrets)), \(f.severity.rawValue)."
        for fact in ReportSupport.facts(f) { message += " " + fact }
        if let rule { message += "\n" + rule.remediation }
        message += "\nA test value can be allowed with `mptscan:allow` on its line. Fingerprint \(f.fingerprint)."
        var properties: [(String, String)] = []
        // a commit or tag message is no file of the checkout: its annotation goes on the run, not on a file
        if f.git == nil || f.git?.source == .blob || f.git?.source == .staged {
            properties = [("file", f.path), ("line", String(f.line)), ("col", String(f.column))]
            if f.endColumn > f.column { properties.append(("endColumn", String(f.endColumn - 1))) }
        }
        properties.append(("title", "\(rule?.name ?? f.ruleID) \(f.tokenID) [\(f.ruleID)]"))
        return Self.command(level, properties: properties, message: message)
    }

    public func write(_ report: ScanReport, to sink: (String) -> Void) {
        var out = ""
        for f in report.findings {
            if let line = self.command(for: f) { out += line }
        }
        for issue in report.summary.unreadable {
            out += Self.command(issue.isAccepted(acceptUnreadable: self.options.acceptUnreadable) ? "warning" : "error",
                                properties: [("title", issue.limit == nil ? "mptscan: unreadable path" : "mptscan: limit reached")],
                                message: "\(issue.path): \(issue.message): the scan is incomplete")
        }
        for (limit, line) in zip(report.summary.limitsReached.reached.map(\.limit), report.summary.limitsReached.lines) where !limit.makesScanIncomplete {
            out += Self.command("notice", properties: [("title", "mptscan: limit reached")], message: line)
        }
        if report.summary.interrupted {
            out += Self.command("error", properties: [("title", "mptscan: interrupted")], message: "the scan is incomplete")
        }
        sink(out)
    }

    /// `::<name> k=v,…::<message>\n` with properties and message escaped; control characters left after
    /// escaping (ESC, BEL, …, which could drive the log viewer or a terminal) become U+FFFD (`Printable.text`).
    public static func command(_ name: String, properties: [(String, String)], message: String) -> String {
        let props = properties.map { "\($0.0)=\(Printable.text(Self.escapeProperty($0.1)))" }.joined(separator: ",")
        return "::\(name)\(props.isEmpty ? "" : " " + props)::\(Printable.text(Self.escapeData(message)))\n"
    }

    /// A message: `%` → `%25`, CR → `%0D`, LF → `%0A`.
    public static func escapeData(_ s: String) -> String {
        s.replacingAll("%", "%25").replacingAll("\r", "%0D").replacingAll("\n", "%0A")
    }

    /// A property value: as `escapeData`, and `:` → `%3A`, `,` → `%2C`.
    public static func escapeProperty(_ s: String) -> String {
        Self.escapeData(s).replacingAll(":", "%3A").replacingAll(",", "%2C")
    }
}

extension String {
    /// Every occurrence of `target` replaced (Foundation-free, by Unicode scalars).
    fileprivate func replacingAll(_ target: Unicode.Scalar, _ replacement: String) -> String {
        guard self.unicodeScalars.contains(target) else { return self }
        var out = String.UnicodeScalarView()
        for scalar in self.unicodeScalars {
            if scalar == target { out.append(contentsOf: replacement.unicodeScalars) } else { out.append(scalar) }
        }
        return String(out)
    }
}
