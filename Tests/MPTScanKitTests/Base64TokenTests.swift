import Foundation
import XCTest
@testable import MPTScanKit
import _MPTScanTestSupport

/// Tokens written in Base64: found at every byte alignment, in base64url, twice encoded, inside encoded JSON;
/// reported at the encoded text with the decodings that led there; images never fire.
final class Base64TokenTests: XCTestCase {
    let scanner = ContentScanner(detector: TokenDetector(rules: BuiltinRules.all))

    func scan(_ text: String) -> [Finding] { self.scanner.scan(bytes: Array(text.utf8), path: "t.js").findings }

    func testEveryAlignmentIsFoundAtTheQuantumHoldingTheToken() {
        let token = SyntheticTokens.token(seed: 601)
        for (prefix, quantum) in [("", 0), ("x", 0), ("xy", 0), ("xyz", 1), ("header: ", 2)] {
            let encoded = Data((prefix + token + " trailing text").utf8).base64EncodedString()
            let line = "const blob = \"\(encoded)\";"
            let found = self.scan("// first line\n" + line + "\n")
            XCTAssertEqual(found.count, 1, "prefix '\(prefix)'")
            XCTAssertEqual(found.first?.token, token)
            XCTAssertEqual(found.first?.decodings, ["base64"])
            XCTAssertEqual(found.first?.line, 2)
            XCTAssertEqual(found.first?.column, 15 + 4 * quantum, "prefix '\(prefix)'")
            XCTAssertFalse(found.first?.snippet(showSecrets: false).contains(String(token.suffix(50))) ?? true)
        }
    }

    /// The anchors computed from RFC 4648's alphabet are the characters `idt:TKN-` fixes at each alignment
    /// (worked by hand: `aWR0OlRLTi` is Base64 of `idt:TKN` cut before the character that depends on what
    /// follows), and each is found in real encodings of text that holds the prefix.
    func testAnchorsAreTheFixedCharactersOfEachAlignment() {
        let plain = Base64Tokens.anchors.filter { $0.level == 1 }
        XCTAssertEqual(plain.prefix(3).map(\.literal), ["aWR0OlRLTi", "lkdDpUS04t", "pZHQ6VEtOL"])
        XCTAssertEqual(plain.prefix(3).map(\.back), [0, 2, 3])
        XCTAssertEqual(Base64Tokens.anchors.filter { $0.level == 2 }.count, 9)
        XCTAssertEqual(Base64Tokens.anchors.filter { $0.level == 3 }.count, 27)
        for prefix in Base64Tokens.prefixes {
            for pad in 0..<3 {
                let encoded = Data((String(repeating: "z", count: pad) + prefix + "1234").utf8).base64EncodedString()
                XCTAssertTrue(plain.contains { encoded.contains($0.literal) }, "\(prefix) after \(pad) bytes: \(encoded)")
                let twice = Data(encoded.utf8).base64EncodedString()
                XCTAssertTrue(Base64Tokens.anchors.contains { $0.level == 2 && twice.contains($0.literal) } || prefix != Base64Tokens.prefixes[0])
            }
        }
    }

    func testBase64OfJSONWithEscapedColons() {
        let token = SyntheticTokens.token(seed: 605)
        let json = "{\"token\":\"" + token.replacingOccurrences(of: ":", with: "\\u003a") + "\"}"
        let found = self.scan("data: " + Data(json.utf8).base64EncodedString() + "\n")
        XCTAssertEqual(found.map(\.token), [token])
        XCTAssertEqual(found.first?.decodings, ["base64"])
        XCTAssertEqual(found.first?.encoding, .unicodeEscape)
    }

    func testBase64URLTwiceEncodedAndEncodedJSON() {
        let token = SyntheticTokens.token(seed: 602)
        // bytes chosen so the standard alphabet would need '+' and '/': base64url writes '-' and '_'
        var payload = Data([0xFB, 0xFF, 0xBF])
        payload.append(Data(token.utf8))
        let url = payload.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        XCTAssertTrue(url.contains("-") || url.contains("_"))
        XCTAssertEqual(self.scan("jwt=\(url)").first?.token, token)

        let twice = Data(Data(("k=" + token).utf8).base64EncodedString().utf8).base64EncodedString()
        let inner = self.scan("x: \(twice)\n")
        XCTAssertEqual(inner.first?.token, token, "a token encoded twice")
        XCTAssertEqual(inner.first?.decodings, ["base64", "base64"])

        let json = Data("{\"mpt\":{\"apiToken\":\"\(token)\"}}".utf8).base64EncodedString()
        XCTAssertEqual(self.scan("cfg=\(json)").first?.token, token)
    }

