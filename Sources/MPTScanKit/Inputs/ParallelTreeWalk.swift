import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Walks one directory tree on `jobs` threads that list directories and scan files alike, as ripgrep's parallel
/// walker does: no thread only walks, so the walk never holds the others back (one walking thread took 44 % of
/// the CPU of a 52,000-directory tree and left the scanning threads waiting for files).
///
/// Results are handed over in the order of the sequential walk (`FileTreeWalker`: depth first, names in byte
/// order at each level), whatever the number of threads. The walk is held as a tree of listed directories, each
/// with one slot per entry it lists (pending, done, or a subdirectory); a cursor moves through the tree depth
/// first and hands over each done slot once every slot before it is done, freeing what it passes. Threads take
/// work from one last-in-first-out stack onto which a listing pushes its entries in reverse, so the work goes
/// roughly in walk order and the cursor keeps up: memory holds the part of the tree between the cursor and the
/// threads, not the tree. Not bounded, though: while one file is slow, the cursor waits at it and everything
/// listed after it stays held until it is done (the sequential walk's queue stops at 4,096 files).
///
/// Used for a single directory root without `--follow-symlinks`: de-duplication by (device, inode), whose
/// first-path-wins rule needs the walk's order while walking, stays with the sequential walk.
final class ParallelTreeWalk: @unchecked Sendable {
    /// A listed (or to be listed) directory of the walk.
    private final class Directory {
        /// The directory that lists this one (nil for the root).
        let parent: Directory?
        /// This directory's slot in its parent's `slots`.
        let slotInParent: Int
        /// The path bytes, ending with `/`.
        let raw: [UInt8]
        /// 0 for the root.
        let depth: Int
        // The variables marked `@exclusivity(unchecked)` are read and written only with the walk's lock held,
        // except `slots`, which the one thread that lists the directory stores before it publishes the listing
        // (`listed`, under the lock). That lock, not a dynamic exclusivity check per access, keeps accesses apart
        // (the checks cost 3 % of a walk's instructions).

        /// One per listed entry, in walk order; empty until `listed`.
        @exclusivity(unchecked) var slots: [Slot] = []
        @exclusivity(unchecked) var listed = false
        /// The parent's open directory, to open this one relative to; dropped once this one is listed (by the
        /// one thread that lists it, outside the lock).
        var parentHandle: DirectoryHandle?
        /// This directory, open, while files of it are still to be taken; nil when it was listed by path.
        @exclusivity(unchecked) var handle: DirectoryHandle?
        /// Files not taken yet: at 0 the handle is let go (the files being read hold it until they are done).
        @exclusivity(unchecked) var filesLeft = 0

        init(parent: Directory?, slotInParent: Int, raw: [UInt8], parentHandle: DirectoryHandle?) {
            self.parent = parent
            self.slotInParent = slotInParent
            self.raw = raw
            self.depth = parent.map { $0.depth + 1 } ?? 0
            self.parentHandle = parentHandle
        }
    }

    /// A result with something to report, boxed so a slot stays one word.
    private final class Box {
        let result: TreeScanner.EntryResult
        init(_ result: TreeScanner.EntryResult) { self.result = result }
    }

    private enum Slot {
        /// A file not taken yet: its path.
        case pending([UInt8])
        /// A file being read.
        case scanning
        /// Nothing (more) to hand over: a clean file, or one already handed over.
        case done
        /// A file, or a skipped entry or issue of the listing, with something to report.
        case result(Box)
        case directory(Directory)
    }

    private enum Work {
        case list(Directory)
        /// The files among these slots of the directory (a run between two subdirectories), taken one at a time.
        case files(Directory, Range<Int>)
    }

    /// What a thread finished, applied under the lock when it takes its next work.
    private enum Completion {
        /// A listing (its slots already stored in the directory, not yet visible: `listed` is false): the open
        /// directory and how many files it holds.
        case listed(Directory, DirectoryHandle?, Int)
        /// A file read: its slot, its result when it has something to report, and what it adds to the counts.
        case scanned(Directory, Int, Box?, Counts)
    }

    /// What one file adds to the scan's counts.
    private struct Counts {
        var scanned: Bool
        var bytes: Int
        var decoded: Bool
    }

    /// Directories deeper than this are listed, and their files opened, by their whole path: the open ones are
    /// those with files not yet taken, about one per level of the walk's current path (times the threads), so
    /// the depth bounds the descriptors used. Half the soft descriptor limit left after start-up and the
    /// threads' own, over the threads, at most 64; 0 (all by path) when the limit is very low.
    private let handleDepth: Int

