import Foundation
import XCTest
@testable import MPTScanKit
import _MPTScanTestSupport

/// The pack and loose object reader (`ObjectStore`): on repositories git wrote (loose, packed with OFS and REF
/// deltas, several packs, duplicates, alternates) it must hand over exactly the (id, kind, content) set
/// `git cat-file --batch-all-objects` gives, trees left out, and a history scan through it must give the same
/// bytes as one through `git cat-file`. Hand-made and mutated packs must be refused or left to git, never crash.
final class PackReaderTests: XCTestCase {
    let detector = TokenDetector(rules: BuiltinRules.all)

    struct Object: Equatable, CustomStringConvertible {
        var kind: ObjectKind
        var content: [UInt8]
        var description: String { "\(self.kind) of \(self.content.count) bytes" }
    }

    // MARK: - Helpers

    /// Every blob, commit and tag as `git cat-file --batch-all-objects --batch` gives them.
    func viaGit(_ path: String) throws -> [ObjectID: Object] {
        let out = try Git(directory: path).run(["cat-file", "--batch-all-objects", "--batch"]).output
        var objects: [ObjectID: Object] = [:]
        var i = 0
        while i < out.count {
            let newline = out[i...].firstIndex(of: 10)!
            let parts = out[i..<newline].split(separator: 32)
            let id = ObjectID(hex: parts[0])!, kind = ObjectKind(rawValue: String(decoding: parts[1], as: UTF8.self))!
            let size = Int(String(decoding: parts[2], as: UTF8.self))!
            if kind != .tree { objects[id] = Object(kind: kind, content: Array(out[(newline + 1)..<(newline + 1 + size)])) }
            i = newline + 1 + size + 1
        }
        return objects
    }

    final class Collected: @unchecked Sendable {
        var objects: [ObjectID: Object] = [:]
        var twice: [ObjectID] = []
    }

    /// Everything the store hands over on `threads` threads, checked to be handed over once.
    func viaStore(_ store: ObjectStore, threads: Int, file: StaticString = #filePath, line: UInt = #line) -> (objects: [ObjectID: Object], outcome: ObjectStore.Outcome) {
        let collected = (0..<threads).map { _ in Collected() }
        let outcome = store.forEach(threads: threads, isCancelled: { false }) { thread, id, kind, content in
            var bytes: [UInt8]
            switch content {
            case .whole(let b): bytes = Array(b)
            case .stream(let size, let pull):
                bytes = []
                var piece = [UInt8](repeating: 0, count: 1 << 16)
                while true {
                    let n = piece.withUnsafeMutableBufferPointer { pull($0) }
                    if n <= 0 { break }
                    bytes += piece[0..<n]
                }
                XCTAssertEqual(bytes.count, size)
            }
            let c = collected[thread]
            if c.objects[id] != nil { c.twice.append(id) }
            c.objects[id] = Object(kind: kind, content: bytes)
        }
        var all: [ObjectID: Object] = [:]
        for c in collected {
            XCTAssertEqual(c.twice, [], "handed over twice", file: file, line: line)
            for (id, object) in c.objects {
                XCTAssertNil(all[id], "\(id) handed over by two threads", file: file, line: line)
                all[id] = object
            }
        }
        return (all, outcome)
    }

    func store(_ path: String, known: Set<ObjectID> = [], limits: ObjectStore.Limits = .init()) throws -> ObjectStore {
        try ObjectStore.open(repository: try GitRepository.open(path, named: true), known: known, limits: limits)
    }

    /// The store hands over exactly git's objects on 1, 2 and 3 threads, with nothing left to git.
    func assertSameObjectsAsGit(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let expected = try self.viaGit(path)
        XCTAssertFalse(expected.isEmpty, file: file, line: line)
        for threads in [1, 2, 3] {
            let store = try self.store(path)
            let (objects, outcome) = self.viaStore(store, threads: threads, file: file, line: line)
            XCTAssertEqual(outcome.leftToGit, [], "threads \(threads)", file: file, line: line)
            XCTAssertEqual(Set(objects.keys), Set(expected.keys), "threads \(threads)", file: file, line: line)
            for (id, object) in expected where objects[id] != object {
                XCTFail("\(id): git has \(object), the store \(objects[id].map(\.description) ?? "nothing")", file: file, line: line)
            }
            XCTAssertEqual(Set(store.listed + outcome.listedLoose), Set(expected.keys), file: file, line: line)
            XCTAssertEqual(store.listed.count + outcome.listedLoose.count, expected.count, "listed once each", file: file, line: line)
        }
    }

