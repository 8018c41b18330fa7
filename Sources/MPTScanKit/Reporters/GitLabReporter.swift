import Foundation

/// The `--format gitlab` report: GitLab's secret detection report (`artifacts:reports:secret_detection`),
/// security report schema version `schemaVersion` (15.0.7), from
/// https://gitlab.com/gitlab-org/security-products/security-report-schemas (`dist/secret-detection-report-format.json`).
/// GitLab validates a report against the version it declares (a newer patch of 15.x against its latest vendored
/// 15.x patch) and ignores reports that do not validate; docs/REPORT-FORMATS.md lists every field and which the
/// schema requires.
///
/// Shape: `version`, `schema`, `scan` {`analyzer`, `scanner` (each `id`, `name`, `version`, `vendor.name`),
/// `type` `secret_detection`, `start_time`, `end_time` (`YYYY-MM-DDTHH:MM:SS`, UTC), `status` `success` |
/// `failure`, `messages` for unreadable paths}, `vulnerabilities`: one per unsuppressed finding (suppressed ones are
/// left out: GitLab has no state for "allowed in the source"), with a deterministic UUID-shaped `id`, `name`,
/// `description` (redacted), `severity` (`Critical`, `High`, `Medium`, `Low`; `Info` for an expired JWT),
/// `solution`, `identifiers` (the rule id first: GitLab's primary identifier), and `location` {`file`,
/// `start_line`, `end_line`, `commit` {`sha`, plus `author`, `date` for history}}. Outside git history the
/// commit sha is `0000000`, as GitLab's own secrets analyzer writes for a scan of the working tree.
/// No `raw_source_code_extract`: it would hold the secret.
public struct GitLabReporter: Reporter {
    /// The security report schema version declared in `version`.
    public static let schemaVersion = "15.0.7"
    /// The schema the report declares in `schema`.
    public static let schemaURL = "https://gitlab.com/gitlab-org/security-products/security-report-schemas/-/raw/v15.0.7/dist/secret-detection-report-format.json"
    /// `location.commit.sha` when the finding is not from git history.
    public static let noCommit = "0000000"

    public var options: ReportOptions

    public init(options: ReportOptions) { self.options = options }

    /// GitLab's severity for a finding: the rule's severity capitalised; `Info` for an expired platform JWT.
    public static func severity(_ f: Finding) -> String {
        if ReportSupport.isExpired(f) { return "Info" }
        return f.severity.rawValue.prefix(1).uppercased() + f.severity.rawValue.dropFirst()
    }

    /// A UUID-shaped id (8-4-4-4-12 lowercase hex, version nibble 5, RFC 4122 variant) from SHA-256 of the rule
    /// id, fingerprint, path, line, column and commit: the same finding gets the same id in every run.
    public static func vulnerabilityID(_ f: Finding) -> String {
        let key = [f.ruleID, f.fingerprint, f.path, String(f.line), String(f.column), f.git?.commit ?? ""].joined(separator: "\u{0}")
        var bytes = Array(SHA256.hexDigest(of: Array(key.utf8)).prefix(32))
        bytes[12] = "5"
        let variant = ["8", "9", "a", "b"][Int(String(bytes[16]), radix: 16)! & 3]
        bytes[16] = Character(variant)
        let h = String(bytes)
        func part(_ a: Int, _ b: Int) -> Substring { h.dropFirst(a).prefix(b - a) }
        return "\(part(0, 8))-\(part(8, 12))-\(part(12, 16))-\(part(16, 20))-\(part(20, 32))"
    }

    public func write(_ report: ScanReport, to sink: (String) -> Void) {
        let rules = ReportSupport.uniqueRules(self.options.rules)
        let s = report.summary
        let start = self.options.startTime ?? self.options.endTime ?? Date(timeIntervalSince1970: 0)
        let end = self.options.endTime ?? start
        let failed = s.isIncomplete(acceptUnreadable: self.options.acceptUnreadable)
        let component: JSONValue = .object([
            ("id", .string(ToolInfo.name)),
            ("name", .string(ToolInfo.name)),
            ("url", .string(ToolInfo.informationURI)),
            ("version", .string(ToolInfo.version)),
            ("vendor", .object([("name", .string(ToolInfo.name))])),
        ])
        var scan: [(String, JSONValue)] = [
            ("analyzer", component),
            ("scanner", component),
            ("type", .string("secret_detection")),
            ("start_time", .string(ReportSupport.timestamp(start))),
            ("end_time", .string(ReportSupport.timestamp(end))),
            ("status", .string(failed ? "failure" : "success")),
        ]
        var messages: [JSONValue] = s.unreadable.map {
            .object([("level", .string($0.isAccepted(acceptUnreadable: self.options.acceptUnreadable) ? "warn" : "fatal")), ("value", .string("\($0.path): \($0.message)"))])
        }
        messages += s.limitsReached.lines.map { .object([("level", .string("info")), ("value", .string($0))]) }
        if s.interrupted { messages.append(.object([("level", .string("fatal")), ("value", .string("interrupted: the scan is incomplete"))])) }
        let suppressed = report.findings.filter(\.isSuppressed).count
        if suppressed > 0 {
            messages.append(.object([("level", .string("info")), ("value", .string("\(suppressed) suppressed finding\(suppressed == 1 ? "" : "s") (allow comments, baseline, ignore list) left out"))]))
        }
        if !messages.isEmpty { scan.append(("messages", .array(messages))) }
        let head: [(String, JSONValue)] = [
            ("version", .string(Self.schemaVersion)),
            ("schema", .string(Self.schemaURL)),
            ("scan", .object(scan)),
        ]
        JSONStream.object(head, streamKey: "vulnerabilities", items: report.findings.filter { !$0.isSuppressed }, indent: 0, sink: sink) { f in
            self.vulnerability(f, rule: rules.first { $0.id == f.ruleID })
        }
        sink("\n")
    }

    func vulnerability(_ f: Finding, rule: Rule?) -> JSONValue {
        var description = "\(rule?.description ?? f.ruleID) Found: \(f.displayToken(showSecrets: self.options.showSecrets))."
        for fact in ReportSupport.facts(f) { description += " " + fact }
        description += " Fingerprint (SHA-256 of the token): \(f.fingerprint)."
        var commit: [(String, JSONValue)] = [("sha", .string(f.git?.commit ?? Self.noCommit))]
        if let g = f.git, g.commit != nil {
            if let name = g.authorName { commit.append(("author", .string(name + (g.authorEmail.map { " <\($0)>" } ?? "")))) }
            if let date = g.authorDate { commit.append(("date", .string(date))) }
        }
        return .object([
            ("id", .string(Self.vulnerabilityID(f))),
            ("name", .string("\(rule?.name ?? f.ruleID) \(f.tokenID)")),
            ("description", .string(description)),
            ("severity", .string(Self.severity(f))),
            ("solution", .string(rule?.remediation ?? "Disable the token, then remove it from the code and its history.")),
            ("identifiers", .array([
                .object([("type", .string("mptscan_rule_id")), ("name", .string("mptscan rule \(f.ruleID)")), ("value", .string(f.ruleID))]),
                .object([("type", .string("cwe")), ("name", .string("CWE-798")), ("value", .string("798")),
                         ("url", .string("https://cwe.mitre.org/data/definitions/798.html"))]),
            ])),
            ("location", .object([
                ("file", .string(f.path)),
                ("start_line", .int(f.line)),
                ("end_line", .int(f.line)),
                ("commit", .object(commit)),
            ])),
        ])
    }
}
