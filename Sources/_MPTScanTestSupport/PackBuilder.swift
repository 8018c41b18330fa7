import CZlib
import Foundation

/// Writes git pack files and version 2 pack indexes byte by byte for tests, valid or deliberately broken:
/// entries of any type with any header, OFS_DELTA and REF_DELTA entries, delta instructions, large offsets.
/// Layout as in git's `Documentation/gitformat-pack.txt`. Checksums are not SHA-1 of anything (the reader never
/// checks them): the pack's trailer is `checksum`, which the index repeats.
public struct PackBuilder {
    /// One pack entry.
    public enum Entry {
        /// A commit (1), tree (2), blob (3) or tag (4), or any other type number, deflated.
        case object(type: UInt8, content: [UInt8])
        /// A delta on the entry at `base` (an index into `entries`, which must come earlier).
        case ofsDelta(base: Int, delta: [UInt8])
        /// A delta on the object with the 20-byte id `base`.
        case refDelta(base: [UInt8], delta: [UInt8])
        /// Bytes written as they are (header included).
        case raw([UInt8])
    }

    /// The entries in pack order, each with its 20-byte id.
    public var entries: [(id: [UInt8], entry: Entry)] = []
    /// The pack trailer, repeated in the index.
    public var checksum = [UInt8](repeating: 0xA5, count: 20)
    /// Write every offset through the index's 8-byte large-offset table.
    public var largeOffsets = false
    /// Added to the offset the index records for entry k (by pack order), to point it elsewhere.
    public var offsetShift: [Int: Int] = [:]

    public init() {}

    /// A 20-byte id whose first byte is `first` and whose other bytes spell `n`.
    public static func id(_ first: UInt8, _ n: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 20)
        bytes[0] = first
        for i in 0..<8 { bytes[19 - i] = UInt8(truncatingIfNeeded: n >> (8 * i)) }
        return bytes
    }

    /// The id's 40 hex digits.
    public static func hex(_ id: [UInt8]) -> String { id.map { String(format: "%02x", $0) }.joined() }

    /// A delta: the size encoding of `baseSize` and `resultSize`, then `instructions`.
    public static func delta(baseSize: UInt64, resultSize: UInt64, _ instructions: [UInt8]...) -> [UInt8] {
        Self.size(baseSize) + Self.size(resultSize) + instructions.flatMap { $0 }
    }

    /// A copy instruction (offset and size bytes present only when non-zero; size 0x10000 is written as none).
    public static func copy(offset: Int, size: Int) -> [UInt8] {
        var op: UInt8 = 0x80
        var bytes: [UInt8] = []
        for i in 0..<4 where (offset >> (8 * i)) & 0xFF != 0 { op |= 1 << i; bytes.append(UInt8((offset >> (8 * i)) & 0xFF)) }
        let s = size == 0x10000 ? 0 : size
        for i in 0..<3 where (s >> (8 * i)) & 0xFF != 0 { op |= 1 << (4 + i); bytes.append(UInt8((s >> (8 * i)) & 0xFF)) }
        return [op] + bytes
    }

    /// An insert instruction for 1 to 127 bytes.
    public static func insert(_ bytes: [UInt8]) -> [UInt8] { [UInt8(bytes.count)] + bytes }

    /// The delta "size encoding" of `value`: 7 bits a byte, least significant first.
    public static func size(_ value: UInt64) -> [UInt8] {
        var v = value, out: [UInt8] = []
        repeat {
            var b = UInt8(v & 0x7F)
            v >>= 7
            if v != 0 { b |= 0x80 }
            out.append(b)
        } while v != 0
        return out
    }

    /// An entry header: 3-bit type, then the size 4 bits first, 7 bits a byte after.
    public static func header(type: UInt8, size: UInt64) -> [UInt8] {
        var v = size >> 4
        var first = (type & 7) << 4 | UInt8(size & 15)
        if v != 0 { first |= 0x80 }
        var out = [first]
        while v != 0 {
            var b = UInt8(v & 0x7F)
            v >>= 7
            if v != 0 { b |= 0x80 }
            out.append(b)
        }
        return out
    }

    /// The OFS_DELTA distance encoding: 7 bits a byte, most significant first, each byte after the first adding
    /// one to the value before it is shifted.
    public static func distance(_ value: UInt64) -> [UInt8] {
        var v = value
        var out = [UInt8(v & 0x7F)]
        v >>= 7
        while v != 0 {
            v -= 1
            out.insert(UInt8(v & 0x7F) | 0x80, at: 0)
            v >>= 7
        }
        return out
    }

    /// `data` as a zlib stream (RFC 1950).
    public static func zlib(_ data: [UInt8]) -> [UInt8] {
        var length = compressBound(UInt(data.count))
        var out = [UInt8](repeating: 0, count: Int(length))
        let status = out.withUnsafeMutableBufferPointer { o in
            data.withUnsafeBufferPointer { i in compress2(o.baseAddress, &length, i.baseAddress, UInt(data.count), 6) }
        }
        precondition(status == Z_OK)
        return Array(out[0..<Int(length)])
    }

    /// The pack and its index.
    public func build() -> (pack: [UInt8], index: [UInt8]) {
        var pack = Array("PACK".utf8) + Self.be32(2) + Self.be32(UInt32(self.entries.count))
        var offsets: [Int] = []
        for (_, entry) in self.entries {
            let at = pack.count
            offsets.append(at)
            switch entry {
            case .object(let type, let content):
                pack += Self.header(type: type, size: UInt64(content.count)) + Self.zlib(content)
            case .ofsDelta(let base, let delta):
                pack += Self.header(type: 6, size: UInt64(delta.count)) + Self.distance(UInt64(at - offsets[base])) + Self.zlib(delta)
            case .refDelta(let base, let delta):
                pack += Self.header(type: 7, size: UInt64(delta.count)) + base + Self.zlib(delta)
            case .raw(let bytes):
                pack += bytes
            }
        }
        pack += self.checksum
        // the index: names sorted, with their offsets
        let order = self.entries.indices.sorted { self.entries[$0].id.lexicographicallyPrecedes(self.entries[$1].id) }
        var index: [UInt8] = [0xFF, 0x74, 0x4F, 0x63] + Self.be32(2)
        for b in 0..<256 { index += Self.be32(UInt32(order.filter { Int(self.entries[$0].id[0]) <= b }.count)) }
        for k in order { index += self.entries[k].id }
        for _ in order { index += Self.be32(0) }
        var large: [UInt8] = []
        for (n, k) in order.enumerated() {
            let offset = offsets[k] + (self.offsetShift[k] ?? 0)
            if self.largeOffsets {
                index += Self.be32(0x8000_0000 | UInt32(n))
                large += Self.be32(UInt32(truncatingIfNeeded: UInt64(offset) >> 32)) + Self.be32(UInt32(truncatingIfNeeded: offset))
            } else {
                index += Self.be32(UInt32(truncatingIfNeeded: offset))
            }
        }
        index += large + self.checksum + [UInt8](repeating: 0, count: 20)
        return (pack, index)
    }

    /// Writes the pack and index as `pack-<name>.pack` / `.idx` under `objects/pack` of `objectDirectory`.
    public func write(to objectDirectory: URL, name: String = "test") throws {
        let folder = objectDirectory.appendingPathComponent("pack")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let (pack, index) = self.build()
        try Data(pack).write(to: folder.appendingPathComponent("pack-\(name).pack"))
        try Data(index).write(to: folder.appendingPathComponent("pack-\(name).idx"))
    }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }
}
