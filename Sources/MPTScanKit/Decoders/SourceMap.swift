/// The parts of a source map (Source Map Revision 3, https://sourcemaps.info/spec.html; ECMA-426) that say
/// where embedded sources are: the raw byte range of each `sourcesContent` string, with the name of the source
/// it holds (`sourceRoot` + `sources[i]`). Index maps (`sections`) are walked too. Nothing is decoded until a
/// finding asks: a 40 MB map is tokenised once, its strings are not copied.
///
/// Used to give a finding in a `.map` file (whose raw bytes already hold the token: JSON needs no escape for
/// any token character) its original source, line and column, so the map's raw bytes and its decoded
/// `sourcesContent` are one finding, not two.
public struct SourceMap: Sendable {
    /// One embedded source: the byte range of its JSON string (inside the quotes) in the map's bytes.
    public struct Content: Sendable, Equatable {
        /// `sourceRoot` + `sources[index]`, or `sources[index]` alone; `sourcesContent[index]` when unnamed.
        public var source: String
        /// Index in its (section's) `sourcesContent`.
        public var index: Int
        /// Bytes of the string's contents, escapes as written, 0-based offsets into the map.
        public var range: Range<Int>
    }

    /// Embedded sources in the order they appear.
    public var contents: [Content] = []

    /// Cheap test of the first bytes: `{` (after white space or the `)]}'` XSSI guard) followed within 256
    /// bytes by `"version"`, or a file name ending in `.map`.
    public static func looksLikeSourceMap(_ head: UnsafeBufferPointer<UInt8>, path: String?) -> Bool {
        if let path, path.hasSuffix(".map") { return true }
        var i = 0
        if head.starts(with: ")]}'".utf8) { i = 4 }
        while i < head.count, head[i] == 32 || head[i] == 10 || head[i] == 13 || head[i] == 9 { i += 1 }
        guard i < head.count, head[i] == UInt8(ascii: "{") else { return false }
        let window = UnsafeBufferPointer(rebasing: head[i..<min(head.count, i + 256)])
        return Self.contains(window, Array("\"version\"".utf8))
    }

    /// Tokenises `bytes` as a source map. Returns nil for anything that is not a JSON object with a
    /// `sourcesContent` array (the caller then keeps the plain findings).
    public static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> SourceMap? {
        var parser = Parser(bytes: bytes)
        parser.skipSpace()
        if parser.bytes[parser.i...].starts(with: ")]}'".utf8) { parser.i += 4; parser.skipSpace() }
        var map = SourceMap()
        guard parser.object(into: &map.contents) else { return nil }
        return map.contents.isEmpty ? nil : map
    }

    /// Where the raw byte `offset` of the map falls in an embedded source: the content, and the 1-based line
    /// and column (Unicode scalars of the decoded text) of that byte. Nil when it is in no `sourcesContent`.
    public func position(ofByte offset: Int, in bytes: UnsafeBufferPointer<UInt8>) -> (content: Content, line: Int, column: Int)? {
        guard let content = self.contents.first(where: { $0.range.contains(offset) }) else { return nil }
        var line = 1, column = 1
        var i = content.range.lowerBound
        while i < offset {
            let b = bytes[i]
            if b == UInt8(ascii: "\\") && i + 1 < content.range.upperBound {
                let e = bytes[i + 1]
                if e == UInt8(ascii: "n") { line += 1; column = 1; i += 2; continue }
                if e == UInt8(ascii: "u") {
                    // \uD83D\uDE00 (a surrogate pair) is one scalar
                    let unit = self.unit(bytes, at: i, end: content.range.upperBound)
                    let pairs = (0xD800...0xDBFF).contains(unit) && (0xDC00...0xDFFF).contains(self.unit(bytes, at: i + 6, end: content.range.upperBound))
                    i += pairs ? 12 : 6
                    column += 1
                    continue
                }
                i += 2; column += 1
                continue
            }
            if b & 0xC0 != 0x80 { column += 1 } // count lead bytes only
            i += 1
        }
        return (content, line, column)
    }

