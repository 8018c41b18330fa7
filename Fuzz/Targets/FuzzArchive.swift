/// The archive readers, as `mptscan scan` opens archive files (by name or by magic: each kind) and members (by
/// magic), with limits scaled down so that a bomb within them costs milliseconds, and zlib's inflate on its own.
enum FuzzArchive {
    static let limits: ArchiveLimits = {
        var limits = ArchiveLimits()
        limits.maxMemberBytes = 1 << 20
        limits.maxTotalBytes = 4 << 20
        limits.maxMembers = 2_000
        limits.maxNameLength = 512
        return limits
    }()

    static func run(_ data: UnsafeBufferPointer<UInt8>) {
        var kinds: [ArchiveKind] = [.zip, .gzip, .tar, .asar]
        if let byMagic = ArchiveKind.byMagic(data) { kinds.insert(byMagic, at: 0) }
        for kind in kinds {
            var walker = ArchiveWalker(limits: Self.limits)
            walker.walk(data, kind: kind, name: "input.\(kind.rawValue)") { path, member in
                // a member of it, or its own bytes outside every member (a zip's stub and comment, a zip of no
                // members): compared as bytes, a member name may start with a combining mark, which joins the `!`
                let name = "input.\(kind.rawValue)"
                fuzzCheck(path.utf8.starts(with: (name + "!").utf8) || path.utf8.elementsEqual(name.utf8), "member named \(path)")
                // every byte of the member is readable (a view past the archive's bytes is an ASan report)
                var sum = 0
                for b in member { sum &+= Int(b) }
                _ = sum
            }
            fuzzCheck(walker.inflated <= Self.limits.maxTotalBytes, "\(walker.inflated) bytes inflated, over the \(Self.limits.maxTotalBytes) limit")
            fuzzCheck(walker.members <= 4 * Self.limits.maxMembers * Self.limits.maxDepth, "\(walker.members) members")
        }
        for gzip in [false, true] {
            Inflate.inflate(data, limit: 1 << 20, gzip: gzip, sizeHint: gzip ? Inflate.gzipSizeHint(data) : nil) { out, outcome in
                fuzzCheck(out.count <= 1 << 20, "inflated \(out.count) bytes past the limit")
                if outcome == .overLimit { fuzzCheck(out.count == 1 << 20, "over the limit with \(out.count) bytes") }
            }
        }
    }
}
