import Foundation
import XCTest
@testable import MPTScanKit
import _MPTScanTestSupport

/// Source maps: a hit in a `.map` file's `sourcesContent` is one finding, located in the map, carrying the
/// original source, line and column.
final class SourceMapTests: XCTestCase {
    let detector = TokenDetector(rules: BuiltinRules.all)

    /// A JSON string literal body for `text` (what a bundler writes).
    func jsonString(_ text: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [text], options: [.withoutEscapingSlashes])
        let array = String(decoding: data, as: UTF8.self)
        return String(array.dropFirst(2).dropLast(2))
    }

    func findings(in text: String, path: String) throws -> [Finding] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mptscan-sm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(text.utf8).write(to: dir.appendingPathComponent(path))
        var options = ScanOptions()
        options.paths = [dir.path]
        return TreeScanner(detector: self.detector, options: options).run().findings
    }

    func testATokenInSourcesContentIsOneFindingWithItsOriginalPosition() throws {
        let token = SyntheticTokens.token(seed: 501)
        let original = "import x from \"y\";\n\tconst café = \"😀\"; // \\ \"quoted\"\nexport const API = \"\(token)\";\n"
        let other = "console.log('nothing here');\n"
        let map = """
            {"version":3,"file":"index.js","sourceRoot":"webpack://app/","sources":["src/other.ts","src/api.ts"],\
            "sourcesContent":["\(jsonString(other))","\(jsonString(original))"],"names":[],"mappings":"AAAA;AACA"}
            """
        let found = try self.findings(in: map, path: "index.js.map")
        XCTAssertEqual(found.count, 1, "the raw bytes and the embedded source are one occurrence")
        let f = try XCTUnwrap(found.first)
        XCTAssertEqual(f.path, "index.js.map")
        XCTAssertEqual(f.line, 1, "the primary location is the physical map")
        XCTAssertEqual(f.original?.source, "webpack://app/src/api.ts")
        XCTAssertEqual(f.original?.line, 3)
        XCTAssertEqual(f.original?.column, 21)
        XCTAssertEqual(f.original?.via, "sourcesContent[1]")
    }

    func testEscapesBeforeTheTokenCountAsOneCharacterEach() throws {
        let token = SyntheticTokens.token(seed: 502)
        // 😀 written as a surrogate-pair escape, é as \u00e9, a tab, a quote: 4 characters before "x"
        let map = #"{"version":3,"sources":["a.js"],"sourcesContent":["\ud83d\ude00\u00e9\t\"x"# + token + #""],"mappings":""}"#
        let found = try self.findings(in: map, path: "a.js.map")
        XCTAssertEqual(found.first?.original?.line, 1)
        XCTAssertEqual(found.first?.original?.column, 6)
    }

    func testIndexMapsWithSectionsAndMapsWithoutTheMapSuffix() throws {
        let token = SyntheticTokens.token(seed: 503)
        let map = """
            {"version":3,"sections":[{"offset":{"line":0,"column":0},"map":{"version":3,"sources":["one.js"],"sourcesContent":["a"],"mappings":"A"}},\
            {"offset":{"line":10,"column":0},"map":{"version":3,"sources":["two.js"],"sourcesContent":["b\\n\\nkey = '\(token)'"],"mappings":"A"}}]}
            """
        let found = try self.findings(in: map, path: "bundle.json")
        XCTAssertEqual(found.first?.original?.source, "two.js")
        XCTAssertEqual(found.first?.original?.line, 3)
        XCTAssertEqual(found.first?.original?.column, 8)
    }

    func testNotASourceMapOrAHitOutsideSourcesContentKeepsThePlainFinding() throws {
        let token = SyntheticTokens.token(seed: 504)
        let notMap = try self.findings(in: "{\"key\": \"\(token)\"}", path: "config.json")
        XCTAssertEqual(notMap.count, 1)
        XCTAssertNil(notMap.first?.original)
        let inFile = try self.findings(in: "{\"version\":3,\"file\":\"\(token)\",\"sources\":[],\"sourcesContent\":[],\"mappings\":\"\"}", path: "x.map")
        XCTAssertEqual(inFile.count, 1)
        XCTAssertNil(inFile.first?.original)
        let broken = try self.findings(in: "{\"version\":3,\"sourcesContent\":[\"\(token)", path: "cut.map")
        XCTAssertEqual(broken.count, 1, "a truncated map still reports the raw hit")
        XCTAssertNil(broken.first?.original)
    }

    /// Base64 VLQ of a signed value (the encoder, for building test maps).
    func vlq(_ value: Int) -> String {
        let digits = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var v = value < 0 ? ((-value) << 1) | 1 : value << 1
        var out = ""
        repeat {
            var digit = v & 31
            v >>= 5
            if v > 0 { digit |= 32 }
            out.append(digits[digit])
        } while v > 0
        return out
    }

    /// `mappings` for segments given per generated line as (generated column, source, line, column), all
    /// 0-based and absolute; encoded relative as the spec requires.
    func mappings(_ lines: [[(Int, Int, Int, Int)]]) -> String {
        var source = 0, line = 0, column = 0
        return lines.map { segments in
            var previous = 0
            return segments.map { g, s, l, c in
                defer { previous = g; source = s; line = l; column = c }
                return vlq(g - previous) + vlq(s - source) + vlq(l - line) + vlq(c - column)
            }.joined(separator: ",")
        }.joined(separator: ";")
    }

    func testAHitInABundleGetsItsOriginalPositionFromASiblingOrInlineMap() throws {
        let token = SyntheticTokens.token(seed: 505)
        let segments = [[(0, 0, 0, 0)], [(0, 1, 4, 2), (6, 1, 9, 14), (14, 1, 20, 0), (15, 0, 1, 0)]]
        let map = #"{"version":3,"file":"bundle.js","sources":["src/a.ts","src/b.ts"],"names":[],"mappings":""# + mappings(segments) + #""}"#
        // line 2: `var x=1;é😀t="` is 8 + 1 + 2 + 3 = 14 UTF-16 units before the token (13 scalars): the
        // segment at 14 applies, not the one at 6
        let bundle = "var a=1;\nvar x=1;é😀t=\"\(token)\";\n"

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mptscan-sm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data((bundle + "//# sourceMappingURL=bundle.js.map\n").utf8).write(to: dir.appendingPathComponent("bundle.js"))
        try Data(map.utf8).write(to: dir.appendingPathComponent("bundle.js.map"))
        let inline = bundle + "//# sourceMappingURL=data:application/json;charset=utf-8;base64," + Data(map.utf8).base64EncodedString() + "\n"
        try Data(inline.utf8).write(to: dir.appendingPathComponent("inline.js"))
        var options = ScanOptions()
        options.paths = [dir.path]
        let found = TreeScanner(detector: self.detector, options: options).run().findings
        let sibling = try XCTUnwrap(found.first { $0.path.hasSuffix("bundle.js") })
        XCTAssertEqual(sibling.original?.source, "src/b.ts")
        XCTAssertEqual(sibling.original?.line, 21)
        XCTAssertEqual(sibling.original?.column, 1)
        XCTAssertEqual(sibling.original?.via, "mappings of bundle.js.map")
        let viaInline = try XCTUnwrap(found.first { $0.path.hasSuffix("inline.js") })
        XCTAssertEqual(viaInline.original?.source, "src/b.ts")
        XCTAssertEqual(viaInline.original?.via, "mappings of inline map")
    }

    func testHugeVLQValuesAndSymlinkedMapsAreRefused() throws {
        // a value far past 32 bits: no arithmetic overflow, no position
        let huge = #"{"version":3,"sources":["a.js"],"mappings":"AAAA,"# + String(repeating: "/", count: 13) + "B" + #""}"#
        Array(huge.utf8).withUnsafeBufferPointer { bytes in
            XCTAssertNil(SourceMap.parse(bytes)?.originalPosition(line: 0, column: 100, in: bytes))
        }
        // a sibling map that is a symbolic link is not followed
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mptscan-sm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data(#"{"version":3,"sources":["a.js"],"mappings":"AAAA"}"#.utf8).write(to: dir.appendingPathComponent("real.map"))
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("b.js.map").path, withDestinationPath: dir.appendingPathComponent("real.map").path)
        XCTAssertNil(SourceMapLink(url: "b.js.map").load(relativeTo: dir.path, limit: 1 << 20))
        XCTAssertNotNil(SourceMapLink(url: "real.map").load(relativeTo: dir.path, limit: 1 << 20))
    }

    func testMalformedMappingsGiveNoPosition() {
        let map = #"{"version":3,"sources":["a.js"],"mappings":"AAAA;!!!"}"#
        Array(map.utf8).withUnsafeBufferPointer { bytes in
            let parsed = SourceMap.parse(bytes)
            XCTAssertNotNil(parsed)
            XCTAssertNil(parsed?.originalPosition(line: 1, column: 0, in: bytes))
            XCTAssertEqual(parsed?.originalPosition(line: 0, column: 5, in: bytes)?.line, 1)
        }
    }

    func testParserRejectsDeepNestingWithoutCrashing() {
        let deep = "{\"version\":3,\"x\":" + String(repeating: "[", count: 100_000) + "}"
        Array(deep.utf8).withUnsafeBufferPointer { XCTAssertNil(SourceMap.parse($0)) }
    }
}