    private let root: Directory
    private let relativeStart: Int
    private let excludes: [PathGlob]
    private let jobs: Int
    private let isCancelled: @Sendable () -> Bool
    private let progress: ScanProgress?
    private let stream: (@Sendable ([Finding]) -> Void)?

    // guarded by `condition` (so no dynamic exclusivity checks: see `Directory`)
    private let condition = ThreadLock()
    @exclusivity(unchecked) private var stack: [Work] = []
    /// Threads working on an item taken from the stack.
    @exclusivity(unchecked) private var active = 0
    @exclusivity(unchecked) private var sleeping = 0
    @exclusivity(unchecked) private var stopped = false
    @exclusivity(unchecked) private var cursor: (directory: Directory, slot: Int)?

    /// Walks made so far in this process (tests check that a scan took this walk).
    static let runs = Locked(0)

    /// Results with something to report, in walk order; `sequence` is their place in it.
    @exclusivity(unchecked) private(set) var results: [TreeScanner.EntryResult] = []
    /// Files read to the end.
    @exclusivity(unchecked) private(set) var filesScanned = 0
    /// Bytes read (before UTF-16 decoding), plus archive members' inflated bytes.
    @exclusivity(unchecked) private(set) var bytes = 0
    /// Files decoded from UTF-16.
    @exclusivity(unchecked) private(set) var decoded = 0

