import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Every blob, commit and annotated tag of a repository's object store, read from its pack and loose files in
/// this process (no `git cat-file`, no pipe), each produced once with its id, kind and content: what
/// `git cat-file --batch-all-objects` lists, trees left out.
///
/// Packs (`PackFile`) are read as delta trees: each non-delta entry is inflated once, then every delta built on
/// it is applied to its base while the base is held in memory (depth first), so no entry is inflated twice and
/// no base cache is needed: a thread holds only the chain of bases from the root to the delta being built, at
/// most its share of `Limits.heldBytes` (128 MiB in all). Trees are never inflated (a tree's deltas are trees:
/// an entry's kind is its chain root's). Threads take loose objects first (the newest, where fresh leaks
/// usually are, so attribution's `git log` starts early), then delta trees by pack and offset (pack order is
/// recency order, so large trees come early and the threads finish together). Object ids come from the `.idx`
/// files; no content is hashed.
///
/// What cannot be read here is left to git rather than lost: an object over `Limits.objectBytes`, the deltas
/// under a base that would take a thread over its share of `Limits.heldBytes`, an entry that fails to inflate or
/// whose delta does not apply (with everything built on it), a REF_DELTA whose base is outside its pack, a loose
/// object that does not parse. The caller reads those ids through `git cat-file --batch`, which also gives git's
/// own error for an object that is truly corrupt. Whatever this type refuses outright (`init` throws) — SHA-256,
/// a promisor pack, an index or pack that fails its checks, alternates given by environment or quoted — makes
/// the caller read everything through git.
///
/// Packs are memory-mapped: like git, this assumes pack files are not truncated while they are read (git
/// replaces packs, it never rewrites one in place).
final class ObjectStore: @unchecked Sendable {
    /// How much memory the reader may use for objects.
    struct Limits: Sendable {
        /// Largest object built in memory, in bytes (an inflated entry or a delta's result; also the largest
        /// delta instruction stream). A larger object is left to git, which streams it.
        var objectBytes = 64 << 20
        /// Largest sum of delta bases all threads together hold (bytes) while they walk delta trees: each thread
        /// gets its share, but at least 32 MiB (or all of it, when that is less); the descendants of a base that
        /// would take a thread over its share are left to git. There is no other cache of bases.
        var heldBytes = 128 << 20

        /// What one of `threads` threads may hold.
        func heldBytes(perThreadOf threads: Int) -> Int { max(self.heldBytes / max(threads, 1), min(self.heldBytes, 32 << 20)) }
    }
    let limits: Limits
    /// Buffers a thread keeps between objects (bytes); larger ones are freed after each delta tree.
    static let keptBufferBytes = 16 << 20
    /// Pack bytes a thread reads between two `MappedFile.dropResidentPages` of every pack: mapped pages count in
    /// the resident set once touched, so without this a 2 GB pack would make a 2 GB process; the pages stay in
    /// the page cache and are mapped again when next touched.
    static let residentPackBytes = 8 << 20

    /// Object directories read: the repository's, then its alternates (`objects/info/alternates`, nested).
    let directories: [String]
    let packs: [PackFile]
    /// Loose objects in no pack, each once.
    let loose: [(id: ObjectID, path: String)]
    private let known: Set<ObjectID>
    /// Per pack and rank: `produce` (a blob, commit or tag to hand over) and `needed` (it, or a delta built on
    /// it, is to be handed over).
    private var flags: [[UInt8]] = []
    private static let produce: UInt8 = 1, needed: UInt8 = 2
    /// Per pack: the `needed` delta entries built on each rank (compressed sparse rows: `children[childStart[r]
    /// ..< childStart[r + 1]]`).
    private var childStart: [[Int32]] = []
    private var children: [[Int32]] = []
    /// Non-delta entries with `needed` set, by pack and offset: (pack, rank).
    private var roots: [(pack: Int32, rank: Int32)] = []
    /// Packed blobs, commits and tags (known ones included), each once.
    private(set) var listed: [ObjectID] = []
    /// Packed objects whose kind is not known here (a delta chain ending outside its pack): for git.
    private(set) var unresolved: [ObjectID] = []

    /// Blob, commit and tag entries to hand over (packed, and loose at most).
    var objectCount: Int { self.listed.count + self.loose.count }

