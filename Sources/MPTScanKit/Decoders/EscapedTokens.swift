/// Tokens with every byte escaped: percent-encoding of each byte (`%69%64%74%3A…`, RFC 3986 §2.1, also applied
/// twice: `%2569%2564…`), HTML numeric character references (`&#105;&#100;…`, `&#x69;…`, and `&amp;#105;` when
/// the markup was escaped again; HTML Living Standard §13.2.5.72), and JavaScript/JSON escapes (`\x69\x64…`,
/// `\u0069\u0064…`, any number of backslashes, as JSON inside JSON doubles them; ECMA-262 §12.9.4, RFC 8259 §7).
///
/// Found by anchor search on the escaped forms of `idt` (no escape-looking text is decoded unless it spells the
/// token prefix), then up to `window` bytes after the anchor are unescaped, up to `--max-decode-depth` times while the
/// result still starts with an escaped `idt`, and the unescaped text goes through the detector. A token whose
/// separators alone are escaped (`idt%3ATKN-…`) is the plain detector's (`SeparatorEncoding`).
public enum EscapedTokens {
    /// An escape family, with its name in `Candidate.decodings` and reports.
    enum Scheme: String, CaseIterable {
        case percent
        case htmlEntity = "html-entity"
        case hexEscape = "hex-escape"
        case unicodeEscape = "unicode-escape"
    }

    /// Escaped forms of `idt` that start a decode, with the number of times the escaping was applied: percent
    /// and HTML references at every level up to one more than `ScanLimits.deepestDecoding` (`%2569` is
    /// percent-encoding applied twice, `&amp;#105;` a reference escaped again; the deepest level is only
    /// recognised, to report it as over the limit); backslash escapes at level 1, whatever number of
    /// backslashes JSON-in-JSON doubled them to.
    static let anchors: [(literal: String, scheme: Scheme, level: Int)] = {
        var out: [(literal: String, scheme: Scheme, level: Int)] = []
        for level in 1...(ScanLimits.deepestDecoding + 1) {
            let percent = "%" + String(repeating: "25", count: level - 1)
            out.append((["69", "64", "74"].map { percent + $0 }.joined(), .percent, level))
            let amp = "&" + String(repeating: "amp;", count: level - 1)
            // upper-case X and zero-padded references only as written once (what encoders produce)
            let forms = level == 1 ? [["#105;", "#100;", "#116;"], ["#x69;", "#x64;", "#x74;"], ["#X69;", "#X64;", "#X74;"],
                                      ["#0105;", "#0100;", "#0116;"], ["#x0069;", "#x0064;", "#x0074;"]]
                : [["#105;", "#100;", "#116;"], ["#x69;", "#x64;", "#x74;"]]
            for digits in forms { out.append((digits.map { amp + $0 }.joined(), .htmlEntity, level)) }
        }
        out += [
            ("\\x69\\x64\\x74", .hexEscape, 1),
            ("\\u0069\\u0064\\u0074", .unicodeEscape, 1),
            // JSON inside JSON doubles each backslash (and JSON in a source map's sourcesContent doubles them again)
            ("\\\\x69\\\\x64\\\\x74", .hexEscape, 1),
            ("\\\\u0069\\\\u0064\\\\u0074", .unicodeEscape, 1),
            ("\\\\\\\\x69\\\\\\\\x64\\\\\\\\x74", .hexEscape, 1),
            ("\\\\\\\\u0069\\\\\\\\u0064\\\\\\\\u0074", .unicodeEscape, 1),
        ]
        return out
    }()
    static let search = MultiLiteralSearch(Self.anchors.map { Array($0.literal.utf8) })
    /// Escaped bytes read after an anchor: a current token is at most 87 characters, each at most 17 bytes
    /// escaped (`&amp;amp;#x0069;`, a reference escaped three times), plus room for the detector's context;
    /// within the 4 KiB a streaming caller keeps after an anchor.
    static let window = 2048
    /// Decoded bytes after an anchor whose own escaped anchors this decode covers.
    static let stride = 40

    /// Calls `body` for every token written with escaped bytes whose escaped `idt` starts in `anchorRange` of
    /// `buffer`, as a candidate whose span is the escaped text (0-based byte offsets into `buffer`) and whose
    /// `decodings` name each level undone (`["percent", "percent"]`). `buffer` should hold `window` bytes after
    /// `anchorRange` (a streaming caller's look-ahead covers it).
    /// - Parameters:
    ///   - maxDepth: levels of one escaping undone, 0…`ScanLimits.deepestDecoding` (`--max-decode-depth`;
    ///     `%252569` is percent-encoding applied three times).
    ///   - overLimit: called with the buffer offset of an escaped `idt` under more levels than `maxDepth` (not
    ///     decoded).
    public static func forEach(in buffer: UnsafeBufferPointer<UInt8>, anchorRange: Range<Int>, detector: TokenDetector,
                               maxDepth: Int = ScanLimits.deepestDecoding, overLimit: (Int) -> Void = { _ in },
                               _ body: (Candidate) -> Void) {
        Self.forEach(in: buffer, detector: detector, maxDepth: maxDepth, hits: Self.search.hitsInTextOrder(in: buffer, starting: anchorRange).map { ($0.literal, $0.at) },
                     overLimit: overLimit, body)
    }

