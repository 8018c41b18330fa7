#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What scanning one stream of bytes produced.
public struct ContentScanResult: Sendable {
    /// Findings in order of byte offset, with inline allow comments applied.
    public var findings: [Finding] = []
    /// Bytes read from the stream (before any UTF-16 decoding).
    public var bytesRead: Int = 0
    /// Set when reading failed part-way; the findings before the failure are kept.
    public var readError: Int32? = nil
    /// Text encoding the content was decoded from, when it was not scanned as raw bytes.
    public var decodedFrom: TextEncoding? = nil
    /// True when scanning stopped early because the scan was cancelled.
    public var cancelled = false
    /// What was left unscanned or unreported: a limit reached (`--max-findings-per-file`, `--max-decode-depth`,
    /// an archive limit) or damage (a truncated archive, an encrypted member). Each makes the scan incomplete.
    /// Never file content.
    public var issues: [ContentIssue] = []
    /// True when the content was an archive (opened, or too large or damaged to open): `issues` are then about
    /// its members.
    public var isArchive = false
    /// Set by `scan(fd:…stopAtArchive: true)` when the first bytes are an archive's (zip, gzip or tar magic):
    /// nothing was scanned, the caller opens it as that archive.
    var archiveMagic: ArchiveKind? = nil
}

/// How the characters of a match were stored in the bytes searched.
public enum TextForm: Sendable, Equatable {
    /// One byte per character (ASCII, UTF-8, or text decoded before scanning).
    case bytes
    /// Two bytes per character, low byte first.
    case utf16LE
    /// Two bytes per character, high byte first.
    case utf16BE
}

/// Encodings decoded before scanning. Everything else is scanned as raw bytes (UTF-8, ASCII, binary).
public enum TextEncoding: String, Sendable {
    case utf16LE = "utf-16le"
    case utf16BE = "utf-16be"
}

/// Streams one file (or standard input) through a `TokenDetector` in bounded chunks, with enough overlap that a
/// token straddling a chunk boundary is still found once, and turns candidates into findings with 1-based line
/// and column and their `InlineAllow` suppression. Memory is bounded by the chunk size whatever the file or line length.
///
/// Not thread-safe: each worker owns one `ContentScanner` and reuses its buffers for every file.
public final class ContentScanner {
    /// New bytes read per chunk.
    public static let defaultChunkSize = 1 << 20

    private let detector: TokenDetector
    /// Every anchor a buffer is searched for, in one search (the detector's, at this scanner's decode depth).
    private let anchorSearch: CombinedAnchors
    /// The anchors' hits in the buffer being scanned, per decoder (storage kept across buffers).
    private var hits = CombinedAnchors.Hits()
    /// Caps on findings kept, decoding layers, archives and snippets (`ScanLimits`).
    public let limits: ScanLimits
    private let chunkSize: Int
    private let capacity: Int
    private let buffer: UnsafeMutablePointer<UInt8>
    private let staging: UnsafeMutablePointer<UInt8>

    /// - Parameters:
    ///   - chunkSize: bytes read per step (tests use small sizes to exercise chunk boundaries).
    ///   - limits: findings kept per stream, decoding layers, snippet context; archive limits for the callers
    ///     that open archives with this scanner.
    public convenience init(detector: TokenDetector, chunkSize: Int = ContentScanner.defaultChunkSize, limits: ScanLimits = ScanLimits()) {
        self.init(anchorSearch: CombinedAnchors(detector: detector, depth: limits.maxDecodeDepth), chunkSize: chunkSize, limits: limits)
    }

    /// A scanner sharing `anchorSearch` (made once for a scan's threads: it costs milliseconds), whose decode
    /// depth must be `limits.maxDecodeDepth`'s.
    init(anchorSearch: CombinedAnchors, chunkSize: Int = ContentScanner.defaultChunkSize, limits: ScanLimits = ScanLimits()) {
        precondition(anchorSearch.depth == min(max(0, limits.maxDecodeDepth), ScanLimits.deepestDecoding), "one decode depth")
        self.detector = anchorSearch.detector
        self.anchorSearch = anchorSearch
        self.limits = limits
        self.chunkSize = max(chunkSize, 64)
        self.capacity = self.chunkSize + TokenDetector.lookBehind + TokenDetector.lookAhead + 64
        self.buffer = .allocate(capacity: self.capacity)
        self.staging = .allocate(capacity: self.chunkSize + 2)
    }

    deinit {
        self.buffer.deallocate()
        self.staging.deallocate()
    }

