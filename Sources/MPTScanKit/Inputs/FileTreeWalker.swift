#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A regular file to scan, found by `FileTreeWalker`.
struct FileEntry: Sendable {
    /// Position in walk order; findings and messages are sorted by it.
    var sequence: Int
    /// Path bytes for `open(2)`: exactly what the directory held, valid UTF-8 or not.
    var rawPath: [UInt8]
    /// Root part of the shown path (`""` for a single directory root, else the root as given plus `/`).
    var displayPrefix: String
    /// Index in `rawPath` where the path relative to the root starts.
    var relativeStart: Int
    /// True when the file was reached through a symbolic link (so it must be opened following links).
    var viaSymlink: Bool
    /// True for standard input (`-`).
    var isStandardInput = false
    /// True for a named pipe given explicitly on the command line: read, never skipped.
    var isExplicitPipe = false
    /// The open directory that lists the file, when the walk kept one: the file is then opened relative to it
    /// (`openat`) by its name, `rawPath[nameStart...]`, not by its whole path.
    var directory: DirectoryHandle? = nil
    /// Index in `rawPath` where the file's own name starts (after its directory's `/`).
    var nameStart = 0

    /// Path shown in reports: relative to the scan root, `/`-separated (invalid UTF-8 shown as U+FFFD).
    /// Computed on demand: most files have no finding and never need it.
    var displayPath: String {
        if self.isStandardInput { return "-" }
        return self.displayPrefix + String(decoding: self.rawPath[self.relativeStart...], as: UTF8.self)
    }
}

/// Why an entry of the tree was not scanned though no error occurred. Not content, so not incomplete.
public enum SkipReason: String, Codable, Sendable, CaseIterable {
    case symlink = "symlink"
    case symlinkLoop = "symlink-loop"
    case brokenSymlink = "broken-symlink"
    case fifo = "fifo"
    case socket = "socket"
    case device = "device"
}

extension SkipReason {
    /// The reason to skip a non-regular, non-directory entry with `st_mode` file type `mode`.
    init(fileType mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFIFO: self = .fifo
        case S_IFSOCK: self = .socket
        default: self = .device
        }
    }
}

/// An entry skipped on purpose (see `SkipReason`).
public struct SkippedEntry: Codable, Sendable, Equatable {
    public var path: String
    public var reason: SkipReason
}

/// A path that could not be read, or was read only in part: scanning it failed or a limit left some of it out,
/// so the scan is incomplete (exit 2). Unreadable paths can be accepted with `--skip-unreadable`; a limit reached
/// cannot (raise the limit instead).
public struct ScanIssue: Codable, Sendable, Equatable {
    public var path: String
    /// What failed and why (from `strerror(3)`, or which limit and what it left out); never file content.
    public var message: String
    /// The limit that left part of the path unscanned, or nil when it could not be read (or was damaged).
    public var limit: ScanLimit? = nil
    /// True only for a whole path that could not be read, which `--skip-unreadable` may accept. False for bytes
    /// of a read path left unscanned (an archive's damaged, encrypted or unsupported members, a corrupt archive
    /// scanned as plain bytes) and for a stage after the scan that failed (a registry check, a disable, a
    /// baseline that could not be written; `path` then names the stage). Not in reports.
    public var isPath = true

    enum CodingKeys: String, CodingKey { case path, message, limit }

    /// An issue about `path` (as shown in reports) saying `message`; `limit` when a limit caused it; `isPath`
    /// false when `path` names a stage after the scan (`registry`, `disable`) rather than something read.
    public init(path: String, message: String, limit: ScanLimit? = nil, isPath: Bool = true) {
        self.path = path
        self.message = message
        self.limit = limit
        self.isPath = isPath
    }