    /// A history scan through the store gives the same JSON as one through `git cat-file`, for 1 and 2 jobs, and
    /// really went through the store.
    @discardableResult
    func assertSameHistory(_ path: String, known: Set<ObjectID> = [], limits: ObjectStore.Limits = .init(),
                           file: StaticString = #filePath, line: UInt = #line) throws -> ObjectSource? {
        func scan(throughGit: Bool, jobs: Int) throws -> (String, [ObjectID], ObjectSource?) {
            var options = HistoryOptions()
            options.repository = path
            options.jobs = jobs
            options.objectsPerJob = 2
            options.knownObjects = known
            options.objectsThroughGit = throughGit
            options.packLimits = limits
            let scanner = HistoryScanner(detector: self.detector, options: options)
            let report = try scanner.run()
            return (JSONReporter(showSecrets: true).render(report), scanner.scannedObjects, scanner.objectSource)
        }
        let (expected, covered, _) = try scan(throughGit: true, jobs: 2)
        var source: ObjectSource? = nil
        for jobs in [1, 2] {
            let (json, scanned, how) = try scan(throughGit: false, jobs: jobs)
            XCTAssertEqual(json, expected, "jobs \(jobs)", file: file, line: line)
            XCTAssertEqual(scanned, covered, "jobs \(jobs)", file: file, line: line)
            guard case .packs = how else { XCTFail("objects read through \(how.map(\.description) ?? "nothing")", file: file, line: line); continue }
            source = how
        }
        return source
    }

    /// A repository with `versions` commits of a 200-line file edited a little each time (git deltifies it), a
    /// token in some versions, other files, a branch and an annotated tag whose message holds a token.
    func deltaRepository(_ name: String, versions: Int = 40, seed: Int = 900) throws -> GitRecipe {
        let repo = try GitRecipe(name)
        var lines = (0..<200).map { "line \($0) of a file that changes a little in every commit, padded to length" }
        for v in 0..<versions {
            lines[(v * 7) % lines.count] = "edited in version \(v)"
            if v == versions / 2 { lines[3] = "key = \"\(SyntheticTokens.token(seed: seed))\"" }
            if v == versions / 2 + 3 { lines[3] = "key removed" }
            try repo.write("src/big.txt", lines.joined(separator: "\n") + "\n")
            try repo.write("notes/n\(v % 5).md", "note \(v)\n" + String(repeating: "text \(v % 3) ", count: 40) + "\n")
            if v == 1 { try repo.write("empty.txt", "") }
            try repo.commit("version \(v)")
            if v == versions / 3 { try repo.git("branch", "old") }
        }
        try repo.git("tag", "-a", "v1", "-m", "release with \(SyntheticTokens.token(seed: seed + 1))", environment: repo.dated())
        return repo
    }

    /// Pack entry types in `path`'s packs: how many entries of each (1-4, 6 OFS_DELTA, 7 REF_DELTA).
    func entryTypes(_ path: String) throws -> [UInt8: Int] {
        var types: [UInt8: Int] = [:]
        for pack in try self.store(path).packs {
            for k in 0..<pack.count { types[pack.header(rank: k)!.type, default: 0] += 1 }
        }
        return types
    }

    // MARK: - Repositories git wrote

    func testLooseObjectsOnly() throws {
        let repo = try self.deltaRepository("loose", versions: 8)
        XCTAssertEqual(try self.store(repo.path).packs.count, 0)
        try self.assertSameObjectsAsGit(repo.path)
        XCTAssertEqual(try self.assertSameHistory(repo.path), .packs(packs: 0, loose: try self.viaGit(repo.path).count + 0 + self.treeCount(repo.path), leftToGit: 0))
    }

    func treeCount(_ path: String) throws -> Int {
        Git.lines(try Git(directory: path).run(["cat-file", "--batch-all-objects", "--batch-check=%(objecttype)"]).output).filter { $0 == "tree" }.count
    }

    func testOneAggressivelyRepackedPackWithOFSDeltas() throws {
        let repo = try self.deltaRepository("packed")
        try repo.git("repack", "-adf", "--depth=50", "--window=250", "-q")
        let types = try self.entryTypes(repo.path)
        XCTAssertGreaterThan(types[PackEntryType.ofsDelta] ?? 0, 30, "\(types)")
        XCTAssertNil(types[PackEntryType.refDelta])
        try self.assertSameObjectsAsGit(repo.path)
        XCTAssertEqual(try self.assertSameHistory(repo.path), .packs(packs: 1, loose: 0, leftToGit: 0))
    }

    func testREFDeltas() throws {
        let repo = try self.deltaRepository("refdelta")
        try repo.git("-c", "repack.useDeltaBaseOffset=false", "repack", "-adf", "--depth=50", "--window=250", "-q")
        let types = try self.entryTypes(repo.path)
        XCTAssertGreaterThan(types[PackEntryType.refDelta] ?? 0, 30, "\(types)")
        XCTAssertNil(types[PackEntryType.ofsDelta])
        try self.assertSameObjectsAsGit(repo.path)
        try self.assertSameHistory(repo.path)
    }

