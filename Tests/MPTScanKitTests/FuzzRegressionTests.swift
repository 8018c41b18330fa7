import Foundation
import XCTest
@testable import MPTScanKit

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
}
