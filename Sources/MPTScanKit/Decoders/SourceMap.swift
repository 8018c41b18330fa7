import Foundation

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

    /// Embedded sources in the order of their bytes in the map.
    public var contents: [Content] = []
    /// Source names (`sourceRoot` applied) of a plain map, for `mappings`; empty for index maps.
    public var sources: [String] = []
    /// Bytes of the `mappings` string of a plain map (Base64 VLQ), 0-based offsets into the map.
    public var mappings: Range<Int>? = nil

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
        var contents: [Content] = []
        guard parser.object(into: &contents, top: &map) else { return nil }
        // in byte order for `position(ofByte:)` (already so, unless an index map's own sources precede its sections)
        if zip(contents, contents.dropFirst()).contains(where: { $0.range.lowerBound > $1.range.lowerBound }) {
            contents.sort { $0.range.lowerBound < $1.range.lowerBound }
        }
        map.contents = contents
        return map.contents.isEmpty && map.mappings == nil ? nil : map
    }

    /// Where the raw byte `offset` of the map falls in an embedded source: the content, and the 1-based line
    /// and column (Unicode scalars of the decoded text) of that byte. Nil when it is in no `sourcesContent`.
    public func position(ofByte offset: Int, in bytes: UnsafeBufferPointer<UInt8>) -> (content: Content, line: Int, column: Int)? {
        // `contents` are in the order of their bytes (one forward pass of the parser): a binary search, so a map
        // with a million sources costs log2(1,000,000) steps per finding, not a million
        var low = 0, high = self.contents.count
        while low < high {
            let mid = (low + high) / 2
            if self.contents[mid].range.upperBound <= offset { low = mid + 1 } else { high = mid }
        }
        guard low < self.contents.count, self.contents[low].range.contains(offset) else { return nil }
        let content = self.contents[low]
        let (line, column) = Self.lineColumn(of: offset, in: content, bytes: bytes)
        return (content, line, column)
    }

    /// The 1-based line and column (Unicode scalars of the decoded text) of raw byte `offset` inside the JSON
    /// string whose contents are `content.range`: `\n` escapes end lines, other escapes are one character.
    static func lineColumn(of offset: Int, in content: Content, bytes: UnsafeBufferPointer<UInt8>) -> (Int, Int) {
        var line = 1, column = 1
        var i = content.range.lowerBound
        while i < offset {
            let b = bytes[i]
            if b == UInt8(ascii: "\\") && i + 1 < content.range.upperBound {
                let e = bytes[i + 1]
                if e == UInt8(ascii: "n") { line += 1; column = 1; i += 2; continue }
                if e == UInt8(ascii: "u") {
                    // \uD83D\uDE00 (a surrogate pair) is one scalar
                    let unit = Self.unit(bytes, at: i, end: content.range.upperBound)
                    let pairs = (0xD800...0xDBFF).contains(unit) && (0xDC00...0xDFFF).contains(Self.unit(bytes, at: i + 6, end: content.range.upperBound))
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
        return (line, column)
    }

    /// The code unit of a `\uXXXX` escape starting at `i`, or -1.
    private static func unit(_ bytes: UnsafeBufferPointer<UInt8>, at i: Int, end: Int) -> Int {
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
        mutating func object(into out: inout [SourceMap.Content], top: inout SourceMap) -> Bool {
            let isTop = self.depth == 0
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
                case "mappings":
                    guard let r = string() else { return false }
                    if isTop { top.mappings = r }
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
                            var ignored = SourceMap()
                            if text(k) == "map" { guard object(into: &out, top: &ignored) else { return false } } else { guard skipValue() else { return false } }
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
            func named(_ index: Int) -> String {
                let name = index < sources.count ? sources[index].map(text) : nil
                var source = name ?? "sourcesContent[\(index)]"
                if let root, !root.isEmpty, let name, !name.contains("://"), !name.hasPrefix("/") {
                    source = root.hasSuffix("/") ? root + name : root + "/" + name
                }
                return source
            }
            for (index, range) in contents.enumerated() {
                guard let range else { continue }
                out.append(SourceMap.Content(source: named(index), index: index, range: range))
            }
            if isTop { top.sources = sources.indices.map(named) }
            return true
        }
    }
}

extension SourceMap {
    /// The original position of a generated position, from `mappings` (Base64 VLQ: lines split by `;`,
    /// segments by `,`, fields relative to the previous segment; the generated column resets on each line).
    /// - Parameters:
    ///   - line: 0-based generated line.
    ///   - column: 0-based generated column in UTF-16 code units (the spec's unit).
    /// - Returns: the source and the 1-based line and column (UTF-16 units + 1) of the last segment at or
    ///   before the column on that line; nil when the line has none or the mappings are malformed.
    public func originalPosition(line: Int, column: Int, in bytes: UnsafeBufferPointer<UInt8>) -> (source: String, line: Int, column: Int)? {
        guard let range = self.mappings else { return nil }
        var i = range.lowerBound
        var genLine = 0
        var source = 0, origLine = 0, origColumn = 0, name = 0
        var best: (Int, Int, Int)? = nil
        func vlq() -> Int? {
            var result = 0, shift = 0
            while i < range.upperBound {
                let c = bytes[i]
                let digit: Int
                switch c {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): digit = Int(c - UInt8(ascii: "A"))
                case UInt8(ascii: "a")...UInt8(ascii: "z"): digit = Int(c - UInt8(ascii: "a")) + 26
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = Int(c - UInt8(ascii: "0")) + 52
                case UInt8(ascii: "+"): digit = 62
                case UInt8(ascii: "/"): digit = 63
                default: return nil
                }
                i += 1
                guard shift < 32 else { return nil } // the spec's values are 32-bit
                result |= (digit & 31) << shift
                shift += 5
                if digit & 32 == 0 { return result & 1 == 1 ? -(result >> 1) : result >> 1 }
            }
            return nil
        }
        var genColumn = 0
        while i < range.upperBound {
            let c = bytes[i]
            if c == UInt8(ascii: ";") {
                if genLine == line { break }
                genLine += 1; genColumn = 0; i += 1
                continue
            }
            if c == UInt8(ascii: ",") { i += 1; continue }
            guard let dc = vlq() else { return nil }
            genColumn &+= dc
            var fields = 1
            var deltas = [0, 0, 0, 0]
            while fields < 5, i < range.upperBound, bytes[i] != UInt8(ascii: ","), bytes[i] != UInt8(ascii: ";") {
                guard let d = vlq() else { return nil }
                deltas[fields - 1] = d
                fields += 1
            }
            guard fields == 1 || fields == 4 || fields == 5 else { return nil }
            if fields >= 4 {
                source &+= deltas[0]; origLine &+= deltas[1]; origColumn &+= deltas[2]
                if fields == 5 { name &+= deltas[3] }
                if genLine == line && genColumn <= column { best = (source, origLine, origColumn) }
            } else if genLine == line && genColumn <= column {
                best = nil // an unmapped segment covers the column
            }
            if genLine == line && genColumn > column { break }
        }
        guard let (s, l, col) = best, s >= 0, s < self.sources.count, l >= 0, col >= 0, l < Int.max, col < Int.max else { return nil }
        return (self.sources[s], l + 1, col + 1)
    }
}

/// The last `sourceMappingURL` comment of a bundle (`//# sourceMappingURL=…`, `//@ …`, or `/*# … */` in
/// CSS): a relative URL of a sibling map, or an inline `data:` URL.
public struct SourceMapLink: Sendable, Equatable {
    /// The URL as written.
    public var url: String

    /// Finds the last `sourceMappingURL=` in `bytes` preceded by `//# `, `//@ ` or `/*# `.
    public static func find(in bytes: UnsafeBufferPointer<UInt8>) -> SourceMapLink? {
        let key = Array("sourceMappingURL=".utf8)
        var i = bytes.count - key.count
        while i >= 4 {
            if bytes[i] == key[0] && key.indices.allSatisfy({ bytes[i + $0] == key[$0] }) {
                let p = bytes[i - 4], q = bytes[i - 3], r = bytes[i - 2], sp = bytes[i - 1]
                let opener = (p == UInt8(ascii: "/") && (q == UInt8(ascii: "/") || q == UInt8(ascii: "*")))
                if opener && (r == UInt8(ascii: "#") || r == UInt8(ascii: "@")) && sp == 32 {
                    var end = i + key.count
                    while end < bytes.count, bytes[end] != 10, bytes[end] != 13, bytes[end] != 32, bytes[end] != UInt8(ascii: "*") { end += 1 }
                    let url = String(decoding: bytes[(i + key.count)..<end], as: UTF8.self)
                    return url.isEmpty ? nil : SourceMapLink(url: url)
                }
            }
            i -= 1
        }
        return nil
    }

    /// The map's bytes and a label for reports (`index.js.map`, or `inline map`): a `data:` URL decoded
    /// (base64 or percent-encoded), or a relative path read from `directory`. Nil for remote URLs, missing
    /// files, or maps over `limit` bytes.
    public func load(relativeTo directory: String, limit: Int) -> ([UInt8], String)? {
        if self.url.hasPrefix("data:") {
            guard let comma = self.url.firstIndex(of: ",") else { return nil }
            let header = self.url[..<comma], payload = String(self.url[self.url.index(after: comma)...])
            if header.hasSuffix(";base64") {
                return Data(base64Encoded: payload, options: .ignoreUnknownCharacters).map { ([UInt8]($0), "inline map") }
            }
            return payload.removingPercentEncoding.map { (Array($0.utf8), "inline map") }
        }
        guard !self.url.contains("://"), !self.url.hasPrefix("/") else { return nil }
        let name = self.url.split(separator: "?").first.map(String.init) ?? self.url
        let path = directory + "/" + (name.removingPercentEncoding ?? name)
        // a regular file of at most `limit` bytes, not followed through a symbolic link
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, Int(st.st_size) <= limit else { return nil }
        var data = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while done < data.count {
            let n = data.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            done += n
        }
        data.removeLast(data.count - done)
        return (data, name)
    }
}

extension SourceMap {
    /// Gives each finding in a generated file (`bundle`) the original position its map's `mappings` give for
    /// the finding's first byte (line from the finding, column counted in UTF-16 units from the line start).
    public static func annotateGenerated(_ findings: inout [Finding], bundle: UnsafeBufferPointer<UInt8>,
                                         mapBytes: UnsafeBufferPointer<UInt8>, label: String) {
        Self.applyMappings(&findings, at: Self.generatedPositions(findings, bundle: bundle), mapBytes: mapBytes, label: label)
    }

    /// For each finding in `bundle` not yet annotated: its index, 0-based generated line, and 0-based column in
    /// UTF-16 code units (what `mappings` counts).
    public static func generatedPositions(_ findings: [Finding], bundle: UnsafeBufferPointer<UInt8>) -> [(index: Int, line: Int, column: Int)] {
        var out: [(Int, Int, Int)] = []
        for k in findings.indices where findings[k].textEncoding == nil && findings[k].original == nil {
            let offset = findings[k].byteOffset
            guard offset < bundle.count else { continue }
            var start = offset
            while start > 0 && bundle[start - 1] != 10 { start -= 1 }
            var units = 0
            for b in bundle[start..<offset] where b & 0xC0 != 0x80 { units += b >= 0xF0 ? 2 : 1 }
            out.append((k, findings[k].line - 1, units))
        }
        return out
    }

    /// Sets `original` of the findings at `positions` from the `mappings` of the map in `mapBytes`.
    public static func applyMappings(_ findings: inout [Finding], at positions: [(index: Int, line: Int, column: Int)],
                                     mapBytes: UnsafeBufferPointer<UInt8>, label: String) {
        guard !positions.isEmpty, let map = SourceMap.parse(mapBytes), map.mappings != nil else { return }
        for (k, line, column) in positions {
            guard let p = map.originalPosition(line: line, column: column, in: mapBytes) else { continue }
            findings[k].original = OriginalLocation(source: p.source, line: p.line, column: p.column, via: "mappings of \(label)")
        }
    }
}

/// Where a finding came from before it reached the bytes that hold it: an embedded source of a source map.
public struct OriginalLocation: Sendable, Equatable {
    /// The original file, as the map names it (`sourceRoot` + `sources[i]`).
    public var source: String
    /// 1-based line in the original file.
    public var line: Int
    /// 1-based column in the original file: Unicode scalars for `sourcesContent` and notebook positions,
    /// UTF-16 code units + 1 for positions from `mappings` (the unit source maps count in).
    public var column: Int
    /// How it was reached: `sourcesContent[i]` (the finding is in a map), or `mappings of <map>` (the finding
    /// is in a bundle; the column is then in UTF-16 units, as source maps count).
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
