import Foundation

/// A token to disable if, and only if, the registry confirms it live: named by id, identified by its
/// fingerprint (SHA-256 of the canonical token: a JSON report is redacted), and where it was found.
public struct DisableTarget: Sendable, Equatable {
    public var tokenID: String
    /// SHA-256, lowercase hex, of the canonical found token (a finding's `fingerprint`).
    public var fingerprint: String
    /// The canonical found token, when the caller has it (a scan in this process); nil from a report.
    public var canonical: String?
    /// `path:line`, and the commit for history findings.
    public var foundAt: String
    /// The commit and date that first leaked it (history findings), for the plan.
    public var firstLeaked: String?
    /// An earlier run whose intent for this token has no outcome (recovery), else nil.
    public var completes: String?
    /// Other forms of the same token id found in the same scan (`idt:TKN-…` and the legacy `TKN-…:`, or two
    /// different values): (fingerprint, canonical). The re-check is live when any of them is the live value.
    public var otherForms: [(fingerprint: String, canonical: String?)] = []

    public static func == (a: DisableTarget, b: DisableTarget) -> Bool {
        a.tokenID == b.tokenID && a.fingerprint == b.fingerprint && a.canonical == b.canonical && a.foundAt == b.foundAt
            && a.firstLeaked == b.firstLeaked && a.completes == b.completes && a.otherForms.map(\.fingerprint) == b.otherForms.map(\.fingerprint)
    }

    public init(tokenID: String, fingerprint: String, canonical: String? = nil, foundAt: String, firstLeaked: String? = nil, completes: String? = nil) {
        self.tokenID = tokenID
        self.fingerprint = fingerprint
        self.canonical = canonical
        self.foundAt = foundAt
        self.firstLeaked = firstLeaked
        self.completes = completes
    }

    /// One target per token id among `findings` (unsuppressed API-token findings), the first place it was
    /// found naming it, its other forms kept for the re-check.
    public static func from(_ findings: [Finding]) -> [DisableTarget] {
        var out: [DisableTarget] = []
        for f in findings where !f.isSuppressed && f.claims == nil && APITokenRecord.isValidID(f.tokenID) {
            if let i = out.firstIndex(where: { $0.tokenID == f.tokenID }) {
                if out[i].fingerprint != f.fingerprint && !out[i].otherForms.contains(where: { $0.fingerprint == f.fingerprint }) {
                    out[i].otherForms.append((f.fingerprint, f.token))
                }
                continue
            }
            var at = "\(f.path):\(f.line)"
            if let commit = f.git?.commit { at += " (commit \(commit.prefix(12)))" }
            let leaked = f.git?.commit.map { "commit \($0.prefix(12))" + (f.git?.authorDate.map { " on \($0)" } ?? "") }
            out.append(DisableTarget(tokenID: f.tokenID, fingerprint: f.fingerprint, canonical: f.token, foundAt: at, firstLeaked: leaked))
        }
        return out
    }
}

extension DisableTarget {
    /// The API-token findings of a JSON report (docs/JSON-FORMAT.md): unsuppressed, one target per distinct
    /// token id and fingerprint. Throws `DisableError` when the file is not such a report.
    /// Throws `DisableError` when the file is not a report or when an API-token finding in it cannot be used (no
    /// valid fingerprint): a report edited or truncated is refused whole.
    public static func fromReport(at path: String) throws -> [DisableTarget] {
        guard let data = FileManager.default.contents(atPath: path) else { throw DisableError("\(path): cannot read the report") }
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let findings = object["findings"] as? [[String: Any]] else {
            throw DisableError("\(path): not a JSON report from mptscan (no \"findings\" list)")
        }
        var seen = Set<String>()
        var out: [DisableTarget] = []
        var unusable = 0
        for f in findings {
            guard let id = f["token_id"] as? String, APITokenRecord.isValidID(id), f["jwt"] == nil, (f["suppressed"] as? Bool) != true else { continue }
            guard let fingerprint = f["fingerprint"] as? String, fingerprint.count == 64, fingerprint.allSatisfy(\.isHexDigit) else {
                unusable += 1
                continue
            }
            guard seen.insert(id + "\u{0}" + fingerprint).inserted else { continue }
            let git = f["git"] as? [String: Any]
            var at = "\(f["path"] as? String ?? "?"):\(f["line"] as? Int ?? 0)"
            let commit = git?["commit"] as? String
            if let commit { at += " (commit \(commit.prefix(12)))" }
            let leaked = commit.map { "commit \($0.prefix(12))" + ((git?["author_date"] as? String).map { " on \($0)" } ?? "") }
            out.append(DisableTarget(tokenID: id, fingerprint: fingerprint.lowercased(), foundAt: at, firstLeaked: leaked))
        }
        if unusable > 0 {
            throw DisableError("\(path): \(unusable) token finding\(unusable == 1 ? " has" : "s have") no valid fingerprint (64 hexadecimal digits): the report was edited or is not from mptscan; nothing was disabled")
        }
        return out
    }
}

