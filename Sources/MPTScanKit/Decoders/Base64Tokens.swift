#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Tokens written in Base64 or base64url (RFC 4648 §4 and §5), found by anchor search on the encoded forms of
/// the token prefix `idt:TKN-`, never by decoding every Base64-looking run (images and fonts cost one `memchr`
/// pass and never fire).
///
/// The prefix lands in one of three byte alignments in the encoded stream; for each, the characters that
/// depend on the prefix alone are a fixed string (computed from RFC 4648's alphabet; the same in base64url,
/// as none of them is `+` or `/`). A hit fixes where its 4-character quantum starts, so decoding can begin
/// there without knowing where the run starts.
public enum Base64Tokens {
    /// The token prefixes searched for in Base64: as written, and with JSON's escaped colon (Base64 of a JSON
    /// document whose encoder escaped `:`, once or inside another JSON string).
    static let prefixes = ["idt:TKN-", "idt\\u003aTKN-", "idt\\u003ATKN-", "idt\\\\u003aTKN-"]
    /// (anchor, characters from the start of its quantum to the anchor, Base64 layers over the prefix): each
    /// prefix at byte offsets 0, 1 and 2 modulo 3 of the decoded stream (`Base64Anchors`) is layer 1; the plain
    /// prefix's layer-L anchors encoded again at each alignment are layer L + 1, up to one layer more than
    /// `ScanLimits.deepestDecoding` (that last layer is only recognised, to report it as over the limit).
    static let anchors: [(literal: String, back: Int, level: Int)] = {
        var out: [(literal: String, back: Int, level: Int)] = []
        for prefix in Self.prefixes {
            for form in Base64Anchors.forms(of: Array(prefix.utf8)) { out.append((String(decoding: form.literal, as: UTF8.self), form.back, 1)) }
        }
        var layer = Base64Anchors.forms(of: Array(Self.prefixes[0].utf8)).map(\.literal)
        for level in 2...(ScanLimits.deepestDecoding + 1) {
            var next: [[UInt8]] = []
            for literal in layer {
                for form in Base64Anchors.forms(of: literal) {
                    out.append((String(decoding: form.literal, as: UTF8.self), form.back, level))
                    next.append(form.literal)
                }
            }
            layer = next
        }
        return out
    }()
    /// Per anchor: characters from its quantum start, and its layer.
    static let backs: [Int] = Self.anchors.map(\.back)
    static let levels: [Int] = Self.anchors.map(\.level)
    /// Per decode depth 0…`ScanLimits.deepestDecoding`: the anchors of layers up to one more than it, searched
    /// together (`MultiLiteralSearch`), and the anchor index of each of its literals.
    /// Built on first use, one depth at a time (each costs milliseconds: the pivot cover search). A scan searches
    /// every decoder's anchors together (`CombinedAnchors`); this one serves `Redaction`, the fuzz targets and tests.
    static func outerSearch(depth: Int) -> (search: MultiLiteralSearch, indices: [Int]) {
        switch depth {
        case 0: return Self.outer0
        case 1: return Self.outer1
        case 2: return Self.outer2
        default:
            assert(ScanLimits.deepestDecoding == 3, "one search per depth 0…deepestDecoding")
            return Self.outer3
        }
    }
    private static let outer0 = Self.makeOuterSearch(depth: 0)
    private static let outer1 = Self.makeOuterSearch(depth: 1)
    private static let outer2 = Self.makeOuterSearch(depth: 2)
    private static let outer3 = Self.makeOuterSearch(depth: 3)
    private static func makeOuterSearch(depth: Int) -> (search: MultiLiteralSearch, indices: [Int]) {
        let indices = Self.outerIndices(depth: depth)
        return (MultiLiteralSearch(indices.map { Array(Self.anchors[$0].literal.utf8) }), indices)
    }
    /// Every depth's search (tests).
    static var outerSearches: [(search: MultiLiteralSearch, indices: [Int])] { (0...ScanLimits.deepestDecoding).map { Self.outerSearch(depth: $0) } }
    /// Per layer L: the anchors of exactly layer L, searched inside text decoded from a layer L + 1 anchor.
    static let layerSearches: [(search: MultiLiteralSearch, indices: [Int])] = (0...(ScanLimits.deepestDecoding + 1)).map { level in
        let indices = Self.anchors.indices.filter { Self.anchors[$0].level == level }
        return (MultiLiteralSearch(indices.map { Array(Self.anchors[$0].literal.utf8) }), indices)
    }
    /// Encoded characters decoded after a hit's quantum start: enough for the longest token and its context,
    /// encoded three times.
    static let window = 512
    /// Whole characters taken before a layer-L anchor beyond its quantum start, so that the decoded text holds
    /// the layer below's anchor with its own quantum start (and so on down): 0, 8, 20, … (index L).
    static let extraBefore: [Int] = {
        var out = [0, 0]
        for _ in 2...(ScanLimits.deepestDecoding + 1) { out.append(((out.last! + 3 + 2) / 3) * 4 + 4) }
        return out
    }()

