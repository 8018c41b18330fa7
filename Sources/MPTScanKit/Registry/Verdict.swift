import Foundation

/// What the token registry says about a found token. Decided in the order of `../shared/PRODUCT.md`
/// ("The registry"): unknown, forbidden, deleted, mismatch, disabled, live; `invalid` comes only from the
/// self-check, `error` when the registry could not answer, `unverified` when no registry was asked.
public enum Verdict: String, Sendable, Codable, CaseIterable {
    /// 404: no token with this id (or not visible to the credential).
    case unknown
    /// 403, or the registry hid the token's value, so no comparison was possible.
    case forbidden
    /// The id exists, status Deleted.
    case deleted
    /// The id exists but its value differs from the found token: a fake, or an old value.
    case mismatch
    /// Values equal, status Disabled.
    case disabled
    /// Values equal, status Active: the token works. The only verdict a disable acts on.
    case live
    /// Self-check only: the token was refused (401): disabled, deleted or never valid.
    case invalid
    /// The registry could not answer (network, 5xx, 429 after retries, a malformed answer).
    case error
    /// No registry was configured (or the finding is of a kind the registry does not hold).
    case unverified

    /// Verdicts the registry has proven dead: `--fail-on unverified` lets these pass.
    public var isProvenDead: Bool { [.disabled, .deleted, .mismatch, .invalid].contains(self) }
}

/// A finding's registry verdict with the registry's facts about the token (never its value).
public struct RegistryVerdict: Sendable, Equatable {
    public var verdict: Verdict
    /// How it was decided: `registry` (an admin lookup), `self` (the token authenticated as itself) or
    /// `snapshot` (an offline export, compared by SHA-256).
    public var source: String
    /// The registry's status text (`Active`, `Disabled`, `Deleted`), when it answered with a record.
    public var status: String?
    public var accountID: String?
    public var accountName: String?
    /// `Client`, `Vendor` or `Operations`.
    public var accountType: String?
    public var tokenName: String?
    /// When the token was last used, as the registry wrote it (ISO 8601), approximate per the platform.
    public var lastAccessAt: String?
    /// Why, for `forbidden` (the permission needed), `error` (what failed), a stale snapshot, and the like.
    public var detail: String?
    /// True when this run disabled the token (`--disable-live`, confirmed by a re-read). The verdict stays what
    /// the scan found (`live`), so the exit code still says a live token was leaked.
    public var disabledByRun = false

    public init(verdict: Verdict, source: String, detail: String? = nil) {
        self.verdict = verdict
        self.source = source
        self.detail = detail
    }

    /// The permission a reader needs, per `reference/marketplace-api.md` ("Who may read and disable").
    public static let permissionNeeded = "Access Management in the token's account (or Platform Account Management, for an Operations token)"

    /// The verdict for a found token from an admin lookup of its id. `canonical` is the finding's canonical
    /// token (`idt:TKN-…:<64>`, or `TKN-…:<secret>` for a legacy pair, which also matches `idt:` + it).
    /// Values are compared in constant time.
    public static func decide(found canonical: String, tokenID: String, lookup: Result<APITokenRecord, RegistryFailure>, source: String = "registry") -> RegistryVerdict {
        switch lookup {
        case .failure(let failure):
            switch failure {
            case .notFound: return RegistryVerdict(verdict: .unknown, source: source, detail: "no token with this id is visible to the registry credential")
            case .forbidden(let problem):
                return RegistryVerdict(verdict: .forbidden, source: source,
                                       detail: "the registry refused to show this token (403\(problem.map { ": \($0.title ?? "")" } ?? "")); reading it needs \(Self.permissionNeeded)")
            default:
                return RegistryVerdict(verdict: .error, source: source, detail: failure.description)
            }
        case .success(let record):
            guard record.id == tokenID else {
                return RegistryVerdict(verdict: .error, source: source, detail: "the registry answered with another token's record (\(Redaction.quote(record.id, limit: 40)))")
            }
            var verdict = RegistryVerdict(verdict: .error, source: source)
            verdict.fill(from: record)
            if record.status == .deleted { verdict.verdict = .deleted; return verdict }
            guard let value = record.token else {
                verdict.verdict = .forbidden
                verdict.detail = "the registry hid the token's value, so it cannot be compared; reading it needs \(Self.permissionNeeded)"
                return verdict
            }
            guard Self.sameToken(found: canonical, registryValue: value) else { verdict.verdict = .mismatch; return verdict }
            switch record.status {
            case .disabled: verdict.verdict = .disabled
            case .active: verdict.verdict = .live
            default:
                verdict.verdict = .error
                verdict.detail = "the registry gave an unknown status '\(record.status.rawValue)'"
            }
            return verdict
        }
    }

    /// The verdict of the opt-in self-check: the found token authenticated a read of its own record.
    /// 200 or 403 → live (it authenticated), 401 → invalid (the platform refuses disabled, deleted and fake
    /// tokens alike), 404 → unknown, anything else → error. Source: the platform CLI's own check, in
    /// `reference/marketplace-api.md`.
    public static func decideSelf(tokenID: String, lookup: Result<APITokenRecord, RegistryFailure>) -> RegistryVerdict {
        switch lookup {
        case .success(let record) where record.id != tokenID:
            return RegistryVerdict(verdict: .error, source: "self", detail: "the registry answered with another token's record")
        case .success(let record):
            var verdict = RegistryVerdict(verdict: .live, source: "self")
            verdict.fill(from: record)
            return verdict
        case .failure(.forbidden):
            return RegistryVerdict(verdict: .live, source: "self", detail: "the token authenticated but may not read its own record (403)")
        case .failure(.unauthorized):
            return RegistryVerdict(verdict: .invalid, source: "self", detail: "the platform refused the token (401): disabled, deleted or never valid")
        case .failure(.notFound):
            return RegistryVerdict(verdict: .unknown, source: "self")
        case .failure(let failure):
            return RegistryVerdict(verdict: .error, source: "self", detail: failure.description)
        }
    }

    /// Whether a found canonical token and the registry's value are the same token (constant time).
    static func sameToken(found canonical: String, registryValue: String) -> Bool {
        let value = Array(registryValue.utf8)
        let plain = APITokenRecord.constantTimeEquals(Array(canonical.utf8), value)
        // a legacy pair `TKN-…:<secret>` names the same token as `idt:TKN-…:<secret>`
        let prefixed = !canonical.hasPrefix("idt:") && APITokenRecord.constantTimeEquals(Array(("idt:" + canonical).utf8), value)
        return plain || prefixed
    }

    mutating func fill(from record: APITokenRecord) {
        self.status = record.status.rawValue
        self.accountID = record.account?.id
        self.accountName = record.account?.name
        self.accountType = record.account?.type
        self.tokenName = record.name
        self.lastAccessAt = record.lastAccessAt
    }
}