    /// Scans everything readable from `fd` (not closed here).
    /// - Parameters:
    ///   - path: the path to put in findings; asked for only when there is one.
    ///   - expectedSize: the size `fstat` gave for a regular file; reading stops there without a last empty read.
    ///   - isCancelled: polled between chunks.
    public func scan(fd: Int32, path: () -> String, expectedSize: Int? = nil, isCancelled: () -> Bool = { false }) -> ContentScanResult {
        self.scan(fd: fd, path: path, expectedSize: expectedSize, isCancelled: isCancelled, stopAtArchive: false)
    }

    /// `scan(fd:…)`; with `stopAtArchive`, content whose first bytes are an archive's (`ArchiveKind.byMagic`) is
    /// not scanned: the result's `archiveMagic` says which, for the caller to open it (a zip or gzip not named
    /// as one). A tar is known only when the first read holds its 512-byte header (chunk sizes of 1 KiB and up).
    func scan(fd: Int32, path: () -> String, expectedSize: Int?, isCancelled: () -> Bool, stopAtArchive: Bool) -> ContentScanResult {
        var reader = ChunkReader(fd: fd, expectedSize: expectedSize, staging: self.staging, stagingSize: self.chunkSize)
        return self.run(path: path, reader: &reader, isCancelled: isCancelled, stopAtArchive: stopAtArchive)
    }

    /// Scans an in-memory byte array (tests, rule examples).
    public func scan(bytes: [UInt8], path: String) -> ContentScanResult {
        var reader = ChunkReader(bytes: bytes, staging: self.staging, stagingSize: self.chunkSize)
        return self.run(path: { path }, reader: &reader, isCancelled: { false })
    }

    /// Scans `buffer.count` bytes the caller holds in memory (a git blob read from a pipe); byte offsets in the
    /// findings are 0-based from `buffer`'s start. Does not copy them when there is
    /// nothing to find: the detector first runs over the bytes in place, and only content with a candidate (or
    /// that looks like UTF-16, which is decoded first) goes through the full streaming path.
    public func scan(buffer: UnsafeBufferPointer<UInt8>, path: () -> String) -> ContentScanResult {
        if !self.mayHoldFindings(buffer) {
            var result = ContentScanResult()
            result.bytesRead = buffer.count
            return result
        }
        var reader = ChunkReader(pointer: buffer, staging: self.staging, stagingSize: self.chunkSize)
        return self.run(path: path, reader: &reader, isCancelled: { false })
    }

    /// Scans bytes produced by `pull`, for content too large to hold at once. `pull` writes at most the given
    /// buffer's `count` bytes into it and returns how many it wrote; 0 means the end.
    public func scan(pull: @escaping (UnsafeMutableBufferPointer<UInt8>) -> Int, path: () -> String) -> ContentScanResult {
        var reader = ChunkReader(pull: pull, staging: self.staging, stagingSize: self.chunkSize)
        return self.run(path: path, reader: &reader, isCancelled: { false })
    }

    /// False only when no finding is possible: no candidate in the raw bytes, in Base64, escaped byte by byte or across joined
    /// literals, no encoded prefix under more layers than `maxDecodeDepth` (to be reported), and no sign of UTF-16 text.
    func mayHoldFindings(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        if b.count >= 2 && ((b[0] == 0xFF && b[1] == 0xFE) || (b[0] == 0xFE && b[1] == 0xFF)) { return true }
        if ChunkReader.guessUTF16(UnsafeBufferPointer(rebasing: b.prefix(1024))) != nil { return true }
        var found = false
        self.anchorSearch.candidates(in: b, range: 0..<b.count, hits: &self.hits, stopAtFirst: true, overLimit: { _ in found = true }) { _ in found = true }
        return found
    }

    // MARK: - The streaming loop