    /// The name of this decoding in `Candidate.decodings` and reports.
    public static let decoding = "base64"

    /// Calls `body` for every token whose encoded prefix has its anchor in `anchorRange` of `buffer`, as a
    /// candidate whose span is the encoded text in `buffer` (the quanta holding the token, 0-based byte
    /// offsets) and whose `decodings` say how it was reached. `buffer` should hold at least `window` bytes
    /// after `anchorRange` (the caller's look-ahead).
    /// - Parameters:
    ///   - maxDepth: Base64 layers decoded, 0…`ScanLimits.deepestDecoding` (`--max-decode-depth`).
    ///   - overLimit: called with the buffer offset of a prefix found under more layers than `maxDepth`
    ///     (not decoded).
    public static func forEach(in buffer: UnsafeBufferPointer<UInt8>, anchorRange: Range<Int>, detector: TokenDetector,
                               maxDepth: Int = ScanLimits.deepestDecoding, overLimit: (Int) -> Void = { _ in },
                               _ body: (Candidate) -> Void) {
        let depth = min(max(0, maxDepth), ScanLimits.deepestDecoding)
        Self.forEach(in: buffer, anchorRange: anchorRange, detector: detector, searching: Self.outerSearch(depth: depth),
                     maxLevel: depth, overLimit: overLimit, body)
    }

    /// One layer: hits of `searching`'s anchors up to layer `maxLevel` are decoded once (and, above layer 1,
    /// searched again for the layer below); hits of deeper anchors go to `overLimit`.
    private static func forEach(in buffer: UnsafeBufferPointer<UInt8>, anchorRange: Range<Int>, detector: TokenDetector,
                                searching: (search: MultiLiteralSearch, indices: [Int]), maxLevel: Int,
                                overLimit: (Int) -> Void, _ body: (Candidate) -> Void) {
        var state = DecodeState()
        searching.search.forEach(in: buffer, starting: anchorRange) { local, hit in
            Self.decode(hit: hit, anchor: local, in: buffer, detector: detector, indices: searching.indices, maxLevel: maxLevel,
                        state: &state, overLimit: overLimit, body)
        }
    }

    /// The anchors (indices into `anchors`) searched at decode depth `depth` (0…`ScanLimits.deepestDecoding`): those
    /// of layers up to one more than it, in the order of `outerSearch(depth:)`'s literals.
    static func outerIndices(depth: Int) -> [Int] {
        Self.levels.indices.filter { Self.levels[$0] <= depth + 1 }
    }

