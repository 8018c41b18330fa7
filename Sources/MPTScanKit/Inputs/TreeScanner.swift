import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Settings of a file-tree scan. Defaults are the command line's defaults.
public struct ScanOptions: Sendable {
    /// Files and directories to scan; `-` is standard input.
    public var paths: [String] = ["."]
    /// Paths to leave out (see `PathGlob`).
    public var excludes: [PathGlob] = []
    /// Follow symbolic links, de-duplicating by (device, inode).
    public var followSymlinks = false
    /// Worker threads; at least 1.
    public var jobs = max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// Bytes read per chunk (tests lower it to exercise chunk boundaries).
    public var chunkSize = ContentScanner.defaultChunkSize
    /// Caps on what is derived from the input (archives, decoding, findings per file); reached ones are counted
    /// in `ScanSummary.limitsReached`.
    public var limits = ScanLimits()
    /// Walk a single directory root on every worker (`ParallelTreeWalk`); false keeps the one-thread walk,
    /// which tests compare it with.
    var parallelWalk = true
    /// Tests: the depth down to which `ParallelTreeWalk` keeps directories open (0: all listed by path).
    var handleDepth: Int? = nil

    public init() {}
}

/// Counts and lists that describe how complete a scan was. Deterministic: no timings.
public struct ScanSummary: Sendable, Equatable {
    /// Regular files (and streams) read to the end.
    public var filesScanned = 0
    /// Bytes scanned: read from files (before UTF-16 decoding), plus the inflated bytes of archive members.
    public var bytesScanned = 0
    /// Files decoded from UTF-16 before scanning.
    public var filesDecoded = 0
    /// Entries skipped on purpose (symlinks, FIFOs, sockets, devices), in walk order.
    public var skipped: [SkippedEntry] = []
    /// Paths that could not be read, in walk order.
    public var unreadable: [ScanIssue] = []
    /// True when Ctrl-C stopped the scan.
    public var interrupted = false
    /// True for git scans (history, ranges, staged): `filesScanned` then counts blobs.
    public var fromGit = false
    /// Commits read (history and range scans).
    public var commitsScanned = 0
    /// Hits in objects no ref reaches, left out of a history scan without `--all-objects`.
    public var unreachableHits = 0
    /// How often each `ScanLimit` was reached, and the limits in force.
    public var limitsReached = LimitCounts()

    public init() {}

    /// True when the scan left something out that `acceptUnreadable` (`--skip-unreadable`) does not accept: an
    /// interruption, an unreadable path (unless accepted), or a limit that leaves input unscanned.
    public func isIncomplete(acceptUnreadable: Bool) -> Bool {
        self.interrupted || self.limitsReached.makesScanIncomplete
            || self.unreadable.contains { !$0.isAccepted(acceptUnreadable: acceptUnreadable) }
    }
}

/// The result of a scan: findings in deterministic order (walk order of files, then byte offset) and the summary.
public struct ScanReport: Sendable {
    /// Every finding, suppressed ones included, in walk order of files and then byte offset.
    public var findings: [Finding]
    /// How complete the scan was.
    public var summary: ScanSummary
}

/// Scans file trees. A single directory root is walked by `jobs` threads in all (the caller's among them) that
/// list directories and read files alike (`ParallelTreeWalk`); several roots or `followSymlinks` take one walking
/// thread (in sorted order) and `jobs` workers. Either way results come out in walk order, so the output is the
/// same whatever `jobs` is.
public final class TreeScanner: Sendable {
    /// The compiled rules every worker matches with.
    public let detector: TokenDetector
    /// What to scan and how.
    public let options: ScanOptions

    /// A scanner for `options.paths`; nothing is read until `run`.
    public init(detector: TokenDetector, options: ScanOptions) {
        self.detector = detector
        self.options = options
    }

