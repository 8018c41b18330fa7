import Foundation

/// A cap on something mptscan derives from its input rather than reads from it: bytes inflated from an archive,
/// archives opened inside archives, encoding layers undone, findings kept per file. Plain files have no cap:
/// they are streamed. Each limit has a default (`ScanLimits()`), a command-line flag of the same name
/// (`--max-archive-depth`), and is counted in the summary whenever it is reached, so nothing is skipped
/// silently. The table of all of them: docs/ARCHITECTURE.md, "Limits".
public enum ScanLimit: String, CaseIterable, Codable, Sendable {
    /// Largest archive, in bytes, read into memory to open its members (a file, or a blob in git); a larger
    /// one is scanned as plain bytes, its compressed members unread.
    case archiveSize = "max-archive-size"
    /// Archives opened inside archives, the outermost counting as 1.
    case archiveDepth = "max-archive-depth"
    /// Members read per archive.
    case archiveMembers = "max-archive-members"
    /// Bytes one archive member may inflate to.
    case archiveMemberBytes = "max-archive-member-bytes"
    /// Bytes all members of one outermost archive may inflate to, together.
    case archiveBytes = "max-archive-bytes"
    /// Inflated bytes per compressed byte of one member (a larger ratio is a bomb, not data).
    case archiveRatio = "max-archive-ratio"
    /// Layers of one encoding undone around a token (Base64 inside Base64, percent-encoding applied again).
    case decodeDepth = "max-decode-depth"
    /// Findings kept per file, archive member, git blob or message.
    case findingsPerFile = "max-findings-per-file"
    /// Largest file, in bytes, read whole to name the original source of its findings (a source map, a bundle's
    /// map, a notebook); findings in a larger one are reported without it.
    case sourceMapSize = "max-source-map-size"

    /// The command-line flag that sets it (`--max-archive-depth`).
    public var flag: String { "--" + self.rawValue }

    /// True when the value is a byte count (the flag takes `256M`, `2G`, …).
    public var isSize: Bool {
        switch self {
        case .archiveSize, .archiveMemberBytes, .archiveBytes, .sourceMapSize: return true
        default: return false
        }
    }

    /// True when reaching it leaves input unscanned (or findings unreported), so the scan is incomplete (exit 2
    /// unless leaks were found, whatever `--skip-unreadable` says). False for a limit that only shortens what is
    /// said about findings already reported (`sourceMapSize`).
    public var makesScanIncomplete: Bool { self != .sourceMapSize }

    /// The smallest and largest values the flag accepts.
    public var allowedRange: ClosedRange<Int> {
        switch self {
        case .archiveSize, .archiveMemberBytes, .archiveBytes, .sourceMapSize: return 0...(1 << 40)
        case .archiveDepth: return 0...16
        case .archiveMembers: return 0...100_000_000
        case .archiveRatio: return 1...1_000_000_000
        case .decodeDepth: return 0...ScanLimits.deepestDecoding
        case .findingsPerFile: return 1...100_000_000
        }
    }

    /// What was cut each time the limit was reached, for the summary line.
    var consequence: String {
        switch self {
        case .archiveSize: return "archive(s) over it scanned as plain bytes, their compressed members unread"
        case .archiveDepth: return "archive(s) nested deeper not opened"
        case .archiveMembers: return "archive(s) with more members not read to the end"
        case .archiveMemberBytes: return "member(s) inflated only up to it"
        case .archiveBytes: return "archive member(s) past the total not inflated"
        case .archiveRatio: return "member(s) inflated only up to the ratio"
        case .decodeDepth: return "encoded token prefix(es) under more layers not decoded"
        case .findingsPerFile: return "finding(s) past it not reported"
        case .sourceMapSize: return "file(s) with findings over it: original sources not looked up"
        }
    }

    /// The value as the user would write it: `3`, or `256 MiB` for sizes.
    func describe(_ value: Int) -> String {
        guard self.isSize else { return String(value) }
        return ScanLimits.formatSize(value)
    }
}

