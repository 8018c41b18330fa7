import XCTest
@testable import MPTScanKit
import _MPTScanTestSupport

final class ContentScannerTests: XCTestCase {
    let detector = TokenDetector(rules: BuiltinRules.all)

    private func scan(_ bytes: [UInt8], chunk: Int = ContentScanner.defaultChunkSize) -> [Finding] {
        ContentScanner(detector: self.detector, chunkSize: chunk).scan(bytes: bytes, path: "f").findings
    }

    /// The eight-bytes-at-a-time ASCII path of `TextPosition.scalarCount` and the `memrchr` line start agree
    /// with byte-by-byte counting on mixed ASCII, multi-byte, invalid UTF-8 and newlines, at every range.
    func testScalarCountAndLineStartMatchByteByByteCounting() {
        var state: UInt64 = 0x5EED
        func next() -> Int { state &+= 0x9E3779B97F4A7C15; var z = state; z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9; return Int((z ^ (z >> 27)) % 1_000_000) }
        let pieces: [[UInt8]] = [Array("abcdefghijk".utf8), Array("é".utf8), Array("€".utf8), Array("😀".utf8), [0x0A], [0xFF], [0xC3], [0xE2, 0x82], Array("x=1;".utf8)]
        for _ in 0..<40 {
            var bytes: [UInt8] = []
            for _ in 0..<(next() % 60) { bytes += pieces[next() % pieces.count] }
            bytes.withUnsafeBufferPointer { b in
                for lo in stride(from: 0, through: b.count, by: 3) {
                    for hi in stride(from: lo, through: b.count, by: 5) {
                        var expected = 0, i = lo
                        while i < hi { i += b[i] < 0x80 ? 1 : TextPosition.sequenceLength(b, i, hi); expected += 1 }
                        XCTAssertEqual(TextPosition.scalarCount(b, lo..<hi), expected, "\(bytes) \(lo)..<\(hi)")
                        var j = hi
                        while j > lo && b[j - 1] != 0x0A { j -= 1 }
                        XCTAssertEqual(LineState.lineStart(b, before: hi, floor: lo), j)
                    }
                }
            }
        }
    }

    /// `LineState.newlines` sums LF flags per byte lane for 255 words at a time: the count stays exact across
    /// those blocks (a lane full of LF for 255 words is the most a lane can hold), at every start and end.
    func testNewlineCountMatchesByteByByteCountingAcrossLaneBlocks() {
        var state: UInt64 = 0xC0FFEE
        func next() -> Int { state &+= 0x9E3779B97F4A7C15; var z = state; z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9; return Int((z ^ (z >> 27)) % 1_000_000) }
        let allNewlines = [UInt8](repeating: 0x0A, count: 8 * 255 * 3 + 13)
        var mixed = [UInt8](repeating: 0x61, count: 8 * 255 * 2 + 29)
        for i in mixed.indices where next() % 3 == 0 { mixed[i] = [0x0A, 0x8A, 0x0B, 0x09][next() % 4] }
        for bytes in [allNewlines, mixed] {
            bytes.withUnsafeBufferPointer { b in
                for _ in 0..<200 {
                    let lo = next() % b.count, hi = lo + next() % (b.count - lo + 1)
                    XCTAssertEqual(LineState.newlines(b, lo..<hi), b[lo..<hi].filter { $0 == 0x0A }.count, "\(lo)..<\(hi)")
                }
                XCTAssertEqual(LineState.newlines(b, 0..<b.count), b.filter { $0 == 0x0A }.count)
            }
        }
    }

