import Foundation

/// The `--format junit` report: JUnit XML as Jenkins (JUnit plugin) and GitLab (`artifacts:reports:junit`) read
/// it. There is no single JUnit standard; this follows the common subset of the Ant / Jenkins XSD
/// (https://github.com/jenkinsci/junit-plugin/blob/master/src/main/resources/hudson/tasks/junit/JUnit.xsd) and
/// GitLab's reader (https://docs.gitlab.com/ci/testing/unit_test_reports/).
///
/// Shape: `<testsuites>` holding one `<testsuite name="mptscan">`, whose test cases are, in report order:
/// - per finding that fails the policy: `<testcase classname="<path>" name="<rule> <token id> at <line>:<column>">`
///   with `<failure message="…" type="<rule>">` (details, redacted, as text);
/// - per suppressed finding (allow comment, baseline, ignore list): the same test case with `<skipped message="…"/>`;
/// - per finding that does not fail the policy (e.g. `--fail-on live` and a `disabled` verdict): a passing test case;
/// - per unreadable path (unless accepted) and for an interrupted scan: a test case with `<error>`;
/// - when there is no unsuppressed finding: one passing test case `classname="mptscan" name="no leaked tokens"`.
///
/// Attribute and text values are escaped (`&`, `<`, `>`, `"`, `'`; tab, LF and CR as character references in
/// attributes); characters XML 1.0 forbids (other C0 controls, U+FFFE, U+FFFF) become U+FFFD, so the document
/// is always well-formed. Deterministic: `time` and `timestamp` only when `ReportOptions` gives the times.
public struct JUnitReporter: Reporter {
    public var options: ReportOptions

    public init(options: ReportOptions) { self.options = options }

    private struct Case {
        var classname: String
        var name: String
        var file: String?
        var line: Int?
        /// (element, message, type, text) for failure, error or skipped; nil for a pass.
        var outcome: (element: String, message: String, type: String?, text: String?)?
        var systemOut: String?
    }

    public func write(_ report: ScanReport, to sink: (String) -> Void) {
        let rules = ReportSupport.uniqueRules(self.options.rules)
        var cases: [Case] = []
        for f in report.findings {
            let rule = rules.first { $0.id == f.ruleID }
            var c = Case(classname: f.path, name: "\(f.ruleID) \(f.tokenID) at \(f.line):\(f.column)", file: f.path, line: f.line)
            let headline = ReportSupport.headline(f, rule: rule, showSecrets: self.options.showSecrets)
            if let s = f.suppression {
                c.outcome = ("skipped", "suppressed (\(s.rawValue)): \(SARIFReporter.justification(s))", nil, nil)
            } else if self.options.policy.fails(f) {
                c.outcome = ("failure", "\(headline) [\(f.severity.rawValue)]", f.ruleID, self.details(f, rule: rule))
            } else {
                c.systemOut = "\(headline) does not fail --fail-on \(self.options.policy.rawValue) (verdict \(f.registry?.verdict.rawValue ?? "unverified"))"
            }
            cases.append(c)
        }
        let s = report.summary
        for issue in s.unreadable where !issue.isAccepted(acceptUnreadable: self.options.acceptUnreadable) {
            cases.append(Case(classname: issue.path, name: "read \(issue.path)", file: issue.path,
                              outcome: ("error", "\(issue.path): \(issue.message)", issue.limit == nil ? "unreadable" : "limit", nil)))
        }
        if s.interrupted {
            cases.append(Case(classname: "mptscan", name: "scan complete", outcome: ("error", "interrupted: the scan is incomplete", "interrupted", nil)))
        }
        if !report.findings.contains(where: { !$0.isSuppressed }) {
            cases.append(Case(classname: "mptscan", name: "no leaked tokens"))
        }

        let failures = cases.filter { $0.outcome?.element == "failure" }.count
        let errors = cases.filter { $0.outcome?.element == "error" }.count
        let skipped = cases.filter { $0.outcome?.element == "skipped" }.count
        var counts = "tests=\"\(cases.count)\" failures=\"\(failures)\" errors=\"\(errors)\" skipped=\"\(skipped)\""
        if let start = self.options.startTime, let end = self.options.endTime {
            counts += " time=\"\(Self.seconds(end.timeIntervalSince(start)))\""
        }
        var head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        head += "<testsuites name=\"\(ToolInfo.name)\" \(counts)>\n"
        head += "  <testsuite name=\"\(ToolInfo.name)\" \(counts)"
        if let start = self.options.startTime { head += " timestamp=\"\(ReportSupport.timestamp(start))\"" }
        head += ">\n"
        head += "    <properties>\n"
        head += "      <property name=\"tool\" value=\"\(ToolInfo.name) \(Self.escape(ToolInfo.version))\"/>\n"
        head += "      <property name=\"fail-on\" value=\"\(self.options.policy.rawValue)\"/>\n"
        head += "    </properties>\n"
        sink(head)
        for c in cases { sink(self.testcase(c)) }
        sink("  </testsuite>\n</testsuites>\n")
    }