    func testSeveralPacksLooseObjectsDuplicatesAndALargeBlob() throws {
        let repo = try self.deltaRepository("several", versions: 12)
        try repo.git("repack", "-ad", "-q")
        for v in 0..<6 {
            try repo.write("src/more.txt", String(repeating: "more text \(v)\n", count: 100))
            try repo.commit("more \(v)")
        }
        try repo.git("repack", "-d", "-q") // a second pack of the loose objects
        // a blob over CatFileBatch.wholeObjectLimit (streamed by cat-file) with a token near its end
        var large = String(repeating: "0123456789abcdef padding line of a large generated file\n", count: 160_000)
        large += "deploy token \(SyntheticTokens.token(seed: 910))\n"
        try repo.write("data/large.txt", large)
        try repo.commit("large")
        for v in 0..<3 {
            try repo.write("src/loose.txt", "loose \(v) \(SyntheticTokens.token(seed: 911 + v))\n")
            try repo.commit("loose \(v)")
        }
        // every reachable object once more in a third pack, and a packed blob written loose again
        try repo.git("pack-objects", "--revs", "--all", "-q", ".git/objects/pack/pack", input: "")
        try repo.write("copy.txt", "note 1\n" + String(repeating: "text 1 ", count: 40) + "\n")
        try repo.git("hash-object", "-w", "copy.txt")
        try repo.write("src/last.txt", "only loose\n")
        try repo.commit("last")
        let store = try self.store(repo.path)
        XCTAssertEqual(store.packs.count, 3)
        XCTAssertGreaterThan(store.loose.count, 0)
        XCTAssertGreaterThan(try self.viaGit(repo.path).values.map(\.content.count).max() ?? 0, CatFileBatch.wholeObjectLimit)
        try self.assertSameObjectsAsGit(repo.path)
        try self.assertSameHistory(repo.path)
        // limits low enough that the large blob and the deeper deltas go to git: still the same scan
        let left = try self.assertSameHistory(repo.path, limits: .init(objectBytes: 1 << 20, heldBytes: 20_000))
        guard case .packs(_, _, let leftToGit) = left else { return XCTFail("\(left.map(\.description) ?? "")") }
        XCTAssertGreaterThan(leftToGit, 1)
    }

    func testAlternatesAbsoluteAndRelative() throws {
        let origin = try self.deltaRepository("origin", versions: 10)
        try origin.git("repack", "-ad", "-q")
        let base = origin.directory.deletingLastPathComponent()
        let shared = base.appendingPathComponent("shared")
        try origin.run(["clone", "-q", "--shared", origin.path, shared.path])
        let clone = try GitRecipe.existing(shared)
        try clone.write("new.txt", "new \(SyntheticTokens.token(seed: 920))\n")
        try clone.commit("in the clone")
        let alternates = shared.appendingPathComponent(".git/objects/info/alternates")
        XCTAssertTrue(try String(contentsOf: alternates, encoding: .utf8).hasPrefix("/"))
        XCTAssertEqual(try self.store(shared.path).directories.count, 2)
        try self.assertSameObjectsAsGit(shared.path)
        try self.assertSameHistory(shared.path)
        // the same directory given relative to the clone's object directory
        try Data("# the origin\n../../../origin/.git/objects\n".utf8).write(to: alternates)
        XCTAssertEqual(try self.store(shared.path).directories.count, 2)
        try self.assertSameObjectsAsGit(shared.path)
        try self.assertSameHistory(shared.path)
    }

    func testALinkedWorktreeReadsTheCommonObjectStore() throws {
        let repo = try self.deltaRepository("main", versions: 6)
        try repo.git("repack", "-ad", "-q")
        let linked = repo.directory.deletingLastPathComponent().appendingPathComponent("linked")
        try repo.git("worktree", "add", "-q", "-b", "side", linked.path)
        try self.assertSameObjectsAsGit(linked.path)
        XCTAssertEqual(try self.assertSameHistory(linked.path), .packs(packs: 1, loose: 0, leftToGit: 0))
    }

    func testKnownBlobsAreListedButNotHandedOver() throws {
        let repo = try self.deltaRepository("known", versions: 20)
        try repo.git("repack", "-adf", "--depth=50", "--window=250", "-q")
        let all = try self.viaGit(repo.path)
        // every other blob known: the rest must still be built (their bases are read, not handed over)
        let known = Set(all.filter { $0.value.kind == .blob }.keys.sorted().enumerated().filter { $0.offset % 2 == 0 }.map(\.element))
        let store = try self.store(repo.path, known: known)
        let (objects, outcome) = self.viaStore(store, threads: 2)
        XCTAssertEqual(Set(objects.keys), Set(all.keys).subtracting(known))
        XCTAssertEqual(Set(store.listed + outcome.listedLoose), Set(all.keys))
        for (id, object) in objects { XCTAssertEqual(object, all[id]) }
        try self.assertSameHistory(repo.path, known: known)
    }