    /// A token at every offset around several chunk boundaries is found exactly once, at the right place.
    func testTokensStraddlingChunkBoundariesAreFoundOnce() {
        let token = SyntheticTokens.token(seed: 11)
        let chunk = 4096
        // past the kept context (lookBehind + lookAhead), so the buffer has shifted before the token arrives
        let context = TokenDetector.lookBehind + TokenDetector.lookAhead
        for offset in stride(from: context - 200, to: context + 2 * chunk + 200, by: 37) {
            var bytes = [UInt8](repeating: 0x61, count: offset)
            for i in stride(from: 99, to: offset, by: 100) { bytes[i] = 0x0A }
            bytes += Array(token.utf8) + Array(" tail\n".utf8)
            let lines = bytes[..<offset].filter { $0 == 0x0A }.count + 1
            let lastNewline = bytes[..<offset].lastIndex(of: 0x0A) ?? -1
            let found = self.scan(bytes, chunk: chunk)
            XCTAssertEqual(found.count, 1, "offset \(offset)")
            XCTAssertEqual(found.first?.byteOffset, offset)
            XCTAssertEqual(found.first?.line, lines)
            XCTAssertEqual(found.first?.column, offset - lastNewline)
        }
    }

    /// A 1 MB minified line: the exact column is reported though the line spans several chunks.
    func testColumnInAOneMegabyteLine() throws {
        let token = SyntheticTokens.token(seed: 12)
        let prefix = "first line\n" + String(repeating: "é", count: 10) // 10 scalars, 20 bytes
        var bytes = Array(prefix.utf8) + [UInt8](repeating: 0x3B, count: 1_000_000) + Array(token.utf8) + [UInt8](repeating: 0x3B, count: 50_000)
        bytes += Array("\n".utf8)
        let found = self.scan(bytes, chunk: 65_536)
        let f = try XCTUnwrap(found.first)
        XCTAssertEqual(found.count, 1)
        XCTAssertEqual(f.line, 2)
        XCTAssertEqual(f.column, 10 + 1_000_000 + 1)
        XCTAssertLessThan(f.snippet(showSecrets: false).count, 120, "snippets stay short on minified lines")
    }

    func testColumnsCountScalarsAndInvalidBytes() throws {
        let token = SyntheticTokens.token(seed: 13)
        // "é" (2 bytes), "€" (3), "𝄞" (4), then an invalid byte 0xFF and a stray continuation 0x80: 5 columns
        let bytes = Array("é€𝄞".utf8) + [0xFF, 0x80] + Array(token.utf8)
        let f = try XCTUnwrap(self.scan(bytes).first)
        XCTAssertEqual(f.column, 6)
        XCTAssertEqual(f.byteOffset, 11)
    }

    func testCRLFAndSameTokenTwice() {
        let token = SyntheticTokens.token(seed: 14)
        let text = "a\r\nb = \(token)\r\nc = \(token)\r\n"
        let found = self.scan(Array(text.utf8))
        XCTAssertEqual(found.map(\.line), [2, 3])
        XCTAssertEqual(found.map(\.column), [5, 5])
        XCTAssertEqual(Set(found.map(\.fingerprint)).count, 1)
        XCTAssertFalse(found[0].snippetAfter.contains("\r"))
    }

    func testUTF16WithAndWithoutBOM() throws {
        let token = SyntheticTokens.token(seed: 15)
        let text = "Zürich 𝄞\nkey = \(token)\n"
        func utf16(_ little: Bool, bom: Bool) -> [UInt8] {
            var out: [UInt8] = bom ? (little ? [0xFF, 0xFE] : [0xFE, 0xFF]) : []
            for u in text.utf16 { out += little ? [UInt8(u & 0xFF), UInt8(u >> 8)] : [UInt8(u >> 8), UInt8(u & 0xFF)] }
            return out
        }
        for (little, bom) in [(true, true), (false, true), (true, false), (false, false)] {
            let result = ContentScanner(detector: self.detector).scan(bytes: utf16(little, bom: bom), path: "u")
            XCTAssertEqual(result.findings.map(\.line), [2], "little \(little) bom \(bom)")
            XCTAssertEqual(result.findings.first?.column, 7)
            XCTAssertEqual(result.decodedFrom, little ? .utf16LE : .utf16BE)
        }
        // a UTF-8 BOM does not count as a column, but does count in byte offsets
        let withBOM = [0xEF, 0xBB, 0xBF] + Array("x=\(token)".utf8)
        XCTAssertEqual(self.scan(withBOM).first?.column, 3)
        XCTAssertEqual(self.scan(withBOM).first?.byteOffset, 5)
    }

