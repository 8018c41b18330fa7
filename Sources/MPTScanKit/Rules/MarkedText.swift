/// Example text in which `«` and `»` mark the exact spans a rule must report (as in SwiftLint's examples and
/// swift-format's `MarkedText`).
public struct MarkedText: Sendable, Equatable {
    /// The text with the markers removed, as UTF-8 bytes.
    public var bytes: [UInt8]
    /// The marked spans as byte ranges of `bytes` (0-based, upper bound exclusive), in order.
    public var spans: [Range<Int>]

    /// Opening and closing markers.
    public static let open: Character = "«"
    public static let close: Character = "»"

    /// Parses `text`. Returns nil when markers are unbalanced or nested.
    public init?(_ text: String) {
        var bytes: [UInt8] = []
        var spans: [Range<Int>] = []
        var openAt: Int? = nil
        for ch in text {
            if ch == Self.open {
                guard openAt == nil else { return nil }
                openAt = bytes.count
            } else if ch == Self.close {
                guard let start = openAt else { return nil }
                spans.append(start..<bytes.count)
                openAt = nil
            } else {
                bytes.append(contentsOf: Array(String(ch).utf8))
            }
        }
        guard openAt == nil else { return nil }
        self.bytes = bytes
        self.spans = spans
    }

    /// 1-based (line, column) of byte offset `offset`: lines count LF, columns count Unicode scalars.
    public func position(ofByte offset: Int) -> (line: Int, column: Int) {
        var line = 1
        var lineStart = 0
        for i in 0..<offset where self.bytes[i] == 0x0A {
            line += 1
            lineStart = i + 1
        }
        let column = self.bytes.withUnsafeBufferPointer { TextPosition.scalarCount($0, lineStart..<offset) } + 1
        return (line, column)
    }
}
