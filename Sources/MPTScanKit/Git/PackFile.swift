import CZlib
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Entry types of a pack, from git's `Documentation/gitformat-pack.txt` ("Object types"): 1 commit, 2 tree,
/// 3 blob, 4 tag, 6 OFS_DELTA, 7 REF_DELTA; 0 is invalid and 5 reserved.
enum PackEntryType {
    static let commit: UInt8 = 1, tree: UInt8 = 2, blob: UInt8 = 3, tag: UInt8 = 4, ofsDelta: UInt8 = 6, refDelta: UInt8 = 7
    /// The object kind of a non-delta type (1 to 4).
    static func kind(_ type: UInt8) -> ObjectKind? {
        switch type {
        case commit: return .commit
        case tree: return .tree
        case blob: return .blob
        case tag: return .tag
        default: return nil
        }
    }
}

/// The header of one pack entry: its type, the size varint (the object's size, or for a delta the size of the
/// delta data), where the zlib stream starts, and for a delta where its base is.
struct PackEntryHeader {
    /// 1 to 4, or 6 (OFS_DELTA) or 7 (REF_DELTA).
    var type: UInt8
    /// Bytes the zlib stream inflates to (the object, or the delta instructions).
    var size: UInt64
    /// 0-based byte offset of the zlib stream in the pack.
    var dataStart: Int
    /// OFS_DELTA: the 0-based byte offset of the base entry.
    var baseOffset: UInt64 = 0
    /// REF_DELTA: the base's id.
    var baseID: ObjectID? = nil
}

/// A pack (`objects/pack/pack-*.pack`, version 2 or 3) and its `.idx`, both memory-mapped, with the table this
/// reader needs: every entry by offset, its object kind (for a delta, the kind at the root of its chain, found by
/// following base offsets through headers only, nothing inflated) and its base entry.
///
/// Format facts are from git's `Documentation/gitformat-pack.txt`: a 12-byte header (`PACK`, version, object
/// count, network order), entries, then the 20-byte pack checksum, which the `.idx` repeats. An entry is a
/// type-and-size varint (3-bit type, 4 low size bits, then 7 bits per byte while the high bit is set), then for
/// OFS_DELTA the base's distance back from this entry (the "offset encoding": 7 bits per byte, adding
/// 2^7 + 2^14 + … for each byte after the first), for REF_DELTA the base's 20-byte id, then a zlib stream.
/// An entry ends where the next one (by offset) starts; the last ends at the trailer.
///
/// Everything is bounds-checked: a header, base offset or base id that does not land on an entry of this pack
/// makes `init` throw (then the scan reads objects through git). A REF_DELTA whose base is not in the same pack
/// (git reads a base from the same pack only, `packfile.c` `get_delta_base`) and everything built on it get kind
/// `unknownKind`: they are handed to git one by one.
final class PackFile: @unchecked Sendable {
    /// Deepest delta chain followed (git's `pack.depth` is at most 4095); a deeper one, or a cycle of REF_DELTA
    /// bases, makes `init` throw.
    static let maxChainDepth = 4096
    /// `kinds` value of an entry whose chain ends at a base outside this pack.
    static let unknownKind: UInt8 = 0xFF

    let path: String
    let file: MappedFile
    let index: PackIndex
    /// Entries in the pack.
    let count: Int
    /// Entry start offsets (bytes, 0-based) in increasing order, one per rank, then the trailer's start.
    private(set) var offsets: [UInt64] = []
    /// The index position (sorted-id order) of the entry at each rank.
    private(set) var positions: [UInt32] = []
    /// The object kind of each rank (`PackEntryType` 1 to 4 of its chain's root), or `unknownKind`.
    private(set) var kinds: [UInt8] = []
    /// The rank of each delta entry's base; -1 for a non-delta entry, -2 for a base outside the pack.
    private(set) var bases: [Int32] = []

