#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a stream in chunks into a caller's buffer, decoding UTF-16 to UTF-8 on the way when the first chunk
/// says the stream is UTF-16 (a byte-order mark, or ASCII text with every other byte zero), and dropping a UTF-8
/// byte-order mark. Unpaired surrogates and a dangling odd byte become U+FFFD.
struct ChunkReader {
    private enum Source {
        case fd(Int32)
        case bytes([UInt8])
        /// Memory the caller keeps alive for the whole scan.
        case pointer(UnsafeBufferPointer<UInt8>)
        /// A producer: fills the buffer it is given, returns 0 at the end.
        case pull((UnsafeMutableBufferPointer<UInt8>) -> Int)
    }
    private var source: Source
    private let expectedSize: Int?
    private let staging: UnsafeMutablePointer<UInt8>
    private let stagingSize: Int
    private var firstFill = true
    private var pendingByte: UInt8? = nil
    private var pendingHigh: UInt32? = nil
    private var memoryCursor = 0

    /// Bytes taken from the source (before decoding).
    private(set) var bytesRead = 0
    /// Set once the source is exhausted or failed.
    private(set) var atEnd = false
    /// `errno` of a failed read.
    private(set) var error: Int32? = nil
    /// Set when the stream is being decoded from UTF-16.
    private(set) var encoding: TextEncoding? = nil

    init(fd: Int32, expectedSize: Int?, staging: UnsafeMutablePointer<UInt8>, stagingSize: Int) {
        self.source = .fd(fd)
        self.expectedSize = (expectedSize ?? 0) > 0 ? expectedSize : nil
        self.staging = staging
        self.stagingSize = stagingSize
    }

    init(pointer: UnsafeBufferPointer<UInt8>, staging: UnsafeMutablePointer<UInt8>, stagingSize: Int) {
        self.source = .pointer(pointer)
        self.expectedSize = nil
        self.staging = staging
        self.stagingSize = stagingSize
    }

    init(pull: @escaping (UnsafeMutableBufferPointer<UInt8>) -> Int, staging: UnsafeMutablePointer<UInt8>, stagingSize: Int) {
        self.source = .pull(pull)
        self.expectedSize = nil
        self.staging = staging
        self.stagingSize = stagingSize
    }

    init(bytes: [UInt8], staging: UnsafeMutablePointer<UInt8>, stagingSize: Int) {
        self.source = .bytes(bytes)
        self.expectedSize = nil
        self.staging = staging
        self.stagingSize = stagingSize
    }

    /// Fills `dest` with up to `dest.count` bytes of (decoded) text; returns how many. Sets `atEnd` at the end,
    /// or when a read interrupted by a signal finds `isCancelled` true (a Ctrl-C while waiting on a pipe).
    mutating func fill(_ dest: UnsafeMutableBufferPointer<UInt8>, isCancelled: () -> Bool = { false }) -> Int {
        guard !self.atEnd, let out = dest.baseAddress else { return 0 }
        if self.firstFill {
            // Read at most half a chunk first, so decoding it as UTF-16 (up to 1.5x) still fits.
            return self.readRaw(into: out, max: max(2, dest.count / 2), isCancelled: isCancelled)
        }
        guard self.encoding != nil else { return self.readRaw(into: out, max: dest.count, isCancelled: isCancelled) }
        let rawMax = min(self.stagingSize, max(2, ((dest.count - 8) / 3) * 2))
        let got = self.readRaw(into: self.staging, max: rawMax, isCancelled: isCancelled)
        return self.transcode(UnsafeBufferPointer(start: self.staging, count: got), into: out)
    }

    /// Looks at the first chunk, now in `buffer[0..<count]`: strips a UTF-8 BOM, or switches to UTF-16 and
    /// decodes the chunk in place. Updates `count`; returns the bytes of UTF-8 BOM dropped (3 or 0), which
    /// still count in byte offsets. (Offsets in UTF-16 files are offsets in the decoded text, BOM excluded.)
    mutating func sniffEncoding(_ buffer: UnsafeMutablePointer<UInt8>, count: inout Int) -> Int {
        self.firstFill = false
        let n = count
        if n >= 3 && buffer[0] == 0xEF && buffer[1] == 0xBB && buffer[2] == 0xBF {
            memmove(buffer, buffer + 3, n - 3)
            count = n - 3
            return 3
        }
        var skip = 0
        if n >= 2 && buffer[0] == 0xFF && buffer[1] == 0xFE {
            self.encoding = .utf16LE; skip = 2
        } else if n >= 2 && buffer[0] == 0xFE && buffer[1] == 0xFF {
            self.encoding = .utf16BE; skip = 2
        } else {
            self.encoding = Self.guessUTF16(UnsafeBufferPointer(start: buffer, count: n))
        }
        guard self.encoding != nil else { return 0 }
        let raw = n - skip
        memcpy(self.staging, buffer + skip, raw)
        count = self.transcode(UnsafeBufferPointer(start: self.staging, count: raw), into: buffer)
        return 0
    }

    /// UTF-16 without a byte-order mark: at least 16 code units, 90 % of them ASCII with a zero high byte.
    static func guessUTF16(_ b: UnsafeBufferPointer<UInt8>) -> TextEncoding? {
        let pairs = min(b.count, 1024) / 2
        guard pairs >= 8, let base = b.baseAddress, memchr(base, 0, pairs * 2) != nil else { return nil }
        var little = 0, big = 0
        for k in 0..<pairs {
            let x = b[2 * k], y = b[2 * k + 1]
            if x != 0 && y == 0 && x < 0x80 { little += 1 } else if x == 0 && y != 0 && y < 0x80 { big += 1 }
        }
        if little * 10 >= pairs * 9 { return .utf16LE }
        if big * 10 >= pairs * 9 { return .utf16BE }
        return nil
    }

