import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One part of a sweep split over N jobs (`--shard K/N`, K from 0 like Kubernetes' `JOB_COMPLETION_INDEX`).
///
/// A repository belongs to shard `h mod N`, where `h` is the first 8 bytes (big-endian) of the SHA-256 of its
/// path as listed: every job computes the same split from the same paths, and adding or removing a repository
/// moves no other one to another shard (so each shard's `--state` stays valid).
public struct SweepShard: Equatable, Sendable, CustomStringConvertible {
    /// This job's index, 0-based, below `count`.
    public var index: Int
    /// How many shards there are (at least 1).
    public var count: Int

    /// Parses `K/N` (0 ≤ K < N ≤ 100000); nil for anything else.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]), n >= 1, n <= 100_000, k >= 0, k < n else { return nil }
        self.index = k
        self.count = n
    }

    /// The shard of `path` (0-based).
    public static func shard(of path: String, count: Int) -> Int {
        let digest = SHA256.hexDigest(of: Array(path.utf8))
        let h = UInt64(digest.prefix(16), radix: 16) ?? 0
        return Int(h % UInt64(count))
    }

    /// True when `path` is in this shard.
    public func contains(_ path: String) -> Bool { Self.shard(of: path, count: self.count) == self.index }

    public var description: String { "\(self.index)/\(self.count)" }
}

/// The repositories a sweep covers, from `--repos`.
public enum SweepList {
    /// Reads the list at `path`: a file of paths (one a line; blank lines and lines starting with `#` are left
    /// out; a path listed twice counts once), or a directory, whose entries that are git repositories (a work tree
    /// with `.git`, or a bare repository) are listed as `<path>/<name>` in byte order of their names.
    /// - Throws: `SweepError` when `path` cannot be read.
    public static func load(_ path: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw SweepError("--repos \(path): no such file or directory") }
        if isDirectory.boolValue {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { throw SweepError("--repos \(path): cannot list the directory") }
            let base = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
            return names.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }.map { base + "/" + $0 }.filter(Self.isRepository)
        }
        guard let data = FileManager.default.contents(atPath: path) else { throw SweepError("--repos \(path): cannot read the file") }
        var seen = Set<String>()
        var out: [String] = []
        for raw in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true) {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if seen.insert(line).inserted { out.append(line) }
        }
        return out
    }

    /// A work tree (holds `.git`, a folder or a file) or a bare repository (holds `HEAD` and `objects/`).
    static func isRepository(_ dir: String) -> Bool {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else { return false }
        return fm.fileExists(atPath: dir + "/.git") || (fm.fileExists(atPath: dir + "/HEAD") && fm.fileExists(atPath: dir + "/objects"))
    }
}

/// What a sweep covers and where its records go.
public struct SweepOptions: Sendable {
    /// The repositories, as listed (`SweepList.load`), before sharding.
    public var repositories: [String] = []
    /// Only this shard of `repositories`; nil for all.
    public var shard: SweepShard? = nil
    /// The state directory (`--state`): resumable and incremental; nil for a one-off sweep.
    public var stateDirectory: String? = nil
    /// The output file (`--output`), appended to when a run is resumed; nil writes to the `sink` of `run`.
    public var output: String? = nil
    /// Each repository's history scan: `excludes`, `scanMessages` and `jobs` are used (the repository and
    /// `knownObjects` are set per repository).
    public var history = HistoryOptions()
    /// Show full token values in the records (redacted otherwise).
    public var showSecrets = false
    public init() {}
}

/// What happened to one repository in a sweep.
public struct SweepOutcome: Sendable, Equatable {
    /// How a repository ended.
    public enum Status: String, Sendable {
        /// Scanned (in full, or incrementally).
        case ok
        /// Skipped: its ref tips are those of the last sweep.
        case unchanged
        /// Could not be scanned (not a repository, shallow or partial clone, git failing): exit 2.
        case failed
    }
    /// The path as listed.
    public var repository: String
    /// How it ended.
    public var status: Status
    /// Unsuppressed findings reported for it.
    public var failing: Int
    /// True when it was scanned but something was left out (a limit reached, a damaged archive, a missing
    /// object): exit 2 unless leaks were found, and the next sweep scans it in full again.
    public var incomplete = false
    /// True when done by an earlier, interrupted invocation of the same run (nothing written this time).
    public var resumed = false
}

/// The result of `Sweep.run`.
public struct SweepResult: Sendable {
    /// One outcome per repository processed in the run (list order), those of a resumed run's earlier part
    /// included.
    public var outcomes: [SweepOutcome] = []
    /// True when Ctrl-C stopped the sweep (the repository being scanned is written by the next run).
    public var interrupted = false
    /// True when the sink refused a repository's records (a closed standard output): the sweep stopped there,
    /// that repository not recorded as done.
    public var outputFailed = false