    /// Opens the object store of `repository`.
    /// - Throws: `ObjectStoreError` when it should be read through git instead (see the type's description).
    static func open(repository: GitRepository, known: Set<ObjectID>, limits: Limits = Limits()) throws -> ObjectStore {
        guard repository.idLength == 40 else { throw ObjectStoreError("SHA-256 repository (extensions.objectFormat)") }
        let git = repository.git
        if git.inheritsRepositoryEnvironment, let alternates = ProcessInfo.processInfo.environment["GIT_ALTERNATE_OBJECT_DIRECTORIES"], !alternates.isEmpty {
            throw ObjectStoreError("GIT_ALTERNATE_OBJECT_DIRECTORIES is set")
        }
        let output = try git.run(["rev-parse", "--path-format=absolute", "--git-path", "objects"]).output
        guard let objects = Git.lines(output).first, objects.hasPrefix("/") else { throw ObjectStoreError("no object directory") }
        return try ObjectStore(objectDirectory: objects, known: known, limits: limits)
    }

    /// Reads the packs' tables and lists the loose objects under `objectDirectory` and its alternates.
    /// - Parameter known: blobs not to hand over (they are still listed, and read when a delta needs them).
    /// - Throws: `ObjectStoreError` (see the type's description).
    init(objectDirectory: String, known: Set<ObjectID>, limits: Limits = Limits()) throws {
        self.known = known
        self.limits = limits
        self.directories = try Self.objectDirectories(objectDirectory)
        var packs: [PackFile] = []
        for dir in self.directories { packs += try Self.packs(in: dir + "/pack") }
        self.packs = packs
        var loose: [(ObjectID, String)] = []
        var seen = Set<ObjectID>()
        for dir in self.directories {
            for (id, path) in try LooseObjects.list(in: dir) where seen.insert(id).inserted && !packs.contains(where: { $0.index.find(id) != nil }) {
                loose.append((id, path))
            }
        }
        self.loose = loose
        self.buildTables()
    }

    /// Marks what to hand over, links each needed delta to its base and orders the roots.
    private func buildTables() {
        for (j, pack) in self.packs.enumerated() {
            let n = pack.count
            var flags = [UInt8](repeating: 0, count: n)
            for k in 0..<n {
                let kind = pack.kinds[k]
                if kind == PackEntryType.tree { continue }
                let id = pack.id(rank: k)
                // the same object in an earlier pack: handed over from there
                if j > 0 && self.packs[0..<j].contains(where: { $0.index.find(id) != nil }) { continue }
                if kind == PackFile.unknownKind { self.unresolved.append(id); continue }
                self.listed.append(id)
                if kind == PackEntryType.blob && !self.known.isEmpty && self.known.contains(id) { continue }
                flags[k] = Self.produce
            }
            // `needed` on every entry a produced one is built on
            let bases = pack.bases
            for k in 0..<n where flags[k] & Self.produce != 0 {
                var c = k
                while flags[c] & Self.needed == 0 {
                    flags[c] |= Self.needed
                    let b = Int(bases[c])
                    if b < 0 { break }
                    c = b
                }
            }
            var start = [Int32](repeating: 0, count: n + 1)
            for k in 0..<n where flags[k] & Self.needed != 0 && bases[k] >= 0 { start[Int(bases[k]) + 1] += 1 }
            for k in 0..<n { start[k + 1] += start[k] }
            var fill = start
            var children = [Int32](repeating: 0, count: Int(start[n]))
            for k in 0..<n where flags[k] & Self.needed != 0 && bases[k] >= 0 {
                let b = Int(bases[k])
                children[Int(fill[b])] = Int32(k)
                fill[b] += 1
            }
            for k in 0..<n where flags[k] & Self.needed != 0 && bases[k] == -1 { self.roots.append((Int32(j), Int32(k))) }
            self.flags.append(flags)
            self.childStart.append(start)
            self.children.append(children)
        }
    }

    /// What `forEach` did not hand over.
    struct Outcome {
        /// Objects to read through git: left over (see the type's description) or of a kind not known here.
        var leftToGit: [ObjectID] = []
        /// Those of `leftToGit` that are in neither `listed` nor `listedLoose` (their kind is not known here):
        /// to be listed when git says they are blobs, commits or tags.
        var unlisted: Set<ObjectID> = []
        /// Loose blobs, commits and tags (known ones included), to add to `listed`.
        var listedLoose: [ObjectID] = []
        /// Loose objects that are not regular files (`LooseObjects.Read.notAFile`): not read by anyone.
        var unreadableLoose = 0
    }

