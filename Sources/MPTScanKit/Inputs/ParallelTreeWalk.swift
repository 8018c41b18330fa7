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
/// threads, not the tree.
///
/// Used for a single directory root without `--follow-symlinks`: de-duplication by (device, inode), whose
/// first-path-wins rule needs the walk's order while walking, stays with the sequential walk.
final class ParallelTreeWalk: @unchecked Sendable {
    /// A listed (or to be listed) directory of the walk.
    private final class Directory {
        /// The directory that lists this one (nil for the root), and this one's slot there.
        let parent: Directory?
        let slotInParent: Int
        /// The path bytes, ending with `/`.
        let raw: [UInt8]
        /// One per listed entry, in walk order; empty until `listed`.
        var slots: [Slot] = []
        var listed = false
        /// The parent's open directory, to open this one relative to; dropped once this one is listed.
        var parentHandle: DirectoryHandle?

        init(parent: Directory?, slotInParent: Int, raw: [UInt8], parentHandle: DirectoryHandle?) {
            self.parent = parent
            self.slotInParent = slotInParent
            self.raw = raw
            self.parentHandle = parentHandle
        }
    }

    /// A result with something to report, boxed so a slot stays one word.
    private final class Box {
        let result: TreeScanner.EntryResult
        init(_ result: TreeScanner.EntryResult) { self.result = result }
    }

    private enum Slot {
        /// A file not scanned yet.
        case pending
        /// Nothing (more) to hand over: a clean file, or one already handed over.
        case done
        /// A file, or a skipped entry or issue of the listing, with something to report.
        case result(Box)
        case directory(Directory)
    }

    private enum Work {
        case list(Directory)
        /// The file in slot `Int` of the directory.
        case scan(Directory, Int, FileEntry)
    }

    /// What a thread finished, applied under the lock when it takes its next work.
    private enum Completion {
        case listed(Directory, [Slot], [Work])
        case scanned(Directory, Int, TreeScanner.EntryResult)
    }

    private let root: Directory
    private let relativeStart: Int
    private let excludes: [PathGlob]
    private let jobs: Int
    private let isCancelled: @Sendable () -> Bool
    private let progress: ScanProgress?
    private let stream: (@Sendable ([Finding]) -> Void)?

    // guarded by `condition`
    private let condition = ThreadLock()
    private var stack: [Work] = []
    /// Threads working on an item taken from the stack.
    private var active = 0
    private var sleeping = 0
    private var stopped = false
    private var cursor: (directory: Directory, slot: Int)?

    /// Results with something to report, in walk order; `sequence` is their place in it.
    private(set) var results: [TreeScanner.EntryResult] = []
    /// Files (and bytes) read to the end, and files decoded from UTF-16.
    private(set) var filesScanned = 0
    private(set) var bytes = 0
    private(set) var decoded = 0

    /// A walk of the directory `root` (as given on the command line); shown paths are relative to it. Nothing is
    /// read until `run`.
    init(root: String, excludes: [PathGlob], jobs: Int, isCancelled: @escaping @Sendable () -> Bool,
         progress: ScanProgress?, stream: (@Sendable ([Finding]) -> Void)?) {
        var raw = Array(root.utf8)
        if raw.last != 0x2F { raw.append(0x2F) }
        self.root = Directory(parent: nil, slotInParent: 0, raw: raw, parentHandle: nil)
        self.relativeStart = raw.count
        self.excludes = excludes
        self.jobs = max(1, jobs)
        self.isCancelled = isCancelled
        self.progress = progress
        self.stream = stream
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
        var finished: Completion? = nil
        while let item = self.next(after: finished, cancelled: self.isCancelled()) {
            switch item {
            case .list(let directory):
                finished = self.listing(of: directory)
            case .scan(let directory, let slot, let entry):
                let result = scan(entry, scanner)
                self.progress?.add(files: result.scanned ? 1 : 0, bytes: result.bytes, findings: result.findings.count)
                finished = .scanned(directory, slot, result)
            }
        }
    }