    /// Opens `packPath` with its index `indexPath` and builds the entry table.
    /// - Throws: `ObjectStoreError` when either file is not a valid version 2 pack index / version 2 or 3 pack of
    ///   SHA-1 objects, they do not belong together (object count, pack checksum), or an entry's header or base is
    ///   out of bounds, invalid, circular or deeper than `maxChainDepth`.
    init(packPath: String, indexPath: String) throws {
        self.path = packPath
        self.index = try PackIndex(path: indexPath)
        self.file = try MappedFile(path: packPath)
        self.count = self.index.count
        let file = self.file
        guard file.count >= 12 + 20, let base = file.base else { throw ObjectStoreError("\(packPath): too short for a pack") }
        guard memcmp(base, "PACK", 4) == 0 else { throw ObjectStoreError("\(packPath): no PACK signature") }
        guard file.be32(4) == 2 || file.be32(4) == 3 else { throw ObjectStoreError("\(packPath): pack version \(file.be32(4)) is not supported") }
        guard Int(file.be32(8)) == self.count else {
            throw ObjectStoreError("\(packPath): holds \(file.be32(8)) objects, its index \(self.count)")
        }
        guard memcmp(base + file.count - 20, self.index.packChecksum.baseAddress!, 20) == 0 else {
            throw ObjectStoreError("\(packPath): does not match its index (pack checksum)")
        }
        try self.buildTable()
    }

    /// Sorts the entries by offset and resolves every entry's kind and base.
    private func buildTable() throws {
        let n = self.count
        let end = UInt64(self.file.count - 20)
        // entries by offset: (offset << 32 | position) sorts as a single word when offsets fit 32 bits
        var offsets = [UInt64](repeating: 0, count: n + 1)
        var positions = [UInt32](repeating: 0, count: n)
        var keys = [UInt64]()
        keys.reserveCapacity(n)
        var pairs: [(UInt64, UInt32)] = []
        for i in 0..<n {
            guard let o = self.index.offset(at: i), o >= 12, o < end else {
                throw ObjectStoreError("\(self.path): object \(i) of the index has an offset outside the pack")
            }
            if end <= UInt64(UInt32.max) { keys.append(o << 32 | UInt64(i)) } else { pairs.append((o, UInt32(i))) }
        }
        if pairs.isEmpty {
            keys.sort()
            for (k, key) in keys.enumerated() { offsets[k] = key >> 32; positions[k] = UInt32(truncatingIfNeeded: key) }
        } else {
            pairs.sort { $0.0 < $1.0 }
            for (k, pair) in pairs.enumerated() { offsets[k] = pair.0; positions[k] = pair.1 }
        }
        keys = []
        pairs = []
        offsets[n] = end
        for k in 0..<n where offsets[k] >= offsets[k + 1] {
            throw ObjectStoreError("\(self.path): two index entries share offset \(offsets[k])")
        }
        var rankOfPosition = [UInt32](repeating: 0, count: n)
        for k in 0..<n { rankOfPosition[Int(positions[k])] = UInt32(k) }

        // kinds and bases: OFS_DELTA bases lie before their delta (resolved in this one pass unless the base is
        // a REF_DELTA not yet resolved); REF_DELTA bases anywhere in the pack, resolved after
        var kinds = [UInt8](repeating: 0, count: n)
        var bases = [Int32](repeating: -1, count: n)
        var depths = [UInt16](repeating: 0, count: n)
        var dropAt = UInt64(ObjectStore.residentPackBytes)
        for k in 0..<n {
            if offsets[k] > dropAt { // the pages read so far are not needed again here
                self.file.dropResidentPages()
                dropAt = offsets[k] + UInt64(ObjectStore.residentPackBytes)
            }
            guard let h = self.header(rank: k, offsets: offsets) else {
                throw ObjectStoreError("\(self.path): invalid entry header at offset \(offsets[k])")
            }
            switch h.type {
            case 1...4:
                kinds[k] = h.type
            case PackEntryType.ofsDelta:
                guard let b = Self.rank(of: h.baseOffset, in: offsets, below: k) else {
                    throw ObjectStoreError("\(self.path): delta at offset \(offsets[k]) has no entry at its base offset \(h.baseOffset)")
                }
                bases[k] = Int32(b)
                if kinds[b] != 0 {
                    guard Int(depths[b]) < Self.maxChainDepth else { throw ObjectStoreError("\(self.path): delta chain deeper than \(Self.maxChainDepth)") }
                    kinds[k] = kinds[b]
                    depths[k] = depths[b] + 1
                }
            default: // REF_DELTA (header() accepts no other type)
                if let position = self.index.find(h.baseID!) { bases[k] = Int32(rankOfPosition[position]) } else { bases[k] = -2 }
            }
        }
        var path: [Int] = []
        for k in 0..<n where kinds[k] == 0 {
            // follow bases to a resolved entry (or one outside the pack), then give the kind back down the chain
            path.removeAll(keepingCapacity: true)
            var cur = k
            while kinds[cur] == 0 && bases[cur] >= 0 {
                path.append(cur)
                guard path.count <= Self.maxChainDepth else {
                    throw ObjectStoreError("\(self.path): delta chain deeper than \(Self.maxChainDepth) or circular")
                }
                cur = Int(bases[cur])
            }
            let kind: UInt8, depth: Int
            if kinds[cur] == 0 { kinds[cur] = Self.unknownKind; kind = Self.unknownKind; depth = 0 } // base outside the pack
            else { kind = kinds[cur]; depth = Int(depths[cur]) }
            guard depth + path.count <= Self.maxChainDepth else { throw ObjectStoreError("\(self.path): delta chain deeper than \(Self.maxChainDepth)") }
            for (i, e) in path.reversed().enumerated() { kinds[e] = kind; depths[e] = UInt16(depth + i + 1) }
        }
        self.offsets = offsets
        self.positions = positions
        self.kinds = kinds
        self.bases = bases
        // the header pass touched every page of the pack: give them back (see `ObjectStore.residentPackBytes`)
        self.file.dropResidentPages()
    }

