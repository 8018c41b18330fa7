import Foundation

/// `mptscan merge`: sweep outputs (JSON Lines, from shards or from several nights) combined into one.
///
/// Finding records are de-duplicated on (repository, path, rule id, fingerprint): the first in argument order
/// is kept. Summary records are kept one per repository: the last in argument order (give files oldest first).
/// Output: for each repository in byte order of its path, its findings sorted by (path, rule id, fingerprint,
/// line, column) in byte order and numerically, then its summary; each record is the input line as written, so
/// merging the shards of a sweep gives the same bytes as merging the unsharded sweep.
public struct SweepMerge {
    /// One input record.
    struct Record {
        var repository: [UInt8]
        var summary: Bool
        var path: [UInt8] = []
        var rule: [UInt8] = []
        var fingerprint: [UInt8] = []
        var line = 0
        var column = 0
        var suppressed = false
        var failed = false
        var text: String
    }

    private var findings: [Record] = []
    private var seen = Set<[[UInt8]]>()
    private var summaries: [[UInt8]: Record] = [:]

    public init() {}

    /// Adds the records of one sweep output (`name` is used in errors).
    /// - Throws: `SweepError` naming the file and line for a line that is not a sweep record.
    public mutating func add(_ data: Data, name: String) throws {
        var number = 0
        for raw in data.split(separator: 10, omittingEmptySubsequences: false) {
            number += 1
            let bytes = raw.last == 13 ? raw.dropLast() : raw
            if bytes.allSatisfy({ $0 == 32 || $0 == 9 }) { continue }
            guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
                  let repository = object["repository"] as? String else {
                throw SweepError("\(name):\(number): not a sweep record (a JSON object with \"repository\")")
            }
            let text = String(decoding: bytes, as: UTF8.self)
            if let summary = object["summary"] as? [String: Any] {
                // failed, or scanned with something left out (`complete` false): never a clean merge
                let failed = summary["status"] as? String == "failed" || summary["complete"] as? Bool == false
                let record = Record(repository: Array(repository.utf8), summary: true, failed: failed, text: text)
                self.summaries[record.repository] = record
                continue
            }
            guard let path = object["path"] as? String, let rule = object["rule_id"] as? String, let fingerprint = object["fingerprint"] as? String else {
                throw SweepError("\(name):\(number): a finding record needs path, rule_id and fingerprint")
            }
            let record = Record(repository: Array(repository.utf8), summary: false, path: Array(path.utf8), rule: Array(rule.utf8),
                                fingerprint: Array(fingerprint.utf8), line: object["line"] as? Int ?? 0, column: object["column"] as? Int ?? 0,
                                suppressed: object["suppressed"] as? Bool ?? false, text: text)
            if self.seen.insert([record.repository, record.path, record.rule, record.fingerprint]).inserted { self.findings.append(record) }
        }
    }

    /// The merged records, one per line, each ending with `\n`.
    public var lines: [String] {
        func less(_ a: [UInt8], _ b: [UInt8]) -> Bool { a.lexicographicallyPrecedes(b) }
        let sorted = self.findings.sorted { a, b in
            if a.repository != b.repository { return less(a.repository, b.repository) }
            if a.path != b.path { return less(a.path, b.path) }
            if a.rule != b.rule { return less(a.rule, b.rule) }
            if a.fingerprint != b.fingerprint { return less(a.fingerprint, b.fingerprint) }
            return (a.line, a.column) < (b.line, b.column)
        }
        var byRepository: [[UInt8]: [Record]] = [:]
        for r in sorted { byRepository[r.repository, default: []].append(r) }
        let repositories = Set(byRepository.keys).union(self.summaries.keys).sorted(by: less)
        var out: [String] = []
        for repository in repositories {
            for r in byRepository[repository] ?? [] { out.append(r.text + "\n") }
            if let s = self.summaries[repository] { out.append(s.text + "\n") }
        }
        return out
    }

    /// 1 when a kept finding is not suppressed, else 2 when a kept summary says `failed` or is not `complete`,
    /// else 0.
    public var exitCode: ExitCode {
        if self.findings.contains(where: { !$0.suppressed }) { return .leaks }
        if self.summaries.values.contains(where: \.failed) { return .incomplete }
        return .clean
    }
}
