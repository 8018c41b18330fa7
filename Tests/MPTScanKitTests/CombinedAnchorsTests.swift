import Foundation
import XCTest
@testable import MPTScanKit
import _MPTScanTestSupport

/// `CombinedAnchors` finds every decoder's anchors in one search and hands each decoder its hits: what it
/// reports must be what the decoders report each with its own search, for any range of anchors asked about.
final class CombinedAnchorsTests: XCTestCase {
    let detector = TokenDetector(rules: BuiltinRules.all)
    static let ns = "https://claims.softwareone.com/"

    /// One candidate as compared: where, whose, what, how decoded, in which text form.
    struct Seen: Hashable, CustomStringConvertible {
        var start: Int, end: Int, rule: Int, canonical: String, decodings: [String], form: String
        init(_ c: Candidate) {
            (self.start, self.end, self.rule, self.canonical, self.decodings, self.form) = (c.start, c.end, c.ruleIndex, c.canonical, c.decodings, "\(c.form)")
        }
        var description: String { "\(self.start)..<\(self.end) rule \(self.rule) \(self.decodings) \(self.form)" }
    }

    /// Pieces a buffer is made of: tokens as written, in Base64 once to three times, escaped, split across joined
    /// literals, as UTF-16 both ways, platform JWTs, and near misses and noise around them.
    func pieces(_ rng: inout SplitMix) -> [[UInt8]] {
        let seed = 1 + Int(rng.next() % UInt64(SyntheticTokens.seedBound - 1))
        let token = SyntheticTokens.token(seed: seed)
        var b64 = token
        var out: [[UInt8]] = [Array(token.utf8), Array("TKN-1234-".utf8), Array("idt:TK".utf8), Array(" \n".utf8), [0, 0x4B, 0, 0x4E]]
        for _ in 0..<3 {
            b64 = Data(("x" + b64 + " ").utf8).base64EncodedString()
            out.append(Array(b64.utf8))
        }
        let escaped = token.utf8.map { String(format: "%%%02X", $0) }.joined()
        out.append(Array(escaped.utf8))
        out.append(Array(token.utf8.map { "&#\($0);" }.joined().utf8))
        let half = token.count / 2
        out.append(Array("\"\(token.prefix(half))\" + \"\(token.dropFirst(half))\"".utf8))
        out.append(Array(token.utf8).flatMap { [$0, 0] })
        out.append(Array(token.utf8).flatMap { [0, $0] })
        let jwt = SyntheticTokens.jwt(seed: seed, claims: #"{"\#(Self.ns)userId":"USR-1111-2222","exp":4102444800}"#)
        out.append(Array(jwt.utf8))
        out.append(Array("UVWT4Z&6+KYZ".utf8))
        out.append((0..<(1 + Int(rng.next() % 40))).map { _ in SyntheticTokens.alphabet[Int(rng.next() % UInt64(SyntheticTokens.alphabet.count))] })
        return out
    }

    func testOneSearchFindsWhatEachDecoderFindsAlone() {
        var rng = SplitMix(seed: 4242)
        for depth in 0...ScanLimits.deepestDecoding {
            let anchors = self.detector.combinedAnchors(depth: depth)
            var hits = CombinedAnchors.Hits()
            for round in 0..<60 {
                let choice = self.pieces(&rng)
                var buffer: [UInt8] = []
                for _ in 0..<(2 + Int(rng.next() % 6)) { buffer += choice[Int(rng.next() % UInt64(choice.count))] }
                buffer.withUnsafeBufferPointer { b in
                    // the whole buffer, and a range inside it (a streaming caller's)
                    let lo = Int(rng.next() % UInt64(b.count / 2 + 1)), hi = lo + Int(rng.next() % UInt64(b.count - lo + 1))
                    for range in [0..<b.count, lo..<hi] {
                        var alone: [Seen] = [], aloneOver: [Int] = []
                        var ids: [Int] = []
                        self.detector.scan(b, anchorRange: range, idPrefixHits: &ids) { alone.append(Seen($0)) }
                        Base64Tokens.forEach(in: b, anchorRange: range, detector: self.detector, maxDepth: depth, overLimit: { aloneOver.append($0) }) { alone.append(Seen($0)) }
                        EscapedTokens.forEach(in: b, anchorRange: range, detector: self.detector, maxDepth: depth, overLimit: { aloneOver.append($0) }) { alone.append(Seen($0)) }
                        JoinedLiterals.forEach(in: b, anchorRange: range, detector: self.detector, stringDepth: 0, idPrefixHits: ids) { alone.append(Seen($0)) }
                        var together: [Seen] = [], togetherOver: [Int] = [], togetherIDs: [Int] = []
                        anchors.candidates(in: b, range: range, detector: self.detector, hits: &hits, idPrefixHits: &togetherIDs,
                                           overLimit: { togetherOver.append($0) }) { together.append(Seen($0)) }
                        XCTAssertEqual(Set(together), Set(alone), "depth \(depth), round \(round), range \(range)")
                        XCTAssertEqual(together.count, alone.count, "depth \(depth), round \(round), range \(range): as often")
                        XCTAssertEqual(togetherOver.sorted(), aloneOver.sorted(), "depth \(depth), round \(round)")
                        XCTAssertEqual(togetherIDs, ids, "depth \(depth), round \(round): the id prefixes, in order")
                    }
                }
            }
        }
    }

    /// The pivot bytes of the combined search at each decode depth: a change shows here, and the scan's speed
    /// should be measured again (docs/PERFORMANCE.md).
    func testPivotsOfTheCombinedSearch() {
        let pivots = (0...ScanLimits.deepestDecoding).map { String(decoding: self.detector.combinedAnchors(depth: $0).search.pivots.map(\.byte), as: UTF8.self) }
        XCTAssertEqual(pivots, ["6TUZ", "6TUZ", "&4TVZ", "&4TVZ"])
    }

    /// Every literal is found at all: the wide id anchor at the start and end of a buffer, each Base64, escape
    /// and JWT anchor alone.
    func testEveryLiteralAloneIsFound() {
        let anchors = self.detector.combinedAnchors(depth: ScanLimits.deepestDecoding)
        var hits = CombinedAnchors.Hits()
        for (index, owner) in anchors.owners.enumerated() {
            let literal: [UInt8]
            switch owner {
            case .idAnchor(let s): literal = self.detector.anchorLiterals[s]
            case .wideIDAnchor(let s): literal = self.detector.anchorLiterals[s].flatMap { [$0, 0] }
            case .base64(let local): literal = Array(Base64Tokens.anchors[anchors.base64Indices[local]].literal.utf8)
            case .escape(let e): literal = Array(EscapedTokens.anchors[e].literal.utf8)
            case .jwt(let j): literal = self.detector.jwt!.anchorForms[j]
            }
            literal.withUnsafeBufferPointer { b in
                anchors.find(in: b, starting: 0..<b.count, into: &hits)
                let found: Int
                switch owner {
                case .idAnchor, .wideIDAnchor: found = hits.id.count
                case .base64: found = hits.base64.count
                case .escape: found = hits.escape.count
                case .jwt: found = hits.jwt.count
                }
                XCTAssertGreaterThanOrEqual(found, 1, "literal \(index) (\(owner)) alone")
            }
        }
    }
}