    func testLineWrappedBase64AsMIMEAndPEMWriteIt() {
        let token = SyntheticTokens.token(seed: 604)
        var found = 0, tried = 0
        for (width, breakText) in [(76, "\r\n"), (64, "\n")] {
            for pad in 0..<12 {
                let payload = Data((String(repeating: "x", count: pad * 7) + "{\"t\":\"\(token)\"}").utf8).base64EncodedString()
                var lines: [String] = []
                var rest = Substring(payload)
                while !rest.isEmpty { lines.append(String(rest.prefix(width))); rest = rest.dropFirst(width) }
                let text = "Content-Transfer-Encoding: base64\(breakText)\(breakText)" + lines.joined(separator: breakText) + breakText
                // the 10-character anchor itself must not be cut by a line break
                let anchors = ["aWR0OlRLTi", "lkdDpUS04t", "pZHQ6VEtOL"]
                guard anchors.contains(where: { text.contains($0) }) else { continue }
                tried += 1
                let hits = self.scan(text)
                if hits.first?.token == token && hits.first?.decodings == ["base64"] { found += 1 }
            }
        }
        XCTAssertGreaterThan(tried, 10)
        XCTAssertEqual(found, tried, "every wrapped encoding whose anchor is on one line")
    }

    func testTwoTokensOnConsecutiveUnpaddedLinesAreBothFound() {
        let a = SyntheticTokens.token(seed: 605), b = SyntheticTokens.token(seed: 606)
        func url(_ s: String) -> String { Data(s.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "") }
        let text = url("k=" + a) + "\n" + url(b) + "\n" + Data(String(repeating: "z", count: 300).utf8).base64EncodedString() + "\n"
        XCTAssertEqual(Set(self.scan(text).map(\.token)), [a, b])
    }

    func testImagesAndPlaceholdersDoNotFire() {
        var generator = SystemRandomNumberGenerator()
        var png = Data([0x89, 0x50, 0x4E, 0x47])
        for _ in 0..<200_000 { png.append(UInt8.random(in: 0...255, using: &generator)) }
        XCTAssertEqual(self.scan("url(data:image/png;base64,\(png.base64EncodedString()))").count, 0)
        let placeholder = Data("idt:TKN-XXXX-XXXX:your_token_here".utf8).base64EncodedString()
        XCTAssertEqual(self.scan("x=\(placeholder)").count, 0, "the decoded text goes through the same rules")
    }

    func testAnAllowCommentOnTheLineCoversTheEncodedToken() {
        let encoded = Data(SyntheticTokens.token(seed: 603).utf8).base64EncodedString()
        let found = self.scan("const fixture = \"\(encoded)\"; // mptscan:allow\n")
        XCTAssertEqual(found.count, 1)
        XCTAssertTrue(found.first?.isSuppressed ?? false)
    }
}

/// Tokens with every byte escaped: percent (once and twice), HTML character references, JavaScript escapes.
final class EscapedTokenTests: XCTestCase {
    let scanner = ContentScanner(detector: TokenDetector(rules: BuiltinRules.all))

    func scan(_ text: String) -> [Finding] { self.scanner.scan(bytes: Array(text.utf8), path: "t.html").findings }

    static func escape(_ text: String, _ form: (UInt8) -> String) -> String { text.utf8.map(form).joined() }