    func testUnpairedSurrogatesDoNotHideTokens() {
        let token = SyntheticTokens.token(seed: 16)
        var bytes: [UInt8] = [0xFF, 0xFE, 0x00, 0xD8, 0x41, 0x00, 0x00, 0xDC] // high alone, 'A', low alone
        for u in "\n\(token)".utf16 { bytes += [UInt8(u & 0xFF), UInt8(u >> 8)] }
        bytes.append(0x41) // dangling odd byte
        let found = self.scan(bytes)
        XCTAssertEqual(found.map(\.line), [2])
        XCTAssertEqual(found.first?.column, 1)
    }

    func testInlineAllowComments() {
        let t = (0..<5).map { SyntheticTokens.token(seed: 20 + $0) }
        let text = """
        a = "\(t[0])" // mptscan:allow
        // mptscan:allow-next-line
        b = "\(t[1])"
        c = "\(t[2])"
        d = "\(t[3])" # mptscan:allow-other
        # mptscan:allow-next-line
        # another comment
        e = "\(t[4])"
        """
        let found = self.scan(Array(text.utf8))
        XCTAssertEqual(found.map(\.line), [1, 3, 4, 5, 8])
        XCTAssertEqual(found.map(\.suppression), [.inlineAllow, .inlineAllowNextLine, nil, nil, nil])
    }

    /// An allow marker covers its logical line within 4 KB: one comment in a long minified line does not hide
    /// every token in it, and an allow inside one source of a source map (one physical line, sources separated
    /// by escaped `\n`) covers that source's line only.
    func testAllowIsScopedToItsLogicalLine() {
        let token = SyntheticTokens.token(seed: 30)
        let near = Array("x=\"\(token)\"; // mptscan:allow".utf8)
        XCTAssertEqual(self.scan(near, chunk: 4096).map(\.suppression), [.inlineAllow])
        let far = Array("x=\"\(token)\"".utf8) + [UInt8](repeating: 0x20, count: 300_000) + Array("// mptscan:allow\n".utf8)
        XCTAssertEqual(self.scan(far, chunk: 4096).map(\.suppression), [nil])
        let fixture = SyntheticTokens.token(seed: 31), real = SyntheticTokens.token(seed: 32)
        let map = #"{"version":3,"sourcesContent":["const a = 1;\nconst t = '"# + fixture + #"'; // mptscan:allow\n","// mptscan:allow-next-line\nconst x = 1;\nconst k = '"# + real + #"';\n"]}"#
        XCTAssertEqual(self.scan(Array(map.utf8)).map(\.suppression), [.inlineAllow, nil])
    }

    func testSnippetIsRedactedAndMasksOtherSecrets() throws {
        let a = SyntheticTokens.token(seed: 31), b = SyntheticTokens.secret(seed: 32)
        let text = "k=\"\(a)\" other=\(b)"
        let f = try XCTUnwrap(self.scan(Array(text.utf8)).first)
        let snippet = f.snippet(showSecrets: false)
        XCTAssertTrue(snippet.contains(f.redactedToken), snippet)
        XCTAssertFalse(snippet.contains(String(a.suffix(60))))
        XCTAssertFalse(snippet.contains(String(b.prefix(12))), snippet)
        XCTAssertEqual(f.redactedToken, String(a.prefix(22)) + "…")
        XCTAssertTrue(f.snippet(showSecrets: true).contains(a))
    }

    /// Many findings in one long line: each column exact (and computed in linear time).
    func testManyTokensInOneLine() {
        let tokens = (0..<400).map { SyntheticTokens.token(seed: 100 + $0) }
        var text = "x\n€"
        var expected: [Int] = []
        for token in tokens {
            text += " = \""
            expected.append(text.split(separator: "\n", omittingEmptySubsequences: false).last!.unicodeScalars.count + 1)
            text += token + "\";"
        }
        let found = self.scan(Array(text.utf8), chunk: 4096)
        XCTAssertEqual(found.map(\.column), expected)
        XCTAssertEqual(Set(found.map(\.line)), [2])
    }