    /// One issue for all the problems of one archive (the first five, and how many more), carrying the first limit
    /// among them; nil when there are none. The same for an archive file and an archive blob in history.
    static func archive(_ issues: [ContentIssue], path: String) -> ScanIssue? {
        guard !issues.isEmpty else { return nil }
        let shown = issues.prefix(5).map { Self.unnamed($0.message, archive: path) }.joined(separator: "; ")
        let more = issues.count > 5 ? " (and \(issues.count - 5) more)" : ""
        return ScanIssue(path: path, message: "archive partly unscanned: \(shown)\(more)", limit: issues.first { $0.limit != nil }?.limit, isPath: false)
    }

    /// `message` without the archive's own name in front (`a.tgz: cannot inflate: …` for the archive `a.tgz`:
    /// the issue's path already says it); a member's message (`a.tgz!x/y.zip: …`) keeps its name. Compared as
    /// bytes, not characters (names differing only in normalisation are different names).
    static func unnamed(_ message: String, archive path: String) -> String {
        let name = Array(path.utf8) + [0x3A, 0x20] // "<path>: "
        guard message.utf8.starts(with: name) else { return message }
        return String(decoding: message.utf8.dropFirst(name.count), as: UTF8.self)
    }

    /// Whether `--skip-unreadable` (`acceptUnreadable`) turns this issue into a warning: an unreadable path
    /// yes; a limit reached, a registry outage or a failed disable no (the run said less than it was asked).
    public func isAccepted(acceptUnreadable: Bool) -> Bool { acceptUnreadable && self.limit == nil && self.isPath }
}

/// Walks directory trees with `opendir`/`readdir` and `d_type` (`lstat` only when `d_type` is unknown), not `FileManager` (see
/// docs/PERFORMANCE.md), in byte order of names at each level, skipping `.git` directories.
///
/// Symbolic links are listed and not followed unless `followSymlinks`; then files and directories are
/// de-duplicated by (device, inode), so loops end and each file is visited once, at its first path in walk order.
struct FileTreeWalker {
    var excludes: [PathGlob]
    var followSymlinks: Bool
    /// Called for each file to scan, in walk order.
    var onFile: (FileEntry) -> Void
    private(set) var skipped: [SkippedEntry] = []
    private(set) var issues: [(sequence: Int, issue: ScanIssue)] = []
    private var sequence = 0
    private var visitedDirectories = Set<FileIdentity>()
    private var visitedFiles = Set<FileIdentity>()
    /// De-duplicate by (device, inode): when following links, or when several roots may overlap (`d d/a.txt`).
    private var deduplicate = false

    private struct FileIdentity: Hashable { var device: UInt64; var inode: UInt64 }
    static let gitDirectoryName = Array(".git".utf8)

    /// True when the last segment of `path` (no trailing `/`) is `.git`: such a directory, or a link to one that
    /// is followed, is left out of the walk.
    static func namesGitDirectory(_ path: [UInt8]) -> Bool {
        let nameStart = (path.lastIndex(of: 0x2F) ?? -1) + 1
        return path.count - nameStart == 4 && path[nameStart...].elementsEqual(Self.gitDirectoryName)
    }

    /// Told the sequence number of each issue (it takes a place in walk order, as a file does).
    var onIssue: ((Int) -> Void)? = nil

    init(excludes: [PathGlob], followSymlinks: Bool, onFile: @escaping (FileEntry) -> Void) {
        self.excludes = excludes
        self.followSymlinks = followSymlinks
        self.onFile = onFile
    }

