import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One line of the audit log: an intent before a disable request, or its outcome after. Never a secret: the
/// token is named by id and fingerprint (the SHA-256 reports carry too).
public struct AuditRecord: Sendable, Equatable, Codable {
    /// `intent` (written and fsync'd before the request) or `outcome` (after the re-read).
    public var event: String
    /// RFC 3339 UTC time of writing.
    public var time: String
    /// The run that wrote it (a UUID), so an intent pairs with its outcome.
    public var run: String
    public var tokenID: String
    /// SHA-256 (lowercase hex) of the token, to re-check an unfinished disable without the report.
    public var fingerprint: String
    public var accountID: String?
    public var accountName: String?
    /// The verdict that planned the disable (always `live` for an intent).
    public var verdict: String
    /// Where the token was found: `path:line`, with the commit for history findings.
    public var foundAt: String
    /// Who ran it: `$USER`, or the CI's actor (`GITHUB_ACTOR`, `GITLAB_USER_LOGIN`, `BUILD_USER_ID`), and the
    /// registry credential's token id when it is one.
    public var `operator`: String
    /// The registry base URL.
    public var registry: String
    /// For outcomes: `disabled` (confirmed by a re-read), `already-disabled`, `not-live` (the re-check no
    /// longer found it live: nothing sent), or `failed`.
    public var outcome: String?
    public var httpStatus: Int?
    public var traceId: String?
    public var detail: String?
    /// For an outcome that completes an earlier run's intent: that run's id.
    public var completes: String?

    /// A record; optional fields default to nil.
    public init(event: String, time: String, run: String, tokenID: String, fingerprint: String, accountID: String? = nil,
                accountName: String? = nil, verdict: String, foundAt: String, operator: String, registry: String,
                outcome: String? = nil, httpStatus: Int? = nil, traceId: String? = nil, detail: String? = nil, completes: String? = nil) {
        self.event = event
        self.time = time
        self.run = run
        self.tokenID = tokenID
        self.fingerprint = fingerprint
        self.accountID = accountID
        self.accountName = accountName
        self.verdict = verdict
        self.foundAt = foundAt
        self.operator = `operator`
        self.registry = registry
        self.outcome = outcome
        self.httpStatus = httpStatus
        self.traceId = traceId
        self.detail = detail
        self.completes = completes
    }

    enum CodingKeys: String, CodingKey {
        case event, time, run
        case tokenID = "token_id"
        case fingerprint
        case accountID = "account_id"
        case accountName = "account_name"
        case verdict
        case foundAt = "found_at"
        case `operator`, registry, outcome
        case httpStatus = "http_status"
        case traceId = "trace_id"
        case detail, completes
    }
}

/// The append-only audit log of disables: JSON lines (`AuditRecord`), each written with one `write(2)` and
/// `fsync(2)`'d before the next step, so a crash or a kill between an intent and its outcome leaves a visible,
/// recoverable trace (`unfinished`). The file is created with mode 0600; its directory with 0700.
public final class AuditLog: @unchecked Sendable {
    public let path: String
    private let fd: Int32
    private let lock = NSLock()

