import Foundation

/// Settings shared by every report format. The defaults are the command line's defaults.
public struct ReportOptions: Sendable {
    /// Show full token values instead of redacted ones (`--show-secrets`). Off by default: every format
    /// redacts secrets to the token id and four characters of the secret.
    public var showSecrets: Bool
    /// The rules the scan ran with, in a stable order: SARIF lists one `reportingDescriptor` per rule id (the
    /// first of duplicates wins), other formats take names, descriptions and remediation from here.
    public var rules: [Rule]
    /// Which findings fail the scan (`--fail-on`): JUnit fails, and GitHub annotates, only those.
    public var policy: FailPolicy
    /// When the scan started. Written only where a format needs it (GitLab `scan.start_time`, SARIF
    /// `invocations[0].startTimeUtc`, JUnit `timestamp`); the CLI takes it from `SOURCE_DATE_EPOCH` when set,
    /// so reports stay reproducible. Nil: left out (GitLab, whose schema requires it, falls back to `endTime`,
    /// then to 1970-01-01T00:00:00).
    public var startTime: Date?
    /// When the scan ended (see `startTime`).
    public var endTime: Date?
    /// The scan root as an absolute file-system path (`/home/ci/repo`). SARIF declares it as
    /// `originalUriBaseIds["%SRCROOT%"]` so the relative URIs of results resolve; nil leaves the base undeclared
    /// (GitHub code scanning resolves `%SRCROOT%` to the checkout).
    public var uriBase: String?
    /// Unreadable paths were accepted (`--skip-unreadable`): they are then warnings, and the scan counts as
    /// successful, in SARIF notifications, JUnit errors and the GitLab scan status.
    public var acceptUnreadable: Bool

    public init(showSecrets: Bool = false, rules: [Rule] = BuiltinRules.all, policy: FailPolicy = .any,
                startTime: Date? = nil, endTime: Date? = nil, uriBase: String? = nil, acceptUnreadable: Bool = false) {
        self.showSecrets = showSecrets
        self.rules = rules
        self.policy = policy
        self.startTime = startTime
        self.endTime = endTime
        self.uriBase = uriBase
        self.acceptUnreadable = acceptUnreadable
    }
}

/// A report format: turns a `ScanReport` into text. Every machine format is deterministic: the same report and
/// options give the same bytes (no clock, no randomness, no hash-table order).
public protocol Reporter: Sendable {
    /// Writes the report in pieces, in order, so a huge report is never held as one string. The pieces joined
    /// are exactly `render(_:)`.
    func write(_ report: ScanReport, to sink: (String) -> Void)
}

extension Reporter {
    /// The whole report as one string (UTF-8 text ending with a newline, or empty when a format has nothing to say).
    public func render(_ report: ScanReport) -> String {
        var out = ""
        self.write(report) { out += $0 }
        return out
    }
}

extension JSONReporter: Reporter {}

/// The formats of `--format` and `--report FORMAT:PATH`.
public enum ReportFormat: String, Sendable, CaseIterable {
    /// Human text (`TextReporter`), the default.
    case text
    /// One JSON document (`JSONReporter`, docs/JSON-FORMAT.md).
    case json
    /// JSON Lines: one finding per line, then a summary line (`JSONLinesReporter`).
    case jsonl
    /// SARIF 2.1.0 (`SARIFReporter`).
    case sarif
    /// JUnit XML (`JUnitReporter`).
    case junit
    /// GitLab secret detection report, schema 15.x (`GitLabReporter`).
    case gitlab
    /// GitHub Actions workflow commands (`GitHubAnnotationsReporter`).
    case github