    /// Walks the roots given on the command line. With a single directory root, paths are relative to it;
    /// otherwise each path starts with its root as given. Roots are followed even when they are symlinks.
    mutating func walk(roots: [String]) {
        let singleDirectory = roots.count == 1 && Self.isDirectory(roots[0])
        self.deduplicate = self.followSymlinks || roots.count > 1
        for root in roots {
            if root == "-" {
                self.emit(FileEntry(sequence: 0, rawPath: [], displayPrefix: "", relativeStart: 0, viaSymlink: false, isStandardInput: true))
                continue
            }
            let display = Self.normalise(root)
            var st = stat()
            guard stat(root, &st) == 0 else {
                self.issue(display, "cannot read: \(Self.describe(errno))")
                continue
            }
            let raw = Array(root.utf8)
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                let id = FileIdentity(device: UInt64(truncatingIfNeeded: st.st_dev), inode: UInt64(truncatingIfNeeded: st.st_ino))
                guard self.visitedDirectories.insert(id).inserted || !self.deduplicate else { continue }
                var base = raw
                if base.last != 0x2F { base.append(0x2F) }
                self.walkDirectory(raw: base, relativeStart: base.count, prefix: singleDirectory || display == "." ? "" : display + "/")
            case S_IFREG:
                if self.isExcluded(display, isDirectory: false) { continue }
                if self.deduplicate {
                    guard self.visitedFiles.insert(FileIdentity(device: UInt64(truncatingIfNeeded: st.st_dev), inode: UInt64(truncatingIfNeeded: st.st_ino))).inserted else { continue }
                }
                self.emit(FileEntry(sequence: 0, rawPath: raw, displayPrefix: display, relativeStart: raw.count, viaSymlink: true))
            case S_IFIFO:
                self.emit(FileEntry(sequence: 0, rawPath: raw, displayPrefix: display, relativeStart: raw.count, viaSymlink: true, isExplicitPipe: true))
            default:
                self.skipped.append(SkippedEntry(path: display, reason: SkipReason(fileType: st.st_mode)))
            }
        }
    }

    /// Walks the directory `raw` (which ends with `/`); `raw[relativeStart...]` is its path relative to the root.
    private mutating func walkDirectory(raw: [UInt8], relativeStart: Int, prefix: String) {
        // the whole listing first, then the subdirectories (one directory open at a time)
        var listing: [ListedEntry] = []
        guard Self.list(raw: raw, relativeStart: relativeStart, prefix: prefix, excludes: self.excludes, followSymlinks: self.followSymlinks,
                        count: { listing.reserveCapacity($0) }, { listing.append($0) }) else {
            self.issue(Self.openFailure(raw: raw, relativeStart: relativeStart, prefix: prefix, code: errno))
            return
        }
        for entry in listing {
            switch entry {
            case .directory(let child):
                if self.deduplicate, let id = Self.identity(child, upTo: child.count - 1) {
                    guard self.visitedDirectories.insert(id).inserted else { continue }
                }
                self.walkDirectory(raw: child, relativeStart: relativeStart, prefix: prefix)
            case .file(let child):
                if self.deduplicate, let id = Self.identity(child) {
                    guard self.visitedFiles.insert(id).inserted else { continue }
                }
                self.emit(FileEntry(sequence: 0, rawPath: child, displayPrefix: prefix, relativeStart: relativeStart, viaSymlink: false))
            case .symlink(let child):
                self.symlink(raw: child, relativeStart: relativeStart, prefix: prefix)
            case .skipped(let skip):
                self.skipped.append(skip)
            case .issue(let issue):
                self.issue(issue)
            }
        }
    }

    /// An entry of a directory listing, classified (`list`).
    enum ListedEntry {
        /// A directory: its path, ending with `/`.
        case directory([UInt8])
        /// A regular file: its path.
        case file([UInt8])
        /// A symbolic link to follow (`followSymlinks`): its path. Not followed, it is `skipped`.
        case symlink([UInt8])
        /// A FIFO, socket or device, or a link not followed: skipped.
        case skipped(SkippedEntry)
        /// An entry that vanished or cannot be examined (`lstat` failed when `d_type` was unknown).
        case issue(ScanIssue)
    }

    /// Lists the directory `raw` (which ends with `/`; `raw[relativeStart...]` is its path relative to the root,
    /// and `prefix` goes before that in shown paths) in byte order of names, leaving out `.`, `..`, `.git`
    /// directories and what `excludes` match: `count` gets how many entries were read (an upper bound of those
    /// to come), then `emit` gets each kept entry in order. False, with `errno` set and nothing emitted, when the
    /// directory cannot be opened or read. Shared by the sequential walk and `ParallelTreeWalk`, so both see a
    /// directory the same way. With `handle`, the listing is read from that open directory and entries of unknown
    /// type are examined relative to it.
    ///
    /// `scratch` (with `handle`): a buffer for `getdents64` to reuse; one is allocated when it is nil.
    static func list(raw: [UInt8], relativeStart: Int, prefix: String, excludes: [PathGlob], followSymlinks: Bool,
                     handle: DirectoryHandle? = nil, scratch: UnsafeMutableRawBufferPointer? = nil,
                     count: (Int) -> Void = { _ in }, _ emit: (ListedEntry) -> Void) -> Bool {
        func relative(_ bytes: [UInt8]) -> String { String(decoding: bytes[relativeStart...], as: UTF8.self) }
        // each child's whole path, built once; sorted by the name after `raw`
        var entries: [(path: [UInt8], type: UInt8)] = []
        entries.reserveCapacity(8) // most directories hold a few entries: one allocation, not a growing series
        func add(_ name: UnsafeBufferPointer<UInt8>, _ type: UInt8) {
            let n = name.count
            if n == 0 || (name[0] == 0x2E && (n == 1 || (n == 2 && name[1] == 0x2E))) { return } // `.` and `..`
            var path = [UInt8]()
            path.reserveCapacity(raw.count + n + 1) // room for a directory's `/`
            path.append(contentsOf: raw)
            path.append(contentsOf: name)
            entries.append((path, type))
        }
        if let handle {
            guard handle.forEachEntry(scratch: scratch, add) else { return false }
        } else {
            guard let dir = Self.withCPath(raw, { opendir($0) }) else { return false }
            defer { closedir(dir) }
            guard DirectoryHandle.readAll(dir, add) else { return false }
        }
        let nameStart = raw.count
        if entries.count > 1 {
            entries.sort { a, b in
                a.path.withUnsafeBufferPointer { x in
                    b.path.withUnsafeBufferPointer { y in
                        let n = min(x.count, y.count) - nameStart
                        let c = memcmp(x.baseAddress! + nameStart, y.baseAddress! + nameStart, n)
                        return c < 0 || (c == 0 && x.count < y.count)
                    }
                }
            }
        }
        count(entries.count)
        for index in entries.indices {
            // taken out of `entries`, so that appending a directory's `/` changes it in place, within the
            // capacity reserved for it (a copy would share the buffer, and appending would copy it)
            var child: [UInt8] = []
            swap(&child, &entries[index].path)
            var type = entries[index].type
            if type == UInt8(DT_UNKNOWN) { type = Self.lstatType(child, in: handle, nameStart: nameStart) }
            let isDirectory = type == UInt8(DT_DIR)
            if isDirectory && Self.namesGitDirectory(child) { continue }
            if !excludes.isEmpty {
                let rel = relative(child)
                if excludes.contains(where: { $0.matches(rel, isDirectory: isDirectory) }) { continue }
            }
            switch type {
            case UInt8(DT_DIR):
                child.append(0x2F) // within the capacity reserved for it
                emit(.directory(child))
            case UInt8(DT_REG): emit(.file(child))
            case UInt8(DT_LNK):
                emit(followSymlinks ? .symlink(child) : .skipped(SkippedEntry(path: prefix + relative(child), reason: .symlink)))
            case UInt8(DT_FIFO): emit(.skipped(SkippedEntry(path: prefix + relative(child), reason: .fifo)))
            case UInt8(DT_SOCK): emit(.skipped(SkippedEntry(path: prefix + relative(child), reason: .socket)))
            case UInt8(DT_CHR), UInt8(DT_BLK): emit(.skipped(SkippedEntry(path: prefix + relative(child), reason: .device)))
            default:
                // lstat failed: the entry vanished or cannot be examined
                emit(.issue(ScanIssue(path: prefix + relative(child), message: "cannot read: \(Self.describe(errno))")))
            }
        }
        return true
    }

    /// True when `raw` is too long to be opened by its path (PATH_MAX bytes or more, its NUL counted: ENAMETOOLONG).
    /// The walk that opens entries relative to their directory could still open it; it reports it as too long all
    /// the same, so that the report does not depend on which directories it kept open.
    static func isTooLongForPath(_ raw: [UInt8]) -> Bool { raw.count >= Int(PATH_MAX) }

    /// The issue for a directory `raw` that `opendir` refused with `code` (`list` returned false).
    static func openFailure(raw: [UInt8], relativeStart: Int, prefix: String, code: Int32) -> ScanIssue {
        let rel = raw.count > relativeStart ? String(String(decoding: raw[relativeStart...], as: UTF8.self).dropLast()) : "."
        // listed by its parent, gone before it was opened
        let vanished = code == ENOENT && raw.count > relativeStart ? " (it vanished during the scan)" : ""
        return ScanIssue(path: prefix + rel, message: "cannot open directory: \(Self.describe(code))\(vanished)")
    }

    /// A symbolic link inside a tree, to follow (already checked against the excludes as a file).
    private mutating func symlink(raw: [UInt8], relativeStart: Int, prefix: String) {
        let rel = String(decoding: raw[relativeStart...], as: UTF8.self)
        let display = prefix + rel
        var st = stat()
        guard Self.withCPath(raw, { stat($0, &st) }) == 0 else {
            self.skipped.append(SkippedEntry(path: display, reason: errno == ELOOP ? .symlinkLoop : .brokenSymlink))
            return
        }
        let id = FileIdentity(device: UInt64(truncatingIfNeeded: st.st_dev), inode: UInt64(truncatingIfNeeded: st.st_ino))
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            if self.isExcluded(rel, isDirectory: true) { return }
            // a `.git` that links to a directory is left out as a `.git` directory is (`list`)
            if Self.namesGitDirectory(raw) { return }
            guard self.visitedDirectories.insert(id).inserted else {
                self.skipped.append(SkippedEntry(path: display, reason: .symlinkLoop))
                return
            }
            self.walkDirectory(raw: raw + [0x2F], relativeStart: relativeStart, prefix: prefix)
        case S_IFREG:
            guard self.visitedFiles.insert(id).inserted else { return }
            self.emit(FileEntry(sequence: 0, rawPath: raw, displayPrefix: prefix, relativeStart: relativeStart, viaSymlink: true))
        default:
            self.skipped.append(SkippedEntry(path: display, reason: SkipReason(fileType: st.st_mode)))
        }
    }

    private mutating func emit(_ entry: FileEntry) {
        var e = entry
        e.sequence = self.sequence
        self.sequence += 1
        self.onFile(e)
    }

    private mutating func issue(_ path: String, _ message: String) {
        self.issue(ScanIssue(path: path, message: message))
    }

    private mutating func issue(_ issue: ScanIssue) {
        self.issues.append((self.sequence, issue))
        self.onIssue?(self.sequence)
        self.sequence += 1
    }

    private func isExcluded(_ relative: String, isDirectory: Bool) -> Bool {
        self.excludes.contains { $0.matches(relative, isDirectory: isDirectory) }
    }

    static func normalise(_ path: String) -> String {
        var p = path
        while p.hasPrefix("./") && p.count > 2 { p.removeFirst(2) }
        while p.count > 1 && p.hasSuffix("/") { p.removeLast() }
        return p
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR
    }

    /// Calls `body` with `raw[from..<upTo]` (to the end by default) as a NUL-terminated C string (on the stack when
    /// short: no copy on the heap per file opened).
    static func withCPath<R>(_ raw: [UInt8], from start: Int = 0, upTo end: Int? = nil, _ body: (UnsafePointer<CChar>) -> R) -> R {
        let count = (end ?? raw.count) - start
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: count + 1) { z in
            raw.withUnsafeBufferPointer { src in
                if count > 0 { UnsafeMutableRawPointer(z.baseAddress!).copyMemory(from: src.baseAddress! + start, byteCount: count) }
            }
            z[count] = 0
            return body(z.baseAddress!)
        }
    }

    /// The type of the entry `raw` (not following a link), by its name relative to `directory` when given
    /// (`raw[nameStart...]`), else by its whole path; `DT_UNKNOWN` when it cannot be examined.
    private static func lstatType(_ raw: [UInt8], in directory: DirectoryHandle? = nil, nameStart: Int = 0) -> UInt8 {
        var st = stat()
        let status = directory.map { d in withCPath(raw, from: nameStart) { fstatat(d.fd, $0, &st, AT_SYMLINK_NOFOLLOW) } }
            ?? withCPath(raw) { lstat($0, &st) }
        guard status == 0 else { return UInt8(DT_UNKNOWN) }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: return UInt8(DT_DIR)
        case S_IFREG: return UInt8(DT_REG)
        case S_IFLNK: return UInt8(DT_LNK)
        case S_IFIFO: return UInt8(DT_FIFO)
        case S_IFSOCK: return UInt8(DT_SOCK)
        case S_IFCHR: return UInt8(DT_CHR)
        default: return UInt8(DT_BLK)
        }
    }

    private static func identity(_ raw: [UInt8], upTo end: Int? = nil) -> FileIdentity? {
        var st = stat()
        let r = withCPath(raw, upTo: end) { lstat($0, &st) }
        return r == 0 ? FileIdentity(device: UInt64(truncatingIfNeeded: st.st_dev), inode: UInt64(truncatingIfNeeded: st.st_ino)) : nil
    }

    /// `strerror(3)` text for an `errno` value.
    static func describe(_ code: Int32) -> String { String(cString: strerror(code)) }
}