    /// A large real repository, when `MPTSCAN_VERIFY_PACKS_REPO` names one (e.g. the curl history of the
    /// benchmark): every blob, commit and tag, compared by kind, size and a 64-bit hash of the content with what
    /// `git cat-file --batch` gives for git's own listing.
    func testARealRepositoryNamedByTheEnvironment() throws {
        guard let path = ProcessInfo.processInfo.environment["MPTSCAN_VERIFY_PACKS_REPO"] else {
            throw XCTSkip("set MPTSCAN_VERIFY_PACKS_REPO to a repository to compare the pack reader with git on it")
        }
        func hash(_ content: CatFileBatch.Content) -> (Int, UInt64) {
            var h: UInt64 = 0xCBF2_9CE4_8422_2325, count = 0
            func add(_ b: UnsafeBufferPointer<UInt8>) {
                for byte in b { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
                count += b.count
            }
            switch content {
            case .whole(let b): add(b)
            case .stream(_, let pull):
                var piece = [UInt8](repeating: 0, count: 1 << 16)
                while true {
                    let n = piece.withUnsafeMutableBufferPointer { pull($0) }
                    if n <= 0 { break }
                    piece.withUnsafeBufferPointer { add(UnsafeBufferPointer(rebasing: $0[0..<n])) }
                }
            }
            return (count, h)
        }
        final class Seen: @unchecked Sendable { var objects: [ObjectID: (ObjectKind, Int, UInt64)] = [:] }
        let store = try self.store(path)
        let seen = (0..<2).map { _ in Seen() }
        let outcome = store.forEach(threads: 2, isCancelled: { false }) { thread, id, kind, content in
            let (count, h) = hash(content)
            XCTAssertNil(seen[thread].objects[id])
            seen[thread].objects[id] = (kind, count, h)
        }
        XCTAssertEqual(outcome.leftToGit, [])
        var mine = seen[0].objects
        mine.merge(seen[1].objects) { a, _ in XCTFail("handed over twice"); return a }
        let git = Git(directory: path)
        let listing = Git.lines(try git.run(["cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype)"]).output)
        let ids = listing.filter { !$0.hasSuffix(" tree") }.map { ObjectID(String($0.prefix(40)))! }
        XCTAssertEqual(Set(ids), Set(mine.keys))
        XCTAssertEqual(Set(store.listed + outcome.listedLoose), Set(ids))
        var compared = 0
        try CatFileBatch(git: git, ids: ids).forEach(isCancelled: { false }, missing: { XCTFail("\($0) missing") }) { id, kind, content in
            let (count, h) = hash(content)
            guard let m = mine[id] else { return XCTFail("\(id) not handed over") }
            XCTAssertTrue(m.0 == kind && m.1 == count && m.2 == h, "\(id): git \(String(describing: kind)) \(count) bytes, the store \(m.0) \(m.1) bytes")
            compared += 1
        }
        XCTAssertEqual(compared, ids.count)
        print("compared \(compared) objects in \(store.packs.count) packs and \(store.loose.count) loose objects")
    }

    func testSHA256RepositoriesAreReadThroughGit() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("mptscan-sha256-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: base) }
        let made = try GitRecipe("scratch").run(["init", "-q", "--object-format=sha256", base.appendingPathComponent("r").path], allowFailure: true)
        guard made.status == 0 else { throw XCTSkip("this git cannot make SHA-256 repositories: \(made.stderr)") }
        let repo = try GitRecipe.existing(base.appendingPathComponent("r"))
        try repo.write("a.env", "T=\(SyntheticTokens.token(seed: 930))\n")
        try repo.commit("a")
        var options = HistoryOptions()
        options.repository = repo.path
        let scanner = HistoryScanner(detector: self.detector, options: options)
        XCTAssertEqual(try scanner.run().findings.count, 1)
        XCTAssertEqual(scanner.objectSource, .catFile(reason: "SHA-256 repository (extensions.objectFormat)"))
    }

    // MARK: - Damage

    func copyOfPackedRepository(_ name: String) throws -> (GitRecipe, URL) {
        let repo = try self.deltaRepository(name, versions: 16)
        try repo.git("repack", "-adf", "--depth=50", "--window=250", "-q")
        let folder = repo.directory.appendingPathComponent(".git/objects/pack")
        let pack = try FileManager.default.contentsOfDirectory(atPath: folder.path).first { $0.hasSuffix(".pack") }!
        return (repo, folder.appendingPathComponent(String(pack.dropLast(5))))
    }

    func testAnIndexThisReaderRefusesFallsBackToGit() throws {
        let (repo, stem) = try self.copyOfPackedRepository("idxv1")
        let before = try self.assertSameHistory(repo.path)
        XCTAssertEqual(before, .packs(packs: 1, loose: 0, leftToGit: 0))
        let idx = stem.appendingPathExtension("idx")
        let good = [UInt8](try Data(contentsOf: idx))
        // git reads a version 1 index; this reader does not, and leaves everything to git
        try FileManager.default.removeItem(at: idx)
        try repo.git("index-pack", "--index-version=1", "-o", idx.path, stem.appendingPathExtension("pack").path)
        XCTAssertNotEqual([UInt8](try Data(contentsOf: idx)).prefix(4), [0xFF, 0x74, 0x4F, 0x63])
        var options = HistoryOptions()
        options.repository = repo.path
        options.objectsThroughGit = true
        let expected = try HistoryScanner(detector: self.detector, options: options).run()
        XCTAssertEqual(expected.findings.count, 2)
        options.objectsThroughGit = false
        let scanner = HistoryScanner(detector: self.detector, options: options)
        let report = try scanner.run()
        guard case .catFile(let reason) = scanner.objectSource else { return XCTFail("\(String(describing: scanner.objectSource))") }
        XCTAssertTrue(reason.contains("not a version 2 pack index"), reason)
        XCTAssertEqual(JSONReporter(showSecrets: true).render(report), JSONReporter(showSecrets: true).render(expected))
        // an index git cannot read either: both ways end with git's error
        var broken = good
        broken[0] = 0
        try self.replace(idx, with: broken)
        var errors: [String] = []
        for throughGit in [true, false] {
            options.objectsThroughGit = throughGit
            XCTAssertThrowsError(try HistoryScanner(detector: self.detector, options: options).run(), "through git: \(throughGit)") { error in
                errors.append("\(error)")
            }
        }
        XCTAssertEqual(errors.count, 2)
        XCTAssertEqual(errors.first, errors.last)
        try self.replace(idx, with: good)
        XCTAssertEqual(try self.assertSameHistory(repo.path), before)
    }

    func testACorruptObjectEndsAsTheSameErrorAsThroughGit() throws {
        let (repo, stem) = try self.copyOfPackedRepository("corrupt")
        // a byte in the middle of the largest blob's zlib stream
        let store = try self.store(repo.path)
        let pack = store.packs[0]
        let rank = (0..<pack.count).filter { pack.kinds[$0] == PackEntryType.blob && pack.header(rank: $0)!.type == PackEntryType.blob }
            .max { pack.header(rank: $0)!.size < pack.header(rank: $1)!.size }!
        let h = pack.header(rank: rank)!
        let at = h.dataStart + pack.data(h, rank: rank).count / 2
        let packURL = stem.appendingPathExtension("pack")
        var bytes = [UInt8](try Data(contentsOf: packURL))
        bytes[at] ^= 0x55
        try self.replace(packURL, with: bytes)
        var options = HistoryOptions()
        options.repository = repo.path
        options.objectsThroughGit = true
        XCTAssertThrowsError(try HistoryScanner(detector: self.detector, options: options).run()) { error in
            XCTAssertTrue("\(error)".contains("incomplete"), "\(error)")
        }
        options.objectsThroughGit = false
        let scanner = HistoryScanner(detector: self.detector, options: options)
        XCTAssertThrowsError(try scanner.run()) { error in
            XCTAssertTrue("\(error)".contains("incomplete"), "\(error)")
        }
        guard case .packs(_, _, let left) = scanner.objectSource else { return XCTFail("\(String(describing: scanner.objectSource))") }
        XCTAssertGreaterThanOrEqual(left, 1, "the damaged blob (and what is built on it) went to git")
    }

    /// A FIFO named like a loose object is read by no one (git would block opening it): the scan ends, as
    /// incomplete, instead of waiting for a writer.
    func testALooseObjectThatIsAFIFOEndsTheScanAsIncomplete() throws {
        let repo = try self.deltaRepository("fifo", versions: 3)
        let loose = try LooseObjects.list(in: repo.path + "/.git/objects")
        let blob = try XCTUnwrap(loose.first { (try? Git(directory: repo.path).run(["cat-file", "-t", "\($0.id)"]).output).map { String(decoding: $0, as: UTF8.self) } == "blob\n" })
        try FileManager.default.removeItem(atPath: blob.path)
        XCTAssertEqual(mkfifo(blob.path, 0o644), 0)
        var options = HistoryOptions()
        options.repository = repo.path
        let started = Date()
        XCTAssertThrowsError(try HistoryScanner(detector: self.detector, options: options).run()) { error in
            XCTAssertTrue("\(error)".contains("1 object listed by git could not be read"), "\(error)")
        }
        XCTAssertLessThan(Date().timeIntervalSince(started), 20)
    }

    /// Seeded random damage to a real pack and index: every mutation is refused, or read with each listed
    /// object handed over or left to git (nothing lost), never a crash. `MPTSCAN_PACK_MUTATIONS=N` runs N rounds
    /// instead of 300 (under `--sanitize=address` for a longer campaign).
    func testMutatedPacksNeverCrashOrLoseObjects() throws {
        let (repo, stem) = try self.copyOfPackedRepository("fuzz")
        let packURL = stem.appendingPathExtension("pack"), idxURL = stem.appendingPathExtension("idx")
        let pack = [UInt8](try Data(contentsOf: packURL)), idx = [UInt8](try Data(contentsOf: idxURL))
        var random = SplitMix(seed: 77)
        var refused = 0, read = 0
        let rounds = ProcessInfo.processInfo.environment["MPTSCAN_PACK_MUTATIONS"].flatMap { Int($0) } ?? 300
        for round in 0..<rounds {
            var p = pack, x = idx
            let damageIndex = round % 3 == 0
            for _ in 0..<(1 + Int(random.next() % 4)) {
                if damageIndex {
                    x[Int(random.next() % UInt64(x.count))] ^= UInt8(1 + random.next() % 255)
                } else {
                    p[12 + Int(random.next() % UInt64(p.count - 32))] ^= UInt8(1 + random.next() % 255)
                }
            }
            if round % 17 == 5 { p = Array(p.prefix(p.count - 1 - Int(random.next() % 200))) }
            try self.replace(packURL, with: p)
            try self.replace(idxURL, with: x)
            guard let store = try? self.store(repo.path) else { refused += 1; continue }
            read += 1
            let (objects, outcome) = self.viaStore(store, threads: 2)
            let accounted = Set(objects.keys).union(outcome.leftToGit)
            XCTAssertTrue(accounted.isSuperset(of: store.listed), "round \(round): listed objects neither handed over nor left to git")
        }
        XCTAssertGreaterThan(refused, 0)
        XCTAssertGreaterThan(read, 0)
    }

    func replace(_ url: URL, with bytes: [UInt8]) throws {
        try? FileManager.default.removeItem(at: url)
        try Data(bytes).write(to: url)
    }

    // MARK: - Hand-made packs

    /// An object directory holding `builder`'s pack.
    func objectDirectory(_ builder: PackBuilder) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mptscan-pack-\(UUID().uuidString)")
        try builder.write(to: dir)
        self.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
        return dir
    }

