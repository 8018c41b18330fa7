/// Counting Unicode scalars in raw bytes, leniently: each well-formed UTF-8 sequence (Unicode 15, table 3-7)
/// counts as one scalar, and each byte that is not part of one counts as one on its own.
enum TextPosition {
    /// Scalars in `b[range]` (the range must start at a character boundary to be exact).
    static func scalarCount(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Int {
        var count = 0
        var i = range.lowerBound
        let end = range.upperBound
        guard let base = b.baseAddress else { return 0 }
        while i < end {
            // eight ASCII bytes at once (a file's long minified lines are counted here when the buffer slides)
            if i + 8 <= end && UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                count += 8
                i += 8
                continue
            }
            let c = b[i]
            if c < 0x80 { count += 1; i += 1; continue }
            i += sequenceLength(b, i, end)
            count += 1
        }
        return count
    }

    /// Length of the well-formed UTF-8 sequence at `i`, or 1 when the byte there starts none.
    @inline(__always)
    static func sequenceLength(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        let c = b[i]
        func cont(_ j: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> Bool { j < end && b[j] >= lo && b[j] <= hi }
        switch c {
        case 0xC2...0xDF: return cont(i + 1) ? 2 : 1
        case 0xE0: return cont(i + 1, 0xA0, 0xBF) && cont(i + 2) ? 3 : 1
        case 0xE1...0xEC, 0xEE...0xEF: return cont(i + 1) && cont(i + 2) ? 3 : 1
        case 0xED: return cont(i + 1, 0x80, 0x9F) && cont(i + 2) ? 3 : 1
        case 0xF0: return cont(i + 1, 0x90, 0xBF) && cont(i + 2) && cont(i + 3) ? 4 : 1
        case 0xF1...0xF3: return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 1
        case 0xF4: return cont(i + 1, 0x80, 0x8F) && cont(i + 2) && cont(i + 3) ? 4 : 1
        default: return 1
        }
    }

    /// Moves `i` back (at most 3 bytes, never below `floor`) to the start of the UTF-8 sequence that holds it.
    static func characterStart(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, floor: Int) -> Int {
        var j = i
        while j > floor && i - j < 3 && b[j] & 0xC0 == 0x80 { j -= 1 }
        if j < i && sequenceLength(b, j, b.count) > i - j { return j }
        return i
    }
}
