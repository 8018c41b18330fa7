import Foundation

/// The `--format sarif` report: SARIF 2.1.0 (OASIS Standard, errata 01) as GitHub code scanning accepts it.
/// Valid against `docs/schemas/sarif-schema-2.1.0.json` (checked in CI). docs/REPORT-FORMATS.md lists the fields.
///
/// Shape: one `run` (§3.14) whose `tool.driver` (§3.19) lists every rule of `ReportOptions.rules` once, in
/// order, as `reportingDescriptor`s (§3.49); one `result` (§3.27) per finding, suppressed ones included with
/// `suppressions` (§3.35); `columnKind` `unicodeCodePoints` (§3.14.17), the unit of `Finding.column`.
/// Artifact URIs (§3.4) are relative to `%SRCROOT%` (`uriBaseId`), `/`-separated and percent-encoded per
/// RFC 3986; an archive member keeps the `archive!member` form of its path (`!` is a sub-delimiter, legal in
/// a path), a git message its pseudo-path (`(commit 0123456789ab message)`, the space encoded as `%20`).
/// Deterministic: times appear only when `ReportOptions` gives them.
///
/// GitHub's requirements: https://docs.github.com/en/code-security/code-scanning/integrating-with-code-scanning/sarif-support-for-code-scanning
public struct SARIFReporter: Reporter {
    /// The `$schema` written into the log: the OASIS schema this log validates against.
    public static let schemaURI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    /// The `partialFingerprints` key carrying `Finding.fingerprint` (SHA-256 of the canonical token).
    public static let fingerprintKey = "mptscanFingerprint/v1"
    /// The `uriBaseId` of every result location: the scan root.
    public static let rootBaseID = "%SRCROOT%"

    public var options: ReportOptions

    public init(options: ReportOptions) { self.options = options }

    /// The SARIF `level` of a finding (§3.27.10): `error` for critical and high, `warning` for medium, `note`
    /// for low and for an expired platform JWT.
    public static func level(_ f: Finding) -> String {
        if ReportSupport.isExpired(f) { return "note" }
        return Self.level(f.severity)
    }

    /// The SARIF `level` of a severity (a rule's `defaultConfiguration.level`).
    public static func level(_ s: Severity) -> String {
        switch s {
        case .critical, .high: return "error"
        case .medium: return "warning"
        case .low: return "note"
        }
    }

    /// GitHub's `security-severity` (a number 0.0–10.0, as a string): critical 9.5, high 8.0, medium 5.5,
    /// low 3.0, inside GitHub's bands (critical > 9.0, high 7.0–8.9, medium 4.0–6.9, low 0.1–3.9).
    public static func securitySeverity(_ s: Severity) -> String {
        switch s {
        case .critical: return "9.5"
        case .high: return "8.0"
        case .medium: return "5.5"
        case .low: return "3.0"
        }
    }

    /// `properties.precision` of a rule (GitHub: `very-high`, `high`, `medium`, `low`) from its confidence.
    public static func precision(_ c: Confidence) -> String { c.rawValue }

    public func write(_ report: ScanReport, to sink: (String) -> Void) {
        let rules = self.rules(for: report)
        let index = Dictionary(uniqueKeysWithValues: rules.enumerated().map { ($1.id, $0) })
        let head: [(String, JSONValue)] = [
            ("tool", .object([("driver", self.driver(rules))])),
            ("invocations", .array([self.invocation(report)])),
        ] + (self.options.uriBase.map { [("originalUriBaseIds", .object([(Self.rootBaseID, .object([("uri", .string(Self.directoryURI($0)))]))]))] } ?? [])
        sink("{\n  \"$schema\": \"\(Self.schemaURI)\",\n  \"version\": \"2.1.0\",\n  \"runs\": [\n    ")
        JSONStream.object(head, streamKey: "results", items: report.findings, indent: 2,
                          tail: [("columnKind", .string("unicodeCodePoints"))], sink: sink) { f in
            self.result(f, rules: rules, index: index)
        }
        sink("\n  ]\n}\n")
    }

