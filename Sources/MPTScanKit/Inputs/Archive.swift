import Foundation

/// Archives read in memory, never extracted: the zip family (APPNOTE.TXT 6.3: central directory, ZIP64,
/// stored and deflated members), gzip (RFC 1952), tar (POSIX ustar, GNU long names, pax `path`) and Electron
/// asar (github.com/electron/asar: pickled JSON header, then file data). Members
/// are named `outer.zip!inner.apk!assets/x.js`; an archive inside an archive is opened up to `maxDepth`.
///
/// Limits against hostile input (`ArchiveLimits`): every size and offset is checked against the bytes held;
/// inflated bytes are capped per member and in total, and by ratio; member count and name length are capped;
/// zip entries whose data overlaps another entry's are not inflated again.
/// A limit hit or a corrupt archive is reported as an issue (the scan is then incomplete), never a crash and
/// never more memory than the caps. Member names are only labels: nothing is written, so `../` is harmless.
public struct ArchiveLimits: Sendable, Equatable {
    /// Archives inside archives opened, counting the outermost as 1 (`--max-archive-depth`); 0 opens none.
    public var maxDepth = 3
    /// Members read per archive (`--max-archive-members`).
    public var maxMembers = 100_000
    /// Bytes one member may inflate to; members are held whole while scanned (`--max-archive-member-bytes`).
    public var maxMemberBytes = 128 << 20
    /// Bytes all members of one outermost archive may inflate to (`--max-archive-bytes`).
    public var maxTotalBytes = 2 << 30
    /// Inflated : compressed, per member: a larger ratio is a bomb, not data (`--max-archive-ratio`). A member
    /// may always inflate to 64 KiB, whatever its ratio.
    public var maxRatio = 1_000
    /// Longest member name kept in reports, in bytes (a label only: longer names are cut, nothing is skipped).
    public var maxNameLength = 4096
    /// The defaults above (what `mptscan scan` uses).
    public init() {}
}

enum ArchiveKind: String {
    case zip, gzip, tar, asar

    /// File names that are archives of a kind (the zip family includes Java, Android, iOS, browser and
    /// editor extension, Python wheel, NuGet and Office packages).
    static func byName(_ name: String) -> ArchiveKind? {
        var name = name
        return name.withUTF8 { Self.byName(bytes: $0) }
    }

    /// `byName` on raw path bytes, ASCII case-insensitive, without building a string: it runs once per file walked.
    static func byName<C: BidirectionalCollection>(bytes name: C) -> ArchiveKind? where C.Element == UInt8 {
        // the extension: at most 6 bytes after the last dot, lowercased into one integer
        var key: UInt64 = 0, length = 0
        for c in name.reversed() {
            if c == UInt8(ascii: ".") { break }
            length += 1
            guard length <= 6, c < 0x80 else { return nil }
            key |= UInt64(c >= 65 && c <= 90 ? c | 0x20 : c) << (8 * (length - 1))
        }
        guard length > 0, length < name.count else { return nil }
        switch key {
        case Self.tarKey: return .tar
        case Self.asarKey: return .asar
        case Self.gzKey, Self.tgzKey: return .gzip
        default: return Self.zipExtensionKeys.contains(key) ? .zip : nil
        }
    }

    /// Zip-based formats by extension: Java, Android and iOS packages, browser and editor extensions, wheels,
    /// NuGet packages and Office documents. (An array: fifteen compares cost less than hashing.)
    private static let zipExtensionKeys: [UInt64] = ["zip", "jar", "war", "ear", "apk", "aab", "ipa", "xpi", "crx", "vsix", "whl", "nupkg",
                                                     "docx", "xlsx", "pptx"].map(extensionKey)
    private static let tarKey = extensionKey("tar"), asarKey = extensionKey("asar"), gzKey = extensionKey("gz"), tgzKey = extensionKey("tgz")

