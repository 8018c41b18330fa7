/// Tokens split into string literals joined with `+` (JavaScript, TypeScript, Java, C#, Go, Python):
/// `"idt:TKN-1234-" + "5678:Ab…"`, `'idt:' +\n  'TKN-…'`. At the first `+` of a chain between a closing and
/// an opening quote (any white space, newlines included, around it), the literals are joined, with further
/// `+ "…"` parts (up to `maxParts`), and the joined text goes through the detector once. A token that crosses a
/// junction is reported at its first fragment; one inside a single literal is left to the plain scan.
public enum JoinedLiterals {
    /// Longest literal considered, in bytes (a token fragment is shorter; longer literals are not split tokens).
    static let maxLiteral = 256
    /// Most literals joined in one chain: 12 literals of at most 256 bytes, with white space, fit in the 4 KiB
    /// a streaming caller keeps after the last `+` it asks about, so a chain never runs off its buffer.
    static let maxParts = 12
    static let plus = LiteralSearch([UInt8(ascii: "+")])

    /// The name of this decoding in `Candidate.decodings` and reports.
    public static let decoding = "joined-literals"

    /// Calls `body` for tokens across a `+` junction whose `+` lies in `anchorRange` of `buffer`, as a
    /// candidate whose span runs from the token's first byte (in its first fragment) to just past its last
    /// (in its last fragment), 0-based offsets into `buffer`, with `decodings` `["joined-literals"]`.
    public static func forEach(in buffer: UnsafeBufferPointer<UInt8>, anchorRange: Range<Int>, detector: TokenDetector,
                               _ body: (Candidate) -> Void) {
        var joined: [UInt8] = []
        var pieces: [(joined: Int, buffer: Int, count: Int)] = []
        var chainEnd = -1 // a '+' inside the last chain joined was handled with it
        Self.plus.forEach(in: buffer, starting: anchorRange) { p in
            guard p >= chainEnd else { return }
            // most '+' are arithmetic: the byte before must be a quote or white space
            guard p > 0, Self.isQuote(buffer[p - 1]) || Self.isSpace(buffer[p - 1]) else { return }
            // a closing quote before the '+', an opening quote after it
            guard let left = Self.literal(endingBefore: p, in: buffer), let first = Self.literal(startingAfter: p, in: buffer) else { return }
            joined.removeAll(keepingCapacity: true)
            pieces.removeAll(keepingCapacity: true)
            func add(_ r: Range<Int>) {
                pieces.append((joined.count, r.lowerBound, r.count))
                joined.append(contentsOf: buffer[r])
            }
            add(left)
            add(first.content)
            var after = first.end
            var cut = false
            while true {
                guard pieces.count < Self.maxParts else { cut = true; break }
                var k = after
                while k < buffer.count, Self.isSpace(buffer[k]) { k += 1 }
                guard k < buffer.count, buffer[k] == UInt8(ascii: "+"), let next = Self.literal(startingAfter: k, in: buffer) else { break }
                add(next.content)
                after = next.end
            }
            chainEnd = after
            let junctions = pieces.dropFirst().map(\.joined)
            joined.withUnsafeBufferPointer { view in
                detector.scan(view, anchorRange: 0..<view.count) { candidate in
                    // only tokens that cross a junction: one inside a single literal is the plain scan's
                    guard junctions.contains(where: { candidate.start < $0 && candidate.end > $0 }) else { return }
                    // a chain cut at maxParts may end inside the token: never report a truncated secret
                    guard !cut || candidate.end < view.count else { return }
                    guard let start = Self.map(candidate.start, pieces), let last = Self.map(candidate.end - 1, pieces) else { return }
                    var moved = candidate
                    moved.start = start
                    moved.end = last + 1
                    moved.decodings = [Self.decoding]
                    body(moved)
                }
            }
        }
    }

    private static func map(_ joinedOffset: Int, _ pieces: [(joined: Int, buffer: Int, count: Int)]) -> Int? {
        for piece in pieces where joinedOffset >= piece.joined && joinedOffset < piece.joined + piece.count {
            return piece.buffer + (joinedOffset - piece.joined)
        }
        return nil
    }

    @inline(__always)
    static func isSpace(_ c: UInt8) -> Bool { c == 32 || c == 9 || c == 10 || c == 13 }

    @inline(__always)
    static func isQuote(_ c: UInt8) -> Bool { c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") || c == UInt8(ascii: "`") }

    /// The contents of the literal that closes just before `p` (white space between): nil when there is none.
    static func literal(endingBefore p: Int, in b: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        var i = p - 1
        var spaces = 0
        while i >= 0, Self.isSpace(b[i]), spaces < 64 { i -= 1; spaces += 1 }
        guard i >= 1, Self.isQuote(b[i]) else { return nil }
        let quote = b[i], close = i
        var j = close - 1
        let floor = max(0, close - Self.maxLiteral)
        while j >= floor {
            if b[j] == quote {
                var slashes = 0
                while j - slashes - 1 >= 0 && b[j - slashes - 1] == UInt8(ascii: "\\") { slashes += 1 }
                if slashes % 2 == 0 { return (j + 1)..<close }
            }
            if b[j] == 10 && quote != UInt8(ascii: "`") { return nil } // ordinary literals do not span lines
            j -= 1
        }
        return nil
    }

    /// The literal that opens just after `p` (white space between): its contents and the index past its
    /// closing quote; nil when there is none.
    static func literal(startingAfter p: Int, in b: UnsafeBufferPointer<UInt8>) -> (content: Range<Int>, end: Int)? {
        var i = p + 1
        var spaces = 0
        while i < b.count, Self.isSpace(b[i]), spaces < 64 { i += 1; spaces += 1 }
        guard i < b.count, Self.isQuote(b[i]) else { return nil }
        let quote = b[i], open = i
        var j = open + 1
        let limit = min(b.count, open + 1 + Self.maxLiteral)
        while j < limit {
            let c = b[j]
            if c == UInt8(ascii: "\\") { j += 2; continue }
            if c == quote { return ((open + 1)..<j, j + 1) }
            if c == 10 && quote != UInt8(ascii: "`") { return nil }
            if quote == UInt8(ascii: "`") && c == UInt8(ascii: "$") && j + 1 < limit && b[j + 1] == UInt8(ascii: "{") { return nil }
            j += 1
        }
        return nil
    }
}