    private mutating func readRaw(into p: UnsafeMutablePointer<UInt8>, max: Int, isCancelled: () -> Bool) -> Int {
        var total = 0
        switch self.source {
        case .bytes(let bytes):
            let n = Swift.min(max, bytes.count - self.memoryCursor)
            bytes.withUnsafeBufferPointer { src in
                if n > 0 { (p).update(from: src.baseAddress! + self.memoryCursor, count: n) }
            }
            self.memoryCursor += n
            total = n
            if self.memoryCursor >= bytes.count { self.atEnd = true }
        case .pointer(let src):
            let n = Swift.min(max, src.count - self.memoryCursor)
            if n > 0 { p.update(from: src.baseAddress! + self.memoryCursor, count: n) }
            self.memoryCursor += n
            total = n
            if self.memoryCursor >= src.count { self.atEnd = true }
        case .pull(let produce):
            while total < max {
                let r = produce(UnsafeMutableBufferPointer(start: p + total, count: max - total))
                if r <= 0 { self.atEnd = true; break }
                total += r
            }
        case .fd(let fd):
            while total < max {
                if let expected = self.expectedSize, self.bytesRead + total >= expected { self.atEnd = true; break }
                // Pipes and terminals (no size): wait in poll(2), so that Ctrl-C can end the wait and a named
                // FIFO opened non-blocking waits for its writer rather than reading as empty.
                if self.expectedSize == nil && !Self.waitReadable(fd, isCancelled: isCancelled) { self.atEnd = true; break }
                let r = read(fd, p + total, max - total)
                if r < 0 {
                    if errno == EINTR || errno == EAGAIN {
                        if isCancelled() || (errno == EAGAIN && !Self.waitReadable(fd, isCancelled: isCancelled)) { self.atEnd = true; break }
                        continue
                    }
                    self.error = errno
                    self.atEnd = true
                    break
                }
                if r == 0 { self.atEnd = true; break }
                total += r
            }
        }
        self.bytesRead += total
        return total
    }

    /// For pipes and terminals: waits until `fd` is readable, checking `isCancelled` every 100 ms, so that a
    /// Ctrl-C ends a scan blocked on a silent pipe whichever thread the signal reached. False when cancelled.
    private static func waitReadable(_ fd: Int32, isCancelled: () -> Bool) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            if isCancelled() { return false }
            let r = poll(&entry, 1, 100)
            if r != 0 { return true } // readable, hung up, or an error the read will report
        }
    }

    /// Decodes UTF-16 code units from `raw` into UTF-8 at `out`; returns bytes written (at most 1.5x + 8).
    private mutating func transcode(_ raw: UnsafeBufferPointer<UInt8>, into out: UnsafeMutablePointer<UInt8>) -> Int {
        var o = 0
        var i = 0
        let little = self.encoding == .utf16LE
        func emit(_ scalar: UInt32) {
            if scalar < 0x80 {
                out[o] = UInt8(scalar); o += 1
            } else if scalar < 0x800 {
                out[o] = UInt8(0xC0 | (scalar >> 6)); out[o + 1] = UInt8(0x80 | (scalar & 0x3F)); o += 2
            } else if scalar < 0x10000 {
                out[o] = UInt8(0xE0 | (scalar >> 12)); out[o + 1] = UInt8(0x80 | ((scalar >> 6) & 0x3F))
                out[o + 2] = UInt8(0x80 | (scalar & 0x3F)); o += 3
            } else {
                out[o] = UInt8(0xF0 | (scalar >> 18)); out[o + 1] = UInt8(0x80 | ((scalar >> 12) & 0x3F))
                out[o + 2] = UInt8(0x80 | ((scalar >> 6) & 0x3F)); out[o + 3] = UInt8(0x80 | (scalar & 0x3F)); o += 4
            }
        }
        func unit(_ u: UInt32) {
            if let high = self.pendingHigh {
                self.pendingHigh = nil
                if u >= 0xDC00 && u <= 0xDFFF {
                    emit(0x10000 + ((high - 0xD800) << 10) + (u - 0xDC00))
                    return
                }
                emit(0xFFFD)
            }
            if u >= 0xD800 && u <= 0xDBFF { self.pendingHigh = u } else if u >= 0xDC00 && u <= 0xDFFF { emit(0xFFFD) } else { emit(u) }
        }
        if let first = self.pendingByte, raw.count > 0 {
            self.pendingByte = nil
            let second = raw[0]
            unit(little ? UInt32(first) | UInt32(second) << 8 : UInt32(first) << 8 | UInt32(second))
            i = 1
        }
        while i + 1 < raw.count {
            let a = UInt32(raw[i]), b = UInt32(raw[i + 1])
            unit(little ? a | b << 8 : a << 8 | b)
            i += 2
        }
        if i < raw.count { self.pendingByte = raw[i] }
        if self.atEnd {
            if self.pendingHigh != nil { self.pendingHigh = nil; emit(0xFFFD) }
            if self.pendingByte != nil { self.pendingByte = nil; emit(0xFFFD) }
        }
        return o
    }
}
