import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A sweep that cannot go on: an unusable state directory, list or output. Exit 2.
public struct SweepError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, naming the file or directory; never a secret.
    public var message: String
    /// An error with `message`.
    public init(_ message: String) { self.message = message }
    public var description: String { self.message }
}

/// The state directory of `mptscan sweep --state DIR`: what makes a sweep resumable and incremental. Holds no
/// secret: only repository paths as listed, ref names and tips, object ids and counts.
///
/// Layout (every file written to a temporary name, fsync'd and renamed into place, mode 0600; the directories
/// 0700):
///
/// ```
/// DIR/lock                            flock(2) held by the running sweep (a second one is refused)
/// DIR/run.json                        the current sweep run: id, identity (shard, list, output), finished
/// DIR/repositories/<key>.json         one repository (<key>: the first 32 hex digits of the SHA-256 of its path
///                                     as listed): path, scan key, ref tips, objects file, last run, output end,
///                                     status, failing findings
/// DIR/repositories/<key>.<n>.objects  the objects its last successful scan covered: the line
///                                     `mptscan-objects 1 <bytes per id> <count>\n`, then the ids as raw bytes
///                                     (20 for SHA-1, 32 for SHA-256), sorted, no separator
/// ```
///
/// A repository's `.json` is the commit point of its part of a run: it is written after the repository's
/// records were appended to the output and fsync'd, and names the output's length after them (`output_end`), so
/// a resumed run cuts the output back to the last completed repository and nothing is lost or written twice.
public struct SweepState {
    /// The state directory.
    public let directory: String
    private var lockFD: Int32 = -1

    /// The current run (`run.json`).
    public struct Run: Codable, Equatable, Sendable {
        /// Format of the file (1).
        public var format = 1
        /// A random id naming this run in repository records.
        public var id: String
        /// SHA-256 (hex) of the shard, the repository list after sharding and the output path: a run is resumed
        /// only by a sweep with the same identity.
        public var identity: String
        /// True once every repository of the run was processed (the next sweep starts a new run).
        public var finished: Bool
    }

    /// One repository's record (`repositories/<key>.json`).
    public struct Repository: Codable, Equatable, Sendable {
        /// Format of the file (1).
        public var format = 1
        /// The path as listed.
        public var path: String
        /// `Sweep.scanKey` of the last successful scan: objects are only known for the same mptscan version,
        /// rules, excludes and message setting.
        public var scanKey: String?
        /// `<refname> <object id>` lines (and `HEAD <id>`), sorted, at the last successful scan.
        public var tips: [String]
        /// The objects file of the last successful scan (in `repositories/`), nil before one.
        public var objects: String?
        /// How many ids it holds.
        public var objectCount: Int
        /// The run that last processed the repository.
        public var lastRun: String
        /// The output's length in bytes after this repository's records, in `lastRun` (nil: standard output).
        public var outputEnd: Int?
        /// `ok`, `unchanged` or `failed`, in `lastRun`.
        public var status: String
        /// Unsuppressed findings reported in `lastRun` (for the exit code of a resumed run).
        public var failing: Int

        enum CodingKeys: String, CodingKey {
            case format, path, tips, objects, status, failing
            case scanKey = "scan_key", objectCount = "object_count", lastRun = "last_run", outputEnd = "output_end"
        }
    }

