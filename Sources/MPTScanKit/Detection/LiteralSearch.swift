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

    /// Like `forEach`, but also finds the literal written as UTF-16 (each byte followed, little-endian, or
    /// preceded, big-endian, by a zero byte: wide strings in binaries and in files not decoded as UTF-16), in
    /// the same `memchr` pass. `body` gets the offset of the first byte and the form found.
    @inline(__always)
    func forEachForm(in buffer: UnsafeBufferPointer<UInt8>, starting range: Range<Int>, _ body: (Int, TextForm) -> Void) {
        guard let base = buffer.baseAddress, !range.isEmpty, !self.literal.isEmpty else { return }
        let pivot = self.pivot
        let pivotByte = self.literal[pivot]
        let n = self.literal.count
        let searchEnd = min(buffer.count, range.upperBound + 2 * pivot + 1)
        var position = range.lowerBound
        while position < searchEnd {
            guard let hit = memchr(base + position, Int32(pivotByte), searchEnd - position) else { return }
            let h = UnsafeRawPointer(hit) - UnsafeRawPointer(base)
            position = h + 1
            // plain bytes
            let at = h - pivot
            if at >= range.lowerBound && at < range.upperBound && at + n <= buffer.count {
                var equal = true
                for j in 0..<n where buffer[at + j] != self.literal[j] { equal = false; break }
                if equal { body(at, .bytes); continue }
            }
            // UTF-16LE: literal[i] at 2i, zero at 2i + 1; UTF-16BE: zero at 2i, literal[i] at 2i + 1. ASCII text
            // in one is the other shifted by a byte, so both may match around one hit (little-endian first).
            for form in [TextForm.utf16LE, .utf16BE] {
                let start = h - 2 * pivot - (form == .utf16BE ? 1 : 0)
                // range membership by the pivot-derived position shared by both readings of the same text,
                // so that they always land in the same call (and are told apart there)
                let position = h - 2 * pivot
                guard position >= range.lowerBound && position < range.upperBound && start >= 0 && start + 2 * n <= buffer.count else { continue }
                var equal = true
                for j in 0..<n {
                    let (char, zero) = form == .utf16LE ? (start + 2 * j, start + 2 * j + 1) : (start + 2 * j + 1, start + 2 * j)
                    if buffer[char] != self.literal[j] || buffer[zero] != 0 { equal = false; break }
                }
                if equal { body(start, form) }
            }
        }
    }

    /// Index of the byte least frequent in source text, by a fixed ranking of common characters (letters in
    /// English frequency order, digits, punctuation, then upper case); any byte not ranked wins.
    static func rarestIndex(_ literal: [UInt8]) -> Int {
        let common = Array("etaoinsrhldcumfpgwybvkxjqz\\0123456789 -_.,;:/\"'()[]{}<>=\n\tETAOINSRHLDCUMFPGWYBV".utf8)
        var best = 0, bestRank = -1
        for (i, c) in literal.enumerated() {
            let rank = common.firstIndex(of: c) ?? common.count
            if rank > bestRank { best = i; bestRank = rank }
        }
        return best
    }
}

/// Several literals found with few `memchr` passes: literals are grouped under a shared pivot byte (chosen
/// greedily: the byte in most uncovered literals, weighted by rarity in source text), and each hit of a pivot
/// is compared with every literal of its group. Twelve Base64 anchors cost three passes, not twelve.
struct MultiLiteralSearch: Sendable {
    /// One literal under its group's pivot: where its bytes are in `flat`, and where the pivot is in it.
    struct Member: Sendable {
        var literal: Int
        var start: Int
        var count: Int
        var offset: Int
    }
    /// All literals' bytes, one after another.
    let flat: [UInt8]
    /// Members grouped by pivot byte: `groupRanges` index into it.
    let members: [Member]
    let groupRanges: [Range<Int>]

    init(_ literals: [[UInt8]]) {
        var flat: [UInt8] = [], starts: [Int] = []
        for l in literals { starts.append(flat.count); flat += l }
        self.flat = flat
        let common = Array("etaoinsrhldcumfpgwybvkxjqz\\0123456789 -_.,;:/\"'()[]{}<>=\n\tETAOINSRHLDCUMFPGWYBV".utf8)
        func rank(_ c: UInt8) -> Int { common.firstIndex(of: c) ?? common.count }
        var uncovered = Set(literals.indices)
        var groups: [(UInt8, [(Int, Int)])] = []
        while !uncovered.isEmpty {
            var best: UInt8 = 0, bestScore = -1
            for c in Set(uncovered.flatMap { literals[$0] }) {
                let cover = uncovered.filter { literals[$0].contains(c) }.count
                let score = cover * (rank(c) + 1) * (rank(c) + 1) * (rank(c) + 1)
                if score > bestScore || (score == bestScore && c < best) { best = c; bestScore = score }
            }
            let members = uncovered.filter { literals[$0].contains(best) }.sorted().map { ($0, literals[$0].firstIndex(of: best)!) }
            groups.append((best, members))
            uncovered.subtract(members.map(\.0))
        }
        var members: [Member] = [], ranges: [Range<Int>] = []
        for (_, group) in groups {
            let first = members.count
            for (index, offset) in group {
                members.append(Member(literal: index, start: starts[index], count: literals[index].count, offset: offset))
            }
            ranges.append(first..<members.count)
        }
        self.members = members
        self.groupRanges = ranges
    }

    /// Calls `body(literal index, offset)` for every occurrence of a literal starting in `range` (an occurrence
    /// may run past `range`, not past the buffer). Order: by group, then by offset. No allocation or reference
    /// counting per hit: this runs over every byte scanned.
    func forEach(in buffer: UnsafeBufferPointer<UInt8>, starting range: Range<Int>, _ body: (Int, Int) -> Void) {
        guard let base = buffer.baseAddress, !range.isEmpty else { return }
        self.flat.withUnsafeBufferPointer { flat in
            self.members.withUnsafeBufferPointer { members in
                for group in self.groupRanges {
                    let pivot = Int32(flat[members[group.lowerBound].start + members[group.lowerBound].offset])
                    var maxOffset = 0
                    for m in group { maxOffset = max(maxOffset, members[m].offset) }
                    let searchEnd = min(buffer.count, range.upperBound + maxOffset)
                    var position = range.lowerBound
                    while position < searchEnd {
                        guard let hit = memchr(base + position, pivot, searchEnd - position) else { break }
                        let h = UnsafeRawPointer(hit) - UnsafeRawPointer(base)
                        position = h + 1
                        for m in group {
                            let member = members[m]
                            let at = h - member.offset
                            guard at >= range.lowerBound, at < range.upperBound, at + member.count <= buffer.count else { continue }
                            var equal = true
                            for j in 0..<member.count where buffer[at + j] != flat[member.start + j] { equal = false; break }
                            if equal { body(member.literal, at) }
                        }
                    }
                }
            }
        }
    }
}
