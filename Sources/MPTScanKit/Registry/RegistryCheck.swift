import Foundation

/// Where verdicts come from for one scan.
public enum RegistrySource: Sendable {
    /// No registry: every token finding is `unverified`.
    case none
    /// Admin lookups by id (`GET /accounts/api-tokens/{id}`), one per distinct id.
    case registry(RegistryClient)
    /// The opt-in self-check: each distinct found token authenticates one read of its own record. This uses
    /// the leaked credential and touches its `lastAccessAt`.
    case selfCheck(RegistryEndpoint, RegistryClientOptions)
    /// An offline snapshot compared by SHA-256; `stale` is a warning to attach when it is old.
    case snapshot(RegistrySnapshot, stale: String?)
}

/// Gives findings their registry verdicts (the "registry verdict" stage of the pipeline in
/// docs/ARCHITECTURE.md: after suppression, before reporting).
public enum RegistryCheck {
    /// Sets `registry` on every unsuppressed finding: token findings get the source's verdict (one request per
    /// distinct token id, or per distinct token for the self-check, `concurrency` at a time); other findings
    /// (platform JWTs) get `unverified`, as the registry does not hold them. Returns issues that make the scan
    /// incomplete: lookups that failed (`error` verdicts), described without any secret.
    public static func apply(to findings: inout [Finding], source: RegistrySource, concurrency: Int = 4,
                             isCancelled: @escaping @Sendable () -> Bool = { false }) -> [ScanIssue] {
        let indices = findings.indices.filter { !findings[$0].isSuppressed }
        let tokenIndices = indices.filter { APITokenRecord.isValidID(findings[$0].tokenID) && findings[$0].claims == nil }
        let isToken = Set(tokenIndices)
        for i in indices where !isToken.contains(i) {
            findings[i].registry = RegistryVerdict(verdict: .unverified, source: "none", detail: "not an API token: the registry does not hold it")
        }
        switch source {
        case .none:
            for i in tokenIndices { findings[i].registry = RegistryVerdict(verdict: .unverified, source: "none") }
        case .registry(let client):
            let ids = Array(Set(tokenIndices.map { findings[$0].tokenID })).sorted()
            // the first lookup alone: a registry that cannot be reached at all (after its retries) is not
            // asked again for every other id
            var results = client.lookUp(ids: Array(ids.prefix(1)), concurrency: 1, isCancelled: isCancelled)
            if let first = ids.first, case .failure(.transport(let why)) = results[first] {
                for id in ids.dropFirst() { results[id] = .failure(.transport("not asked: the registry did not answer the first lookup (\(why))")) }
            } else {
                results.merge(client.lookUp(ids: Array(ids.dropFirst()), concurrency: concurrency, isCancelled: isCancelled)) { a, _ in a }
            }
            for i in tokenIndices {
                let lookup = results[findings[i].tokenID] ?? .failure(.transport("not asked: interrupted"))
                findings[i].registry = RegistryVerdict.decide(found: findings[i].token, tokenID: findings[i].tokenID, lookup: lookup)
            }
        case .selfCheck(let endpoint, let options):
            let tokens = Array(Set(tokenIndices.map { findings[$0].token })).sorted()
            let results = Self.selfCheck(tokens, endpoint: endpoint, options: options, concurrency: concurrency, isCancelled: isCancelled)
            for i in tokenIndices { findings[i].registry = results[findings[i].token] }
        case .snapshot(let snapshot, let stale):
            for i in tokenIndices {
                let f = findings[i]
                findings[i].registry = snapshot.verdict(tokenID: f.tokenID, canonical: f.token, fingerprint: f.fingerprint, stale: stale)
            }
        }
        // a token the registry proved dead no longer opens anything: its leak is low severity
        for i in tokenIndices where findings[i].registry?.verdict.isProvenDead == true { findings[i].severity = .low }
        let failed = tokenIndices.filter { findings[$0].registry?.verdict == .error }
        guard let first = failed.first else { return [] }
        let ids = Set(failed.map { findings[$0].tokenID })
        return [ScanIssue(path: "registry", message: "\(ids.count) token\(ids.count == 1 ? "" : "s") could not be checked (\(findings[first].tokenID): \(findings[first].registry?.detail ?? "error")); their findings have the verdict 'error'", isPath: false)]
    }

    /// One self-authenticated read per token; the bearer is the found token (legacy pairs as `idt:` + pair).
    static func selfCheck(_ tokens: [String], endpoint: RegistryEndpoint, options: RegistryClientOptions,
                          concurrency: Int, isCancelled: @escaping @Sendable () -> Bool) -> [String: RegistryVerdict] {
        let results = Locked<[String: RegistryVerdict]>([:])
        Locked<Int>.forEachIndex(tokens.count, workers: concurrency) { index in
                let token = tokens[index]
                if isCancelled() {
                    results.withLock { $0[token] = RegistryVerdict(verdict: .error, source: "self", detail: "not asked: interrupted") }
                    return
                }
                let bearerText = token.hasPrefix("idt:") ? token : "idt:" + token
                let id = String(bearerText.split(separator: ":")[1])
                let verdict: RegistryVerdict
                if let bearer = try? RegistryCredential(bearerText, source: "a found token") {
                    let client = RegistryClient(endpoint: endpoint, credential: bearer, options: options)
                    verdict = RegistryVerdict.decideSelf(tokenID: id, lookup: client.getToken(id: id))
                } else {
                    verdict = RegistryVerdict(verdict: .error, source: "self", detail: "the found token cannot be sent as a bearer")
                }
                results.withLock { $0[token] = verdict }
        }
        return results.withLock { $0 }
    }
}

/// Which findings fail a scan (`--fail-on`), per `../shared/PRODUCT.md` ("Output and exit codes").
public enum FailPolicy: String, Sendable, CaseIterable {
    /// Every unsuppressed finding (the default).
    case any
    /// Every finding the registry has not proven dead (all but disabled, deleted, mismatch and invalid).
    case unverified
    /// Live tokens only.
    case live

    /// Whether `finding` fails the scan under this policy.
    public func fails(_ finding: Finding) -> Bool {
        guard !finding.isSuppressed else { return false }
        let verdict = finding.registry?.verdict ?? .unverified
        switch self {
        case .any: return true
        case .unverified: return !verdict.isProvenDead
        case .live: return verdict == .live
        }
    }
}
