import Foundation
import XCTest
@testable import MPTScanKit
import _MPTScanTestSupport

/// Archives scanned in memory: members named `outer!inner`, nesting, and hostile input reported, never lost.
final class ArchiveTests: XCTestCase {
    let detector = TokenDetector(rules: BuiltinRules.all)

    func scan(_ files: [(String, [UInt8])]) throws -> ScanReport {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mptscan-ar-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        for (name, bytes) in files { try Data(bytes).write(to: dir.appendingPathComponent(name)) }
        var options = ScanOptions()
        options.paths = [dir.path]
        return TreeScanner(detector: self.detector, options: options).run()
    }

    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    func testZipTarGzipAndNestingNameEveryMember() throws {
        let t = (1...5).map { SyntheticTokens.token(seed: 800 + $0) }
        let apk = ArchiveBuilder.zip([("assets/index.android.bundle", bytes("var k=\"\(t[0])\";\n")), ("res/a.png", [0x89, 0x50, 0, 1])])
        let release = ArchiveBuilder.zip([("app.apk", apk), ("README.md", bytes("x\n\(t[1])\n")), ("../../etc/passwd", bytes("root \(t[2])\n"))])
        let tgz = ArchiveBuilder.gzip(ArchiveBuilder.tar([("pkg/config.env", bytes("TOKEN=\(t[3])\n"))]))
        let dump = ArchiveBuilder.gzip(bytes("INSERT INTO keys VALUES ('\(t[4])');\n"))
        let report = try self.scan([("release.zip", release), ("pkg.tgz", tgz), ("dump.sql.gz", dump)])
        XCTAssertEqual(Set(report.findings.map(\.path)), ["release.zip!app.apk!assets/index.android.bundle", "release.zip!README.md",
                                                        "release.zip!../../etc/passwd", "pkg.tgz!pkg.tar!pkg/config.env", "dump.sql.gz!dump.sql"])
        XCTAssertEqual(report.findings.count, 5)
        XCTAssertEqual(report.findings.first { $0.token == t[1] }?.line, 2)
        XCTAssertTrue(report.summary.unreadable.isEmpty, "\(report.summary.unreadable)")
        XCTAssertEqual(try self.scan([("stored.jar", ArchiveBuilder.zip([("a.properties", bytes("k=\(t[0])\n"))], stored: true))]).findings.count, 1,
                       "stored members are read as is, found once")
    }

    func testABombATruncatedArchiveAndEncryptedMembersAreReportedNotLost() throws {
        let token = SyntheticTokens.token(seed: 810)
        // 8 MB of zeros deflates to about 8 KB: over a 1 MiB per-member cap, so inflation stops there
        var limits = ArchiveLimits()
        limits.maxMemberBytes = 1 << 20
        var walker = ArchiveWalker(limits: limits)
        let bomb = ArchiveBuilder.zip([("zeros.bin", [UInt8](repeating: 0, count: 8 << 20)), ("ok.txt", bytes(token))])
        var scanned: [String] = []
        bomb.withUnsafeBufferPointer { walker.walk($0, kind: .zip, name: "bomb.zip") { path, _ in scanned.append(path) } }
        XCTAssertEqual(scanned, ["bomb.zip!ok.txt"], "the rest of the archive is still read")
        XCTAssertTrue(walker.issues.first?.contains("zip bomb") ?? false, "\(walker.issues)")
        XCTAssertLessThanOrEqual(walker.inflated, (1 << 20) + 100, "the cap plus the small member")

        let whole = ArchiveBuilder.zip([("a.txt", bytes("x \(token)\n"))], stored: true)
        let truncated = try self.scan([("cut.zip", Array(whole.prefix(whole.count - 30)))])
        XCTAssertEqual(truncated.findings.count, 1, "an unreadable archive is scanned as plain bytes")
        XCTAssertTrue(truncated.summary.unreadable.first?.message.contains("unreadable") ?? false)

        let encrypted = try self.scan([("secret.zip", ArchiveBuilder.zip([("a.txt", bytes("x"))], flags: 1))])
        XCTAssertTrue(encrypted.summary.unreadable.first?.message.contains("encrypted") ?? false)
    }

    func testElectronAsar() throws {
        let token = SyntheticTokens.token(seed: 812)
        let asar = ArchiveBuilder.asar([("package.json", bytes("{}")), ("dist/main.js", bytes("const a = 1;\nconst k = '\(token)';\n")),
                                        ("node_modules/x/index.js", bytes("module.exports = 1"))])
        let report = try self.scan([("app.asar", asar)])
        XCTAssertEqual(report.findings.map(\.path), ["app.asar!dist/main.js"])
        XCTAssertEqual(report.findings.first?.line, 2)
        XCTAssertTrue(report.summary.unreadable.isEmpty)
        let broken = try self.scan([("bad.asar", Array(asar.prefix(20)))])
        XCTAssertTrue(broken.summary.unreadable.first?.message.contains("asar") ?? false, "\(broken.summary.unreadable)")
    }

    func testDepthLimit() {
        var walker = ArchiveWalker(limits: { var l = ArchiveLimits(); l.maxDepth = 2; return l }())
        let innermost = ArchiveBuilder.zip([("k.txt", self.bytes(SyntheticTokens.token(seed: 811)))])
        let nested = ArchiveBuilder.zip([("b.zip", ArchiveBuilder.zip([("c.zip", innermost)]))])
        var seen: [String] = []
        nested.withUnsafeBufferPointer { walker.walk($0, kind: .zip, name: "a.zip") { path, _ in seen.append(path) } }
        XCTAssertEqual(seen, [])
        XCTAssertTrue(walker.issues.first?.contains("nested deeper than 2") ?? false, "\(walker.issues)")
    }
}