    /// `options.rules` without duplicate ids, plus a bare descriptor for any rule id a finding names that the
    /// options do not hold (so every `ruleIndex` is valid).
    func rules(for report: ScanReport) -> [Rule] {
        var rules = ReportSupport.uniqueRules(self.options.rules)
        var known = Set(rules.map(\.id))
        for f in report.findings where !known.contains(f.ruleID) {
            known.insert(f.ruleID)
            rules.append(Rule(id: f.ruleID, name: f.ruleID, description: f.ruleID, remediation: "Disable the token, then remove it.",
                              severity: f.severity, confidence: f.confidence, detector: .currentToken,
                              examples: RuleExamples(mustMatch: [], mustNotMatch: [])))
        }
        return rules
    }

    func driver(_ rules: [Rule]) -> JSONValue {
        .object([
            ("name", .string(ToolInfo.name)),
            ("version", .string(ToolInfo.version)),
            ("semanticVersion", .string(ToolInfo.version)),
            ("informationUri", .string(ToolInfo.informationURI)),
            ("rules", .array(rules.map(self.descriptor))),
        ])
    }

    func descriptor(_ rule: Rule) -> JSONValue {
        var tags: [JSONValue] = [.string("security"), .string("secret"), .string("external/cwe/cwe-798")]
        if rule.detector == .platformJWT { tags.append(.string("jwt")) }
        return .object([
            ("id", .string(rule.id)),
            ("name", .string(ReportSupport.pascalCase(rule.id))),
            ("shortDescription", .object([("text", .string(rule.name))])),
            ("fullDescription", .object([("text", .string(rule.description))])),
            ("help", .object([
                ("text", .string("\(rule.description)\n\nRemediation: \(rule.remediation)")),
                ("markdown", .string("\(rule.description)\n\n**Remediation.** \(rule.remediation)\n\nAn intentional test value can be allowed with `mptscan:allow` on its line.")),
            ])),
            ("defaultConfiguration", .object([("level", .string(Self.level(rule.severity)))])),
            ("properties", .object([
                ("security-severity", .string(Self.securitySeverity(rule.severity))),
                ("tags", .array(tags)),
                ("precision", .string(Self.precision(rule.confidence))),
            ])),
        ])
    }

    func invocation(_ report: ScanReport) -> JSONValue {
        let s = report.summary
        var notifications: [JSONValue] = s.unreadable.map { issue in
            .object([
                ("level", .string(issue.isAccepted(acceptUnreadable: self.options.acceptUnreadable) ? "warning" : "error")),
                ("message", .object([("text", .string("\(issue.path): \(issue.message)"))])),
                ("locations", .array([.object([("physicalLocation", .object([("artifactLocation", Self.artifactLocation(issue.path))]))])])),
            ])
        }
        if s.interrupted {
            notifications.append(.object([("level", .string("error")), ("message", .object([("text", .string("interrupted: the scan is incomplete"))]))]))
        }
        notifications += s.limitsReached.lines.map { .object([("level", .string("note")), ("message", .object([("text", .string($0))]))]) }
        let successful = !s.isIncomplete(acceptUnreadable: self.options.acceptUnreadable)
        var pairs: [(String, JSONValue)] = [("executionSuccessful", .bool(successful))]
        if let start = self.options.startTime { pairs.append(("startTimeUtc", .string(ReportSupport.timestamp(start, zulu: true)))) }
        if let end = self.options.endTime { pairs.append(("endTimeUtc", .string(ReportSupport.timestamp(end, zulu: true)))) }
        if !notifications.isEmpty { pairs.append(("toolExecutionNotifications", .array(notifications))) }
        return .object(pairs)
    }

    func result(_ f: Finding, rules: [Rule], index: [String: Int]) -> JSONValue {
        let ruleIndex = index[f.ruleID] ?? 0
        let rule = rules[ruleIndex]
        var text = "\(ReportSupport.headline(f, rule: rule, showSecrets: self.options.showSecrets)) in \(f.path) at line \(f.line)."
        for fact in ReportSupport.facts(f) { text += " " + fact }
        var region: [(String, JSONValue)] = [("startLine", .int(f.line)), ("startColumn", .int(f.column))]
        if f.endColumn > f.column { region.append(("endColumn", .int(f.endColumn))) }
        var pairs: [(String, JSONValue)] = [
            ("ruleId", .string(f.ruleID)),
            ("ruleIndex", .int(ruleIndex)),
            ("level", .string(Self.level(f))),
            ("message", .object([("text", .string(text))])),
            ("locations", .array([.object([("physicalLocation", .object([
                ("artifactLocation", Self.artifactLocation(f.path)),
                ("region", .object(region)),
            ]))])])),
        ]
        if let o = f.original { pairs.append(("relatedLocations", .array([self.related(o, of: f)]))) }
        pairs.append(("partialFingerprints", .object([(Self.fingerprintKey, .string(f.fingerprint))])))
        if let s = f.suppression {
            pairs.append(("suppressions", .array([.object([
                ("kind", .string(s.isInSource ? "inSource" : "external")),
                ("justification", .string(Self.justification(s))),
            ])])))
        }
        pairs.append(("properties", self.properties(f)))
        return .object(pairs)
    }

