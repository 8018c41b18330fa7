/// The `--max-…` options: one per `ScanLimit`, and `--snippet-context`, declared once for every scanning
/// command (`scan`, `history`, `staged`, `pre-push`, `sweep`). Defaults come from `ScanLimits()`, so help and
/// behaviour cannot drift. Command line only: a configuration file inside a scanned repository must not be
/// able to raise a cap meant to stop a bomb in the same repository.
extension MPTScan {
    static let limitOptions: [OptionSpec] = ScanLimit.allCases.map { limit in
        OptionSpec(long: limit.rawValue, valueName: limit.isSize ? "size" : "n", help: "\(limit.help) (default: \(Self.defaultText(limit)))")
    } + [
        OptionSpec(long: "snippet-context", valueName: "n", help: "Bytes of context shown on each side of a finding, 0 to \(ScanLimits.largestSnippetContext). (default: \(ScanLimits().snippetContext))"),
    ]

    static let limitsDiscussion = """
        LIMITS:
          Plain files have no size limit: they are streamed. What is derived from them is capped: archives
          opened in memory, nesting, inflated bytes, encoding layers, findings per file. A limit reached is
          reported (each path once, then a summary line naming the flag that raises it), and the scan is
          incomplete: exit 2 unless leaks were found (--skip-unreadable does not accept it). Only
          --max-source-map-size and --snippet-context shorten what is said about a finding without making the
          scan incomplete. Sizes take K, M, G or T (powers of 1024).
        """

    /// The default of `limit` as a flag value: `3`, `256M`, `2G`.
    static func defaultText(_ limit: ScanLimit) -> String {
        let value = ScanLimits()[limit]
        return limit.isSize ? ScanLimits.formatSize(value, asFlagValue: true) : String(value)
    }

    /// The limits the command line sets (the defaults for the rest).
    /// - Throws: `UsageError` (exit 64) for a value that is not a number, not a size, or out of range.
    static func scanLimits(_ parsed: ParsedArguments) throws -> ScanLimits {
        var limits = ScanLimits()
        for limit in ScanLimit.allCases {
            if let text = parsed.value(limit.rawValue) { limits[limit] = try ScanLimits.parse(text, for: limit) }
        }
        if let text = parsed.value("snippet-context") {
            guard let n = Int(text), (0...ScanLimits.largestSnippetContext).contains(n) else {
                throw UsageError("--snippet-context needs a whole number from 0 to \(ScanLimits.largestSnippetContext), not '\(text)'")
            }
            limits.snippetContext = n
        }
        return limits
    }
}

extension ScanLimit {
    /// One line of help for its flag (without the default).
    var help: String {
        switch self {
        case .archiveSize: return "Largest archive opened in memory; a larger one is scanned as plain bytes."
        case .archiveDepth: return "Archives opened inside archives, the outermost counting as 1; 0 opens none."
        case .archiveMembers: return "Members read per archive."
        case .archiveMemberBytes: return "Bytes one archive member may inflate to."
        case .archiveBytes: return "Bytes all members of one archive may inflate to, together."
        case .archiveRatio: return "Inflated bytes per compressed byte of a member (a larger ratio is a bomb)."
        case .decodeDepth: return "Layers of Base64 or escaping undone around a token, 0 to \(ScanLimits.deepestDecoding)."
        case .findingsPerFile: return "Findings reported per file, archive member or blob; the rest are counted."
        case .sourceMapSize: return "Largest file read whole to name its findings' original source (source maps)."
        }
    }
}
