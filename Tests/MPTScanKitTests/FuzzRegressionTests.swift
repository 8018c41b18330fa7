import Foundation
import XCTest
@testable import MPTScanKit
import _MPTScanTestSupport

/// Inputs the fuzz targets (Fuzz/, docs/FUZZING.md) found to crash, hang or break an invariant, each fed to the
/// code that failed, byte for byte as the fuzzer wrote it (shortened only where the rest did not matter).
/// Before its fix each of these tests crashed the test process or failed.
final class FuzzRegressionTests: XCTestCase {
    /// `bytes` written to a pipe and read back through a `ByteStream` of `capacity` bytes, as git's output is.
    func withStream<T>(_ bytes: [UInt8], capacity: Int = 1 << 20, _ body: (ByteStream) throws -> T) throws -> T {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]) }
        let written = bytes.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) }
        XCTAssertEqual(written, bytes.count)
        close(fds[1])
        return try body(ByteStream(fd: fds[0], capacity: capacity))
    }

    /// fuzz target `git`: a `cat-file --batch` header with a negative size made a buffer of negative length
    /// (a trap). Now the header is refused like any other malformed one.
    func testCatFileHeaderWithNegativeSizeIsRefused() throws {
        let header = String(repeating: "1", count: 40) + " blob000100 -0800\ngpgsig -----BEGIN PGP SIGNATURE-----\n"
        var objects = 0
        XCTAssertThrowsError(try self.withStream(Array(header.utf8)) { stream in
            try CatFileBatch.read(stream, count: 2, isCancelled: { false }, missing: { _ in }) { _, _, _ in objects += 1 }
        }) { error in
            XCTAssertTrue("\(error)".contains("unexpected header"), "\(error)")
        }
        XCTAssertEqual(objects, 0)
    }

    /// The fuzz harness's filler (`FuzzTokens.filler`): lines no rule or decoder looks at.
    static func filler(_ count: Int) -> [UInt8] {
        let line = Array("// filler line\n".utf8)
        return (0..<count).map { line[$0 % line.count] }
    }

    /// fuzz target `tokens`: a token written plainly within 1 KiB after percent-escaped text (`%69%64%74…`) was
    /// also reported by the escape decoder, as `["percent"]`, at the same span; which of the two was kept
    /// depended on where the chunks ended. Now the decoder leaves a span with no escape in it to the plain scan.
    func testPlainTokenAfterEscapedTextIsNotLabelledDecoded() throws {
        let input = try XCTUnwrap(Data(base64Encoded:
            "azogYVdSME9sUkxUaTAzT0RZd0xUWXlOVFE2YlhCWU1WWjNURGM1YTBaeU1qaElRbk5SYlhrNFIxcHFibUpCUnpkdWNVbEJPSHBY" +
            "YTJBeFlXeHFPV294Y0hNeGRtOWhUelJFU2xNNGUnZFFXbTFhTUE9PQp2OiAlNjklNjQlNzQlRCU3MyU0AADhAAAAYWJjAGlkdDpU" +
            "S04tNzg2MC02MjU0Om1wWDFWd0w3OWtGcjI4SEJzUW15OEdaam5iQUc3bnFJQTh6V2twMWFsajlqMXBzMXZvYU80REpTOHg3UFpt" +
            "WjBRegAzJWlkdDpUS04tMTcyOS0yNzI4OlVobXNXUjBBUDQyJTU0JTRDJTMyJTMwJTc4JTRDJTQ2JTY1JTYxJTY2JTY3JTdBJTQ3" +
            "JTYyJTcwJTZGJTY5JTMxJTdBJTY5JTZFJTZGJTc1JTRDJTU3JTRFJTU3JTUyJTMwJTQxJTUwJTc1JTQ5JTRGJfPz8/Pz8/Pz8/Pz" +
            "8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz8/Pz" +
            "8/Pz8/Pz8/Pz8/Pz8/PzOjUlNzglNHVJT2Y3OU9QeEJrMnFwQjIlNkIlMzIlNzElNzAlNDJQR0FKbjAlNTAlNDclNDElNEElNkUl" +
            "MzAlNkYlMzElNDUlNEIlNTUlNTIKdzogImlkdDpUS04tNzIzNi02NDExOk5CbzFFS1UiICsgIkxLdk84czREM084UmMAOThTaktx" +
            "cjMyWkIiICsgIkxLdk84czREM084Yzk4U2pLcXIzMlp0YnBOd0M0d3hGSXNWZmJmSkzMMFBPawUAAABha2NJVGJzTW9WSGdwOTZV" +
            "bmEiCg=="))
        let wrapped = Self.filler(1123) + Array(input) + Self.filler(TokenDetector.lookAhead + 700)
        let detector = TokenDetector(rules: BuiltinRules.all)
        let whole = ContentScanner(detector: detector).scan(bytes: wrapped, path: "input").findings
        let chunked = ContentScanner(detector: detector, chunkSize: 64).scan(bytes: wrapped, path: "input").findings
        XCTAssertEqual(chunked.map(\.byteOffset), whole.map(\.byteOffset))
        XCTAssertEqual(chunked.map(\.decodings), whole.map(\.decodings))
        let plain = try XCTUnwrap(whole.first { $0.byteOffset == 1123 + 145 })
        XCTAssertEqual(plain.decodings, [])

        let text = Array("%69%64%74%D%73%4\u{0}abc\u{0}\(SyntheticTokens.token(seed: 3))".utf8)
        var escaped: [Candidate] = []
        text.withUnsafeBufferPointer { EscapedTokens.forEach(in: $0, anchorRange: 0..<$0.count, detector: detector) { escaped.append($0) } }
        XCTAssertEqual(escaped.count, 0, "\(escaped.map(\.decodings))")
        XCTAssertEqual(detector.candidates(in: text).count, 1)
    }

    /// fuzz target `tokens`, minimised: a legacy pair with a percent-escaped separator (`TKN-…%3A<secret>`) right
    /// after an escaped `idt` was found by the plain scan (separator encoding `percent`) and by the escape decoder
    /// (`["percent"]`) at the same span, labelled by whichever a chunk met first. The plain scan owns it now.
    func testTokenWithEscapedSeparatorsAfterEscapedTextIsThePlainScans() throws {
        let input: [UInt8] = [0xFF] + Array("%69%64%74%ATKN-7860-6254%3AmpX1VwL79kFr28HBsQmy8GZjnbAG7nqI%4".utf8)
        let wrapped = Self.filler(794) + input + Self.filler(TokenDetector.lookAhead + 700)
        let detector = TokenDetector(rules: BuiltinRules.all)
        let whole = ContentScanner(detector: detector).scan(bytes: wrapped, path: "input").findings
        let chunked = ContentScanner(detector: detector, chunkSize: 64).scan(bytes: wrapped, path: "input").findings
        XCTAssertEqual(chunked, whole)
        XCTAssertEqual(whole.map(\.ruleID), ["mpt-api-token-legacy"])
        XCTAssertEqual(whole.first?.decodings, [])
        XCTAssertEqual(whole.first?.encoding, .percent)
        var escaped: [Candidate] = []
        input.withUnsafeBufferPointer { EscapedTokens.forEach(in: $0, anchorRange: 0..<$0.count, detector: detector) { escaped.append($0) } }
        XCTAssertEqual(escaped.count, 0, "\(escaped.map(\.decodings))")
    }

    /// fuzz target `registry`: a `Retry-After` value with a combining mark after a digit crashed Foundation's
    /// DateFormatter (Linux: "Incorrect range CFRange(location: 0, length: 6)"). Non-ASCII text is no HTTP-date.
    func testRetryAfterWithNonASCIITextIsUnreadable() {
        let bytes: [UInt8] = [87, 101, 100, 44, 32, 55, 217, 157, 54, 55, 127, 0, 0, 50, 49, 32, 79, 99, 116, 32, 50, 48, 49,
                              53, 32, 48, 55, 58, 58, 56, 122, 58, 48, 48, 32, 71, 77, 84]
        let now = Date(timeIntervalSince1970: 1_750_000_000)
        XCTAssertNil(RegistryClient.retryAfterSeconds(String(decoding: bytes, as: UTF8.self), now: now))
        XCTAssertNil(RegistryClient.retryAfterSeconds("Wed, 2\u{65D}1 Oct 2015 07:28:00 GMT", now: now))
        // dates and seconds still read
        XCTAssertEqual(RegistryClient.retryAfterSeconds("Wed, 21 Oct 2015 07:28:00 GMT", now: Date(timeIntervalSince1970: 1_445_412_470)), 10)
        XCTAssertEqual(RegistryClient.retryAfterSeconds(" 120 ", now: now), 120)
    }
}