    private func testcase(_ c: Case) -> String {
        var out = "    <testcase classname=\"\(Self.escape(c.classname, attribute: true))\" name=\"\(Self.escape(c.name, attribute: true))\""
        if let file = c.file { out += " file=\"\(Self.escape(file, attribute: true))\"" }
        if let line = c.line { out += " line=\"\(line)\"" }
        guard c.outcome != nil || c.systemOut != nil else { return out + "/>\n" }
        out += ">\n"
        if let o = c.outcome {
            out += "      <\(o.element) message=\"\(Self.escape(o.message, attribute: true))\""
            if let type = o.type { out += " type=\"\(Self.escape(type, attribute: true))\"" }
            if let text = o.text {
                out += ">" + Self.escape(text) + "</\(o.element)>\n"
            } else {
                out += "/>\n"
            }
        }
        if let text = c.systemOut { out += "      <system-out>\(Self.escape(text))</system-out>\n" }
        return out + "    </testcase>\n"
    }

    /// The failure's text: where, the redacted snippet, facts, the fingerprint and what to do.
    private func details(_ f: Finding, rule: Rule?) -> String {
        var lines = ["\(f.path):\(f.line):\(f.column): \(f.severity.rawValue): \(ReportSupport.headline(f, rule: rule, showSecrets: self.options.showSecrets))"]
        lines.append("snippet: \(f.snippet(showSecrets: self.options.showSecrets))")
        lines += ReportSupport.facts(f)
        lines.append("fingerprint: \(f.fingerprint)")
        if let rule { lines.append("fix: \(rule.remediation)") }
        return lines.joined(separator: "\n")
    }

    static func seconds(_ s: Double) -> String {
        let millis = Int((max(0, s) * 1000).rounded())
        let frac = String(millis % 1000)
        return "\(millis / 1000)." + String(repeating: "0", count: 3 - frac.count) + frac
    }

    /// `text` escaped for XML 1.0 character data or (with `attribute`) a double- or single-quoted attribute
    /// value. Characters outside XML 1.0's `Char` production (§2.2: C0 controls but tab, LF and CR; U+FFFE,
    /// U+FFFF) are replaced by U+FFFD; in attributes tab, LF and CR become character references so attribute-value
    /// normalisation (§3.3.3) keeps them.
    public static func escape(_ text: String, attribute: Bool = false) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out.append(contentsOf: "&amp;".unicodeScalars)
            case "<": out.append(contentsOf: "&lt;".unicodeScalars)
            case ">": out.append(contentsOf: "&gt;".unicodeScalars)
            case "\"": out.append(contentsOf: "&quot;".unicodeScalars)
            case "'": out.append(contentsOf: "&apos;".unicodeScalars)
            case "\t" where attribute: out.append(contentsOf: "&#9;".unicodeScalars)
            case "\n" where attribute: out.append(contentsOf: "&#10;".unicodeScalars)
            case "\r": out.append(contentsOf: "&#13;".unicodeScalars)
            case "\t", "\n": out.append(scalar)
            default:
                let v = scalar.value
                if v < 0x20 || v == 0xFFFE || v == 0xFFFF { out.append("\u{FFFD}") } else { out.append(scalar) }
            }
        }
        return String(out)
    }
}