    /// Runs the scan. `isCancelled` is polled between files and chunks; when it turns true the partial report
    /// is returned with `summary.interrupted` set.
    /// `stream`, when given, receives the findings in the report's order as soon as every earlier entry of the
    /// walk is done (for JSON lines written during the scan); the returned report still holds them all.
    public func run(isCancelled: @escaping @Sendable () -> Bool = { false }, progress: ScanProgress? = nil,
                    stream: (@Sendable ([Finding]) -> Void)? = nil) -> ScanReport {
        let jobs = max(1, self.options.jobs)
        let chunkSize = self.options.chunkSize
        let limits = self.options.limits
        // one anchor search for every thread (its pivot cover costs milliseconds)
        let anchorSearch = CombinedAnchors(detector: self.detector, depth: limits.maxDecodeDepth)
        let paths = self.options.paths
        if self.options.parallelWalk, paths.count == 1, paths[0] != "-", !self.options.followSymlinks, FileTreeWalker.isDirectory(paths[0]) {
            // one directory: every thread walks and scans (nothing to de-duplicate, so no walk order to keep while walking)
            let walk = ParallelTreeWalk(root: paths[0], excludes: self.options.excludes, jobs: jobs, isCancelled: isCancelled,
                                        progress: progress, stream: stream, handleDepth: self.options.handleDepth)
            walk.run(makeScanner: { ContentScanner(anchorSearch: anchorSearch, chunkSize: chunkSize, limits: limits) },
                     scan: { entry, worker in Self.scanEntry(entry, worker: worker, isCancelled: isCancelled) })
            return self.report(results: walk.results, filesScanned: walk.filesScanned, bytes: walk.bytes, decoded: walk.decoded,
                               walkSkipped: [], walkIssues: [], interrupted: isCancelled())
        }
        let collector = ResultCollector(progress: progress, stream: stream)
        var walker: FileTreeWalker
        if jobs == 1 {
            let worker = ContentScanner(anchorSearch: anchorSearch, chunkSize: chunkSize, limits: limits)
            walker = FileTreeWalker(excludes: self.options.excludes, followSymlinks: self.options.followSymlinks) { entry in
                guard !isCancelled() else { return }
                collector.add(Self.scanEntry(entry, worker: worker, isCancelled: isCancelled))
            }
            walker.onIssue = { collector.done(sequence: $0) }
            walker.walk(roots: paths)
        } else {
            // one file per pop: a batch could give one worker two huge files while the other idles
            let queue = WorkQueue<FileEntry>(capacity: 4096)
            let group = DispatchGroup()
            for _ in 0..<jobs {
                group.enter()
                let thread = Thread {
                    let worker = ContentScanner(anchorSearch: anchorSearch, chunkSize: chunkSize, limits: limits)
                    while let entry = queue.pop() {
                        if isCancelled() { continue }
                        collector.add(Self.scanEntry(entry, worker: worker, isCancelled: isCancelled))
                    }
                    group.leave()
                }
                thread.stackSize = 1 << 20
                thread.start()
            }
            walker = FileTreeWalker(excludes: self.options.excludes, followSymlinks: self.options.followSymlinks) { entry in
                if !isCancelled() { queue.push(entry) }
            }
            walker.onIssue = { collector.done(sequence: $0) }
            walker.walk(roots: paths)
            queue.close()
            group.wait()
        }
        let snapshot = collector.snapshot
        return self.report(results: snapshot.results.sorted { $0.sequence < $1.sequence }, filesScanned: snapshot.filesScanned,
                           bytes: snapshot.bytes, decoded: snapshot.decoded, walkSkipped: walker.skipped, walkIssues: walker.issues,
                           interrupted: isCancelled())
    }

