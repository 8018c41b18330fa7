import Foundation
import XCTest
@testable import MPTScanKit
import _MPTScanTestSupport

/// Tokens split across string literals joined with `+`: found, at the first fragment, once.
final class JoinedLiteralsTests: XCTestCase {
    let scanner = ContentScanner(detector: TokenDetector(rules: BuiltinRules.all))

    func scan(_ text: String) -> [Finding] { self.scanner.scan(bytes: Array(text.utf8), path: "t.ts").findings }

    func testSplitsAtEveryKindOfJunction() {
        let token = SyntheticTokens.token(seed: 701)
        let id = String(token.prefix(18)) // idt:TKN-dddd-dddd:
        let secret = String(token.dropFirst(18))
        let cases: [(String, Int, Int)] = [
            ("const t = \"\(id.prefix(13))\" + \"\(id.dropFirst(13))\(secret)\";", 1, 12),
            ("const t = 'idt:' +\n    'TKN-\(token.dropFirst(8))';", 1, 12),
            ("x = \"\(id)\" + \"\(secret.prefix(30))\"\n  + \"\(secret.dropFirst(30))\"", 1, 6),
            ("let a = `\(id)` + '\(secret)';", 1, 10),
            ("// header\nString k = \"idt:TK\" + \"\(token.dropFirst(6))\";", 2, 13),
        ]
        for (text, line, column) in cases {
            let found = self.scan(text)
            XCTAssertEqual(found.count, 1, text)
            XCTAssertEqual(found.first?.token, token, text)
            XCTAssertEqual(found.first?.line, line, text)
            XCTAssertEqual(found.first?.column, column, text)
            XCTAssertEqual(found.first?.decodings, ["joined-literals"], text)
        }
    }

    func testAdjacentLiteralsAndCommentsBetweenParts() {
        let token = SyntheticTokens.token(seed: 703)
        let cases: [(String, Int, Int)] = [
            // Python implicit concatenation inside parentheses, a comment after a part
            ("T = (\n    \"\(token.prefix(20))\"  # part one\n    \"\(token.dropFirst(20).prefix(30))\"\n    \"\(token.dropFirst(50))\"\n)", 2, 6),
            // the id prefix in the second literal: the literal before it is joined too
            ("T = 'idt:' 'TKN-\(token.dropFirst(8).prefix(32))' '\(token.dropFirst(40))'", 1, 6),
            // C string pasting across a line
            ("const char *t = \"\(token.prefix(30))\"\n  \"\(token.dropFirst(30))\";", 1, 18),
            // comments between `+` and the next literal
            ("const t = \"\(token.prefix(30))\" + // why\n  /* more */ \"\(token.dropFirst(30))\";", 1, 12),
        ]
        for (text, line, column) in cases {
            let found = self.scan(text)
            XCTAssertEqual(found.count, 1, text)
            XCTAssertEqual(found.first?.token, token, text)
            XCTAssertEqual(found.first?.line, line, text)
            XCTAssertEqual(found.first?.column, column, text)
            XCTAssertEqual(found.first?.decodings, ["joined-literals"], text)
        }
        // two separate literals, each a whole token, side by side: two plain findings, nothing joined
        let other = SyntheticTokens.token(seed: 704)
        XCTAssertEqual(self.scan("pair = (\"\(token)\" \"\(other)\")").map(\.decodings), [[], []])
    }

    func testLineContinuationsAndStringPrefixes() {
        let token = SyntheticTokens.token(seed: 705)
        let a = String(token.prefix(30)), b = String(token.dropFirst(30))
        for text in ["#define T \"\(a)\" \\\n  \"\(b)\"", "T = \"\(a)\" \\\r\n    \"\(b)\"", "const T = \"\(a)\" + \\\n  \"\(b)\";",
                     "T = (r\"\(a)\"\n     f\"\(b)\")", "var t = @\"\(a)\" + $\"\(b)\";", "auto t = u8\"\(a)\" L\"\(b)\";",
                     "#define T \"idt:\" \\\n  \"\(token.dropFirst(4))\""] {
            XCTAssertEqual(self.scan(text).map(\.token), [token], text)
        }
        // an interpolating literal that interpolates something is an expression, not text
        XCTAssertEqual(self.scan("T = f\"\(a){x}\" f\"\(b)\"").count, 0)
    }

    func testNoJoinWithoutQuotesOrAcrossExpressions() {
        let token = SyntheticTokens.token(seed: 702)
        let id = String(token.prefix(18)), secret = String(token.dropFirst(18))
        XCTAssertEqual(self.scan("x = \"\(id)\" + name + \"\(secret)\"").count, 0, "a variable between the literals")
        XCTAssertEqual(self.scan("x = `\(id)${v}` + \"\(secret)\"").count, 0, "a template with an expression")
        XCTAssertEqual(self.scan("x = \"\(token)\" + \"tail\"").map(\.decodings), [[]], "whole in one literal: the plain finding")
        XCTAssertEqual(self.scan("x = \"idt:TKN-XXXX-XXXX:\" + \"your_token_here\"").count, 0, "placeholders stay placeholders")
    }
}
