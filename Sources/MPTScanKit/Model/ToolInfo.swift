import Foundation

/// Name and version of this tool, as written into reports and printed by `--version`.
public enum ToolInfo {
    public static let name = "mptscan"
    /// Semantic version; CHANGELOG.md records what each version holds.
    public static let version = "0.1.0"
    /// Where the tool is documented (SARIF `tool.driver.informationUri`). The repository's public address is
    /// not settled yet: change it here, in one place, when it is.
    public static let informationURI = "https://github.com/softwareone-platform/mptscan"

    /// `SOURCE_DATE_EPOCH` (seconds since 1970-01-01T00:00:00Z, reproducible-builds.org), when set: the "now" of
    /// reproducible outputs (report times, JWT expiry).
    public static let sourceDateEpoch: Int? = ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"].flatMap { Int($0) }
}
