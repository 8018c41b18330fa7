#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why the object store could not be read directly: the history scan then reads objects through git instead
/// (`git cat-file`), so this is never shown as an error of its own. Carries a path and what was wrong, never
/// object content.
struct ObjectStoreError: Error, CustomStringConvertible, Sendable {
    /// What is unsupported or invalid, naming the file.
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { self.message }
}

/// A file mapped read-only into memory (`mmap`), unmapped when released. Pages count in the resident set once
/// touched; `dropResidentPages` gives them back (they are read again from the page cache when touched next).
final class MappedFile: @unchecked Sendable {
    /// The first byte; nil for an empty file.
    let base: UnsafeRawPointer?
    /// Length of the file in bytes, as `fstat` gave it when mapped.
    let count: Int
    /// The file's path, for messages.
    let path: String

    /// Maps the regular file at `path`.
    /// - Throws: `ObjectStoreError` when it cannot be opened, is not a regular file or cannot be mapped.
    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK) // a FIFO in the store must not block: refused below as not a regular file
        guard fd >= 0 else { throw ObjectStoreError("\(path): cannot open (\(String(cString: strerror(errno))))") }
        defer { _ = systemClose(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { throw ObjectStoreError("\(path): not a regular file") }
        self.count = Int(st.st_size)
        if self.count == 0 { self.base = nil; return }
        guard let p = mmap(nil, self.count, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw ObjectStoreError("\(path): cannot map (\(String(cString: strerror(errno))))")
        }
        self.base = UnsafeRawPointer(p)
    }

    deinit {
        if let base { munmap(UnsafeMutableRawPointer(mutating: base), self.count) }
    }

    /// Gives the mapped pages back to the kernel (`madvise(MADV_DONTNEED)`), so they stop counting in this process's
    /// resident set; the mapping stays valid and a later read faults the page in again from the page cache.
    func dropResidentPages() {
        if let base { _ = madvise(UnsafeMutableRawPointer(mutating: base), self.count, MADV_DONTNEED) }
    }

    /// The 4-byte big-endian (network order) number at byte `offset`; the caller has checked the bounds.
    @inline(__always) func be32(_ offset: Int) -> UInt32 {
        UInt32(bigEndian: self.base!.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    /// The 8-byte big-endian number at byte `offset`; the caller has checked the bounds.
    @inline(__always) func be64(_ offset: Int) -> UInt64 {
        UInt64(bigEndian: self.base!.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
}

extension ObjectID {
    /// The SHA-1 id held in the 20 raw bytes at `p` (as in a pack index or a REF_DELTA entry).
    @inline(__always) init(sha1 p: UnsafeRawPointer) {
        let a = UInt64(bigEndian: p.loadUnaligned(as: UInt64.self))
        let b = UInt64(bigEndian: p.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        let c = UInt64(UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 16, as: UInt32.self)))
        self.init(words: (a, b, c, 0), length: 40)
    }

    init(words: (UInt64, UInt64, UInt64, UInt64), length: UInt8) {
        self.words = words
        self.length = length
    }

    /// The first byte of a SHA-1 id (its fan-out bucket in a pack index).
    var firstByte: Int { Int(self.words.0 >> 56) }
}

/// A pack index, version 2 (`objects/pack/pack-*.idx`), read from a memory map: the object ids in the pack,
/// sorted, and each one's byte offset in the `.pack` file. SHA-1 repositories only (20-byte ids).
///
/// Layout, from git's `Documentation/gitformat-pack.txt` ("Version 2 pack-*.idx files"): the magic `\377tOc`,
/// version 2 (4 bytes, network order), a 256-entry fan-out table of 4-byte counts (entry N: objects whose first id
/// byte is ≤ N), N sorted 20-byte ids, N 4-byte CRC32s, N 4-byte offsets (most significant bit set: an index into
/// the next table), 8-byte large offsets, then the 20-byte pack checksum and the index's own checksum.
/// Version 1 indexes (git before 1.5.2, or `pack.indexVersion=1`) are not read: they are refused, and the scan
/// reads objects through git.
final class PackIndex: @unchecked Sendable {
    let file: MappedFile
    /// Objects in the pack.
    let count: Int
    /// Entries in the large-offset table.
    let largeCount: Int
    private let namesStart = 8 + 1024
    private let offsetsStart: Int
    private let largeStart: Int

    /// Opens and checks the index at `path`: magic, version, a non-decreasing fan-out whose last entry is the
    /// object count, a file length that holds every table exactly, ids strictly increasing (so a binary search
    /// is valid and no id is listed twice), and each id in its first byte's fan-out bucket.
    /// - Throws: `ObjectStoreError` naming what is wrong.
    init(path: String) throws {
        let file = try MappedFile(path: path)
        self.file = file
        guard file.count >= 8 + 1024 + 40, let base = file.base else { throw ObjectStoreError("\(path): too short for a pack index") }
        guard file.be32(0) == 0xFF74_4F63 else { throw ObjectStoreError("\(path): not a version 2 pack index (version 1 is not read)") }
        guard file.be32(4) == 2 else { throw ObjectStoreError("\(path): pack index version \(file.be32(4)) is not supported") }
        var previous: UInt32 = 0
        for i in 0..<256 {
            let n = file.be32(8 + 4 * i)
            guard n >= previous else { throw ObjectStoreError("\(path): fan-out table is not sorted") }
            previous = n
        }
        let n = Int(previous)
        self.count = n
        // names, CRCs and 4-byte offsets (28 bytes per object), the trailer, and whole 8-byte large offsets
        let (fixed, overflow) = (8 + 1024 + 40).addingReportingOverflow(n.multipliedReportingOverflow(by: 28).partialValue)
        guard !overflow, n <= Int(UInt32.max), fixed <= file.count, (file.count - fixed) % 8 == 0 else {
            throw ObjectStoreError("\(path): length \(file.count) does not match \(n) objects")
        }
        self.largeCount = (file.count - fixed) / 8
        self.offsetsStart = 8 + 1024 + n * 24
        self.largeStart = self.offsetsStart + n * 4
        // ids strictly increasing
        for i in 1..<max(n, 1) {
            if memcmp(base + self.namesStart + (i - 1) * 20, base + self.namesStart + i * 20, 20) >= 0 {
                throw ObjectStoreError("\(path): object ids are not sorted")
            }
        }
        // each id in the fan-out bucket of its first byte: a lookup (bucket, then binary search) finds every id
        // listed, so none is taken for absent and read twice
        var start = 0
        for bucket in 0..<256 {
            let end = Int(file.be32(8 + 4 * bucket))
            for i in start..<end where base.load(fromByteOffset: self.namesStart + i * 20, as: UInt8.self) != UInt8(bucket) {
                throw ObjectStoreError("\(path): fan-out table does not match the object ids")
            }
            start = end
        }
    }

    /// The id of the object at sorted position `i` (0-based, `i < count`).
    @inline(__always) func id(at i: Int) -> ObjectID {
        ObjectID(sha1: self.file.base! + self.namesStart + i * 20)
    }

    /// The byte offset into the pack of the object at sorted position `i`, or nil when its large-offset index
    /// points outside the large-offset table or the offset does not fit 63 bits.
    @inline(__always) func offset(at i: Int) -> UInt64? {
        let small = self.file.be32(self.offsetsStart + i * 4)
        if small & 0x8000_0000 == 0 { return UInt64(small) }
        let k = Int(small & 0x7FFF_FFFF)
        guard k < self.largeCount else { return nil }
        let large = self.file.be64(self.largeStart + k * 8)
        return large >> 63 == 0 ? large : nil
    }

    /// The pack's checksum as the index records it (the 20 bytes before the index's own checksum).
    var packChecksum: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: self.file.base! + self.file.count - 40, count: 20)
    }

    /// The sorted position of `id`, or nil when the pack does not hold it (fan-out bucket, then binary search).
    func find(_ id: ObjectID) -> Int? {
        guard id.length == 40 else { return nil }
        let bucket = id.firstByte
        var lo = bucket == 0 ? 0 : Int(self.file.be32(8 + 4 * (bucket - 1)))
        var hi = Int(self.file.be32(8 + 4 * bucket))
        while lo < hi {
            let mid = (lo + hi) / 2
            let here = self.id(at: mid)
            if here == id { return mid }
            if here < id { lo = mid + 1 } else { hi = mid }
        }
        return nil
    }
}
