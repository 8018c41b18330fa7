/// Inline allow comments: `mptscan:allow` on the finding's line, `mptscan:allow-next-line` on the line before.
///
/// A "line" here is a logical line: it ends at LF or at the two characters `\n` of an escaped string, so an
/// allow inside one embedded source of a source map (all on one physical line) covers that source's line only.
/// The marker must be within `window` bytes of the token: one comment in a megabyte-long minified line does not
/// hide every token in it.
enum InlineAllow {
    /// Bytes searched on each side of the token (within the context `ContentScanner` keeps).
    static let window = 4096
    private static let marker = LiteralSearch(Array("mptscan:allow".utf8))
    private static let nextLineSuffix = Array("-next-line".utf8)

    /// Offsets of every `mptscan:allow` in `b`, ascending.
    static func markers(in b: UnsafeBufferPointer<UInt8>) -> [Int] {
        var found: [Int] = []
        self.marker.forEach(in: b, starting: 0..<b.count) { found.append($0) }
        return found
    }

    /// The suppression that applies to the token at `span` of `b`, or nil. `markers` are the offsets from
    /// `markers(in:)`: with none within `window` bytes of the span, nothing is scanned.
    static func suppression(_ b: UnsafeBufferPointer<UInt8>, span: Range<Int>, markers: [Int]) -> Suppression? {
        var lo = 0, hi = markers.count
        let from = span.lowerBound - 2 * self.window // the previous line's marker may be further back
        while lo < hi {
            let mid = (lo + hi) / 2
            if markers[mid] < from { lo = mid + 1 } else { hi = mid }
        }
        guard lo < markers.count && markers[lo] < span.upperBound + self.window else { return nil }
        let (start, breakLength) = self.lineStart(b, before: span.lowerBound, floor: max(0, span.lowerBound - self.window))
        let end = self.lineEnd(b, after: span.upperBound, ceiling: min(b.count, span.upperBound + self.window))
        if self.hasMarker(b, start..<end, nextLine: false) { return .inlineAllow }
        guard breakLength > 0 else { return nil }
        let previousEnd = start - breakLength
        let (previousStart, _) = self.lineStart(b, before: previousEnd, floor: max(0, previousEnd - self.window))
        return self.hasMarker(b, previousStart..<previousEnd, nextLine: true) ? .inlineAllowNextLine : nil
    }

    /// Start of the logical line holding offset `i`, and the length of the break before it (0 when `floor`
    /// was reached first).
    private static func lineStart(_ b: UnsafeBufferPointer<UInt8>, before i: Int, floor: Int) -> (Int, Int) {
        var j = i
        while j > floor {
            if b[j - 1] == 0x0A { return (j, 1) }
            if b[j - 1] == 0x6E && j - 2 >= floor && b[j - 2] == 0x5C { return (j, 2) }
            j -= 1
        }
        return (j, 0)
    }

    private static func lineEnd(_ b: UnsafeBufferPointer<UInt8>, after i: Int, ceiling: Int) -> Int {
        var j = i
        while j < ceiling {
            if b[j] == 0x0A || (b[j] == 0x5C && j + 1 < ceiling && b[j + 1] == 0x6E) { return j }
            j += 1
        }
        return j
    }

    /// Whether `b[range]` holds `mptscan:allow` (not followed by `-`), or `mptscan:allow-next-line`.
    private static func hasMarker(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, nextLine: Bool) -> Bool {
        var found = false
        let markerLength = self.marker.literal.count
        self.marker.forEach(in: UnsafeBufferPointer(rebasing: b[..<range.upperBound]), starting: range) { at in
            let after = at + markerLength
            let dash = after < range.upperBound && b[after] == 0x2D
            if !nextLine {
                if !dash { found = true }
            } else if dash, after + self.nextLineSuffix.count <= range.upperBound,
                      self.nextLineSuffix.indices.allSatisfy({ b[after + $0] == self.nextLineSuffix[$0] }) {
                found = true
            }
        }
        return found
    }
}