/// A disable that cannot start (an unreadable report).
public struct DisableError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { self.message }
}

/// One line of a disable plan: a target and what the re-check found.
public struct DisablePlanItem: Sendable {
    public var target: DisableTarget
    /// The verdict of the re-check just made (only `live` gets disabled).
    public var verdict: RegistryVerdict
    /// Whether a disable request will be sent.
    public var willDisable: Bool { self.verdict.verdict == .live }
}

/// What happened to one planned item.
public struct DisableResult: Sendable {
    public var item: DisablePlanItem
    /// `disabled` (confirmed by a re-read), `already-disabled`, `not-live` (nothing sent), `failed`.
    public var outcome: String
    public var detail: String?
    /// True when the item ended as it should: a confirmed disable, or nothing to do.
    public var succeeded: Bool { self.outcome != "failed" }
}

/// Disables live tokens safely and on the record (`../shared/PRODUCT.md`, "Disabling"): each target is
/// re-checked (id and value, so a real id beside a fake secret never gets a token disabled), planned, and for
/// live ones only: an intent line fsync'd to the audit log, `POST …/disable`, a re-read that must show
/// `Disabled`, and an outcome line. Never deletes. Running it again changes nothing (the re-check then finds
/// the token disabled and sends nothing).
public final class Disabler: Sendable {
    public let client: RegistryClient
    public let audit: AuditLog
    public let operatorName: String
    let run = UUID().uuidString.lowercased()

    public init(client: RegistryClient, audit: AuditLog, operatorName: String) {
        self.client = client
        self.audit = audit
        self.operatorName = operatorName
    }

    /// Targets for the audit log's unfinished intents (a run killed between an intent and its outcome): they
    /// are re-checked first, and their outcomes name the run they complete.
    /// Only intents recorded against `registry` (the same base URL) are taken: another registry's tokens are
    /// not this one's to settle.
    public static func recoveryTargets(auditPath: String, registry: String) -> [DisableTarget] {
        AuditLog.unfinished(AuditLog.records(at: auditPath)).filter { $0.registry == registry }.map {
            DisableTarget(tokenID: $0.tokenID, fingerprint: $0.fingerprint, foundAt: $0.foundAt, completes: $0.run)
        }
    }

    /// Re-checks each distinct target with one read and returns the plan, in the targets' order.
    public func plan(_ targets: [DisableTarget]) -> [DisablePlanItem] {
        // one item per token id: a disable is per id, whatever forms the token was found in
        var merged: [DisableTarget] = []
        for t in targets {
            if let i = merged.firstIndex(where: { $0.tokenID == t.tokenID }) {
                merged[i].completes = merged[i].completes ?? t.completes
                for form in [(t.fingerprint, t.canonical)] + t.otherForms {
                    if form.0 == merged[i].fingerprint {
                        if merged[i].canonical == nil { merged[i].canonical = form.1 }
                    } else if !merged[i].otherForms.contains(where: { $0.fingerprint == form.0 }) {
                        merged[i].otherForms.append(form)
                    }
                }
            } else {
                merged.append(t)
            }
        }
        let lookups = self.client.lookUp(ids: Array(Set(merged.map(\.tokenID))).sorted())
        return merged.map { t in
            DisablePlanItem(target: t, verdict: Self.recheck(t, lookups[t.tokenID] ?? .failure(.transport("no answer"))))
        }
    }

    /// The verdict of a re-check: by value when the found token is known, else by comparing the SHA-256 of the
    /// registry's value with the fingerprint (also of the value without `idt:`, for a legacy pair).
    static func recheck(_ target: DisableTarget, _ lookup: Result<APITokenRecord, RegistryFailure>) -> RegistryVerdict {
        let forms = [(target.fingerprint, target.canonical)] + target.otherForms
        let verdicts = forms.map { Self.recheck(tokenID: target.tokenID, fingerprint: $0.0, canonical: $0.1, lookup) }
        return verdicts.first { $0.verdict == .live } ?? verdicts[0]
    }

    static func recheck(tokenID: String, fingerprint: String, canonical: String?, _ lookup: Result<APITokenRecord, RegistryFailure>) -> RegistryVerdict {
        if let canonical { return RegistryVerdict.decide(found: canonical, tokenID: tokenID, lookup: lookup) }
        guard case .success(let record) = lookup, let value = record.token else {
            return RegistryVerdict.decide(found: "", tokenID: tokenID, lookup: lookup) // unknown, forbidden, deleted or error as they are
        }
        let hashes = [SHA256.hexDigest(of: Array(value.utf8))] + (value.hasPrefix("idt:") ? [SHA256.hexDigest(of: Array(value.utf8.dropFirst(4)))] : [])
        let equal = hashes.contains { APITokenRecord.constantTimeEquals(Array($0.utf8), Array(fingerprint.lowercased().utf8)) }
        // decide with the registry's own value when the hashes agree, with a value that cannot match otherwise
        return RegistryVerdict.decide(found: equal ? value : "\u{0}", tokenID: tokenID, lookup: lookup)
    }

