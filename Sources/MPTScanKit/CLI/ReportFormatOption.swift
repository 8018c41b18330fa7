import Foundation

// The `--format` and `--report FORMAT:PATH` wiring of the reporters in Reporters/.
extension MPTScan {
    /// The names `--format` accepts, for help text: `text, json, jsonl, sarif, junit, gitlab or github`.
    static var reportFormatNames: String {
        let names = ReportFormat.allCases.map(\.rawValue)
        return names.dropLast().joined(separator: ", ") + " or " + names.last!
    }

    /// `--format`, checked against `ReportFormat` (default `text`).
    /// - Throws: `UsageError` for an unknown format (exit 64).
    static func reportFormat(_ parsed: ParsedArguments) throws -> String {
        let format = parsed.value("format") ?? "text"
        guard ReportFormat(rawValue: format) != nil else { throw UsageError("Unknown format '\(format)' (expected \(reportFormatNames))") }
        return format
    }

    /// The reporter for a non-text `format`. Times: both from `SOURCE_DATE_EPOCH` (seconds since 1970, UTC) when
    /// it is set, so reports are reproducible; otherwise only the GitLab report (whose schema requires them) gets
    /// the clock's, every other format none.
    static func reportFormatReporter(_ format: String, showSecrets: Bool, policy: FailPolicy, acceptUnreadable: Bool,
                                     seconds: Double?, uriBase: String? = nil) -> any Reporter {
        let kind = ReportFormat(rawValue: format) ?? .json
        var options = ReportOptions(showSecrets: showSecrets, rules: BuiltinRules.all, policy: policy, acceptUnreadable: acceptUnreadable)
        options.uriBase = uriBase
        if let epoch = ToolInfo.sourceDateEpoch {
            options.startTime = Date(timeIntervalSince1970: TimeInterval(epoch))
            options.endTime = options.startTime
        } else if kind == .gitlab {
            let end = Date()
            options.endTime = end
            options.startTime = end.addingTimeInterval(-(seconds ?? 0))
        }
        return kind.reporter(options)
    }
}
