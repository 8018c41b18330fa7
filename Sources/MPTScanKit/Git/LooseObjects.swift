#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Loose objects: one file per object at `objects/<first 2 hex digits>/<other 38>`, a zlib stream of
/// `<type> <decimal size>\0<content>` (git's `Documentation/technical/hash-function-transition.txt` and
/// `git-hash-object(1)` describe the "type size NUL content" form; `object-file.c` reads it).
enum LooseObjects {
    /// The ids of the loose objects under `objectDirectory`, from the names in its 256 fan-out folders. Other
    /// files there (git's `tmp_obj_*` leftovers) are skipped, as git skips them.
    /// - Throws: `ObjectStoreError` for a name git would read as an object id that is not lower-case (git would
    ///   list it but could not open it under its lower-case name: left to git).
    static func list(in objectDirectory: String) throws -> [(id: ObjectID, path: String)] {
        var out: [(ObjectID, String)] = []
        let digits = Array("0123456789abcdef".utf8)
        for bucket in 0..<256 {
            let folder = objectDirectory + "/" + String(decoding: [digits[bucket >> 4], digits[bucket & 15]], as: UTF8.self)
            guard let dir = opendir(folder) else { continue }
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let name = Array(direntName(entry))
                guard name.count == 38 else { continue }
                var hex = [digits[bucket >> 4], digits[bucket & 15]]
                var lower = true, isHex = true
                for c in name {
                    switch c {
                    case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"): break
                    case UInt8(ascii: "A")...UInt8(ascii: "F"): lower = false
                    default: isHex = false
                    }
                }
                guard isHex else { continue }
                guard lower else { throw ObjectStoreError("\(folder): loose object name in upper case") }
                hex += name
                guard let id = ObjectID(hex: hex) else { continue }
                out.append((id, folder + "/" + String(decoding: name, as: UTF8.self)))
            }
        }
        return out
    }

    /// What reading one loose object gave.
    enum Read {
        /// The object's kind and its `size` content bytes, at the start of the buffer given to `read`.
        case object(ObjectKind, size: Int)
        /// A tree (not read further), or a known blob when `skip` said so.
        case skipped(ObjectKind)
        /// Larger than the limit, unreadable or corrupt: for git to read (or to fail on, as it would); with the
        /// kind when the header could be read.
        case leaveToGit(ObjectKind?)
        /// Not a regular file (a FIFO, socket or device named like an object): not read, and not handed to git,
        /// which would block opening a FIFO; counted as an object that could not be read.
        case notAFile
    }

    /// Reads the loose object file at `path` into `content` (inflated, header removed).
    /// - Parameters:
    ///   - limit: the largest content read, in bytes; a larger object (or a larger file) is left to git.
    ///   - skip: says, from the kind, whether the content is not wanted (trees, known blobs).
    static func read(path: String, inflater: ZlibInflater, file: GrowableBuffer, content: GrowableBuffer,
                     limit: Int, skip: (ObjectKind) -> Bool) -> Read {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK) // a FIFO in the store must not block: refused below as not a regular file
        guard fd >= 0 else { return .leaveToGit(nil) }
        defer { _ = systemClose(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { return .leaveToGit(nil) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { return .notAFile }
        guard st.st_size > 0, Int(st.st_size) <= limit + (1 << 20) else {
            return .leaveToGit(nil)
        }
        let fileSize = Int(st.st_size)
        let input = file.reserve(fileSize)
        var got = 0
        while got < fileSize {
            let n = systemRead(fd, input + got, fileSize - got)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            got += n
        }
        guard got == fileSize else { return .leaveToGit(nil) }
        let compressed = UnsafeRawBufferPointer(start: input, count: fileSize)
        // the header: "<type> <size>\0" within the first 64 bytes
        var head = [UInt8](repeating: 0, count: 64)
        guard let n = head.withUnsafeMutableBytes({ inflater.inflatePrefix(compressed, into: $0) }),
              let nul = head[0..<n].firstIndex(of: 0), let space = head[0..<nul].firstIndex(of: 32) else { return .leaveToGit(nil) }
        let kind: ObjectKind
        switch String(decoding: head[0..<space], as: UTF8.self) {
        case "blob": kind = .blob
        case "tree": kind = .tree
        case "commit": kind = .commit
        case "tag": kind = .tag
        default: return .leaveToGit(nil)
        }
        let digits = head[(space + 1)..<nul]
        guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return .leaveToGit(nil) }
        let size = digits.reduce(0) { $0 * 10 + Int($1 - 48) }
        if skip(kind) { return .skipped(kind) }
        guard size <= limit else { return .leaveToGit(kind) }
        // inflate header and content in one go, then drop the header
        let headerLength = nul + 1
        let out = content.reserve(headerLength + size + 1)
        guard inflater.inflate(compressed, into: out, size: headerLength + size) else { return .leaveToGit(kind) }
        if size > 0 { memmove(out, out + headerLength, size) }
        return .object(kind, size: size)
    }
}

/// A byte buffer reused from object to object: `reserve` grows it (without keeping its old bytes), `trim` gives
/// a large one back.
final class GrowableBuffer {
    private(set) var pointer: UnsafeMutableRawPointer? = nil
    /// Bytes allocated.
    private(set) var capacity = 0

    /// Room for at least `count` bytes (at least 1); the previous content is not kept.
    func reserve(_ count: Int) -> UnsafeMutableRawPointer {
        if let pointer, count <= self.capacity { return pointer }
        self.pointer?.deallocate()
        let capacity = max(count, 1, self.capacity + self.capacity / 2)
        let p = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
        p.bindMemory(to: UInt8.self, capacity: capacity)
        self.pointer = p
        self.capacity = capacity
        return p
    }

    /// Frees the memory when more than `keep` bytes are allocated.
    func trim(keep: Int) {
        if self.capacity > keep {
            self.pointer?.deallocate()
            self.pointer = nil
            self.capacity = 0
        }
    }

    deinit { self.pointer?.deallocate() }
}

