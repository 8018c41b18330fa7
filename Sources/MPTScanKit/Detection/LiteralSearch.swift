#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Finds a short byte literal: `memchr` (vectorised in glibc and Darwin's libc) for the literal's rarest byte,
/// then a byte compare. glibc's `memmem` is not vectorised, and this is the scanner's hot loop.
struct LiteralSearch: Sendable {
    /// The literal, e.g. `TKN-`.
    let literal: [UInt8]
    /// Index in `literal` of the byte searched with `memchr`.
    let pivot: Int

    init(_ literal: [UInt8]) {
        self.literal = literal
        self.pivot = Self.rarestIndex(literal)
    }

    /// Calls `body` with the offset of every occurrence starting in `range` (0-based offsets into `buffer`;
    /// an occurrence may run past `range`, not past the buffer), in increasing order.
    @inline(__always)
    func forEach(in buffer: UnsafeBufferPointer<UInt8>, starting range: Range<Int>, _ body: (Int) -> Void) {
        guard let base = buffer.baseAddress, !range.isEmpty, !self.literal.isEmpty else { return }
        let pivot = self.pivot
        let pivotByte = Int32(self.literal[pivot])
        let searchEnd = min(buffer.count, range.upperBound + pivot)
        var position = range.lowerBound + pivot
        while position < searchEnd {
            guard let hit = memchr(base + position, pivotByte, searchEnd - position) else { return }
            let at = UnsafeRawPointer(hit) - UnsafeRawPointer(base) - pivot
            position = at + pivot + 1
            guard at + self.literal.count <= buffer.count else { continue }
            var equal = true
            for j in 0..<self.literal.count where buffer[at + j] != self.literal[j] { equal = false; break }
            if equal { body(at) }
        }
    }

    /// Index of the byte least frequent in source text, by a fixed ranking of common characters (letters in
    /// English frequency order, digits, punctuation, then upper case); any byte not ranked wins.
    static func rarestIndex(_ literal: [UInt8]) -> Int {
        let common = Array("etaoinsrhldcumfpgwybvkxjqz0123456789 -_.,;:/\"'()[]{}<>=\n\tETAOINSRHLDCUMFPGWYBV".utf8)
        var best = 0, bestRank = -1
        for (i, c) in literal.enumerated() {
            let rank = common.firstIndex(of: c) ?? common.count
            if rank > bestRank { best = i; bestRank = rank }
        }
        return best
    }
}