    /// The report from per-file `results` in walk order (`sequence` increasing) and what the walk itself skipped
    /// and could not read (`walkIssues` placed by sequence among the results' issues).
    private func report(results: [EntryResult], filesScanned: Int, bytes: Int, decoded: Int, walkSkipped: [SkippedEntry],
                        walkIssues: [(sequence: Int, issue: ScanIssue)], interrupted: Bool) -> ScanReport {
        var summary = ScanSummary()
        summary.filesScanned = filesScanned
        summary.bytesScanned = bytes
        summary.filesDecoded = decoded
        summary.skipped = walkSkipped
        summary.limitsReached.limits = self.options.limits
        var issues = walkIssues
        var findings: [Finding] = []
        for r in results {
            findings.append(contentsOf: r.findings)
            if let skip = r.skipped { summary.skipped.append(skip) }
            issues += r.issues.map { (r.sequence, $0) }
            for (limit, n) in r.reached { summary.limitsReached.add(limit, count: n) }
        }
        issues.sort { $0.sequence < $1.sequence }
        summary.unreadable = issues.map(\.issue)
        summary.interrupted = interrupted
        return ScanReport(findings: findings, summary: summary)
    }

    struct EntryResult: Sendable {
        var sequence: Int
        var findings: [Finding] = []
        var bytes = 0
        var scanned = false
        var decoded = false
        var skipped: SkippedEntry? = nil
        /// What could not be read, or was left unscanned by a limit (one line each on stderr).
        var issues: [ScanIssue] = []
        /// Limits reached and how often (also those that leave no issue, such as `--max-source-map-size`).
        var reached: [ScanLimit: Int] = [:]

        /// True when it holds something the report shows: a finding, a skip, an issue or a limit reached (a clean
        /// file only adds to the counts).
        var hasReport: Bool { !self.findings.isEmpty || self.skipped != nil || !self.issues.isEmpty || !self.reached.isEmpty }

        /// Adds the issues of scanning the content of `path` (one each), counting the limits among them.
        mutating func add(_ contentIssues: [ContentIssue], path: String) {
            for issue in contentIssues {
                self.issues.append(ScanIssue(path: path, message: issue.message, limit: issue.limit, isPath: false))
                if let limit = issue.limit { self.reached[limit, default: 0] += issue.count }
            }
        }
    }