    /// The rank whose offset is exactly `offset`, searching ranks below `limit`; nil when none is.
    private static func rank(of offset: UInt64, in offsets: [UInt64], below limit: Int) -> Int? {
        var lo = 0, hi = limit
        while lo < hi {
            let mid = (lo + hi) / 2
            if offsets[mid] == offset { return mid }
            if offsets[mid] < offset { lo = mid + 1 } else { hi = mid }
        }
        return nil
    }

    /// The id of the entry at `rank`.
    @inline(__always) func id(rank: Int) -> ObjectID { self.index.id(at: Int(self.positions[rank])) }

    /// The header of the entry at `rank`, or nil when it is invalid or does not fit in the entry.
    func header(rank: Int) -> PackEntryHeader? { self.header(rank: rank, offsets: self.offsets) }

    /// The bytes of the entry at `rank` from its zlib stream's start to the entry's end.
    func data(_ h: PackEntryHeader, rank: Int) -> UnsafeRawBufferPointer {
        let end = Int(self.offsets[rank + 1])
        return UnsafeRawBufferPointer(start: self.file.base! + h.dataStart, count: end - h.dataStart)
    }

    private func header(rank k: Int, offsets: [UInt64]) -> PackEntryHeader? {
        let p = self.file.base!
        let start = Int(offsets[k]), end = Int(offsets[k + 1])
        var i = start
        guard i < end else { return nil }
        var c = p.load(fromByteOffset: i, as: UInt8.self)
        i += 1
        let type = (c >> 4) & 7
        var size = UInt64(c & 15)
        var shift: UInt64 = 4
        while c & 0x80 != 0 {
            guard i < end, shift <= 53 else { return nil } // sizes up to 2^60 bytes
            c = p.load(fromByteOffset: i, as: UInt8.self)
            i += 1
            size |= UInt64(c & 0x7F) << shift
            shift += 7
        }
        var h = PackEntryHeader(type: type, size: size, dataStart: 0)
        switch type {
        case 1...4:
            break
        case PackEntryType.ofsDelta:
            guard i < end else { return nil }
            c = p.load(fromByteOffset: i, as: UInt8.self)
            i += 1
            var distance = UInt64(c & 0x7F)
            while c & 0x80 != 0 {
                guard i < end, distance < 1 << 55 else { return nil }
                c = p.load(fromByteOffset: i, as: UInt8.self)
                i += 1
                distance = ((distance + 1) << 7) | UInt64(c & 0x7F)
            }
            guard distance > 0, distance <= UInt64(start) else { return nil }
            h.baseOffset = UInt64(start) - distance
        case PackEntryType.refDelta:
            guard end - i >= 20 else { return nil }
            h.baseID = ObjectID(sha1: p + i)
            i += 20
        default:
            return nil
        }
        guard i < end else { return nil } // a zlib stream is at least 2 bytes; an empty one is invalid
        h.dataStart = i
        return h
    }
}