    /// `forEach` on hits found by the caller (`CombinedAnchors` finds them together with the other decoders'
    /// anchors): (index into `indices`, 0-based byte offset into `buffer`), each anchor's hits in increasing order.
    static func forEach(in buffer: UnsafeBufferPointer<UInt8>, detector: TokenDetector, indices: [Int], maxLevel: Int,
                        hits: [(anchor: Int, at: Int)], overLimit: (Int) -> Void, _ body: (Candidate) -> Void) {
        var state = DecodeState()
        for hit in hits {
            Self.decode(hit: hit.at, anchor: hit.anchor, in: buffer, detector: detector, indices: indices, maxLevel: maxLevel,
                        state: &state, overLimit: overLimit, body)
        }
    }

    /// What the hits of one buffer share (allocated at the first hit: most buffers have none).
    private struct DecodeState {
        /// The bytes decoded from one window.
        var decoded: [UInt8] = []
        /// Per anchor: the end of the last window decoded. A hit well inside it (one contiguous run, decoded from a
        /// quantum start of the same stream) was decoded with it: a run of repeated anchors costs one decode per
        /// window, not one per anchor.
        var covered: [Int] = []
        /// Per anchor: where its covered window began, and whether it held a line break (then alignment is not
        /// known).
        var coveredBegin: [Int] = []
        var coveredBroken: [Bool] = []
        /// The window's Base64 characters and their buffer positions.
        var chars: [UInt8] = []
        var positions: [Int] = []
    }

    /// One hit of anchor `local` (index into `indices`) at `hit`: the run around it decoded once, and the decoded
    /// bytes searched (layer 1: by the detector; above: for the layer below). A static function on an `inout`
    /// state, not a closure over local variables: those were boxed, each access checked at run time (a file of
    /// nested Base64 took twice as long).
    private static func decode(hit: Int, anchor local: Int, in buffer: UnsafeBufferPointer<UInt8>, detector: TokenDetector, indices: [Int],
                               maxLevel: Int, state: inout DecodeState, overLimit: (Int) -> Void, _ body: (Candidate) -> Void) {
        // the state's arrays, moved out while this hit works on them (and back after): no copy, no overlapping access
        var decoded: [UInt8] = [], covered: [Int] = [], coveredBegin: [Int] = [], coveredBroken: [Bool] = []
        var chars: [UInt8] = [], positions: [Int] = []
        swap(&decoded, &state.decoded); swap(&covered, &state.covered); swap(&coveredBegin, &state.coveredBegin)
        swap(&coveredBroken, &state.coveredBroken); swap(&chars, &state.chars); swap(&positions, &state.positions)
        defer {
            swap(&decoded, &state.decoded); swap(&covered, &state.covered); swap(&coveredBegin, &state.coveredBegin)
            swap(&coveredBroken, &state.coveredBroken); swap(&chars, &state.chars); swap(&positions, &state.positions)
        }
        let count = indices.count
        let index = indices[local]
        let back = Self.backs[index], level = Self.levels[index]
        if level > maxLevel {
            overLimit(hit)
            return
        }
        if covered.isEmpty {
            covered = [Int](repeating: -1, count: count)
            coveredBegin = [Int](repeating: 0, count: count)
            coveredBroken = [Bool](repeating: true, count: count)
        }
        if hit + 200 <= covered[local] && !coveredBroken[local] && (hit - back - coveredBegin[local]) % 4 == 0 { return }
        if decoded.isEmpty { decoded = [UInt8](repeating: 0, count: Self.window / 4 * 3 + 3) }
        // the run around the hit, as Base64 characters with their buffer positions: line breaks inside the
        // run (MIME wraps at 76 columns, PEM at 64) are skipped, anything else ends it
        func isBreak(_ c: UInt8) -> Bool { c == 10 || c == 13 }
        var first = hit
        var needed = back + Self.extraBefore[level], taken = 0
        var k = hit - 1
        while k >= 0, taken < needed {
            if isBreak(buffer[k]) { k -= 1; continue }
            guard Self.value(buffer[k]) >= 0 else { break }
            first = k; taken += 1; k -= 1
        }
        if taken < back { return } // the quantum's start is not there
        needed = back + (taken - back) / 4 * 4
        // start `needed` characters before the hit (whole quanta for the twice-encoded extension)
        positions.removeAll(keepingCapacity: true)
        chars.removeAll(keepingCapacity: true)
        var q = hit - 1, skipped = 0
        var begin = hit
        while skipped < needed && q >= first {
            if !isBreak(buffer[q]) { begin = q; skipped += 1 }
            q -= 1
        }
        var i = begin
        while i < buffer.count, chars.count < Self.window {
            let c = buffer[i]
            if Self.value(c) >= 0 { chars.append(c); positions.append(i) } else if !isBreak(c) { break }
            i += 1
        }
        guard chars.count >= 12, let last = positions.last else { return }
        covered[local] = last + 1
        coveredBegin[local] = begin
        coveredBroken[local] = last + 1 - begin != chars.count
        let n = chars.withUnsafeBufferPointer { raw in
            decoded.withUnsafeMutableBufferPointer { Self.decode(raw, into: $0) }
        }
        // decoded offset d lies in the quantum starting at character d / 3 * 4 (the closures read a constant: a
        // variable they captured would be boxed)
        let mapped = positions
        let at = { (d: Int) -> Int in mapped[min(mapped.count - 1, d / 3 * 4)] }
        let after = { (d: Int) -> Int in mapped[min(mapped.count - 1, (d + 2) / 3 * 4 - 1)] + 1 }
        // the candidate moved onto the encoded text; the snippet then shows the token, not an encoded secret
        let relocated = { (c: Candidate) -> Candidate in
            var moved = c
            moved.start = at(c.start)
            moved.end = after(c.end)
            moved.spanIsSecretOnly = false
            moved.decodings = [Self.decoding] + c.decodings
            return moved
        }
        decoded.withUnsafeBufferPointer { out in
            let view = UnsafeBufferPointer(rebasing: out[0..<n])
            if level == 1 {
                detector.scan(view, anchorRange: 0..<n) { body(relocated($0)) }
                return
            }
            // positions inside the decoded bytes map back to the quantum that holds them
            Self.forEach(in: view, anchorRange: 0..<n, detector: detector, searching: Self.layerSearches[level - 1],
                         maxLevel: level - 1, overLimit: { _ in }) { body(relocated($0)) }
        }
    }