    /// `forEach` on hits found by the caller: (index into `anchors`, 0-based byte offset into `buffer`) for each
    /// escaped `idt` found, in text order (by offset, then index).
    static func forEach(in buffer: UnsafeBufferPointer<UInt8>, detector: TokenDetector, maxDepth: Int, hits: [(anchor: Int, at: Int)],
                        overLimit: (Int) -> Void, _ body: (Candidate) -> Void) {
        var covered = -1 // the end of the last token reported
        // per anchor: the end of the escaped text an earlier decode from that anchor undid (made on first use). Per
        // anchor, not for all: a decode undoes one scheme at the level its anchor names, so the escaped text of
        // another (`%69%64%74&#105;&#100;&#116;&#58;…`, an escaped label before a token escaped otherwise) is not
        // decoded by it and must still be decoded from its own anchor.
        var decodedTo: [Int] = []
        var input: [UInt8] = [], output: [UInt8] = []
        var starts: [Int] = [], ends: [Int] = [], levelStarts: [Int] = [], levelEnds: [Int] = []
        // one hit (a local function: its state stays on the stack, with no dynamic exclusivity checks)
        func visit(_ index: Int, _ hit: Int) {
            guard hit >= covered else { return }
            if decodedTo.isEmpty { decodedTo = [Int](repeating: -1, count: Self.anchors.count) }
            guard hit >= decodedTo[index] else { return }
            let scheme = Self.anchors[index].scheme
            input.removeAll(keepingCapacity: true)
            input.append(contentsOf: buffer[hit..<min(buffer.count, hit + Self.window)])
            // starts/ends: for each byte of the current text, its span in `buffer`
            starts = Array(hit..<(hit + input.count))
            ends = starts.map { $0 + 1 }
            var decodings: [String] = []
            while decodings.count < maxDepth, Self.startsWithAnchor(input, scheme) {
                output.removeAll(keepingCapacity: true)
                levelStarts.removeAll(keepingCapacity: true)
                levelEnds.removeAll(keepingCapacity: true)
                Self.unescape(input, scheme, into: &output, starts: &levelStarts, ends: &levelEnds)
                // compose: a byte of this level spans the buffer bytes of the escapes it came from
                for k in levelStarts.indices {
                    levelStarts[k] = starts[levelStarts[k]]
                    levelEnds[k] = ends[levelEnds[k] - 1]
                }
                swap(&input, &output)
                swap(&starts, &levelStarts)
                swap(&ends, &levelEnds)
                decodings.append(scheme.rawValue)
            }
            if Self.startsWithAnchor(input, scheme) {
                // more levels than --max-decode-depth: not decoded, reported; the rest of this run is the same text
                overLimit(hit)
                decodedTo[index] = max(decodedTo[index], starts[min(starts.count - 1, Self.stride)])
                return
            }
            guard !decodings.isEmpty else { return }
            // escaped anchors in the first `stride` decoded bytes are handled by this decode (a run of escaped
            // text costs about one decode per `stride` bytes, not one per anchor); a token starting there has
            // its `TKN-` within 32 bytes after its `idt` (`&colon;` may be left as it was)
            if input.count > Self.stride { decodedTo[index] = max(decodedTo[index], starts[Self.stride]) }
            input.withUnsafeBufferPointer { view in
                detector.scan(view, anchorRange: 0..<min(view.count, Self.stride + 32)) { candidate in
                    guard candidate.start <= Self.stride, candidate.end <= view.count else { return }
                    var moved = candidate
                    moved.start = starts[candidate.start]
                    moved.end = ends[candidate.end - 1]
                    // the plain scan's when it finds the same token at the same place: a token written as such
                    // after the escaped text (its span holds no escape: as long written as decoded), or one whose
                    // separators alone are escaped (`TKN-1234-5678%3A…`); reported here too, it would be labelled
                    // decoded or not depending on which of the two a streaming caller met first
                    guard moved.end - moved.start > candidate.end - candidate.start,
                          !Self.plainScanFinds(moved, in: buffer, detector: detector) else { return }
                    moved.spanIsSecretOnly = false
                    moved.decodings = decodings + candidate.decodings
                    covered = max(covered, moved.end)
                    body(moved)
                }
            }
        }
        for hit in hits { visit(hit.anchor, hit.at) }
    }

