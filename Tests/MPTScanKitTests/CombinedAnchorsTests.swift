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
        out.append(Array(token.utf8.map { String(format: "\\x%02x", $0) }.joined().utf8))
        out.append(Array(token.utf8.map { String(format: "\\u%04x", $0) }.joined().utf8))
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

    /// The built-in rules, and rule sets without the JWT rule and without the id-prefix rules.
    static let ruleSets: [(name: String, rules: [Rule])] = [
        ("built-in", BuiltinRules.all),
        ("no JWT rule", BuiltinRules.all.filter { $0.detector != .platformJWT }),
        ("JWT rule only", BuiltinRules.all.filter { $0.detector == .platformJWT }),
    ]

    func testOneSearchFindsWhatEachDecoderFindsAlone() {
        var rng = SplitMix(seed: 4242)
        var kinds: [String: Int] = [:] // what the built-in rules found, by decoding and form
        for (name, rules) in Self.ruleSets {
            let detector = TokenDetector(rules: rules)
            for depth in 0...ScanLimits.deepestDecoding {
                let anchors = CombinedAnchors(detector: detector, depth: depth)
                var hits = CombinedAnchors.Hits()
                for round in 0..<(name == "built-in" ? 60 : 20) {
                    let choice = self.pieces(&rng)
                    var buffer: [UInt8] = []
                    for _ in 0..<(2 + Int(rng.next() % 6)) { buffer += choice[Int(rng.next() % UInt64(choice.count))] }
                    buffer.withUnsafeBufferPointer { b in
                        // the whole buffer, and a range inside it (a streaming caller's)
                        let lo = Int(rng.next() % UInt64(b.count / 2 + 1)), hi = lo + Int(rng.next() % UInt64(b.count - lo + 1))
                        for range in [0..<b.count, lo..<hi] {
                            let context = "\(name), depth \(depth), round \(round), range \(range)"
                            // each decoder with its own search
                            var alone: [Seen] = [], aloneOver: [Int] = [], ids: [Int] = []
                            detector.scan(b, anchorRange: range) { alone.append(Seen($0)) }
                            Base64Tokens.forEach(in: b, anchorRange: range, detector: detector, maxDepth: depth, overLimit: { aloneOver.append($0) }) { alone.append(Seen($0)) }
                            EscapedTokens.forEach(in: b, anchorRange: range, detector: detector, maxDepth: depth, overLimit: { aloneOver.append($0) }) { alone.append(Seen($0)) }
                            JoinedLiterals.forEach(in: b, anchorRange: range, detector: detector, stringDepth: 0, idPrefixHits: nil) { alone.append(Seen($0)) }
                            if detector.findsIDPrefix { JoinedLiterals.idPrefix.forEach(in: b, starting: range) { ids.append($0) } }
                            // one search for all
                            var together: [Seen] = [], togetherOver: [Int] = []
                            anchors.candidates(in: b, range: range, hits: &hits, overLimit: { togetherOver.append($0) }) { together.append(Seen($0)) }
                            XCTAssertEqual(Set(together), Set(alone), context)
                            XCTAssertEqual(together.count, alone.count, "\(context): as often")
                            XCTAssertEqual(togetherOver.sorted(), aloneOver.sorted(), context)
                            XCTAssertEqual(hits.idPrefix, ids, "\(context): the id prefixes, in order")
                            if name == "built-in" {
                                for seen in together { kinds["rule \(seen.rule) \(seen.decodings.joined(separator: "+")) \(seen.form)", default: 0] += 1 }
                                if !togetherOver.isEmpty { kinds["over depth \(depth)", default: 0] += 1 }
                            }
                        }
                    }
                }
            }
        }
        // the comparison saw every kind of finding: each rule, each decoding and form, prefixes over the depth
        let rules = BuiltinRules.all
        let token = rules.firstIndex { $0.id == "mpt-api-token" }!, jwt = rules.firstIndex { $0.detector == .platformJWT }!
        // (plain: no decoding, hence the two spaces)
        for kind in ["  bytes", "  utf16LE", "  utf16BE", " base64 bytes", " base64+base64 bytes", " base64+base64+base64 bytes", " percent bytes",
                     " html-entity bytes", " hex-escape bytes", " unicode-escape bytes", " joined-literals bytes"].map({ "rule \(token)" + $0 })
            + ["rule \(jwt)  bytes", "over depth 0", "over depth 2"] {
            XCTAssertGreaterThan(kinds[kind] ?? 0, 0, "\(kind) in \(kinds.keys.sorted())")
        }
    }

    /// The pivot bytes of the combined search at each decode depth: a change shows here, and the scan's speed
    /// should be measured again (docs/PERFORMANCE.md).
    func testPivotsOfTheCombinedSearch() {
        let detector = TokenDetector(rules: BuiltinRules.all)
        let pivots = (0...ScanLimits.deepestDecoding).map { String(decoding: CombinedAnchors(detector: detector, depth: $0).search.pivots.map(\.byte), as: UTF8.self) }
        XCTAssertEqual(pivots, ["6TUZ", "6TUZ", "&4TVZ", "&4TVZ"])
    }

    /// Each literal alone, at the start and at the end of a buffer, is found once, as its owner's, where it is;
    /// the UTF-16 id anchor is found in each byte order only with its zero before or after it.
    func testEveryLiteralAloneIsFoundWhereItIs() {
        let detector = TokenDetector(rules: BuiltinRules.all)
        let anchors = CombinedAnchors(detector: detector, depth: ScanLimits.deepestDecoding)
        var hits = CombinedAnchors.Hits()
        func find(_ bytes: [UInt8]) -> CombinedAnchors.Hits {
            bytes.withUnsafeBufferPointer { anchors.find(in: $0, starting: 0..<$0.count, into: &hits) }
            return hits
        }
        let pad: [UInt8] = Array(" .;".utf8)
        for (index, owner) in anchors.owners.enumerated() {
            for before in [[], pad] {
                let after = before.isEmpty ? pad : []
                switch owner {
                case .id(let anchor):
                    let found = find(before + detector.anchorLiterals[anchor] + after)
                    XCTAssertEqual(found.id.map { [$0.anchor, $0.at] }, [[anchor, before.count]], "literal \(index)")
                    XCTAssertEqual(found.id.map(\.form), [.bytes])
                case .wideID(let anchor):
                    let chars = detector.anchorLiterals[anchor]
                    let le = find(before + chars.flatMap { [$0, 0] } + after)
                    XCTAssertEqual(le.id.map { [$0.anchor, $0.at] }, [[anchor, before.count]], "literal \(index), little-endian")
                    XCTAssertEqual(le.id.map(\.form), [.utf16LE])
                    let be = find(before + chars.flatMap { [0, $0] } + after)
                    XCTAssertEqual(be.id.map { [$0.anchor, $0.at] }, [[anchor, before.count]], "literal \(index), big-endian")
                    XCTAssertEqual(be.id.map(\.form), [.utf16BE])
                    // the shared part alone, with no zero on either side: neither
                    XCTAssertEqual(find(before + Array(chars.map { [$0, 0] }.joined().dropLast()) + after).id.count, 0, "literal \(index) without its zero")
                case .base64(let anchor):
                    let found = find(before + Array(Base64Tokens.anchors[anchors.base64Indices[anchor]].literal.utf8) + after)
                    XCTAssertTrue(found.base64.contains { $0.anchor == anchor && $0.at == before.count }, "literal \(index)")
                case .escape(let anchor):
                    let found = find(before + Array(EscapedTokens.anchors[anchor].literal.utf8) + after)
                    XCTAssertTrue(found.escape.contains { $0.anchor == anchor && $0.at == before.count }, "literal \(index)")
                case .jwt(let form):
                    let found = find(before + detector.jwt!.anchorForms[form] + after)
                    XCTAssertEqual(found.jwt.map { [$0.form, $0.at] }, [[form, before.count]], "literal \(index)")
                }
            }
        }
    }
}