    static func justification(_ s: Suppression) -> String {
        switch s {
        case .inlineAllow: return "mptscan:allow on the finding's line"
        case .inlineAllowNextLine: return "mptscan:allow-next-line on the line before"
        case .baseline: return "recorded in the baseline file"
        case .ignored: return "listed in the ignore file or the config's allowed fingerprints or token ids"
        }
    }

    /// The original source position as a related location (§3.27.22). Source-map sources are resolved against
    /// the directory of the map (or bundle) that names them; a source with a scheme (`webpack://…`) is kept as
    /// an absolute URI. Columns from `mappings` count UTF-16 units, not the run's code points, so only
    /// `sourcesContent` positions carry a column. A notebook cell is described in the message, on the notebook
    /// itself (its cells have no line numbers of the file).
    func related(_ o: OriginalLocation, of f: Finding) -> JSONValue {
        let message = "original source \(o.source), line \(o.line), column \(o.column) (\(o.via))"
        if o.via.hasPrefix("cells[") {
            return .object([
                ("id", .int(1)),
                ("physicalLocation", .object([("artifactLocation", Self.artifactLocation(f.path))])),
                ("message", .object([("text", .string("notebook \(o.source), line \(o.line), column \(o.column) (\(o.via))"))])),
            ])
        }
        var region: [(String, JSONValue)] = [("startLine", .int(max(1, o.line)))]
        if o.via.hasPrefix("sourcesContent") { region.append(("startColumn", .int(max(1, o.column)))) }
        let location: JSONValue
        if Self.hasScheme(o.source) {
            location = .object([("uri", .string(Self.percentEncode(o.source, keepColon: true)))])
        } else {
            location = Self.artifactLocation(Self.resolve(o.source, relativeTo: f.path))
        }
        return .object([
            ("id", .int(1)),
            ("physicalLocation", .object([("artifactLocation", location), ("region", .object(region))])),
            ("message", .object([("text", .string(message))])),
        ])
    }

    func properties(_ f: Finding) -> JSONValue {
        func s(_ v: String?) -> JSONValue { v.map { .string($0) } ?? .null }
        var pairs: [(String, JSONValue)] = [
            ("tokenId", .string(f.tokenID)),
            ("severity", .string(f.severity.rawValue)),
            ("confidence", .string(f.confidence.rawValue)),
            ("token", .string(f.displayToken(showSecrets: self.options.showSecrets))),
            ("snippet", .string(f.snippet(showSecrets: self.options.showSecrets))),
            ("failsPolicy", .bool(self.options.policy.fails(f))),
            ("verdict", s(f.registry?.verdict.rawValue)),
        ]
        if let v = f.registry { pairs.append(("registry", JSONReporter.verdict(v))) }
        if let g = f.git {
            pairs.append(("commit", s(g.commit)))
            pairs.append(("author", s(g.authorName.map { name in name + (g.authorEmail.map { " <\($0)>" } ?? "") })))
            pairs.append(("authorDate", s(g.authorDate)))
            pairs.append(("git", JSONReporter.git(g)))
        }
        if f.encoding != .plain { pairs.append(("separatorEncoding", .string(f.encoding.rawValue))) }
        if let t = f.textEncoding { pairs.append(("textEncoding", .string(t.rawValue))) }
        if !f.decodings.isEmpty { pairs.append(("decodings", .array(f.decodings.map { .string($0) }))) }
        if let c = f.claims { pairs.append(("jwt", JSONReporter.claims(c))) }
        if let sup = f.suppression { pairs.append(("suppression", .string(sup.rawValue))) }
        return .object(pairs)
    }

    // MARK: - URIs