/// What `opendir`/`fdopendir` return: an opaque pointer in glibc, a pointer to `DIR` on Darwin.
#if canImport(Glibc)
typealias DirectoryStream = OpaquePointer
#else
typealias DirectoryStream = UnsafeMutablePointer<DIR>
#endif

/// A directory held open while its entries are opened relative to it (`openat`), so the kernel does not walk the
/// whole path again for each of them. Held by the entries still to be opened, closed when the last of them is
/// done; `ParallelTreeWalk` bounds how many are open at once.
///
/// Listed with `getdents64(2)` straight into a buffer where glibc exports it (2.30 and later): `fdopendir` would
/// cost three more system calls per directory (two `fcntl` and an `fstat`), a tenth of a walk's calls on a tree
/// of small directories. Elsewhere (Darwin, an older libc), and when `useStream` is set (tests), through a
/// `fdopendir` stream made when the handle is opened.
final class DirectoryHandle: @unchecked Sendable {
    /// The directory's descriptor, for `openat`/`fstatat`; valid while the handle lives.
    let fd: Int32
    /// The `readdir` stream over `fd`, when entries are not read with `getdents64`; it owns `fd` then.
    private let stream: DirectoryStream?

    /// Tests: list through `fdopendir`/`readdir` even where `getdents64` is available (set before walking).
    nonisolated(unsafe) static var useStream = false