/// The value of every `ScanLimit` for one run. `ScanLimits()` holds the defaults (what `mptscan scan` uses);
/// the command line changes them (`--max-archive-depth 5`). Values only ever cap memory and time: a limit
/// reached is reported, never silent.
public struct ScanLimits: Sendable, Equatable {
    /// Archive limits (depth, members, bytes per member and per archive, ratio): `ArchiveLimits`.
    public var archive = ArchiveLimits()
    /// Largest archive read into memory to open, in bytes (files and git blobs).
    public var maxArchiveSize = 256 << 20
    /// Layers of one encoding undone, 0 to `deepestDecoding`.
    public var maxDecodeDepth = 3
    /// Findings kept per file, member, blob or message, at least 1.
    public var maxFindingsPerFile = 1000
    /// Largest file read whole to name its findings' original source, in bytes.
    public var maxSourceMapSize = 256 << 20
    /// Bytes of context shown on each side of a finding in its snippet (output only: a cut snippet says so
    /// with `…`, nothing is counted).
    public var snippetContext = 40

    /// The most encoding layers mptscan can undo (Base64 in Base64 in Base64, `%252569`); a token prefix
    /// under one layer more is still recognised, and reported as over `--max-decode-depth`.
    public static let deepestDecoding = 3
    /// Largest `snippetContext`: the context a streaming scan keeps after a token (`TokenDetector.lookAhead`)
    /// bounds it.
    public static let largestSnippetContext = 1024

    /// The defaults.
    public init() {}

    /// The value of `limit`.
    public subscript(limit: ScanLimit) -> Int {
        get {
            switch limit {
            case .archiveSize: return self.maxArchiveSize
            case .archiveDepth: return self.archive.maxDepth
            case .archiveMembers: return self.archive.maxMembers
            case .archiveMemberBytes: return self.archive.maxMemberBytes
            case .archiveBytes: return self.archive.maxTotalBytes
            case .archiveRatio: return self.archive.maxRatio
            case .decodeDepth: return self.maxDecodeDepth
            case .findingsPerFile: return self.maxFindingsPerFile
            case .sourceMapSize: return self.maxSourceMapSize
            }
        }
        set {
            switch limit {
            case .archiveSize: self.maxArchiveSize = newValue
            case .archiveDepth: self.archive.maxDepth = newValue
            case .archiveMembers: self.archive.maxMembers = newValue
            case .archiveMemberBytes: self.archive.maxMemberBytes = newValue
            case .archiveBytes: self.archive.maxTotalBytes = newValue
            case .archiveRatio: self.archive.maxRatio = newValue
            case .decodeDepth: self.maxDecodeDepth = newValue
            case .findingsPerFile: self.maxFindingsPerFile = newValue
            case .sourceMapSize: self.maxSourceMapSize = newValue
            }
        }
    }

    /// Parses a flag's value for `limit`: a whole number, and for sizes an optional unit (`K`, `M`, `G`, `T`,
    /// with or without `iB`/`B`: powers of 1024, so `256M` is 268,435,456 bytes).
    /// - Throws: `UsageError` naming the flag for a value that is not a number or outside `allowedRange`.
    public static func parse(_ text: String, for limit: ScanLimit) throws -> Int {
        let value: Int?
        if limit.isSize { value = Self.parseSize(text) } else { value = Int(text) }
        guard let value, limit.allowedRange.contains(value) else {
            let range = limit.allowedRange
            let bounds = limit.isSize ? "a size such as 512K, 256M or 2G (at most \(Self.formatSize(range.upperBound)))"
                : "a whole number from \(range.lowerBound) to \(range.upperBound)"
            throw UsageError("\(limit.flag) needs \(bounds), not '\(text)'")
        }
        return value
    }

    /// `128`, `64K`, `256M`, `2G`, `1T`, `2GiB`, `2GB` (all powers of 1024) → bytes; nil when malformed or over
    /// `Int.max`.
    static func parseSize(_ text: String) -> Int? {
        var digits = Substring(text.trimmingCharacters(in: .whitespaces))
        var multiplier = 1
        for (suffixes, shift) in [(["TiB", "TB", "T", "t"], 40), (["GiB", "GB", "G", "g"], 30), (["MiB", "MB", "M", "m"], 20),
                                  (["KiB", "KB", "K", "k"], 10), (["B"], 0)] {
            if let suffix = suffixes.first(where: { digits.hasSuffix($0) }) {
                digits = digits.dropLast(suffix.count)
                multiplier = 1 << shift
                break
            }
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), let n = Int(digits), n >= 0 else { return nil }
        let (product, overflow) = n.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : product
    }