    /// Hands every blob, commit and tag over to `body` once (known blobs excepted), on `threads` threads of its
    /// own; `body` gets the thread's number (0-based, below `threads`), so each thread can keep its own state.
    /// Content up to `CatFileBatch.wholeObjectLimit` bytes is `.whole`, larger is `.stream` (as `cat-file`
    /// gives them), valid only during the call. Stops early, without error, when `isCancelled` becomes true.
    func forEach(threads: Int, isCancelled: @escaping @Sendable () -> Bool,
                 _ body: @escaping (Int, ObjectID, ObjectKind, CatFileBatch.Content) -> Void) -> Outcome {
        let units = self.loose.count + self.roots.count
        let next = Locked(0)
        let count = max(1, min(threads, units))
        let held = self.limits.heldBytes(perThreadOf: count)
        let walkers = (0..<count).map { ObjectWalker(store: self, thread: $0, heldLimit: held) }
        let work = UncheckedSendable(body)
        let group = DispatchGroup()
        for walker in walkers {
            group.enter()
            let thread = Thread {
                while !isCancelled() {
                    let u = next.withLock { value -> Int in defer { value += 1 }; return value }
                    guard u < units else { break }
                    if u < self.loose.count {
                        walker.readLoose(u, work.value)
                    } else {
                        let root = self.roots[u - self.loose.count]
                        walker.walk(pack: Int(root.pack), root: Int(root.rank), isCancelled: isCancelled, work.value)
                    }
                }
                group.leave()
            }
            thread.stackSize = 1 << 22
            thread.start()
        }
        group.wait()
        var outcome = Outcome()
        outcome.leftToGit = self.unresolved
        outcome.unlisted = Set(self.unresolved)
        for walker in walkers {
            outcome.leftToGit += walker.leftToGit
            outcome.unlisted.formUnion(walker.unlistedLoose)
            outcome.listedLoose += walker.listedLoose
            outcome.unreadableLoose += walker.unreadableLoose
        }
        return outcome
    }

    fileprivate func isProduced(_ pack: Int, _ rank: Int) -> Bool { self.flags[pack][rank] & Self.produce != 0 }
    fileprivate func children(_ pack: Int, _ rank: Int) -> ArraySlice<Int32> {
        self.children[pack][Int(self.childStart[pack][rank])..<Int(self.childStart[pack][rank + 1])]
    }
    fileprivate func isKnown(_ id: ObjectID) -> Bool { self.known.contains(id) }

    /// The object directory and its alternates, each once (by real path): `info/alternates` lists one
    /// directory a line, absolute or relative to the object directory holding the file, `#` starting a comment
    /// (gitrepository-layout(5), "objects/info/alternates"); alternates nest at most 5 deep, as in git. A listed
    /// directory that does not exist is skipped, as git skips it.
    /// - Throws: `ObjectStoreError` for a quoted line or nesting deeper than git follows.
    static func objectDirectories(_ main: String) throws -> [String] {
        var out: [String] = []
        var seen = Set<String>()
        var queue: [(path: String, depth: Int)] = [(main, 0)]
        while !queue.isEmpty {
            let (dir, depth) = queue.removeFirst()
            guard let real = Self.realPath(dir) else {
                if depth == 0 { throw ObjectStoreError("\(dir): object directory not found") }
                continue
            }
            guard seen.insert(real).inserted else { continue }
            out.append(real)
            guard let data = FileManager.default.contents(atPath: real + "/info/alternates") else { continue }
            let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
            for line in lines where !line.hasPrefix("#") {
                guard !line.hasPrefix("\"") else { throw ObjectStoreError("\(real)/info/alternates: quoted path") }
                guard depth < 5 else { throw ObjectStoreError("\(real)/info/alternates: nested more than 5 deep") }
                queue.append((line.hasPrefix("/") ? String(line) : real + "/" + line, depth + 1))
            }
        }
        return out
    }