    /// An extension's bytes, last byte lowest, as `byName` builds them (lowercase ASCII, at most 6 bytes).
    private static func extensionKey(_ ext: String) -> UInt64 {
        ext.utf8.reduce(0) { $0 << 8 | UInt64($1) }
    }

    /// The kind the first bytes say, for members (whose names may not tell).
    static func byMagic(_ b: UnsafeBufferPointer<UInt8>) -> ArchiveKind? {
        if b.count >= 4 && b[0] == 0x50 && b[1] == 0x4B && b[2] == 3 && b[3] == 4 { return .zip }
        if b.count >= 3 && b[0] == 0x1F && b[1] == 0x8B && b[2] == 8 { return .gzip }
        if b.count >= 263 && b[257] == UInt8(ascii: "u") && b[258] == UInt8(ascii: "s") && b[259] == UInt8(ascii: "t")
            && b[260] == UInt8(ascii: "a") && b[261] == UInt8(ascii: "r") && ArchiveWalker.isTarHeader(b) { return .tar }
        return nil
    }
}

/// Walks one archive (and the archives inside it), handing each member's bytes to `member`.
struct ArchiveWalker {
    let limits: ArchiveLimits
    /// Inflated bytes so far, against `maxTotalBytes`.
    private(set) var inflated = 0
    /// Problems found: corrupt data, limits hit (with the limit), unsupported methods. Each makes the scan
    /// incomplete.
    private(set) var issues: [ContentIssue] = []
    /// Members handed over.
    private(set) var members = 0
    /// Set when the archive's own structure cannot be read (no zip directory, or one whose first entry is
    /// corrupt; a corrupt gzip stream): the caller then scans the bytes as they are.
    private(set) var unreadable = false

    /// Set by a format reader that found no readable structure, for `walk` to act on.
    private var notReadable = false

    /// Members (and nested archives) to read; the rest are skipped without inflating. Nil reads everything.
    var only: Set<String>? = nil

    init(limits: ArchiveLimits) { self.limits = limits }

    /// Whether `path` is wanted: listed in `only`, or an archive holding something listed.
    private func wanted(_ path: String) -> Bool {
        guard let only = self.only else { return true }
        return only.contains(TreeScanner.normalize(path)) || only.contains { $0.hasPrefix(path + "!") }
    }

    /// Walks `bytes` as an archive of `kind` named `name`; `member(path, bytes)` gets every non-archive member,
    /// and an archive nested deeper than `maxDepth` as it is (with an issue).
    mutating func walk(_ bytes: UnsafeBufferPointer<UInt8>, kind: ArchiveKind, name: String, depth: Int = 1,
                       member: (String, UnsafeBufferPointer<UInt8>) -> Void) {
        guard depth <= self.limits.maxDepth else {
            // not opened, but its bytes as they are (a stored member shows through) are scanned like a member's
            self.issue("\(name): archive nested deeper than \(self.limits.maxDepth) level\(self.limits.maxDepth == 1 ? "" : "s") not opened; its bytes scanned as they are", .archiveDepth)
            member(name, bytes)
            return
        }
        switch kind {
        case .zip: self.zip(bytes, name: name, depth: depth, member: member)
        case .gzip: self.gzip(bytes, name: name, depth: depth, member: member)
        case .tar: self.tar(bytes, name: name, depth: depth, member: member)
        case .asar: self.asar(bytes, name: name, depth: depth, member: member)
        }
        if self.notReadable {
            // its structure cannot be read (no zip directory or not even its first entry, a corrupt gzip stream):
            // the outermost archive is left to the caller to scan as plain bytes; a nested one is scanned as plain
            // bytes here
            self.notReadable = false
            if depth == 1 { self.unreadable = true } else { member(name, bytes) }
        }
    }

