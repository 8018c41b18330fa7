#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CZlib

/// zlib's `inflate` with a hard cap on output: raw DEFLATE (zip members, RFC 1951) or gzip (RFC 1952, all
/// members of a multi-member stream). Output beyond `limit` bytes stops inflation and says so, so a zip bomb
/// costs at most `limit` bytes of memory and the time to produce them.
///
/// The output goes straight into one buffer, sized from the size the container declares and grown in place
/// (`realloc`), and is lent to the caller: no copy per 64 KiB step, no copy at the end. gzip members are read as
/// raw DEFLATE after their header (parsed here, RFC 1952 section 2.3): their trailer's CRC-32 and length are
/// not checked (computing the CRC cost an eighth of inflating). A member whose data inflates cleanly but whose
/// checksum is wrong is therefore scanned as complete, with no issue: every byte it holds was scanned, which is
/// what a scan needs; damage that stops inflation is still reported.
enum Inflate {
    enum Outcome: Equatable {
        case complete
        /// More than `limit` bytes would come out.
        case overLimit
        /// The stream is corrupt or ends early.
        case corrupt(String)
    }

    /// Inflates `input` (at most `limit` bytes out) and calls `body` with the bytes and how inflation ended; the
    /// bytes are valid during the call only.
    /// - Parameters:
    ///   - gzip: a gzip stream (header, trailer, further members) instead of raw DEFLATE.
    ///   - sizeHint: the inflated size the container declares (a zip entry's size, a gzip trailer's ISIZE), if
    ///     any: the first allocation, within `limit` and 64 times the input (a false one costs a regrowth).
    static func inflate<R>(_ input: UnsafeBufferPointer<UInt8>, limit: Int, gzip: Bool, sizeHint: Int? = nil,
                           _ body: (UnsafeBufferPointer<UInt8>, Outcome) -> R) -> R {
        // the hint, plus the byte that tells "over the limit"; within the limit and 64 times the input
        let plausible = min(sizeHint ?? 0, input.count > Int.max / 64 ? Int.max : input.count * 64)
        var output = Output(capacity: min(max(0, limit), max(1 << 16, plausible)) &+ 1)
        defer { output.release() }
        let outcome = Self.run(input, limit: limit, gzip: gzip, into: &output)
        return body(UnsafeBufferPointer(start: output.base, count: output.count), outcome)
    }

    /// The ISIZE field of a gzip stream's last member (its inflated size modulo 2^32, RFC 1952), as a hint.
    static func gzipSizeHint(_ b: UnsafeBufferPointer<UInt8>) -> Int? {
        guard b.count >= 18 else { return nil }
        let n = b.count
        return Int(b[n - 4]) | Int(b[n - 3]) << 8 | Int(b[n - 2]) << 16 | Int(b[n - 1]) << 24
    }

    /// Bytes of the gzip member header starting at `b[start]` (magic, method 8, flags, and the optional extra
    /// field, name, comment and header CRC), or nil when there is none there or it is cut short.
    static func gzipHeaderLength(_ b: UnsafeBufferPointer<UInt8>, at start: Int) -> Int? {
        guard start + 10 <= b.count, b[start] == 0x1F, b[start + 1] == 0x8B, b[start + 2] == 8 else { return nil }
        let flags = b[start + 3]
        guard flags & 0xE0 == 0 else { return nil } // reserved bits set: not a header zlib would take either
        var p = start + 10
        if flags & 0x04 != 0 { // FEXTRA
            guard p + 2 <= b.count else { return nil }
            p += 2 + (Int(b[p]) | Int(b[p + 1]) << 8)
        }
        for flag: UInt8 in [0x08, 0x10] where flags & flag != 0 { // FNAME, FCOMMENT: zero-terminated
            while p < b.count && b[p] != 0 { p += 1 }
            p += 1
        }
        if flags & 0x02 != 0 { p += 2 } // FHCRC
        return p <= b.count ? p - start : nil
    }

    /// Buffers grown past their first size, in this process (tests: a right size hint grows none).
    static let regrowths = Locked(0)

