#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Parsers of git's plumbing output. The first byte picks the format, the rest is git's output:
/// `c` a commit or tag object, `l` `git log --raw -z --format=%x01%H %ct %P`, `d` `git diff-index --raw -z`,
/// `r` `git ls-tree -r -z`, `b` `git cat-file --batch`; other bytes pick one by their value. Streamed formats are
/// read through a pipe with a `ByteStream` of a few bytes' capacity, so its buffer moves and grows often.
enum FuzzGit {
    static func run(_ data: UnsafeBufferPointer<UInt8>) {
        guard let selector = data.first else { return }
        let rest = UnsafeBufferPointer(rebasing: data.dropFirst())
        switch selector {
        case UInt8(ascii: "c"): Self.objects(rest)
        case UInt8(ascii: "l"): Self.log(rest)
        case UInt8(ascii: "d"): Self.diffIndex(rest)
        case UInt8(ascii: "r"): Self.tree(rest)
        case UInt8(ascii: "b"): Self.catFile(rest)
        default: [Self.objects, Self.log, Self.diffIndex, Self.tree, Self.catFile][Int(selector) % 5](rest)
        }
    }

    /// `bytes` written to a pipe, read back through a `ByteStream` of `capacity` bytes.
    static func withStream(_ bytes: UnsafeBufferPointer<UInt8>, capacity: Int, _ body: (ByteStream) -> Void) {
        var fds: [Int32] = [0, 0]
        fuzzCheck(pipe(&fds) == 0, "pipe failed")
        // the fuzzer's inputs (-max_len) stay below a pipe's 64 KiB buffer, so this write never blocks
        var written = 0
        while written < bytes.count {
            let n = write(fds[1], bytes.baseAddress! + written, bytes.count - written)
            fuzzCheck(n > 0, "write to the pipe failed")
            written += n
        }
        close(fds[1])
        body(ByteStream(fd: fds[0], capacity: capacity))
        close(fds[0])
    }

    static func objects(_ raw: UnsafeBufferPointer<UInt8>) {
        let commit = CommitHeader(raw)
        fuzzCheck(commit.messageStart >= 0 && commit.messageStart <= raw.count, "commit message at \(commit.messageStart) of \(raw.count)")
        for parent in commit.parents { fuzzCheck(ObjectID(parent.description) == parent, "object id \(parent) does not survive a round trip") }
        let tag = TagHeader(raw)
        fuzzCheck(tag.messageStart >= 0 && tag.messageStart <= raw.count, "tag message at \(tag.messageStart) of \(raw.count)")
    }

    static func log(_ raw: UnsafeBufferPointer<UInt8>) {
        var parents: [ObjectID: [ObjectID]] = [:]
        var times: [ObjectID: Int64] = [:]
        var changes = 0
        Self.withStream(raw, capacity: 1 + raw.count % 53) { stream in
            // the commit line as `mptscan history --range` reads it (`%H %ct %P`)
            try? parseRawLog(stream, commit: { header in
                let parts = header.split(separator: " ")
                guard let id = parts.first.flatMap({ ObjectID(String($0)) }) else { return }
                times[id] = parts.count > 1 ? Int64(parts[1]) ?? 0 : 0
                parents[id] = parts.dropFirst(2).compactMap { ObjectID(String($0)) }
            }, change: { change in
                changes += 1
                fuzzCheck(!change.status.isEmpty, "a raw change without a status")
                fuzzCheck(change.sourcePath == nil || RawChange.hasTwoPaths(change.status), "a source path for status \(change.status)")
            })
        }
        // the commit graph: parents before children; commits in a cycle (a corrupt repository) left out
        let graph = CommitGraph(parents: parents, committerTime: times)
        let order = graph.order(of: Set(parents.keys))
        var rank: [ObjectID: Int] = [:]
        for (i, c) in order.enumerated() {
            fuzzCheck(rank[c] == nil, "commit \(c) ordered twice")
            rank[c] = i
        }
        for c in order {
            for p in parents[c] ?? [] where parents[p] != nil {
                fuzzCheck((rank[p] ?? Int.max) < rank[c]!, "commit \(c) ordered before its parent \(p)")
            }
        }
        let tips = Array(parents.keys.sorted().prefix(3))
        _ = graph.reachable(from: tips)
        _ = graph.refs(reaching: tips, refs: tips.map { GitRef(name: "refs/heads/\($0)", commit: $0, object: $0) })
    }

    static func diffIndex(_ raw: UnsafeBufferPointer<UInt8>) {
        guard let changes = try? RawChange.list(Array(raw)) else { return }
        for change in changes {
            fuzzCheck(change.oldBlobs.count == 1, "diff-index gave \(change.oldBlobs.count) parents")
            _ = change.hasScannableBlob
        }
    }

    static func tree(_ raw: UnsafeBufferPointer<UInt8>) {
        for entry in TreeEntry.list(Array(raw)) {
            fuzzCheck(!entry.path.contains(0), "a path with a NUL")
        }
    }

    static func catFile(_ raw: UnsafeBufferPointer<UInt8>) {
        let count = raw.reduce(0) { $0 + ($1 == 10 ? 1 : 0) }
        Self.withStream(raw, capacity: 1 + raw.count % 61) { stream in
            let seen = try? CatFileBatch.read(stream, count: count, isCancelled: { false }, missing: { _ in }) { _, kind, content in
                // blobs as history scans read them: archives opened, source maps annotated
                if kind == .blob || kind == nil { _ = FuzzTokens.large.scan(content) }
                if case .whole(let bytes) = content, kind == .commit { _ = CommitHeader(bytes) }
            }
            fuzzCheck((seen ?? 0) <= count, "read \(seen ?? 0) objects of \(count)")
        }
    }
}
