import Foundation

/// A configuration error: the file, the JSON path and what is wrong (`.mptscan.json: excludes[2]: expected a
/// string`). Never holds a secret.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { self.message }

    /// A `DecodingError` as `path: what`.
    static func describe(_ error: any Error) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined().drop { $0 == "." }.description
        }
        switch error {
        case DecodingError.keyNotFound(let key, let context): return "\(path(context.codingPath + [key])): missing"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context), DecodingError.dataCorrupted(let context):
            let where_ = path(context.codingPath)
            return (where_.isEmpty ? "" : "\(where_): ") + context.debugDescription
        default: return "\(error)"
        }
    }
}

/// The settings of `.mptscan.json` (at the scan root, or `--config FILE`), version 1. Each setting is declared
/// once in `Configuration.settings` with its type, default and help: the parser, `mptscan init` and
/// docs/CONFIG.md all come from that table, so they cannot drift. Command-line flags override the file.
public struct Configuration: Sendable, Equatable {
    /// Gitignore-style globs left out of scans (as `--exclude`).
    public var excludes: [String] = []
    /// Fingerprints (SHA-256 of a token) whose findings are ignored: known test tokens.
    public var allowFingerprints: [String] = []
    /// Token ids whose findings are ignored (every value under that id).
    public var allowTokenIDs: [String] = []
    /// Which findings fail the run (as `--fail-on`).
    public var failOn: FailPolicy = .any
    /// Severity per rule id, replacing the rule's own.
    public var severity: [String: Severity] = [:]
    /// The registry: an environment name or a base URL (never a credential: that comes from the environment).
    public var registry: String? = nil
    /// The default report format (as `--format`).
    public var format: String? = nil
    /// A baseline file to apply (as `--baseline`), relative to the configuration file.
    public var baseline: String? = nil

    public init() {}

    /// The file name looked for at the scan root.
    public static let fileName = ".mptscan.json"
    public static let currentVersion = 1
    /// Report formats `format` accepts.
    public static var formats: [String] { ReportFormat.allCases.map(\.rawValue) }

    /// A declared setting: its JSON key, what it holds, its default as JSON text, and what it means.
    public struct Setting: Sendable {
        public enum Kind: Sendable {
            case integer
            case string
            case strings
            case choice([String])
            /// An object of these settings.
            case object([Setting])
            /// An object from any key (a rule id) to one of these values.
            case mapOfChoice([String])
        }

        public var key: String
        public var kind: Kind
        public var defaultJSON: String
        public var help: String
    }

    /// Every setting, once.
    public static let settings: [Setting] = [
        Setting(key: "version", kind: .integer, defaultJSON: "1", help: "The file format version (1)."),
        Setting(key: "excludes", kind: .strings, defaultJSON: "[]", help: "Gitignore-style globs left out of scans, as --exclude: \"dist/\", \"*.min.js\", \"/vendor\"."),
        Setting(key: "allow", kind: .object([
            Setting(key: "fingerprints", kind: .strings, defaultJSON: "[]", help: "Fingerprints (SHA-256 of the token, from a report) of known test tokens: their findings are ignored."),
            Setting(key: "token_ids", kind: .strings, defaultJSON: "[]", help: "Token ids (TKN-dddd-dddd) whose findings are ignored, whatever the value."),
        ]), defaultJSON: "{}", help: "Findings to ignore (counted in the summary, never silently dropped)."),
        Setting(key: "fail_on", kind: .choice(FailPolicy.allCases.map(\.rawValue)), defaultJSON: "\"any\"", help: "Which findings fail the run, as --fail-on: any, unverified or live."),
        Setting(key: "severity", kind: .mapOfChoice(Severity.allCases.map(\.rawValue)), defaultJSON: "{}", help: "Severity per rule id, e.g. {\"mpt-api-token-legacy\": \"medium\"}."),
        Setting(key: "registry", kind: .string, defaultJSON: "null", help: "The token registry: production, qa, test, dev or a base URL ending in /public/v1. Never a credential (MPT_REGISTRY_TOKEN)."),
        Setting(key: "format", kind: .choice(Self.formats), defaultJSON: "\"text\"", help: "The default report format, as --format."),
        Setting(key: "baseline", kind: .string, defaultJSON: "null", help: "A baseline file (written by --write-baseline), relative to this file, as --baseline."),
    ]

    /// Parses a configuration file's bytes. Throws `ConfigError` naming `file` and the JSON path of the first
    /// problem: not JSON, an unknown key (with the closest known one), a value of the wrong type, a bad choice.
    public static func parse(_ data: Data, file: String) throws -> Configuration {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw ConfigError("\(file): not valid JSON: \(error.localizedDescription)")
        }
        guard let root = object as? [String: Any] else { throw ConfigError("\(file): expected a JSON object at the top level") }
        try Self.check(root, against: Self.settings, path: "", file: file)
        guard let version = root["version"] as? Int else { throw ConfigError("\(file): version: missing (this format is version \(Self.currentVersion))") }
        guard version == Self.currentVersion else { throw ConfigError("\(file): version: \(version) is not supported (expected \(Self.currentVersion))") }

