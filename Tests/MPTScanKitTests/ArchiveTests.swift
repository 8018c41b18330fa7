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

    func testArchiveKindByNameIsTheLastExtensionCaseInsensitive() {
        let cases: [(String, ArchiveKind?)] = [
            ("a/b/release.zip", .zip), ("APP.APK", .zip), ("x.NuPkg", .zip), ("report.docx", .zip), ("pkg.tar", .tar),
            ("pkg.tar.gz", .gzip), ("pkg.TGZ", .gzip), ("app.asar", .asar), (".zip", .zip), ("dir.zip/file.js", nil),
            ("zip", nil), ("a/zip", nil), ("x.zipx", nil), ("x.gzip", nil), ("x.z", nil), ("x.", nil), ("", nil),
            ("x.t\u{e4}r", nil), ("a.tar/b", nil),
        ]
        for (name, kind) in cases {
            XCTAssertEqual(ArchiveKind.byName(name), kind, name)
            XCTAssertEqual(ArchiveKind.byName(bytes: Array(name.utf8)), kind, name)
        }
    }

    func testZipTarGzipAndNestingNameEveryMember() throws {
        let t = (1...5).map { SyntheticTokens.token(seed: 800 + $0) }
        let apk = ArchiveBuilder.zip([("assets/index.android.bundle", bytes("var k=\"\(t[0])\";\n")), ("res/a.png", [0x89, 0x50, 0, 1])])
        let release = ArchiveBuilder.zip([("app.apk", apk), ("README.md", bytes("x\n\(t[1])\n")), ("../../etc/passwd", bytes("root \(t[2])\n"))])
        let tgz = ArchiveBuilder.gzip(ArchiveBuilder.tar([("pkg/config.env", bytes("TOKEN=\(t[3])\n"))]))
        let dump = ArchiveBuilder.gzip(bytes("INSERT INTO keys VALUES ('\(t[4])');\n"))
        let report = try self.scan([("release.zip", release), ("pkg.tgz", tgz), ("dump.sql.gz", dump)])
        XCTAssertEqual(Set(report.findings.map(\.path)), ["release.zip!app.apk!assets/index.android.bundle", "release.zip!README.md",
                                                        "release.zip!../../etc/passwd", "pkg.tgz!pkg/config.env", "dump.sql.gz!dump.sql"])
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
        XCTAssertEqual(scanned, ["bomb.zip!zeros.bin", "bomb.zip!ok.txt"], "the bomb's first 1 MiB and the rest of the archive are read")
        XCTAssertTrue(walker.issues.first?.message.contains("zip bomb") ?? false, "\(walker.issues)")
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

    func testHostileZipsFromTheBreakerRounds() throws {
        let token = SyntheticTokens.token(seed: 813)
        let zip = ArchiveBuilder.zip([("a.js", bytes("const k='\(token)';\n"))])
        // a CRX3 header (or a self-extractor stub) in front of the zip: offsets shift, members still found
        let crx = Array("Cr24".utf8) + [3, 0, 0, 0, 40, 0, 0, 0] + [UInt8](repeating: 0, count: 40) + zip
        XCTAssertEqual(try self.scan([("ext.crx", crx)]).findings.map(\.path), ["ext.crx!a.js"])

        // a ZIP64 local offset near Int.max: reported, no arithmetic overflow
        var hostile = ArchiveBuilder.zip([("a.js", bytes("x"))], stored: true)
        let cd = hostile.count - 22 - 46 - 4
        hostile.replaceSubrange((cd + 42)..<(cd + 46), with: [0xFF, 0xFF, 0xFF, 0xFF])
        var walker = ArchiveWalker(limits: ArchiveLimits())
        hostile.withUnsafeBufferPointer { walker.walk($0, kind: .zip, name: "z.zip") { _, _ in } }
        XCTAssertTrue(walker.issues.first?.message.contains("local header") ?? false, "\(walker.issues)")

        // many central entries pointing at one member's data: read once, reported
        var overlapping = ArchiveBuilder.zip([("a.js", bytes("const k='\(token)';\n"))])
        let eocd = overlapping.count - 22
        let cdStart = Int(overlapping[eocd + 16]) | Int(overlapping[eocd + 17]) << 8
        let entry = Array(overlapping[cdStart..<eocd])
        overlapping = Array(overlapping[..<eocd]) + entry + entry + Array(overlapping[eocd...])
        let copies = overlapping.count - 22
        overlapping[copies + 8] = 3; overlapping[copies + 10] = 3
        let size = entry.count * 3
        overlapping[copies + 12] = UInt8(size & 0xFF); overlapping[copies + 13] = UInt8(size >> 8)
        let report = try self.scan([("overlap.zip", overlapping)])
        XCTAssertEqual(report.findings.count, 1)
        XCTAssertTrue(report.summary.unreadable.first?.message.contains("sharing a local header") ?? false, "\(report.summary.unreadable)")

        // named .tar or .jar but not one: plain bytes, nothing lost, no false alarm
        let plain = try self.scan([("notes.tar", bytes("my token: \(token)\n")), ("lib.jar", bytes("not a zip \(token)\n"))])
        XCTAssertEqual(plain.findings.count, 2)
        XCTAssertTrue(plain.summary.unreadable.isEmpty, "\(plain.summary.unreadable)")

        // a gzip inside a zip is named once; a .tgz counts as one level of nesting
        let inner = ArchiveBuilder.zip([("dump.sql.gz", ArchiveBuilder.gzip(bytes("'\(token)'\n"))),
                                        ("b.zip", ArchiveBuilder.zip([("c.tgz", ArchiveBuilder.gzip(ArchiveBuilder.tar([("k.env", bytes(token))])))]))])
        XCTAssertEqual(Set(try self.scan([("root.zip", inner)]).findings.map(\.path)),
                       ["root.zip!dump.sql.gz!dump.sql", "root.zip!b.zip!c.tgz!k.env"])
    }

    func testThirdRoundRegressions() throws {
        let token = SyntheticTokens.token(seed: 814)
        // gzip inside gzip inside gzip …: depth still ends it (it used to recurse until the stack overflowed)
        var layers = ArchiveBuilder.gzip(bytes("x"))
        for _ in 0..<200 { layers = ArchiveBuilder.gzip(layers) }
        var walker = ArchiveWalker(limits: ArchiveLimits())
        layers.withUnsafeBufferPointer { walker.walk($0, kind: .gzip, name: "deep.gz") { _, _ in } }
        XCTAssertTrue(walker.issues.contains { $0.message.contains("nested deeper") }, "\(walker.issues.prefix(2))")

        // a CRX (bytes before its zip) inside a zip is opened by its name
        let crx = Array("Cr24".utf8) + [3, 0, 0, 0, 8, 0, 0, 0] + [UInt8](repeating: 0, count: 8)
            + ArchiveBuilder.zip([("bg.js", bytes("k='\(token)'"))])
        XCTAssertEqual(try self.scan([("outer.zip", ArchiveBuilder.zip([("ext.crx", crx)]))]).findings.map(\.path), ["outer.zip!ext.crx!bg.js"])
    }

    /// The end-of-directory record's member count is 16 bits (65,536 members without a ZIP64 record say 0,
    /// 65,537 say 1) and a crafted one may say less than the directory holds; unzip and Python's zipfile read the
    /// directory to its end. So does the walker: a deflated member past the count is found (a count of 0 had the
    /// zip's bytes scanned as plain bytes, its deflated token unread, and the scan passed as clean).
    func testMembersPastTheDirectoryCountAreRead() throws {
        let a = SyntheticTokens.token(seed: 815), b = SyntheticTokens.token(seed: 816)
        let zip = ArchiveBuilder.zip([("a.js", bytes("const a='\(a)';\n")), ("b.js", bytes("const b='\(b)';\n"))])
        func counting(_ n: UInt8) -> [UInt8] {
            var z = zip
            let eocd = z.count - 22
            z[eocd + 8] = n; z[eocd + 9] = 0; z[eocd + 10] = n; z[eocd + 11] = 0
            return z
        }
        let report = try self.scan([("zero.zip", counting(0)), ("one.zip", counting(1))])
        XCTAssertEqual(Set(report.findings.map(\.path)), ["zero.zip!a.js", "zero.zip!b.js", "one.zip!a.js", "one.zip!b.js"])
        XCTAssertTrue(report.summary.unreadable.isEmpty, "\(report.summary.unreadable)")
    }

    /// A zip's comment (after the end-of-directory record; `zip -z`, shown by `unzip -z`) is text of the file
    /// like any other: a token in it is found, in an empty zip too, at the zip's own path.
    func testATokenInTheZipCommentIsFound() throws {
        let token = SyntheticTokens.token(seed: 817)
        func commented(_ zip: [UInt8]) -> [UInt8] {
            let comment = bytes("deploy key \(token)")
            var z = zip
            z[z.count - 2] = UInt8(comment.count & 0xFF); z[z.count - 1] = UInt8(comment.count >> 8)
            return z + comment
        }
        let report = try self.scan([("empty.zip", commented(ArchiveBuilder.zip([]))),
                                    ("one.zip", commented(ArchiveBuilder.zip([("a.txt", bytes("hello"))])))])
        XCTAssertEqual(report.findings.map(\.path).sorted(), ["empty.zip", "one.zip"])
        XCTAssertEqual(report.findings.map(\.token), [token, token])
        XCTAssertTrue(report.summary.unreadable.isEmpty, "\(report.summary.unreadable)")
    }

    /// An archive not named as one is known by its first bytes, as `staged` and `history` know a blob: a zip
    /// saved as `.bin`, a gzip and a tar without extension are opened and their members scanned (a deflated
    /// member's token is found); a file that starts like a zip but is not one is scanned as plain bytes, and
    /// says so.
    func testArchivesNotNamedAsOneAreKnownByTheirBytes() throws {
        let config = bytes("export const key = \"\(SyntheticTokens.token(seed: 820))\";\n")
        let report = try self.scan([("member.bin", ArchiveBuilder.zip([("app/config.js", config)])),
                                    ("noext", ArchiveBuilder.gzip(config)),
                                    ("backup.1", ArchiveBuilder.tar([("etc/app.env", bytes("k=\(SyntheticTokens.token(seed: 821))\n"))])),
                                    ("fake.bin", [0x50, 0x4B, 3, 4] + bytes(" k=\(SyntheticTokens.token(seed: 822))\n"))])
        XCTAssertEqual(report.findings.map(\.path), ["backup.1!etc/app.env", "fake.bin", "member.bin!app/config.js", "noext!noext"])
        XCTAssertEqual(report.summary.unreadable.map(\.path), ["fake.bin"])
        XCTAssertTrue(report.summary.unreadable.first?.message.hasPrefix("archive unreadable, scanned as plain bytes: ") ?? false, "\(report.summary.unreadable)")
    }

    func testDepthLimit() {
        var walker = ArchiveWalker(limits: { var l = ArchiveLimits(); l.maxDepth = 2; return l }())
        let innermost = ArchiveBuilder.zip([("k.txt", self.bytes(SyntheticTokens.token(seed: 811)))])
        let nested = ArchiveBuilder.zip([("b.zip", ArchiveBuilder.zip([("c.zip", innermost)]))])
        var seen: [String] = []
        nested.withUnsafeBufferPointer { walker.walk($0, kind: .zip, name: "a.zip") { path, _ in seen.append(path) } }
        XCTAssertEqual(seen, ["a.zip!b.zip!c.zip"], "not opened, but its bytes are scanned as they are")
        XCTAssertTrue(walker.issues.first?.message.contains("nested deeper than 2") ?? false, "\(walker.issues)")
        XCTAssertEqual(walker.issues.first?.limit, .archiveDepth)
    }
}
