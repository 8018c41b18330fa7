/// Name and version of this tool, as written into reports and printed by `--version`.
public enum ToolInfo {
    public static let name = "mptscan"
    /// Semantic version; CHANGELOG.md records what each version holds.
    public static let version = "0.1.0"
}