    /// Lists `directory` and turns its entries into slots and work (outside the lock). The directory is opened
    /// relative to its parent and kept open for its entries while `DirectoryHandle.limit` allows, else listed
    /// by its whole path.
    private func listing(of directory: Directory) -> Completion {
        let prefix = ""
        let nameStart = directory.parent?.raw.count ?? 0
        let handle = DirectoryHandle(raw: directory.raw, nameStart: nameStart, parent: directory.parentHandle)
        let code = errno
        directory.parentHandle = nil
        let listed = handle != nil || code == 0
            ? FileTreeWalker.list(raw: directory.raw, relativeStart: self.relativeStart, prefix: prefix, excludes: self.excludes, handle: handle)
            : nil
        guard let entries = listed else {
            let issue = FileTreeWalker.openFailure(raw: directory.raw, relativeStart: self.relativeStart, prefix: prefix,
                                                   code: handle == nil && code != 0 ? code : errno)
            return .listed(directory, [.result(Box(TreeScanner.EntryResult(sequence: 0, issues: [issue])))], [])
        }
        var slots: [Slot] = [], work: [Work] = []
        slots.reserveCapacity(entries.count)
        for entry in entries {
            let slot = slots.count
            switch entry {
            case .directory(var path):
                path.append(0x2F)
                let child = Directory(parent: directory, slotInParent: slot, raw: path, parentHandle: handle)
                slots.append(.directory(child))
                work.append(.list(child))
            case .file(let path):
                slots.append(.pending)
                work.append(.scan(directory, slot, FileEntry(sequence: 0, rawPath: path, displayPrefix: prefix, relativeStart: self.relativeStart,
                                                             viaSymlink: false, directory: handle, nameStart: directory.raw.count)))
            case .symlink(let path):
                // never followed here (see the type's note)
                let shown = prefix + String(decoding: path[self.relativeStart...], as: UTF8.self)
                slots.append(.result(Box(TreeScanner.EntryResult(sequence: 0, skipped: SkippedEntry(path: shown, reason: .symlink)))))
            case .skipped(let skip):
                slots.append(.result(Box(TreeScanner.EntryResult(sequence: 0, skipped: skip))))
            case .issue(let issue):
                slots.append(.result(Box(TreeScanner.EntryResult(sequence: 0, issues: [issue]))))
            }
        }
        return .listed(directory, slots, work)
    }

    /// Applies what the calling thread finished, then takes the next work: nil when there is none left (or the
    /// scan was cancelled). Sleeps while the stack is empty and another thread may still add to it.
    private func next(after finished: Completion?, cancelled: Bool) -> Work? {
        self.condition.lock()
        defer { self.condition.unlock() }
        if let finished {
            self.active -= 1
            switch finished {
            case .listed(let directory, let slots, let work):
                directory.slots = slots
                directory.listed = true
                if !work.isEmpty {
                    self.stack.append(contentsOf: work.reversed())
                    if self.sleeping > 0 { work.count > 1 ? self.condition.broadcast() : self.condition.signal() }
                }
            case .scanned(let directory, let slot, let result):
                if result.scanned { self.filesScanned += 1 }
                self.bytes += result.bytes
                if result.decoded { self.decoded += 1 }
                let reports = !result.findings.isEmpty || result.skipped != nil || !result.issues.isEmpty || !result.reached.isEmpty
                directory.slots[slot] = reports ? .result(Box(result)) : .done
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
                return item
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

    /// Moves the cursor over every done slot from where it stands, handing results over in walk order, and stops
    /// at the first pending file or unlisted directory; `flushing` (after a cancelled scan) passes those too,
    /// so the files finished after a gap are reported as well. Called with the lock held.
    private func advance(flushing: Bool) {
        while let (directory, slot) = self.cursor {
            if !directory.listed && !flushing { return }
            if slot >= directory.slots.count {
                // the directory is done: free it and go on after it in its parent
                directory.slots = []
                guard let parent = directory.parent else {
                    self.cursor = nil
                    return
                }
                parent.slots[directory.slotInParent] = .done
                self.cursor = (parent, directory.slotInParent + 1)
                continue
            }
            switch directory.slots[slot] {
            case .pending:
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