    /// Opens the directory `raw` (which ends with `/`): by its name `raw[nameStart...]` relative to `parent`,
    /// or by the whole path without one; `follow` only for a root given on the command line, else a symbolic
    /// link swapped in since the listing is refused (ELOOP/ENOTDIR), never followed. The name is passed without
    /// its trailing `/`, with which the kernel would resolve a link despite `O_NOFOLLOW`. Nil, with `errno`
    /// set, when it cannot be opened.
    init?(raw: [UInt8], nameStart: Int, parent: DirectoryHandle?, follow: Bool = false) {
        let flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK | (follow ? 0 : O_NOFOLLOW)
        let end = raw.count > nameStart + 1 && raw.last == 0x2F ? raw.count - 1 : raw.count
        let fd = parent.map { p in FileTreeWalker.withCPath(raw, from: nameStart, upTo: end) { openat(p.fd, $0, flags) } }
            ?? FileTreeWalker.withCPath(raw, upTo: end) { open($0, flags) }
        guard fd >= 0 else { return nil }
        if Self.readEntries == nil || Self.useStream {
            guard let stream: DirectoryStream = fdopendir(fd) else {
                let code = errno
                close(fd)
                errno = code
                return nil
            }
            self.stream = stream
        } else {
            self.stream = nil
        }
        self.fd = fd
    }