    func testEveryByteEscapedIsFoundAtTheEscapedText() {
        let token = SyntheticTokens.token(seed: 611)
        let cases: [(String, [String])] = [
            (Self.escape(token) { String(format: "%%%02X", $0) }, ["percent"]),
            (Self.escape(token) { String(format: "%%%02x", $0) }, ["percent"]),
            (Self.escape(token) { String(format: "%%25%02X", $0) }, ["percent", "percent"]),
            (Self.escape(token) { "&#\($0);" }, ["html-entity"]),
            (Self.escape(token) { String(format: "&#x%02x;", $0) }, ["html-entity"]),
            (Self.escape(token) { "&amp;#\($0);" }, ["html-entity", "html-entity"]),
            (Self.escape(token) { String(format: "\\x%02x", $0) }, ["hex-escape"]),
            (Self.escape(token) { String(format: "\\u%04x", $0) }, ["unicode-escape"]),
            (Self.escape(token) { String(format: "\\\\u%04X", $0) }, ["unicode-escape"]),
            (Self.escape(token) { String(format: "\\\\\\\\x%02x", $0) }, ["hex-escape"]),
            (Self.escape(token) { String(format: "%%2525%02X", $0) }, ["percent", "percent", "percent"]),
            (Self.escape(token) { String(format: "&amp;#x%02x;", $0) }, ["html-entity", "html-entity"]),
            (Self.escape(token) { String(format: "&#x%04x;", $0) }, ["html-entity"]),
            (Self.escape(token) { String(format: "&#%04d;", $0) }, ["html-entity"]),
            // he.encode(…, {encodeEverything, useNamedReferences}): named `&colon;` among numeric references
            (Self.escape(token) { $0 == 0x3A ? "&colon;" : "&#x\(String($0, radix: 16));" }, ["html-entity"]),
        ]
        for (escaped, decodings) in cases {
            let found = self.scan("<p>\n<a href=\"/x?t=\(escaped)&amp;y=1\">")
            XCTAssertEqual(found.count, 1, escaped)
            XCTAssertEqual(found.first?.token, token, escaped)
            XCTAssertEqual(found.first?.decodings, decodings, escaped)
            XCTAssertEqual(found.first?.line, 2, escaped)
            XCTAssertEqual(found.first?.column, 15, escaped)
            XCTAssertEqual(found.first?.endColumn, 15 + escaped.utf8.count, escaped)
        }
    }

    /// An escaped `idt` of one scheme that is no token (an escaped label, or one under more levels than
    /// --max-decode-depth) right before a token escaped with another scheme: the first decode undoes only its own
    /// scheme, so it must not cover the other scheme's anchor (it did: the token after it was never decoded).
    func testAnEscapedPrefixOfAnotherSchemeDoesNotHideTheTokenAfterIt() {
        let token = SyntheticTokens.token(seed: 612)
        let forms: [(UInt8) -> String] = [
            { String(format: "%%%02X", $0) }, { "&#\($0);" }, { String(format: "\\x%02x", $0) }, { String(format: "%%25%02X", $0) },
        ]
        var deep = "idt"
        for _ in 0...ScanLimits.deepestDecoding { deep = Self.escape(deep) { String(format: "%%%02X", $0) } }
        for (i, label) in forms.enumerated() {
            for (k, form) in forms.enumerated() where i != k {
                let escaped = Self.escape(token, form)
                for before in [Self.escape("idt", label), Self.escape("idt: ", label), i == 0 ? deep : Self.escape("idt", label)] {
                    let found = self.scan("<p>\(before)\(escaped)</p>")
                    XCTAssertEqual(found.map(\.token), [token], "\(before) then \(escaped)")
                    XCTAssertEqual(found.first?.column, 4 + before.utf8.count, "\(before) then \(escaped)")
                }
            }
        }
    }

    func testPlaceholdersAndOtherEscapedTextStayQuiet() {
        let placeholder = Self.escape("idt:TKN-XXXX-XXXX:your_token_here") { String(format: "%%%02X", $0) }
        XCTAssertEqual(self.scan("u=\(placeholder)").count, 0)
        let prose = Self.escape("identity provider settings") { "&#\($0);" }
        XCTAssertEqual(self.scan("<p>\(prose)</p>").count, 0)
        // an escaped prefix with a low-entropy body
        let weak = Self.escape("idt:TKN-1234-5678:" + String(repeating: "a", count: 64)) { String(format: "\\x%02x", $0) }
        XCTAssertEqual(self.scan("s = '\(weak)'").count, 0)
    }
}