    /// Carries out `plan`: a disable for each live item, nothing for the rest (an item of a recovered run that
    /// is now disabled gets an outcome completing that run's intent). `progress` is told about each result.
    /// `isCancelled` is asked before each item: an interrupted run stops before its next intent (the items not
    /// reached are left out of the result).
    public func execute(_ plan: [DisablePlanItem], isCancelled: () -> Bool = { false }, progress: (DisableResult) -> Void = { _ in }) -> [DisableResult] {
        var results: [DisableResult] = []
        for item in plan {
            if isCancelled() { break }
            let result = self.execute(item)
            progress(result)
            results.append(result)
        }
        return results
    }

    private func execute(_ item: DisablePlanItem) -> DisableResult {
        let t = item.target
        guard item.willDisable else {
            // the registry could not say: nothing is known, so nothing is done or recorded, and the run fails
            if item.verdict.verdict == .error {
                return DisableResult(item: item, outcome: "failed", detail: "could not be re-checked: \(item.verdict.detail ?? "registry error")")
            }
            let outcome = item.verdict.verdict == .disabled ? "already-disabled" : "not-live"
            // a recovered intent gets its outcome now, so the log pairs every intent with one; only a decisive
            // answer closes it (disabled, deleted, another value, no such token)
            if let earlier = t.completes {
                guard [.disabled, .deleted, .mismatch, .unknown].contains(item.verdict.verdict) else {
                    return DisableResult(item: item, outcome: "failed", detail: "an unfinished disable of an earlier run could not be settled (\(item.verdict.verdict.rawValue)); it stays open in the audit log")
                }
                do {
                    try self.audit.append(self.record("outcome", item, outcome: outcome, detail: "re-checked after an interrupted run: \(item.verdict.verdict.rawValue)", completes: earlier))
                } catch {
                    return DisableResult(item: item, outcome: "failed", detail: "the outcome of an earlier run's disable could not be logged: \(error)")
                }
            }
            return DisableResult(item: item, outcome: outcome, detail: item.verdict.detail)
        }
        do {
            try self.audit.append(self.record("intent", item))
        } catch {
            return DisableResult(item: item, outcome: "failed", detail: "\(error) (no request sent)")
        }
        var outcome = "failed", detail: String? = nil, status: Int? = nil, traceId: String? = nil
        switch self.client.disableToken(id: t.tokenID) {
        case .failure(.http(400, let problem)):
            // already disabled (another run, or a person, got there first): confirmed by a read, nothing more sent
            status = 400
            traceId = problem?.traceId
            if case .success(let record) = self.client.getToken(id: t.tokenID), record.status == .disabled {
                outcome = "already-disabled"
                detail = "disabled meanwhile: the registry refused a second disable (400) and shows status Disabled"
            } else {
                detail = RegistryFailure.http(status: 400, problem: problem).description
            }
        case .failure(let failure):
            detail = failure.description
            status = failure.status
            traceId = failure.problem?.traceId
        case .success:
            status = 200
            // confirmed only by a fresh read
            switch self.client.getToken(id: t.tokenID) {
            case .success(let record) where record.status == .disabled:
                outcome = "disabled"
            case .success(let record):
                detail = "the registry accepted the disable but still shows status \(record.status.rawValue)"
            case .failure(let failure):
                detail = "the disable was accepted but the re-read failed: \(failure.description)"
                traceId = failure.problem?.traceId
            }
        }
        do {
            var record = self.record("outcome", item, outcome: outcome, detail: detail, completes: t.completes)
            record.httpStatus = status
            record.traceId = traceId
            try self.audit.append(record)
        } catch {
            return DisableResult(item: item, outcome: "failed", detail: "\(detail.map { $0 + "; " } ?? "")the outcome could not be logged: \(error)")
        }
        return DisableResult(item: item, outcome: outcome, detail: detail)
    }

    private func record(_ event: String, _ item: DisablePlanItem, outcome: String? = nil, detail: String? = nil, completes: String? = nil) -> AuditRecord {
        AuditRecord(event: event, time: RegistrySnapshot.format(Date()), run: self.run, tokenID: item.target.tokenID,
                    fingerprint: item.target.fingerprint, accountID: item.verdict.accountID, accountName: item.verdict.accountName,
                    verdict: item.verdict.verdict.rawValue, foundAt: item.target.foundAt, operator: self.operatorName,
                    registry: self.client.endpoint.description, outcome: outcome, detail: detail, completes: completes)
    }
}