    /// A walk of the directory `root` (as given on the command line); shown paths are relative to it. Nothing is
    /// read until `run`.
    /// `handleDepth` replaces the depth computed from the descriptor limit (tests: 0 lists everything by path).
    init(root: String, excludes: [PathGlob], jobs: Int, isCancelled: @escaping @Sendable () -> Bool,
         progress: ScanProgress?, stream: (@Sendable ([Finding]) -> Void)?, handleDepth: Int? = nil) {
        var raw = Array(root.utf8)
        if raw.last != 0x2F { raw.append(0x2F) }
        self.root = Directory(parent: nil, slotInParent: 0, raw: raw, parentHandle: nil)
        self.relativeStart = raw.count
        self.excludes = excludes
        self.jobs = max(1, jobs)
        self.isCancelled = isCancelled
        self.progress = progress
        self.stream = stream
        var limit = rlimit()
        #if canImport(Glibc)
        let resource = Int32(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        let descriptors = getrlimit(resource, &limit) == 0 ? Int(min(limit.rlim_cur, 1 << 20)) : 64
        // about 16 are open before the scan (standard streams, Dispatch's event and signal descriptors), and each
        // thread holds a file and a directory being listed; each kept directory is about one per level of a
        // thread's path, so half of what is left, over the threads
        self.handleDepth = handleDepth ?? max(0, min(64, (descriptors - 16 - 2 * self.jobs) / 2 / self.jobs))
        Self.runs.withLock { $0 += 1 }
    }

    /// Walks and scans on `jobs` threads (the calling thread is one of them) and returns when all are done or,
    /// after `isCancelled` turned true, when the files being read are; `scan` reads one file with the calling
    /// thread's `ContentScanner` (made once per thread by `makeScanner`). Results of the files finished by then
    /// are all in `results`.
    func run(makeScanner: @escaping @Sendable () -> ContentScanner,
             scan: @escaping @Sendable (FileEntry, ContentScanner) -> TreeScanner.EntryResult) {
        self.stack = [.list(self.root)]
        self.cursor = (self.root, 0)
        let group = DispatchGroup()
        for _ in 1..<self.jobs {
            group.enter()
            let thread = Thread {
                self.work(scanner: makeScanner(), scan: scan)
                group.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        self.work(scanner: makeScanner(), scan: scan)
        group.wait()
        self.condition.lock()
        if self.stopped { self.advance(flushing: true) }
        self.stack.removeAll()
        self.condition.unlock()
    }

    private func work(scanner: ContentScanner, scan: (FileEntry, ContentScanner) -> TreeScanner.EntryResult) {
        // this thread's buffer for directory listings
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: DirectoryHandle.scratchSize, alignment: 8)
        defer { scratch.deallocate() }
        var finished: Completion? = nil
        // progress is told in batches: one lock per 32 files, not per file
        var unreported = (files: 0, bytes: 0, findings: 0, count: 0)
        while let (item, file) = self.next(after: finished, cancelled: self.isCancelled()) {
            if let (slot, entry) = file, case .files(let directory, _) = item {
                let result = scan(entry, scanner)
                unreported.files += result.scanned ? 1 : 0
                unreported.bytes += result.bytes
                unreported.findings += result.findings.count
                unreported.count += 1
                if unreported.count == 32 || !result.findings.isEmpty {
                    self.progress?.add(files: unreported.files, bytes: unreported.bytes, findings: unreported.findings)
                    unreported = (0, 0, 0, 0)
                }
                // boxed here, outside the lock; a clean file's result is dropped here too
                finished = .scanned(directory, slot, result.hasReport ? Box(result) : nil,
                                    Counts(scanned: result.scanned, bytes: result.bytes, decoded: result.decoded))
            } else if case .list(let directory) = item {
                finished = self.listing(of: directory, scratch: scratch)
            }
        }
        self.progress?.add(files: unreported.files, bytes: unreported.bytes, findings: unreported.findings)
    }

    /// Lists `directory` and stores its entries as its slots (outside the lock; the completion publishes them).
    /// The directory is opened relative to its parent and kept open for its files down to `handleDepth`, else
    /// listed by its whole path.
    private func listing(of directory: Directory, scratch: UnsafeMutableRawBufferPointer) -> Completion {
        let prefix = ""
        let isRoot = directory.parent == nil
        var handle: DirectoryHandle? = nil
        var code: Int32 = 0
        if FileTreeWalker.isTooLongForPath(directory.raw) {
            code = ENAMETOOLONG
        } else if directory.depth < self.handleDepth {
            handle = DirectoryHandle(raw: directory.raw, nameStart: directory.parent?.raw.count ?? 0, parent: directory.parentHandle, follow: isRoot)
            if handle == nil { code = errno }
        }
        directory.parentHandle = nil
        // deeper: opened by path for the listing only (still not following a link swapped in for it)
        let listingHandle = code != 0 ? nil : handle ?? DirectoryHandle(raw: directory.raw, nameStart: 0, parent: nil, follow: isRoot)
        if code == 0 && listingHandle == nil { code = errno }
        var slots: [Slot] = []
        var files = 0
        // each entry straight into its slot (no listing array in between)
        let listed = listingHandle.map { listingHandle in
            FileTreeWalker.list(raw: directory.raw, relativeStart: self.relativeStart, prefix: prefix, excludes: self.excludes,
                                followSymlinks: false, handle: listingHandle, scratch: scratch, count: { slots.reserveCapacity($0) }) { entry in
                let slot = slots.count
                switch entry {
                case .directory(let path):
                    let child = Directory(parent: directory, slotInParent: slot, raw: path,
                                          parentHandle: directory.depth + 1 < self.handleDepth ? handle : nil)
                    slots.append(.directory(child))
                case .file(let path):
                    slots.append(.pending(path))
                    files += 1
                case .symlink:
                    preconditionFailure("links are listed as skipped when not followed")
                case .skipped(let skip):
                    slots.append(.result(Box(TreeScanner.EntryResult(sequence: 0, skipped: skip))))
                case .issue(let issue):
                    slots.append(.result(Box(TreeScanner.EntryResult(sequence: 0, issues: [issue]))))
                }
            }
        } ?? false
        guard listed else {
            let issue = FileTreeWalker.openFailure(raw: directory.raw, relativeStart: self.relativeStart, prefix: prefix, code: code != 0 ? code : errno)
            directory.slots = [.result(Box(TreeScanner.EntryResult(sequence: 0, issues: [issue])))]
            return .listed(directory, nil, 0)
        }
        // stored here, outside the lock: no other thread reads a directory's slots before `listed` is set under
        // the lock (and moved, not copied, so the first change to a slot under the lock copies nothing)
        directory.slots = slots
        return .listed(directory, files > 0 ? handle : nil, files)
    }

    /// Applies what the calling thread finished, then takes the next work, with the file to read when it is a
    /// run of files: nil when there is none left (or the scan was cancelled). Sleeps while the stack is empty
    /// and another thread may still add to it.
    private func next(after finished: Completion?, cancelled: Bool) -> (Work, (slot: Int, entry: FileEntry)?)? {
        self.condition.lock()
        defer { self.condition.unlock() }
        if let finished {
            self.active -= 1
            switch finished {
            case .listed(let directory, let handle, let files):
                directory.listed = true
                directory.handle = handle
                directory.filesLeft = files
                let pushed = self.pushWork(of: directory)
                if pushed > 0 && self.sleeping > 0 { pushed > 1 ? self.condition.broadcast() : self.condition.signal() }
            case .scanned(let directory, let slot, let box, let counts):
                if counts.scanned { self.filesScanned += 1 }
                self.bytes += counts.bytes
                if counts.decoded { self.decoded += 1 }
                directory.slots[slot] = box.map { .result($0) } ?? .done
            }
            self.advance(flushing: false)
        }
        if cancelled && !self.stopped {
            self.stopped = true
            self.condition.broadcast()
        }
        while !self.stopped {
            if let item = self.stack.popLast() {
                self.active += 1
                guard case .files(let directory, let run) = item else { return (item, nil) }
                // a run starts at a file not taken (it is the only work that takes them); what follows it goes
                // back on the stack from its next file, so no run outlives its files (the cursor frees the slots
                // of a directory once all are done)
                let slot = run.lowerBound
                guard case .pending(let path) = directory.slots[slot] else { preconditionFailure("a run starts at a file not taken") }
                directory.slots[slot] = .scanning
                var following = slot + 1
                while following < run.upperBound {
                    if case .pending = directory.slots[following] { break }
                    following += 1
                }
                if following < run.upperBound {
                    self.stack.append(.files(directory, following..<run.upperBound))
                    // a sleeping thread takes the next file (and wakes the next sleeper in turn): a directory of
                    // files alone is pushed as one run, which must not leave all but two threads asleep
                    if self.sleeping > 0 { self.condition.signal() }
                }
                let entry = FileEntry(sequence: 0, rawPath: path, displayPrefix: "", relativeStart: self.relativeStart, viaSymlink: false,
                                      directory: directory.handle, nameStart: directory.raw.count)
                directory.filesLeft -= 1
                if directory.filesLeft == 0 { directory.handle = nil }
                return (item, (slot, entry))
            }
            if self.active == 0 {
                self.condition.broadcast() // the walk is over: wake the others to leave too
                return nil
            }
            self.sleeping += 1
            self.condition.wait()
            self.sleeping -= 1
        }
        return nil
    }

    /// Pushes the work of a directory just listed, last first, so that its first entry ends on top: each
    /// subdirectory to list, and each run of files between two subdirectories (from its first file to its last;
    /// skipped entries inside a run stay in it). Returns how many items were pushed. Called with the lock held.
    private func pushWork(of directory: Directory) -> Int {
        var pushed = 0
        var runEnd: Int? = nil, runStart = 0
        for slot in stride(from: directory.slots.count - 1, through: 0, by: -1) {
            switch directory.slots[slot] {
            case .pending:
                if runEnd == nil { runEnd = slot + 1 }
                runStart = slot
            case .directory(let child):
                if let end = runEnd {
                    self.stack.append(.files(directory, runStart..<end))
                    pushed += 1
                    runEnd = nil
                }
                self.stack.append(.list(child))
                pushed += 1
            default:
                break
            }
        }
        if let end = runEnd {
            self.stack.append(.files(directory, runStart..<end))
            pushed += 1
        }
        return pushed
    }

    /// Moves the cursor over every done slot from where it stands, handing results over in walk order, and stops
    /// at the first file not done or unlisted directory; `flushing` (after a cancelled scan) passes those too,
    /// so the files finished after a gap are reported as well. Called with the lock held.
    private func advance(flushing: Bool) {
        while let (directory, slot) = self.cursor {
            if !directory.listed && !flushing { return }
            if slot >= directory.slots.count {
                // the directory is done: free it and go on after it in its parent
                directory.slots = []
                directory.handle = nil
                guard let parent = directory.parent else {
                    self.cursor = nil
                    return
                }
                parent.slots[directory.slotInParent] = .done
                self.cursor = (parent, directory.slotInParent + 1)
                continue
            }
            switch directory.slots[slot] {
            case .pending, .scanning:
                if !flushing { return }
                self.cursor = (directory, slot + 1)
            case .done:
                self.cursor = (directory, slot + 1)
            case .result(let box):
                directory.slots[slot] = .done
                var result = box.result
                result.sequence = self.results.count
                self.results.append(result)
                if !result.findings.isEmpty { self.stream?(result.findings) }
                self.cursor = (directory, slot + 1)
            case .directory(let child):
                self.cursor = (child, 0)
            }
        }
    }
}
