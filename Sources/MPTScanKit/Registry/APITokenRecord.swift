import Foundation

/// The registry's API token object, as `GET /accounts/api-tokens/{id}` returns it (and each element of a list).
///
/// Shape (source: `reference/marketplace-api.md`, "The API token object"):
/// `{"id":"TKN-1234-5678","status":"Active","name":"…","description":"…","lastAccessAt":"2026-03-15T10:00:00.000Z",
///   "token":"idt:TKN-1234-5678:<64>","account":{"id":"ACC-…","name":"…","type":"Client","status":"Active"}, …}`.
/// Members mptscan does not use (`href`, `icon`, `modules`, `audit`) are ignored; only `id` and `status` are required.
///
/// `token` is the full secret: `description` and the mirror redact it, so printing a record never leaks it.
public struct APITokenRecord: Sendable, Equatable, Codable, CustomStringConvertible, CustomReflectable {
    /// A token's life-cycle state: New → Active ⇄ Disabled; Active | Disabled → Deleted (terminal, soft delete).
    /// A status this version does not know is kept as `other`.
    public enum Status: Sendable, Hashable, Codable, CustomStringConvertible {
        /// `Active`: the token authenticates.
        case active
        /// `Disabled`: refused by the platform; reversible (`…/enable`).
        case disabled
        /// `Deleted`: soft-deleted, terminal.
        case deleted
        /// Any other value, as the registry spelled it.
        case other(String)

        /// The status as the registry spells it.
        public init(rawValue: String) {
            switch rawValue {
            case "Active": self = .active
            case "Disabled": self = .disabled
            case "Deleted": self = .deleted
            default: self = .other(rawValue)
            }
        }

        /// The registry's spelling: `Active`, `Disabled`, `Deleted` or the unknown value.
        public var rawValue: String {
            switch self {
            case .active: return "Active"
            case .disabled: return "Disabled"
            case .deleted: return "Deleted"
            case .other(let value): return value
            }
        }

        /// The registry's spelling (`rawValue`).
        public var description: String { self.rawValue }

        /// Decodes any JSON string; unknown values become `other`.
        public init(from decoder: any Decoder) throws {
            self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
        }