    /// Whether the detector, run on `buffer` as it is, reports a candidate of `c`'s rule starting where `c` does.
    static func plainScanFinds(_ c: Candidate, in buffer: UnsafeBufferPointer<UInt8>, detector: TokenDetector) -> Bool {
        var found = false
        detector.scan(buffer, anchorRange: c.start..<c.end) { plain in
            if plain.start == c.start && plain.ruleIndex == c.ruleIndex { found = true }
        }
        return found
    }

    /// Whether `text` starts with an anchor of `scheme` (another level of the same escaping to undo).
    static func startsWithAnchor(_ text: [UInt8], _ scheme: Scheme) -> Bool {
        for anchor in Self.anchors where anchor.scheme == scheme {
            let bytes = anchor.literal.utf8
            if text.count >= bytes.count && zip(text, bytes).allSatisfy({ $0 == $1 }) { return true }
        }
        return false
    }

    /// Undoes one level of `scheme` in `input`, appending to `output` and, per
    /// output byte, the range of input indices (`starts[k]..<ends[k]`) it came from. Bytes that are not an
    /// escape of the scheme are copied as they are.
    static func unescape(_ input: [UInt8], _ scheme: Scheme, into output: inout [UInt8], starts: inout [Int], ends: inout [Int]) {
        var i = 0
        while i < input.count {
            var value: UInt8 = input[i]
            var length = 1
            switch scheme {
            case .percent:
                if input[i] == UInt8(ascii: "%"), let v = Self.hex(input, i + 1, digits: 2) { value = UInt8(v); length = 3 }
            case .htmlEntity:
                if let (v, n) = Self.characterReference(input, i) { value = v; length = n }
            case .hexEscape, .unicodeEscape:
                if input[i] == UInt8(ascii: "\\") {
                    var j = i
                    while j < input.count && input[j] == UInt8(ascii: "\\") && j - i < Separator.maxBackslashes { j += 1 }
                    if j < input.count, input[j] == UInt8(ascii: "x"), let v = Self.hex(input, j + 1, digits: 2) {
                        value = UInt8(v); length = j + 3 - i
                    } else if j < input.count, input[j] == UInt8(ascii: "u"), let v = Self.hex(input, j + 1, digits: 4), v < 0x80 {
                        value = UInt8(v); length = j + 5 - i
                    }
                }
            }
            output.append(value)
            starts.append(i)
            ends.append(i + length)
            i += length
        }
    }

    /// `&#DDD;`, `&#xHH;` or `&amp;` at `i` with a value below 0x80: (byte, length in bytes).
    static func characterReference(_ b: [UInt8], _ i: Int) -> (UInt8, Int)? {
        guard i + 3 < b.count, b[i] == UInt8(ascii: "&") else { return nil }
        if b[i + 1] == UInt8(ascii: "a"), i + 4 < b.count, b[i + 2] == UInt8(ascii: "m"), b[i + 3] == UInt8(ascii: "p"),
           b[i + 4] == UInt8(ascii: ";") {
            return (UInt8(ascii: "&"), 5)
        }
        guard b[i + 1] == UInt8(ascii: "#") else { return nil }
        let isHex = b[i + 2] | 0x20 == UInt8(ascii: "x")
        var j = i + (isHex ? 3 : 2)
        var value = 0, digits = 0
        while j < b.count, digits < 7 {
            let d: Int
            if isHex { guard let h = Self.hexValue(b[j]) else { break }; d = h } else {
                guard b[j] >= 0x30 && b[j] <= 0x39 else { break }; d = Int(b[j] - 0x30)
            }
            value = value * (isHex ? 16 : 10) + d
            digits += 1
            j += 1
        }
        guard digits > 0, j < b.count, b[j] == UInt8(ascii: ";"), value < 0x80 else { return nil }
        return (UInt8(value), j + 1 - i)
    }

    /// The value of `digits` hexadecimal digits at `i`, or nil.
    static func hex<C: RandomAccessCollection>(_ b: C, _ i: Int, digits: Int) -> Int? where C.Element == UInt8, C.Index == Int {
        guard i >= b.startIndex, i + digits <= b.endIndex else { return nil }
        var value = 0
        for k in i..<(i + digits) {
            guard let d = Self.hexValue(b[k]) else { return nil }
            value = value * 16 + d
        }
        return value
    }

    @inline(__always)
    static func hexValue(_ c: UInt8) -> Int? {
        switch c {
        case 0x30...0x39: return Int(c - 0x30)
        case 0x41...0x46: return Int(c - 0x37)
        case 0x61...0x66: return Int(c - 0x57)
        default: return nil
        }
    }
}
