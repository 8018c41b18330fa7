import XCTest
@testable import MPTScanKit
import _MPTScanTestSupport

/// `Inflate` reads gzip members itself (header fields, trailer, further members) and inflates into one buffer
/// grown in place: every shape of stream must give zlib's bytes, and every damaged one an outcome.
final class InflateTests: XCTestCase {
    /// Seeded text of `count` bytes, compressible but not trivially.
    private func text(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        let words = ["token", "order", "listing", "agreement", "\n", "{", "}", "=", "1234"].map { Array($0.utf8) }
        var out: [UInt8] = []
        while out.count < count {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            out += words[Int(state >> 59) % words.count]
            out.append(UInt8(0x61 + Int(state >> 40) % 26))
        }
        return Array(out.prefix(count))
    }

    private func inflate(_ input: [UInt8], limit: Int = 1 << 30, gzip: Bool = true, hint: Int? = nil) -> ([UInt8], Inflate.Outcome) {
        input.withUnsafeBufferPointer { b in Inflate.inflate(b, limit: limit, gzip: gzip, sizeHint: hint) { (Array($0), $1) } }
    }

    /// A gzip header with every optional field (RFC 1952 2.3: FEXTRA, FNAME, FCOMMENT, FHCRC) before the data.
    private func gzipWithAllHeaderFields(_ data: [UInt8]) -> [UInt8] {
        let plain = ArchiveBuilder.gzip(data)
        var header: [UInt8] = [0x1F, 0x8B, 8, 0x04 | 0x08 | 0x10 | 0x02, 0, 0, 0, 0, 0, 3]
        header += [5, 0] + Array("extra".utf8)
        header += Array("name.txt".utf8) + [0]
        header += Array("a comment".utf8) + [0]
        header += [0xAB, 0xCD] // header CRC (not checked)
        return header + plain[10...] // the plain header has no optional fields
    }

    func testGzipStreamsOfEveryShapeGiveTheirBytes() {
        let a = self.text(300_000, seed: 1), b = self.text(70_000, seed: 2)
        XCTAssertEqual(self.inflate(ArchiveBuilder.gzip(a)).0, a)
        XCTAssertEqual(self.inflate(ArchiveBuilder.gzip(a)).1, .complete)
        XCTAssertEqual(self.inflate(self.gzipWithAllHeaderFields(b)).0, b)
        // members one after another (`cat a.gz b.gz`), one with header fields
        let both = self.inflate(ArchiveBuilder.gzip(a) + self.gzipWithAllHeaderFields(b))
        XCTAssertEqual(both.0, a + b)
        XCTAssertEqual(both.1, .complete)
        // an empty member
        XCTAssertEqual(self.inflate(ArchiveBuilder.gzip([])).0, [])
        XCTAssertEqual(self.inflate(ArchiveBuilder.gzip([])).1, .complete)
        // raw DEFLATE (zip members)
        XCTAssertEqual(self.inflate(ArchiveBuilder.deflate(a, windowBits: -15), gzip: false).0, a)
    }

    /// The size hint only sizes the first allocation: too small, too large, or absurd, the bytes are the same.
    func testAWrongSizeHintChangesNothing() {
        let a = self.text(2_500_000, seed: 3)
        let gz = ArchiveBuilder.gzip(a)
        for hint in [nil, 0, 1, 100, a.count, a.count * 10, Int(UInt32.max), Int.max] {
            let (out, outcome) = self.inflate(gz, hint: hint)
            XCTAssertEqual(out, a, "hint \(String(describing: hint))")
            XCTAssertEqual(outcome, .complete)
        }
        gz.withUnsafeBufferPointer { XCTAssertEqual(Inflate.gzipSizeHint($0), a.count) }
    }

