import Foundation

/// Loading rule files from a directory (for `rules check <dir>` and the drift test).
public enum RuleFiles {
    /// Every `*.json` file of `directory`, in name order, decoded.
    /// - Throws: `RuleLoadError` naming the file, for unreadable or invalid files.
    public static func load(directory: String) throws -> [Rule] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue,
              let listed = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
            throw RuleLoadError(file: directory, message: "not a readable directory")
        }
        let names = listed.filter { $0.hasSuffix(".json") }.sorted()
        return try names.map { name in
            let path = (directory as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw RuleLoadError(file: name, message: "cannot read")
            }
            return try Rule.decode(data, file: name)
        }
    }
}