        /// Encodes `rawValue` as a JSON string.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(self.rawValue)
        }
    }

    /// The account a token belongs to (`account` in the token object).
    public struct Account: Sendable, Equatable, Codable {
        /// `ACC-dddd-dddd`.
        public var id: String
        /// The account's display name.
        public var name: String?
        /// `Client`, `Vendor` or `Operations`.
        public var type: String?
        /// The account's own status (e.g. `Active`).
        public var status: String?

        /// An account with the given members.
        public init(id: String, name: String? = nil, type: String? = nil, status: String? = nil) {
            self.id = id
            self.name = name
            self.type = type
            self.status = status
        }
    }

    /// The token id, `TKN-dddd-dddd` (optionally a third group).
    public var id: String
    /// Active, Disabled, Deleted, or an unknown value kept as is.
    public var status: Status
    /// The name its owner gave it.
    public var name: String?
    /// The owner's description (JSON member `description`).
    public var tokenDescription: String?
    /// When the token was last used, as the registry wrote it (ISO 8601 text; approximate per the platform docs).
    public var lastAccessAt: String?
    /// The full token value `idt:TKN-…:<secret>`; nil when the registry hides it (caller not allowed to read it,
    /// or a deleted token). Secret: never print it.
    public var token: String?
    /// The owning account.
    public var account: Account?

    /// A record with the given members.
    public init(id: String, status: Status, name: String? = nil, tokenDescription: String? = nil, lastAccessAt: String? = nil,
                token: String? = nil, account: Account? = nil) {
        self.id = id
        self.status = status
        self.name = name
        self.tokenDescription = tokenDescription
        self.lastAccessAt = lastAccessAt
        self.token = token
        self.account = account
    }

    enum CodingKeys: String, CodingKey {
        case id, status, name, tokenDescription = "description", lastAccessAt, token, account
    }

    /// SHA-256 (lowercase hex) of the registry's value: equal to a finding's fingerprint when the found token is
    /// this token's value (PRODUCT.md: the fingerprint is the SHA-256 of the canonical token). Nil when hidden.
    public var valueFingerprint: String? { self.token.map { SHA256.hexDigest(of: Array($0.utf8)) } }

    /// True when `found` equals the registry's value, compared in constant time (for equal lengths); false when
    /// the value is hidden.
    public func valueEquals(_ found: String) -> Bool {
        guard let value = self.token else { return false }
        return Self.constantTimeEquals(Array(value.utf8), Array(found.utf8))
    }

    /// Byte equality whose running time depends only on the lengths, not on where the bytes differ.
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<a.count { difference |= a[i] ^ b[i] }
        return difference == 0
    }

    /// True for a token id the registry can be asked about: `TKN-dddd-dddd` or `TKN-dddd-dddd-dddd` (ASCII digits).
    /// Anything else is never put into a request path.
    public static func isValidID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard bytes.count == 13 || bytes.count == 18, bytes.starts(with: Array("TKN-".utf8)) else { return false }
        for (i, byte) in bytes.enumerated().dropFirst(4) {
            let isDash = (i - 4) % 5 == 4
            if isDash ? byte != UInt8(ascii: "-") : !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { return false }
        }
        return true
    }

    /// `TKN-… Active (account ACC-…, "name")`, with the value shown only as present or hidden.
    public var description: String {
        var text = "\(self.id) \(self.status)"
        if let account = self.account { text += " (account \(account.id))" }
        if let name = self.name { text += " \"\(Printable.text(name))\"" }
        text += self.token == nil ? " [value hidden]" : " [value <redacted>]"
        return text
    }

    /// The members, with `token` shown as `<redacted>` (so `dump` never prints a value).
    public var customMirror: Mirror {
        Mirror(self, children: ["id": self.id, "status": self.status, "name": self.name as Any,
                                "tokenDescription": self.tokenDescription as Any, "lastAccessAt": self.lastAccessAt as Any,
                                "token": self.token == nil ? "nil" : "<redacted>", "account": self.account as Any])
    }
}

/// One page of `GET /accounts/api-tokens`: `{"$meta":{"pagination":{"offset":0,"limit":100,"total":N}},"data":[…]}`.
/// Source: `reference/marketplace-api.md`, "Endpoints" (list).
public struct APITokenPage: Sendable, Equatable, Decodable {
    /// The index of the first record of this page in the whole (filtered) list, 0-based.
    public var offset: Int
    /// The page size the server applied (it caps requests at 100).
    public var limit: Int
    /// How many records the whole (filtered) list holds.
    public var total: Int
    /// The records of this page.
    public var tokens: [APITokenRecord]

    /// A page with the given members.
    public init(offset: Int, limit: Int, total: Int, tokens: [APITokenRecord]) {
        self.offset = offset
        self.limit = limit
        self.total = total
        self.tokens = tokens
    }

    private struct Meta: Decodable {
        struct Pagination: Decodable { var offset: Int; var limit: Int; var total: Int }
        var pagination: Pagination
    }

    enum CodingKeys: String, CodingKey { case meta = "$meta", data }

    /// Decodes `$meta.pagination` and `data`.
    /// - Throws: `DecodingError` when either is missing or mistyped.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let pagination = try container.decode(Meta.self, forKey: .meta).pagination
        self.offset = pagination.offset
        self.limit = pagination.limit
        self.total = pagination.total
        self.tokens = try container.decode([APITokenRecord].self, forKey: .data)
    }

    /// True when records remain after this page.
    public var hasMore: Bool { self.offset + self.tokens.count < self.total && !self.tokens.isEmpty }
}