    /// `$XDG_STATE_HOME/mptscan/audit.jsonl`, else `~/.local/state/mptscan/audit.jsonl` (XDG Base Directory
    /// Specification: state data), else `./mptscan-audit.jsonl`.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") { return state + "/mptscan/audit.jsonl" }
        if let home = environment["HOME"], home.hasPrefix("/") { return home + "/.local/state/mptscan/audit.jsonl" }
        return "mptscan-audit.jsonl"
    }

    /// Opens (creating) the log for appending. Throws `AuditLogError` when it cannot be opened, or is a
    /// symbolic link or not a regular file.
    public init(path: String) throws {
        self.path = path
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty && !FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw AuditLogError("\(path): cannot create its directory: \(error.localizedDescription)")
            }
        }
        // a FIFO or device there would block open(2) or swallow the log: only a regular file (or none) will do
        var existing = stat()
        if lstat(path, &existing) == 0 && (existing.st_mode & S_IFMT) != S_IFREG {
            throw AuditLogError("\(path): the audit log is not a regular file")
        }
        let fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AuditLogError("\(path): cannot open the audit log: \(String(cString: strerror(errno)))") }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            _ = close(fd)
            throw AuditLogError("\(path): the audit log is not a regular file")
        }
        self.fd = fd
        // a torn last line (a crash mid-write) must not swallow the next record: start on a fresh line
        if info.st_size > 0 {
            var last: UInt8 = 0
            if pread(fd, &last, 1, info.st_size - 1) == 1 && last != 0x0A { _ = write(fd, "\n", 1) }
        }
    }

    /// Waits for, then holds, an exclusive lock on the log (flock(2)) until this object is released: two
    /// disable runs at once take turns, so the second re-checks after the first has finished.
    /// Throws `AuditLogError` when the lock cannot be taken (then nothing may be disabled).
    public func lockExclusive() throws {
        while flock(self.fd, LOCK_EX) != 0 {
            if errno == EINTR { continue }
            throw AuditLogError("\(self.path): cannot lock the audit log: \(String(cString: strerror(errno)))")
        }
    }

    deinit { _ = close(self.fd) }

    /// Appends `record` as one line and waits for it to reach the disk. Throws `AuditLogError` when it did not
    /// (then no request may follow an intent). Texts that come from elsewhere (where the token was found, the
    /// registry's account name and messages, the operator) are written with any token in them redacted
    /// (`Redaction.secrets(in:)`): the log never holds a secret.
    public func append(_ record: AuditRecord) throws {
        var record = record
        record.foundAt = Redaction.secrets(in: record.foundAt)
        record.accountName = record.accountName.map { Redaction.secrets(in: $0) }
        record.detail = record.detail.map { Redaction.secrets(in: $0) }
        record.operator = Redaction.secrets(in: record.operator)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard var line = try? encoder.encode(record) else { throw AuditLogError("\(self.path): cannot encode a record") }
        line.append(0x0A)
        try self.lock.withLock {
            let written = line.withUnsafeBytes { write(self.fd, $0.baseAddress, $0.count) }
            guard written == line.count else {
                throw AuditLogError("\(self.path): writing the audit log failed: \(String(cString: strerror(errno)))")
            }
            guard fsync(self.fd) == 0 else {
                throw AuditLogError("\(self.path): fsync of the audit log failed: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Every well-formed record in the log at `path` (a torn last line, from a crash mid-write, is skipped).
    public static func records(at path: String) -> [AuditRecord] {
        var info = stat()
        guard lstat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, let data = FileManager.default.contents(atPath: path) else { return [] }
        let decoder = JSONDecoder()
        return data.split(separator: 0x0A).compactMap { try? decoder.decode(AuditRecord.self, from: Data($0)) }
    }

    /// Intents with no outcome (matched by run and token id, or completed later by an outcome naming that run
    /// in `completes`): disables that may or may not have happened, to re-check before anything else.
    public static func unfinished(_ records: [AuditRecord]) -> [AuditRecord] {
        var done = Set<String>()
        for r in records where r.event == "outcome" {
            done.insert(r.run + "\u{0}" + r.tokenID)
            if let earlier = r.completes { done.insert(earlier + "\u{0}" + r.tokenID) }
        }
        var seen = Set<String>()
        return records.filter { $0.event == "intent" && !done.contains($0.run + "\u{0}" + $0.tokenID) && seen.insert($0.run + "\u{0}" + $0.tokenID).inserted }
    }

    /// Who is running: CI actor or `$USER`, plus the registry credential's token id when it is a token.
    public static func operatorName(environment: [String: String] = ProcessInfo.processInfo.environment, credential: RegistryCredential?) -> String {
        let ci = ["GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILD_USER_ID", "BITBUCKET_STEP_TRIGGERER_UUID"].compactMap { key in
            environment[key].flatMap { $0.isEmpty ? nil : "\(key)=\($0)" }
        }
        var name = ci.first ?? environment["USER"] ?? environment["LOGNAME"] ?? "unknown"
        if let id = credential?.tokenID { name += " via \(id)" }
        return name
    }
}

/// The audit log cannot be opened or written.
public struct AuditLogError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { self.message }
}
