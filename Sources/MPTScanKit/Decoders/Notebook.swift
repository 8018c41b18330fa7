/// Jupyter notebooks (nbformat 4, https://nbformat.readthedocs.io): a hit in a `.ipynb` file's raw JSON is
/// given the cell it is in and its line within the cell, for code and markdown sources and saved outputs.
/// Cell sources are arrays of strings, one per line, so the line is the string's index (plus any `\n` escape
/// before the hit inside it).
public enum Notebook {
    /// One string of a cell: its raw byte range and the cell line its first character is on.
    struct Piece {
        var cell: Int
        var part: String   // "source" or "outputs"
        var line: Int      // 1-based
        var range: Range<Int>
    }

    /// Sets `original` (`cell N` 1-based, line and column within the cell; `via` `cells[i].source` or
    /// `cells[i].outputs`) on each finding inside a cell string. Nothing changes when `bytes` is not a notebook.
    public static func annotate(_ findings: inout [Finding], bytes: UnsafeBufferPointer<UInt8>) {
        guard !findings.isEmpty, let pieces = Self.pieces(bytes) else { return }
        for k in findings.indices where findings[k].original == nil {
            let offset = findings[k].byteOffset
            guard let piece = pieces.first(where: { $0.range.contains(offset) }) else { continue }
            let content = SourceMap.Content(source: "", index: 0, range: piece.range)
            let (line, column) = SourceMap.lineColumn(of: offset, in: content, bytes: bytes)
            findings[k].original = OriginalLocation(source: "cell \(piece.cell + 1)", line: piece.line + line - 1, column: column,
                                                    via: "cells[\(piece.cell)].\(piece.part)")
        }
    }

    /// The strings of every cell's `source` and `outputs`, or nil when `bytes` is not a notebook object.
    static func pieces(_ bytes: UnsafeBufferPointer<UInt8>) -> [Piece]? {
        var p = SourceMap.Parser(bytes: bytes)
        var out: [Piece] = []
        p.skipSpace()
        guard p.i < bytes.count, bytes[p.i] == UInt8(ascii: "{") else { return nil }
        p.i += 1
        var sawCells = false
        while true {
            p.skipSpace()
            guard let key = p.string() else { return nil }
            p.skipSpace()
            guard p.i < bytes.count, bytes[p.i] == UInt8(ascii: ":") else { return nil }
            p.i += 1
            p.skipSpace()
            if p.text(key) == "cells" {
                sawCells = true
                guard Self.cells(&p, into: &out) else { return nil }
            } else {
                guard p.skipValue() else { return nil }
            }
            p.skipSpace()
            guard p.i < bytes.count else { return nil }
            if bytes[p.i] == UInt8(ascii: ",") { p.i += 1; continue }
            if bytes[p.i] == UInt8(ascii: "}") { break }
            return nil
        }
        return sawCells ? out : nil
    }

    private static func cells(_ p: inout SourceMap.Parser, into out: inout [Piece]) -> Bool {
        guard p.i < p.bytes.count, p.bytes[p.i] == UInt8(ascii: "[") else { return false }
        p.i += 1
        var cell = 0
        while true {
            p.skipSpace()
            guard p.i < p.bytes.count else { return false }
            if p.bytes[p.i] == UInt8(ascii: "]") { p.i += 1; return true }
            guard p.bytes[p.i] == UInt8(ascii: "{") else { return false }
            p.i += 1
            while true {
                p.skipSpace()
                if p.i < p.bytes.count && p.bytes[p.i] == UInt8(ascii: "}") { p.i += 1; break }
                guard let key = p.string() else { return false }
                p.skipSpace()
                guard p.i < p.bytes.count, p.bytes[p.i] == UInt8(ascii: ":") else { return false }
                p.i += 1
                p.skipSpace()
                let name = p.text(key)
                if name == "source" || name == "outputs" {
                    guard Self.strings(&p, cell: cell, part: name, line: 1, depth: 0, into: &out) else { return false }
                } else {
                    guard p.skipValue() else { return false }
                }
                p.skipSpace()
                guard p.i < p.bytes.count else { return false }
                if p.bytes[p.i] == UInt8(ascii: ",") { p.i += 1; continue }
                if p.bytes[p.i] == UInt8(ascii: "}") { p.i += 1; break }
                return false
            }
            cell += 1
            p.skipSpace()
            guard p.i < p.bytes.count else { return false }
            if p.bytes[p.i] == UInt8(ascii: ",") { p.i += 1 }
        }
    }

    /// Every string inside the value at `p.i`; in an array of strings, the i-th string is on line i + 1.
    private static func strings(_ p: inout SourceMap.Parser, cell: Int, part: String, line: Int, depth: Int, into out: inout [Piece]) -> Bool {
        guard depth < 32, p.i < p.bytes.count else { return false }
        switch p.bytes[p.i] {
        case UInt8(ascii: "\""):
            guard let r = p.string() else { return false }
            out.append(Piece(cell: cell, part: part, line: line, range: r))
            return true
        case UInt8(ascii: "["), UInt8(ascii: "{"):
            let isObject = p.bytes[p.i] == UInt8(ascii: "{")
            let close: UInt8 = isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")
            p.i += 1
            var index = 0
            while true {
                p.skipSpace()
                guard p.i < p.bytes.count else { return false }
                if p.bytes[p.i] == close { p.i += 1; return true }
                if isObject {
                    guard p.string() != nil else { return false }
                    p.skipSpace()
                    guard p.i < p.bytes.count, p.bytes[p.i] == UInt8(ascii: ":") else { return false }
                    p.i += 1
                    p.skipSpace()
                }
                guard Self.strings(&p, cell: cell, part: part, line: isObject ? 1 : index + 1, depth: depth + 1, into: &out) else { return false }
                index += 1
                p.skipSpace()
                guard p.i < p.bytes.count else { return false }
                if p.bytes[p.i] == UInt8(ascii: ",") { p.i += 1 }
            }
        default:
            return p.skipValue()
        }
    }
}