    deinit {
        if let stream = self.stream { closedir(stream) } else { close(self.fd) }
    }

    /// Bytes of a `getdents64` buffer (glibc's `readdir` uses 32 KiB too).
    static let scratchSize = 32 << 10

    /// `getdents64` from the C library, when it exports one: `ssize_t getdents64(int, void *, size_t)`.
    private typealias ReadEntries = @convention(c) (Int32, UnsafeMutableRawPointer, Int) -> Int
    private static let readEntries: ReadEntries? = {
        #if os(Linux)
        // RTLD_DEFAULT is the null handle in glibc
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "getdents64") else { return nil }
        return unsafeBitCast(symbol, to: ReadEntries.self)
        #else
        return nil
        #endif
    }()

    /// Calls `body(name, d_type)` for every entry, `.` and `..` included, in the kernel's order; `name` is the
    /// entry's bytes without the NUL, valid during the call. Reads from the descriptor's current offset: call it
    /// once per handle. False, with `errno` set, when reading failed part-way (the entries before were given).
    /// `scratch` is the buffer to read into (at least 4 KiB), else one of 32 KiB is allocated for the call.
    func forEachEntry(scratch: UnsafeMutableRawBufferPointer? = nil, _ body: (UnsafeBufferPointer<UInt8>, UInt8) -> Void) -> Bool {
        if let stream = self.stream { return Self.readAll(stream, body) }
        guard let readEntries = Self.readEntries else { return false }
        let owned = scratch == nil ? UnsafeMutableRawBufferPointer.allocate(byteCount: Self.scratchSize, alignment: 8) : nil
        defer { owned?.deallocate() }
        let buffer = (scratch ?? owned!).baseAddress!
        let capacity = (scratch ?? owned!).count
        while true {
            let n = readEntries(self.fd, buffer, capacity)
            if n == 0 { return true }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            // struct linux_dirent64 (getdents64(2)): u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, char d_name[]
            var offset = 0
            while offset + 19 < n {
                let record = buffer + offset
                let length = Int(record.loadUnaligned(fromByteOffset: 16, as: UInt16.self))
                guard length > 19, offset + length <= n else { errno = EIO; return false }
                let type = record.load(fromByteOffset: 18, as: UInt8.self)
                let name = (record + 19).assumingMemoryBound(to: UInt8.self)
                let nameLength = memchr(name, 0, length - 19).map { UnsafeRawPointer($0) - UnsafeRawPointer(name) } ?? length - 19
                body(UnsafeBufferPointer(start: name, count: nameLength), type)
                offset += length
            }
        }
    }

    /// `readdir` over `stream` to its end, calling `body(name, d_type)` for each entry. False, with `errno` set,
    /// when reading failed part-way (`readdir` returned nil with `errno` set).
    static func readAll(_ stream: DirectoryStream, _ body: (UnsafeBufferPointer<UInt8>, UInt8) -> Void) -> Bool {
        while true {
            errno = 0
            guard let entry = readdir(stream) else { return errno == 0 }
            body(direntName(entry), entry.pointee.d_type)
        }
    }
}