    /// `{"uri": …, "uriBaseId": "%SRCROOT%"}` for a finding path; an absolute path (a root given as `/abs`)
    /// becomes a `file://` URI without a base.
    static func artifactLocation(_ path: String) -> JSONValue {
        if path.hasPrefix("/") { return .object([("uri", .string("file://" + Self.percentEncode(path)))]) }
        return .object([("uri", .string(Self.percentEncode(path))), ("uriBaseId", .string(Self.rootBaseID))])
    }

    /// `path` as an RFC 3986 path: unreserved characters, sub-delimiters (`!$&'()*+,;=`), `@` and `/` kept,
    /// everything else (`%`, space, `#`, `?`, non-ASCII as UTF-8 bytes) percent-encoded in upper-case hex. `:` is
    /// encoded unless `keepColon`, so that a relative reference never looks like a scheme (RFC 3986 §4.2).
    public static func percentEncode(_ path: String, keepColon: Bool = false) -> String {
        var out = ""
        for byte in path.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"),
                 UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"),
                 UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="),
                 UInt8(ascii: "@"), UInt8(ascii: "/"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: ":") where keepColon:
                out += ":"
            default:
                let hex = String(byte, radix: 16, uppercase: true)
                out += "%" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return out
    }

    /// The absolute directory URI of a scan root, ending with `/` (SARIF §3.14.14 requires the trailing slash).
    static func directoryURI(_ root: String) -> String {
        var path = root.hasPrefix("/") ? root : FileManager.default.currentDirectoryPath + "/" + root
        if !path.hasSuffix("/") { path += "/" }
        return "file://" + Self.percentEncode(Self.normalize(path))
    }

    static func hasScheme(_ s: String) -> Bool {
        guard let colon = s.firstIndex(of: ":"), colon != s.startIndex else { return false }
        let scheme = s[..<colon]
        return scheme.first!.isASCII && scheme.first!.isLetter
            && scheme.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == ".") }
    }

    /// `source` (as a source map names it) resolved against the directory of `path`, `.` and `..` removed
    /// (`..` kept where it climbs above the root); the archive part of a member path (`a.zip!`) is kept.
    static func resolve(_ source: String, relativeTo path: String) -> String {
        if source.hasPrefix("/") { return Self.normalize(source) }
        guard let slash = path.lastIndex(of: "/") else { return Self.normalize(source) }
        return Self.normalize(String(path[...slash]) + source)
    }

    static func normalize(_ path: String) -> String {
        let absolute = path.hasPrefix("/")
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == "..", let last = parts.last, last != ".." { parts.removeLast(); continue }
            if part == "..", absolute { continue }
            parts.append(part)
        }
        let joined = parts.joined(separator: "/")
        return (absolute ? "/" : "") + joined + (path.hasSuffix("/") && !joined.isEmpty ? "/" : "")
    }
}

/// Pretty-printed JSON written a piece at a time, in exactly the layout of `JSONValue.serialized()`.
enum JSONStream {
    /// Writes an object at nesting level `indent` (two spaces each; the caller has written the indentation of
    /// its first line): the `head` pairs, then `streamKey` with one array element per item, then the `tail` pairs.
    static func object<Item>(_ head: [(String, JSONValue)], streamKey: String, items: [Item], indent: Int,
                             tail: [(String, JSONValue)] = [], sink: (String) -> Void, item: (Item) -> JSONValue) {
        let pad = String(repeating: "  ", count: indent + 1)
        var text = "{"
        for (i, (key, value)) in head.enumerated() {
            text += (i == 0 ? "\n" : ",\n") + pad + JSONValue.string(key).serialized() + ": " + value.serialized(indent: indent + 1)
        }
        text += (head.isEmpty ? "\n" : ",\n") + pad + JSONValue.string(streamKey).serialized() + ": "
        if items.isEmpty {
            sink(text + "[]")
        } else {
            sink(text + "[")
            let itemPad = pad + "  "
            for (i, element) in items.enumerated() {
                sink((i == 0 ? "\n" : ",\n") + itemPad + item(element).serialized(indent: indent + 2))
            }
            sink("\n" + pad + "]")
        }
        var rest = ""
        for (key, value) in tail {
            rest += ",\n" + pad + JSONValue.string(key).serialized() + ": " + value.serialized(indent: indent + 1)
        }
        sink(rest + "\n" + String(repeating: "  ", count: indent) + "}")
    }
}