    /// 130 interrupted; 1 any unsuppressed finding; 2 any repository failed or scanned incompletely, or records
    /// not delivered; else 0.
    public var exitCode: ExitCode {
        if self.interrupted { return .interrupted }
        if self.outcomes.contains(where: { $0.failing > 0 }) { return .leaks }
        if self.outcomes.contains(where: { $0.status == .failed || $0.incomplete }) || self.outputFailed { return .incomplete }
        return .clean
    }
}

/// `mptscan sweep`: the full history of many repositories into one JSON Lines report, one repository at a time.
///
/// Records (docs/SWEEP.md): per finding `{"repository": <path as listed>, …}` followed by the fields of a
/// `findings` element of the JSON report (docs/JSON-FORMAT.md), then one `{"repository": …, "summary": {…}}`
/// per repository with `status` (`ok`, `unchanged`, `failed`), `message`, `scan` (`full`, `incremental`,
/// `none`), `known_objects` and the JSON report's summary fields. A repository's records are written in one
/// piece when it completes, in list order.
///
/// With a state directory (`SweepState`), a run interrupted or killed is resumed by the same command, and a
/// later run reads only objects earlier runs did not (`HistoryOptions.knownObjects`): a finding reported by an
/// earlier run is not reported again.
public final class Sweep {
    /// What the sweep covers.
    public let options: SweepOptions
    let detector: TokenDetector
    /// Every anchor a blob is searched for, made once for all the repositories (its pivot cover costs
    /// milliseconds: a sweep of thousands of repositories built one each).
    let anchorSearch: CombinedAnchors
    /// Applied to each repository's report before it is written (suppressions, severity overrides).
    let postProcess: (inout ScanReport) -> Void

    /// A sweep of `options`, matching with `detector`; `postProcess` may change each report before it is
    /// written (the CLI applies its ignore list and configuration there).
    public init(detector: TokenDetector, options: SweepOptions, postProcess: @escaping (inout ScanReport) -> Void = { _ in }) {
        self.detector = detector
        self.anchorSearch = CombinedAnchors(detector: detector, depth: options.history.limits.maxDecodeDepth)
        self.options = options
        self.postProcess = postProcess
    }

    /// The repositories of this shard, in list order.
    public var repositories: [String] {
        guard let shard = self.options.shard else { return self.options.repositories }
        return self.options.repositories.filter(shard.contains)
    }

    /// What decides whether earlier scans' objects can be trusted: mptscan's version, the built-in rules'
    /// bytes, the excludes and whether messages are scanned (SHA-256, hex). Any change scans in full again.
    public var scanKey: String {
        var text = "mptscan \(ToolInfo.version)\n"
        for file in BuiltinRuleData.files { text += file.name + " " + file.hex.filter { !$0.isWhitespace } + "\n" }
        text += "excludes " + self.options.history.excludes.map(\.pattern).joined(separator: "\u{0}") + "\n"
        text += "messages \(self.options.history.scanMessages)\n"
        // a limit raised or lowered changes what blobs yield: scan in full again
        let limits = self.options.history.limits
        text += "limits " + ScanLimit.allCases.map { "\($0.rawValue)=\(limits[$0])" }.joined(separator: " ") + "\n"
        return SHA256.hexDigest(of: Array(text.utf8))
    }

