import Foundation

/// Scans exactly what the next commit will hold: the blobs in the index that differ from HEAD (every staged
/// blob when there is no commit yet), read from the index, not the work tree. A token counts only when the HEAD
/// version of the same file (the source of a rename or copy) did not already hold it, so removing a token or
/// editing next to one that is already committed reports nothing. Honours `GIT_INDEX_FILE`, which git sets for
/// hooks of `git commit -a` and `git commit <path>`.
///
/// Git calls: `rev-parse` (three, by `GitRepository.open`), `diff-index --cached`, one `cat-file --batch`, and
/// one more only when a changed file holds a hit.
public final class StagedScanner {
    private let detector: TokenDetector
    private let excludes: [PathGlob]
    private let content: ContentScanner

    /// Caps on what is derived from the staged blobs (archives, decoding, findings per blob).
    public let limits: ScanLimits

    /// A scanner matching with `detector`, leaving out paths that match `excludes`, within `limits`.
    public init(detector: TokenDetector, excludes: [PathGlob] = [], limits: ScanLimits = ScanLimits()) {
        self.detector = detector
        self.excludes = excludes
        self.limits = limits
        self.content = ContentScanner(detector: detector, limits: limits)
    }

    /// - Parameters:
    ///   - repository: a directory inside the work tree.
    ///   - named: true when the user named it (`GIT_DIR`, `GIT_INDEX_FILE` and the like are then ignored);
    ///     false in a hook, where git's variables say which repository and index the commit uses.
    /// - Throws: `GitError` when it is not a work tree of a repository or git fails.
    public func run(repository path: String, named: Bool = false, isCancelled: @escaping @Sendable () -> Bool = { false }) throws -> ScanReport {
        let repository = try GitRepository.open(path, named: named)
        guard let top = repository.workTree else {
            throw GitError("\(path) is a bare repository: there is no index to scan (use `mptscan history`)")
        }
        var git = repository.git
        git.directory = top
        let base = repository.head ?? (repository.idLength == 64
            ? "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321"  // the empty tree, SHA-256
            : "4b825dc642cb6eb9a060e54bf8d69288fbee4904") // the empty tree, SHA-1
        let args = ["diff-index", "--cached", "--raw", "-z", "--no-abbrev", "-M", "--no-ext-diff", "--no-textconv",
                    "--ignore-submodules=all", base, "--"]
        let listing = try git.run(args).output
        let changes = try RawChange.list(listing).filter { change in
            change.hasScannableBlob && !change.status.hasPrefix("U")
                && !self.excludes.contains(where: { $0.matchesFileOrParent(HistoryScanner.display(change.path)) })
        }
        var summary = ScanSummary.git
        summary.limitsReached.limits = self.limits
        guard !changes.isEmpty else { return ScanReport(findings: [], summary: summary) }

        var hits: [ObjectID: [Finding]] = [:]
        let blobs = Array(Set(changes.map(\.newBlob))).sorted()
        try CatFileBatch(git: git, ids: blobs).forEach(isCancelled: isCancelled, missing: { id in
            summary.unreadable.append(ScanIssue(path: "object \(id)", message: "staged blob missing from the repository"))
        }) { id, _, content in
            let result = self.content.scan(content)
            summary.countBlob(result, id: id)
            if !result.findings.isEmpty { hits[id] = result.findings }
        }
        if isCancelled() { summary.interrupted = true }

        // the HEAD versions of files that hit: tokens already there are not new
        let old = Set(changes.filter { hits[$0.newBlob] != nil }.flatMap(\.oldBlobs).filter { !$0.isZero })
        var before: [ObjectID: Set<String>] = [:]
        if !old.isEmpty {
            try CatFileBatch(git: git, ids: old.sorted()).forEach(isCancelled: isCancelled, missing: { _ in }) { id, _, content in
                before[id] = Set(self.content.scan(content).findings.filter { !$0.isSuppressed }.map(\.tokenKey))
            }
        }
        var findings: [Finding] = []
        for change in changes.sorted(by: { $0.path.lexicographicallyPrecedes($1.path) }) {
            let known = change.oldBlobs.reduce(into: Set<String>()) { $0.formUnion(before[$1] ?? []) }
            for var f in hits[change.newBlob] ?? [] where !known.contains(f.tokenKey) {
                f.path = HistoryScanner.display(change.path) + f.path
                f.git = GitProvenance(source: .staged, object: change.newBlob.description)
                findings.append(f)
            }
        }
        return ScanReport(findings: findings, summary: summary)
    }
}
