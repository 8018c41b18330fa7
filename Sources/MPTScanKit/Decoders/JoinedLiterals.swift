#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Tokens split into string literals joined with `+` (JavaScript, TypeScript, Java, C#, Go, Python):
/// `"idt:TKN-1234-" + "5678:Ab…"`, `'idt:' +\n  'TKN-…'`, or written side by side with no operator (Python and
/// C implicit concatenation: `("idt:TKN-1234-"\n "5678:Ab…")`). At the first `+` of a chain between a closing
/// and an opening quote, or at a `TKN-` inside a literal with another literal right before or after it, the
/// literals are joined (white space, newlines and `//`, `#` or `/* */` comments may lie between them; up to
/// `maxParts` parts), and the joined text goes through the detector once. A token that crosses a junction is
/// reported at its first fragment; one inside a single literal is left to the plain scan.
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
        Self.forEach(in: buffer, anchorRange: anchorRange, detector: detector, stringDepth: 0, body)
    }

    /// How many JSON string layers are undone around escaped quotes (source in a source map in a JSON string).
    static let maxStringDepth = 2

    /// `stringDepth`: how many JSON string layers were undone to give `buffer`.
    /// `idPrefixHits`: the offsets of `TKN-` in `anchorRange`, in increasing order, when the caller already has
    /// them (`CombinedAnchors.candidates`, from `TokenDetector.scan(_:hits:idPrefixHits:emit:)`); nil searches
    /// for them.
    static func forEach(in buffer: UnsafeBufferPointer<UInt8>, anchorRange: Range<Int>, detector: TokenDetector,
                        stringDepth: Int, idPrefixHits: [Int]? = nil, _ body: (Candidate) -> Void) {
        let insideString = stringDepth >= Self.maxStringDepth
        var joined: [UInt8] = []
        var pieces: [(joined: Int, buffer: Int, count: Int)] = []
        var chainEnd = -1 // a junction inside the last chain joined was handled with it
        // joins `parts` and any literals that follow them, and reports tokens that cross a junction
        func join(_ parts: [Range<Int>], after: Int) {
            joined.removeAll(keepingCapacity: true)
            pieces.removeAll(keepingCapacity: true)
            func add(_ r: Range<Int>) {
                pieces.append((joined.count, r.lowerBound, r.count))
                joined.append(contentsOf: buffer[r])
            }
            parts.forEach(add)
            var after = after
            var cut = false
            while let next = Self.nextLiteral(after: after, in: buffer) {
                guard pieces.count < Self.maxParts else { cut = true; break }
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
        // chains with a `+`: anchored on the operator
        Self.plus.forEach(in: buffer, starting: anchorRange) { p in
            guard p >= chainEnd else { return }
            // most '+' are arithmetic: the byte before must be a quote or white space
            guard p > 0, Self.isQuote(buffer[p - 1]) || Self.isSpace(buffer[p - 1]) else { return }
            if !insideString, Self.followsEscapedQuote(p, in: buffer) {
                if Self.mayHoldTokenID(near: p, in: buffer) {
                    chainEnd = Self.forEachInsideString(buffer, around: p, detector: detector, depth: stringDepth + 1, body)
                }
                return
            }
            // a closing quote before the '+', an opening quote after it
            guard let left = Self.literal(endingBefore: p, in: buffer), let first = Self.literal(startingAfter: p, in: buffer) else { return }
            join([left, first.content], after: first.end)
        }
        // adjacent literals with no operator (Python, C and C++ `"idt:TKN-1234-" "5678:…"`): anchored on the
        // id prefix, in a literal that the next literal follows directly, or that follows another literal
        chainEnd = -1
        func adjacent(_ a: Int) {
            guard a >= chainEnd else { return }
            if !insideString, Self.precedesEscapedQuote(a, in: buffer) {
                chainEnd = Self.forEachInsideString(buffer, around: a, detector: detector, depth: stringDepth + 1, body)
                return
            }
            guard let (open, close) = Self.enclosingLiteral(a, in: buffer) else { return }
            var parts = [(open + 1)..<close]
            // up to two literals before it, joined to it by white space, comments or `+`
            var front = open
            while parts.count < 3, let previous = Self.previousLiteral(before: front, in: buffer) {
                parts.insert(previous.content, at: 0)
                front = previous.start
            }
            guard parts.count > 1 || Self.nextLiteral(after: close + 1, in: buffer) != nil else { return }
            join(parts, after: close + 1)
        }
        if let idPrefixHits { idPrefixHits.forEach(adjacent) } else { Self.idPrefix.forEach(in: buffer, starting: anchorRange, adjacent) }
    }

    static let idPrefix = LiteralSearch(Array("TKN-".utf8))

    // MARK: - Source inside a JSON string

    /// Whether the `+` at `p` follows a JSON-escaped closing quote (`\" + \"…`): source code held in a JSON
    /// string, such as a source map's `sourcesContent` or a notebook cell.
    static func followsEscapedQuote(_ p: Int, in b: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = p - 1
        while i > 0, Self.isSpace(b[i]) { i -= 1 }
        return i > 0 && b[i] == UInt8(ascii: "\"") && b[i - 1] == UInt8(ascii: "\\")
    }

    /// Whether the bytes around a junction at `p` can hold a token id crossing it: `TKN` whole, or, when the
    /// junction cuts through it (`"idt:TK" + "N-1234…"`), `N-` and a digit. A cheap test before unescaping.
    static func mayHoldTokenID(near p: Int, in b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = b.baseAddress else { return false }
        let lo = max(0, p - 2 * Self.maxLiteral), hi = min(b.count, p + 2 * Self.maxLiteral)
        var i = lo
        while i < hi, let hit = memchr(base + i, Int32(UInt8(ascii: "N")), hi - i) {
            let n = UnsafeRawPointer(hit) - UnsafeRawPointer(base)
            if n >= 2 && b[n - 2] == UInt8(ascii: "T") && b[n - 1] == UInt8(ascii: "K") { return true }
            if n + 2 < b.count && b[n + 1] == UInt8(ascii: "-") && b[n + 2] >= 0x30 && b[n + 2] <= 0x39 { return true }
            i = n + 1
        }
        return false
    }

    /// Whether a JSON-escaped quote follows the id prefix at `a` on its line, within a literal's length.
    static func precedesEscapedQuote(_ a: Int, in b: UnsafeBufferPointer<UInt8>) -> Bool {
        var j = a
        let limit = min(b.count - 1, a + Self.maxLiteral)
        while j < limit {
            if b[j] == 10 || b[j] == UInt8(ascii: "\"") { return false }
            if b[j] == UInt8(ascii: "\\") && b[j + 1] == UInt8(ascii: "\"") { return true }
            j += 1
        }
        return false
    }

    /// Bytes after an anchor that one chain can span: `maxParts` literals with their gaps.
    static let chainSpan = Self.maxParts * (Self.maxLiteral + 64)

    /// Unescapes the JSON string text around `anchor` (RFC 8259 §7: `\"`, `\\`, `\/`, `\n`, `\t`, `\r`,
    /// `\uXXXX`), joins the literals of the source code it holds, and reports tokens with offsets mapped back
    /// into `buffer`. Every anchor in the next `chainSpan` bytes is handled from the same unescaped window (so
    /// repeated escaped literals cost a bounded number of bytes each); returns the buffer offset up to which
    /// anchors were handled.
    static func forEachInsideString(_ buffer: UnsafeBufferPointer<UInt8>, around anchor: Int, detector: TokenDetector,
                                    depth: Int, _ body: (Candidate) -> Void) -> Int {
        // two literals before the anchor; chains starting up to chainSpan after it, each with room to run
        var start = max(0, anchor - 3 * Self.maxLiteral)
        let handled = min(buffer.count, anchor + Self.chainSpan)
        let end = min(buffer.count, handled + Self.chainSpan)
        while start < anchor, start > 0, buffer[start - 1] == UInt8(ascii: "\\") { start += 1 } // not inside an escape
        var text: [UInt8] = [], origins: [Int] = [], ends: [Int] = []
        text.reserveCapacity(end - start)
        var i = start, anchorAt = -1, handledAt = -1
        while i < end {
            var byte = buffer[i], length = 1
            if byte == UInt8(ascii: "\\"), i + 1 < end {
                length = 2
                switch buffer[i + 1] {
                case UInt8(ascii: "n"): byte = 10
                case UInt8(ascii: "t"): byte = 9
                case UInt8(ascii: "r"): byte = 13
                case UInt8(ascii: "u"):
                    if let v = EscapedTokens.hex(buffer[..<end], i + 2, digits: 4), v < 0x80 {
                        byte = UInt8(v); length = 6
                    } else { byte = UInt8(ascii: "?") }
                default: byte = buffer[i + 1] // \" \\ \/ and anything else: the escaped byte
                }
            }
            if anchorAt < 0 && i >= anchor { anchorAt = text.count }
            if handledAt < 0 && i >= handled { handledAt = text.count }
            text.append(byte)
            origins.append(i)
            ends.append(i + length)
            i += length
        }
        guard anchorAt >= 0 else { return anchor + 1 }
        if handledAt < 0 { handledAt = text.count }
        text.withUnsafeBufferPointer { view in
            Self.forEach(in: view, anchorRange: anchorAt..<max(anchorAt + 1, handledAt), detector: detector, stringDepth: depth) { candidate in
                var moved = candidate
                moved.start = origins[candidate.start]
                moved.end = ends[candidate.end - 1]
                body(moved)
            }
        }
        return max(anchor + 1, handled)
    }

    /// The literal after a junction that starts at `after`: white space and comments, then `+` (or nothing:
    /// adjacent literals), white space and comments, then an opening quote. Nil when no literal follows.
    static func nextLiteral(after: Int, in b: UnsafeBufferPointer<UInt8>) -> (content: Range<Int>, end: Int)? {
        var k = Self.skipGap(from: after, in: b)
        guard k < b.count else { return nil }
        if b[k] == UInt8(ascii: "+") {
            return Self.literal(startingAfter: k, in: b)
        }
        guard Self.isQuote(b[k]) || Self.prefixLength(b, k) > 0 else { return nil }
        k -= 1
        return Self.literal(startingAfter: k, in: b)
    }

    /// The length of a string-literal prefix at `i` that a quote follows: Python `r` `b` `u` `f` `rb` `br` `fr`
    /// `rf`, C/C++ `L` `u` `U` `u8`, C# `@` `$` `$@` `@$` (any case); 0 when there is none.
    static let prefixBytes: [Bool] = (0..<256).map { "rRbBuUfFL8@$".utf8.contains(UInt8($0)) }

    static func prefixLength(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int {
        var n = 0
        while n < 2, i + n < b.count, Self.prefixBytes[Int(b[i + n])] { n += 1 }
        guard n > 0, i + n < b.count, Self.isQuote(b[i + n]), i == 0 || !Self.isWordByte(b[i - 1]) else { return 0 }
        return n
    }

    @inline(__always)
    static func isWordByte(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F
    }

    /// The literal that ends before `front` (an opening quote), across white space, comments or a `+`: its
    /// contents and the index of its opening quote.
    static func previousLiteral(before front: Int, in b: UnsafeBufferPointer<UInt8>) -> (content: Range<Int>, start: Int)? {
        var i = front - 1
        var spaces = 0
        while i >= 0, spaces < 64 {
            if Self.isSpace(b[i]) { i -= 1; spaces += 1; continue }
            // a line continuation: the backslash that ended the previous line
            if b[i] == UInt8(ascii: "\\"), i + 1 < b.count, b[i + 1] == 10 || b[i + 1] == 13 { i -= 1; spaces += 1; continue }
            break
        }
        guard i >= 0 else { return nil }
        // `literal(endingBefore:)` skips white space before its argument, then wants the closing quote
        guard let content = Self.literal(endingBefore: i + 1, in: b), content.lowerBound >= 1 else {
            guard b[i] == UInt8(ascii: "+"), let content = Self.literal(endingBefore: i, in: b), content.lowerBound >= 1 else { return nil }
            return (content, content.lowerBound - 1)
        }
        return (content, content.lowerBound - 1)
    }

    /// The literal holding the byte at `a`, on one line: (index of its opening quote, index of its closing
    /// quote). Nil when `a` is not inside a quoted literal of at most `maxLiteral` bytes.
    static func enclosingLiteral(_ a: Int, in b: UnsafeBufferPointer<UInt8>) -> (Int, Int)? {
        var j = a
        let limit = min(b.count, a + Self.maxLiteral)
        var close = -1
        while j < limit {
            let c = b[j]
            if c == UInt8(ascii: "\\") { j += 2; continue }
            if c == 10 { return nil }
            if Self.isQuote(c) { close = j; break }
            j += 1
        }
        guard close > 0 else { return nil }
        let quote = b[close]
        var i = a - 1
        let floor = max(0, a - Self.maxLiteral)
        while i >= floor {
            if b[i] == 10 { return nil }
            if b[i] == quote { return (i, close) }
            i -= 1
        }
        return nil
    }

    /// Index of the first byte at or after `i` that is not white space or a comment (`// …`, `# …` to the end of
    /// the line, `/* … */`), looking at most 256 bytes ahead. A line of commented-out code (`// "…" +`) keeps
    /// its literals: a comment marker opening a line that continues with a quote or `+` is skipped alone.
    static func skipGap(from i: Int, in b: UnsafeBufferPointer<UInt8>) -> Int {
        var k = i
        let limit = min(b.count, i + 256)
        var lineStart = false
        while k < limit {
            let c = b[k]
            if Self.isSpace(c) { lineStart = lineStart || c == 10; k += 1; continue }
            // a line continuation (C, Python): a backslash ending the line
            if c == UInt8(ascii: "\\"), k + 1 < limit, b[k + 1] == 10 || (b[k + 1] == 13 && k + 2 < limit && b[k + 2] == 10) {
                k += b[k + 1] == 10 ? 2 : 3
                lineStart = true
                continue
            }
            let marker = c == UInt8(ascii: "#") ? 1 : (c == UInt8(ascii: "/") && k + 1 < limit && b[k + 1] == UInt8(ascii: "/")) ? 2 : 0
            if marker > 0 {
                if lineStart {
                    var m = k + marker
                    while m < limit && (b[m] == 32 || b[m] == 9) { m += 1 }
                    if m < limit && (Self.isQuote(b[m]) || b[m] == UInt8(ascii: "+")) { k = m; lineStart = false; continue }
                }
                while k < limit && b[k] != 10 { k += 1 }
                continue
            }
            if c == UInt8(ascii: "/") && k + 1 < limit && b[k + 1] == UInt8(ascii: "*") {
                k += 2
                while k + 1 < limit && !(b[k] == UInt8(ascii: "*") && b[k + 1] == UInt8(ascii: "/")) { k += 1 }
                k += 2
                continue
            }
            break
        }
        return min(k, b.count)
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

    /// The literal that opens just after `p` (white space and comments between): its contents and the index
    /// past its closing quote; nil when there is none.
    static func literal(startingAfter p: Int, in b: UnsafeBufferPointer<UInt8>) -> (content: Range<Int>, end: Int)? {
        var i = Self.skipGap(from: p + 1, in: b)
        guard i < b.count else { return nil }
        // a prefixed literal: an interpolating one (`f"…"`, `$"…"`) only when it interpolates nothing
        let prefix = Self.prefixLength(b, i)
        let interpolates = b[i..<(i + prefix)].contains { $0 | 0x20 == UInt8(ascii: "f") || $0 == UInt8(ascii: "$") }
        i += prefix
        guard i < b.count, Self.isQuote(b[i]) else { return nil }
        let quote = b[i], open = i
        var j = open + 1
        let limit = min(b.count, open + 1 + Self.maxLiteral)
        while j < limit {
            let c = b[j]
            if c == UInt8(ascii: "\\") { j += 2; continue }
            if c == quote { return ((open + 1)..<j, j + 1) }
            if c == 10 && quote != UInt8(ascii: "`") { return nil }
            if interpolates && c == UInt8(ascii: "{") { return nil }
            if quote == UInt8(ascii: "`") && c == UInt8(ascii: "$") && j + 1 < limit && b[j + 1] == UInt8(ascii: "{") { return nil }
            j += 1
        }
        return nil
    }
}