    /// Runs the sweep.
    /// - Parameters:
    ///   - sink: receives each repository's records when there is no output file; returns false when they
    ///     could not be written (the sweep then stops, with `outputFailed` set).
    ///   - progress: one line per repository, for standard error.
    /// - Throws: `SweepError` for an unusable state directory or output file.
    public func run(isCancelled: @escaping @Sendable () -> Bool = { false }, sink: (String) -> Bool = { _ in true },
                    progress: (String) -> Void = { _ in }) throws -> SweepResult {
        let list = self.repositories
        let state = try self.options.stateDirectory.map(SweepState.init(directory:))
        defer { state?.close() }
        let outputPath = self.options.output.map { $0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0 }
        let identity = SHA256.hexDigest(of: Array(("shard \(self.options.shard?.description ?? "-")\noutput \(outputPath ?? "-")\n"
            + list.joined(separator: "\n")).utf8))

        // the run: resumed when the last one with the same identity did not finish
        var run = SweepState.Run(id: UUID().uuidString.lowercased(), identity: identity, finished: false)
        var done: [String: SweepState.Repository] = [:]
        var outputStart = 0
        if let state, let last = state.loadRun(), !last.finished, last.identity == identity {
            run = last
            for path in list { if let r = state.load(path), r.lastRun == last.id { done[path] = r } }
            outputStart = done.values.compactMap(\.outputEnd).max() ?? 0
        }
        var fd: Int32 = -1
        if let path = self.options.output {
            fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
            guard fd >= 0 else { throw SweepError("--output \(path): cannot open: \(String(cString: strerror(errno)))") }
            var st = stat()
            if fstat(fd, &st) == 0 && st.st_mode & S_IFMT == S_IFREG {
                _ = fchmod(fd, 0o600)
                if Int(st.st_size) < outputStart {
                    // the output lost records of the run: start it over
                    progress("mptscan: \(path) is shorter than the interrupted sweep left it; starting the sweep over\n")
                    run = SweepState.Run(id: UUID().uuidString.lowercased(), identity: identity, finished: false)
                    done = [:]
                    outputStart = 0
                }
                // a resumed run continues after the last completed repository; a new one starts empty
                guard ftruncate(fd, off_t(outputStart)) == 0, lseek(fd, off_t(outputStart), SEEK_SET) >= 0 else {
                    let message = String(cString: strerror(errno))
                    _ = systemClose(fd)
                    throw SweepError("--output \(path): cannot truncate: \(message)")
                }
            }
        }
        defer { if fd >= 0 { _ = systemClose(fd) } }
        var written = outputStart
        try state?.save(run)
        if !done.isEmpty { progress("mptscan: resuming the sweep: \(done.count) of \(list.count) repositories already done\n") }

        var result = SweepResult()
        let key = self.scanKey
        for (i, path) in list.enumerated() {
            if let record = done[path] {
                // an incomplete scan is recorded without its scan key (so that it is never trusted later)
                result.outcomes.append(SweepOutcome(repository: path, status: SweepOutcome.Status(rawValue: record.status) ?? .failed,
                                                    failing: record.failing, incomplete: record.status == "ok" && record.scanKey == nil,
                                                    resumed: true))
                continue
            }
            if isCancelled() { result.interrupted = true; break }
            let previous = state?.load(path)
            guard let processed = self.process(path, previous: previous, state: state, scanKey: key, isCancelled: isCancelled) else {
                result.interrupted = true
                break
            }
            // the records, in one piece; then the record that commits them
            if fd >= 0 {
                guard SweepState.writeAll(fd, Array(processed.text.utf8)), fsync(fd) == 0 || errno == EINVAL else {
                    throw SweepError("--output \(self.options.output ?? ""): writing failed: \(String(cString: strerror(errno)))")
                }
                written += processed.text.utf8.count
            } else if !sink(processed.text) {
                // the records could not be delivered (the reader went away): stop here, this repository not
                // recorded as done in the state; its leaks still decide the exit code (1 before 2)
                result.outputFailed = true
                result.outcomes.append(processed.outcome)
                break
            }
            if let state {
                var record = processed.record
                record.lastRun = run.id
                record.outputEnd = fd >= 0 ? written : nil
                try state.save(record, objects: processed.objects)
            }
            result.outcomes.append(processed.outcome)
            let o = processed.outcome
            progress("mptscan: [\(i + 1)/\(list.count)] \(Printable.text(path)): \(o.status.rawValue)"
                     + (o.failing > 0 ? ", \(o.failing) finding\(o.failing == 1 ? "" : "s")" : "")
                     + (processed.note.map { " (\($0))" } ?? "") + "\n")
        }
        if !result.interrupted, let state {
            run.finished = true
            try state.save(run)
            state.removeOrphans()
        }
        return result
    }

    /// One repository's records, its new state record, and the objects to remember (nil: keep the old ones).
    struct Processed {
        var text: String
        var record: SweepState.Repository
        var objects: [ObjectID]?
        var outcome: SweepOutcome
        var note: String?
    }

