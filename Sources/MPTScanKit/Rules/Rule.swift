import Foundation

/// How serious a finding is. Ordered from least to most severe.
public enum Severity: String, Codable, Sendable, CaseIterable, Comparable {
    case low, medium, high, critical

    public static func < (lhs: Severity, rhs: Severity) -> Bool {
        Severity.allCases.firstIndex(of: lhs)! < Severity.allCases.firstIndex(of: rhs)!
    }
}

/// How sure a rule is that a hit is a real token rather than something shaped like one.
public enum Confidence: String, Codable, Sendable {
    case low, medium, high
}

/// Which matching algorithm a rule drives. The algorithms are code; their parameters are rule data.
public enum DetectorKind: String, Codable, Sendable {
    /// `<prefix>:<idPrefix>-dddd-dddd[-dddd]:<secret>`, the current token form (since mid-2024).
    case currentToken = "current-token"
    /// A token id next to a bare secret: `TKN-dddd-dddd:<secret>` without the prefix, or a secret assigned to a
    /// known key (`MPT_API_TOKEN=…`) within a few lines of an id. The pre-2024 form.
    case legacyPair = "legacy-pair"
    /// A platform JWT (user login or extension key): three base64url parts whose payload carries claims under the
    /// namespace in `jwt`. Found by anchor search on the Base64 forms of the claims' domain; driven by `jwt`, not
    /// by `grammar` or `entropy`.
    case platformJWT = "platform-jwt"
}

/// What makes a JWT a platform credential, as rule data (`jwt` in a `platform-jwt` rule). Source:
/// `../shared/reference/marketplace-api.md` (claims `https://claims.softwareone.com/userId`, `…/accountId`,
/// `…/extensionId`; extension keys issued by `https://mpt-extensions.softwareone.com`).
public struct JWTPolicy: Codable, Sendable, Equatable {
    /// Domain searched for (in its three Base64 alignments) inside the payload: `softwareone.com`.
    public var anchor: String
    /// Claim-name prefix of platform claims: `https://claims.softwareone.com/`.
    public var claimsNamespace: String
    /// Issuers (`iss`) that make a JWT a platform credential even without namespaced claims.
    public var issuers: [String]
    /// Issuers of extension keys (the finding's kind is `extension` rather than `user`).
    public var extensionIssuers: [String]
    /// Severity of a JWT whose `exp` has passed.
    public var expiredSeverity: Severity
}

/// The shape of a token, as rule data. Lengths are in bytes (all grammar characters are ASCII).
public struct TokenGrammar: Codable, Sendable, Equatable {
    /// Literal before the first separator (`idt`); required by `current-token`, unused by `legacy-pair`.
    public var prefix: String?
    /// Literal that starts the token id (`TKN`); followed by `-` and the digit groups.
    public var idPrefix: String
    /// Digits in each id group (4).
    public var idGroupDigits: Int
    /// Fewest and most digit groups in the id (2 and 3: `TKN-1234-5678`, `TKN-1234-5678-9012`).
    public var idGroupsMin: Int
    /// Most digit groups in the id.
    public var idGroupsMax: Int
    /// Shortest and longest secret, in characters of `[A-Za-z0-9]`.
    public var secretMinLength: Int
    /// Longest secret, in characters of `[A-Za-z0-9]`.
    public var secretMaxLength: Int
    /// When true, the secret must end at a non-alphanumeric byte; when false, the first `secretMaxLength`
    /// characters are taken even if more alphanumerics follow (binary string tables run strings together).
    public var secretRequiresEnd: Bool
    /// `legacy-pair` only: keys (matched case-insensitively as the end of an identifier) whose assigned value
    /// is a bare secret, e.g. `token` covers `MPT_API_TOKEN`, `MptOperationApiToken` and accounts.json's `token`.
    public var keys: [String]?
    /// `legacy-pair` only: how many lines above or below the id the key may be.
    public var maxKeyDistanceLines: Int?
}

/// The tests a secret must pass to count as random rather than a placeholder.
///
/// Shannon entropy is computed over the secret's bytes, in bits per character (log base 2).
public struct EntropyPolicy: Codable, Sendable, Equatable {
    /// Minimum Shannon entropy in bits per character.
    public var minBitsPerChar: Double
    /// Longest allowed run of one repeated character (`aaaa` is a run of 4).
    public var maxRun: Int
    /// Longest allowed run of consecutive ASCII codes, up or down (`abcd`, `4321` are runs of 4).
    public var maxSequence: Int
    /// Secrets that repeat with a period up to this many characters (`abc123abc123…`) are rejected.
    public var maxPeriod: Int
    /// Largest allowed share of consecutive letter pairs (case ignored, digits skipped) in alphabetical order,
    /// either way: hand-typed examples walk the alphabet (`Ab3dEf6hIj9k…`); random letters score about 0.5.
    public var maxOrderedFraction: Double
    /// Require both an upper- and a lower-case letter.
    public var requireMixedCase: Bool
    /// Require at least one digit and one letter.
    public var requireDigitAndLetter: Bool
    /// Case-insensitive words that mark a documentation placeholder when they occur in the secret.
    public var placeholderWords: [String]
    /// Secrets starting with one of these are another format (`eyJ`: base64 of `{"`, a JWT or JSON blob).
    public var excludedPrefixes: [String]

