import Foundation

/// Whose a platform JWT is and when it expires, read from its payload (never verified, never sent anywhere).
///
/// Claim names from `../shared/reference/marketplace-api.md`: `https://claims.softwareone.com/userId` (`USR-…`),
/// `…/accountId` (`ACC-…`), `…/extensionId`; `iss` and `exp` from RFC 7519 §4.1.
public struct PlatformClaims: Sendable, Equatable {
    /// What kind of credential the JWT is.
    public enum Kind: String, Sendable {
        /// A user's login (`userId` claim).
        case user
        /// An extension key (`extensionId` claim, or issued by an extension issuer).
        case `extension`
    }

    public var kind: Kind
    /// `USR-…`, when present.
    public var userID: String?
    /// `ACC-…`, when present.
    public var accountID: String?
    /// The extension's id, when present.
    public var extensionID: String?
    /// The `iss` claim.
    public var issuer: String?
    /// The `exp` claim: seconds since 1970-01-01T00:00:00Z (RFC 7519 NumericDate), nil when absent.
    public var expiresAt: Int?
    /// True when `expiresAt` is before the reference time (`SOURCE_DATE_EPOCH` when set, else now).
    public var expired: Bool

    /// `expiresAt` as RFC 3339 UTC (`2026-01-31T12:00:00Z`).
    public var expiresAtText: String? {
        self.expiresAt.map { PlatformClaims.rfc3339(seconds: $0) }
    }

    static func rfc3339(seconds: Int) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }
}

/// Finds platform JWTs (RFC 7519 compact form: `header.payload.signature`, each part base64url, RFC 4648 §5)
/// by anchor search on the Base64 forms of the claims' domain (`softwareone.com`) at its three byte
/// alignments: only a payload that names the domain is ever decoded. Around a hit, the enclosing base64url run is
/// the payload; a `.` and a header that decodes to a JSON object must precede it, and a `.` and the signature
/// follow it. The payload is parsed as JSON and must carry a claim under `JWTPolicy.claimsNamespace` or an issuer
/// from `JWTPolicy.issuers`. A class, immutable, like `TokenDetector` that holds it: used without copying.
final class PlatformJWT: Sendable {
    let ruleIndex: Int
    let policy: JWTPolicy
    let search: MultiLiteralSearch
    /// The claims anchor's Base64 forms at each alignment, the literals of `search`.
    let anchorForms: [[UInt8]]
    /// Longest header and payload considered, in bytes of base64url text (a streaming caller keeps 4 KiB after
    /// an anchor and 12 KiB before it).
    static let maxHeader = 2048
    static let maxPayload = 10240
    static let maxSignature = 1024
    /// Shortest signature accepted, in base64url characters: HS256 gives 43, ES256 86, RS256 342. Anything
    /// shorter (or none: `header.payload.` at the end of a sentence) is no usable token.
    static let minSignature = 32
    /// Characters of the JWT shown in a redacted report (the rest is cut as the secret part).
    static let visiblePrefix = 8

    /// The reference time for `expired`: `SOURCE_DATE_EPOCH` (reproducible builds) when set, else the clock.
    static let referenceTime: Int = {
        if let seconds = ToolInfo.sourceDateEpoch { return seconds }
        return Int(Date().timeIntervalSince1970)
    }()

    init(ruleIndex: Int, policy: JWTPolicy) {
        self.ruleIndex = ruleIndex
        self.policy = policy
        self.anchorForms = Base64Anchors.forms(of: Array(policy.anchor.utf8)).map(\.literal)
        self.search = MultiLiteralSearch(self.anchorForms)
    }

    /// Reports each platform JWT whose anchor starts in `anchorRange`, as a candidate spanning the whole JWT
    /// (0-based byte offsets into `buffer`) with its claims.
    func scan(_ buffer: UnsafeBufferPointer<UInt8>, anchorRange: Range<Int>, emit: (Candidate) -> Void) {
        self.scan(buffer, hits: self.search.hitsInTextOrder(in: buffer, starting: anchorRange).map { ($0.literal, $0.at) }, emit: emit)
    }