    private func run(path: () -> String, reader: inout ChunkReader, isCancelled: () -> Bool, stopAtArchive: Bool = false) -> ContentScanResult {
        var cachedPath: String? = nil
        var result = ContentScanResult()
        var state = LineState()
        var count = 0            // valid bytes in buffer
        var bufferOffset = 0     // stream offset of buffer[0]
        var anchorsDone = 0      // buffer index: anchors before it are processed
        var reported = Set<SpanKey>()
        var pending: [Finding] = []
        var firstChunk = true
        let maxFindings = max(1, self.limits.maxFindingsPerFile)
        var droppedFindings = 0
        // encoded token prefixes under more layers than --max-decode-depth: how many, and the first's offset (the
        // smallest: the decoders report them anchor by anchor, not in text order)
        var overDecoded = 0, firstOverDecoded = Int.max
        let decodeDepth = self.limits.maxDecodeDepth

        while true {
            if isCancelled() { result.cancelled = true; break }
            let space = UnsafeMutableBufferPointer(start: self.buffer + count, count: min(self.chunkSize, self.capacity - count))
            count += reader.fill(space, isCancelled: isCancelled)
            let eof = reader.atEnd
            if firstChunk {
                firstChunk = false
                if stopAtArchive, let kind = ArchiveKind.byMagic(UnsafeBufferPointer(start: self.buffer, count: count)) {
                    result.archiveMagic = kind
                    result.readError = reader.error
                    return result
                }
                bufferOffset = reader.sniffEncoding(self.buffer, count: &count) // a UTF-8 BOM still counts in offsets
                result.decodedFrom = reader.encoding
            }
            let view = UnsafeBufferPointer(start: self.buffer, count: count)
            let limit = eof ? count : max(anchorsDone, count - TokenDetector.lookAhead)

            var batch: [Candidate] = []
            // tokens as written, in Base64 or with every byte escaped (reported at the encoded text), split across
            // joined literals, platform JWTs: every decoder's anchors found in one search
            // (closure literals, not a stored closure: nothing the loop uses gets boxed)
            let base = bufferOffset
            self.anchorSearch.candidates(in: view, range: anchorsDone..<limit, hits: &self.hits,
                                         overLimit: { firstOverDecoded = min(firstOverDecoded, base + $0); overDecoded += 1 }) { batch.append($0) }
            anchorsDone = limit
            // a token joined across literals is one finding: drop a part of it the plain scan saw in one literal
            // (the legacy rule reads `TKN-…:<secret>` in the second literal of `'idt:' + 'TKN-…'`)
            let joinedSpans = batch.filter { $0.decodings == [JoinedLiterals.decoding] }
            if !joinedSpans.isEmpty {
                batch.removeAll { c in
                    c.decodings.isEmpty && joinedSpans.contains { j in
                        c.start >= j.start && c.end <= j.end && (j.canonical.hasSuffix(c.canonical) || c.spanIsSecretOnly)
                    }
                }
            }
            if batch.count > 1 { batch.sort { ($0.start, $0.ruleIndex) < ($1.start, $1.ruleIndex) } }
            // allow markers anywhere in the buffer, found once per buffer that has candidates
            let markers = batch.isEmpty ? [] : InlineAllow.markers(in: view)
            for candidate in batch {
                guard reported.insert(SpanKey(offset: bufferOffset + candidate.start, rule: candidate.ruleIndex)).inserted else { continue }
                // --max-findings-per-file: the rest are counted, not kept (a file of a million tokens costs no memory)
                guard pending.count < maxFindings else { droppedFindings += 1; continue }
                if cachedPath == nil { cachedPath = path() }
                pending.append(self.finding(candidate, view: view, path: cachedPath!, offset: bufferOffset, decodedFrom: reader.encoding,
                                            markers: markers, state: &state))
            }

            if eof { break }

            // Keep lookBehind bytes before the next anchor to examine; drop the rest.
            var keepFrom = max(0, anchorsDone - TokenDetector.lookBehind)
            keepFrom = TextPosition.characterStart(view, keepFrom, floor: 0)
            if keepFrom > 0 {
                state.advance(view, to: keepFrom)
                memmove(self.buffer, self.buffer + keepFrom, count - keepFrom)
                count -= keepFrom
                bufferOffset += keepFrom
                anchorsDone -= keepFrom
            }
        }
        result.bytesRead = reader.bytesRead
        if isCancelled() { result.cancelled = true }
        result.readError = reader.error
        // a legacy keyed secret can precede its id, which may arrive in a later chunk: restore offset order
        pending.sort { ($0.byteOffset, $0.ruleID) < ($1.byteOffset, $1.ruleID) }
        result.findings = pending
        if droppedFindings > 0 {
            result.issues.append(ContentIssue("\(droppedFindings) more finding\(droppedFindings == 1 ? "" : "s") past \(ScanLimit.findingsPerFile.flag) \(maxFindings) not reported", limit: .findingsPerFile))
        }
        if overDecoded > 0 {
            let layers = "\(decodeDepth) layer\(decodeDepth == 1 ? "" : "s")"
            let what = overDecoded == 1 ? "an encoded token prefix" : "\(overDecoded) encoded token prefixes"
            result.issues.append(ContentIssue("\(what) under more than \(layers) of Base64 or escaping (\(ScanLimit.decodeDepth.flag)) not decoded, the first at byte \(firstOverDecoded)",
                                              limit: .decodeDepth, count: overDecoded))
        }
        return result
    }

