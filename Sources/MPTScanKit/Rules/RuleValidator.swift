import Foundation

/// One problem found by `RuleValidator`: the rule id, and what is wrong.
public struct RuleProblem: Sendable, Equatable, CustomStringConvertible {
    public var ruleID: String
    public var message: String
    public var description: String { "\(self.ruleID): \(self.message)" }
}

/// A form an example is rewritten into before it is scanned again, so that a rule keeps working in the
/// contexts tokens really appear in.
public enum ExampleMutation: String, CaseIterable, Sendable {
    /// The example as written.
    case asWritten = "as written"
    /// Every line behind `// `.
    case lineComment = "inside a line comment"
    /// The whole example as the value of a JSON string (escaped per RFC 8259).
    case jsonString = "inside a JSON string"
    /// Line endings CRLF.
    case crlf = "with CRLF line endings"
    /// Multibyte characters (2, 3 and 4 bytes of UTF-8) before the example on its first line.
    case multibytePrefix = "after multibyte characters"
    /// Encoded as UTF-16LE with a byte-order mark.
    case utf16 = "as UTF-16LE"
    /// Preceded by more filler than the scanner keeps as context (about 17 KB) and read in 64-byte chunks, so
    /// chunk boundaries cut through it after earlier bytes have been dropped.
    case chunkBoundary = "across chunk boundaries"

    /// Applies the mutation to marked text (markers are kept in place).
    func apply(_ text: String) -> String {
        switch self {
        case .asWritten, .utf16: return text
        case .lineComment: return text.split(separator: "\n", omittingEmptySubsequences: false).map { "// " + $0 }.joined(separator: "\n")
        case .jsonString: return "{\"value\": \"" + Self.jsonEscape(text) + "\"}"
        case .crlf: return text.replacingOccurrences(of: "\n", with: "\r\n")
        case .multibytePrefix: return "Äé€𝄞 " + text
        case .chunkBoundary:
            // more filler than the scanner keeps as context, so bytes are dropped and chunks cut the example
            let lines = (TokenDetector.lookBehind + TokenDetector.lookAhead) / 31 + 40
            return String(repeating: "filler line of text 0123456789\n", count: lines) + text
        }
    }

    /// `text` escaped as the inside of a JSON string (RFC 8259), via the report writer's escaping.
    private static func jsonEscape(_ text: String) -> String {
        String(JSONValue.string(text).serialized(pretty: false).dropFirst().dropLast())
    }
}

/// Checks rule data: ids, required text, grammar sanity, and every example (in every `ExampleMutation`)
/// through the real detector and streaming scanner, with all rules loaded as in a real scan.
public struct RuleValidator {
    public let rules: [Rule]
    private let detector: TokenDetector
    /// The scan's anchor search, made once for every example's scanner.
    private let anchorSearch: CombinedAnchors

    public init(rules: [Rule]) {
        self.rules = rules
        self.detector = TokenDetector(rules: rules)
        self.anchorSearch = CombinedAnchors(detector: self.detector, depth: ScanLimits().maxDecodeDepth)
    }

    /// Every problem found; empty when the rules are sound.
    public func validate() -> [RuleProblem] {
        var problems: [RuleProblem] = []
        var seen = Set<String>()
        for rule in self.rules {
            func problem(_ m: String) { problems.append(RuleProblem(ruleID: rule.id, message: m)) }
            if !seen.insert(rule.id).inserted { problem("duplicate rule id") }
            if !Self.isKebabCase(rule.id) { problem("id must be kebab-case ([a-z0-9] words joined by '-')") }
            for (field, value) in [("name", rule.name), ("description", rule.description), ("remediation", rule.remediation)]
            where value.trimmingCharacters(in: .whitespaces).isEmpty {
                problem("\(field) is empty")
            }
            problems += self.grammarProblems(rule)
            if rule.examples.mustMatch.isEmpty { problem("needs at least one must_match example") }
            if rule.examples.mustNotMatch.isEmpty { problem("needs at least one must_not_match example") }
            var texts = Set<String>()
            for text in rule.examples.mustMatch + rule.examples.mustNotMatch.map(\.text) where !texts.insert(text).inserted {
                problem("duplicate example: \(Self.abbreviate(text))")
            }
            for counter in rule.examples.mustNotMatch where counter.why.trimmingCharacters(in: .whitespaces).isEmpty {
                problem("must_not_match example has no 'why': \(Self.abbreviate(counter.text))")
            }
            for mutation in ExampleMutation.allCases {
                for example in rule.examples.mustMatch {
                    problems += self.checkMatch(rule, example, mutation)
                }
                for counter in rule.examples.mustNotMatch {
                    problems += self.checkNoMatch(rule, counter.text, mutation)
                }
            }
        }
        return problems
    }