    /// A policy that rejects nothing (rules whose detector does not score secrets).
    static let none = EntropyPolicy(minBitsPerChar: 0, maxRun: .max, maxSequence: .max, maxPeriod: 0, maxOrderedFraction: 1,
                                    requireMixedCase: false, requireDigitAndLetter: false, placeholderWords: [], excludedPrefixes: [])
}

/// A `must_not_match` example: text in which this rule must report nothing (another rule may), and why.
public struct CounterExample: Codable, Sendable, Equatable {
    /// The example text (no markers).
    public var text: String
    /// Why it must not be reported.
    public var why: String

    public init(text: String, why: String) {
        self.text = text
        self.why = why
    }
}

/// The self-tests carried by a rule. In `mustMatch`, `«` and `»` mark each exact span to report.
public struct RuleExamples: Codable, Sendable, Equatable {
    /// Texts with `«…»` around each span the rule must report, exactly.
    public var mustMatch: [String]
    /// Texts in which the rule must report nothing.
    public var mustNotMatch: [CounterExample]
}

/// One detection rule, as loaded from `rules/*.json` (embedded in the binary at build time).
///
/// JSON keys are snake_case (`id_prefix`, `must_match`). See docs/RULES.md for the format.
public struct Rule: Codable, Sendable, Equatable {
    /// Stable identifier, kebab-case (`mpt-api-token`); used in reports, baselines and SARIF.
    public var id: String
    /// Short human name.
    public var name: String
    /// What was found, what an attacker can do with it.
    public var description: String
    /// How to respond.
    public var remediation: String
    /// Severity of its findings.
    public var severity: Severity
    /// How sure the rule is that a hit is a real token.
    public var confidence: Confidence
    /// The matching algorithm the rule drives.
    public var detector: DetectorKind
    /// The token's shape (token rules: `current-token`, `legacy-pair`).
    public var grammar: TokenGrammar?
    /// The tests a secret must pass to count as random (token rules).
    public var entropy: EntropyPolicy?
    /// What makes a JWT a platform credential (`platform-jwt` rules).
    public var jwt: JWTPolicy? = nil
    /// Self-tests, run by `rules check` and the test suite.
    public var examples: RuleExamples
}

/// Errors loading rule data. Carries the rule file name, never a secret.
public struct RuleLoadError: Error, CustomStringConvertible, Sendable {
    /// The file the rule came from (`mpt-api-token.json`).
    public var file: String
    /// What is wrong, including the JSON coding path where the decoder gives one.
    public var message: String
    public var description: String { "\(self.file): \(self.message)" }
}

extension Rule {
    /// Decodes one rule from JSON bytes.
    /// - Throws: `RuleLoadError` naming `file` and the JSON coding path of the problem.
    public static func decode(_ data: Data, file: String) throws -> Rule {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            return try decoder.decode(Rule.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            throw RuleLoadError(file: file, message: "missing key '\(key.stringValue)' at \(codingPath(context.codingPath))")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw RuleLoadError(file: file, message: "\(context.debugDescription) at \(codingPath(context.codingPath))")
        } catch let DecodingError.dataCorrupted(context) {
            throw RuleLoadError(file: file, message: "\(context.debugDescription) at \(codingPath(context.codingPath))")
        } catch {
            throw RuleLoadError(file: file, message: "\(error)")
        }
    }

    private static func codingPath(_ path: [any CodingKey]) -> String {
        path.isEmpty ? "top level" : path.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}

/// The rules compiled into this binary, decoded from `BuiltinRuleData` (generated from `rules/*.json`).
public enum BuiltinRules {
    /// Every built-in rule, in file-name order.
    /// Decoding embedded data cannot fail in a built binary: the drift test and `rules check` guard it.
    public static let all: [Rule] = {
        BuiltinRuleData.files.map { entry in
            let bytes = Self.bytes(ofHex: entry.hex)
            do {
                return try Rule.decode(Data(bytes), file: entry.name)
            } catch {
                fatalError("embedded rule \(entry.name) does not decode: \(error)")
            }
        }
    }()

    /// The embedded rule files as (file name, JSON bytes), for the drift check.
    public static var embeddedFiles: [(name: String, bytes: [UInt8])] {
        BuiltinRuleData.files.map { ($0.name, Self.bytes(ofHex: $0.hex)) }
    }

    /// The bytes of the generated hex text, its line breaks and indentation left out (byte by byte over the UTF-8
    /// storage: filtering `Character`s cost 4 ms of every start-up, a generic filter over the UTF-8 view 1 ms).
    private static func bytes(ofHex text: String) -> [UInt8] {
        var text = text
        let digits = text.withUTF8 { utf8 in
            var digits: [UInt8] = []
            digits.reserveCapacity(utf8.count)
            for byte in utf8 where byte != 0x20 && byte != 0x0A && byte != 0x0D && byte != 0x09 { digits.append(byte) }
            return digits
        }
        return Hex.decode(digits: digits) ?? []
    }
}