    private func finding(_ c: Candidate, view: UnsafeBufferPointer<UInt8>, path: String, offset: Int, decodedFrom: TextEncoding?,
                         markers: [Int], state: inout LineState) -> Finding {
        let rule = self.detector.rules[c.ruleIndex]
        let line = state.line(view, at: c.start)
        let column = state.column(view, at: c.start)
        // UTF-16 found inside raw bytes: no readable context around it; line and column count the raw bytes
        let (before, after) = c.form == .bytes ? Snippet.context(view, span: c.start..<c.end, bytes: self.limits.snippetContext) : ("", "")
        let textEncoding: TextEncoding? = c.form == .utf16LE ? .utf16LE : c.form == .utf16BE ? .utf16BE : decodedFrom
        // an expired platform JWT no longer opens anything by itself
        let severity = c.claims?.expired == true ? (rule.jwt?.expiredSeverity ?? rule.severity) : rule.severity
        var finding = Finding(ruleID: rule.id, tokenID: c.tokenID, severity: severity, confidence: rule.confidence,
                       path: path, line: line, column: column, endColumn: column + (c.end - c.start),
                       byteOffset: offset + c.start, token: c.canonical, secretLength: c.secretLength,
                       snippetBefore: before, snippetAfter: after,
                       fingerprint: SHA256.hexDigest(of: c.canonical.utf8), encoding: c.encoding,
                       suppression: c.form == .bytes ? InlineAllow.suppression(view, span: c.start..<c.end, markers: markers) : nil,
                       spanIsSecretOnly: c.spanIsSecretOnly, textEncoding: textEncoding, decodings: c.decodings)
        finding.claims = c.claims
        return finding
    }
}

/// A reported span: a token found again through another anchor (two ids near one legacy secret) is one finding.
private struct SpanKey: Hashable {
    var offset: Int
    var rule: Int
}

/// Line and column bookkeeping for a sliding buffer. Lines are 1-based and count LF; columns are 1-based
/// Unicode scalars (see `TextPosition`).
struct LineState {
    /// Scalars between the start of buffer[0]'s line and buffer[0].
    var columnAtStart = 0
    /// A cursor for newline counting: `lineAtCursor` is the line of buffer[cursor].
    var cursor = 0
    var lineAtCursor = 1
    /// The last column computed, (buffer index, 1-based column): the next query on the same line counts only
    /// the scalars in between, so many findings in one long line cost linear, not quadratic, time.
    var columnMemo: (index: Int, column: Int) = (0, 1)