    private func grammarProblems(_ rule: Rule) -> [RuleProblem] {
        var out: [String] = []
        if rule.detector == .platformJWT {
            if let j = rule.jwt {
                if j.anchor.utf8.count < 6 { out.append("jwt.anchor must be at least 6 bytes (shorter anchors fire at random in Base64)") }
                if j.claimsNamespace.isEmpty { out.append("jwt.claims_namespace is empty") }
            } else {
                out.append("platform-jwt rules need jwt")
            }
            return out.map { RuleProblem(ruleID: rule.id, message: $0) }
        }
        guard let g = rule.grammar, let e = rule.entropy else {
            return [RuleProblem(ruleID: rule.id, message: "\(rule.detector.rawValue) rules need grammar and entropy")]
        }
        if g.idPrefix.isEmpty || !g.idPrefix.utf8.allSatisfy(isAlnum) { out.append("grammar.id_prefix must be non-empty and alphanumeric") }
        if g.idGroupDigits < 1 { out.append("grammar.id_group_digits must be at least 1") }
        if g.idGroupsMin < 1 || g.idGroupsMax < g.idGroupsMin { out.append("grammar.id_groups_min/max must satisfy 1 <= min <= max") }
        if g.secretMinLength < 8 || g.secretMaxLength < g.secretMinLength { out.append("grammar.secret_min/max_length must satisfy 8 <= min <= max") }
        switch rule.detector {
        case .currentToken:
            if (g.prefix ?? "").isEmpty { out.append("current-token rules need grammar.prefix") }
        case .legacyPair:
            if (g.keys ?? []).isEmpty { out.append("legacy-pair rules need grammar.keys") }
            if g.maxKeyDistanceLines == nil { out.append("legacy-pair rules need grammar.max_key_distance_lines") }
        case .platformJWT:
            break
        }
        if e.minBitsPerChar < 0 || e.minBitsPerChar > 6.5 { out.append("entropy.min_bits_per_char must be within 0...6.5") }
        if e.maxOrderedFraction <= 0.5 || e.maxOrderedFraction > 1 { out.append("entropy.max_ordered_fraction must be within (0.5, 1]") }
        return out.map { RuleProblem(ruleID: rule.id, message: $0) }
    }

    /// Scans `bytes` as one file would be scanned and returns the findings of rule `ruleID`.
    private func scan(_ text: String, _ mutation: ExampleMutation, ruleID: String) -> [Finding] {
        var bytes = Array(text.utf8)
        if mutation == .utf16 {
            bytes = [0xFF, 0xFE]
            for unit in text.utf16 { bytes.append(UInt8(unit & 0xFF)); bytes.append(UInt8(unit >> 8)) }
        }
        let scanner = ContentScanner(anchorSearch: self.anchorSearch, chunkSize: mutation == .chunkBoundary ? 64 : ContentScanner.defaultChunkSize)
        return scanner.scan(bytes: bytes, path: "example").findings.filter { $0.ruleID == ruleID }
    }

    private func checkMatch(_ rule: Rule, _ example: String, _ mutation: ExampleMutation) -> [RuleProblem] {
        let mutated = mutation.apply(example)
        guard let marked = MarkedText(mutated) else {
            return [RuleProblem(ruleID: rule.id, message: "must_match example has unbalanced « » markers: \(Self.abbreviate(example))")]
        }
        if mutation == .asWritten && marked.spans.isEmpty {
            return [RuleProblem(ruleID: rule.id, message: "must_match example marks no span with « »: \(Self.abbreviate(example))")]
        }
        let text = String(decoding: marked.bytes, as: UTF8.self)
        let expected = marked.spans.map { span -> String in
            let (line, column) = marked.position(ofByte: span.lowerBound)
            return "\(line):\(column)-\(column + span.count)@\(span.lowerBound)"
        }
        let found = self.scan(text, mutation, ruleID: rule.id).map { "\($0.line):\($0.column)-\($0.endColumn)@\($0.byteOffset)" }
        guard found == expected else {
            return [RuleProblem(ruleID: rule.id, message: "must_match example \(mutation.rawValue): expected \(expected), found \(found): \(Self.abbreviate(example))")]
        }
        return []
    }

    private func checkNoMatch(_ rule: Rule, _ example: String, _ mutation: ExampleMutation) -> [RuleProblem] {
        let found = self.scan(mutation.apply(example), mutation, ruleID: rule.id)
        guard found.isEmpty else {
            let at = found.map { "\($0.line):\($0.column)" }
            return [RuleProblem(ruleID: rule.id, message: "must_not_match example \(mutation.rawValue) was reported at \(at): \(Self.abbreviate(example))")]
        }
        return []
    }

    static func isKebabCase(_ id: String) -> Bool {
        let words = id.split(separator: "-", omittingEmptySubsequences: false)
        return !id.isEmpty && words.allSatisfy { !$0.isEmpty && $0.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) } }
    }

    /// The first 48 characters of an example, with long alphanumeric runs cut so no secret-shaped text is printed.
    static func abbreviate(_ text: String) -> String {
        let cleaned = Array(text.utf8).withUnsafeBufferPointer { Snippet.clean($0, 0..<$0.count) }
        return cleaned.count > 60 ? String(cleaned.prefix(60)) + "…" : cleaned
    }
}