        var c = Configuration()
        c.excludes = root["excludes"] as? [String] ?? []
        let allow = root["allow"] as? [String: Any] ?? [:]
        c.allowFingerprints = (allow["fingerprints"] as? [String] ?? []).map { $0.lowercased() }
        c.allowTokenIDs = allow["token_ids"] as? [String] ?? []
        for (i, f) in c.allowFingerprints.enumerated() where f.count != 64 || !f.allSatisfy(\.isHexDigit) {
            throw ConfigError("\(file): allow.fingerprints[\(i)]: expected 64 hexadecimal digits")
        }
        for (i, id) in c.allowTokenIDs.enumerated() where !APITokenRecord.isValidID(id) {
            // never echo the value: a whole token pasted here would reach the CI log
            let hint = id.contains(":") ? "this looks like a whole token: give only its id (TKN-dddd-dddd)" : "found \(id.count) characters"
            throw ConfigError("\(file): allow.token_ids[\(i)]: expected a token id (TKN-dddd-dddd); \(hint)")
        }
        if let text = root["fail_on"] as? String, let policy = FailPolicy(rawValue: text) { c.failOn = policy }
        for (rule, value) in root["severity"] as? [String: String] ?? [:] {
            guard BuiltinRules.all.contains(where: { $0.id == rule }) else {
                throw ConfigError("\(file): severity.\(Redaction.quote(rule, limit: 60)): no rule with this id (rules: \(BuiltinRules.all.map(\.id).joined(separator: ", ")))")
            }
            if let severity = Severity(rawValue: value) { c.severity[rule] = severity }
        }
        if let registry = root["registry"] as? String {
            // a credential pasted here would be committed with the file
            if registry.contains("idt:") || (registry.count > 40 && !registry.contains("://")) {
                throw ConfigError("\(file): registry: looks like a credential; give only the environment or URL (the credential comes from MPT_REGISTRY_TOKEN)")
            }
            c.registry = registry
        }
        c.format = root["format"] as? String
        c.baseline = root["baseline"] as? String
        return c
    }

    /// Loads `path`. Throws `ConfigError`.
    public static func load(from path: String) throws -> Configuration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError("\(path): cannot read the configuration file (\(String(cString: strerror(errno))))")
        }
        return try self.parse(data, file: path)
    }

    private static func check(_ object: [String: Any], against settings: [Setting], path: String, file: String) throws {
        for key in object.keys.sorted() {
            let here = path.isEmpty ? key : path + "." + key
            guard let setting = settings.first(where: { $0.key == key }) else {
                let known = settings.map(\.key)
                let hint = known.min { Self.distance($0, key) < Self.distance($1, key) }.flatMap { Self.distance($0, key) <= 3 ? " (did you mean '\($0)'?)" : nil } ?? ""
                throw ConfigError("\(file): \(Redaction.quote(here, limit: 100)): unknown key\(hint); known keys here: \(known.joined(separator: ", "))")
            }
            try Self.check(object[key]!, setting.kind, path: here, file: file)
        }
    }

    private static func check(_ value: Any, _ kind: Setting.Kind, path: String, file: String) throws {
        func fail(_ what: String) throws -> Never { throw ConfigError("\(file): \(path): \(what)") }
        if value is NSNull { return } // null: the default
        switch kind {
        case .integer:
            // JSON true/false arrive as NSNumber too (`__NSCFBoolean`, Objective-C type "c")
            guard let n = value as? NSNumber, String(cString: n.objCType) != "c", n.doubleValue == n.doubleValue.rounded() else { try fail("expected a whole number") }
        case .string:
            guard value is String else { try fail("expected a string") }
        case .strings:
            guard let array = value as? [Any] else { try fail("expected an array of strings") }
            for (i, item) in array.enumerated() where !(item is String) { throw ConfigError("\(file): \(path)[\(i)]: expected a string") }
        case .choice(let choices):
            guard let s = value as? String else { try fail("expected one of \(choices.joined(separator: ", "))") }
            guard choices.contains(s) else { try fail("'\(Redaction.quote(s, limit: 60))' is not one of \(choices.joined(separator: ", "))") }
        case .object(let settings):
            guard let object = value as? [String: Any] else { try fail("expected an object") }
            try Self.check(object, against: settings, path: path, file: file)
        case .mapOfChoice(let choices):
            guard let object = value as? [String: Any] else { try fail("expected an object") }
            for (key, item) in object {
                guard let s = item as? String, choices.contains(s) else {
                    throw ConfigError("\(file): \(path).\(Redaction.quote(key, limit: 60)): expected one of \(choices.joined(separator: ", "))")
                }
            }
        }
    }

    /// Edit distance (Levenshtein) between two short keys, for "did you mean".
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        var row = Array(0...b.count)
        for i in 1...max(1, a.count) where !a.isEmpty {
            var previous = row[0]
            row[0] = i
            for j in 1...max(1, b.count) where !b.isEmpty {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }

    /// A starter file: every setting of the table with its default, ready to edit (`mptscan init`).
    public static func starter() -> String {
        func object(_ settings: [Setting], indent: String) -> String {
            let lines = settings.map { s -> String in
                if case .object(let inner) = s.kind { return "\(indent)  \"\(s.key)\": " + object(inner, indent: indent + "  ") }
                return "\(indent)  \"\(s.key)\": \(s.defaultJSON)"
            }
            return "{\n" + lines.joined(separator: ",\n") + "\n\(indent)}"
        }
        return object(Self.settings, indent: "") + "\n"
    }

    /// The settings as a Markdown table (docs/CONFIG.md is checked against it).
    public static func markdownTable() -> String {
        var lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
        func add(_ settings: [Setting], prefix: String) {
            for s in settings {
                let type: String
                switch s.kind {
                case .integer: type = "number"
                case .string: type = "string"
                case .strings: type = "array of strings"
                case .choice(let c): type = c.joined(separator: " \\| ")
                case .object: type = "object"
                case .mapOfChoice(let c): type = "object: rule id → " + c.joined(separator: " \\| ")
                }
                lines.append("| `\(prefix)\(s.key)` | \(type) | `\(s.defaultJSON)` | \(s.help) |")
                if case .object(let inner) = s.kind { add(inner, prefix: prefix + s.key + ".") }
            }
        }
        add(Self.settings, prefix: "")
        return lines.joined(separator: "\n") + "\n"
    }
}