    /// `scan` on hits found by the caller: (index into `anchorForms`, 0-based byte offset into `buffer`) for each
    /// anchor found, in text order (by offset, then index).
    func scan(_ buffer: UnsafeBufferPointer<UInt8>, hits: [(form: Int, at: Int)], emit: (Candidate) -> Void) {
        var done = -1 // the end of the last JWT reported: more anchors inside its payload are the same JWT
        for (_, hit) in hits {
            guard hit >= done else { continue }
            guard let candidate = self.candidate(buffer, around: hit) else {
                // every anchor in the same base64url run shares its verdict: skip the rest of the run
                var end = hit
                while end < buffer.count, end - hit < Self.maxPayload, Self.isURLCharacter(buffer[end]) { end += 1 }
                done = end
                continue
            }
            done = candidate.end
            emit(candidate)
        }
    }

    private func candidate(_ b: UnsafeBufferPointer<UInt8>, around hit: Int) -> Candidate? {
        // the payload: the base64url run holding the anchor
        var payloadStart = hit
        while payloadStart > 0, hit - payloadStart < Self.maxPayload, Self.isURLCharacter(b[payloadStart - 1]) { payloadStart -= 1 }
        var payloadEnd = hit
        while payloadEnd < b.count, payloadEnd - payloadStart < Self.maxPayload, Self.isURLCharacter(b[payloadEnd]) { payloadEnd += 1 }
        guard payloadStart >= 2, b[payloadStart - 1] == UInt8(ascii: "."), payloadEnd < b.count, b[payloadEnd] == UInt8(ascii: ".") else { return nil }
        // the header before it, the signature after it
        var runStart = payloadStart - 1
        while runStart > 0, payloadStart - 1 - runStart < Self.maxHeader, Self.isURLCharacter(b[runStart - 1]) { runStart -= 1 }
        guard payloadStart - 1 - runStart >= 4 else { return nil }
        var signatureEnd = payloadEnd + 1
        while signatureEnd < b.count, signatureEnd - payloadEnd <= Self.maxSignature, Self.isURLCharacter(b[signatureEnd]) { signatureEnd += 1 }
        guard signatureEnd - payloadEnd - 1 >= Self.minSignature else { return nil }
        // the header: the whole run, or, when base64url characters are glued before it (`Bearer%20eyJ…`,
        // `\neyJ…`, `jwt_eyJ…`), from the first `eyJ` (`{"`) in the run that decodes to a JSON object
        var headerStart = -1
        var k = runStart
        while k <= payloadStart - 5 {
            if k == runStart || (b[k] == UInt8(ascii: "e") && b[k + 1] == UInt8(ascii: "y") && b[k + 2] == UInt8(ascii: "J")) {
                if let header = Self.decode(b, k..<(payloadStart - 1)), header.first == UInt8(ascii: "{") { headerStart = k; break }
            }
            k += 1
        }
        guard headerStart >= 0,
              let payload = Self.decode(b, payloadStart..<payloadEnd),
              let object = (try? JSONSerialization.jsonObject(with: Data(payload))) as? [String: Any],
              let claims = self.claims(object) else { return nil }
        let text = String(decoding: UnsafeBufferPointer(rebasing: b[headerStart..<signatureEnd]), as: UTF8.self)
        var candidate = Candidate(ruleIndex: self.ruleIndex, start: headerStart, end: signatureEnd,
                                  tokenID: [claims.userID, claims.extensionID, claims.accountID].compactMap { $0 }.first(where: Self.isPlatformID) ?? "JWT",
                                  canonical: text, secretLength: text.utf8.count - Self.visiblePrefix, encoding: .plain)
        candidate.claims = claims
        return candidate
    }