    /// Line of buffer index `i`.
    mutating func line(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> Int {
        if i >= self.cursor {
            self.lineAtCursor += Self.newlines(b, self.cursor..<i)
        } else {
            self.lineAtCursor -= Self.newlines(b, i..<self.cursor)
        }
        self.cursor = i
        return self.lineAtCursor
    }

    /// Column (1-based) of buffer index `i`, which must be at a character boundary.
    mutating func column(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> Int {
        let memo = self.columnMemo
        var column: Int
        if memo.index <= i, let base = b.baseAddress, memchr(base + memo.index, 0x0A, i - memo.index) == nil {
            column = memo.column + TextPosition.scalarCount(b, memo.index..<i)
        } else {
            let floor = memo.index <= i ? memo.index : 0
            let j = Self.lineStart(b, before: i, floor: floor)
            column = (j == 0 ? self.columnAtStart : 0) + TextPosition.scalarCount(b, j..<i) + 1
        }
        self.columnMemo = (i, column)
        return column
    }

    /// Index just after the last LF in `b[floor..<i]`, or `floor` when there is none. Eight bytes at a time
    /// (`memrchr` is a GNU extension Swift does not see): a minified line is walked back megabytes at once.
    static func lineStart(_ b: UnsafeBufferPointer<UInt8>, before i: Int, floor: Int) -> Int {
        guard let base = b.baseAddress else { return floor }
        var j = i
        let lf: UInt64 = 0x0A0A_0A0A_0A0A_0A0A, low7: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
        while j - 8 >= floor {
            let x = UnsafeRawPointer(base + j - 8).loadUnaligned(as: UInt64.self) ^ lf
            // high bit clear exactly in the bytes that were LF (see `newlines`)
            if (((x & low7) &+ low7) | x) & ~low7 != ~low7 { break }
            j -= 8
        }
        while j > floor && b[j - 1] != 0x0A { j -= 1 }
        return j
    }

    /// Re-bases the state so that buffer index `i` becomes index 0.
    mutating func advance(_ b: UnsafeBufferPointer<UInt8>, to i: Int) {
        let line = self.line(b, at: i)
        self.columnAtStart = self.column(b, at: i) - 1
        self.lineAtCursor = line
        self.cursor = 0
        self.columnMemo = (0, self.columnAtStart + 1)
    }

    /// LF bytes in `b[range]`, eight bytes at a time (SWAR: a byte equal to LF becomes zero after XOR, and
    /// `((x & 0x7F..) + 0x7F..) | x` sets the high bit of every non-zero byte). The flags of LF bytes are summed
    /// per byte lane for up to 255 words, then across lanes: no population count, which the baseline x86-64
    /// target has no instruction for.
    static func newlines(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int {
        guard let base = b.baseAddress else { return 0 }
        var n = 0
        var i = range.lowerBound
        let end = range.upperBound
        let lf: UInt64 = 0x0A0A_0A0A_0A0A_0A0A, low7: UInt64 = 0x7F7F_7F7F_7F7F_7F7F, lanes: UInt64 = 0x00FF_00FF_00FF_00FF
        while i + 8 <= end {
            var perLane: UInt64 = 0 // LF count in each byte lane, at most 255
            let blockEnd = min(end, i + 8 * 255)
            while i + 8 <= blockEnd {
                let x = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self) ^ lf
                let nonZero = ((x & low7) &+ low7) | x
                perLane &+= (~nonZero & ~low7) >> 7
                i += 8
            }
            let pairs = (perLane & lanes) &+ ((perLane >> 8) & lanes) // four 16-bit lanes, each at most 510
            n &+= Int(truncatingIfNeeded: (pairs &* 0x0001_0001_0001_0001) >> 48)
        }
        while i < end {
            if base[i] == 0x0A { n &+= 1 }
            i += 1
        }
        return n
    }
}

/// Short, redacted context around a finding, safe to print to a terminal.
enum Snippet {
    /// Alphanumeric runs at least this long in the context are cut to 4 characters: they may be other secrets.
    static let maskRunLength = 20

    /// Up to `contextBytes` bytes of the line on each side of `span` (default `ScanLimits().snippetContext`),
    /// cut at a character boundary; a cut side starts or ends with `…`.
    static func context(_ b: UnsafeBufferPointer<UInt8>, span: Range<Int>, bytes contextBytes: Int = ScanLimits().snippetContext) -> (String, String) {
        var lo = span.lowerBound
        while lo > 0 && span.lowerBound - lo < contextBytes && b[lo - 1] != 0x0A { lo -= 1 }
        let cutBefore = lo > 0 && b[lo - 1] != 0x0A
        if cutBefore { lo = TextPosition.characterStart(b, lo, floor: 0); if lo < span.lowerBound && b[lo] & 0xC0 == 0x80 { lo += 1 } }
        var hi = span.upperBound
        while hi < b.count && hi - span.upperBound < contextBytes && b[hi] != 0x0A { hi += 1 }
        let cutAfter = hi < b.count && b[hi] != 0x0A
        if cutAfter { hi = TextPosition.characterStart(b, hi, floor: span.upperBound) }
        while hi > span.upperBound && b[hi - 1] == 0x0D { hi -= 1 }
        var before = clean(b, lo..<span.lowerBound)
        var after = clean(b, span.upperBound..<hi)
        if cutBefore && !before.hasPrefix("…") { before = "…" + before }
        if cutAfter && !after.hasSuffix("…") { after += "…" }
        return (before, after)
    }

    /// Decodes (invalid UTF-8 becomes U+FFFD), replaces control characters, and masks alphanumeric runs of
    /// `maskRunLength` or more, measuring runs in the whole buffer so a run cut by the context edge is masked too.
    static func clean(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(range.count)
        var i = range.lowerBound
        while i < range.upperBound {
            var j = i
            while j < range.upperBound && isAlnum(b[j]) { j += 1 }
            if j > i {
                var runStart = i, runEnd = j
                while runStart > 0 && isAlnum(b[runStart - 1]) { runStart -= 1 }
                while runEnd < b.count && isAlnum(b[runEnd]) { runEnd += 1 }
                if runEnd - runStart >= maskRunLength {
                    let keep = max(0, min(j, runStart + 4) - i)
                    bytes.append(contentsOf: UnsafeBufferPointer(rebasing: b[i..<i + keep]))
                    bytes.append(contentsOf: [0xE2, 0x80, 0xA6]) // …
                } else {
                    bytes.append(contentsOf: UnsafeBufferPointer(rebasing: b[i..<j]))
                }
                i = j
                continue
            }
            let c = b[i]
            if c == 0x09 { bytes.append(0x20) } else if c < 0x20 || c == 0x7F { bytes.append(contentsOf: [0xEF, 0xBF, 0xBD]) } else { bytes.append(c) }
            i += 1
        }
        return Printable.text(String(decoding: bytes, as: UTF8.self))
    }
}