    func open(_ builder: PackBuilder, limits: ObjectStore.Limits = .init()) throws -> ObjectStore {
        try ObjectStore(objectDirectory: try self.objectDirectory(builder).path, known: [], limits: limits)
    }

    func assertRefused(_ builder: PackBuilder, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try self.open(builder), file: file, line: line) { error in
            XCTAssertTrue("\(error)".contains(message), "\(error)", file: file, line: line)
        }
    }

    let base = Array("the base object: line one\nline two\nline three\n".utf8)

    /// A blob, an OFS_DELTA on it, a REF_DELTA on that, a tree with a tree delta, and a commit.
    func chain(largeOffsets: Bool = false) -> (PackBuilder, [String: [UInt8]]) {
        var b = PackBuilder()
        b.largeOffsets = largeOffsets
        let blob = PackBuilder.id(0x10, 1), ofs = PackBuilder.id(0x20, 2), ref = PackBuilder.id(0x05, 3)
        let second = Array("line two\nthe base object: line one\nADDED\n".utf8)
        let third = Array("ADDED\nline two\n".utf8) + [UInt8](repeating: 0x41, count: 0)
        b.entries.append((blob, .object(type: 3, content: self.base)))
        b.entries.append((ofs, .ofsDelta(base: 0, delta: PackBuilder.delta(baseSize: UInt64(self.base.count), resultSize: UInt64(second.count),
            PackBuilder.copy(offset: 26, size: 9), PackBuilder.copy(offset: 0, size: 26), PackBuilder.insert(Array("ADDED\n".utf8))))))
        b.entries.append((ref, .refDelta(base: ofs, delta: PackBuilder.delta(baseSize: UInt64(second.count), resultSize: UInt64(third.count),
            PackBuilder.copy(offset: 35, size: 6), PackBuilder.copy(offset: 0, size: 9)))))
        b.entries.append((PackBuilder.id(0x30, 4), .object(type: 2, content: [1, 2, 3])))
        b.entries.append((PackBuilder.id(0x31, 5), .ofsDelta(base: 3, delta: PackBuilder.delta(baseSize: 3, resultSize: 1, PackBuilder.copy(offset: 1, size: 1)))))
        let commit = Array("tree 0000000000000000000000000000000000000000\n\nmessage\n".utf8)
        b.entries.append((PackBuilder.id(0xF0, 6), .object(type: 1, content: commit)))
        return (b, [PackBuilder.hex(blob): self.base, PackBuilder.hex(ofs): second, PackBuilder.hex(ref): third, PackBuilder.hex(PackBuilder.id(0xF0, 6)): commit])
    }

    func handedOver(_ store: ObjectStore, threads: Int = 2) -> ([String: [UInt8]], left: [String]) {
        let (objects, outcome) = self.viaStore(store, threads: threads)
        return (Dictionary(uniqueKeysWithValues: objects.map { ($0.key.description, $0.value.content) }), outcome.leftToGit.map(\.description).sorted())
    }

    func testAHandMadeChainIsBuiltAndTreesAreSkipped() throws {
        for large in [false, true] {
            let (builder, expected) = self.chain(largeOffsets: large)
            let store = try self.open(builder)
            let (objects, left) = self.handedOver(store)
            XCTAssertEqual(objects, expected, "large offsets: \(large)")
            XCTAssertEqual(left, [])
            XCTAssertEqual(store.packs[0].kinds.filter { $0 == PackEntryType.tree }.count, 2, "the tree delta is a tree")
        }
    }

    func testAREFDeltaWhoseBaseComesLaterInThePack() throws {
        var b = PackBuilder()
        let target = Array("hello world\n".utf8)
        b.entries.append((PackBuilder.id(1, 1), .refDelta(base: PackBuilder.id(2, 2), delta: PackBuilder.delta(baseSize: 5, resultSize: 12,
            PackBuilder.copy(offset: 0, size: 5), PackBuilder.insert(Array(" world\n".utf8))))))
        b.entries.append((PackBuilder.id(2, 2), .object(type: 3, content: Array("hello".utf8))))
        let (objects, left) = self.handedOver(try self.open(b))
        XCTAssertEqual(objects[PackBuilder.hex(PackBuilder.id(1, 1))], target)
        XCTAssertEqual(objects.count, 2)
        XCTAssertEqual(left, [])
    }

    func testDeltasThatDoNotApplyAreLeftToGit() throws {
        func delta(_ d: [UInt8]) -> PackBuilder {
            var (b, _) = self.chain()
            b.entries[1].entry = .ofsDelta(base: 0, delta: d)
            return b
        }
        let n = UInt64(self.base.count)
        let ofs = PackBuilder.hex(PackBuilder.id(0x20, 2)), ref = PackBuilder.hex(PackBuilder.id(0x05, 3))
        let cases: [(String, [UInt8])] = [
            ("a terabyte result", PackBuilder.delta(baseSize: n, resultSize: 1 << 40, PackBuilder.copy(offset: 0, size: 4))),
            ("a copy past the base", PackBuilder.delta(baseSize: n, resultSize: 10, PackBuilder.copy(offset: Int(n) - 2, size: 10))),
            ("a copy of 0x10000 bytes", PackBuilder.delta(baseSize: n, resultSize: 0x10000, PackBuilder.copy(offset: 0, size: 0x10000))),
            ("the reserved instruction", PackBuilder.delta(baseSize: n, resultSize: 1, [0])),
            ("another base size", PackBuilder.delta(baseSize: n + 1, resultSize: 1, PackBuilder.copy(offset: 0, size: 1))),
            ("a short result", PackBuilder.delta(baseSize: n, resultSize: 5, PackBuilder.copy(offset: 0, size: 4))),
            ("a long result", PackBuilder.delta(baseSize: n, resultSize: 3, PackBuilder.copy(offset: 0, size: 4))),
            ("an insert past the delta", PackBuilder.delta(baseSize: n, resultSize: 9, [9, 1, 2])),
            ("a copy cut short", PackBuilder.delta(baseSize: n, resultSize: 9, [0x91])),
            ("sizes cut short", [0x80]),
            ("a size over 64 bits", [UInt8](repeating: 0xFF, count: 11) + [1, 1, 0x41]),
        ]
        for (what, d) in cases {
            let (objects, left) = self.handedOver(try self.open(delta(d)))
            XCTAssertEqual(left, [ofs, ref].sorted(), what)
            XCTAssertEqual(objects.count, 2, what)
        }
    }

    func testEntriesThatDoNotInflateAreLeftToGit() throws {
        let blob = PackBuilder.hex(PackBuilder.id(0x10, 1))
        let header = PackBuilder.header(type: 3, size: UInt64(self.base.count))
        let stream = PackBuilder.zlib(self.base)
        var corrupt = stream
        corrupt[corrupt.count / 2] ^= 0xFF
        let cases: [(String, [UInt8])] = [
            ("a corrupt stream", header + corrupt),
            ("a declared size too large", PackBuilder.header(type: 3, size: UInt64(self.base.count + 1)) + stream),
            ("a declared size too small", PackBuilder.header(type: 3, size: UInt64(self.base.count - 1)) + stream),
            ("a cut stream", header + stream.prefix(stream.count - 3)),
        ]
        for (what, entry) in cases {
            var (b, _) = self.chain()
            b.entries[0].entry = .raw(entry)
            let (objects, left) = self.handedOver(try self.open(b))
            XCTAssertEqual(left.count, 3, what)
            XCTAssertTrue(left.contains(blob), what)
            XCTAssertEqual(objects.count, 1, "only the commit: \(what)")
        }
        // over the object limit: left to git, the rest built
        let (objects, left) = self.handedOver(try self.open(self.chain().0, limits: .init(objectBytes: 45, heldBytes: 1000)))
        XCTAssertEqual(left.count, 4, "the 46-byte blob, the deltas on it and the 55-byte commit")
        XCTAssertEqual(objects.count, 0)
        // bases held beyond the limit: the deltas on the base are left to git, the base handed over
        let (held, heldLeft) = self.handedOver(try self.open(self.chain().0, limits: .init(objectBytes: 1000, heldBytes: 50)))
        XCTAssertEqual(held.count, 3)
        XCTAssertEqual(heldLeft, [PackBuilder.hex(PackBuilder.id(0x05, 3))])
    }

    func testAREFBaseOutsideThePackIsLeftToGit() throws {
        var (b, _) = self.chain()
        b.entries[2].entry = .refDelta(base: PackBuilder.id(0x77, 77), delta: [3, 1, 0x41])
        let (objects, left) = self.handedOver(try self.open(b))
        XCTAssertEqual(left, [PackBuilder.hex(PackBuilder.id(0x05, 3))])
        XCTAssertEqual(objects.count, 3)
    }

    func testInvalidPacksAndIndexesAreRefused() throws {
        var (b, _) = self.chain()
        b.entries[0].entry = .raw([0x50] + PackBuilder.zlib([1, 2, 3, 4, 5])) // type 5 (reserved)
        self.assertRefused(b, "invalid entry header")
        (b, _) = self.chain()
        b.entries[0].entry = .raw([UInt8](repeating: 0xBF, count: 12) + [1, 2, 3]) // a size over 60 bits
        self.assertRefused(b, "invalid entry header")
        (b, _) = self.chain()
        b.entries[1].entry = .raw(PackBuilder.header(type: 6, size: 3) + PackBuilder.distance(1 << 20) + PackBuilder.zlib([3, 1, 0x41]))
        self.assertRefused(b, "invalid entry header") // a base before the pack's start
        (b, _) = self.chain()
        b.entries[1].entry = .raw(PackBuilder.header(type: 6, size: 3) + PackBuilder.distance(3) + PackBuilder.zlib([3, 1, 0x41]))
        self.assertRefused(b, "no entry at its base offset") // inside the blob's entry
        (b, _) = self.chain()
        b.entries[0].entry = .raw(PackBuilder.header(type: 3, size: 3)) // no stream at all
        self.assertRefused(b, "invalid entry header")
        // two REF_DELTAs on each other
        (b, _) = self.chain()
        b.entries[0].entry = .refDelta(base: PackBuilder.id(0x05, 3), delta: [1, 1, 0x80])
        b.entries[2].entry = .refDelta(base: PackBuilder.id(0x10, 1), delta: [1, 1, 0x80])
        b.entries[1].entry = .object(type: 3, content: [1])
        self.assertRefused(b, "circular")
        // an index offset pointing into an entry, an index not matching its pack
        (b, _) = self.chain()
        b.offsetShift = [0: 1]
        XCTAssertThrowsError(try self.open(b))
        (b, _) = self.chain()
        b.offsetShift = [5: 100_000]
        self.assertRefused(b, "offset outside the pack")

        let dir = try self.objectDirectory(self.chain().0)
        let folder = dir.appendingPathComponent("pack")
        let idx = folder.appendingPathComponent("pack-test.idx"), packURL = folder.appendingPathComponent("pack-test.pack")
        let goodIdx = [UInt8](try Data(contentsOf: idx)), goodPack = [UInt8](try Data(contentsOf: packURL))
        func refused(_ idxBytes: [UInt8], _ packBytes: [UInt8], _ message: String, line: UInt = #line) throws {
            try self.replace(idx, with: idxBytes)
            try self.replace(packURL, with: packBytes)
            XCTAssertThrowsError(try ObjectStore(objectDirectory: dir.path, known: []), line: line) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error)", line: line)
            }
        }
        var x = goodIdx
        x[7] = 1
        try refused(x, goodPack, "version 1 is not supported")
        try refused(Array(goodIdx.dropLast(4)), goodPack, "does not match")
        x = goodIdx
        x[8 + 4 * 0x40] = 0xFF // fan-out no longer sorted
        try refused(x, goodPack, "fan-out")
        x = goodIdx
        x.swapAt(8 + 1024, 8 + 1024 + 20) // first two ids' first bytes: out of order
        try refused(x, goodPack, "not sorted")
        // a sorted fan-out that puts the first id in bucket 0, though its first byte is not 0
        x = goodIdx
        let first = Int(goodIdx[8 + 1024])
        XCTAssertGreaterThan(first, 0)
        for k in 0..<first { x.replaceSubrange((8 + 4 * k)..<(12 + 4 * k), with: [0, 0, 0, 1]) }
        try refused(x, goodPack, "fan-out table does not match the object ids")
        var p = goodPack
        p[0] = UInt8(ascii: "X")
        try refused(goodIdx, p, "no PACK signature")
        p = goodPack
        p[7] = 4
        try refused(goodIdx, p, "pack version 4")
        p = goodPack
        p[11] += 1
        try refused(goodIdx, p, "holds 7 objects")
        p = goodPack
        p[p.count - 1] ^= 1
        try refused(goodIdx, p, "pack checksum")
        try refused(goodIdx, Array(goodPack.prefix(40)), "pack checksum")
        try refused(goodIdx, Array(goodPack.prefix(20)), "too short")
        try refused(goodIdx, [], "too short")
        try self.replace(idx, with: goodIdx)
        try FileManager.default.removeItem(at: packURL)
        XCTAssertThrowsError(try ObjectStore(objectDirectory: dir.path, known: [])) { XCTAssertTrue("\($0)".contains("without its pack"), "\($0)") }
        try self.replace(packURL, with: goodPack)
        try Data().write(to: folder.appendingPathComponent("pack-test.promisor"))
        XCTAssertThrowsError(try ObjectStore(objectDirectory: dir.path, known: [])) { XCTAssertTrue("\($0)".contains("promisor"), "\($0)") }
    }

    func testAChainDeeperThanTheBoundIsRefused() throws {
        var b = PackBuilder()
        b.entries.append((PackBuilder.id(0, 0), .object(type: 3, content: [0x41])))
        for i in 1...(PackFile.maxChainDepth + 1) {
            b.entries.append((PackBuilder.id(UInt8(i % 256), i), .ofsDelta(base: i - 1, delta: [1, 1, 0x90, 1])))
        }
        self.assertRefused(b, "deeper than")
        b.entries.removeLast(2)
        let (objects, left) = self.handedOver(try self.open(b), threads: 1)
        XCTAssertEqual(objects.count, PackFile.maxChainDepth)
        XCTAssertEqual(left, [])
    }
}

/// SplitMix64, for seeded mutations.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
