import XCTest
@testable import MPTScanKit
import _MPTScanTestSupport

/// The anchor searches skip most pivot hits after reading the bytes around them (`MultiLiteralSearch.neighbours`,
/// the byte after `LiteralSearch`'s pivot): checked against a naive search on seeded random buffers full of
/// near misses, with literals at offset 0, ending at the last byte, and straddling the edges of the range asked
/// about.
final class LiteralSearchTests: XCTestCase {
    /// Every (literal, offset) a naive compare finds starting in `range`.
    func naive(_ literals: [[UInt8]], _ buffer: [UInt8], _ range: Range<Int>) -> Set<[Int]> {
        var out = Set<[Int]>()
        for (index, literal) in literals.enumerated() {
            for at in range where at + literal.count <= buffer.count && Array(buffer[at..<(at + literal.count)]) == literal {
                out.insert([index, at])
            }
        }
        return out
    }

    /// A buffer of fragments of the literals (each pivot with wrong and right neighbours) and random bytes,
    /// with whole literals planted at the start, at the end and at random places.
    func buffer(_ literals: [[UInt8]], seed: UInt64, count: Int) -> [UInt8] {
        var rng = SplitMix(seed: seed)
        var out: [UInt8] = []
        let noise = Array("+=.\"' \n\0%&\\6K2UVWNS5".utf8) + SyntheticTokens.alphabet
        while out.count < count {
            let literal = literals[Int(rng.next() % UInt64(literals.count))]
            switch rng.next() % 4 {
            case 0: out += literal
            case 1: // a fragment: a literal cut short, or with one byte changed
                var part = Array(literal.prefix(Int(rng.next() % UInt64(literal.count))))
                if !part.isEmpty { part[Int(rng.next() % UInt64(part.count))] = noise[Int(rng.next() % UInt64(noise.count))] }
                out += part
            case 2: out += Array(literal.suffix(Int(rng.next() % UInt64(literal.count))))
            default: out.append(noise[Int(rng.next() % UInt64(noise.count))])
            }
        }
        let first = literals[Int(seed % UInt64(literals.count))], last = literals[Int((seed / 7) % UInt64(literals.count))]
        return first + out + last
    }

    func check(_ literals: [[UInt8]], seeds: Range<UInt64>, count: Int, file: StaticString = #filePath, line: UInt = #line) {
        let search = MultiLiteralSearch(literals)
        for seed in seeds {
            let bytes = self.buffer(literals, seed: seed, count: count)
            let n = bytes.count
            // the whole buffer, and ranges cut inside literals at both ends
            for range in [0..<n, 1..<(n - 1), (n / 3)..<(2 * n / 3), 0..<1, (n - 1)..<n] {
                var found = Set<[Int]>()
                bytes.withUnsafeBufferPointer { b in search.forEach(in: b, starting: range) { found.insert([$0, $1]) } }
                XCTAssertEqual(found, self.naive(literals, bytes, range), "seed \(seed), range \(range)", file: file, line: line)
                // in text order: the same hits, by offset then literal
                var ordered: [[Int]] = []
                bytes.withUnsafeBufferPointer { b in ordered = search.hitsInTextOrder(in: b, starting: range).map { [$0.literal, $0.at] } }
                XCTAssertEqual(ordered, found.sorted { ($0[1], $0[0]) < ($1[1], $1[0]) }, "text order: seed \(seed), range \(range)", file: file, line: line)
            }
        }
    }

    func testBase64AnchorsMatchANaiveSearch() {
        for (_, indices) in Base64Tokens.outerSearches + Base64Tokens.layerSearches where !indices.isEmpty {
            self.check(indices.map { Array(Base64Tokens.anchors[$0].literal.utf8) }, seeds: 0..<4, count: 3000)
        }
    }

    func testEscapeAnchorsMatchANaiveSearch() {
        self.check(EscapedTokens.anchors.map { Array($0.literal.utf8) }, seeds: 10..<20, count: 4000)
    }

    func testJWTAnchorsMatchANaiveSearch() {
        let literals = Base64Anchors.forms(of: Array("softwareone.com".utf8)).map(\.literal)
        self.check(literals, seeds: 20..<30, count: 4000)
    }

    /// Literals of one byte, and literals whose pivot is their first or last byte: the neighbour filter lets
    /// any byte through on the side a literal does not have.
    func testPivotsAtTheEdgesOfLiteralsAndOneByteLiterals() {
        self.check([[0x51], [0x51, 0x61], [0x62, 0x51], [0x63, 0x51, 0x64]], seeds: 30..<40, count: 500)
        self.check([Array("QXZ".utf8), Array("ZQ".utf8), Array("XQZQX".utf8)], seeds: 40..<50, count: 500)
        // one pivot at one place, one literal ending at it and one going on: same start, text order by index
        self.check([Array("xQ".utf8), Array("xQb".utf8)], seeds: 50..<60, count: 500)
    }

