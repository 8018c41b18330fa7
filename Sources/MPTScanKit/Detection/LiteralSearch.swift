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
        // the byte after the pivot in every form: the literal's next byte (plain) or a zero (UTF-16 either way)
        let next = pivot + 1 < n ? self.literal[pivot + 1] : nil
        while position < searchEnd {
            guard let hit = memchr(base + position, Int32(pivotByte), searchEnd - position) else { return }
            let h = UnsafeRawPointer(hit) - UnsafeRawPointer(base)
            position = h + 1
            // most stops end here: one byte read, no compare
            if let next, h + 1 < buffer.count, buffer[h + 1] != next, buffer[h + 1] != 0 { continue }
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

    /// Index of the byte least frequent in source text (`ByteFrequency`).
    static func rarestIndex(_ literal: [UInt8]) -> Int {
        var best = 0
        for (i, c) in literal.enumerated() where ByteFrequency.per100k[Int(c)] < ByteFrequency.per100k[Int(literal[best])] { best = i }
        return best
    }
}

/// Several literals found with few `memchr` passes: literals are grouped under a shared pivot byte (chosen
/// by set cover: greedily, the byte in most uncovered literals per occurrence in source text, then replaced by
/// the cheapest cover found when there is a cheaper one), and at each hit of a pivot only the literals whose
/// neighbours match are compared. Each pivot is one pass over the bytes: the 129 Base64 anchors of four layers
/// cost three passes (`U`, `V`, `W`); with every other decoder's anchors (`CombinedAnchors`), five in all at
/// decode depths 2 and 3, four at 0 and 1 (the joined literals' `+` is a pass of its own).
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
    /// Members, grouped by pivot byte and, within a group, by the byte after the pivot (257 buckets per group:
    /// bytes 0…255, then members whose pivot is their last byte). Bucket `k` of group `g` is
    /// `members[bucketStart[g * 258 + k] ..< bucketStart[g * 258 + k + 1]]`.
    let members: [Member]
    let bucketStart: [Int32]
    /// Per group: its pivot byte and the largest pivot offset among its members.
    let pivots: [(byte: UInt8, maxOffset: Int)]
    /// Per group, a 65,536-bit set (1,024 words) of the byte pairs (byte before the pivot, byte after it) that
    /// some member has around its pivot, a member whose pivot is its first (last) byte allowing any byte before
    /// (after) it: bit `before << 8 | after` of group `g` is bit `(before << 8 | after) & 63` of word
    /// `g * 1024 + (before << 8 | after) >> 6`. A pivot hit whose neighbours are not in the set cannot start
    /// any member, so it costs two byte reads, not a bucket walk. Hits at the buffer's first or last byte are
    /// not filtered.
    let neighbours: [UInt64]

    /// What one `memchr` pass over 100 KB costs, in stops (a stop: `memchr` returns at an occurrence of the
    /// pivot and is called again). Measured on 200 MB of the benchmark tree's files, each in cache (2-core
    /// x86-64 VM, glibc's EVEX `memchr`): a pass of a byte that never occurs took 3.2 ms (16 ns per KB, 1.6 µs
    /// per 100 KB), each stop 18 ns more, so a pass costs about 90 stops (docs/PERFORMANCE.md, sixth session).
    static let passCost = 90

    /// Steps the cheapest-cover search may take (about 25 ms on the benchmark VM) before it settles for the
    /// best cover found: start-up must stay short whatever literal sets custom rules give.
    static let maxCoverSteps = 200_000

    /// The literals holding each byte value, as bit sets: `words` words per byte (bit `i % 64` of word
    /// `byte * words + i / 64` is set when literal `i` holds `byte`), for the greedy and the cheapest cover.
    private static func holders(_ literals: [[UInt8]]) -> (words: Int, sets: [UInt64]) {
        let words = (literals.count + 63) / 64
        var sets = [UInt64](repeating: 0, count: 256 * words)
        for (index, literal) in literals.enumerated() {
            for byte in literal { sets[Int(byte) * words + index / 64] |= 1 << UInt64(index % 64) }
        }
        return (words, sets)
    }

    init(_ literals: [[UInt8]]) {
        var flat: [UInt8] = [], starts: [Int] = []
        for l in literals { starts.append(flat.count); flat += l }
        self.flat = flat
        // greedy set cover: each pass costs one memchr stop per occurrence of its pivot and a pass itself as much
        // as `passCost` stops, so pick the byte covering the most remaining literals per cost
        // (on bit sets of literals per byte: no set of indices per candidate)
        precondition(!literals.contains { $0.isEmpty }, "an empty literal has no pivot")
        let (words, holders) = Self.holders(literals)
        var uncovered = [UInt64](repeating: 0, count: words)
        for index in literals.indices { uncovered[index / 64] |= 1 << UInt64(index % 64) }
        var groups: [(UInt8, [(Int, Int)])] = []
        while uncovered.contains(where: { $0 != 0 }) {
            var best = 0, bestScore = -1.0
            for byte in 0..<256 {
                var cover = 0
                for w in 0..<words { cover += (holders[byte * words + w] & uncovered[w]).nonzeroBitCount }
                guard cover > 0 else { continue }
                // ties go to the lower byte (the first one met)
                let score = Double(cover) / Double(ByteFrequency.per100k[byte] + Self.passCost)
                if score > bestScore { best = byte; bestScore = score }
            }
            var members: [(Int, Int)] = []
            for w in 0..<words {
                var bits = holders[best * words + w] & uncovered[w]
                uncovered[w] &= ~bits
                while bits != 0 {
                    let index = w * 64 + bits.trailingZeroBitCount
                    members.append((index, literals[index].firstIndex(of: UInt8(best))!))
                    bits &= bits - 1
                }
            }
            groups.append((UInt8(best), members))
        }
        if let cheapest = Self.cheapestCover(literals, than: groups.map(\.0), holders: (words, holders)) {
            // each literal under the rarest pivot it holds
            var byPivot: [UInt8: [(Int, Int)]] = [:]
            for index in literals.indices {
                let pivot = cheapest.filter { literals[index].contains($0) }.min { ByteFrequency.per100k[Int($0)] < ByteFrequency.per100k[Int($1)] }!
                byPivot[pivot, default: []].append((index, literals[index].firstIndex(of: pivot)!))
            }
            groups = cheapest.compactMap { pivot in byPivot[pivot].map { (pivot, $0) } }
        }
        var members: [Member] = [], bucketStart: [Int32] = [], pivots: [(byte: UInt8, maxOffset: Int)] = []
        var neighbours = [UInt64](repeating: 0, count: groups.count * 1024)
        for (g, (pivot, group)) in groups.enumerated() {
            pivots.append((pivot, group.map(\.1).max() ?? 0))
            for (index, offset) in group {
                let literal = literals[index]
                let befores = offset > 0 ? [Int(literal[offset - 1])] : Array(0..<256)
                let afters = offset + 1 < literal.count ? [Int(literal[offset + 1])] : Array(0..<256)
                for before in befores {
                    for after in afters {
                        let key = before << 8 | after
                        neighbours[g * 1024 + key >> 6] |= 1 << UInt64(key & 63)
                    }
                }
            }
            for key in 0...256 {
                bucketStart.append(Int32(members.count))
                for (index, offset) in group {
                    let literal = literals[index]
                    let next = offset + 1 < literal.count ? Int(literal[offset + 1]) : 256
                    if next == key { members.append(Member(literal: index, start: starts[index], count: literal.count, offset: offset)) }
                }
            }
            bucketStart.append(Int32(members.count))
        }
        self.members = members
        self.bucketStart = bucketStart
        self.pivots = pivots
        self.neighbours = neighbours
    }

    /// The cheapest set of bytes, at most as many as `greedy`, such that every literal holds one (a minimum-cost
    /// set cover), when it costs less than `greedy` (cost: occurrences in source text plus `passCost` per pass);
    /// nil otherwise. Branch and bound over the bit sets of literals per byte: the first literal no chosen byte
    /// covers must be covered by one of its own bytes, so each level branches over that literal's bytes only
    /// (cheapest first), and a branch ends as soon as its cost reaches the best found (the greedy's to begin with).
    /// The built-in anchors (155 literals with every decoder's) take about 3,000 steps. Literal sets that share
    /// few bytes can take exponentially many: the search stops after `maxCoverSteps` steps with the best cover
    /// found by then (a cover all the same, only perhaps not the cheapest).
    static func cheapestCover(_ literals: [[UInt8]], than greedy: [UInt8], holders: (words: Int, sets: [UInt64])? = nil) -> [UInt8]? {
        Self.cheapestCoverSearch(literals, than: greedy, holders: holders).cover
    }

    /// `cheapestCover`, with the number of steps the search took (tests: at most `maxCoverSteps` + 1).
    static func cheapestCoverSearch(_ literals: [[UInt8]], than greedy: [UInt8], holders: (words: Int, sets: [UInt64])? = nil) -> (cover: [UInt8]?, steps: Int) {
        guard !literals.isEmpty, greedy.count > 1 else { return (nil, 0) }
        let price = (0..<256).map { ByteFrequency.per100k[$0] + Self.passCost }
        let (words, sets) = holders ?? Self.holders(literals)
        // the bytes some literal holds, cheapest first (ties: lower byte)
        let order = (0..<256).filter { byte in (0..<words).contains { sets[byte * words + $0] != 0 } }
            .sorted { (price[$0], $0) < (price[$1], $1) }
        var best: [UInt8]? = nil
        var bestCost = greedy.reduce(0) { $0 + price[Int($1)] }
        // the literals covered at each depth of the search, `words` words per depth (no allocation per step)
        var covered = [UInt64](repeating: 0, count: (greedy.count + 1) * words)
        // bits past the last literal count as covered
        if literals.count % 64 != 0 { covered[words - 1] = ~((1 << UInt64(literals.count % 64)) - 1) }
        var chosen: [UInt8] = []
        var steps = 0
        func search(depth: Int, cost: Int) {
            steps += 1
            guard steps <= Self.maxCoverSteps else { return }
            // the first literal not covered yet
            var first = -1
            for w in 0..<words where covered[depth * words + w] != ~0 {
                first = w * 64 + (~covered[depth * words + w]).trailingZeroBitCount
                break
            }
            guard first >= 0 else {
                best = chosen
                bestCost = cost
                return
            }
            guard depth < greedy.count else { return }
            let (firstWord, firstBit) = (first / 64, UInt64(1) << UInt64(first % 64))
            for byte in order where sets[byte * words + firstWord] & firstBit != 0 {
                let next = cost + price[byte]
                guard next < bestCost else { break } // the rest cost more still
                for w in 0..<words { covered[(depth + 1) * words + w] = covered[depth * words + w] | sets[byte * words + w] }
                chosen.append(UInt8(byte))
                search(depth: depth + 1, cost: next)
                chosen.removeLast()
                if steps > Self.maxCoverSteps { break }
            }
        }
        search(depth: 0, cost: 0)
        return (best.map { $0.sorted() }, steps)
    }

    /// Calls `body(literal index, offset)` for every occurrence of a literal starting in `range` (an occurrence
    /// may run past `range`, not past the buffer). Order: by group, then by the position of the pivot byte in
    /// `buffer` (`hitsInTextOrder` gives text order). No allocation or reference counting per hit: this runs
    /// over every byte scanned.
    func forEach(in buffer: UnsafeBufferPointer<UInt8>, starting range: Range<Int>, _ body: (Int, Int) -> Void) {
        guard buffer.baseAddress != nil, !range.isEmpty else { return }
        self.flat.withUnsafeBufferPointer { flat in
            self.members.withUnsafeBufferPointer { members in
                self.bucketStart.withUnsafeBufferPointer { buckets in
                    self.neighbours.withUnsafeBufferPointer { neighbours in
                        for g in self.pivots.indices {
                            Self.forEach(group: g, pivot: self.pivots[g], in: buffer, starting: range, flat: flat, members: members,
                                         buckets: buckets, neighbours: neighbours, body)
                        }
                    }
                }
            }
        }
    }

    /// The hits of `forEach`, in text order: by offset, then by literal index, as (literal index, 0-based byte
    /// offset into `buffer`). `forEach` goes group by group, and within a group by the position of the pivot byte,
    /// not by the literal's start (members hold the pivot at different places, and one ending at it comes after
    /// those that go on), so the hits (few: whole literals found) are collected and sorted. For the decoders
    /// whose state assumes increasing offsets (the end of the last span decoded, of the last JWT reported).
    func hitsInTextOrder(in buffer: UnsafeBufferPointer<UInt8>, starting range: Range<Int>) -> [(literal: Int, at: Int)] {
        var hits: [(literal: Int, at: Int)] = []
        self.forEach(in: buffer, starting: range) { literal, at in hits.append((literal, at)) }
        if hits.count > 1 { hits.sort { ($0.at, $0.literal) < ($1.at, $1.literal) } }
        return hits
    }

    /// `forEach` for the members of group `g`.
    @inline(__always)
    private static func forEach(group g: Int, pivot: (byte: UInt8, maxOffset: Int), in buffer: UnsafeBufferPointer<UInt8>,
                                starting range: Range<Int>, flat: UnsafeBufferPointer<UInt8>, members: UnsafeBufferPointer<Member>,
                                buckets: UnsafeBufferPointer<Int32>, neighbours: UnsafeBufferPointer<UInt64>, _ body: (Int, Int) -> Void) {
        guard let base = buffer.baseAddress else { return }
        let searchEnd = min(buffer.count, range.upperBound + pivot.maxOffset)
        var position = range.lowerBound
        while position < searchEnd {
            guard let hit = memchr(base + position, Int32(pivot.byte), searchEnd - position) else { break }
            let h = UnsafeRawPointer(hit) - UnsafeRawPointer(base)
            position = h + 1
            // most stops end here: no member has these bytes before and after its pivot
            if h > 0 && h + 1 < buffer.count {
                let key = Int(buffer[h - 1]) &<< 8 | Int(buffer[h + 1])
                if neighbours[g &* 1024 &+ key &>> 6] & (1 &<< UInt64(key & 63)) == 0 { continue }
            }
            // the members whose byte after the pivot is the buffer's, then those ending at it
            let next = h + 1 < buffer.count ? Int(buffer[h + 1]) : -1
            for pass in 0..<2 {
                let key = pass == 0 ? next : 256
                if key < 0 { continue }
                let first = Int(buckets[g * 258 + key]), last = Int(buckets[g * 258 + key + 1])
                for m in first..<last {
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

/// How often each byte value occurs in source trees, per 100,000 bytes (at least 1): measured on 160 MB of
/// `/work/corpus/js-mix` (six JS/TS projects) and the generated benchmark tree (`scripts/gen-tree.py`), the
/// first 200 KB of each file. A `memchr` search anchors on the rarest byte of a literal, so fewer false stops.
enum ByteFrequency {
    static let per100k: [Int] = [
        316, 50, 47, 50, 41, 38, 37, 37, 39, 36, 2480, 38, 37, 38, 35, 42,
        38, 34, 35, 35, 35, 34, 34, 36, 36, 34, 34, 34, 34, 34, 35, 36,
        14544, 89, 2272, 127, 88, 40, 91, 446, 1116, 1117, 245, 102, 1342, 296, 1172, 533,
        283, 405, 306, 227, 204, 188, 188, 174, 191, 170, 1498, 880, 155, 621, 294, 130,
        105, 738, 240, 412, 183, 310, 168, 229, 131, 239, 96, 82, 172, 178, 147, 167,
        236, 92, 265, 371, 223, 160, 135, 111, 70, 71, 66, 143, 61, 143, 42, 527,
        184, 3252, 665, 2434, 1716, 7535, 1057, 982, 958, 2989, 205, 353, 2304, 1387, 3953, 3664,
        1686, 221, 4982, 3359, 5097, 2260, 688, 385, 613, 545, 111, 901, 183, 901, 36, 37,
        44, 34, 36, 39, 35, 36, 35, 35, 34, 45, 34, 42, 34, 38, 34, 34,
        34, 35, 34, 35, 43, 34, 34, 35, 35, 33, 34, 34, 35, 35, 35, 35,
        35, 34, 33, 35, 33, 34, 34, 35, 35, 35, 36, 34, 34, 35, 34, 34,
        34, 34, 34, 35, 34, 34, 35, 35, 35, 35, 34, 35, 35, 35, 34, 35,
        37, 36, 35, 36, 34, 35, 35, 36, 35, 35, 34, 35, 34, 34, 34, 35,
        35, 35, 35, 35, 33, 34, 35, 34, 35, 35, 34, 34, 33, 35, 35, 35,
        37, 35, 44, 36, 34, 34, 35, 35, 38, 36, 34, 37, 34, 35, 34, 35,
        36, 35, 34, 36, 34, 35, 35, 36, 36, 38, 35, 35, 35, 36, 37, 126,
    ]
}