    /// A right hint is the only allocation: the buffer is never grown (so never copied).
    func testARightSizeHintAllocatesOnce() {
        for count in [10, 70_000, 2_500_000] {
            let a = self.text(count, seed: UInt64(count))
            let gz = ArchiveBuilder.gzip(a)
            let before = Inflate.regrowths.withLock { $0 }
            let (out, outcome) = self.inflate(gz, hint: gz.withUnsafeBufferPointer { Inflate.gzipSizeHint($0) })
            XCTAssertEqual(out, a)
            XCTAssertEqual(outcome, .complete)
            XCTAssertEqual(Inflate.regrowths.withLock { $0 }, before, "\(count) bytes with a right hint grew the buffer")
        }
        // without one, a large member grows it (the counter counts)
        let big = self.text(3_000_000, seed: 9)
        let before = Inflate.regrowths.withLock { $0 }
        XCTAssertEqual(self.inflate(ArchiveBuilder.gzip(big)).0, big)
        XCTAssertGreaterThan(Inflate.regrowths.withLock { $0 }, before)
    }

    /// The trailer's CRC-32 and length are not checked: a member whose data inflates cleanly is complete, and
    /// every byte is there, whatever the checksum says.
    func testAWrongChecksumDoesNotStopTheScan() {
        let a = self.text(50_000, seed: 6)
        var gz = ArchiveBuilder.gzip(a)
        gz[gz.count - 8] ^= 0xFF // CRC-32
        gz[gz.count - 1] ^= 0x01 // ISIZE
        let (out, outcome) = self.inflate(gz)
        XCTAssertEqual(out, a)
        XCTAssertEqual(outcome, .complete)
    }

    /// At, under and over the limit: exactly `limit` bytes come out, and over it says so.
    func testTheLimitIsExact() {
        let a = self.text(1_000_000, seed: 4)
        let gz = ArchiveBuilder.gzip(a)
        XCTAssertEqual(self.inflate(gz, limit: a.count).1, .complete)
        let over = self.inflate(gz, limit: a.count - 1)
        XCTAssertEqual(over.1, .overLimit)
        XCTAssertEqual(over.0, Array(a.prefix(a.count - 1)))
        let small = self.inflate(gz, limit: 10, hint: a.count)
        XCTAssertEqual(small.0, Array(a.prefix(10)))
        XCTAssertEqual(small.1, .overLimit)
        XCTAssertEqual(self.inflate(gz, limit: 0).1, .overLimit)
    }

    /// Damage: a cut stream, a cut trailer, bytes after the last member, a bad header. What came out before it
    /// is kept.
    func testDamagedStreamsSayWhyAndKeepWhatInflated() {
        let a = self.text(200_000, seed: 5)
        let gz = ArchiveBuilder.gzip(a)
        let cut = self.inflate(Array(gz.prefix(gz.count / 2)))
        XCTAssertEqual(cut.1, .corrupt("stream ends early"))
        XCTAssertFalse(cut.0.isEmpty)
        XCTAssertEqual(cut.0, Array(a.prefix(cut.0.count)))
        let noTrailer = self.inflate(Array(gz.dropLast(3)))
        XCTAssertEqual(noTrailer.0, a)
        XCTAssertEqual(noTrailer.1, .corrupt("stream ends early"))
        let garbage = self.inflate(gz + Array("not gzip".utf8))
        XCTAssertEqual(garbage.0, a)
        XCTAssertEqual(garbage.1, .corrupt("incorrect header check"))
        XCTAssertEqual(self.inflate(Array("plain text, not gzip".utf8)).1, .corrupt("incorrect header check"))
        XCTAssertEqual(self.inflate(Array(gz.prefix(12))).1, .corrupt("stream ends early"))
        XCTAssertEqual(self.inflate([]).1, .corrupt("empty stream"))
        // zeros after the last member (padding to a block size, as gzip(1) accepts): nothing left unread
        for padding in [1, 7, 8, 512, 70_000] {
            let padded = self.inflate(gz + [UInt8](repeating: 0, count: padding))
            XCTAssertEqual(padded.0, a, "\(padding) zeros")
            XCTAssertEqual(padded.1, .complete, "\(padding) zeros")
        }
        // but zeros then more bytes are not padding
        XCTAssertEqual(self.inflate(gz + [0, 0, 0, 1]).1, .corrupt("incorrect header check"))
        // a header cut inside its name field
        XCTAssertEqual(self.inflate(Array(self.gzipWithAllHeaderFields(a).prefix(20))).1, .corrupt("incorrect header check"))
    }
}
