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

    func testParserRejectsDeepNestingWithoutCrashing() {
        let deep = "{\"version\":3,\"x\":" + String(repeating: "[", count: 100_000) + "}"
        Array(deep.utf8).withUnsafeBufferPointer { XCTAssertNil(SourceMap.parse($0)) }
    }
}
