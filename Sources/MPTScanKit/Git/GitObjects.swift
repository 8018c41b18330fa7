import Foundation

/// The fields of a commit object that history scans use. Reference: git's commit object format
/// (`tree`, `parent`*, `author`, `committer` header lines, a blank line, the message).
struct CommitHeader {
    var parents: [ObjectID] = []
    var committerTime: Int64 = 0
    /// `author` line: name, email, and the date as ISO 8601 with the author's offset.
    var authorName = ""
    var authorEmail = ""
    var authorDate = ""
    /// Byte offset of the message within the object (after the first blank line); the object's length when none.
    var messageStart = 0

    /// Parses a raw commit object. Unknown and continuation header lines (`gpgsig`, `mergetag`) are skipped.
    /// - Parameter authors: also the author fields; without them only what the commit graph needs (parents,
    ///   committer time, message start) is parsed, with no string built (a full-history scan reads every commit).
    init(_ raw: UnsafeBufferPointer<UInt8>, authors: Bool = true) {
        self.messageStart = forEachHeaderLine(raw) { line in
            if line.starts(with: "parent ".utf8), let id = ObjectID(hex: line.dropFirst(7)) {
                self.parents.append(id)
            } else if line.starts(with: "committer ".utf8) {
                self.committerTime = authors ? Self.person(line.dropFirst(10)).time : Self.time(line.dropFirst(10))
            } else if authors && line.starts(with: "author ".utf8) {
                let p = Self.person(line.dropFirst(7))
                self.authorName = p.name; self.authorEmail = p.email
                self.authorDate = Self.isoDate(p.time, offset: p.offset)
            }
        }
    }

    /// `Name <email> 1700000000 +0100` → parts; lenient with malformed lines.
    static func person(_ s: Slice<UnsafeBufferPointer<UInt8>>) -> (name: String, email: String, time: Int64, offset: String) {
        let bytes = Array(s)
        guard let open = bytes.firstIndex(of: UInt8(ascii: "<")), let close = bytes.lastIndex(of: UInt8(ascii: ">")), open < close else {
            return (String(decoding: bytes, as: UTF8.self), "", 0, "+0000")
        }
        let name = String(decoding: bytes[..<open], as: UTF8.self).trimmingCharacters(in: .whitespaces)
        let email = String(decoding: bytes[(open + 1)..<close], as: UTF8.self)
        let rest = String(decoding: bytes[(close + 1)...], as: UTF8.self).split(separator: " ")
        let time = rest.first.flatMap { Int64($0) } ?? 0
        let offset = rest.count > 1 ? String(rest[1]) : "+0000"
        return (name, email, time, offset)
    }

    /// The time of `person` (`Name <email> 1700000000 +0100`) as `person(_:).time` gives it, read from the bytes:
    /// the first space-separated word after the last `>` (when a `<` comes before it) as a signed integer, else 0.
    static func time(_ s: Slice<UnsafeBufferPointer<UInt8>>) -> Int64 {
        guard let open = s.firstIndex(of: UInt8(ascii: "<")), let close = s.lastIndex(of: UInt8(ascii: ">")), open < close else { return 0 }
        var i = close + 1
        while i < s.endIndex && s[i] == 32 { i += 1 }
        var j = i
        while j < s.endIndex && s[j] != 32 { j += 1 }
        guard i < j else { return 0 }
        return Int64(String(decoding: s[i..<j], as: UTF8.self)) ?? 0
    }

    /// Seconds since the epoch and a `+hhmm` offset → `YYYY-MM-DDTHH:MM:SS+hh:mm` in that offset.
    static func isoDate(_ time: Int64, offset: String) -> String {
        let o = Array(offset.utf8)
        var minutes = 0
        if o.count == 5, let h = Int(String(decoding: o[1..<3], as: UTF8.self)), let m = Int(String(decoding: o[3..<5], as: UTF8.self)) {
            minutes = (h * 60 + m) * (o[0] == UInt8(ascii: "-") ? -1 : 1)
        }
        let local = time + Int64(minutes * 60)
        // civil-from-days (Howard Hinnant's algorithm), valid for any proleptic Gregorian date
        let days = local >= 0 ? local / 86400 : (local - 86399) / 86400
        let secs = local - days * 86400
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func two(_ v: Int64) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let sign = minutes < 0 ? "-" : "+"
        let am = abs(minutes)
        return "\(y)-\(two(m))-\(two(d))T\(two(secs / 3600)):\(two(secs / 60 % 60)):\(two(secs % 60))\(sign)\(two(Int64(am / 60))):\(two(Int64(am % 60)))"
    }
}