    /// Reads a regular file that holds hits again, whole, to say where they came from: in a source map, the
    /// embedded source that holds each (`SourceMap.annotate`); in a bundle whose last `sourceMappingURL` names
    /// a sibling map or an inline `data:` map, the original position its `mappings` give.
    static func annotateOrigins(_ findings: inout [Finding], fd: Int32, size: Int, entry: FileEntry, limit: Int) {
        let bytes = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: size)
        defer { bytes.deallocate() }
        var done = 0
        while done < size {
            let n = pread(fd, bytes.baseAddress! + done, size - done, off_t(done))
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return } // changed under us: keep the plain findings
            done += n
        }
        let view = UnsafeBufferPointer(bytes)
        if entry.displayPath.hasSuffix(".ipynb") {
            Notebook.annotate(&findings, bytes: view)
            return
        }
        if SourceMap.looksLikeSourceMap(UnsafeBufferPointer(rebasing: view.prefix(512)), path: entry.displayPath) {
            SourceMap.annotate(&findings, mapBytes: view)
            return
        }
        guard let link = SourceMapLink.find(in: view) else { return }
        let directory = entry.rawPath.lastIndex(of: UInt8(ascii: "/")).map { Array(entry.rawPath[..<$0]) } ?? Array(".".utf8)
        guard let (mapBytes, label) = link.load(relativeTo: String(decoding: directory, as: UTF8.self), limit: limit) else { return }
        mapBytes.withUnsafeBufferPointer { SourceMap.annotateGenerated(&findings, bundle: view, mapBytes: $0, label: label) }
    }

    /// Files with findings up to this size, in bytes, are read whole to look for an origin without checking
    /// first whether they could name one.
    static let wholeReadWithoutLooking = 8 << 20

    /// Whether a large file could name an original source for its findings: a notebook or source map (by name,
    /// or by its first 512 bytes), or a bundle with a `sourceMappingURL` in its last 64 KiB. Reads at most those
    /// bytes; a large file that is none of these loses nothing by not being read whole.
    static func mayNameAnOrigin(fd: Int32, size: Int, entry: FileEntry) -> Bool {
        let path = entry.displayPath
        if path.hasSuffix(".ipynb") || path.hasSuffix(".map") { return true }
        func read(_ count: Int, at offset: Int) -> [UInt8] {
            var bytes = [UInt8](repeating: 0, count: count)
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
            return Array(bytes.prefix(max(0, n)))
        }
        let head = read(min(size, 512), at: 0)
        if head.withUnsafeBufferPointer({ SourceMap.looksLikeSourceMap($0, path: nil) }) { return true }
        let tail = read(min(size, 64 << 10), at: max(0, size - (64 << 10)))
        return tail.withUnsafeBufferPointer { SourceMapLink.find(in: $0) != nil }
    }

    /// `a/./b/../c` → `a/c` inside a member path (the `!` parts kept).
    static func normalize(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: false) {
            if part == "." { continue }
            if part == "..", let last = parts.last, last != "..", !last.hasSuffix("!") { parts.removeLast(); continue }
            parts.append(part)
        }
        return parts.joined(separator: "/")
    }

    /// Scans an archive's members (in memory, nested archives opened; `ArchiveWalker`). `kind` is what the name
    /// or the first bytes said; bytes of another kind are opened as what they are (a gzip named `.tar`). Returns
    /// false when the file is not an archive after all (no zip directory, not gzip): the caller then scans its
    /// raw bytes (and reports a read error itself). A read error is an issue when the bytes read before it are
    /// walked.
    static func scanArchive(fd: Int32, size: Int, kind named: ArchiveKind, entry: FileEntry, worker: ContentScanner,
                            into result: inout EntryResult) -> Bool {
        let bytes = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(size, 1))
        defer { bytes.deallocate() }
        var done = 0
        var readError: Int32? = nil
        while done < size {
            let n = pread(fd, bytes.baseAddress! + done, size - done, off_t(done))
            if n < 0 && errno == EINTR { continue }
            if n < 0 { readError = errno }
            if n <= 0 { break }
            done += n
        }
        let view = UnsafeBufferPointer(rebasing: UnsafeBufferPointer(bytes)[0..<done])
        var kind = named
        let isNamedKind: Bool
        switch named {
        case .gzip: isNamedKind = ArchiveKind.byMagic(view) == .gzip
        case .tar: isNamedKind = ArchiveWalker.isTarHeader(view)
        case .zip: isNamedKind = ArchiveWalker.looksLikeZip(view)
        case .asar: isNamedKind = true
        }
        if !isNamedKind {
            // named as one kind, holding another (a gzip named `.tar`): opened as what it is, or plain bytes
            guard let actual = ArchiveKind.byMagic(view), actual != named else { return false }
            kind = actual
        }
        let limits = worker.limits
        var walker = ArchiveWalker(limits: limits.archive)
        var findings: [Finding] = []
        var scannedBytes = 0
        // what members left unscanned or unreported (a findings limit, encoded prefixes too deep), by member
        var memberIssues: [ContentIssue] = []
        // bundles whose map is another member: (map member path, finding positions), resolved in a second walk
        var wanted: [String: [(index: Int, line: Int, column: Int)]] = [:]
        walker.walk(view, kind: kind, name: entry.displayPath) { path, content in
            let scanned = worker.scan(buffer: content, path: { path })
            var found = scanned.findings
            memberIssues += scanned.issues.map { ContentIssue(path + ": " + $0.message, limit: $0.limit, count: $0.count) }
            scannedBytes += content.count
            guard !found.isEmpty else { return }
            if path.hasSuffix(".ipynb") {
                Notebook.annotate(&found, bytes: content)
            } else if SourceMap.looksLikeSourceMap(UnsafeBufferPointer(rebasing: content.prefix(512)), path: path) {
                SourceMap.annotate(&found, mapBytes: content)
            } else if let link = SourceMapLink.find(in: content) {
                if link.url.hasPrefix("data:") {
                    if let (map, label) = link.load(relativeTo: "", limit: limits.maxSourceMapSize) {
                        map.withUnsafeBufferPointer { SourceMap.annotateGenerated(&found, bundle: content, mapBytes: $0, label: label) }
                    }
                } else if !link.url.contains("://") {
                    // the map's member path: the bundle's directory inside its (innermost) archive
                    let bang = path.range(of: "!", options: .backwards)
                    let outer = bang.map { String(path[..<$0.upperBound]) } ?? ""
                    let inner = bang.map { String(path[$0.upperBound...]) } ?? path
                    let directory = inner.lastIndex(of: "/").map { String(inner[...$0]) } ?? ""
                    let mapPath = Self.normalize(outer + directory + (link.url.split(separator: "?").first.map(String.init) ?? link.url))
                    let base = findings.count
                    wanted[mapPath, default: []] += SourceMap.generatedPositions(found, bundle: content).map { ($0.index + base, $0.line, $0.column) }
                }
            }
            findings += found
        }
        if !wanted.isEmpty {
            var again = ArchiveWalker(limits: limits.archive)
            again.only = Set(wanted.keys)
            again.walk(view, kind: kind, name: entry.displayPath) { path, content in
                guard let positions = wanted[Self.normalize(path)] else { return }
                let label = path.split(separator: "!").last.map { String($0.split(separator: "/").last ?? $0) } ?? path
                SourceMap.applyMappings(&findings, at: positions, mapBytes: content, label: label)
            }
        }
        if walker.unreadable {
            // not readable as an archive (truncated, corrupt): say so, and scan the raw bytes instead
            result.issues.append(ScanIssue(path: entry.displayPath, message: "archive unreadable, scanned as plain bytes: \(ScanIssue.unnamed(walker.issues[0].message, archive: entry.displayPath))", isPath: false))
            return false
        }
        if let code = readError {
            result.issues.append(ScanIssue(path: entry.displayPath, message: "read failed after \(done) bytes: \(FileTreeWalker.describe(code))"))
        }
        result.findings = findings
        result.scanned = true
        if let issue = ScanIssue.archive(walker.issues + memberIssues, path: entry.displayPath) {
            result.issues.append(issue)
            for case let (limit?, n) in (walker.issues + memberIssues).map({ ($0.limit, $0.count) }) { result.reached[limit, default: 0] += n }
        }
        result.bytes = max(done, scannedBytes)
        return true
    }

    static func scanEntry(_ entry: FileEntry, worker: ContentScanner, isCancelled: () -> Bool) -> EntryResult {
        var result = EntryResult(sequence: entry.sequence)
        let fd: Int32
        var expected: Int? = nil
        if entry.isStandardInput {
            fd = STDIN_FILENO
        } else {
            // O_NONBLOCK: a FIFO swapped in since the walk, or one named on the command line, must not block
            // open(2); reads from a pipe then wait in ChunkReader's poll loop, which Ctrl-C can end.
            var flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK
            if !entry.viaSymlink { flags |= O_NOFOLLOW }
            if FileTreeWalker.isTooLongForPath(entry.rawPath) {
                fd = -1
                errno = ENAMETOOLONG
            } else if let directory = entry.directory {
                fd = FileTreeWalker.withCPath(entry.rawPath, from: entry.nameStart) { openat(directory.fd, $0, flags) }
            } else {
                fd = FileTreeWalker.withCPath(entry.rawPath) { open($0, flags) }
            }
            guard fd >= 0 else {
                let code = errno
                // listed by the walk, gone before it was opened: a file that vanished during the scan
                let vanished = code == ENOENT ? " (it vanished during the scan)" : ""
                result.issues.append(ScanIssue(path: entry.displayPath, message: "cannot open: \(FileTreeWalker.describe(code))\(vanished)"))
                return result
            }
            var st = stat()
            guard fstat(fd, &st) == 0 else {
                result.issues.append(ScanIssue(path: entry.displayPath, message: "cannot stat: \(FileTreeWalker.describe(errno))"))
                close(fd)
                return result
            }
            let type = st.st_mode & S_IFMT
            if type != S_IFREG && !(entry.isExplicitPipe && type == S_IFIFO) {
                // replaced by something else since the walk saw it
                result.skipped = SkippedEntry(path: entry.displayPath, reason: SkipReason(fileType: st.st_mode))
                close(fd)
                return result
            }
            if type == S_IFREG { expected = Int(st.st_size) }
        }
        let limits = worker.limits
        // an archive: named as one, or known by its first bytes (a zip saved as `.bin`, a gzip without `.gz`),
        // which the scan itself reads (no read more for a file that is none: it stops there when they are an
        // archive's). Opened up to --max-archive-size; over it, or unreadable as one, its bytes are scanned as
        // they are (from the start again when the scan stopped), and that is reported
        var kind = entry.isStandardInput ? nil : ArchiveKind.byName(bytes: entry.rawPath)
        var plain: ContentScanResult? = nil // the scan, when it went on to the end (no archive's bytes)
        var readFirstChunk = false
        if kind == nil && expected != nil {
            let first = worker.scan(fd: fd, path: { entry.displayPath }, expectedSize: expected, isCancelled: isCancelled, stopAtArchive: true)
            if let magic = first.archiveMagic { kind = magic; readFirstChunk = true } else { plain = first }
        }
        if let size = expected, let kind {
            if size > limits.maxArchiveSize {
                result.issues.append(ScanIssue(path: entry.displayPath, message: "archive over \(ScanLimit.archiveSize.flag) \(ScanLimit.archiveSize.describe(limits.maxArchiveSize)) not opened: scanned as plain bytes, its compressed members unread",
                                               limit: .archiveSize))
                result.reached[.archiveSize, default: 0] += 1
            } else if Self.scanArchive(fd: fd, size: size, kind: kind, entry: entry, worker: worker, into: &result) {
                close(fd)
                return result
            }
            if readFirstChunk && lseek(fd, 0, SEEK_SET) != 0 {
                result.issues.append(ScanIssue(path: entry.displayPath, message: "cannot read again from the start: \(FileTreeWalker.describe(errno))"))
                close(fd)
                return result
            }
        }
        let scanned = plain ?? worker.scan(fd: fd, path: { entry.displayPath }, expectedSize: expected, isCancelled: isCancelled)
        result.findings = scanned.findings
        if !scanned.issues.isEmpty { result.add(scanned.issues, path: entry.displayPath) } // (the path is built only when needed)
        if let size = expected, !result.findings.isEmpty {
            // a large file is read whole only when it could name an origin (memory stays flat for a big log
            // with a token in it); small ones are simply read
            let mayName = size <= Self.wholeReadWithoutLooking || Self.mayNameAnOrigin(fd: fd, size: size, entry: entry)
            if size <= limits.maxSourceMapSize {
                if mayName { Self.annotateOrigins(&result.findings, fd: fd, size: size, entry: entry, limit: limits.maxSourceMapSize) }
            } else if mayName {
                result.reached[.sourceMapSize, default: 0] += 1 // its findings stand, without an original source
            }
        }
        if !entry.isStandardInput { close(fd) }
        result.bytes = scanned.bytesRead
        result.decoded = scanned.decodedFrom != nil
        if let code = scanned.readError {
            result.issues.append(ScanIssue(path: entry.displayPath, message: "read failed after \(scanned.bytesRead) bytes: \(FileTreeWalker.describe(code))"))
        } else if !scanned.cancelled {
            result.scanned = true
        }
        return result
    }
}

