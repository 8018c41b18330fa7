/// The `--format json` report. Schema: docs/JSON-FORMAT.md (`schema_version` 1). Deterministic: no timings.
public struct JSONReporter: Sendable {
    /// Bumped on any incompatible change to the report's shape.
    public static let schemaVersion = 1
    public var showSecrets: Bool

    public init(showSecrets: Bool) { self.showSecrets = showSecrets }

    /// The whole report, pretty-printed, ending with a newline.
    public func render(_ report: ScanReport) -> String {
        let s = report.summary
        let suppressed = report.findings.filter(\.isSuppressed).count
        let root: JSONValue = .object([
            ("schema_version", .int(Self.schemaVersion)),
            ("tool", .object([("name", .string("mptscan")), ("version", .string(ToolInfo.version))])),
            ("findings", .array(report.findings.map(self.finding))),
            ("summary", .object([
                ("complete", .bool(s.unreadable.isEmpty && !s.interrupted)),
                ("interrupted", .bool(s.interrupted)),
                ("files_scanned", .int(s.filesScanned)),
                ("bytes_scanned", .int(s.bytesScanned)),
                ("files_decoded", .int(s.filesDecoded)),
                ("findings", .int(report.findings.count - suppressed)),
                ("suppressed", .int(suppressed)),
                ("skipped", .array(s.skipped.map { .object([("path", .string($0.path)), ("reason", .string($0.reason.rawValue))]) })),
                ("unreadable", .array(s.unreadable.map { .object([("path", .string($0.path)), ("message", .string($0.message))]) })),
            ])),
        ])
        return root.serialized() + "\n"
    }

    func finding(_ f: Finding) -> JSONValue {
        .object([
            ("rule_id", .string(f.ruleID)),
            ("token_id", .string(f.tokenID)),
            ("severity", .string(f.severity.rawValue)),
            ("confidence", .string(f.confidence.rawValue)),
            ("path", .string(f.path)),
            ("line", .int(f.line)),
            ("column", .int(f.column)),
            ("end_column", .int(f.endColumn)),
            ("byte_offset", .int(f.byteOffset)),
            ("token", .string(f.displayToken(showSecrets: self.showSecrets))),
            ("snippet", .string(f.snippet(showSecrets: self.showSecrets))),
            ("fingerprint", .string(f.fingerprint)),
            ("separator_encoding", .string(f.encoding.rawValue)),
            ("text_encoding", f.textEncoding.map { .string($0.rawValue) } ?? .null),
            ("suppressed", .bool(f.isSuppressed)),
            ("suppression", f.suppression.map { .string($0.rawValue) } ?? .null),
        ])
    }
}