    /// The packs in `folder`: every `X.idx` with its `X.pack`, by name. A `.pack` without an index is skipped,
    /// as git skips it.
    /// - Throws: `ObjectStoreError` for an index without its pack, a promisor pack (a partial clone's), or a pack
    ///   that fails its checks.
    static func packs(in folder: String) throws -> [PackFile] {
        guard let dir = opendir(folder) else { return [] }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = String(decoding: direntName(entry), as: UTF8.self)
            names.append(name)
        }
        closedir(dir)
        let present = Set(names)
        var packs: [PackFile] = []
        for name in names.sorted() where name.hasSuffix(".idx") {
            let stem = String(name.dropLast(4))
            if present.contains(stem + ".promisor") { throw ObjectStoreError("\(folder)/\(stem).pack: promisor pack (partial clone)") }
            guard present.contains(stem + ".pack") else { throw ObjectStoreError("\(folder)/\(name): index without its pack") }
            packs.append(try PackFile(packPath: folder + "/" + stem + ".pack", indexPath: folder + "/" + name))
        }
        return packs
    }

    private static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        var st = stat()
        guard stat(resolved, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else { return nil }
        return String(cString: resolved)
    }
}

/// One thread's reader: its zlib stream, its buffers (one per depth of the delta tree being walked), and what
/// it left to git.
private final class ObjectWalker: @unchecked Sendable {
    let store: ObjectStore
    let thread: Int
    let inflater = ZlibInflater()
    /// Content of the entry at each depth of the walk (0: the root).
    var levels: [GrowableBuffer] = []
    let delta = GrowableBuffer()
    let file = GrowableBuffer()
    var leftToGit: [ObjectID] = []
    /// Pack bytes read since the packs' pages were last given back.
    var packBytesRead = 0
    /// Loose objects left to git before their kind was known.
    var unlistedLoose: [ObjectID] = []
    var listedLoose: [ObjectID] = []
    /// Loose objects that are not regular files.
    var unreadableLoose = 0

    /// Bytes of delta bases this thread may hold.
    let heldLimit: Int

    init(store: ObjectStore, thread: Int, heldLimit: Int) {
        self.store = store
        self.thread = thread
        self.heldLimit = heldLimit
    }

    func level(_ depth: Int) -> GrowableBuffer {
        while self.levels.count <= depth { self.levels.append(GrowableBuffer()) }
        return self.levels[depth]
    }

    /// Inflates the non-delta entry at `rank` into `buffer`; its size in bytes, or nil when it is over the limit
    /// or does not inflate to its declared size.
    func inflate(_ pack: PackFile, rank: Int, into buffer: GrowableBuffer) -> Int? {
        guard let h = pack.header(rank: rank), h.type >= 1, h.type <= 4, h.size <= UInt64(self.store.limits.objectBytes) else { return nil }
        let size = Int(h.size)
        let out = buffer.reserve(size + 1)
        let data = pack.data(h, rank: rank)
        self.packBytesRead += data.count
        return self.inflater.inflate(data, into: out, size: size) ? size : nil
    }

    /// Builds the delta entry at `rank` on `base` into `buffer`; the result's size, or nil when the delta is over
    /// the limit, does not inflate, names another base size or does not apply.
    func build(_ pack: PackFile, rank: Int, base: UnsafeRawBufferPointer, into buffer: GrowableBuffer) -> Int? {
        guard let h = pack.header(rank: rank), h.type == PackEntryType.ofsDelta || h.type == PackEntryType.refDelta,
              h.size <= UInt64(self.store.limits.objectBytes) else { return nil }
        let deltaSize = Int(h.size)
        let d = self.delta.reserve(deltaSize + 1)
        let data = pack.data(h, rank: rank)
        self.packBytesRead += data.count
        guard self.inflater.inflate(data, into: d, size: deltaSize) else { return nil }
        let instructions = UnsafeRawBufferPointer(start: d, count: deltaSize)
        guard let sizes = Delta.sizes(instructions), sizes.base == UInt64(base.count),
              sizes.result <= UInt64(self.store.limits.objectBytes) else { return nil }
        let size = Int(sizes.result)
        let out = buffer.reserve(size + 1)
        return Delta.apply(instructions, from: sizes.start, base: base, into: out, count: size) ? size : nil
    }

    func produce(_ id: ObjectID, _ kind: ObjectKind, _ buffer: GrowableBuffer, size: Int,
                 _ body: (Int, ObjectID, ObjectKind, CatFileBatch.Content) -> Void) {
        let bytes = UnsafeBufferPointer(start: buffer.pointer!.assumingMemoryBound(to: UInt8.self), count: size)
        if size <= CatFileBatch.wholeObjectLimit {
            body(self.thread, id, kind, .whole(bytes))
        } else {
            var served = 0
            body(self.thread, id, kind, .stream(size: size) { dest in
                let n = min(dest.count, size - served)
                if n > 0 { UnsafeMutableRawPointer(dest.baseAddress!).copyMemory(from: bytes.baseAddress! + served, byteCount: n) }
                served += n
                return n
            })
        }
    }

