/// The `--format json` report. Schema: docs/JSON-FORMAT.md (`schema_version` 1). Deterministic: no timings.
public struct JSONReporter: Sendable {
    /// Bumped on any incompatible change to the report's shape.
    public static let schemaVersion = 1
    public var showSecrets: Bool

    public init(showSecrets: Bool) { self.showSecrets = showSecrets }

    /// The whole report, pretty-printed, ending with a newline.
    public func render(_ report: ScanReport) -> String {
        var out = ""
        self.write(report) { out += $0 }
        return out
    }

    /// The report in pieces, one finding at a time, so a huge report is never held as one string. The pieces
    /// joined are exactly `render(_:)`.
    public func write(_ report: ScanReport, to sink: (String) -> Void) {
        let head: JSONValue = .object([
            ("schema_version", .int(Self.schemaVersion)),
            ("tool", .object([("name", .string(ToolInfo.name)), ("version", .string(ToolInfo.version))])),
        ])
        var text = head.serialized()
        text.removeLast(2) // "\n}"
        sink(text + ",\n  \"findings\": " + (report.findings.isEmpty ? "[]" : "["))
        for (i, f) in report.findings.enumerated() {
            sink((i == 0 ? "\n    " : ",\n    ") + self.finding(f).serialized(pretty: true, indent: 2))
        }
        if !report.findings.isEmpty { sink("\n  ]") }
        let summary: JSONValue = .object([("summary", self.summary(report))])
        var tail = summary.serialized()
        tail.removeFirst(1) // "{"
        sink("," + tail + "\n")
    }

    func summary(_ report: ScanReport) -> JSONValue {
        let s = report.summary
        let suppressed = report.findings.filter(\.isSuppressed).count
        return .object([
                ("complete", .bool(s.unreadable.isEmpty && !s.interrupted && !s.limitsReached.makesScanIncomplete)),
                ("interrupted", .bool(s.interrupted)),
                ("files_scanned", .int(s.filesScanned)),
                ("bytes_scanned", .int(s.bytesScanned)),
                ("files_decoded", .int(s.filesDecoded)),
                ("commits_scanned", .int(s.commitsScanned)),
                ("unreachable_hits_left_out", .int(s.unreachableHits)),
                ("findings", .int(report.findings.count - suppressed)),
                ("suppressed", .int(suppressed)),
                ("skipped", .array(s.skipped.map { .object([("path", .string($0.path)), ("reason", .string($0.reason.rawValue))]) })),
                ("unreadable", .array(s.unreadable.map { issue in
                    .object([("path", .string(issue.path)), ("message", .string(issue.message))]
                            + (issue.limit.map { [("limit", .string($0.rawValue))] } ?? []))
                })),
                ("limits_reached", .array(s.limitsReached.reached.map { limit, count in
                    .object([("limit", .string(limit.rawValue)), ("flag", .string(limit.flag)), ("value", .int(s.limitsReached.limits[limit])),
                             ("count", .int(count)), ("incomplete", .bool(limit.makesScanIncomplete))])
                })),
            ])
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
        ] + (f.decodings.isEmpty ? [] : [("decodings", .array(f.decodings.map { .string($0) }))])
          + (f.original.map { [("original", .object([("source", .string($0.source)), ("line", .int($0.line)),
                                                    ("column", .int($0.column)), ("via", .string($0.via))]))] } ?? [])
          + (f.git.map { [("git", Self.git($0))] } ?? [])
          + (f.claims.map { [("jwt", Self.claims($0))] } ?? [])
          + (f.registry.map { [("registry", Self.verdict($0))] } ?? []))
    }

    static func verdict(_ v: RegistryVerdict) -> JSONValue {
        func s(_ v: String?) -> JSONValue { v.map { .string($0) } ?? .null }
        return .object([
            ("verdict", .string(v.verdict.rawValue)),
            ("source", .string(v.source)),
            ("status", s(v.status)),
            ("account_id", s(v.accountID)),
            ("account_name", s(v.accountName)),
            ("account_type", s(v.accountType)),
            ("token_name", s(v.tokenName)),
            ("last_access_at", s(v.lastAccessAt)),
            ("detail", s(v.detail)),
            ("disabled_by_run", .bool(v.disabledByRun)),
        ])
    }

    static func claims(_ c: PlatformClaims) -> JSONValue {
        func s(_ v: String?) -> JSONValue { v.map { .string($0) } ?? .null }
        return .object([
            ("kind", .string(c.kind.rawValue)),
            ("user_id", s(c.userID)),
            ("account_id", s(c.accountID)),
            ("extension_id", s(c.extensionID)),
            ("issuer", s(c.issuer)),
            ("expires_at", s(c.expiresAtText)),
            ("expired", .bool(c.expired)),
        ])
    }

    static func git(_ g: GitProvenance) -> JSONValue {
        func s(_ v: String?) -> JSONValue { v.map { .string($0) } ?? .null }
        return .object([
            ("source", .string(g.source.rawValue)),
            ("object", .string(g.object)),
            ("commit", s(g.commit)),
            ("author_name", s(g.authorName)),
            ("author_email", s(g.authorEmail)),
            ("author_date", s(g.authorDate)),
            ("commit_count", .int(g.commitCount)),
            ("ref_count", .int(g.refCount)),
            ("example_ref", s(g.exampleRef)),
            ("present_at_head", g.presentAtHead.map { .bool($0) } ?? .null),
            ("tag", s(g.tag)),
            ("unreachable", .bool(g.unreachable)),
            ("submodule", s(g.submodule)),
        ])
    }
}
