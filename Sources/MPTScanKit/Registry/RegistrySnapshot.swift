import Foundation

/// An offline copy of the token registry with no secret in it: each token's id, status, account, name,
/// `lastAccessAt` and the SHA-256 of its value (lowercase hex, the same as a finding's fingerprint). Written by
/// `mptscan registry export`, read by `--registry-file` so a CI job or a hook can give verdicts without network
/// or admin rights. JSON, version 1:
/// `{"version":1,"taken_at":"2026-11-29T17:00:00Z","registry":"https://…/public/v1","tokens":[{"id","status",
/// "account":{"id","name","type"},"name","last_access_at","sha256"}]}` (`sha256` null when the value was hidden).
public struct RegistrySnapshot: Sendable, Equatable, Codable {
    public struct Entry: Sendable, Equatable, Codable {
        public var id: String
        public var status: String
        public var account: APITokenRecord.Account?
        public var name: String?
        public var lastAccessAt: String?
        public var sha256: String?

        enum CodingKeys: String, CodingKey {
            case id, status, account, name
            case lastAccessAt = "last_access_at"
            case sha256
        }
    }

    public static let currentVersion = 1
    /// A snapshot older than this many seconds is flagged as stale (verdicts still given, with a warning).
    public static let staleAfter: TimeInterval = 24 * 3600

    public var version: Int
    /// When the export was taken, RFC 3339 UTC.
    public var takenAt: String
    /// The registry base URL it was taken from.
    public var registry: String
    public var tokens: [Entry] { didSet { self.byID = Self.index(self.tokens) } }
    /// `tokens` by id (ids are unique: `load` refuses duplicates).
    private var byID: [String: Entry] = [:]

    enum CodingKeys: String, CodingKey {
        case version
        case takenAt = "taken_at"
        case registry, tokens
    }

    private static func index(_ tokens: [Entry]) -> [String: Entry] {
        Dictionary(tokens.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.version = try c.decode(Int.self, forKey: .version)
        self.takenAt = try c.decode(String.self, forKey: .takenAt)
        self.registry = try c.decode(String.self, forKey: .registry)
        self.tokens = try c.decode([Entry].self, forKey: .tokens)
        self.byID = Self.index(self.tokens)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(self.version, forKey: .version)
        try c.encode(self.takenAt, forKey: .takenAt)
        try c.encode(self.registry, forKey: .registry)
        try c.encode(self.tokens, forKey: .tokens)
    }

    public static func == (a: RegistrySnapshot, b: RegistrySnapshot) -> Bool {
        a.version == b.version && a.takenAt == b.takenAt && a.registry == b.registry && a.tokens == b.tokens
    }

    /// A snapshot of `records` (their values are hashed, never kept), sorted by id. Token and account names are
    /// kept with any token in them redacted (`Redaction.secrets(in:)`: someone may name a token after its value).
    public init(records: [APITokenRecord], registry: String, takenAt: Date) {
        self.version = Self.currentVersion
        self.takenAt = Self.format(takenAt)
        self.registry = registry
        self.tokens = records.map {
            var account = $0.account
            if let name = account?.name { account?.name = Redaction.secrets(in: name) }
            return Entry(id: $0.id, status: $0.status.rawValue, account: account, name: $0.name.map { Redaction.secrets(in: $0) },
                         lastAccessAt: $0.lastAccessAt, sha256: $0.valueFingerprint)
        }.sorted { $0.id < $1.id }
        self.byID = Self.index(self.tokens)
    }

    /// Reads a snapshot file. Throws `RegistrySnapshotError` naming the file and what is wrong.
    public static func load(from path: String) throws -> RegistrySnapshot {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw RegistrySnapshotError("\(path): cannot read the registry snapshot: \(error.localizedDescription)")
        }
        let snapshot: RegistrySnapshot
        do { snapshot = try JSONDecoder().decode(RegistrySnapshot.self, from: data) } catch {
            throw RegistrySnapshotError("\(path): not a registry snapshot (write one with `mptscan registry export`): \(error)")
        }
        guard snapshot.version == Self.currentVersion else {
            throw RegistrySnapshotError("\(path): snapshot version \(snapshot.version) is not supported (expected \(Self.currentVersion))")
        }
        // a damaged hash would turn a live token into a "mismatch" (proven dead): refuse the file instead
        var ids = Set<String>()
        for (i, entry) in snapshot.tokens.enumerated() {
            if let hash = entry.sha256, hash.count != 64 || !hash.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) {
                throw RegistrySnapshotError("\(path): tokens[\(i)].sha256: expected 64 lower-case hexadecimal digits")
            }
            guard ids.insert(entry.id).inserted else { throw RegistrySnapshotError("\(path): tokens[\(i)]: token \(entry.id) listed twice") }
        }
        return snapshot
    }

    /// The JSON text, pretty-printed with sorted keys (stable, reviewable).
    public func serialized() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)) ?? Data()
    }

    /// Seconds since the snapshot was taken; nil when `taken_at` does not parse or lies in the future (then it
    /// cannot be trusted to be fresh).
    public func age(now: Date = Date()) -> TimeInterval? {
        let plain = ISO8601DateFormatter()
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard let taken = plain.date(from: self.takenAt) ?? fractional.date(from: self.takenAt) else { return nil }
        let age = now.timeIntervalSince(taken)
        return age >= -300 ? age : nil
    }

    /// The verdict for a found token: by id, then by comparing the SHA-256 of the found token (its fingerprint,
    /// and for a legacy pair also of `idt:` + it) with the stored hash.
    public func verdict(tokenID: String, canonical: String, fingerprint: String, stale: String?) -> RegistryVerdict {
        guard let entry = self.byID[tokenID] else {
            let why = "not in the snapshot: no such token, or one in an account the exporter could not read"
            return RegistryVerdict(verdict: .unknown, source: "snapshot", detail: stale.map { why + "; " + $0 } ?? why)
        }
        var verdict = RegistryVerdict(verdict: .error, source: "snapshot", detail: stale)
        verdict.status = entry.status
        verdict.accountID = entry.account?.id
        verdict.accountName = entry.account?.name
        verdict.accountType = entry.account?.type
        verdict.tokenName = entry.name
        verdict.lastAccessAt = entry.lastAccessAt
        if entry.status == "Deleted" { verdict.verdict = .deleted; return verdict }
        guard let stored = entry.sha256 else {
            verdict.verdict = .forbidden
            verdict.detail = "the snapshot has no hash for this token (its value was hidden from the exporter)"
            return verdict
        }
        let hashes = [fingerprint] + (canonical.hasPrefix("idt:") ? [] : [SHA256.hexDigest(of: Array(("idt:" + canonical).utf8))])
        guard hashes.contains(where: { APITokenRecord.constantTimeEquals(Array($0.utf8), Array(stored.utf8)) }) else {
            verdict.verdict = .mismatch
            return verdict
        }
        switch entry.status {
        case "Active": verdict.verdict = .live
        case "Disabled": verdict.verdict = .disabled
        default: verdict.detail = "unknown status '\(entry.status)' in the snapshot"
        }
        return verdict
    }

    static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}

/// A registry snapshot that cannot be read or used.
public struct RegistrySnapshotError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { self.message }
}