    /// A growing output buffer (malloc'd, so `realloc` can grow it without a copy where the allocator maps it).
    private struct Output {
        var base: UnsafeMutablePointer<UInt8>?
        var count = 0
        var capacity: Int

        init(capacity: Int) {
            self.capacity = max(1, capacity)
            self.base = malloc(self.capacity)?.assumingMemoryBound(to: UInt8.self)
        }

        /// Room for at least `wanted` more bytes, at most `limit` in all; false when memory ran out.
        mutating func reserve(_ wanted: Int, limit: Int) -> Bool {
            guard self.count + wanted > self.capacity else { return true }
            let grown = min(max(self.capacity * 2, self.count + wanted), max(limit, self.count + wanted))
            guard let moved = realloc(self.base, grown) else { return false }
            self.base = moved.assumingMemoryBound(to: UInt8.self)
            self.capacity = grown
            Inflate.regrowths.withLock { $0 += 1 }
            return true
        }

        mutating func release() {
            free(self.base)
            self.base = nil
        }
    }

    private static func run(_ input: UnsafeBufferPointer<UInt8>, limit: Int, gzip: Bool, into output: inout Output) -> Outcome {
        guard let base = input.baseAddress, input.count > 0 else { return .corrupt("empty stream") }
        guard output.base != nil else { return .corrupt("out of memory") }
        var start = 0
        if gzip {
            guard let header = Self.gzipHeaderLength(input, at: 0) else { return .corrupt("incorrect header check") }
            start = header
        }
        var stream = z_stream()
        guard inflateInit2_(&stream, -15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            return .corrupt("inflateInit failed")
        }
        defer { inflateEnd(&stream) }
        // `avail_in` is 32 bits: input past 4 GiB is handed over as it is used up
        func feed(from offset: Int) {
            stream.next_in = UnsafeMutablePointer(mutating: base + offset)
            stream.avail_in = UInt32(min(input.count - offset, Int(UInt32.max)))
        }
        func consumed() -> Int { UnsafeRawPointer(stream.next_in!) - UnsafeRawPointer(base) }
        feed(from: start)
        // one byte past the limit tells "exactly at the limit" from "over it"
        let hard = limit < Int.max ? max(0, limit) + 1 : Int.max
        while true {
            if stream.avail_in == 0 && consumed() < input.count { feed(from: consumed()) }
            // one step: the room left in the buffer, or 1 MiB more when it is full; never past `hard`
            let left = output.capacity - output.count
            let room = min(left > 0 ? left : 1 << 20, hard - output.count)
            guard output.reserve(room, limit: hard) else { return .corrupt("out of memory") }
            stream.next_out = output.base! + output.count
            stream.avail_out = UInt32(room)
            let status = CZlib.inflate(&stream, Z_NO_FLUSH)
            let produced = room - Int(stream.avail_out)
            output.count += produced
            if output.count > limit {
                output.count = limit
                return .overLimit
            }
            switch status {
            case Z_STREAM_END:
                guard gzip else { return .complete }
                // the 8-byte trailer (CRC-32, ISIZE; not checked), then maybe another member (`cat a.gz b.gz`)
                let end = consumed()
                guard end + 8 <= input.count else { return .corrupt("stream ends early") }
                if end + 8 == input.count { return .complete }
                guard let header = Self.gzipHeaderLength(input, at: end + 8) else {
                    // zeros after the last member (padding to a block size, which gzip(1) ignores too): nothing unread
                    if input[(end + 8)...].allSatisfy({ $0 == 0 }) { return .complete }
                    return .corrupt("incorrect header check")
                }
                guard inflateReset(&stream) == Z_OK else { return .corrupt("inflateReset failed") }
                feed(from: end + 8 + header)
            case Z_OK:
                if produced == 0 && stream.avail_in == 0 && consumed() == input.count { return .corrupt("stream ends early") }
            case Z_BUF_ERROR:
                if stream.avail_in == 0 && consumed() == input.count { return .corrupt("stream ends early") }
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                return .corrupt(message)
            }
        }
    }
}