/// The fields of an annotated tag object: what it points at, the tag's name and where its message starts.
struct TagHeader {
    var name = ""
    var target: ObjectID? = nil
    var targetKind: ObjectKind? = nil
    var messageStart = 0

    init(_ raw: UnsafeBufferPointer<UInt8>) {
        self.messageStart = forEachHeaderLine(raw) { line in
            if line.starts(with: "tag ".utf8) { self.name = String(decoding: line.dropFirst(4), as: UTF8.self) }
            if line.starts(with: "object ".utf8) { self.target = ObjectID(hex: line.dropFirst(7)) }
            if line.starts(with: "type ".utf8) { self.targetKind = ObjectKind(rawValue: String(decoding: line.dropFirst(5), as: UTF8.self)) }
        }
    }
}

/// Calls `body` with each header line of a raw commit or tag object (up to the first blank line) and returns
/// where the message starts: just past that blank line, or the object's length when there is none.
func forEachHeaderLine(_ raw: UnsafeBufferPointer<UInt8>, _ body: (Slice<UnsafeBufferPointer<UInt8>>) -> Void) -> Int {
    var i = 0
    let n = raw.count
    while i < n {
        var end = i
        while end < n && raw[end] != 10 { end += 1 }
        if end == i { i = end + 1; break } // blank line: the message follows
        body(raw[i..<end])
        i = end + 1
    }
    return min(i, n)
}

/// One entry of `git log --raw -z` / `git diff-index --raw -z` output: a path whose blob changed.
/// Reference: git-diff(1), "RAW OUTPUT FORMAT" (and "combined diff format" for merges with `-c`).
struct RawChange {
    /// Blob ids of the path in each parent (one for ordinary diffs, one per parent in combined diffs); zero ids
    /// for "not present".
    var oldBlobs: [ObjectID]
    /// The blob after the change; zero for a deletion.
    var newBlob: ObjectID
    /// Mode after the change (`100644`, `120000` symlink, `160000` submodule…).
    var newMode: String
    /// Status letters (`A`, `M`, `D`, `R100`, …; one per parent in combined diffs).
    var status: String
    /// The path before a rename or copy; nil otherwise.
    var sourcePath: [UInt8]?
    /// The path after the change, raw bytes as git stores them.
    var path: [UInt8]

    /// True when the new side is a file whose content can be scanned (not a deletion or a submodule).
    var hasScannableBlob: Bool { !self.newBlob.isZero && self.newMode != "160000" }
    /// True for renames and copies, which carry two paths.
    static func hasTwoPaths(_ status: String) -> Bool { status.hasPrefix("R") || status.hasPrefix("C") }

    /// Parses the meta part (`:100644 100644 <old> <new> M`, or `::` … for combined diffs) of one entry.
    static func meta(_ field: ArraySlice<UInt8>) -> (old: [ObjectID], new: ObjectID, mode: String, status: String)? {
        var colons = 0
        for c in field { if c == UInt8(ascii: ":") { colons += 1 } else { break } }
        guard colons >= 1 else { return nil }
        let parts = field.dropFirst(colons).split(separator: 32)
        // `colons` parent modes, then the result mode, then parent ids, the result id, the status
        guard parts.count == 2 * (colons + 1) + 1 else { return nil }
        var ids: [ObjectID] = []
        for k in 0...colons {
            guard let id = ObjectID(hex: parts[colons + 1 + k]) else { return nil }
            ids.append(id)
        }
        let new = ids.removeLast()
        return (ids, new, String(decoding: parts[colons], as: UTF8.self), String(decoding: parts[parts.count - 1], as: UTF8.self))
    }

    /// Parses `git diff-index --raw -z` output (no combined diffs): per change a meta field, the source path of
    /// a rename or copy, and the path, each NUL-terminated. Every change is returned, deletions and submodules
    /// included; a listing cut after a meta field ends the list.
    /// - Throws: `GitError` for a field that is not a raw diff meta field.
    static func list(_ listing: [UInt8]) throws -> [RawChange] {
        var changes: [RawChange] = []
        var fields = Git.fields(listing)[...]
        while let meta = fields.popFirst() {
            guard let m = RawChange.meta(meta) else { throw GitError("git diff-index: unexpected output") }
            let source = RawChange.hasTwoPaths(m.status) ? fields.popFirst().map(Array.init) : nil
            guard let path = fields.popFirst() else { break }
            changes.append(RawChange(oldBlobs: m.old, newBlob: m.new, newMode: m.mode, status: m.status, sourcePath: source, path: Array(path)))
        }
        return changes
    }
}