    /// A member: opened when it is itself an archive (by magic, or by name for gzip/tar), else handed over.
    private mutating func emit(_ path: String, _ bytes: UnsafeBufferPointer<UInt8>, depth: Int,
                               member: (String, UnsafeBufferPointer<UInt8>) -> Void) {
        self.members += 1
        var kind = ArchiveKind.byMagic(bytes)
        if kind == nil, let named = ArchiveKind.byName(path) {
            // by name too: a CRX or self-extractor (bytes before the zip), an asar (no magic)
            switch named {
            case .zip where Self.looksLikeZip(bytes): kind = .zip
            case .asar where bytes.count >= 16: kind = .asar
            default: break
            }
        }
        if let kind {
            self.walk(bytes, kind: kind, name: path, depth: depth + 1, member: member)
        } else {
            member(path, bytes)
        }
    }

    /// The most bytes a member of `compressed` bytes may inflate to, and the limit that sets it.
    private func budget(_ compressed: Int) -> (bytes: Int, limit: ScanLimit) {
        let byRatio = compressed > Int.max / max(1, self.limits.maxRatio) ? Int.max : max(1 << 16, compressed * self.limits.maxRatio)
        var best = (bytes: max(0, self.limits.maxMemberBytes), limit: ScanLimit.archiveMemberBytes)
        let total = max(0, self.limits.maxTotalBytes - self.inflated)
        if total < best.bytes { best = (total, .archiveBytes) }
        if byRatio < best.bytes { best = (byRatio, .archiveRatio) }
        return best
    }

    private mutating func issue(_ message: String, _ limit: ScanLimit? = nil) {
        self.issues.append(ContentIssue(message, limit: limit))
    }

    // MARK: - zip