/// zlib's `inflate` over whole streams into the caller's memory, one `z_stream` reused (`inflateReset`) for
/// every object of a thread. Not thread-safe: one per thread.
final class ZlibInflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private var ready = false

    init() {
        self.stream = .allocate(capacity: 1)
        self.stream.initialize(to: z_stream())
        self.ready = inflateInit_(self.stream, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK
    }

    deinit {
        if self.ready { inflateEnd(self.stream) }
        self.stream.deinitialize(count: 1)
        self.stream.deallocate()
    }

    /// Inflates the zlib stream (RFC 1950) at the start of `input` into `out`, which must have room for
    /// `size + 1` bytes (the extra byte detects a stream longer than declared).
    /// - Returns: true when the stream ends (checksum verified) after exactly `size` bytes; false when it is
    ///   corrupt, longer or shorter than `size`, or runs past `input`.
    func inflate(_ input: UnsafeRawBufferPointer, into out: UnsafeMutableRawPointer, size: Int) -> Bool {
        guard self.ready, let base = input.baseAddress, input.count > 0, size < Int(UInt32.max) else { return false }
        guard inflateReset(self.stream) == Z_OK else { return false }
        self.stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self))
        self.stream.pointee.avail_in = UInt32(min(input.count, Int(UInt32.max)))
        self.stream.pointee.next_out = out.assumingMemoryBound(to: UInt8.self)
        self.stream.pointee.avail_out = UInt32(size + 1)
        // Z_FINISH: the output buffer holds the whole object, so zlib need not keep its window up to date
        let status = CZlib.inflate(self.stream, Z_FINISH)
        return status == Z_STREAM_END && Int(self.stream.pointee.total_out) == size
    }

    /// Inflates the first bytes of the zlib stream in `input` into `out` (at most `out.count`), for a loose
    /// object's header; returns how many bytes came out, or nil when the stream is corrupt.
    func inflatePrefix(_ input: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Int? {
        guard self.ready, let base = input.baseAddress, input.count > 0, out.count > 0 else { return nil }
        guard inflateReset(self.stream) == Z_OK else { return nil }
        self.stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: UInt8.self))
        self.stream.pointee.avail_in = UInt32(min(input.count, Int(UInt32.max)))
        self.stream.pointee.next_out = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
        self.stream.pointee.avail_out = UInt32(min(out.count, Int(UInt32.max)))
        let status = CZlib.inflate(self.stream, Z_SYNC_FLUSH)
        guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else { return nil }
        return Int(self.stream.pointee.total_out)
    }
}

/// Git's delta format, from `Documentation/gitformat-pack.txt` ("Deltified representation"): the base's size and
/// the result's size (size encoding: 7 bits per byte, least significant first), then instructions: a byte with
/// the high bit set copies from the base (its low 7 bits say which of 4 offset and 3 size bytes follow, little
/// endian; size 0 means 0x10000), a byte 1 to 127 inserts that many following bytes, 0 is reserved (invalid).
enum Delta {
    /// The base size and result size at the start of `delta`, and where the instructions start.
    static func sizes(_ delta: UnsafeRawBufferPointer) -> (base: UInt64, result: UInt64, start: Int)? {
        var i = 0
        func varint() -> UInt64? {
            var value: UInt64 = 0, shift: UInt64 = 0
            while i < delta.count {
                let c = delta[i]
                i += 1
                guard shift <= 56 else { return nil }
                value |= UInt64(c & 0x7F) << shift
                if c & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }
        guard let base = varint(), let result = varint() else { return nil }
        return (base, result, i)
    }

    /// Applies the instructions of `delta` from byte `start` to `base`, writing exactly `count` bytes to `out`.
    /// - Returns: false when an instruction is reserved, reads past the delta or the base, writes past `count`
    ///   bytes, or the result is shorter than `count`.
    static func apply(_ delta: UnsafeRawBufferPointer, from start: Int, base: UnsafeRawBufferPointer,
                      into out: UnsafeMutableRawPointer, count: Int) -> Bool {
        guard let d = delta.baseAddress else { return count == 0 }
        let n = delta.count
        let baseCount = base.count
        var i = start, o = 0
        while i < n {
            let op = d.load(fromByteOffset: i, as: UInt8.self)
            i += 1
            if op & 0x80 != 0 {
                var offset = 0, size = 0
                var bit = 0
                // offset bytes (bits 0-3), then size bytes (bits 4-6), each present when its bit is set
                while bit < 7 {
                    if op & (1 << bit) != 0 {
                        guard i < n else { return false }
                        let byte = Int(d.load(fromByteOffset: i, as: UInt8.self))
                        i += 1
                        if bit < 4 { offset |= byte << (8 * bit) } else { size |= byte << (8 * (bit - 4)) }
                    }
                    bit += 1
                }
                if size == 0 { size = 0x10000 }
                guard offset <= baseCount, size <= baseCount - offset, size <= count - o else { return false }
                (out + o).copyMemory(from: base.baseAddress! + offset, byteCount: size)
                o += size
            } else if op != 0 {
                let size = Int(op)
                guard size <= n - i, size <= count - o else { return false }
                (out + o).copyMemory(from: d + i, byteCount: size)
                i += size
                o += size
            } else {
                return false
            }
        }
        return o == count
    }
}
