/// How the `:` between the parts of a token was written where it was found.
///
/// Sources: JSON (RFC 8259 `\u003a`), JavaScript (`\x3a`), URLs (RFC 3986 percent-encoding, and twice-encoded
/// `%253A`), HTML character references (decimal, hexadecimal and the named `&colon;`), and `.properties` files,
/// where `\:` escapes a colon. Any number of backslashes may precede an escape (JSON inside JSON doubles them).
public enum SeparatorEncoding: String, Sendable, Codable, Comparable {
    case plain
    case backslashEscape = "backslash-escape"
    case unicodeEscape = "unicode-escape"
    case hexEscape = "hex-escape"
    case percent
    case doublePercent = "double-percent"
    case htmlEntity = "html-entity"

    public static func < (lhs: SeparatorEncoding, rhs: SeparatorEncoding) -> Bool { lhs.rawValue < rhs.rawValue }

    /// How `:` looks in this encoding, for messages.
    public var example: String {
        switch self {
        case .plain: return ":"
        case .backslashEscape: return "\\:"
        case .unicodeEscape: return "\\u003a"
        case .hexEscape: return "\\x3a"
        case .percent: return "%3A"
        case .doublePercent: return "%253A"
        case .htmlEntity: return "&#58;"
        }
    }
}

/// Recognises an encoded `:` forwards or backwards in raw bytes. All offsets are 0-based byte offsets.
enum Separator {
    /// Most backslashes accepted before an escape (JSON nested this deep is rare; the cap bounds the look-back).
    static let maxBackslashes = 8

    /// The separator starting at `i`, as (length in bytes, encoding), or nil.
    @inline(__always)
    static func forward(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> (Int, SeparatorEncoding)? {
        let n = b.count
        guard i < n else { return nil }
        switch b[i] {
        case 0x3A: // ':'
            return (1, .plain)
        case 0x25: // '%'
            if i + 2 < n, b[i + 1] == 0x33, b[i + 2] | 0x20 == 0x61 { return (3, .percent) }
            if i + 4 < n, b[i + 1] == 0x32, b[i + 2] == 0x35, b[i + 3] == 0x33, b[i + 4] | 0x20 == 0x61 {
                return (5, .doublePercent)
            }
            return nil
        case 0x5C: // '\'
            var j = i
            while j < n && b[j] == 0x5C && j - i < maxBackslashes { j += 1 }
            guard j < n else { return nil }
            if b[j] == 0x3A { return (j - i + 1, .backslashEscape) }
            if b[j] == 0x75, j + 4 < n, b[j + 1] == 0x30, b[j + 2] == 0x30, b[j + 3] == 0x33, b[j + 4] | 0x20 == 0x61 {
                return (j - i + 5, .unicodeEscape)
            }
            if b[j] == 0x78, j + 2 < n, b[j + 1] == 0x33, b[j + 2] | 0x20 == 0x61 { return (j - i + 3, .hexEscape) }
            return nil
        case 0x26: // '&'
            if i + 4 < n, b[i + 1] == 0x23 {
                if b[i + 2] == 0x35, b[i + 3] == 0x38, b[i + 4] == 0x3B { return (5, .htmlEntity) } // &#58;
                if i + 5 < n, b[i + 2] == 0x30, b[i + 3] == 0x35, b[i + 4] == 0x38, b[i + 5] == 0x3B { return (6, .htmlEntity) } // &#058;
                if i + 5 < n, b[i + 2] | 0x20 == 0x78, b[i + 3] == 0x33, b[i + 4] | 0x20 == 0x61, b[i + 5] == 0x3B { return (6, .htmlEntity) } // &#x3a;
                return nil
            }
            if i + 6 < n, b[i + 1] == 0x63, b[i + 2] == 0x6F, b[i + 3] == 0x6C, b[i + 4] == 0x6F, b[i + 5] == 0x6E, b[i + 6] == 0x3B {
                return (7, .htmlEntity) // &colon;
            }
            return nil
        default:
            return nil
        }
    }

    private static let colonLengths = [1]              // `:` (+ backslashes)
    private static let hexLengths = [3, 5, 4, 6]       // %3A, %253A, \x3a (+\), \u003a (+\)
    private static let entityLengths = [5, 6, 7]       // &#58; / &#058; &#x3a; / &colon;

    /// The separator ending just before `end`, as (start offset, encoding), or nil. Leading backslashes of an
    /// escape are included, so `\\u003a` is found whole.
    @inline(__always)
    static func backward(_ b: UnsafeBufferPointer<UInt8>, endingAt end: Int) -> (Int, SeparatorEncoding)? {
        guard end > 0 else { return nil }
        let last = b[end - 1]
        let candidates: [Int]
        switch last {
        case 0x3A: candidates = Self.colonLengths
        case 0x41, 0x61: candidates = Self.hexLengths
        case 0x3B: candidates = Self.entityLengths
        default: return nil
        }
        for length in candidates where end - length >= 0 {
            var start = end - length
            if length == 4 || length == 6 || length == 1 {
                // `\x3a` and `\u003a` hold one backslash already; more may precede them, and `:` may be `\:`
                let held = length == 1 ? 0 : 1
                var k = 0
                while start > 0 && b[start - 1] == 0x5C && k < maxBackslashes - held { start -= 1; k += 1 }
            }
            if let (len, enc) = forward(b, start), start + len == end { return (start, enc) }
        }
        return nil
    }
}