    /// The reporter for this format. `color` applies to `text` only.
    public func reporter(_ options: ReportOptions, color: Bool = false) -> any Reporter {
        switch self {
        case .text: return TextFormat(reporter: TextReporter(showSecrets: options.showSecrets, color: color), rules: options.rules)
        case .json: return JSONReporter(showSecrets: options.showSecrets)
        case .jsonl: return JSONLinesReporter(options: options)
        case .sarif: return SARIFReporter(options: options)
        case .junit: return JUnitReporter(options: options)
        case .gitlab: return GitLabReporter(options: options)
        case .github: return GitHubAnnotationsReporter(options: options)
        }
    }
}

/// `TextReporter` as a `Reporter` (the text report needs the rules for their names).
struct TextFormat: Reporter {
    var reporter: TextReporter
    var rules: [Rule]

    func write(_ report: ScanReport, to sink: (String) -> Void) { sink(self.reporter.render(report, rules: self.rules)) }
}

/// Facts and helpers the reporters share.
enum ReportSupport {
    /// The rules by id, the first of duplicate ids winning, in `rules` order.
    static func uniqueRules(_ rules: [Rule]) -> [Rule] {
        var seen = Set<String>()
        return rules.filter { seen.insert($0.id).inserted }
    }

    /// `mpt-api-token` → `MptApiToken` (the conventional SARIF `reportingDescriptor.name`).
    static func pascalCase(_ id: String) -> String {
        id.split(whereSeparator: { !$0.isLetter && !$0.isNumber }).map { $0.prefix(1).uppercased() + $0.dropFirst() }.joined()
    }

    /// True for a platform JWT whose `exp` has passed (reported at a lower level everywhere).
    static func isExpired(_ f: Finding) -> Bool { f.claims?.expired == true }

    /// UTC `YYYY-MM-DDTHH:MM:SS` (GitLab's `start_time` pattern, JUnit's `timestamp`); `zulu` appends `Z`
    /// (RFC 3339, SARIF `startTimeUtc`). Whole seconds, rounded down.
    static func timestamp(_ date: Date, zulu: Bool = false) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let seconds = floor(date.timeIntervalSince1970)
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: Date(timeIntervalSince1970: seconds))
        func pad(_ n: Int?, _ width: Int = 2) -> String {
            let s = String(n ?? 0)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        let text = "\(pad(c.year, 4))-\(pad(c.month))-\(pad(c.day))T\(pad(c.hour)):\(pad(c.minute)):\(pad(c.second))"
        return zulu ? text + "Z" : text
    }

    /// A one-line statement of what was found, with the token redacted unless `showSecrets`:
    /// `SoftwareOne Marketplace API token TKN-1234-5678 (idt:TKN-1234-5678:Ab12…)`.
    static func headline(_ f: Finding, rule: Rule?, showSecrets: Bool) -> String {
        "\(rule?.name ?? f.ruleID) \(f.tokenID) (\(f.displayToken(showSecrets: showSecrets)))"
    }

    /// Extra facts for a message: expiry, registry verdict and where in git, one sentence each.
    static func facts(_ f: Finding) -> [String] {
        var out: [String] = []
        if let c = f.claims {
            var whose = c.kind == .extension ? "Extension key" : "User login"
            if let id = c.extensionID ?? c.userID { whose += " of \(id)" }
            if let account = c.accountID { whose += " in \(account)" }
            out.append(whose + "; " + (c.expiresAtText.map { c.expired ? "expired \($0)." : "expires \($0)." } ?? "no expiry."))
        }
        if let v = f.registry, v.source != "none" {
            var line = "Registry verdict: \(v.verdict.rawValue)"
            if let status = v.status { line += " (\(status))" }
            if let account = v.accountID { line += ", account \(account)" }
            out.append(line + ".")
        }
        if let g = f.git, let commit = g.commit {
            let verb = g.source == .blob ? "Introduced in commit" : "In the message of commit"
            out.append("\(verb) \(commit)" + (g.authorName.map { " by \($0)" } ?? "") + ".")
        }
        if let o = f.original {
            out.append("Original source \(o.source):\(o.line) (\(o.via)).")
        }
        return out
    }
}
