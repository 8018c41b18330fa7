import Foundation

/// A git object id (SHA-1, 40 hex digits, or SHA-256, 64), held as four words for cheap hashing.
public struct ObjectID: Hashable, Comparable, Sendable, CustomStringConvertible {
    var words: (UInt64, UInt64, UInt64, UInt64)
    /// Hex digits in the id (40 or 64).
    var length: UInt8

    /// Parses lower- or upper-case hex of 40 or 64 digits; nil for anything else.
    init?<C: Collection>(hex: C) where C.Element == UInt8 {
        guard hex.count == 40 || hex.count == 64 else { return nil }
        var w: [UInt64] = [0, 0, 0, 0]
        var i = 0
        for c in hex {
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            w[i / 16] = w[i / 16] << 4 | UInt64(v)
            i += 1
        }
        self.words = (w[0], w[1], w[2], w[3])
        self.length = UInt8(hex.count)
    }

    /// Parses an id written as 40 or 64 hex digits (SHA-1 or SHA-256 repositories); nil for anything else.
    public init?(_ string: String) { self.init(hex: Array(string.utf8)) }

    /// True for the all-zero id git uses for "no object" (a deleted path, a new branch).
    var isZero: Bool { self.words == (0, 0, 0, 0) }

    /// The id as lower-case hex.
    public var description: String {
        var out = [UInt8]()
        out.reserveCapacity(Int(self.length))
        let digits = Array("0123456789abcdef".utf8)
        let w = [self.words.0, self.words.1, self.words.2, self.words.3]
        for i in 0..<Int(self.length) {
            let word = w[i / 16]
            let digitsInWord = min(16, Int(self.length) - (i / 16) * 16)
            let shift = UInt64(4 * (digitsInWord - 1 - i % 16))
            out.append(digits[Int((word >> shift) & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func == (a: ObjectID, b: ObjectID) -> Bool { a.words == b.words && a.length == b.length }
    public func hash(into h: inout Hasher) { h.combine(self.words.0); h.combine(self.words.1); h.combine(self.words.2); h.combine(self.words.3) }
    public static func < (a: ObjectID, b: ObjectID) -> Bool { a.words < b.words }
}

/// Object kinds of `git cat-file`.
enum ObjectKind: String, Sendable { case blob, tree, commit, tag }

/// `git cat-file --batch` over a list of ids: a writer thread feeds the ids while the caller reads each object
/// in turn (`<id> <type> <size>\n<content>\n`), so neither side can block the other.
/// Reference: git-cat-file(1), "BATCH OUTPUT".
final class CatFileBatch {
    /// Objects up to this size are handed over whole; larger ones are streamed in pieces.
    static let wholeObjectLimit = 8 << 20
    /// See `ByteStream`: measured on curl's history (docs/PERFORMANCE.md).
    static let coalesceMicroseconds: UInt32 = 300

    /// One object's content, whole or as a stream of `size` bytes to be read through `pull`.
    enum Content {
        case whole(UnsafeBufferPointer<UInt8>)
        case stream(size: Int, pull: (UnsafeMutableBufferPointer<UInt8>) -> Int)
    }

    private let git: Git
    private let ids: [ObjectID]

    init(git: Git, ids: [ObjectID]) {
        self.git = git
        self.ids = ids
    }

    /// Calls `body` for each object in the order given; a missing object is reported to `missing`. Returns
    /// early, without error, when `isCancelled` becomes true.
    /// - Throws: `GitError` when git fails, exits non-zero or its output ends before the last object's final
    ///   newline (a corrupt object, git killed); whatever `body` throws.
    func forEach(isCancelled: () -> Bool, missing: (ObjectID) -> Void,
                 _ body: (ObjectID, ObjectKind?, Content) throws -> Void) throws {
        let child = try self.git.start(["cat-file", "--batch", "--buffer"], input: true)
        let ids = self.ids
        let writer = Thread {
            var text = [UInt8]()
            text.reserveCapacity(1 << 16)
            for id in ids {
                text += id.description.utf8
                text.append(10)
                if text.count >= 1 << 16 {
                    if !(text.withUnsafeBytes { child.writeInput($0) }) { break }
                    text.removeAll(keepingCapacity: true)
                }
            }
            if !text.isEmpty { _ = text.withUnsafeBytes { child.writeInput($0) } }
            child.closeInput()
        }
        writer.start()
        let stream = ByteStream(fd: child.stdoutFD, coalesceMicroseconds: Self.coalesceMicroseconds)
        var finished = false
        defer {
            if !finished { child.terminate() }
            stream.drain()
            child.wait()
        }
        let seen = try Self.read(stream, count: ids.count, isCancelled: isCancelled, missing: missing, body)
        if isCancelled() { return }
        // every object read, then git must end cleanly: a truncated stream or a failing git is never a clean scan
        child.closeInput()
        stream.drain()
        let status = child.wait()
        finished = true
        if seen < ids.count || !status.succeeded || stream.error != nil {
            let why = !child.errorText.isEmpty ? child.errorText
                : stream.error.map { String(cString: strerror($0)) } ?? (status.exitCode.map { "exit \($0)" } ?? "killed by signal \(status.signal ?? 0)")
            throw GitError("git cat-file stopped after \(seen) of \(self.ids.count) objects: \(why); the scan is incomplete")
        }
    }

    /// Reads the `git cat-file --batch` output for `count` requested objects from `stream`: per object a header
    /// `<id> <type> <size>\n` (or `<id> missing\n`), the content and a newline. Objects up to `wholeObjectLimit`
    /// bytes are handed to `body` whole, larger ones as a stream.
    /// - Returns: the objects read completely, trailing newline included: fewer than `count` when the output ends
    ///   early (truncated or corrupt) or `isCancelled` became true.
    /// - Throws: `GitError` for a header that is not git's; whatever `body` throws.
    static func read(_ stream: ByteStream, count: Int, isCancelled: () -> Bool, missing: (ObjectID) -> Void,
                     _ body: (ObjectID, ObjectKind?, Content) throws -> Void) throws -> Int {
        var seen = 0 // objects read completely, trailing newline included
        while seen < count {
            if isCancelled() { break }
            guard let header = stream.next(until: 10) else { break }
            let parts = header.split(separator: 32)
            if stream.atEnd { break } // the header had no newline: the stream was cut inside it
            guard let id = parts.first.flatMap({ ObjectID(hex: $0) }) else {
                throw GitError("git cat-file: unexpected output '\(Redaction.quote(String(decoding: header.prefix(4096), as: UTF8.self), limit: 80))'")
            }
            if parts.count == 2 { seen += 1; missing(id); continue } // "<id> missing"
            guard parts.count == 3, let size = Int(String(decoding: parts[2], as: UTF8.self)), size >= 0 else {
                throw GitError("git cat-file: unexpected header '\(Redaction.quote(String(decoding: header.prefix(4096), as: UTF8.self), limit: 80))'")
            }
            let kind = ObjectKind(rawValue: String(decoding: parts[1], as: UTF8.self))
            if size <= Self.wholeObjectLimit {
                guard let content = stream.bytes(size) else { break }
                try body(id, kind, .whole(content))
            } else {
                var left = size
                try body(id, kind, .stream(size: size) { dest in
                    let n = min(left, dest.count)
                    guard n > 0 else { return 0 }
                    var copied = 0
                    _ = stream.stream(n) { piece in
                        UnsafeMutableRawPointer(dest.baseAddress! + copied).copyMemory(from: piece.baseAddress!, byteCount: piece.count)
                        copied += piece.count
                    }
                    left -= copied
                    return copied
                })
                if left > 0 { left -= stream.stream(left) { _ in } } // the caller stopped early
                if left > 0 { break }
            }
            guard let newline = stream.bytes(1), newline.first == 10 else { break }
            seen += 1
        }
        return seen
    }
}

extension ContentScanner {
    /// Scans one object's content as `cat-file` delivered it (whole, or streamed when large); findings carry
    /// an empty path until the caller names one. Hits in a source map held whole get their original location.
    /// A zip, gzip or tar blob (by magic) is opened in memory like an archive file: its findings' paths are
    /// the member path after `!` (`!assets/app.js`), for the caller to put the blob's path in front.
    func scan(_ content: CatFileBatch.Content) -> ContentScanResult {
        switch content {
        case .whole(let bytes):
            if let archive = self.scanArchive(bytes) { return archive }
            var result = self.scan(buffer: bytes, path: { "" })
            if !result.findings.isEmpty && SourceMap.looksLikeSourceMap(UnsafeBufferPointer(rebasing: bytes.prefix(512)), path: nil) {
                SourceMap.annotate(&result.findings, mapBytes: bytes)
            }
            return result
        case .stream(let size, let pull):
            // a large archive is read whole (up to the per-member limit), anything else stays streamed
            var head = [UInt8](repeating: 0, count: 512)
            var headCount = 0
            while headCount < head.count {
                let n = head.withUnsafeMutableBufferPointer { pull(UnsafeMutableBufferPointer(rebasing: $0[headCount...])) }
                if n <= 0 { break }
                headCount += n
            }
            let isArchive = head.withUnsafeBufferPointer { Self.archiveKind(UnsafeBufferPointer(rebasing: $0[0..<headCount])) != nil }
            if isArchive && size <= self.limits.maxArchiveSize {
                let whole = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(size, headCount, 1))
                defer { whole.deallocate() }
                _ = whole.initialize(from: head[0..<headCount])
                var count = headCount
                while count < whole.count {
                    let n = pull(UnsafeMutableBufferPointer(rebasing: whole[count...]))
                    if n <= 0 { break }
                    count += n
                }
                let view = UnsafeBufferPointer(rebasing: UnsafeBufferPointer(whole)[0..<count])
                return self.scanArchive(view) ?? self.scan(buffer: view, path: { "" })
            }
            var tooLarge: [ContentIssue] = []
            if isArchive {
                tooLarge = [ContentIssue("archive over \(ScanLimit.archiveSize.flag) \(ScanLimit.archiveSize.describe(self.limits.maxArchiveSize)) not opened: scanned as plain bytes, its compressed members unread",
                                         limit: .archiveSize)]
            }
            var served = 0
            var streamed = self.scan(pull: { out in
                if served < headCount {
                    let n = min(out.count, headCount - served)
                    for k in 0..<n { out[k] = head[served + k] }
                    served += n
                    return n
                }
                return pull(out)
            }, path: { "" })
            streamed.issues = tooLarge + streamed.issues
            streamed.isArchive = isArchive
            return streamed
        }
    }

    /// The archive kind of blob bytes, by magic only (a blob has no name here): zip, gzip or tar.
    static func archiveKind(_ bytes: UnsafeBufferPointer<UInt8>) -> ArchiveKind? {
        switch ArchiveKind.byMagic(bytes) {
        case .zip where ArchiveWalker.looksLikeZip(bytes): return .zip
        case .gzip: return .gzip
        case .tar: return .tar
        default: return nil
        }
    }

    /// The members of an archive blob scanned, or nil when `bytes` is no archive. One too damaged to open (no
    /// zip directory, a corrupt gzip) is scanned as plain bytes, with an issue: the scan is incomplete.
    func scanArchive(_ bytes: UnsafeBufferPointer<UInt8>) -> ContentScanResult? {
        guard let kind = Self.archiveKind(bytes) else { return nil }
        var walker = ArchiveWalker(limits: self.limits.archive)
        var result = ContentScanResult()
        var memberIssues: [ContentIssue] = []
        walker.walk(bytes, kind: kind, name: "") { path, member in
            let scanned = self.scan(buffer: member, path: { path })
            var found = scanned.findings
            memberIssues += scanned.issues.map { ContentIssue(path + ": " + $0.message, limit: $0.limit, count: $0.count) }
            if !found.isEmpty {
                if path.hasSuffix(".ipynb") {
                    Notebook.annotate(&found, bytes: member)
                } else if SourceMap.looksLikeSourceMap(UnsafeBufferPointer(rebasing: member.prefix(512)), path: path) {
                    SourceMap.annotate(&found, mapBytes: member)
                }
            }
            result.findings += found
        }
        // the walker names its messages after the archive, which is nameless here
        let issues = (walker.issues + memberIssues).map { issue -> ContentIssue in
            var named = issue
            if named.message.hasPrefix(": ") { named.message.removeFirst(2) } else if named.message.hasPrefix("!") { named.message.removeFirst() }
            return named
        }
        if walker.unreadable {
            var plain = self.scan(buffer: bytes, path: { "" })
            plain.issues.insert(ContentIssue("archive unreadable, scanned as plain bytes: \(issues.first?.message ?? "damaged")"), at: 0)
            plain.isArchive = true
            return plain
        }
        result.bytesRead = bytes.count
        result.issues = issues
        result.isArchive = true
        return result
    }
}

extension ScanSummary {
    /// An empty summary of a git scan (blobs, not files, are counted).
    static var git: ScanSummary {
        var summary = ScanSummary()
        summary.fromGit = true
        return summary
    }

    /// Adds the counters of another scan's summary (a parallel stream's, a submodule's) and its issues;
    /// skipped entries are not merged.
    mutating func addCounts(of other: ScanSummary) {
        self.unreadable += other.unreadable
        self.limitsReached.add(other.limitsReached)
        self.filesScanned += other.filesScanned
        self.bytesScanned += other.bytesScanned
        self.filesDecoded += other.filesDecoded
        self.commitsScanned += other.commitsScanned
        self.unreachableHits += other.unreachableHits
        self.interrupted = self.interrupted || other.interrupted
    }

    /// Counts one scanned blob; a blob with bytes left unscanned or findings unreported (an archive bomb,
    /// truncation, a limit reached) makes the scan incomplete, named by the blob's id (its paths are not known yet).
    mutating func countBlob(_ result: ContentScanResult, id: ObjectID) {
        self.countIssues(result, path: "blob \(id.description.prefix(12))")
        self.fromGit = true
        self.filesScanned += 1
        self.bytesScanned += result.bytesRead
        if result.decodedFrom != nil { self.filesDecoded += 1 }
    }

    /// Records what scanning `path` (a blob, a message) left out: one issue for an archive's problems (as an
    /// archive file gets), one for each other, and the limits reached.
    mutating func countIssues(_ result: ContentScanResult, path: String) {
        guard !result.issues.isEmpty else { return }
        for issue in result.issues { if let limit = issue.limit { self.limitsReached.add(limit, count: issue.count) } }
        if result.isArchive, let issue = ScanIssue.archive(result.issues, path: path) {
            self.unreadable.append(issue)
        } else {
            for issue in result.issues { self.unreadable.append(ScanIssue(path: path, message: issue.message, limit: issue.limit, isPath: false)) }
        }
    }
}