    /// Opens (creating it and missing parents, mode 0700) the state directory and takes its lock.
    /// - Throws: `SweepError` when it cannot be created, is not a directory, or another sweep holds the lock.
    public init(directory: String) throws {
        self.directory = directory
        for dir in [directory, directory + "/repositories"] {
            var st = stat()
            if lstat(dir, &st) != 0 {
                do {
                    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                } catch {
                    throw SweepError("--state \(dir): cannot create the directory: \(error.localizedDescription)")
                }
            } else if st.st_mode & S_IFMT != S_IFDIR {
                throw SweepError("--state \(dir): not a directory")
            }
        }
        let fd = open(directory + "/lock", O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw SweepError("--state \(directory): cannot open the lock file: \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            _ = systemClose(fd)
            throw SweepError("--state \(directory): another sweep is using this state directory")
        }
        self.lockFD = fd
    }

    /// Releases the lock (also released when the process ends).
    public func close() { if self.lockFD >= 0 { _ = flock(self.lockFD, LOCK_UN); _ = systemClose(self.lockFD) } }

    /// The record file name of `path`.
    static func key(_ path: String) -> String { String(SHA256.hexDigest(of: Array(path.utf8)).prefix(32)) }

    /// The current run, or nil when there is none (or it cannot be read: a new run starts).
    public func loadRun() -> Run? {
        guard let data = FileManager.default.contents(atPath: self.directory + "/run.json") else { return nil }
        return try? JSONDecoder().decode(Run.self, from: data)
    }

    /// Writes the run file atomically.
    /// - Throws: `SweepError` when it cannot be written.
    public func save(_ run: Run) throws {
        try Self.writeAtomically(try Self.encode(run), to: self.directory + "/run.json")
    }

    /// The record of `path`, or nil (none, unreadable, or another path's: then the repository starts afresh).
    public func load(_ path: String) -> Repository? {
        guard let data = FileManager.default.contents(atPath: self.directory + "/repositories/\(Self.key(path)).json"),
              let record = try? JSONDecoder().decode(Repository.self, from: data), record.path == path else { return nil }
        return record
    }

    /// Writes `record`; with `objects`, first a new objects file for it (the previous one is removed after the
    /// record names the new one).
    /// - Throws: `SweepError` when a file cannot be written.
    public func save(_ record: Repository, objects: [ObjectID]?) throws {
        var record = record
        let key = Self.key(record.path)
        let previous = self.load(record.path)?.objects
        if let objects {
            let name = "\(key).\(UUID().uuidString.prefix(8).lowercased()).objects"
            try Self.writeAtomically(Self.encodeObjects(objects), to: self.directory + "/repositories/" + name)
            record.objects = name
            record.objectCount = objects.count
        }
        try Self.writeAtomically(try Self.encode(record), to: self.directory + "/repositories/\(key).json")
        if let previous, previous != record.objects { unlink(self.directory + "/repositories/" + previous) }
    }

    /// The ids in `record`'s objects file (empty when it has none).
    /// - Throws: `SweepError` for a damaged file.
    public func objects(of record: Repository) throws -> Set<ObjectID> {
        guard let name = record.objects else { return [] }
        let path = self.directory + "/repositories/" + name
        guard let data = FileManager.default.contents(atPath: path) else { throw SweepError("\(path): cannot read the objects file") }
        return try Self.decodeObjects([UInt8](data), file: path)
    }

    /// Removes objects files no record names (left by a sweep killed between the two writes of `save`).
    public func removeOrphans() {
        let dir = self.directory + "/repositories"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        var referenced = Set<String>()
        for name in names where name.hasSuffix(".json") {
            if let data = FileManager.default.contents(atPath: dir + "/" + name),
               let record = try? JSONDecoder().decode(Repository.self, from: data), let objects = record.objects {
                referenced.insert(objects)
            }
        }
        for name in names where (name.hasSuffix(".objects") && !referenced.contains(name)) || name.contains(".tmp-") {
            unlink(dir + "/" + name)
        }
    }

    // MARK: - Files

    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return Array(try encoder.encode(value)) + [10]
    }

    /// `mptscan-objects 1 <bytes per id> <count>\n` and the ids, sorted, as raw bytes.
    static func encodeObjects(_ ids: [ObjectID]) -> [UInt8] {
        let sorted = ids.sorted()
        let width = Int(sorted.first?.length ?? 40) / 2
        var out = Array("mptscan-objects 1 \(width) \(sorted.count)\n".utf8)
        out.reserveCapacity(out.count + width * sorted.count)
        for id in sorted { id.appendBytes(to: &out) }
        return out
    }

    static func decodeObjects(_ bytes: [UInt8], file: String) throws -> Set<ObjectID> {
        guard let newline = bytes.firstIndex(of: 10) else { throw SweepError("\(file): not an objects file") }
        let head = String(decoding: bytes[..<newline], as: UTF8.self).split(separator: " ")
        guard head.count == 4, head[0] == "mptscan-objects", head[1] == "1", let width = Int(head[2]), width == 20 || width == 32,
              let count = Int(head[3]), bytes.count - newline - 1 == width * count else {
            throw SweepError("\(file): damaged objects file (remove it, or the state directory, to scan the repository in full)")
        }
        var out = Set<ObjectID>(minimumCapacity: count)
        var i = newline + 1
        for _ in 0..<count {
            out.insert(ObjectID(bytes: bytes[i..<(i + width)]))
            i += width
        }
        return out
    }

    /// Writes `bytes` to `path` through a temporary file in the same directory (mode 0600, fsync'd, renamed:
    /// `PrivateFile.writeAtomically`).
    /// - Throws: `SweepError` naming the file.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        if let code = PrivateFile.writeAtomically(bytes, to: path) {
            throw SweepError("\(path): cannot write: \(String(cString: strerror(code)))")
        }
    }

    /// Writes all of `bytes` to `fd`, retrying on EINTR; false on an error (see `errno`).
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool { PrivateFile.writeAll(fd, bytes) }
}

extension ObjectID {
    /// An id from its raw bytes (20 for SHA-1, 32 for SHA-256).
    init<C: Collection>(bytes: C) where C.Element == UInt8 {
        var w: [UInt64] = [0, 0, 0, 0]
        for (i, b) in bytes.enumerated() { w[i / 8] = w[i / 8] << 8 | UInt64(b) }
        self.words = (w[0], w[1], w[2], w[3])
        self.length = UInt8(bytes.count * 2)
    }

    /// Appends the id's raw bytes (`length / 2` of them) to `out`.
    func appendBytes(to out: inout [UInt8]) {
        let w = [self.words.0, self.words.1, self.words.2, self.words.3]
        let count = Int(self.length) / 2
        for i in 0..<count {
            let inWord = min(8, count - (i / 8) * 8)
            out.append(UInt8(truncatingIfNeeded: w[i / 8] >> UInt64(8 * (inWord - 1 - i % 8))))
        }
    }
}