/// One entry of `git ls-tree -r -z` output: `<mode> SP <type> SP <object> TAB <path>`, NUL-terminated.
/// Reference: git-ls-tree(1), "OUTPUT FORMAT".
struct TreeEntry {
    /// `blob`, or `commit` for a submodule; nil for a type git does not list.
    var kind: ObjectKind?
    var id: ObjectID
    /// The path from the tree's root, raw bytes as git stores them.
    var path: [UInt8]

    /// The entries of a listing; malformed entries (no tab, not three fields, a bad id) are skipped.
    static func list(_ listing: [UInt8]) -> [TreeEntry] {
        var entries: [TreeEntry] = []
        for entry in Git.fields(listing) {
            guard let tab = entry.firstIndex(of: 9) else { continue }
            let meta = entry[..<tab].split(separator: 32)
            guard meta.count == 3, let id = ObjectID(hex: meta[2]) else { continue }
            entries.append(TreeEntry(kind: ObjectKind(rawValue: String(decoding: meta[1], as: UTF8.self)), id: id, path: Array(entry[(tab + 1)...])))
        }
        return entries
    }
}

/// Reads `git log --raw -z --format=%x01…` output: a commit line starting with \u{1}, then NUL-separated raw
/// entries. Calls `commit` with the header text (after \u{1}) and `change` for each entry.
func parseRawLog(_ stream: ByteStream, commit: (String) -> Void, change: (RawChange) -> Void) throws {
    var pending: (old: [ObjectID], new: ObjectID, mode: String, status: String)? = nil
    var source: [UInt8]? = nil
    while let raw = stream.next(until: 0) {
        var field = raw[...]
        if let meta = pending { // a path: taken as is, whatever bytes it holds
            if RawChange.hasTwoPaths(meta.status) && source == nil {
                source = Array(field)
                continue
            }
            change(RawChange(oldBlobs: meta.old, newBlob: meta.new, newMode: meta.mode, status: meta.status,
                             sourcePath: source, path: Array(field)))
            pending = nil
            source = nil
            continue
        }
        while field.first == 10 { field = field.dropFirst() }
        if field.isEmpty { continue }
        if field.first == 1 {
            var text = field.dropFirst()
            while text.last == 10 { text = text.dropLast() }
            commit(String(decoding: text, as: UTF8.self))
        } else if field.first == UInt8(ascii: ":") {
            guard let meta = RawChange.meta(Array(field)[...]) else {
                throw GitError("git log: unexpected raw diff line '\(String(decoding: field.prefix(120), as: UTF8.self))'")
            }
            pending = meta
        } else {
            throw GitError("git log: unexpected output '\(String(decoding: field.prefix(120), as: UTF8.self))'")
        }
    }
    if let error = stream.error { throw GitError("reading git log output failed: \(String(cString: strerror(error)))") }
}

/// Commits ordered parents first; among commits whose parents are all placed, the earliest committer date
/// first, then the smallest id (Kahn's algorithm with a binary heap). Parents outside `parents`' keys are ignored.
/// - Returns: commits in that order.
func topologicalOrder(_ parents: [ObjectID: [ObjectID]], committerTime: (ObjectID) -> Int64) -> [ObjectID] {
    var waiting: [ObjectID: Int] = [:]
    var children: [ObjectID: [ObjectID]] = [:]
    waiting.reserveCapacity(parents.count)
    for (c, ps) in parents {
        var n = 0
        for p in Set(ps) where parents[p] != nil {
            n += 1
            children[p, default: []].append(c)
        }
        waiting[c] = n
    }
    struct Key: Comparable {
        var time: Int64
        var id: ObjectID
        static func < (a: Key, b: Key) -> Bool { (a.time, a.id) < (b.time, b.id) }
    }
    var heap: [Key] = []
    func push(_ k: Key) {
        heap.append(k)
        var i = heap.count - 1
        while i > 0 { let p = (i - 1) / 2; if heap[i] < heap[p] { heap.swapAt(i, p); i = p } else { break } }
    }
    func pop() -> Key {
        let top = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < heap.count && heap[l] < heap[m] { m = l }
                if r < heap.count && heap[r] < heap[m] { m = r }
                if m == i { break }
                heap.swapAt(i, m); i = m
            }
        }
        return top
    }
    for (c, n) in waiting where n == 0 { push(Key(time: committerTime(c), id: c)) }
    var order: [ObjectID] = []
    order.reserveCapacity(parents.count)
    while !heap.isEmpty {
        let k = pop()
        order.append(k.id)
        for child in children[k.id] ?? [] {
            waiting[child]! -= 1
            if waiting[child] == 0 { push(Key(time: committerTime(child), id: child)) }
        }
    }
    return order
}