    /// The 6-bit value of a Base64 or base64url character, or -1.
    @inline(__always)
    static func value(_ c: UInt8) -> Int {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return Int(c) - 65
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return Int(c) - 71
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(c) + 4
        case UInt8(ascii: "+"), UInt8(ascii: "-"): return 62
        case UInt8(ascii: "/"), UInt8(ascii: "_"): return 63
        default: return -1
        }
    }

    /// Decodes `input` (characters of the alphabet, padding already cut) into `out`; a last quantum of 2 or 3
    /// characters gives 1 or 2 bytes (padded or unpadded input alike, RFC 4648 §3.2); returns the bytes written.
    static func decode(_ input: UnsafeBufferPointer<UInt8>, into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var o = 0
        var i = 0
        while i + 4 <= input.count && o + 3 <= out.count {
            let v = (Self.value(input[i]) << 18) | (Self.value(input[i + 1]) << 12) | (Self.value(input[i + 2]) << 6) | Self.value(input[i + 3])
            out[o] = UInt8(truncatingIfNeeded: v >> 16)
            out[o + 1] = UInt8(truncatingIfNeeded: v >> 8)
            out[o + 2] = UInt8(truncatingIfNeeded: v)
            o += 3
            i += 4
        }
        let rest = input.count - i
        if rest >= 2 && o + 2 <= out.count {
            let v = (Self.value(input[i]) << 18) | (Self.value(input[i + 1]) << 12) | (rest == 3 ? Self.value(input[i + 2]) << 6 : 0)
            out[o] = UInt8(truncatingIfNeeded: v >> 16)
            o += 1
            if rest == 3 { out[o] = UInt8(truncatingIfNeeded: v >> 8); o += 1 }
        }
        return o
    }
}