/// Notebooks: a hit in a cell's source or output gets the cell and its line within the cell.
final class NotebookTests: XCTestCase {
    func testCellAndLineWithinTheCell() throws {
        let token = SyntheticTokens.token(seed: 520)
        let notebook: [String: Any] = [
            "nbformat": 4, "nbformat_minor": 5, "metadata": [:],
            "cells": [
                ["cell_type": "markdown", "metadata": [:], "source": ["# Title\n", "text\n"]],
                ["cell_type": "code", "metadata": [:], "execution_count": 1,
                 "source": ["import os\n", "client = Client(\n", "    token=\"\(token)\")\n"],
                 "outputs": [["output_type": "stream", "name": "stdout", "text": ["ok\n", "using \(SyntheticTokens.token(seed: 521))\n"]]]],
            ],
        ]
        let data = try JSONSerialization.data(withJSONObject: notebook, options: [.prettyPrinted, .sortedKeys])
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mptscan-nb-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try data.write(to: dir.appendingPathComponent("analysis.ipynb"))
        var options = ScanOptions()
        options.paths = [dir.path]
        let found = TreeScanner(detector: TokenDetector(rules: BuiltinRules.all), options: options).run().findings
        let source = try XCTUnwrap(found.first { $0.token == token })
        XCTAssertEqual(source.original?.source, "cell 2")
        XCTAssertEqual(source.original?.line, 3)
        XCTAssertEqual(source.original?.column, 12)
        XCTAssertEqual(source.original?.via, "cells[1].source")
        let output = try XCTUnwrap(found.first { $0.token != token })
        XCTAssertEqual(output.original?.via, "cells[1].outputs")
        XCTAssertEqual(output.original?.line, 2)
    }
}