/// Thread-safe accumulation of worker results. Files with nothing to report only add to the counters, so
/// memory grows with findings, not with the number of files.
final class ResultCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [TreeScanner.EntryResult] = []
    private var filesScanned = 0
    private var bytes = 0
    private var decoded = 0
    private let progress: ScanProgress?
    private let stream: (@Sendable ([Finding]) -> Void)?
    /// For `stream`: the next walk sequence to hand over, and finished ones waiting for an earlier one.
    private var nextSequence = 0
    private var waiting: [Int: [Finding]] = [:]

    init(progress: ScanProgress? = nil, stream: (@Sendable ([Finding]) -> Void)? = nil) {
        self.progress = progress
        self.stream = stream
    }

    func add(_ r: TreeScanner.EntryResult) {
        self.lock.lock()
        if r.scanned { self.filesScanned += 1 }
        self.bytes += r.bytes
        if r.decoded { self.decoded += 1 }
        if r.hasReport { self.items.append(r) }
        if self.stream != nil { self.finish(r.sequence, r.findings) }
        self.lock.unlock()
        self.progress?.add(files: r.scanned ? 1 : 0, bytes: r.bytes, findings: r.findings.count)
    }

    /// A walk sequence with no result to add (a walker issue).
    func done(sequence: Int) {
        guard self.stream != nil else { return }
        self.lock.lock()
        self.finish(sequence, [])
        self.lock.unlock()
    }

    /// Hands over, in walk order, the findings of every sequence now contiguous with those already handed over.
    /// Called with the lock held, so the stream sees one caller at a time.
    private func finish(_ sequence: Int, _ findings: [Finding]) {
        self.waiting[sequence] = findings
        while let ready = self.waiting.removeValue(forKey: self.nextSequence) {
            if !ready.isEmpty { self.stream?(ready) }
            self.nextSequence += 1
        }
    }

    /// Results that carry findings, skips or issues (unordered), and the counters.
    var snapshot: (results: [TreeScanner.EntryResult], filesScanned: Int, bytes: Int, decoded: Int) {
        self.lock.lock()
        defer { self.lock.unlock() }
        return (self.items, self.filesScanned, self.bytes, self.decoded)
    }
}