    /// The platform claims of a decoded payload, or nil when it is no platform credential.
    func claims(_ object: [String: Any]) -> PlatformClaims? {
        let ns = self.policy.claimsNamespace
        let issuer = object["iss"] as? String
        // an issuer URL with or without its trailing slash
        let issuerKey = issuer.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        func listed(_ list: [String]) -> Bool {
            guard let issuerKey else { return false }
            return list.contains { ($0.hasSuffix("/") ? String($0.dropLast()) : $0) == issuerKey }
        }
        let namespaced = object.keys.contains { $0.hasPrefix(ns) }
        guard namespaced || listed(self.policy.issuers) else { return nil }
        // ids are shown only when they have the platform's shape (a crafted claim could hold terminal escapes)
        let userID = (object[ns + "userId"] as? String).flatMap { Self.isPlatformID($0) ? $0 : nil }
        let accountID = (object[ns + "accountId"] as? String).flatMap { Self.isPlatformID($0) ? $0 : nil }
        let extensionID = (object[ns + "extensionId"] as? String).flatMap { $0.count <= 64 ? Printable.text($0) : nil }
        // RFC 7519 NumericDate: seconds, possibly fractional; beyond year 9999 (or not finite) means no usable date
        let expiresAt = (object["exp"] as? NSNumber).flatMap { n -> Int? in
            let d = n.doubleValue
            return d.isFinite && abs(d) <= 253_402_300_799 ? Int(d) : nil
        }
        let isExtension = extensionID != nil || listed(self.policy.extensionIssuers)
        return PlatformClaims(kind: isExtension ? .extension : .user, userID: userID, accountID: accountID,
                              extensionID: extensionID, issuer: issuer, expiresAt: expiresAt,
                              expired: expiresAt.map { $0 < Self.referenceTime } ?? false)
    }

    /// base64url text (unpadded, RFC 4648 §5) decoded, or nil when it is not a whole number of characters.
    static func decode(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> [UInt8]? {
        guard range.count % 4 != 1 else { return nil }
        var out = [UInt8](repeating: 0, count: range.count / 4 * 3 + 3)
        let n = out.withUnsafeMutableBufferPointer { Base64Tokens.decode(UnsafeBufferPointer(rebasing: b[range]), into: $0) }
        return Array(out.prefix(n))
    }

    /// `XXX-dddd-dddd` or `XXX-dddd-dddd-dddd` (USR, ACC, EXT…): ids from a payload are shown only in this shape
    /// (anything else, say terminal escapes in a crafted claim, is not printed).
    static func isPlatformID(_ id: String) -> Bool {
        let parts = id.split(separator: "-", omittingEmptySubsequences: false)
        guard (3...4).contains(parts.count), parts[0].count == 3, parts[0].allSatisfy({ $0.isASCII && $0.isUppercase }) else { return false }
        return parts.dropFirst().allSatisfy { $0.count == 4 && $0.allSatisfy { $0.isASCII && $0.isNumber } }
    }

    @inline(__always)
    static func isURLCharacter(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x2D || c == 0x5F
    }
}

/// The Base64 characters that a byte string fixes wherever it sits in an encoded stream (RFC 4648 §4), for
/// anchor searches on encoded text.
enum Base64Anchors {
    /// For each of the three byte alignments of `bytes` in the decoded stream, the encoded characters that
    /// depend on `bytes` alone, and how many characters lie between the start of their 4-character quantum and
    /// the first of them. When those characters hold `+` or `/`, the base64url form (`-`, `_`) is added too.
    static func forms(of bytes: [UInt8]) -> [(literal: [UInt8], back: Int)] {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        var out: [(literal: [UInt8], back: Int)] = []
        for alignment in 0..<3 {
            let stream = [UInt8](repeating: 0, count: alignment) + bytes + [0, 0, 0]
            let knownBits = (8 * alignment)..<(8 * (alignment + bytes.count))
            var literal: [UInt8] = [], first = -1
            var k = 0
            while 6 * k + 6 <= 8 * stream.count {
                let bits = (6 * k)..<(6 * k + 6)
                if bits.lowerBound >= knownBits.lowerBound && bits.upperBound <= knownBits.upperBound {
                    var value = 0
                    for bit in bits { value = value << 1 | Int(stream[bit / 8] >> (7 - bit % 8) & 1) }
                    if first < 0 { first = k }
                    literal.append(alphabet[value])
                }
                k += 1
            }
            out.append((literal, first))
            if literal.contains(UInt8(ascii: "+")) || literal.contains(UInt8(ascii: "/")) {
                out.append((literal.map { $0 == UInt8(ascii: "+") ? UInt8(ascii: "-") : $0 == UInt8(ascii: "/") ? UInt8(ascii: "_") : $0 }, first))
            }
        }
        return out
    }
}
