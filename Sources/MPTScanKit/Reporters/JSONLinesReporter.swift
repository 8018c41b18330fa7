/// The `--format jsonl` report: JSON Lines (https://jsonlines.org): one finding per line, each the same object as
/// a `findings` element of `JSONReporter` (docs/JSON-FORMAT.md, schema version 1) on one line, then one last line
/// `{"summary": {…}}` with the same summary object. Every line ends with `\n`; no line holds a raw newline.
///
/// Streaming-friendly: `line(for:)` gives a finding's line alone, so a caller can write each finding as soon as
/// the deterministic order allows, and `summaryLine(_:)` the last line at the end.
public struct JSONLinesReporter: Reporter {
    public var options: ReportOptions

    public init(options: ReportOptions) { self.options = options }

    /// One finding as one line of compact JSON, ending with `\n`.
    public func line(for finding: Finding) -> String {
        JSONReporter(showSecrets: self.options.showSecrets).finding(finding).serialized(pretty: false) + "\n"
    }

    /// The last line: `{"summary": {…}}` with JSONReporter's summary object, ending with `\n`.
    public func summaryLine(_ report: ScanReport) -> String {
        JSONValue.object([("summary", JSONReporter(showSecrets: self.options.showSecrets).summary(report))]).serialized(pretty: false) + "\n"
    }

    /// A sweep's finding record: `{"repository": <repository>, …}` and then the finding's fields, one line.
    public func line(for finding: Finding, repository: String) -> String {
        guard case .object(let pairs) = JSONReporter(showSecrets: self.options.showSecrets).finding(finding) else { return self.line(for: finding) }
        return JSONValue.object([("repository", .string(repository))] + pairs).serialized(pretty: false) + "\n"
    }

    /// A sweep's summary record: `{"repository": <repository>, "summary": {<extra>…, <summary fields>…}}`, one line.
    public func summaryLine(_ report: ScanReport, repository: String, extra: [(String, JSONValue)]) -> String {
        var pairs = extra
        if case .object(let fields) = JSONReporter(showSecrets: self.options.showSecrets).summary(report) { pairs += fields }
        return JSONValue.object([("repository", .string(repository)), ("summary", .object(pairs))]).serialized(pretty: false) + "\n"
    }

    public func write(_ report: ScanReport, to sink: (String) -> Void) {
        var pending = ""
        for f in report.findings {
            pending += self.line(for: f)
            if pending.utf8.count >= 1 << 16 { sink(pending); pending = "" }
        }
        sink(pending + self.summaryLine(report))
    }
}
