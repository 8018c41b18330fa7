import CZlib
import Foundation

/// Builds zip, tar and gzip archives in memory for tests (APPNOTE.TXT local headers and central directory,
/// ustar headers, RFC 1952 gzip), with zlib's deflate. Enough to make real, nested, corrupt and hostile archives.
public enum ArchiveBuilder {
    /// A zip of `members` (name, bytes); deflated unless `stored`. `flags` sets the general-purpose bits of
    /// every member (bit 0: encrypted). More than 65,535 members get a ZIP64 end of central directory
    /// (APPNOTE.TXT 4.3.14, 4.3.15), as `zip` writes it.
    public static func zip(_ members: [(String, [UInt8])], stored: Bool = false, flags: UInt16 = 0) -> [UInt8] {
        var out: [UInt8] = [], central: [UInt8] = []
        func u16(_ v: Int, _ a: inout [UInt8]) { a += [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
        func u32(_ v: Int, _ a: inout [UInt8]) { u16(v & 0xFFFF, &a); u16((v >> 16) & 0xFFFF, &a) }
        for (name, data) in members {
            let body = stored ? data : Self.deflate(data, windowBits: -15)
            let crc = data.withUnsafeBufferPointer { Int(crc32(0, $0.baseAddress, UInt32($0.count))) }
            let offset = out.count
            let nameBytes = Array(name.utf8)
            u32(0x04034B50, &out); u16(20, &out); u16(Int(flags), &out); u16(stored ? 0 : 8, &out); u16(0, &out); u16(0, &out)
            u32(crc, &out); u32(body.count, &out); u32(data.count, &out); u16(nameBytes.count, &out); u16(0, &out)
            out += nameBytes + body
            u32(0x02014B50, &central); u16(20, &central); u16(20, &central); u16(Int(flags), &central); u16(stored ? 0 : 8, &central)
            u16(0, &central); u16(0, &central); u32(crc, &central); u32(body.count, &central); u32(data.count, &central)
            u16(nameBytes.count, &central); u16(0, &central); u16(0, &central); u16(0, &central); u16(0, &central)
            u32(0, &central); u32(offset, &central)
            central += nameBytes
        }
        let cdOffset = out.count
        out += central
        if members.count > 0xFFFF {
            func u64(_ v: Int, _ a: inout [UInt8]) { u32(v & 0xFFFF_FFFF, &a); u32(v >> 32, &a) }
            let record = out.count
            u32(0x06064B50, &out); u64(44, &out); u16(45, &out); u16(45, &out); u32(0, &out); u32(0, &out)
            u64(members.count, &out); u64(members.count, &out); u64(central.count, &out); u64(cdOffset, &out)
            u32(0x07064B50, &out); u32(0, &out); u64(record, &out); u32(1, &out)
        }
        let count = min(members.count, 0xFFFF)
        u32(0x06054B50, &out); u16(0, &out); u16(0, &out); u16(count, &out); u16(count, &out)
        u32(central.count, &out); u32(cdOffset, &out); u16(0, &out)
        return out
    }

    /// A ustar archive of regular files.
    public static func tar(_ members: [(String, [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        for (name, data) in members {
            var header = [UInt8](repeating: 0, count: 512)
            func put(_ s: String, _ at: Int) { for (i, b) in s.utf8.enumerated() { header[at + i] = b } }
            put(String(name.prefix(100)), 0)
            put("0000644", 100); put("0000000", 108); put("0000000", 116)
            put(String(format: "%011o", data.count), 124)
            put("00000000000", 136)
            header[156] = UInt8(ascii: "0")
            put("ustar", 257); put("00", 263)
            for i in 148..<156 { header[i] = 32 }
            let sum = header.reduce(0) { $0 + Int($1) }
            put(String(format: "%06o", sum), 148)
            header[154] = 0
            header[155] = 32
            out += header + data + [UInt8](repeating: 0, count: (512 - data.count % 512) % 512)
        }
        return out + [UInt8](repeating: 0, count: 1024)
    }

    /// An Electron asar of `members` (paths with `/` become nested directories), as `@electron/asar` writes it.
    public static func asar(_ members: [(String, [UInt8])]) -> [UInt8] {
        var tree: [String: Any] = ["files": [String: Any]()]
        var data: [UInt8] = []
        func insert(_ parts: ArraySlice<Substring>, _ entry: [String: Any], into node: inout [String: Any]) {
            var files = node["files"] as? [String: Any] ?? [:]
            let key = String(parts.first!)
            if parts.count == 1 {
                files[key] = entry
            } else {
                var child = files[key] as? [String: Any] ?? ["files": [String: Any]()]
                insert(parts.dropFirst(), entry, into: &child)
                files[key] = child
            }
            node["files"] = files
        }
        for (path, bytes) in members {
            insert(path.split(separator: "/")[...], ["size": bytes.count, "offset": String(data.count)], into: &tree)
            data += bytes
        }
        let json = Array(try! JSONSerialization.data(withJSONObject: tree, options: [.sortedKeys]))
        let padded = (json.count + 3) / 4 * 4
        func u32(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8((v >> 24) & 0xFF)] }
        let headerPickle = u32(padded + 4) + u32(json.count) + json + [UInt8](repeating: 0, count: padded - json.count)
        return u32(4) + u32(headerPickle.count) + headerPickle + data
    }

    /// `data` gzip-compressed.
    public static func gzip(_ data: [UInt8]) -> [UInt8] { Self.deflate(data, windowBits: 31) }

    /// Raw DEFLATE (`windowBits` -15), zlib (15) or gzip (31) of `data`.
    public static func deflate(_ data: [UInt8], windowBits: Int32) -> [UInt8] {
        var stream = z_stream()
        guard deflateInit2_(&stream, 9, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return [] }
        defer { deflateEnd(&stream) }
        var input = data
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(data.count))) + 64)
        let produced: Int = input.withUnsafeMutableBufferPointer { inBuf in
            out.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = inBuf.baseAddress
                stream.avail_in = UInt32(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = UInt32(outBuf.count)
                _ = CZlib.deflate(&stream, Z_FINISH)
                return outBuf.count - Int(stream.avail_out)
            }
        }
        return Array(out[0..<produced])
    }
}
