import Foundation
import XCTest
@testable import MPTScanKit
import _MPTScanTestSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Hostile inputs (issue 8, item 3), each with its defined outcome: what is scanned, what is skipped, what is
/// reported, and that nothing crashes, hangs or grows memory. The same cases are built into one tree by
/// scripts/hostile-tree.py and scanned by the release binary in `.ci/run`; the git configuration that tries
/// to run code is in CLITests/HostileCLITests.swift (it needs the binary and git).
final class HostileInputTests: XCTestCase {
    let detector = TokenDetector(rules: BuiltinRules.all)
    var directory: URL!

    override func setUpWithError() throws {
        self.directory = try TestPaths.makeTemporaryDirectory("mptscan-hostile")
    }

    override func tearDownWithError() throws {
        // a test may leave a directory without permissions behind
        _ = chmod(self.directory.path, 0o755)
        try? FileManager.default.removeItem(at: self.directory)
    }

    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> URL {
        let url = self.directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
        return url
    }

    /// Scans `paths` (default: the test's directory) with `limits`, failing the test (instead of hanging) when
    /// the scan takes longer than `seconds`.
    func scan(_ paths: [String]? = nil, limits: ScanLimits = ScanLimits(), follow: Bool = false, jobs: Int = 2,
              seconds: Double = 60, file: StaticString = #filePath, line: UInt = #line) -> ScanReport {
        var options = ScanOptions()
        options.paths = paths ?? [self.directory.path]
        options.limits = limits
        options.followSymlinks = follow
        options.jobs = jobs
        let scanner = TreeScanner(detector: self.detector, options: options)
        final class Box: @unchecked Sendable { var report: ScanReport? }
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            box.report = scanner.run()
            done.signal()
        }
        guard done.wait(timeout: .now() + seconds) == .success, let report = box.report else {
            XCTFail("the scan did not finish within \(seconds) s", file: file, line: line)
            return ScanReport(findings: [], summary: ScanSummary())
        }
        return report
    }

    func limits(_ change: (inout ScanLimits) -> Void) -> ScanLimits {
        var limits = ScanLimits()
        change(&limits)
        return limits
    }

    /// Peak resident memory of this process so far, in bytes.
    static func peakMemory() -> Int {
        var usage = rusage()
        #if canImport(Darwin)
        getrusage(RUSAGE_SELF, &usage)
        return Int(usage.ru_maxrss) // bytes on Darwin
        #else
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Int(usage.ru_maxrss) * 1024 // KiB on Linux
        #endif
    }

    // MARK: - archives

    /// A member that inflates more than 1000:1 (deflated zeros reach about 1030:1) is inflated only up to the
    /// ratio, reported once, and the scan is incomplete; the members after it are still read.
    func testZipBombByRatioStopsAtTheRatio() throws {
        let token = SyntheticTokens.token(seed: 1001)
        let zeros = [UInt8](repeating: 0, count: 16 << 20)
        try self.write("ratio.zip", ArchiveBuilder.zip([("zeros.bin", zeros), ("after.txt", bytes("k=\(token)\n"))]))
        let report = self.scan()
        XCTAssertEqual(report.findings.map(\.path), ["ratio.zip!after.txt"])
        XCTAssertEqual(report.summary.unreadable.count, 1)
        XCTAssertEqual(report.summary.unreadable.first?.limit, .archiveRatio, "\(report.summary.unreadable)")
        XCTAssertTrue(report.summary.unreadable.first?.message.contains("zeros.bin: inflates past") ?? false)
        XCTAssertEqual(report.summary.limitsReached.reached.map(\.limit), [.archiveRatio])
        XCTAssertTrue(report.summary.isIncomplete(acceptUnreadable: true), "--skip-unreadable does not accept a limit")
        XCTAssertLessThan(report.summary.bytesScanned, 16 << 20, "stopped at the ratio, not inflated whole")
    }

    /// Absolute caps: per member, then per archive in total. Each stops inflation at the cap, names itself,
    /// and counts once per member it cut.
    func testZipBombByAbsoluteSizePerMemberAndPerArchive() throws {
        let zeros = [UInt8](repeating: 0, count: 4 << 20)
        try self.write("big.zip", ArchiveBuilder.zip([("a.bin", zeros), ("b.bin", zeros), ("c.bin", zeros)]))
        let perMember = self.scan(limits: self.limits { $0.archive.maxRatio = 1_000_000; $0.archive.maxMemberBytes = 1 << 20 })
        XCTAssertEqual(perMember.summary.limitsReached.reached.map(\.limit), [.archiveMemberBytes])
        XCTAssertEqual(perMember.summary.limitsReached.reached.first?.count, 3)
        XCTAssertEqual(perMember.summary.bytesScanned, 3 << 20)

        let total = self.scan(limits: self.limits { $0.archive.maxRatio = 1_000_000; $0.archive.maxTotalBytes = 6 << 20 })
        XCTAssertEqual(total.summary.limitsReached.reached.map(\.limit), [.archiveBytes])
        XCTAssertEqual(total.summary.bytesScanned, 6 << 20, "a whole, b up to the total, c not inflated")
        XCTAssertEqual(total.summary.unreadable.map(\.limit), [.archiveBytes], "one issue for the archive")
        XCTAssertTrue(total.summary.unreadable[0].message.contains("c.bin: not inflated"), total.summary.unreadable[0].message)
    }

    /// Ten zips inside each other: three levels are opened (the default), the fourth is scanned as the bytes it
    /// is (a deflated member's token is not readable there), and the limit is reported; raised, the token at
    /// the bottom is found.
    func testDeeplyNestedArchivesStopAtTheDepthLimit() throws {
        let token = SyntheticTokens.token(seed: 1002)
        var nested = ArchiveBuilder.zip([("deep.txt", bytes("k=\(token)\n"))])
        for level in (1..<10).reversed() { nested = ArchiveBuilder.zip([("level\(level).zip", nested)]) }
        try self.write("nest.zip", nested)
        let limited = self.scan()
        XCTAssertEqual(limited.findings.count, 0)
        XCTAssertEqual(limited.summary.limitsReached.reached.map(\.limit), [.archiveDepth])
        XCTAssertEqual(limited.summary.unreadable.count, 1, "one issue for the archive")
        XCTAssertTrue(limited.summary.unreadable[0].message.contains("nested deeper than 3 levels"), limited.summary.unreadable[0].message)

        let raised = self.scan(limits: self.limits { $0.archive.maxDepth = 10 })
        XCTAssertEqual(raised.findings.map(\.token), [token])
        XCTAssertEqual(raised.findings.first?.path, "nest.zip!" + (1..<10).map { "level\($0).zip" }.joined(separator: "!") + "!deep.txt")
        XCTAssertTrue(raised.summary.unreadable.isEmpty)

        // 0 opens no archive at all: the file is scanned as plain bytes, and that is reported
        let none = self.scan(limits: self.limits { $0.archive.maxDepth = 0 })
        XCTAssertEqual(none.summary.limitsReached.reached.map(\.limit), [.archiveDepth])
        XCTAssertEqual(none.summary.filesScanned, 1)
        // the issue's path names the archive once: its message does not repeat it
        XCTAssertEqual(none.summary.unreadable.map(\.path), ["nest.zip"])
        XCTAssertFalse(none.summary.unreadable[0].message.contains("nest.zip"), none.summary.unreadable[0].message)
    }

    /// 100,000 members (a ZIP64 central directory) are all read; one more than `--max-archive-members` is
    /// reported and the rest are left.
    func testAnArchiveWith100000Members() throws {
        let token = SyntheticTokens.token(seed: 1003)
        var members = (0..<100_000).map { ("m/\($0)", [UInt8(ascii: "x")]) }
        members[99_999].1 = bytes(token)
        try self.write("many.zip", ArchiveBuilder.zip(members, stored: true))
        let started = Date()
        let report = self.scan()
        XCTAssertEqual(report.findings.map(\.path), ["many.zip!m/99999"], "the last of 100,000 members is read")
        XCTAssertTrue(report.summary.unreadable.isEmpty, "\(report.summary.unreadable)")
        XCTAssertLessThan(Date().timeIntervalSince(started), 30)

        let capped = self.scan(limits: self.limits { $0.archive.maxMembers = 50_000 })
        XCTAssertEqual(capped.findings.count, 0)
        XCTAssertEqual(capped.summary.limitsReached.reached.map(\.limit), [.archiveMembers])
        XCTAssertTrue(capped.summary.unreadable.first?.message.contains("more than 50000 members") ?? false)
    }

    /// A truncated zip (no central directory) is scanned as plain bytes and reported; a member whose data runs
    /// past the end is reported, the others read.
    func testTruncatedZips() throws {
        let token = SyntheticTokens.token(seed: 1004)
        let whole = ArchiveBuilder.zip([("a.txt", bytes("k=\(token)\n"))], stored: true)
        try self.write("cut.zip", Array(whole.prefix(whole.count - 30)))
        var lying = ArchiveBuilder.zip([("ok.txt", bytes("k=\(token)\n")), ("liar.txt", bytes("x"))], stored: true)
        // the second entry's central record claims a compressed size far past the end
        let eocd = lying.count - 22
        let cd = Int(lying[eocd + 16]) | Int(lying[eocd + 17]) << 8
        let second = cd + 46 + "ok.txt".utf8.count
        lying.replaceSubrange((second + 20)..<(second + 24), with: [0, 0, 0x10, 0])
        try self.write("liar.zip", lying)
        let report = self.scan()
        XCTAssertEqual(report.findings.map(\.path), ["cut.zip", "liar.zip!ok.txt"])
        XCTAssertEqual(report.summary.unreadable.map(\.path), ["cut.zip", "liar.zip"])
        XCTAssertTrue(report.summary.unreadable[0].message.contains("archive unreadable, scanned as plain bytes"))
        XCTAssertTrue(report.summary.unreadable[1].message.contains("liar.txt: member data runs past the end"))
        XCTAssertEqual(report.summary.unreadable.map(\.limit), [nil, nil], "damage, not a limit")
    }

    /// A deflated zip entry with no compressed bytes that declares no content (written so for empty files by
    /// some zip writers) is an empty member, not a damaged one: the scan is complete.
    func testAnEmptyDeflatedZipEntryIsNotDamage() throws {
        var zip = ArchiveBuilder.zip([("empty.txt", []), ("k.env", self.bytes("k=\(SyntheticTokens.token(seed: 1014))\n"))], stored: true)
        // the first entry's method, stored (0), made deflated (8) in its local header and central record
        zip[8] = 8
        let eocd = zip.count - 22
        let cd = Int(zip[eocd + 16]) | Int(zip[eocd + 17]) << 8
        zip[cd + 10] = 8
        try self.write("e.zip", zip)
        let report = self.scan()
        XCTAssertEqual(report.findings.map(\.path), ["e.zip!k.env"])
        XCTAssertEqual(report.summary.unreadable.map(\.message), [])
        XCTAssertFalse(report.summary.isIncomplete(acceptUnreadable: false))
    }

    /// An archive that cannot be read at all is reported under its path once: the message scanned as plain bytes
    /// does not name the archive again (`cut.gz: archive unreadable, …: cut.gz: cannot inflate`), as the issue
    /// of a partly read archive does not.
    func testAnUnreadableArchiveIsNamedOnce() throws {
        try self.write("cut.gz", Array(ArchiveBuilder.gzip(self.bytes("k=\(SyntheticTokens.token(seed: 1010))\n")).prefix(10)))
        try self.write("cut.zip", Array(ArchiveBuilder.zip([("a.txt", self.bytes("x\n"))]).dropLast(30)))
        let report = self.scan()
        XCTAssertEqual(report.summary.unreadable.map(\.path), ["cut.gz", "cut.zip"])
        for issue in report.summary.unreadable {
            XCTAssertTrue(issue.message.hasPrefix("archive unreadable, scanned as plain bytes: "), issue.message)
            XCTAssertFalse(issue.message.contains(issue.path), issue.message)
        }
    }

    /// A `.zip` whose end-of-directory record lists no members, or whose directory's first entry is no entry (or
    /// runs past the end), has no zip structure to go by: its bytes are scanned as plain bytes, so a token in them
    /// is found (the empty directory is no issue; the corrupt one is reported). A real empty zip (the 22-byte
    /// record alone) is clean. A corrupt entry after the first leaves the members before it read, the rest
    /// reported, and the file not rescanned as plain bytes.
    func testAZipWithNoReadableDirectoryIsScannedAsPlainBytes() throws {
        let text = self.bytes("const key = \"\(SyntheticTokens.token(seed: 1014))\";\n")
        try self.write("empty-record.zip", text + Self.endRecord(entries: 0, size: 0, offset: 0))
        try self.write("comment-only.zip", Self.endRecord(entries: 0, size: 0, offset: 0, comment: text))
        try self.write("garbage-directory.zip", text + Self.endRecord(entries: 1, size: 46, offset: 0))
        // a directory entry's signature, then a name length running past the end
        let header: [UInt8] = [0x50, 0x4B, 1, 2] + [UInt8](repeating: 0, count: 24) + [0xFF, 0xFF] + [UInt8](repeating: 0, count: 16)
        try self.write("cut-entry.zip", text + header + Self.endRecord(entries: 1, size: 46, offset: UInt32(text.count)))
        try self.write("real-empty.zip", Self.endRecord(entries: 0, size: 0, offset: 0))
        // two members, the second's directory entry overwritten: the first is read, the file not rescanned
        var two = ArchiveBuilder.zip([("a.env", self.bytes("k=\(SyntheticTokens.token(seed: 1015))\n")), ("b.txt", self.bytes("x\n"))], stored: true)
        let directory = Self.u32(two, two.count - 6)
        let second = directory + 46 + Self.u16(two, directory + 28)
        two[second] = 0x58
        try self.write("second-entry.zip", two)
        let report = self.scan()
        XCTAssertEqual(report.findings.map(\.path), ["comment-only.zip", "cut-entry.zip", "empty-record.zip", "garbage-directory.zip", "second-entry.zip!a.env"])
        XCTAssertEqual(report.summary.unreadable.map(\.path), ["cut-entry.zip", "garbage-directory.zip", "second-entry.zip"])
        XCTAssertEqual(report.summary.unreadable.map(\.message), ["archive unreadable, scanned as plain bytes: entry 0 runs past the end",
                                                                  "archive unreadable, scanned as plain bytes: central directory entry 0 is corrupt",
                                                                  "archive partly unscanned: central directory entry 1 is corrupt; the rest not read"])
    }

    /// An archive known by its bytes follows the rules of a named one: over `--max-archive-size` it is scanned as
    /// plain bytes and reported (a limit reached, exit 2), never passed as complete; one named as another kind (a
    /// gzip named `.tar`, a zip named `.gz`) is opened as what it is.
    func testArchivesKnownByTheirBytesFollowTheNamedOnesRules() throws {
        let config = self.bytes("export const key = \"\(SyntheticTokens.token(seed: 1018))\";\n")
        try self.write("big.bin", ArchiveBuilder.zip([("app/config.js", config)]))
        var limits = ScanLimits()
        limits.maxArchiveSize = 16
        let over = self.scan(limits: limits)
        XCTAssertEqual(over.summary.unreadable.map(\.path), ["big.bin"])
        XCTAssertEqual(over.summary.unreadable.first?.limit, .archiveSize)
        XCTAssertTrue(over.summary.isIncomplete(acceptUnreadable: true))
        try FileManager.default.removeItem(at: self.directory.appendingPathComponent("big.bin"))
        try self.write("dump.tar", ArchiveBuilder.gzip(config))
        try self.write("bundle.gz", ArchiveBuilder.zip([("app/config.js", config)]))
        let misnamed = self.scan()
        XCTAssertEqual(misnamed.findings.map(\.path), ["bundle.gz!app/config.js", "dump.tar!dump.tar"])
        XCTAssertFalse(misnamed.summary.isIncomplete(acceptUnreadable: false), "\(misnamed.summary.unreadable)")
    }

    /// Bytes of a zip that belong to no member are scanned as they are: a stub in front of the archive (a
    /// self-extractor's script) and the archive's comment after its end-of-directory record.
    func testAZipsStubAndCommentAreScanned() throws {
        let member = ArchiveBuilder.zip([("a.txt", self.bytes("nothing here\n"))])
        let stub = self.bytes("#!/bin/sh\nTOKEN=\(SyntheticTokens.token(seed: 1016))\nexit 0\n")
        try self.write("installer.zip", stub + member)
        var commented = member
        let comment = self.bytes("build key \(SyntheticTokens.token(seed: 1017))")
        commented[commented.count - 2] = UInt8(comment.count & 0xFF)
        commented[commented.count - 1] = UInt8(comment.count >> 8)
        try self.write("commented.zip", commented + comment)
        let report = self.scan()
        XCTAssertEqual(report.findings.map(\.path), ["commented.zip", "installer.zip"])
        XCTAssertEqual(report.findings.map(\.line), [1, 2])
        XCTAssertFalse(report.summary.isIncomplete(acceptUnreadable: false))
    }

    /// An end-of-central-directory record (APPNOTE.TXT 4.3.16): signature, disk numbers, entries on this disk and
    /// in all, directory size and offset, comment length, comment.
    static func endRecord(entries: UInt16, size: UInt32, offset: UInt32, comment: [UInt8] = []) -> [UInt8] {
        var r: [UInt8] = [0x50, 0x4B, 5, 6, 0, 0, 0, 0]
        for v in [entries, entries] { r += [UInt8(v & 0xFF), UInt8(v >> 8)] }
        for v in [size, offset] { r += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v >> 16 & 0xFF), UInt8(v >> 24)] }
        return r + [UInt8(comment.count & 0xFF), UInt8(comment.count >> 8)] + comment
    }

    static func u16(_ b: [UInt8], _ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
    static func u32(_ b: [UInt8], _ i: Int) -> Int { Self.u16(b, i) | Self.u16(b, i + 2) << 16 }

    /// With `--follow-symlinks`, a `.git` that is a link to a directory is skipped like a `.git` directory (its
    /// objects and config are git's, read by `mptscan history`); a file named `.git` (a worktree's) is scanned.
    func testALinkedGitDirectoryIsSkippedWhenFollowingLinks() throws {
        try self.write("real-git/config", self.bytes("k=\(SyntheticTokens.token(seed: 1011))\n"))
        try self.write("project/a.env", self.bytes("k=\(SyntheticTokens.token(seed: 1012))\n"))
        try self.write("worktree/.git", self.bytes("k=\(SyntheticTokens.token(seed: 1013))\n"))
        try FileManager.default.createSymbolicLink(atPath: self.directory.appendingPathComponent("project/.git").path, withDestinationPath: "../real-git")
        for follow in [false, true] {
            let report = self.scan([self.directory.appendingPathComponent("project").path, self.directory.appendingPathComponent("worktree").path], follow: follow)
            XCTAssertEqual(report.findings.map { $0.path.split(separator: "/").suffix(2).joined(separator: "/") }, ["project/a.env", "worktree/.git"], "follow \(follow)")
            XCTAssertFalse(report.summary.isIncomplete(acceptUnreadable: false), "follow \(follow)")
        }
    }

    /// An entry whose local header lies inside another entry's data (the layout of Fifield's 2019 overlapping
    /// bombs) is still read: its bytes may hold what the other's reading does not (here the stored outer entry
    /// holds the inner one's header and data; a stored entry can span a deflated one). Bombs built that way are
    /// bounded by the inflated-total and ratio limits. Entries sharing one local header: `ArchiveTests`.
    func testAnEntryInsideAnotherEntrysDataIsStillRead() throws {
        let token = SyntheticTokens.token(seed: 1005)
        // a stored member whose data is itself a local header and data ("quoted"), and a second central entry
        // pointing at that inner header
        let innerName = Array("inner.txt".utf8), innerData = bytes("k=\(token)\n")
        var inner: [UInt8] = []
        func u16(_ v: Int, _ a: inout [UInt8]) { a += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
        func u32(_ v: Int, _ a: inout [UInt8]) { u16(v & 0xFFFF, &a); u16(v >> 16, &a) }
        u32(0x04034B50, &inner); u16(20, &inner); u16(0, &inner); u16(0, &inner); u16(0, &inner); u16(0, &inner)
        u32(0, &inner); u32(innerData.count, &inner); u32(innerData.count, &inner); u16(innerName.count, &inner); u16(0, &inner)
        inner += innerName + innerData
        var zip = ArchiveBuilder.zip([("outer.bin", inner)], stored: true)
        let eocd = zip.count - 22
        let cdStart = Int(zip[eocd + 16]) | Int(zip[eocd + 17]) << 8
        var entry: [UInt8] = []
        u32(0x02014B50, &entry); u16(20, &entry); u16(20, &entry); u16(0, &entry); u16(0, &entry); u16(0, &entry); u16(0, &entry)
        u32(0, &entry); u32(innerData.count, &entry); u32(innerData.count, &entry); u16(innerName.count, &entry)
        u16(0, &entry); u16(0, &entry); u16(0, &entry); u16(0, &entry); u32(0, &entry); u32(30 + "outer.bin".utf8.count, &entry)
        entry += innerName
        let cdSize = eocd - cdStart + entry.count
        zip = Array(zip[..<eocd]) + entry + Array(zip[eocd...])
        let newEOCD = zip.count - 22
        zip[newEOCD + 8] = 2; zip[newEOCD + 10] = 2
        zip[newEOCD + 12] = UInt8(cdSize & 0xFF); zip[newEOCD + 13] = UInt8(cdSize >> 8)
        try self.write("overlap.zip", zip)
        let report = self.scan()
        XCTAssertEqual(report.findings.map(\.path), ["overlap.zip!outer.bin", "overlap.zip!inner.txt"], "both entries read")
        // (the outer entry's bytes start like a zip but are none: scanned as plain bytes, and said so)
        XCTAssertEqual(report.summary.unreadable.map(\.path), ["overlap.zip"])
        XCTAssertTrue(report.summary.unreadable.first?.message.contains("outer.bin: not a readable zip") ?? false, "\(report.summary.unreadable)")
    }

    /// Member names are labels, never paths written to: `../`, absolute and backslash names are reported as
    /// they are, and nothing is created anywhere.
    func testPathTraversalMemberNamesAreOnlyLabels() throws {
        let token = SyntheticTokens.token(seed: 1006)
        let escape = "../../../../../../../../tmp/mptscan-pwned-\(UUID().uuidString)"
        try self.write("evil.zip", ArchiveBuilder.zip([(escape, bytes("k=\(token)\n")), ("/etc/cron.d/x", bytes("y")),
                                                       ("..\\..\\windows\\x.txt", bytes("z"))]))
        try self.write("evil.tar", ArchiveBuilder.tar([(escape, bytes("k=\(token)\n"))]))
        let report = self.scan()
        XCTAssertEqual(Set(report.findings.map(\.path)), ["evil.zip!" + escape, "evil.tar!" + escape])
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/tmp/" + escape.split(separator: "/").last!))
        XCTAssertTrue(report.summary.unreadable.isEmpty)
    }

    /// An archive larger than `--max-archive-size` is not read into memory: scanned as plain bytes (stored
    /// members show through), reported.
    func testAnArchiveOverTheSizeLimitIsScannedAsPlainBytes() throws {
        let token = SyntheticTokens.token(seed: 1007)
        try self.write("large.zip", ArchiveBuilder.zip([("pad.bin", [UInt8](repeating: 7, count: 200_000)), ("k.txt", bytes("k=\(token)\n"))], stored: true))
        let report = self.scan(limits: self.limits { $0.maxArchiveSize = 100_000 })
        XCTAssertEqual(report.findings.map(\.path), ["large.zip"])
        XCTAssertEqual(report.summary.unreadable.map(\.limit), [.archiveSize])
        XCTAssertEqual(report.summary.limitsReached.reached.map(\.limit), [.archiveSize])
    }

    // MARK: - files that are not content

    /// A FIFO with no writer, a socket, and `/dev/zero` and `/dev/urandom` behind symbolic links are never
    /// read: skipped and listed, not errors. Followed (`--follow-symlinks`), a link to a character device is
    /// still skipped: devices are not content, and reading one would never end. Named on the command line,
    /// the link is followed and the device skipped the same way.
    func testFIFOsSocketsAndDevicesBehindLinksAreSkipped() throws {
        let token = SyntheticTokens.token(seed: 1008)
        try self.write("real.txt", bytes("k=\(token)\n"))
        XCTAssertEqual(mkfifo(self.directory.appendingPathComponent("fifo").path, 0o600), 0)
        let socketPath = self.directory.appendingPathComponent("sock").path
        #if canImport(Glibc)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_UNIX, SOCK_STREAM, 0)
        #endif
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in socketPath.utf8.enumerated() where i < raw.count - 1 { raw[i] = b }
        }
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        XCTAssertEqual(bound, 0)
        defer { close(fd) }
        for (name, target) in [("zero", "/dev/zero"), ("urandom", "/dev/urandom")] {
            try FileManager.default.createSymbolicLink(atPath: self.directory.appendingPathComponent(name).path, withDestinationPath: target)
        }
        let plain = self.scan(seconds: 20)
        XCTAssertEqual(plain.findings.map(\.path), ["real.txt"])
        XCTAssertEqual(plain.summary.skipped.map(\.path), ["fifo", "sock", "urandom", "zero"])
        XCTAssertEqual(plain.summary.skipped.map(\.reason), [.fifo, .socket, .symlink, .symlink])
        XCTAssertFalse(plain.summary.isIncomplete(acceptUnreadable: false))

        let followed = self.scan(follow: true, seconds: 20)
        XCTAssertEqual(followed.findings.map(\.path), ["real.txt"])
        XCTAssertEqual(followed.summary.skipped.map(\.reason), [.fifo, .socket, .device, .device])
        XCTAssertFalse(followed.summary.isIncomplete(acceptUnreadable: false))
        XCTAssertEqual(followed.summary.bytesScanned, token.utf8.count + 3, "nothing read from the devices")

        let named = self.scan([self.directory.appendingPathComponent("zero").path, self.directory.appendingPathComponent("urandom").path], seconds: 20)
        XCTAssertEqual(named.summary.skipped.map(\.reason), [.device, .device])
        XCTAssertEqual(named.summary.bytesScanned, 0)
    }

    /// Loops of links (a → b → a, and a directory link to its parent) end: skipped as loops when followed,
    /// listed as links otherwise.
    func testSymlinkLoopsEnd() throws {
        let fm = FileManager.default
        try self.write("d/real.txt", bytes("x\n"))
        try fm.createSymbolicLink(atPath: self.directory.appendingPathComponent("a").path, withDestinationPath: "b")
        try fm.createSymbolicLink(atPath: self.directory.appendingPathComponent("b").path, withDestinationPath: "a")
        try fm.createSymbolicLink(atPath: self.directory.appendingPathComponent("d/up").path, withDestinationPath: "..")
        let followed = self.scan(follow: true, seconds: 20)
        XCTAssertEqual(followed.summary.skipped.map(\.path), ["a", "b", "d/up"])
        XCTAssertEqual(followed.summary.skipped.map(\.reason), [.symlinkLoop, .symlinkLoop, .symlinkLoop])
        XCTAssertEqual(followed.summary.filesScanned, 1)
        XCTAssertEqual(self.scan(seconds: 20).summary.skipped.map(\.reason), [.symlink, .symlink, .symlink])
    }

    /// A directory that cannot be opened is reported (exit 2 unless --skip-unreadable), and the rest scanned.
    /// Root opens everything, so this runs only as another user (HostileCLITests runs the binary as nobody).
    func testAnUnreadableDirectoryIsReported() throws {
        try XCTSkipIf(getuid() == 0, "root reads every directory; HostileCLITests covers this as user nobody")
        try self.write("locked/secret.txt", bytes("x\n"))
        try self.write("open.txt", bytes("y\n"))
        XCTAssertEqual(chmod(self.directory.appendingPathComponent("locked").path, 0), 0)
        defer { _ = chmod(self.directory.appendingPathComponent("locked").path, 0o755) }
        let report = self.scan()
        XCTAssertEqual(report.summary.unreadable.map(\.path), ["locked"])
        XCTAssertTrue(report.summary.unreadable[0].message.contains("Permission denied"))
        XCTAssertEqual(report.summary.filesScanned, 1)
    }

    // MARK: - files that change, huge files, odd bytes

    /// A file is scanned as it was when opened, up to the size `fstat` gave: bytes appended during the scan are
    /// not read (a file that grows forever cannot hold the scan), and it finishes.
    func testAFileThatGrowsDuringTheScanEnds() throws {
        let token = SyntheticTokens.token(seed: 1009)
        let url = try self.write("growing.log", bytes("k=\(token)\n") + [UInt8](repeating: 0x61, count: 4 << 20))
        final class Flag: @unchecked Sendable { let lock = NSLock(); var stop = false }
        let flag = Flag()
        let writer = Thread {
            guard let handle = try? FileHandle(forWritingTo: url) else { return }
            handle.seekToEndOfFile()
            let chunk = Data(repeating: 0x62, count: 1 << 16)
            while true {
                flag.lock.lock(); let stop = flag.stop; flag.lock.unlock()
                if stop { break }
                handle.write(chunk)
                usleep(1000)
            }
            try? handle.close()
        }
        writer.start()
        var options = ScanOptions()
        options.paths = [url.path]
        options.chunkSize = 1 << 16
        let report = TreeScanner(detector: self.detector, options: options).run()
        flag.lock.lock(); flag.stop = true; flag.lock.unlock()
        Thread.sleep(forTimeInterval: 0.05)
        let finalSize = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int) ?? 0
        XCTAssertEqual(report.findings.map(\.token), [token])
        XCTAssertGreaterThanOrEqual(report.summary.bytesScanned, (4 << 20) + 84)
        XCTAssertLessThan(report.summary.bytesScanned, finalSize, "appended bytes are not chased")
        XCTAssertTrue(report.summary.unreadable.isEmpty)
    }

    /// A file that vanishes between the walk and its turn is reported ("vanished during the scan"): what was
    /// asked for was not scanned. One unlinked after it was opened is scanned whole (the descriptor holds it),
    /// and one truncated while read is scanned as far as it goes.
    func testAFileThatVanishesDuringTheScan() throws {
        let token = SyntheticTokens.token(seed: 1010)
        let url = try self.write("gone.txt", bytes("k=\(token)\n"))
        let raw = Array(url.path.utf8)
        let entry = FileEntry(sequence: 0, rawPath: raw, displayPrefix: "", relativeStart: raw.count - "gone.txt".utf8.count, viaSymlink: false)
        let worker = ContentScanner(detector: self.detector)
        try FileManager.default.removeItem(at: url)
        let vanished = TreeScanner.scanEntry(entry, worker: worker, isCancelled: { false })
        XCTAssertEqual(vanished.issues.map(\.path), ["gone.txt"])
        XCTAssertTrue(vanished.issues.first?.message.contains("vanished during the scan") ?? false, "\(vanished.issues)")

        // a directory listed by its parent and removed before the walk reaches it
        try self.write("walk/a.txt", bytes("x\n"))
        try self.write("walk/b-dir/c.txt", bytes("y\n"))
        let doomed = self.directory.appendingPathComponent("walk/b-dir")
        var walker = FileTreeWalker(excludes: [], followSymlinks: false) { _ in try? FileManager.default.removeItem(at: doomed) }
        walker.walk(roots: [self.directory.appendingPathComponent("walk").path])
        XCTAssertEqual(walker.issues.map(\.issue.path), ["b-dir"])
        XCTAssertTrue(walker.issues.first?.issue.message.contains("vanished during the scan") ?? false, "\(walker.issues)")

        // unlinked after open: read through the descriptor
        try self.write("unlinked.txt", bytes("k=\(token)\n"))
        let fd = open(self.directory.appendingPathComponent("unlinked.txt").path, O_RDONLY)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { close(fd) }
        try FileManager.default.removeItem(at: self.directory.appendingPathComponent("unlinked.txt"))
        XCTAssertEqual(worker.scan(fd: fd, path: { "unlinked.txt" }, expectedSize: token.utf8.count + 3).findings.map(\.token), [token])

        // truncated while read: fstat said 8 MiB, the file now ends after the token
        let truncated = try self.write("shrinking.txt", bytes("k=\(token)\n"))
        let tfd = open(truncated.path, O_RDONLY)
        defer { close(tfd) }
        let result = worker.scan(fd: tfd, path: { "shrinking.txt" }, expectedSize: 8 << 20)
        XCTAssertEqual(result.findings.map(\.token), [token])
        XCTAssertEqual(result.bytesRead, token.utf8.count + 3)
        XCTAssertNil(result.readError)
    }

    /// A sparse file is an ordinary file: no size limit, streamed in 1 MiB chunks with flat memory, a token at
    /// its very end found. (The 10 GiB case runs in scripts/hostile-tree.py; this one is 256 MiB to stay quick.)
    func testAHugeSparseFileIsStreamedWithFlatMemory() throws {
        let token = SyntheticTokens.token(seed: 1011)
        let url = self.directory.appendingPathComponent("sparse.img")
        let size = 256 << 20
        XCTAssertTrue(FileManager.default.createFile(atPath: url.path, contents: nil))
        let handle = try FileHandle(forWritingTo: url)
        try handle.truncate(atOffset: UInt64(size))
        try handle.seek(toOffset: UInt64(size - 200))
        handle.write(Data("\nk=\(token)\n".utf8))
        try handle.close()
        let before = Self.peakMemory()
        let started = Date()
        let report = self.scan([url.path], jobs: 1, seconds: 120)
        XCTAssertEqual(report.findings.map(\.token), [token])
        XCTAssertEqual(report.findings.first?.line, 2)
        XCTAssertEqual(report.summary.bytesScanned, size)
        XCTAssertLessThan(Self.peakMemory() - before, 64 << 20, "memory stays flat: the file is never held")
        XCTAssertTrue(report.summary.limitsReached.isEmpty, "too large to read whole, but no source map could name an origin")
        XCTAssertTrue(report.summary.unreadable.isEmpty)
        print("sparse \(size >> 20) MiB scanned in \(Date().timeIntervalSince(started)) s")
    }

    /// A 50 MB line (a minified bundle with no newline) is streamed: tokens at its start, middle and end are
    /// found with their columns, in linear time.
    func testAFiftyMegabyteSingleLine() throws {
        let tokens = (0..<3).map { SyntheticTokens.token(seed: 1012 + $0) }
        let filler = [UInt8](repeating: UInt8(ascii: "a"), count: 25_000_000)
        var line = bytes("var a=\"\(tokens[0])\";") + filler + bytes(";var b=\"\(tokens[1])\";") + filler + bytes(";var c=\"\(tokens[2])\"")
        let middleColumn = 7 + tokens[0].utf8.count + 2 + 25_000_000 + 8 + 1
        line.append(UInt8(ascii: "\n"))
        try self.write("bundle.min.js", line)
        let started = Date()
        let report = self.scan(jobs: 1)
        XCTAssertEqual(report.findings.map(\.token), tokens)
        XCTAssertEqual(report.findings.map(\.line), [1, 1, 1])
        XCTAssertEqual(report.findings.first?.column, 8)
        XCTAssertEqual(report.findings[1].column, middleColumn)
        XCTAssertLessThan(Date().timeIntervalSince(started), 30)
    }

    /// Invalid UTF-8 (stray continuation bytes, truncated and overlong sequences, 0xFF) around tokens does not
    /// hide them; each invalid byte counts as one column. UTF-16 with unpaired surrogates (either byte order)
    /// is decoded with U+FFFD for them, and the token after them found.
    func testInvalidUTF8AndUTF16WithUnpairedSurrogates() throws {
        let token = SyntheticTokens.token(seed: 1015)
        try self.write("bad-utf8.txt", [0xFF, 0x80, 0xC3, 0xE2, 0x82, 0xC0, 0xAF] + bytes("k=\(token)\n") + [0xED, 0xA0, 0x80, 0xF8])
        for (name, little) in [("le.txt", true), ("be.txt", false)] {
            var data: [UInt8] = little ? [0xFF, 0xFE] : [0xFE, 0xFF]
            let units: [UInt16] = [0xD800, 0x41, 0xDC00, 0xDBFF, 0x0A] + Array("k=\(token)".utf16) + [0xD83D]
            for u in units { data += little ? [UInt8(u & 0xFF), UInt8(u >> 8)] : [UInt8(u >> 8), UInt8(u & 0xFF)] }
            data.append(0x41) // a dangling odd byte
            try self.write(name, data)
        }
        let report = self.scan()
        XCTAssertEqual(report.findings.map(\.path), ["bad-utf8.txt", "be.txt", "le.txt"])
        XCTAssertEqual(report.findings.map(\.column), [10, 3, 3], "7 invalid bytes, then `k=`")
        XCTAssertEqual(report.findings.map(\.line), [1, 2, 2])
        XCTAssertEqual(report.summary.filesDecoded, 2)
        XCTAssertTrue(report.summary.unreadable.isEmpty)
    }

    /// A source map with a million `sources` (20 MB) and a token in its last embedded source: found once, at
    /// the map, with its original source, in bounded time; over `--max-source-map-size` the finding stays and
    /// only the original source is left out (counted, not incomplete).
    func testASourceMapWithAMillionSources() throws {
        let token = SyntheticTokens.token(seed: 1016)
        let count = 1_000_000
        var map = self.bytes("{\"version\":3,\"file\":\"app.js\",\"sources\":[")
        map.reserveCapacity(30 << 20)
        for i in 0..<count { map += self.bytes((i == 0 ? "\"s/" : ",\"s/") + String(i) + ".js\"") }
        map += self.bytes("],\"sourcesContent\":[")
        for i in 0..<(count - 1) { map += i == 0 ? [0x22, 0x78, 0x22] : [0x2C, 0x22, 0x78, 0x22] }
        map += self.bytes(",\"const k = '\(token)';\\n\"],\"mappings\":\"\"}\n")
        try self.write("app.js.map", map)
        let started = Date()
        let report = self.scan(jobs: 1)
        XCTAssertEqual(report.findings.count, 1)
        XCTAssertEqual(report.findings.first?.original?.source, "s/\(count - 1).js")
        XCTAssertEqual(report.findings.first?.original?.via, "sourcesContent[\(count - 1)]")
        XCTAssertLessThan(Date().timeIntervalSince(started), 30)

        let limited = self.scan(limits: self.limits { $0.maxSourceMapSize = 1 << 20 })
        XCTAssertEqual(limited.findings.count, 1)
        XCTAssertNil(limited.findings.first?.original)
        XCTAssertEqual(limited.summary.limitsReached.reached.map(\.limit), [.sourceMapSize])
        XCTAssertFalse(limited.summary.isIncomplete(acceptUnreadable: false), "only what is said about the finding is shorter")
        XCTAssertTrue(limited.summary.unreadable.isEmpty)
    }
}