    /// `268435456` → `256 MiB`; a size that is not a whole number of KiB is given in bytes.
    /// With `asFlagValue`, in the form a size flag takes instead (`64M`, `4194305`).
    static func formatSize(_ bytes: Int, asFlagValue: Bool = false) -> String {
        for (unit, shift) in [("T", 40), ("G", 30), ("M", 20), ("K", 10)] where bytes >= 1 << shift && bytes % (1 << shift) == 0 {
            return asFlagValue ? "\(bytes >> shift)\(unit)" : "\(bytes >> shift) \(unit)iB"
        }
        return asFlagValue ? String(bytes) : "\(bytes) bytes"
    }
}

/// A problem met while scanning one stream of bytes that leaves part of it unscanned (a limit reached, a corrupt
/// or encrypted archive member), reported against the file (or blob) it belongs to. Never file content.
public struct ContentIssue: Sendable, Equatable {
    /// What went wrong, where inside the content (an archive member's name).
    public var message: String
    /// The limit that was reached, or nil for damage (a truncated archive, an unsupported method).
    public var limit: ScanLimit?
    /// How many places the limit cut (encoded prefixes left undecoded); 1 for a member, an archive, a file.
    public var count: Int

    /// An issue saying `message`, reached through `limit` (nil for damage) `count` times.
    public init(_ message: String, limit: ScanLimit? = nil, count: Int = 1) {
        self.message = message
        self.limit = limit
        self.count = count
    }
}

/// How often each limit was reached in a scan, with the value it had. Deterministic: no timings, no order
/// but `ScanLimit.allCases`.
public struct LimitCounts: Sendable, Equatable {
    /// Times each limit was reached.
    public private(set) var counts: [ScanLimit: Int] = [:]
    /// The limits in force (for the summary's "raise it" advice).
    public var limits = ScanLimits()

    /// No limit reached yet, with the default limits.
    public init() {}

    /// Counts one time `limit` was reached.
    public mutating func add(_ limit: ScanLimit, count: Int = 1) {
        self.counts[limit, default: 0] += count
    }

    /// Adds another scan's counts (a parallel stream's, a submodule's); keeps this one's `limits`.
    public mutating func add(_ other: LimitCounts) {
        for (limit, n) in other.counts { self.counts[limit, default: 0] += n }
    }

    /// The limits reached, in `ScanLimit.allCases` order, with their counts.
    public var reached: [(limit: ScanLimit, count: Int)] {
        ScanLimit.allCases.compactMap { limit in self.counts[limit].map { (limit, $0) } }
    }

    /// True when a limit that leaves input unscanned was reached.
    public var makesScanIncomplete: Bool { self.counts.keys.contains(where: \.makesScanIncomplete) }

    /// True when nothing was reached.
    public var isEmpty: Bool { self.counts.isEmpty }

    /// One line per limit reached, for the summary: which, its value, how often, what it cut and the flag
    /// that raises it, e.g. `limit --max-archive-depth 3 reached 2 times: archive(s) nested deeper not opened;
    /// raise it with --max-archive-depth <n>`.
    public var lines: [String] {
        self.reached.map { limit, count in
            let value = limit.describe(self.limits[limit])
            let times = count == 1 ? "once" : "\(count) times"
            var advice = "raise it with \(limit.flag) \(limit.isSize ? "<size>" : "<n>")"
            if limit == .decodeDepth {
                advice = self.limits.maxDecodeDepth >= ScanLimits.deepestDecoding
                    ? "mptscan undoes at most \(ScanLimits.deepestDecoding) layers: decode the content first"
                    : "raise it with \(limit.flag) <n> (at most \(ScanLimits.deepestDecoding))"
            }
            return "limit \(limit.flag) \(value) reached \(times): \(limit.consequence); \(advice)"
        }
    }
}