    /// Scans `path` (or skips it when unchanged); nil when interrupted.
    func process(_ path: String, previous: SweepState.Repository?, state: SweepState?, scanKey: String, isCancelled: @escaping @Sendable () -> Bool) -> Processed? {
        let lines = JSONLinesReporter(options: ReportOptions(showSecrets: self.options.showSecrets))
        let showSecrets = self.options.showSecrets
        // the records show names (the repository's path, findings' paths, git's messages) redacted like tokens
        let shownPath = Redaction.secrets(in: path, showSecrets: showSecrets)
        var record = previous ?? SweepState.Repository(path: path, scanKey: nil, tips: [], objects: nil, objectCount: 0,
                                                       lastRun: "", outputEnd: nil, status: "failed", failing: 0)
        func summaryLine(_ status: SweepOutcome.Status, message: String?, scan: String, known: Int, report: ScanReport) -> String {
            lines.summaryLine(showSecrets ? report : report.redactingNames(), repository: shownPath, extra: [
                ("status", .string(status.rawValue)), ("message", message.map { .string(Redaction.secrets(in: $0, showSecrets: showSecrets)) } ?? .null),
                ("scan", .string(scan)), ("known_objects", .int(known)),
            ])
        }
        func failed(_ message: String) -> Processed {
            var summary = ScanSummary.git
            summary.unreadable = [ScanIssue(path: path, message: message)]
            var r = record
            r.status = "failed"
            r.failing = 0
            return Processed(text: summaryLine(.failed, message: message, scan: "none", known: 0, report: ScanReport(findings: [], summary: summary)),
                             record: r, objects: nil, outcome: SweepOutcome(repository: path, status: .failed, failing: 0), note: message)
        }
        let tips: [String]
        do {
            let repository = try GitRepository.open(path, named: true)
            tips = try Self.tips(repository)
        } catch {
            return failed("\(error)")
        }
        let usable = previous.map { $0.scanKey == scanKey && $0.objects != nil } ?? false
        if usable, let previous, previous.tips == tips, previous.status != "failed" {
            record.status = "unchanged"
            record.failing = 0
            let message = "unchanged since the last sweep (the same ref tips): nothing new to scan"
            return Processed(text: summaryLine(.unchanged, message: message, scan: "none", known: previous.objectCount,
                                               report: ScanReport(findings: [], summary: .git)),
                             record: record, objects: nil, outcome: SweepOutcome(repository: path, status: .unchanged, failing: 0), note: nil)
        }
        var known = Set<ObjectID>()
        if usable, let previous, let state {
            known = (try? state.objects(of: previous)) ?? [] // a damaged objects file: scan in full
        }
        var options = self.options.history
        options.repository = path
        options.repositoryNamed = true
        options.revisions = nil
        options.knownObjects = known
        let scanner = HistoryScanner(anchorSearch: self.anchorSearch, options: options)
        var report: ScanReport
        do {
            report = try scanner.run(isCancelled: isCancelled)
        } catch {
            if isCancelled() { return nil }
            return failed("\(error)")
        }
        // a Ctrl-C during attribution can cut a stage short without marking the report: never write it
        if report.summary.interrupted || isCancelled() { return nil }
        self.postProcess(&report)
        let failing = report.findings.filter { !$0.isSuppressed }.count
        // something left out (a limit, a damaged archive, a missing object): exit 2, and never remembered as
        // covered, so the next sweep scans this repository in full again rather than calling it unchanged
        let incomplete = report.summary.isIncomplete(acceptUnreadable: false)
        var text = ""
        for f in report.findings { text += lines.line(for: showSecrets ? f : f.redactingNames(), repository: shownPath) }
        let incremental = !known.isEmpty
        text += summaryLine(.ok, message: nil, scan: incremental ? "incremental" : "full", known: known.count, report: report)
        record.status = "ok"
        record.failing = failing
        record.scanKey = incomplete ? nil : scanKey
        record.tips = tips
        return Processed(text: text, record: record, objects: scanner.scannedObjects,
                         outcome: SweepOutcome(repository: path, status: .ok, failing: failing, incomplete: incomplete),
                         note: [incremental ? "incremental: \(report.summary.filesScanned) new blob\(report.summary.filesScanned == 1 ? "" : "s")" : nil,
                                incomplete ? "incomplete: \(report.summary.unreadable.count) problem\(report.summary.unreadable.count == 1 ? "" : "s") in its summary record" : nil]
                               .compactMap { $0 }.joined(separator: "; ").nilIfEmpty)
    }

    /// `<refname> <id>` for every ref, and `HEAD <id>`, sorted: what decides whether a repository changed.
    /// A ref name holding a token (percent-encoded: refs cannot hold `:`) is kept redacted
    /// (`Redaction.secrets(in:)`), so the state file never holds one.
    /// - Throws: `GitError` when git fails.
    static func tips(_ repository: GitRepository) throws -> [String] {
        let out = try repository.git.run(["for-each-ref", "--format=%(refname) %(objectname)"]).output
        var tips = Git.lines(out).map { Redaction.secrets(in: $0) }
        if let head = repository.head { tips.append("HEAD " + head) }
        return tips.sorted()
    }
}

/// Reads objects files without taking the state directory's lock (the running sweep holds it).
enum SweepStateReader {
    static func objects(directory: String, record: SweepState.Repository) throws -> Set<ObjectID> {
        guard let name = record.objects else { return [] }
        let path = directory + "/repositories/" + name
        guard let data = FileManager.default.contents(atPath: path) else { throw SweepError("\(path): cannot read the objects file") }
        return try SweepState.decodeObjects([UInt8](data), file: path)
    }
}

private extension String {
    var nilIfEmpty: String? { self.isEmpty ? nil : self }
}