/// Counters of a running scan, for a progress display: files and bytes scanned and findings so far. Updated by
/// the scan's workers, read by any thread.
public final class ScanProgress: @unchecked Sendable {
    private let lock = ThreadLock()
    private var counts = (files: 0, bytes: 0, findings: 0)

    public init() {}

    func add(files: Int, bytes: Int, findings: Int) {
        self.lock.lock()
        self.counts.files += files
        self.counts.bytes += bytes
        self.counts.findings += findings
        self.lock.unlock()
    }

    /// (files, bytes, findings) so far.
    public var current: (files: Int, bytes: Int, findings: Int) {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.counts
    }
}

/// A bounded multi-producer, multi-consumer FIFO. `pop` returns nil once the queue is closed and drained.
///
/// Wakes only who sleeps: a push signals one waiting consumer, and a full queue's producer sleeps until half of
/// it has drained, so a walk far ahead of the workers costs a handful of wake-ups, not one per file (with a
/// broadcast per push and per pop, futex calls were four per file: 125,000 on a 30,000-file tree).
final class WorkQueue<Element: Sendable>: @unchecked Sendable {
    private let condition = NSCondition() // consumers wait on it when it is empty, the producer when it is full
    private var items: [Element] = []
    private var head = 0
    private var closed = false
    private var sleepingConsumers = 0
    private var producerWaiting = false
    private let capacity: Int

    init(capacity: Int) { self.capacity = max(2, capacity) }

    func push(_ item: Element) {
        self.condition.lock()
        while self.items.count - self.head >= self.capacity {
            self.producerWaiting = true
            self.condition.wait() // woken by `pop` at half capacity, or by another push's wake-up (re-checked)
        }
        if self.head > 1024 && self.head * 2 > self.items.count {
            self.items.removeFirst(self.head)
            self.head = 0
        }
        self.items.append(item)
        if self.sleepingConsumers > 0 { self.condition.signal() }
        self.condition.unlock()
    }

    func pop() -> Element? {
        self.condition.lock()
        defer { self.condition.unlock() }
        while self.head == self.items.count && !self.closed {
            self.sleepingConsumers += 1
            self.condition.wait()
            self.sleepingConsumers -= 1
        }
        guard self.head < self.items.count else { return nil }
        let item = self.items[self.head]
        self.head += 1
        if self.producerWaiting && self.items.count - self.head <= self.capacity / 2 {
            self.producerWaiting = false
            self.condition.broadcast() // the producer (and any consumer, who re-checks and sleeps again)
        }
        return item
    }

    func close() {
        self.condition.lock()
        self.closed = true
        self.condition.broadcast()
        self.condition.unlock()
    }
}
