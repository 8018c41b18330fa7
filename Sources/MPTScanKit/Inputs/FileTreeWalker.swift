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
    /// Path shown in reports: relative to the scan root, `/`-separated (invalid UTF-8 shown as U+FFFD).
    var displayPath: String
    /// True when the file was reached through a symbolic link (so it must be opened following links).
    var viaSymlink: Bool
    /// True for standard input (`-`).
    var isStandardInput = false
    /// True for a named pipe given explicitly on the command line: read, never skipped.
    var isExplicitPipe = false
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

/// An entry skipped on purpose (see `SkipReason`).
public struct SkippedEntry: Codable, Sendable, Equatable {
    public var path: String
    public var reason: SkipReason
}

/// A path that could not be read: scanning it failed, so the scan is incomplete (exit 2) unless unreadable
/// paths are accepted with `--skip-unreadable`.
public struct ScanIssue: Codable, Sendable, Equatable {
    public var path: String
    /// What failed and why, from `strerror(3)`; never file content.
    public var message: String
}

/// Walks directory trees with `opendir`/`readdir`/`fstatat` (not `FileManager`: see
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

    private struct FileIdentity: Hashable { var device: UInt64; var inode: UInt64 }

    init(excludes: [PathGlob], followSymlinks: Bool, onFile: @escaping (FileEntry) -> Void) {
        self.excludes = excludes
        self.followSymlinks = followSymlinks
        self.onFile = onFile
    }

    /// Walks the roots given on the command line. With a single directory root, paths are relative to it;
    /// otherwise each path starts with its root as given. Roots are followed even when they are symlinks.
    mutating func walk(roots: [String]) {
        let singleDirectory = roots.count == 1 && Self.isDirectory(roots[0])
        for root in roots {
            if root == "-" {
                self.emit(FileEntry(sequence: 0, rawPath: [], displayPath: "-", viaSymlink: false, isStandardInput: true))
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
                self.visitedDirectories.insert(FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino)))
                self.walkDirectory(raw: raw, relative: "", prefix: singleDirectory || display == "." ? "" : display + "/")
            case S_IFREG:
                if self.isExcluded(display, isDirectory: false) { continue }
                self.emit(FileEntry(sequence: 0, rawPath: raw, displayPath: display, viaSymlink: true))
            case S_IFIFO:
                self.emit(FileEntry(sequence: 0, rawPath: raw, displayPath: display, viaSymlink: true, isExplicitPipe: true))
            case S_IFSOCK:
                self.skipped.append(SkippedEntry(path: display, reason: .socket))
            default:
                self.skipped.append(SkippedEntry(path: display, reason: .device))
            }
        }
    }

    private mutating func walkDirectory(raw: [UInt8], relative: String, prefix: String) {
        guard let dir = Self.withCPath(raw, { opendir($0) }) else {
            self.issue(prefix + (relative.isEmpty ? "." : relative), "cannot open directory: \(Self.describe(errno))")
            return
        }
        var entries: [(name: [UInt8], type: UInt8)] = []
        while let ent = readdir(dir) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { bytes -> [UInt8] in
                let p = bytes.bindMemory(to: UInt8.self)
                var n = 0
                while n < p.count && p[n] != 0 { n += 1 }
                return Array(p[0..<n])
            }
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            entries.append((name, ent.pointee.d_type))
        }
        closedir(dir)
        entries.sort { $0.name.lexicographicallyPrecedes($1.name) }
        for entry in entries {
            let name = String(decoding: entry.name, as: UTF8.self)
            let rel = relative.isEmpty ? name : relative + "/" + name
            var childRaw = raw
            if childRaw.last != 0x2F { childRaw.append(0x2F) }
            childRaw.append(contentsOf: entry.name)
            var type = entry.type
            if type == UInt8(DT_UNKNOWN) { type = Self.lstatType(childRaw) }
            let display = prefix + rel
            switch type {
            case UInt8(DT_DIR):
                if entry.name == Array(".git".utf8) || self.isExcluded(rel, isDirectory: true) { continue }
                if self.followSymlinks, let id = Self.identity(childRaw, follow: false) {
                    guard self.visitedDirectories.insert(id).inserted else { continue }
                }
                self.walkDirectory(raw: childRaw, relative: rel, prefix: prefix)
            case UInt8(DT_REG):
                if self.isExcluded(rel, isDirectory: false) { continue }
                if self.followSymlinks, let id = Self.identity(childRaw, follow: false) {
                    guard self.visitedFiles.insert(id).inserted else { continue }
                }
                self.emit(FileEntry(sequence: 0, rawPath: childRaw, displayPath: display, viaSymlink: false))
            case UInt8(DT_LNK):
                self.symlink(raw: childRaw, relative: rel, display: display, prefix: prefix)
            case UInt8(DT_FIFO):
                if !self.isExcluded(rel, isDirectory: false) { self.skipped.append(SkippedEntry(path: display, reason: .fifo)) }
            case UInt8(DT_SOCK):
                if !self.isExcluded(rel, isDirectory: false) { self.skipped.append(SkippedEntry(path: display, reason: .socket)) }
            case UInt8(DT_CHR), UInt8(DT_BLK):
                if !self.isExcluded(rel, isDirectory: false) { self.skipped.append(SkippedEntry(path: display, reason: .device)) }
            default:
                // lstat failed: the entry vanished or cannot be examined
                self.issue(display, "cannot read: \(Self.describe(errno))")
            }
        }
    }

    private mutating func symlink(raw: [UInt8], relative: String, display: String, prefix: String) {
        guard self.followSymlinks else {
            if !self.isExcluded(relative, isDirectory: false) { self.skipped.append(SkippedEntry(path: display, reason: .symlink)) }
            return
        }
        var st = stat()
        let ok = Self.withCPath(raw) { stat($0, &st) } == 0
        if !ok {
            let reason: SkipReason = errno == ELOOP ? .symlinkLoop : .brokenSymlink
            if !self.isExcluded(relative, isDirectory: false) { self.skipped.append(SkippedEntry(path: display, reason: reason)) }
            return
        }
        let id = FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        switch st.st_mode & S_IFMT {
        case S_IFDIR:
            if self.isExcluded(relative, isDirectory: true) { return }
            guard self.visitedDirectories.insert(id).inserted else {
                self.skipped.append(SkippedEntry(path: display, reason: .symlinkLoop))
                return
            }
            self.walkDirectory(raw: raw, relative: relative, prefix: prefix)
        case S_IFREG:
            if self.isExcluded(relative, isDirectory: false) { return }
            guard self.visitedFiles.insert(id).inserted else { return }
            self.emit(FileEntry(sequence: 0, rawPath: raw, displayPath: display, viaSymlink: true))
        case S_IFIFO:
            if !self.isExcluded(relative, isDirectory: false) { self.skipped.append(SkippedEntry(path: display, reason: .fifo)) }
        case S_IFSOCK:
            if !self.isExcluded(relative, isDirectory: false) { self.skipped.append(SkippedEntry(path: display, reason: .socket)) }
        default:
            if !self.isExcluded(relative, isDirectory: false) { self.skipped.append(SkippedEntry(path: display, reason: .device)) }
        }
    }

    private mutating func emit(_ entry: FileEntry) {
        var e = entry
        e.sequence = self.sequence
        self.sequence += 1
        self.onFile(e)
    }

    private mutating func issue(_ path: String, _ message: String) {
        self.issues.append((self.sequence, ScanIssue(path: path, message: message)))
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

    static func withCPath<R>(_ raw: [UInt8], _ body: (UnsafePointer<CChar>) -> R) -> R {
        var z = raw
        z.append(0)
        return z.withUnsafeBufferPointer { body(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self)) }
    }

    private static func lstatType(_ raw: [UInt8]) -> UInt8 {
        var st = stat()
        guard withCPath(raw, { lstat($0, &st) }) == 0 else { return UInt8(DT_UNKNOWN) }
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

    private static func identity(_ raw: [UInt8], follow: Bool) -> FileIdentity? {
        var st = stat()
        let r = withCPath(raw) { follow ? stat($0, &st) : lstat($0, &st) }
        return r == 0 ? FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino)) : nil
    }

    /// `strerror(3)` text for an `errno` value.
    static func describe(_ code: Int32) -> String { String(cString: strerror(code)) }
}