    /// The code unit of a `\uXXXX` escape starting at `i`, or -1.
    private func unit(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int, end: Int) -> Int {
        guard i + 5 < end, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else { return -1 }
        var v = 0
        for k in 2...5 {
            let h = Self.hex(bytes[i + k])
            guard h >= 0 else { return -1 }
            v = v * 16 + h
        }
        return v
    }

    private static func hex(_ c: UInt8) -> Int {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(c - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return Int(c - UInt8(ascii: "A") + 10)
        default: return -1
        }
    }

    private static func contains(_ hay: UnsafeBufferPointer<UInt8>, _ needle: [UInt8]) -> Bool {
        guard hay.count >= needle.count else { return false }
        for s in 0...(hay.count - needle.count) where hay[s] == needle[0] {
            if needle.indices.allSatisfy({ hay[s + $0] == needle[$0] }) { return true }
        }
        return false
    }

    /// A minimal JSON walker: validates structure, records string ranges, never builds values it skips.
    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var i = 0
        var depth = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 32 || bytes[i] == 10 || bytes[i] == 13 || bytes[i] == 9 { i += 1 }
        }

        /// A string at `i` (the opening quote): the range of its contents; `i` moves past the closing quote.
        mutating func string() -> Range<Int>? {
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return nil }
            let start = i + 1
            var j = start
            while j < bytes.count {
                let b = bytes[j]
                if b == UInt8(ascii: "\\") { j += 2; continue }
                if b == UInt8(ascii: "\"") { i = j + 1; return start..<j }
                j += 1
            }
            return nil
        }

        /// The decoded text of a string without escapes other than `\/` and `\"` (keys, file names); escapes
        /// such as `\u00e9` are decoded.
        func text(_ r: Range<Int>) -> String {
            var out: [UInt8] = []
            var k = r.lowerBound
            while k < r.upperBound {
                let b = bytes[k]
                if b == UInt8(ascii: "\\"), k + 1 < r.upperBound {
                    let e = bytes[k + 1]
                    switch e {
                    case UInt8(ascii: "n"): out.append(10)
                    case UInt8(ascii: "t"): out.append(9)
                    case UInt8(ascii: "r"): out.append(13)
                    case UInt8(ascii: "u") where k + 5 < r.upperBound:
                        var v = 0
                        for m in 2...5 { v = v * 16 + max(0, SourceMap.hex(bytes[k + m])) }
                        out += Array(String(UnicodeScalar(UInt32(v)).map(Character.init) ?? "\u{FFFD}").utf8)
                        k += 6
                        continue
                    default: out.append(e)
                    }
                    k += 2
                    continue
                }
                out.append(b)
                k += 1
            }
            return String(decoding: out, as: UTF8.self)
        }

        /// Skips any JSON value.
        mutating func skipValue() -> Bool {
            skipSpace()
            guard i < bytes.count else { return false }
            switch bytes[i] {
            case UInt8(ascii: "\""): return string() != nil
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let close: UInt8 = bytes[i] == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                let isObject = close == UInt8(ascii: "}")
                depth += 1
                defer { depth -= 1 }
                guard depth < 64 else { return false }
                i += 1
                skipSpace()
                if i < bytes.count && bytes[i] == close { i += 1; return true }
                while true {
                    if isObject {
                        skipSpace()
                        guard string() != nil else { return false }
                        skipSpace()
                        guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return false }
                        i += 1
                    }
                    guard skipValue() else { return false }
                    skipSpace()
                    guard i < bytes.count else { return false }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == close { i += 1; return true }
                    return false
                }
            default:
                // number, true, false, null
                let start = i
                while i < bytes.count, !(bytes[i] == UInt8(ascii: ",") || bytes[i] == UInt8(ascii: "}") || bytes[i] == UInt8(ascii: "]")
                                         || bytes[i] == 32 || bytes[i] == 10 || bytes[i] == 13 || bytes[i] == 9) { i += 1 }
                return i > start
            }
        }

        /// An array of strings (or nulls): each string's range, nil entries for nulls.
        mutating func stringArray() -> [Range<Int>?]? {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "[") else { return nil }
            i += 1
            var out: [Range<Int>?] = []
            skipSpace()
            if i < bytes.count && bytes[i] == UInt8(ascii: "]") { i += 1; return out }
            while true {
                skipSpace()
                if let r = string() { out.append(r) } else if bytes[i...].starts(with: "null".utf8) { i += 4; out.append(nil) } else { return nil }
                skipSpace()
                guard i < bytes.count else { return nil }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return out }
                return nil
            }
        }

        /// A source map object at `i`: appends its embedded sources (and those of its sections) to `out`.
        mutating func object(into out: inout [SourceMap.Content]) -> Bool {
            skipSpace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else { return false }
            depth += 1
            defer { depth -= 1 }
            guard depth < 16 else { return false }
            i += 1
            var sources: [Range<Int>?] = [], contents: [Range<Int>?] = [], root: String? = nil
            skipSpace()
            if i < bytes.count && bytes[i] == UInt8(ascii: "}") { i += 1; return true }
            while true {
                skipSpace()
                guard let key = string() else { return false }
                skipSpace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return false }
                i += 1
                skipSpace()
                switch text(key) {
                case "sources": guard let a = stringArray() else { return false }; sources = a
                case "sourcesContent": guard let a = stringArray() else { return false }; contents = a
                case "sourceRoot":
                    if let r = string() { root = text(r) } else { guard skipValue() else { return false } }
                case "sections":
                    // [{"offset": {...}, "map": {...}}, ...]
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "[") else { return false }
                    i += 1
                    skipSpace()
                    if i < bytes.count && bytes[i] == UInt8(ascii: "]") { i += 1; break }
                    while true {
                        skipSpace()
                        guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else { return false }
                        i += 1
                        while true {
                            skipSpace()
                            guard let k = string() else { return false }
                            skipSpace()
                            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { return false }
                            i += 1
                            if text(k) == "map" { guard object(into: &out) else { return false } } else { guard skipValue() else { return false } }
                            skipSpace()
                            guard i < bytes.count else { return false }
                            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                            if bytes[i] == UInt8(ascii: "}") { i += 1; break }
                            return false
                        }
                        skipSpace()
                        guard i < bytes.count else { return false }
                        if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                        if bytes[i] == UInt8(ascii: "]") { i += 1; break }
                        return false
                    }
                default: guard skipValue() else { return false }
                }
                skipSpace()
                guard i < bytes.count else { return false }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; break }
                return false
            }
            for (index, range) in contents.enumerated() {
                guard let range else { continue }
                let name = index < sources.count ? sources[index].map(text) : nil
                var source = name ?? "sourcesContent[\(index)]"
                if let root, !root.isEmpty, let name, !name.contains("://"), !name.hasPrefix("/") {
                    source = root.hasSuffix("/") ? root + name : root + "/" + name
                }
                out.append(SourceMap.Content(source: source, index: index, range: range))
            }
            return true
        }
    }
}

/// Where a finding came from before it reached the bytes that hold it: an embedded source of a source map.
public struct OriginalLocation: Sendable, Equatable {
    /// The original file, as the map names it (`sourceRoot` + `sources[i]`).
    public var source: String
    /// 1-based line in the original file.
    public var line: Int
    /// 1-based column in the original file, in Unicode scalars.
    public var column: Int
    /// How it was reached: `sourcesContent[i]` of the map.
    public var via: String
}

extension SourceMap {
    /// Gives each finding that lies in a `sourcesContent` string of the map in `bytes` its original location.
    /// Findings elsewhere (and everything, when `bytes` is not a source map) are left as they are.
    public static func annotate(_ findings: inout [Finding], mapBytes bytes: UnsafeBufferPointer<UInt8>) {
        guard !findings.isEmpty, let map = SourceMap.parse(bytes) else { return }
        for k in findings.indices {
            guard let p = map.position(ofByte: findings[k].byteOffset, in: bytes) else { continue }
            findings[k].original = OriginalLocation(source: p.content.source, line: p.line, column: p.column,
                                                    via: "sourcesContent[\(p.content.index)]")
        }
    }
}