    /// Findings come out in byte order, even a legacy secret whose id arrives in a later chunk.
    func testFindingsAreInByteOrder() {
        let secret = SyntheticTokens.secret(seed: 60)
        var text = "MPT_API_TOKEN=\(secret)\n" + String(repeating: "filler\n", count: 3) + "\(SyntheticTokens.token(seed: 61))\n"
        text = String(repeating: "pad line\n", count: 1200) + text
        // the keyed secret sits before a current token; its id comes after both
        text = text.replacingOccurrences(of: "filler\nfiller\nfiller\n", with: "filler\n\(SyntheticTokens.token(seed: 62))\nMPT_API_TOKEN_ID=TKN-1234-5678\n")
        let found = self.scan(Array(text.utf8), chunk: 64)
        XCTAssertEqual(found.count, 3)
        XCTAssertEqual(found.map(\.byteOffset), found.map(\.byteOffset).sorted())
    }

    /// UTF-16 text inside a file that is not decoded as UTF-16 (UTF-8 first, then UTF-16; a binary's wide
    /// strings, either byte order) is still found, once, at its raw byte offset.
    func testWideStringsInsideRawBytes() {
        let token = SyntheticTokens.token(seed: 80)
        func utf16(_ text: String, little: Bool) -> [UInt8] {
            text.utf16.flatMap { little ? [UInt8($0 & 0xFF), UInt8($0 >> 8)] : [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
        }
        let header = Array(String(repeating: "plain utf-8 header line\n", count: 50).utf8)
        let little = header + utf16("key: \(token)\n", little: true)
        var found = self.scan(little)
        XCTAssertEqual(found.map(\.byteOffset), [header.count + 10])
        XCTAssertEqual(found.first?.textEncoding, .utf16LE)
        XCTAssertEqual(found.first?.token, token)

        let executable: [UInt8] = [0x4D, 0x5A] + Array(repeating: [0x90, 0x91, 0x00, 0xFF], count: 100).joined()
        let binary = executable + utf16("x" + token, little: false) + [0xFF, 0xFE, 0x00]
        found = self.scan(binary)
        XCTAssertEqual(found.map(\.byteOffset), [executable.count + 2])
        XCTAssertEqual(found.first?.textEncoding, .utf16BE)
        XCTAssertEqual(found.first?.token, token)

        // plain text is never read as UTF-16, and a decoded UTF-16 file reports no second, wide copy
        XCTAssertEqual(self.scan(Array("t=\(token)\n".utf8)).map(\.textEncoding), [nil])
        XCTAssertEqual(self.scan([0xFF, 0xFE] + utf16("t=\(token)\n", little: true)).map(\.textEncoding), [.utf16LE])
    }

    /// `allow-next-line` at the start of a 3,000-byte line still applies to a token just after a chunk
    /// boundary (the line before stays in the kept context).
    func testAllowNextLineAcrossChunkBoundaries() {
        let token = SyntheticTokens.token(seed: 90)
        let previous = "# mptscan:allow-next-line " + String(repeating: "x", count: 3000) + "\n"
        for pad in stride(from: 0, to: 9000, by: 499) {
            let text = String(repeating: "p\n", count: 4000 + pad / 2) + previous + "t=\(token)\n"
            XCTAssertEqual(self.scan(Array(text.utf8), chunk: 4096).map(\.suppression), [.inlineAllowNextLine], "pad \(pad)")
        }
    }

    /// Wide text read both ways at a chunk boundary is still one finding.
    func testWideTokenAtEveryOffsetIsReportedOnce() {
        let token = SyntheticTokens.token(seed: 91)
        let wide = Array(("k=" + token + ";").utf16.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] })
        for offset in stride(from: 16300, to: 16300 + 300, by: 7) {
            let bytes = [UInt8](repeating: 0xFE, count: offset) + wide + [UInt8](repeating: 0xFE, count: 64)
            let found = self.scan(bytes, chunk: 4096)
            XCTAssertEqual(found.count, 1, "offset \(offset)")
            XCTAssertEqual(found.first?.byteOffset, offset + 4)
        }
    }
}