    /// The pivot bytes of the built-in searches, in the order their passes run. They follow from `MultiLiteralSearch.passCost` and
    /// `ByteFrequency`: a change to either shows here, and the scan's speed should be measured again
    /// (docs/PERFORMANCE.md).
    func testPivotsOfTheBuiltInSearches() {
        func pivots(_ search: MultiLiteralSearch) -> String { String(decoding: search.pivots.map(\.byte), as: UTF8.self) }
        XCTAssertEqual(Base64Tokens.outerSearches.map { pivots($0.search) }, ["LU", "UVW", "UVW", "UVW"])
        XCTAssertEqual(Base64Tokens.layerSearches.map { pivots($0.search) }, ["", "LU", "VZ", "VU", "ZV"])
        XCTAssertEqual(pivots(EscapedTokens.search), "6")
        XCTAssertEqual(pivots(MultiLiteralSearch(Base64Anchors.forms(of: Array("softwareone.com".utf8)).map(\.literal))), "ZY")
    }

    /// The cheapest cover is the cheapest: on seeded random literal sets over a ten-byte alphabet, compared with
    /// every subset of the alphabet (1,024), starting from the worst cover (every byte the literals hold); the
    /// search's own pivots always cover the literals.
    func testTheCheapestCoverIsTheCheapest() {
        var rng = SplitMix(seed: 7)
        let alphabet = Array("AEKNTUVZ46".utf8)
        func cost(_ set: [UInt8]) -> Int { set.reduce(0) { $0 + ByteFrequency.per100k[Int($1)] + MultiLiteralSearch.passCost } }
        var sizes: [Int: Int] = [:]
        for round in 0..<60 {
            let literals = (0..<(2 + Int(rng.next() % 16))).map { _ in (0..<(1 + Int(rng.next() % 4))).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] } }
            func covers(_ set: [UInt8]) -> Bool { literals.allSatisfy { l in set.contains { l.contains($0) } } }
            let held = Array(Set(literals.joined())).sorted()
            var best = cost(held)
            for mask in 1..<(1 << alphabet.count) {
                let set = alphabet.indices.filter { mask & (1 << $0) != 0 }.map { alphabet[$0] }
                if cost(set) < best && covers(set) { best = cost(set) }
            }
            let cheapest = MultiLiteralSearch.cheapestCover(literals, than: held)
            XCTAssertEqual(cheapest.map(cost) ?? cost(held), best, "round \(round): \(literals.map { String(decoding: $0, as: UTF8.self) })")
            if let cheapest { XCTAssertTrue(covers(cheapest), "round \(round)") }
            sizes[(cheapest ?? held).count, default: 0] += 1
            let greedy = MultiLiteralSearch(literals).pivots.map(\.byte)
            XCTAssertTrue(covers(greedy), "round \(round)")
        }
        XCTAssertGreaterThan(sizes.filter { $0.key >= 4 }.values.reduce(0, +), 0, "some covers need four bytes or more: \(sizes)")
    }

    /// Literal sets that share few bytes (a custom rule set's anchors, each with its UTF-16 form) make the
    /// search exponential: it stops after `maxCoverSteps` steps with a cover all the same.
    func testTheCoverSearchIsBoundedOnHostileLiteralSets() {
        var rng = SplitMix(seed: 99)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        var literals: [[UInt8]] = []
        for _ in 0..<80 {
            let anchor = (0..<4).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            literals.append(anchor)
            literals.append(Array(anchor.map { [$0, 0] }.joined().dropLast()))
        }
        let greedy = MultiLiteralSearch(literals).pivots.map(\.byte)
        let (cover, steps) = MultiLiteralSearch.cheapestCoverSearch(literals, than: greedy)
        XCTAssertLessThanOrEqual(steps, MultiLiteralSearch.maxCoverSteps + 1)
        XCTAssertGreaterThan(steps, 1_000, "the set is hostile enough to need the bound")
        let chosen = cover ?? greedy
        XCTAssertTrue(literals.allSatisfy { l in chosen.contains { l.contains($0) } })
    }

    /// `TKN-` plain and as UTF-16 both ways, next to near misses (`TK-`, `TKNN`, `K` before a zero that is
    /// no UTF-16), at offset 0 and ending at the last byte.
    func testIDPrefixFormsMatchANaiveSearch() {
        let search = LiteralSearch(Array("TKN-".utf8))
        let plain = Array("TKN-".utf8)
        let le: [UInt8] = plain.flatMap { [$0, 0] }, be: [UInt8] = plain.flatMap { [0, $0] }
        var rng = SplitMix(seed: 77)
        let pieces: [[UInt8]] = [plain, le, be, Array("TK-".utf8), Array("TKNN".utf8), [0x4B, 0], [0, 0x4B, 0, 0x4E], Array("xK".utf8), [0x20]]
        for round in 0..<40 {
            var bytes = round % 3 == 0 ? le : round % 3 == 1 ? be : plain
            while bytes.count < 300 { bytes += pieces[Int(rng.next() % UInt64(pieces.count))] }
            bytes += round % 2 == 0 ? plain : le
            var found: [[Int]] = []
            bytes.withUnsafeBufferPointer { b in
                search.forEachForm(in: b, starting: 0..<b.count) { at, form in found.append([at, form == .bytes ? 0 : form == .utf16LE ? 1 : 2]) }
            }
            var expected: [[Int]] = []
            for at in bytes.indices {
                for (form, literal) in [(0, plain), (1, le), (2, be)] where at + literal.count <= bytes.count && Array(bytes[at..<(at + literal.count)]) == literal {
                    expected.append([at, form])
                }
            }
            XCTAssertEqual(Set(found), Set(expected), "round \(round)")
        }
    }
}