    /// Walks the delta tree under the root entry `root` of pack `p` depth first: each entry built once from its
    /// base, handed over when wanted.
    func walk(pack p: Int, root: Int, isCancelled: () -> Bool, _ body: (Int, ObjectID, ObjectKind, CatFileBatch.Content) -> Void) {
        defer {
            self.trimBuffers()
            if self.packBytesRead > ObjectStore.residentPackBytes {
                for pack in self.store.packs { pack.file.dropResidentPages() }
                self.packBytesRead = 0
            }
        }
        let pack = self.store.packs[p]
        guard let rootSize = self.inflate(pack, rank: root, into: self.level(0)) else { return self.leaveToGit(p, root) }
        if self.store.isProduced(p, root), let kind = PackEntryType.kind(pack.kinds[root]) {
            self.produce(pack.id(rank: root), kind, self.levels[0], size: rootSize, body)
        }
        struct Frame { var rank: Int; var children: ArraySlice<Int32>; var size: Int }
        var stack: [Frame] = []
        var held = rootSize
        let first = self.store.children(p, root)
        if !first.isEmpty { stack.append(Frame(rank: root, children: first, size: rootSize)) }
        while let top = stack.last {
            let depth = stack.count - 1
            guard let c32 = top.children.first else {
                held -= top.size
                stack.removeLast()
                continue
            }
            stack[depth].children = top.children.dropFirst()
            let c = Int(c32)
            if isCancelled() { return }
            let base = UnsafeRawBufferPointer(start: self.levels[depth].pointer, count: top.size)
            let buffer = self.level(depth + 1)
            guard let size = self.build(pack, rank: c, base: base, into: buffer) else { self.leaveToGit(p, c); continue }
            if self.store.isProduced(p, c), let kind = PackEntryType.kind(pack.kinds[c]) {
                self.produce(pack.id(rank: c), kind, buffer, size: size, body)
            }
            let grandchildren = self.store.children(p, c)
            guard !grandchildren.isEmpty else { continue }
            if held + size > self.heldLimit {
                for g in grandchildren { self.leaveToGit(p, Int(g)) }
                continue
            }
            held += size
            stack.append(Frame(rank: c, children: grandchildren, size: size))
        }
    }

    /// Leaves the entry at `rank` and every wanted entry built on it to git.
    func leaveToGit(_ p: Int, _ rank: Int) {
        let pack = self.store.packs[p]
        var stack = [Int32(rank)]
        while let r = stack.popLast() {
            if self.store.isProduced(p, Int(r)) { self.leftToGit.append(pack.id(rank: Int(r))) }
            stack += self.store.children(p, Int(r))
        }
    }

    /// Reads loose object `index` of the store.
    func readLoose(_ index: Int, _ body: (Int, ObjectID, ObjectKind, CatFileBatch.Content) -> Void) {
        defer { self.trimBuffers() }
        let (id, path) = self.store.loose[index]
        let store = self.store
        let buffer = self.level(0)
        switch LooseObjects.read(path: path, inflater: self.inflater, file: self.file, content: buffer,
                                 limit: self.store.limits.objectBytes, skip: { $0 == .tree || ($0 == .blob && store.isKnown(id)) }) {
        case .object(let kind, let size):
            self.listedLoose.append(id)
            self.produce(id, kind, buffer, size: size, body)
        case .skipped(let kind):
            if kind != .tree { self.listedLoose.append(id) }
        case .leaveToGit(let kind):
            self.leftToGit.append(id)
            if let kind, kind != .tree { self.listedLoose.append(id) } else if kind == nil { self.unlistedLoose.append(id) }
        case .notAFile:
            self.unreadableLoose += 1
        }
    }

    /// Frees large buffers, and all of them when together they keep more than `keptBufferBytes`.
    func trimBuffers() {
        var kept = self.delta.capacity + self.file.capacity
        for level in self.levels {
            level.trim(keep: 1 << 20)
            kept += level.capacity
        }
        self.delta.trim(keep: 4 << 20)
        self.file.trim(keep: 4 << 20)
        if kept > ObjectStore.keptBufferBytes {
            for level in self.levels { level.trim(keep: 0) }
            self.levels.removeAll()
        }
    }
}

/// A value handed to another thread that the compiler cannot prove safe to share (each thread uses it alone).
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