    private static func u16(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
    private static func u32(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int { Self.u16(b, i) | Self.u16(b, i + 2) << 16 }
    private static func u64(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Int {
        let high = Self.u32(b, i + 4)
        return high >= 1 << 30 ? Int.max : Self.u32(b, i) | high << 32
    }

    private mutating func zip(_ b: UnsafeBufferPointer<UInt8>, name: String, depth: Int, member: (String, UnsafeBufferPointer<UInt8>) -> Void) {
        // End of central directory: the last signature PK\5\6 within 64 KiB + 22 bytes of the end
        var eocd = -1
        var i = b.count - 22
        while i >= max(0, b.count - 65_557) {
            if b[i] == 0x50 && b[i + 1] == 0x4B && b[i + 2] == 5 && b[i + 3] == 6 { eocd = i; break }
            i -= 1
        }
        guard eocd >= 0 else {
            self.issue("\(name): not a readable zip (no end of central directory; truncated?)")
            self.notReadable = true
            return
        }
        var count = Self.u16(b, eocd + 10)
        let cdSize = Self.u32(b, eocd + 12)
        var cdOffset = Self.u32(b, eocd + 16)
        var cdEnd = eocd
        if (count == 0xFFFF || cdOffset == 0xFFFF_FFFF) && eocd >= 20 && Self.u32(b, eocd - 20) == 0x07064B50 {
            let record = Self.u64(b, eocd - 12)
            if record >= 0 && record <= b.count - 56 && Self.u32(b, record) == 0x06064B50 {
                count = Self.u64(b, record + 32)
                cdOffset = Self.u64(b, record + 48)
                cdEnd = record
            }
        }
        // bytes in front of the zip (a CRX header, a self-extractor stub): offsets count from the zip's start
        var shift = 0
        if cdSize <= cdEnd, cdOffset <= cdEnd - cdSize, cdEnd - cdSize - cdOffset > 0, cdEnd == eocd {
            shift = cdEnd - cdSize - cdOffset
        }
        guard cdOffset <= b.count - shift - 1 else {
            self.issue("\(name): central directory outside the file (truncated?)")
            self.notReadable = true
            return
        }
        cdOffset += shift
        // the record's count is 16 bits (65,536 members without a ZIP64 record say 0, 65,537 say 1), and a crafted
        // one may say less than its directory holds: like unzip and Python's zipfile, entries are read on past the
        // count while the directory (up to the record) holds more
        func entry(at p: Int) -> Bool { p >= 0 && p <= cdEnd - 46 && Self.u32(b, p) == 0x02014B50 }
        // a directory of no members: no byte but the record's own belongs to a member, so the bytes are scanned
        // as they are (text named .zip with a stray empty directory record, or a comment, must not pass as clean)
        if count == 0 && !entry(at: cdOffset) {
            if b.count > 22 { member(name, b) }
            return
        }
        // First pass: the central directory's entries, each checked against the bytes held; then entries whose
        // data (local header to the end of the compressed bytes) overlaps another entry's are found in one sort,
        // so an overlapping bomb (many entries over one deflate stream; Fifield, "A better zip bomb", 2019)
        // costs one inflation, not thousands.
        struct Entry {
            var index: Int, path: String, method: Int, compressed: Int, size: Int
            var local: Int, dataStart: Int
            var overlaps = false
        }
        var entries: [Entry] = []
        var p = cdOffset
        for index in 0... {
            guard index < count || entry(at: p) else { break }
            guard index < self.limits.maxMembers else {
                self.issue("\(name): more than \(self.limits.maxMembers) members; the rest not read", .archiveMembers)
                break
            }
            guard p + 46 <= b.count, Self.u32(b, p) == 0x02014B50 else {
                if index == 0 {
                    // not even the first entry: no zip structure to go by, so its bytes are scanned as they are
                    self.issue("\(name): central directory entry 0 is corrupt")
                    self.notReadable = true
                } else {
                    self.issue("\(name): central directory entry \(index) is corrupt; the rest not read")
                }
                break
            }
            let flags = Self.u16(b, p + 8), method = Self.u16(b, p + 10)
            var compressed = Self.u32(b, p + 20), size = Self.u32(b, p + 24)
            let nameLength = Self.u16(b, p + 28), extraLength = Self.u16(b, p + 30), commentLength = Self.u16(b, p + 32)
            var local = Self.u32(b, p + 42)
            guard p + 46 + nameLength + extraLength <= b.count else {
                self.issue("\(name): entry \(index) runs past the end")
                if index == 0 { self.notReadable = true } // as above
                break
            }
            let rawName = String(decoding: b[(p + 46)..<(p + 46 + min(nameLength, self.limits.maxNameLength))], as: UTF8.self)
            // ZIP64 extended information: the fields that were 0xFFFFFFFF, in order
            var e = p + 46 + nameLength
            let extraEnd = e + extraLength
            while e + 4 <= extraEnd {
                let tag = Self.u16(b, e), length = Self.u16(b, e + 2)
                let fieldEnd = min(e + 4 + length, extraEnd)
                if tag == 1 {
                    var f = e + 4
                    if size == 0xFFFF_FFFF && f + 8 <= fieldEnd { size = Self.u64(b, f); f += 8 }
                    if compressed == 0xFFFF_FFFF && f + 8 <= fieldEnd { compressed = Self.u64(b, f); f += 8 }
                    if local == 0xFFFF_FFFF && f + 8 <= fieldEnd { local = Self.u64(b, f) }
                }
                e += 4 + length
            }
            if local <= Int.max - shift { local += shift }
            p = extraEnd + commentLength
            let path = name + "!" + rawName
            if rawName.hasSuffix("/") || !self.wanted(path) { continue } // a directory, or not asked for
            if flags & 1 != 0 { self.issue("\(path): encrypted member not scanned"); continue }
            guard local >= 0, b.count >= 30, local <= b.count - 30, Self.u32(b, local) == 0x04034B50 else {
                self.issue("\(path): local header missing or outside the file"); continue
            }
            let dataStart = local + 30 + Self.u16(b, local + 26) + Self.u16(b, local + 28)
            guard compressed >= 0, dataStart <= b.count, compressed <= b.count - dataStart else {
                self.issue("\(path): member data runs past the end of the archive (truncated?)"); continue
            }
            entries.append(Entry(index: index, path: path, method: method, compressed: compressed, size: size, local: local, dataStart: dataStart))
        }
        // overlap: entries sharing one local header hold the same bytes, so only the first of them is read and the
        // others are named in one issue. An entry whose header starts inside another's data is still read: its own
        // compressed bytes may hold what the other's do not (a stored entry spanning a deflated one), and the
        // inflated total and ratio caps bound what overlapping bombs cost.
        var order = Array(entries.indices)
        order.sort { (entries[$0].local, entries[$0].index) < (entries[$1].local, entries[$1].index) }
        var previousLocal = -1, overlapping = 0
        for k in order {
            if entries[k].local == previousLocal {
                entries[k].overlaps = true
                overlapping += 1
            }
            previousLocal = entries[k].local
        }
        var overlapNames: [String] = []
        for entry in entries {
            let path = entry.path
            if entry.overlaps {
                if overlapNames.count < 3 { overlapNames.append(path) }
                continue
            }
            let data = UnsafeBufferPointer(rebasing: b[entry.dataStart..<(entry.dataStart + entry.compressed)])
            switch entry.method {
            case 0:
                guard entry.compressed <= self.limits.maxTotalBytes - self.inflated else {
                    self.issue("\(path): over the \(self.limits.maxTotalBytes)-byte total for one archive; not scanned", .archiveBytes); continue
                }
                self.inflated += entry.compressed
                self.emit(path, data, depth: depth, member: member)
            case 8:
                // no compressed bytes for no content: an empty file (some writers leave out even the empty final block)
                if entry.compressed == 0 && entry.size == 0 { self.emit(path, data, depth: depth, member: member); continue }
                let cap = self.budget(entry.compressed)
                if cap.bytes == 0 {
                    let why = cap.limit == .archiveBytes ? "the archive's \(cap.limit.flag) total of \(self.limits.maxTotalBytes) bytes is spent" : "\(cap.limit.flag) is 0"
                    self.issue("\(path): not inflated: \(why)", cap.limit)
                    continue
                }
                Inflate.inflate(data, limit: cap.bytes, gzip: false, sizeHint: entry.size) { bytes, outcome in
                    self.inflated += bytes.count
                    switch outcome {
                    case .complete: break
                    case .overLimit:
                        self.issue("\(path): inflates past \(cap.bytes) bytes (declared \(entry.size)): a zip bomb or over \(cap.limit.flag); only the first \(cap.bytes) bytes scanned", cap.limit)
                    case .corrupt(let why): self.issue("\(path): cannot inflate: \(why); the \(bytes.count) bytes before that scanned")
                    }
                    if !bytes.isEmpty { self.emit(path, bytes, depth: depth, member: member) }
                }
            default:
                self.issue("\(path): compression method \(entry.method) not supported; not scanned")
            }
        }
        if overlapping > 0 {
            let more = overlapping > overlapNames.count ? " and \(overlapping - overlapNames.count) more" : ""
            self.issue("\(overlapNames.joined(separator: ", "))\(more): the same data as another entry (entries sharing a local header: a zip bomb); read once, under the first name")
        }
        // bytes that belong to no member: a stub in front of the zip (a self-extractor, a CRX header) and what
        // follows the end-of-directory record (the archive's comment), scanned as they are under the archive's
        // name (a finding in the comment counts its line and column from the comment's start)
        if !self.notReadable && self.only == nil {
            if shift > 0 { member(name, UnsafeBufferPointer(rebasing: b[0..<shift])) }
            if eocd + 22 < b.count { member(name, UnsafeBufferPointer(rebasing: b[(eocd + 22)...])) }
        }
    }

    // MARK: - gzip

    private mutating func gzip(_ b: UnsafeBufferPointer<UInt8>, name: String, depth: Int, member: (String, UnsafeBufferPointer<UInt8>) -> Void) {
        let cap = self.budget(b.count)
        // the member's name: the file name without .gz (.tgz → .tar), after the last '!' and '/'
        let last = name.split(separator: "!").last.map(String.init) ?? name
        var inner = last.split(separator: "/").last.map(String.init) ?? last
        for suffix in [".tgz", ".gz"] where inner.lowercased().hasSuffix(suffix) {
            inner = String(inner.dropLast(suffix.count)) + (suffix == ".tgz" ? ".tar" : "")
        }
        Inflate.inflate(b, limit: cap.bytes, gzip: true, sizeHint: Inflate.gzipSizeHint(b)) { bytes, outcome in
            self.inflated += bytes.count
            switch outcome {
            case .complete: break
            case .overLimit: self.issue("\(name): inflates past \(cap.bytes) bytes: a gzip bomb or over \(cap.limit.flag); only the first \(cap.bytes) bytes scanned", cap.limit)
            case .corrupt(let why):
                self.issue("\(name): cannot inflate: \(why); the \(bytes.count) bytes before that scanned")
                if bytes.isEmpty { self.notReadable = true }
            }
            // a .tar.gz is one level of nesting, not two: a tar inside counts at the gzip's depth (anything else,
            // a gzip in a gzip included, one level deeper, so nesting always ends), and its members are named
            // after the .tar.gz itself (`pkg.tgz!pkg/config.env`)
            if !bytes.isEmpty {
                let isTar = ArchiveKind.byMagic(bytes) == .tar
                self.emit(isTar || inner.isEmpty ? name : name + "!" + inner, bytes, depth: isTar ? depth - 1 : depth, member: member)
            }
        }
    }

    // MARK: - asar

    /// Electron's asar: a Chromium pickle holding the header size, then a pickled JSON header
    /// (`{"files": {name: {"size", "offset"} | {"files": …}}}`), then file data at `8 + header size` + offset
    /// (offsets are decimal strings). Files marked `"unpacked"` live beside the archive and are not here.
    private mutating func asar(_ b: UnsafeBufferPointer<UInt8>, name: String, depth: Int, member: (String, UnsafeBufferPointer<UInt8>) -> Void) {
        guard b.count >= 16 else { self.issue("\(name): not a readable asar (too short)"); self.notReadable = true; return }
        let headerSize = Self.u32(b, 4), jsonLength = Self.u32(b, 12)
        guard jsonLength <= headerSize, 16 + jsonLength <= b.count, 8 + headerSize <= b.count,
              let json = try? JSONSerialization.jsonObject(with: Data(b[16..<(16 + jsonLength)])) as? [String: Any] else {
            self.issue("\(name): not a readable asar (bad header)")
            self.notReadable = true
            return
        }
        let base = 8 + headerSize
        var stack: [(String, [String: Any])] = [("", json)]
        var seen = 0
        while let (prefix, node) = stack.popLast() {
            guard let files = node["files"] as? [String: Any] else { continue }
            for (key, value) in files.sorted(by: { $0.key > $1.key }) {
                guard let entry = value as? [String: Any] else { continue }
                let path = prefix.isEmpty ? key : prefix + "/" + key
                if entry["files"] != nil { stack.append((path, entry)); continue }
                if entry["unpacked"] as? Bool == true || entry["link"] != nil { continue }
                seen += 1
                guard seen <= self.limits.maxMembers else { self.issue("\(name): more than \(self.limits.maxMembers) members; the rest not read", .archiveMembers); return }
                let size = (entry["size"] as? NSNumber)?.intValue ?? -1
                let offset = Int(entry["offset"] as? String ?? "") ?? -1
                guard size >= 0, offset >= 0, offset <= b.count - base, size <= b.count - base - offset else {
                    self.issue("\(name)!\(path): data outside the archive (truncated?)"); continue
                }
                self.emit(name + "!" + String(path.prefix(self.limits.maxNameLength)),
                          UnsafeBufferPointer(rebasing: b[(base + offset)..<(base + offset + size)]), depth: depth, member: member)
            }
        }
    }

    // MARK: - tar

    /// True when a zip's end-of-central-directory signature is in the last 64 KiB + 22 bytes, or the bytes
    /// start with a local header: worth reading as a zip (anything else named `.jar` is plain bytes).
    static func looksLikeZip(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        if b.count >= 4 && b[0] == 0x50 && b[1] == 0x4B && b[2] == 3 && b[3] == 4 { return true }
        guard b.count >= 22 else { return false }
        var i = b.count - 22
        while i >= max(0, b.count - 65_557) {
            if b[i] == 0x50 && b[i + 1] == 0x4B && b[i + 2] == 5 && b[i + 3] == 6 { return true }
            i -= 1
        }
        return false
    }

    /// True when the first 512 bytes are a tar header: its checksum (the header's bytes summed, the checksum
    /// field counted as spaces) matches.
    static func isTarHeader(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard b.count >= 512 else { return false }
        var sum = 0
        for i in 0..<512 { sum += (148..<156).contains(i) ? 32 : Int(b[i]) }
        let field = String(decoding: b[148..<156].prefix { $0 != 0 && $0 != 32 }, as: UTF8.self)
        return Int(field, radix: 8) == sum
    }

    private mutating func tar(_ b: UnsafeBufferPointer<UInt8>, name: String, depth: Int, member: (String, UnsafeBufferPointer<UInt8>) -> Void) {
        guard Self.isTarHeader(b) else {
            self.issue("\(name): not a tar archive (no valid header)")
            self.notReadable = true
            return
        }
        var p = 0
        var longName: String? = nil
        var index = 0
        while p + 512 <= b.count {
            if b[p] == 0 { return } // end-of-archive blocks
            guard index < self.limits.maxMembers else { self.issue("\(name): more than \(self.limits.maxMembers) members; the rest not read", .archiveMembers); return }
            index += 1
            func field(_ offset: Int, _ length: Int) -> String {
                var end = offset
                while end < offset + length && b[p + end] != 0 { end += 1 }
                return String(decoding: b[(p + offset)..<(p + end)], as: UTF8.self)
            }
            guard let size = Int(field(124, 12).trimmingCharacters(in: .whitespaces), radix: 8), size >= 0 else {
                self.issue("\(name): tar header \(index) is corrupt; the rest not read"); return
            }
            let type = b[p + 156]
            let dataStart = p + 512
            let available = min(size, b.count - dataStart)
            if available < size { self.issue("\(name): member \(index) runs past the end (truncated?); its first \(available) bytes scanned") }
            let data = UnsafeBufferPointer(rebasing: b[dataStart..<(dataStart + available)])
            var memberName = field(0, 100)
            if field(257, 5) == "ustar" { let prefix = field(345, 155); if !prefix.isEmpty { memberName = prefix + "/" + memberName } }
            if let long = longName { memberName = long; longName = nil }
            switch type {
            case UInt8(ascii: "L"): // GNU long name for the next member
                longName = String(decoding: data.prefix(self.limits.maxNameLength).prefix { $0 != 0 }, as: UTF8.self)
            case UInt8(ascii: "x"): // pax extended header: "len path=value\n" records
                for record in String(decoding: data.prefix(65_536), as: UTF8.self).split(separator: "\n") {
                    if let range = record.range(of: " path=") { longName = String(record[range.upperBound...].prefix(self.limits.maxNameLength)) }
                }
            case 0, UInt8(ascii: "0"), UInt8(ascii: "7"):
                self.emit(name + "!" + String(memberName.prefix(self.limits.maxNameLength)), data, depth: depth, member: member)
            default: break // directories, links, devices: no content
            }
            p = dataStart + (size + 511) / 512 * 512
        }
    }
}
