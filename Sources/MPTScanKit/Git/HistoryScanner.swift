import Foundation

/// What a history scan covers.
public struct HistoryOptions: Sendable {
    /// A directory inside the repository (or its git directory).
    public var repository = "."
    /// True when the user named `repository`: `GIT_DIR` and the other repository variables are then ignored.
    public var repositoryNamed = true
    /// Also scan objects no ref reaches (dangling blobs, dropped stashes, rewritten commits).
    public var allObjects = false
    /// Revision arguments for a range scan (`A..B`, or `B ^A`): only what those commits introduce is scanned.
    /// Nil scans the whole history reachable from every ref.
    public var revisions: [String]? = nil
    /// Also scan the history of every submodule: those in HEAD's `.gitmodules` (their git directory found
    /// through the work tree's `.git` file or folder, or under `modules/`), and any other git directory under
    /// the git directory's `modules/` (a submodule removed since).
    public var recurseSubmodules = false
    /// `repository` is a git directory to be read without its work tree (set for submodules).
    var gitDirectoryOnly = false
    /// Objects a push sends that are not commits (annotated tags): their messages, and the tags and blobs
    /// they point at, are scanned with the range.
    public var pushedObjects: [ObjectID] = []
    /// Leave out findings at paths matching these globs.
    public var excludes: [PathGlob] = []
    /// Also scan commit and annotated tag messages.
    public var scanMessages = true
    /// Caps on what is derived from blobs (archives in them, decoding, findings per blob or message).
    public var limits = ScanLimits()
    /// Threads reading and scanning objects (or parallel `git cat-file` streams) for a full-history scan.
    public var jobs = max(1, ProcessInfo.processInfo.activeProcessorCount)
    /// A stream is added for each this many objects, up to `jobs` (small repositories use one).
    public var objectsPerJob = 1000
    /// Objects an earlier full-history scan of this repository covered (its `HistoryScanner.scannedObjects`),
    /// for an incremental scan: known blobs are left out of the object stream (never read), known commits and
    /// tags are read for the commit graph but their messages are not scanned again. A token is then reported
    /// only when the blob its finding is attributed to is new; attribution stays that of a full scan, because
    /// the known blobs at the paths where a new blob hits are read again to learn what they held (so an edit
    /// next to an old token does not report it again). A known blob that appears at a new path (a copy or a
    /// rename of an old file) is not reported there. Full-history scans only; ignored for ranges and
    /// submodules.
    public var knownObjects: Set<ObjectID> = []
    /// Read a full history's objects through `git cat-file` even when the pack reader could (tests, comparisons;
    /// the environment variable `MPTSCAN_GIT_OBJECTS=cat-file` does the same).
    var objectsThroughGit = false
    /// Memory limits of the pack reader (tests lower them to exercise what is left to git).
    var packLimits = ObjectStore.Limits()
    public init() {}
}

/// Scans what a git repository holds: every distinct blob once, every commit and annotated tag message, and
/// attributes each hit to the commit that introduced it.
///
/// Full history: blobs, commits and tags are read from the pack and loose files on `jobs` threads
/// (`ObjectStore`; what it leaves over through `git cat-file --batch`), or, when it refuses the object store or
/// `MPTSCAN_GIT_OBJECTS=cat-file` is set, listed with `git cat-file --batch-all-objects --unordered` and streamed
/// through `jobs` parallel `git cat-file --batch` processes; only when a blob holds a hit does
/// `git log --all --raw --diff-merges=first-parent` (no patches) say which commits hold it at which path. Ranges: `git log --raw -c`
/// over the range lists the blobs the commits introduce; a token counts as introduced at a path when none of
/// the commit's parents held it at that path.
public final class HistoryScanner {
    /// What the scan covers.
    public let options: HistoryOptions
    let detector: TokenDetector
    /// Every anchor a blob is searched for (shared by the scanners of one run's threads).
    let anchorSearch: CombinedAnchors
    private let content: ContentScanner
    /// After a complete full-history `run`: the blobs, commits and annotated tags it covered (read, or known
    /// from `HistoryOptions.knownObjects`), sorted, to give as `knownObjects` to the next scan. Hit objects no
    /// ref reaches (left out of the report without `allObjects`) are not included, so they are reported once a
    /// ref reaches them. Empty after a range scan, an interrupted scan or a failure; trees are never listed.
    public private(set) var scannedObjects: [ObjectID] = []
    /// How the last full-history scan read its objects (nil before one ran).
    var objectSource: ObjectSource? = nil

    /// A scanner for `options`, matching with `detector` (its rules).
    public convenience init(detector: TokenDetector, options: HistoryOptions) {
        self.init(anchorSearch: CombinedAnchors(detector: detector, depth: options.limits.maxDecodeDepth), options: options)
    }

    /// A scanner sharing `anchorSearch` (its detector and its pivot cover, made once for all of a scan's threads),
    /// made afresh when `options` asks for another decode depth.
    init(anchorSearch: CombinedAnchors, options: HistoryOptions) {
        let depth = min(max(0, options.limits.maxDecodeDepth), ScanLimits.deepestDecoding)
        self.anchorSearch = anchorSearch.depth == depth ? anchorSearch : CombinedAnchors(detector: anchorSearch.detector, depth: depth)
        self.detector = anchorSearch.detector
        self.options = options
        self.content = ContentScanner(anchorSearch: self.anchorSearch, limits: options.limits)
    }

    /// Runs the scan.
    /// - Throws: `GitError` for anything that makes the answer incomplete: not a repository, a shallow clone
    ///   (full history only), an unknown revision, git failing or a missing object.
    public func run(isCancelled: @escaping @Sendable () -> Bool = { false }) throws -> ScanReport {
        let repository = try GitRepository.open(self.options.repository, named: self.options.repositoryNamed,
                                                gitDirectoryOnly: self.options.gitDirectoryOnly)
        if let revisions = self.options.revisions {
            var report = try RangeScan(repository: repository, scanner: self, revisions: revisions, isCancelled: isCancelled).run()
            report.summary.limitsReached.limits = self.options.limits
            return report
        }
        if repository.isShallow { throw GitError(repository.shallowMessage()) }
        self.scannedObjects = []
        let scan = FullHistoryScan(repository: repository, scanner: self, isCancelled: isCancelled)
        defer { self.objectSource = scan.objectSource }
        var report = try scan.run()
        if !report.summary.interrupted { self.scannedObjects = scan.covered }
        if self.options.recurseSubmodules && !report.summary.interrupted {
            try self.scanSubmodules(of: repository, into: &report, isCancelled: isCancelled)
        }
        report.summary.limitsReached.limits = self.options.limits
        return report
    }

    /// Scans each submodule repository under `modules/` (nested ones through their own `modules/`) and adds
    /// its findings with paths prefixed by the submodule's path (from HEAD's `.gitmodules`, read as data with
    /// `git config --blob`; the module's name when HEAD does not say).
    /// - Throws: `GitError` naming the submodule when its scan fails.
    func scanSubmodules(of repository: GitRepository, into report: inout ScanReport, isCancelled: @escaping @Sendable () -> Bool) throws {
        let git = repository.git
        let fm = FileManager.default
        func isGitDirectory(_ dir: String) -> Bool { fm.fileExists(atPath: dir + "/HEAD") && fm.fileExists(atPath: dir + "/objects") }
        let modules = Git.lines(try git.run(["rev-parse", "--path-format=absolute", "--git-path", "modules"]).output).first ?? ""
        // submodules HEAD declares: name → path (`.gitmodules` read as data with `git config --blob`)
        var declared: [(name: String, path: String)] = []
        if repository.head != nil,
           let listing = try? git.run(["config", "--blob", "HEAD:.gitmodules", "--get-regexp", "^submodule\\..*\\.path$"], allowFailure: [1, 128]) {
            for line in Git.lines(listing.output) {
                let parts = line.split(separator: " ", maxSplits: 1)
                guard parts.count == 2, parts[0].hasPrefix("submodule."), parts[0].hasSuffix(".path") else { continue }
                declared.append((String(parts[0].dropFirst(10).dropLast(5)), String(parts[1])))
            }
        }
        var found: [(name: String, dir: String)] = []
        var seen = Set<String>()
        func add(_ prefix: String, _ dir: String) {
            let real = (dir as NSString).resolvingSymlinksInPath
            if seen.insert(real).inserted { found.append((prefix, real)) }
        }
        for (name, path) in declared {
            // the work tree's `.git`: a folder (a repository cloned in place) or a `gitdir:` file
            var dir: String? = nil
            if let top = repository.workTree {
                let dotGit = top + "/" + path + "/.git"
                var isDirectory: ObjCBool = false
                if fm.fileExists(atPath: dotGit, isDirectory: &isDirectory) {
                    if isDirectory.boolValue {
                        dir = dotGit
                    } else if let text = try? String(contentsOfFile: dotGit, encoding: .utf8), text.hasPrefix("gitdir:") {
                        let target = text.dropFirst(7).trimmingCharacters(in: .whitespacesAndNewlines)
                        dir = target.hasPrefix("/") ? target : (top + "/" + path + "/" + target)
                    }
                }
            }
            if dir == nil || !isGitDirectory(dir!) { dir = isGitDirectory(modules + "/" + name) ? modules + "/" + name : nil }
            guard let dir else {
                report.summary.unreadable.append(ScanIssue(path: path, message: "submodule '\(name)' is not initialised, so its history is not here (run `git submodule update --init --recursive`)"))
                continue
            }
            add(path, dir)
        }
        // git directories left under modules/ by submodules removed since (a name may hold slashes)
        var stack = ((try? fm.contentsOfDirectory(atPath: modules)) ?? []).sorted().map { ($0, modules + "/" + $0) }
        while let (name, dir) = stack.popLast() {
            if isGitDirectory(dir) {
                add(name, dir)
            } else if let children = try? fm.contentsOfDirectory(atPath: dir) {
                stack += children.sorted().map { (name + "/" + $0, dir + "/" + $0) }
            }
        }
        for (name, dir) in found.sorted(by: { $0.name < $1.name }) {
            let prefix = name
            var options = self.options
            options.repository = dir
            options.repositoryNamed = true
            options.gitDirectoryOnly = true
            options.excludes = []
            options.knownObjects = []
            let sub: ScanReport
            do {
                sub = try HistoryScanner(anchorSearch: self.anchorSearch, options: options).run(isCancelled: isCancelled)
            } catch {
                throw GitError("submodule \(prefix): \(error)")
            }
            for var f in sub.findings {
                if f.git?.source == .blob, !f.path.hasPrefix("(") { f.path = prefix + "/" + f.path }
                let inner = f.git?.submodule
                f.git?.submodule = inner.map { prefix + "/" + $0 } ?? prefix
                if self.isExcluded(f.path) { continue }
                report.findings.append(f)
            }
            var counts = sub.summary
            counts.unreadable = sub.summary.unreadable.map { ScanIssue(path: prefix + "/" + $0.path, message: $0.message, limit: $0.limit) }
            report.summary.addCounts(of: counts)
        }
    }

    // MARK: - Shared pieces

    /// Scans one object's content; findings carry `path` "" until attribution names one.
    func scan(_ content: CatFileBatch.Content) -> ContentScanResult { self.content.scan(content) }

    /// Scans a message (the part of a commit or tag object after its header); what a limit left out goes to
    /// `summary`.
    func scanMessage(_ object: UnsafeBufferPointer<UInt8>, from start: Int, path: String, summary: inout ScanSummary) -> [Finding] {
        let message = UnsafeBufferPointer(rebasing: object[start...])
        let result = self.content.scan(buffer: message, path: { path })
        summary.countIssues(result, path: path)
        return result.findings
    }

    func isExcluded(_ path: String) -> Bool {
        self.options.excludes.contains { $0.matchesFileOrParent(path) }
    }

    /// Author name, email and date of `commits`, read in one `git cat-file --batch`.
    static func authors(of commits: Set<ObjectID>, git: Git, isCancelled: () -> Bool) throws -> [ObjectID: CommitHeader] {
        var out: [ObjectID: CommitHeader] = [:]
        try CatFileBatch(git: git, ids: commits.sorted()).forEach(isCancelled: isCancelled, missing: { _ in }) { id, kind, content in
            if kind == .commit, case .whole(let bytes) = content { out[id] = CommitHeader(bytes) }
        }
        return out
    }

    static func stamp(_ finding: inout Finding, commit: ObjectID?, headers: [ObjectID: CommitHeader]) {
        guard let commit else { return }
        finding.git?.commit = commit.description
        if let h = headers[commit] {
            finding.git?.authorName = h.authorName
            finding.git?.authorEmail = h.authorEmail
            finding.git?.authorDate = h.authorDate
        }
    }

    static func messagePath(commit: ObjectID) -> String { "(commit \(commit.description.prefix(12)) message)" }
    static func tagPath(_ name: String) -> String { "(tag \(name) message)" }
    static func display(_ path: [UInt8]) -> String { String(decoding: path, as: UTF8.self) }
}

/// How a full-history scan read its objects.
enum ObjectSource: Equatable, CustomStringConvertible {
    /// From the pack and loose files in process (`ObjectStore`): how many packs and loose objects, and how many
    /// objects it left to `git cat-file`.
    case packs(packs: Int, loose: Int, leftToGit: Int)
    /// Listed and streamed through `git cat-file`, and why.
    case catFile(reason: String)

    var description: String {
        switch self {
        case .packs(let packs, let loose, let left): return "\(packs) packs and \(loose) loose objects read directly, \(left) objects through git cat-file"
        case .catFile(let reason): return "git cat-file (\(reason))"
        }
    }
}

/// A token at a path: the unit a history finding is reported for.
struct TokenAtPath: Hashable {
    var rule: String
    var token: String
    var path: [UInt8]
}

// MARK: - Full history

private final class FullHistoryScan: @unchecked Sendable {
    let repository: GitRepository
    let scanner: HistoryScanner
    let isCancelled: @Sendable () -> Bool
    var summary = ScanSummary.git
    /// Everything the object streams produced, merged.
    let objects = Partial()
    /// Hit blobs reached from a ref without a commit (a tag on a blob, or on a tree: then with their path).
    var refBlobs: [ObjectID: [(path: String, ref: String)]] = [:]
    /// Started by the first stream that finds a hit (not with `--all-objects`, which must first learn which
    /// commits no ref reaches).
    var attributionLog: AttributionLog? = nil
    /// Every blob, commit and tag the object listing named (known ones included), in listing order.
    var listed: [ObjectID] = []
    /// Hit objects left out of the report because no ref reaches them (without `--all-objects`).
    var leftOut = Set<ObjectID>()
    /// After `run`: `listed` without `leftOut`, sorted (`HistoryScanner.scannedObjects`).
    var covered: [ObjectID] = []
    /// How the objects were read (tests and measurements).
    var objectSource = ObjectSource.catFile(reason: "not read yet")
    private let lock = NSLock()

    init(repository: GitRepository, scanner: HistoryScanner, isCancelled: @escaping @Sendable () -> Bool) {
        self.repository = repository
        self.scanner = scanner
        self.isCancelled = isCancelled
    }

    /// What a stream of objects produced; streams are merged by object id (`absorb`), so the result does not
    /// depend on how the objects were split.
    final class Partial: @unchecked Sendable {
        var summary = ScanSummary.git
        /// Findings per blob that holds a hit (paths not yet known).
        var hits: [ObjectID: [Finding]] = [:]
        var parents: [ObjectID: [ObjectID]] = [:]
        var committerTime: [ObjectID: Int64] = [:]
        var messageFindings: [(ObjectID, [Finding])] = []
        var tagFindings: [(ObjectID, [Finding])] = []
        /// Annotated tag → the object it points at.
        var tagTargets: [ObjectID: (ObjectID, ObjectKind?)] = [:]
        var missing = 0
        var error: Error? = nil
        /// Objects the pack reader left to git without knowing their kind: those git reads as blobs, commits or
        /// tags go to `listed`.
        var unlisted: Set<ObjectID> = []
        /// Blobs, commits and tags of `unlisted`.
        var listed: [ObjectID] = []

        /// Adds what `other` produced.
        func absorb(_ other: Partial) {
            self.hits.merge(other.hits) { a, _ in a }
            self.parents.merge(other.parents) { a, _ in a }
            self.committerTime.merge(other.committerTime) { a, _ in a }
            self.messageFindings += other.messageFindings
            self.tagFindings += other.tagFindings
            self.tagTargets.merge(other.tagTargets) { a, _ in a }
            self.summary.addCounts(of: other.summary)
            self.missing += other.missing
        }
    }

    func run() throws -> ScanReport {
        let git = self.repository.git
        defer { self.attributionLog?.cancel() }
        // a partial clone: git 2.39 marks it with remote.<name>.promisor (older and newer ones also with
        // extensions.partialClone); its missing objects would be fetched on demand, so most of history is absent
        if let partial = try? git.run(["config", "--get-regexp", "^(extensions\\.partialclone|remote\\..*\\.promisor)$"], allowFailure: [1]),
           partial.status == 0, Git.lines(partial.output).contains(where: { !$0.hasSuffix(" false") }) {
            throw GitError("history incomplete: this is a partial clone (objects are fetched from a promisor remote on demand, so much of history is not here); clone without --filter to scan all of it, or scan a range with --range A..B")
        }
        // 1-2. every blob, commit and annotated tag once: read from the pack and loose files in this process, or
        //      listed and streamed through `git cat-file` (MPTSCAN_GIT_OBJECTS=cat-file, or a store not read here)
        try self.readObjects()
        // issues (archive blobs) in object id order, whatever the order objects were read in
        self.objects.summary.unreadable.sort { ($0.path, $0.message) < ($1.path, $1.message) }
        self.summary.addCounts(of: self.objects.summary)
        let missing = self.objects.missing
        if self.isCancelled() { self.summary.interrupted = true }
        if missing > 0 {
            throw GitError("\(missing) object\(missing == 1 ? "" : "s") listed by git could not be read (a corrupt or partial clone): the history scan is incomplete")
        }

        // 3. refs and what they reach; every commit they reach must have been read
        let refs = try self.refTips()
        let graph = CommitGraph(parents: self.objects.parents, committerTime: self.objects.committerTime)
        let reachable = graph.reachable(from: refs.map(\.commit))
        let absent = Set(refs.filter { $0.kind == .commit && self.objects.parents[$0.commit] == nil }.map(\.commit))
            .union(reachable.lazy.flatMap { self.objects.parents[$0] ?? [] }.filter { self.objects.parents[$0] == nil })
        if !absent.isEmpty && !self.summary.interrupted {
            throw GitError("\(absent.count) commit\(absent.count == 1 ? "" : "s") that refs reach cannot be read (e.g. \(absent.first!)): the repository is corrupt or incomplete (`git fsck` says more); the history scan is incomplete")
        }
        try self.resolveRefObjects(refs)
        var findings: [Finding] = []
        if !self.objects.hits.isEmpty && !self.summary.interrupted {
            findings += try self.attributeBlobs(graph: graph, reachable: reachable, refs: refs)
        }
        findings += try self.messages(graph: graph, reachable: reachable, refs: refs)
        if !self.summary.interrupted {
            self.covered = (self.leftOut.isEmpty ? self.listed : self.listed.filter { !self.leftOut.contains($0) }).sorted()
        }
        return ScanReport(findings: findings, summary: self.summary)
    }

    /// How the objects of a full-history scan are read: `MPTSCAN_GIT_OBJECTS=cat-file` in the environment forces
    /// the listing and `git cat-file --batch` streams; otherwise (or with `packs`) the pack and loose files are read
    /// in process, falling back to `cat-file` when the object store is not one this reader handles.
    static let objectsVariable = "MPTSCAN_GIT_OBJECTS"

    /// Reads every blob, commit and tag into `objects` and `listed`, from the object store directly or
    /// through git (see `objectsVariable`); records which in `objectSource`.
    func readObjects() throws {
        let known = self.scanner.options.knownObjects
        if ProcessInfo.processInfo.environment[Self.objectsVariable] == "cat-file" || self.scanner.options.objectsThroughGit {
            self.objectSource = .catFile(reason: "\(Self.objectsVariable)=cat-file")
            return try self.streamListed()
        }
        let store: ObjectStore
        do {
            store = try ObjectStore.open(repository: self.repository, known: known, limits: self.scanner.options.packLimits)
        } catch {
            self.objectSource = .catFile(reason: "\(error)")
            return try self.streamListed()
        }
        try self.readPacked(store)
    }

    /// Reads the objects from `store` on `jobs` threads, each scanning with a content scanner of its own into a
    /// `Partial` of its own, then what the store left to git through `git cat-file --batch`.
    func readPacked(_ store: ObjectStore) throws {
        let options = self.scanner.options
        let jobs = max(1, min(options.jobs, store.objectCount / options.objectsPerJob + 1))
        let scanners = (0..<jobs).map { _ in HistoryScanner(anchorSearch: self.scanner.anchorSearch, options: options) }
        let partials = (0..<jobs).map { _ in Partial() }
        let outcome = store.forEach(threads: jobs, isCancelled: self.isCancelled) { thread, id, kind, content in
            self.handle(id, kind, content, scanner: scanners[thread], into: partials[thread])
        }
        self.listed = store.listed + outcome.listedLoose
        for p in partials { self.objects.absorb(p) }
        self.objects.missing += outcome.unreadableLoose // a FIFO named like an object: read by no one
        let leftToGit = outcome.leftToGit.sorted()
        self.objectSource = .packs(packs: store.packs.count, loose: store.loose.count, leftToGit: leftToGit.count)
        if !leftToGit.isEmpty && !self.isCancelled() {
            let p = Partial()
            p.unlisted = outcome.unlisted
            try self.stream(leftToGit, into: p)
            self.objects.absorb(p)
            self.listed += p.listed
        }
    }

    /// Lists every object with `git cat-file --batch-all-objects --unordered` (pack order) and streams blobs,
    /// commits and tags through `jobs` `git cat-file --batch` processes, each a contiguous run of the pack order
    /// (so each git keeps its delta bases cached) of about equal bytes.
    func streamListed() throws {
        let git = self.repository.git
        // 1. every object in the repository, in pack order (fast), trees left out
        var ids: [ObjectID] = []
        var sizes: [Int] = []
        let lister = try git.start(["cat-file", "--batch-all-objects", "--unordered", "--batch-check=%(objectname) %(objecttype) %(objectsize)"])
        let list = ByteStream(fd: lister.stdoutFD)
        while let line = list.next(until: 10) {
            let parts = line.split(separator: 32)
            guard parts.count == 3, let id = ObjectID(hex: parts[0]), let size = Int(String(decoding: parts[2], as: UTF8.self)) else {
                lister.terminate()
                throw GitError("git cat-file --batch-all-objects: cannot read object '\(Redaction.quote(String(decoding: line.prefix(4096), as: UTF8.self), limit: 100))' (a corrupt repository): the history scan is incomplete")
            }
            if parts[1].elementsEqual("tree".utf8) { continue }
            self.listed.append(id)
            // an incremental scan reads no known blob (commits and tags are still read for the graph)
            if parts[1].elementsEqual("blob".utf8) && self.scanner.options.knownObjects.contains(id) { continue }
            ids.append(id)
            sizes.append(size)
        }
        if let error = list.error { throw GitError("reading git cat-file output failed: \(String(cString: strerror(error)))") }
        guard lister.wait().succeeded else { throw git.failure(["cat-file", "--batch-all-objects"], lister) }

        // stream them through `jobs` cat-file processes, each a contiguous run of the pack order (so each git
        //    keeps its delta bases cached) of about equal bytes: scan blobs and messages, keep the commit graph
        let jobs = max(1, min(self.scanner.options.jobs, ids.count / self.scanner.options.objectsPerJob + 1))
        let total = sizes.reduce(0, +)
        var slices: [Range<Int>] = []
        var from = 0, acc = 0
        for (i, size) in sizes.enumerated() {
            acc += size
            if slices.count < jobs - 1 && acc >= total / jobs * (slices.count + 1) { slices.append(from..<(i + 1)); from = i + 1 }
        }
        slices.append(from..<ids.count)
        let partials = slices.map { _ in Partial() }
        let group = DispatchGroup()
        for (k, slice) in slices.enumerated() {
            let partial = partials[k], part = Array(ids[slice])
            let thread = Thread { [self] in
                do { try self.stream(part, into: partial) } catch { partial.error = error }
                group.leave()
            }
            thread.stackSize = 1 << 22
            group.enter()
            thread.start()
        }
        group.wait()
        for p in partials {
            if let error = p.error { throw error }
            self.objects.absorb(p)
        }
    }

    /// Reads `ids` through one `git cat-file --batch`, scanning with a content scanner of its own.
    func stream(_ ids: [ObjectID], into p: Partial) throws {
        let scanner = HistoryScanner(anchorSearch: self.scanner.anchorSearch, options: self.scanner.options)
        try CatFileBatch(git: self.repository.git, ids: ids).forEach(isCancelled: self.isCancelled, missing: { _ in p.missing += 1 }) { id, kind, content in
            guard let kind else { return }
            if kind != .tree && p.unlisted.contains(id) { p.listed.append(id) }
            self.handle(id, kind, content, scanner: scanner, into: p)
        }
    }

    /// One object read: a blob scanned (unless known from an earlier scan), a commit's parents and date kept and
    /// its message scanned, a tag's target kept and its message scanned; trees ignored.
    func handle(_ id: ObjectID, _ kind: ObjectKind, _ content: CatFileBatch.Content, scanner: HistoryScanner, into p: Partial) {
        switch kind {
        case .blob:
            let known = self.scanner.options.knownObjects
            guard known.isEmpty || !known.contains(id) else { return }
            let result = scanner.scan(content)
            p.summary.countBlob(result, id: id)
            if !result.findings.isEmpty {
                p.hits[id] = result.findings
                self.startAttribution()
            }
        case .commit:
            guard case .whole(let bytes) = content else { return }
            let header = CommitHeader(bytes, authors: false) // authors are read later, for the commits findings name
            p.parents[id] = header.parents
            p.committerTime[id] = header.committerTime
            guard self.scanner.options.scanMessages, !self.scanner.options.knownObjects.contains(id) else { return }
            p.summary.commitsScanned += 1
            let found = scanner.scanMessage(bytes, from: header.messageStart, path: HistoryScanner.messagePath(commit: id), summary: &p.summary)
            if !found.isEmpty { p.messageFindings.append((id, found)) }
        case .tag:
            guard case .whole(let bytes) = content else { return }
            let header = TagHeader(bytes)
            if let target = header.target { p.tagTargets[id] = (target, header.targetKind) }
            guard self.scanner.options.scanMessages, !self.scanner.options.knownObjects.contains(id) else { return }
            let found = scanner.scanMessage(bytes, from: header.messageStart, path: HistoryScanner.tagPath(header.name), summary: &p.summary)
            if !found.isEmpty { p.tagFindings.append((id, found)) }
        case .tree:
            break
        }
    }

    private func startAttribution() {
        guard !self.scanner.options.allObjects else { return }
        self.lock.lock()
        defer { self.lock.unlock() }
        if self.attributionLog == nil { self.attributionLog = try? AttributionLog(git: self.repository.git, extra: []) }
    }

    /// Every ref (branches, tags, remote-tracking refs, stash, notes…), HEAD and the HEADs of linked worktrees,
    /// with annotated tags followed (through tags of tags) to what they finally point at.
    func refTips() throws -> [GitRef] {
        let git = self.repository.git
        let out = try git.run(["for-each-ref", "--format=%(objectname) %(objecttype) %(refname)"]).output
        var refs: [GitRef] = []
        for line in out.split(separator: 10) {
            let parts = line.split(separator: 32, maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, let object = ObjectID(hex: parts[0]) else { continue }
            var target = object, kind = ObjectKind(rawValue: String(decoding: parts[1], as: UTF8.self))
            var hops = 0
            while kind == .tag, let next = self.objects.tagTargets[target], hops < 100 { target = next.0; kind = next.1; hops += 1 }
            refs.append(GitRef(name: String(decoding: parts[2], as: UTF8.self), commit: target, object: object, kind: kind))
        }
        // HEAD counts as a ref of its own only when detached (otherwise its branch is listed already)
        if let head = self.repository.head.flatMap(ObjectID.init),
           (try git.run(["symbolic-ref", "-q", "HEAD"], allowFailure: [1])).status != 0 {
            refs.append(GitRef(name: "HEAD", commit: head, object: head, kind: .commit))
        }
        // linked worktrees' HEADs (a detached HEAD there is reachable from nothing else)
        let worktrees = try git.run(["worktree", "list", "--porcelain"], allowFailure: [128, 129]).output
        var path = ""
        for line in Git.lines(worktrees) {
            if line.hasPrefix("worktree ") { path = String(line.dropFirst(9)) }
            if line.hasPrefix("HEAD "), let id = ObjectID(String(line.dropFirst(5))), !id.isZero,
               !refs.contains(where: { $0.commit == id }) {
                refs.append(GitRef(name: "HEAD of worktree \(path)", commit: id, object: id, kind: .commit))
            }
        }
        return refs
    }

    /// Refs that end at a blob or a tree rather than a commit (`git tag keys <blob>`): their hit blobs are
    /// reachable too, at the tree's paths (`git ls-tree -r`), or at `(ref <name>)` for a blob.
    func resolveRefObjects(_ refs: [GitRef]) throws {
        for ref in refs where ref.kind == .blob && self.objects.hits[ref.commit] != nil {
            self.refBlobs[ref.commit, default: []].append(("(ref \(ref.name))", ref.name))
        }
        for ref in refs where ref.kind == .tree {
            let listing = try self.repository.git.run(["ls-tree", "-r", "-z", "--full-tree", ref.commit.description]).output
            for entry in TreeEntry.list(listing) where self.objects.hits[entry.id] != nil {
                self.refBlobs[entry.id, default: []].append((HistoryScanner.display(entry.path), ref.name))
            }
        }
    }

    /// Which commits hold each hit blob at which path, from `git log --raw` (no patches), then one finding per
    /// (rule, token, path) at the earliest such commit.
    func attributeBlobs(graph: CommitGraph, reachable: Set<ObjectID>, refs: [GitRef]) throws -> [Finding] {
        let extra: [ObjectID] = self.scanner.options.allObjects ? self.objects.parents.keys.filter { !reachable.contains($0) }.sorted() : []
        let log = try self.attributionLog ?? AttributionLog(git: self.repository.git, extra: extra)
        try log.wait()
        let paths = log.paths

        // commits by topological rank; each commit's first parent as a rank (-1: none)
        let order = graph.order(of: reachable.union(extra))
        var rankOf: [ObjectID: Int32] = [:]
        rankOf.reserveCapacity(order.count)
        for (i, c) in order.enumerated() { rankOf[c] = Int32(i) }
        let firstParent: [Int32] = order.map { c in graph.parents[c]?.first.flatMap { rankOf[$0] } ?? -1 }
        let logRank: [Int32] = log.commits.map { rankOf[$0] ?? -1 }
        // an incremental scan: what the known blobs at the paths where a new blob hits held, read again (a
        // handful), so a token is attributed where it first appeared, as a full scan would
        let known = self.scanner.options.knownObjects
        if !known.isEmpty {
            var newHits = Set<AttributionLog.BlobKey>()
            for b in self.objects.hits.keys { newHits.insert(AttributionLog.BlobKey(b)) }
            var paths = Set<Int32>()
            for e in log.events where newHits.contains(e.blob) { paths.insert(e.path) }
            var wanted = Set<AttributionLog.BlobKey>()
            for e in log.events where paths.contains(e.path) && !newHits.contains(e.blob) { wanted.insert(e.blob) }
            let again = wanted.isEmpty ? [] : known.filter { wanted.contains(AttributionLog.BlobKey($0)) }.sorted()
            if !again.isEmpty {
                let scanner = HistoryScanner(anchorSearch: self.scanner.anchorSearch, options: self.scanner.options)
                try CatFileBatch(git: self.repository.git, ids: again).forEach(isCancelled: self.isCancelled, missing: { _ in }) { id, kind, content in
                    guard kind == .blob else { return }
                    let result = scanner.scan(content)
                    if !result.findings.isEmpty { self.objects.hits[id] = result.findings }
                }
            }
        }
        // hit blobs by number, with the (rule, token) pairs each holds and whether one is not allowed
        let hitBlobs = self.objects.hits.keys.sorted()
        var hitIndex: [AttributionLog.BlobKey: Int32] = [:]
        for (i, b) in hitBlobs.enumerated() { hitIndex[AttributionLog.BlobKey(b)] = Int32(i) }
        let hitTokens: [[(rule: String, token: String, open: Bool)]] = hitBlobs.map { blob in
            var order: [String] = [], open: [String: (String, String, Bool)] = [:]
            for f in self.objects.hits[blob] ?? [] {
                if let known = open[f.tokenKey] { open[f.tokenKey] = (known.0, known.1, known.2 || !f.isSuppressed) }
                else { open[f.tokenKey] = (f.ruleID, f.token, !f.isSuppressed); order.append(f.tokenKey) }
            }
            return order.map { open[$0]! }
        }
        // the paths that ever held a hit blob, and every change at them: (rank, hit number or -1)
        // (incremental: only paths where a new blob hits)
        let isNew: [Bool] = hitBlobs.map { !known.contains($0) }
        var interesting = Set<Int32>()
        for e in log.events { if let h = hitIndex[e.blob], isNew[Int(h)] { interesting.insert(e.path) } }
        var changes: [Int32: [(rank: Int32, hit: Int32)]] = [:]
        for e in log.events where interesting.contains(e.path) {
            let r = logRank[Int(e.commit)]
            if r >= 0 { changes[e.path, default: []].append((r, hitIndex[e.blob] ?? -1)) }
        }

        // replay each interesting path over the commits in topological order: a commit holds what its
        // first-parent diff put there, or what its first parent held
        let head = self.repository.head.flatMap(ObjectID.init).flatMap { rankOf[$0] }
        // `first`: the first commit holding the token at the path; `open`: the first holding it without an allow
        // comment (an allow removed later must not hide the token for good)
        struct Tally { var first: ObjectID; var blob: ObjectID; var open: (commit: ObjectID, blob: ObjectID)? = nil
                       var commits: [ObjectID] = []; var atHead = false }
        var tallies: [TokenAtPath: Tally] = [:]
        var attributed = Set<ObjectID>()
        var state = [Int32](repeating: -1, count: order.count)
        for p in interesting.sorted() {
            let list = (changes[p] ?? []).sorted { $0.rank < $1.rank }
            var k = 0
            for r in 0..<order.count {
                var h: Int32 = firstParent[r] >= 0 ? state[Int(firstParent[r])] : -1
                while k < list.count && list[k].rank == r { h = list[k].hit; k += 1 }
                state[r] = h
                guard h >= 0 else { continue }
                let c = order[r], blob = hitBlobs[Int(h)]
                attributed.insert(blob)
                for t in hitTokens[Int(h)] {
                    let key = TokenAtPath(rule: t.rule, token: t.token, path: paths[Int(p)])
                    if tallies[key] == nil { tallies[key] = Tally(first: c, blob: blob) }
                    if t.open && tallies[key]!.open == nil { tallies[key]!.open = (c, blob) }
                    tallies[key]!.commits.append(c)
                    if Int32(r) == head { tallies[key]!.atHead = true }
                }
            }
        }

        let headers = try HistoryScanner.authors(of: Set(tallies.values.map { $0.open?.commit ?? $0.first }), git: self.repository.git, isCancelled: self.isCancelled)
        var out: [(rank: Int, finding: Finding)] = []
        for (key, tally) in tallies {
            let path = HistoryScanner.display(key.path)
            if self.scanner.isExcluded(path) { continue }
            let (commit, blob) = tally.open ?? (tally.first, tally.blob)
            if known.contains(blob) { continue } // reported by the scan that read it
            let candidates = self.objects.hits[blob]?.filter { $0.ruleID == key.rule && $0.token == key.token } ?? []
            guard var f = candidates.first(where: { !$0.isSuppressed }) ?? candidates.first else { continue }
            f.path = path + f.path // an archive member's path follows the blob's
            f.git = GitProvenance(source: .blob, object: blob.description)
            HistoryScanner.stamp(&f, commit: commit, headers: headers)
            f.git?.commitCount = tally.commits.count
            let reaching = graph.refs(reaching: tally.commits, refs: refs)
            f.git?.refCount = reaching.count
            f.git?.exampleRef = reaching.first
            f.git?.presentAtHead = head == nil ? nil : tally.atHead
            f.git?.unreachable = !reachable.contains(commit)
            out.append((rankOf[commit].map(Int.init) ?? Int.max, f))
        }
        // blobs a ref reaches without a commit: a tag on a blob, or on a tree (then at the tree's paths)
        for (blob, places) in self.refBlobs where !attributed.contains(blob) {
            attributed.insert(blob)
            var seen = Set<String>()
            for place in places where seen.insert(place.path).inserted && !self.scanner.isExcluded(place.path) {
                for var f in self.objects.hits[blob] ?? [] {
                    f.path = place.path + f.path
                    f.git = GitProvenance(source: .blob, object: blob.description)
                    f.git?.refCount = places.filter { $0.path == place.path }.count
                    f.git?.exampleRef = place.ref
                    out.append((Int.max - 1, f))
                }
            }
        }
        // blobs no commit holds (dangling): reported only with --all-objects
        for (blob, found) in self.objects.hits where !attributed.contains(blob) && !known.contains(blob) {
            guard self.scanner.options.allObjects else { self.summary.unreachableHits += found.count; self.leftOut.insert(blob); continue }
            for var f in found {
                f.path = "(unreachable blob \(blob.description.prefix(12)))" + f.path
                f.git = GitProvenance(source: .blob, object: blob.description)
                f.git?.unreachable = true
                out.append((Int.max, f))
            }
        }
        out.sort { ($0.rank, $0.finding.path, $0.finding.byteOffset, $0.finding.ruleID) < ($1.rank, $1.finding.path, $1.finding.byteOffset, $1.finding.ruleID) }
        return out.map(\.finding)
    }

    /// Findings in commit and tag messages, for commits and tags a ref reaches (all with `--all-objects`).
    func messages(graph: CommitGraph, reachable: Set<ObjectID>, refs: [GitRef]) throws -> [Finding] {
        // tags reached from refs, through tags of tags
        var tagObjects = Set<ObjectID>()
        var tagRefs: [ObjectID: [String]] = [:]
        for ref in refs {
            var id = ref.object, hops = 0
            while let (target, kind) = self.objects.tagTargets[id], hops < 100 {
                tagObjects.insert(id)
                tagRefs[id, default: []].append(ref.name)
                guard kind == .tag else { break }
                id = target; hops += 1
            }
        }
        let unreachableMessages = self.objects.messageFindings.filter { !reachable.contains($0.0) }.count
            + self.objects.tagFindings.filter { !tagObjects.contains($0.0) }.count
        if !self.scanner.options.allObjects {
            self.summary.unreachableHits += unreachableMessages
            for (id, _) in self.objects.messageFindings where !reachable.contains(id) { self.leftOut.insert(id) }
            for (id, _) in self.objects.tagFindings where !tagObjects.contains(id) { self.leftOut.insert(id) }
        }
        var commits = self.objects.messageFindings.filter { self.scanner.options.allObjects || reachable.contains($0.0) }
        commits.sort { ($0.0, 0) < ($1.0, 0) }
        let headers = try HistoryScanner.authors(of: Set(commits.map(\.0)), git: self.repository.git, isCancelled: self.isCancelled)
        let order = graph.order(of: Set(commits.map(\.0)))
        let rank = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
        commits.sort { (rank[$0.0] ?? Int.max, $0.0) < (rank[$1.0] ?? Int.max, $1.0) }
        var out: [Finding] = []
        for (commit, found) in commits {
            let reaching = graph.refs(reaching: [commit], refs: refs)
            for var f in found {
                f.git = GitProvenance(source: .commitMessage, object: commit.description)
                HistoryScanner.stamp(&f, commit: commit, headers: headers)
                f.git?.commitCount = 1
                f.git?.refCount = reaching.count
                f.git?.exampleRef = reaching.first
                f.git?.unreachable = !reachable.contains(commit)
                out.append(f)
            }
        }
        for (tag, found) in self.objects.tagFindings.sorted(by: { ($0.0, 0) < ($1.0, 0) }) where self.scanner.options.allObjects || tagObjects.contains(tag) {
            let names = (tagRefs[tag] ?? []).sorted()
            for var f in found {
                f.git = GitProvenance(source: .tagMessage, object: tag.description)
                f.git?.tag = String(f.path.dropFirst("(tag ".count).dropLast(" message)".count))
                f.git?.refCount = names.count
                f.git?.exampleRef = names.first
                f.git?.unreachable = names.isEmpty
                out.append(f)
            }
        }
        return out
    }
}

/// `git log --all --raw --diff-merges=first-parent` (no patches), read on a thread of its own: which blob each
/// commit puts at each path it changes (a zero id for a deletion or a submodule). Started as soon as the first
/// hit is found, so it overlaps the rest of the object stream; never started when nothing hits.
final class AttributionLog: @unchecked Sendable {
    /// A blob id cut to its first 128 bits: 24-byte events instead of 88 on histories with millions of changes
    /// (a false match between two blobs would need a 128-bit prefix collision).
    struct BlobKey: Hashable {
        var a: UInt64
        var b: UInt64
        init(_ id: ObjectID) { self.a = id.words.0; self.b = id.words.1 }
    }
    /// One path a commit's first-parent diff changed: the commit (index into `commits`), the path (index
    /// into `paths`) and the blob now there (zero for a deletion or a submodule).
    struct Event {
        var commit: Int32
        var path: Int32
        var blob: BlobKey
    }
    private(set) var paths: [[UInt8]] = []
    private(set) var commits: [ObjectID] = []
    private(set) var events: [Event] = []
    private var failure: Error? = nil
    private let done = DispatchSemaphore(value: 0)
    private let child: ChildProcess
    private let lock = NSLock()
    private var finished = false
    /// - Parameter extra: commits no ref reaches that should be walked too (`--all-objects`).
    /// - Throws: `GitError` when git cannot be started.
    init(git: Git, extra: [ObjectID]) throws {
        let args = ["log", "--raw", "-z", "--no-abbrev", "--no-renames", "--diff-merges=first-parent", "--root",
                    "--no-color", "--no-ext-diff", "--no-textconv", "--format=%x01%H", "--all"] + (extra.isEmpty ? [] : ["--stdin"])
        let child = try git.start(args, input: true)
        self.child = child
        Thread.detachNewThread { [self] in
            var text = [UInt8]()
            for id in extra { text += id.description.utf8; text.append(10) }
            _ = text.withUnsafeBytes { child.writeInput($0) }
            child.closeInput()
            var pathIndex: [[UInt8]: Int32] = [:]
            var current: Int32 = -1
            let none = BlobKey(ObjectID(hex: [UInt8](repeating: 48, count: 40))!)
            do {
                try parseRawLog(ByteStream(fd: child.stdoutFD), commit: { header in
                    guard let id = ObjectID(header) else { current = -1; return }
                    current = Int32(self.commits.count)
                    self.commits.append(id)
                }, change: { change in
                    guard current >= 0 else { return }
                    let p: Int32
                    if let known = pathIndex[change.path] { p = known } else {
                        p = Int32(self.paths.count); self.paths.append(change.path); pathIndex[change.path] = p
                    }
                    self.events.append(Event(commit: current, path: p, blob: change.hasScannableBlob ? BlobKey(change.newBlob) : none))
                })
                if !child.wait().succeeded { self.failure = git.failure(args, child) }
            } catch {
                child.terminate()
                child.wait()
                self.failure = error
            }
            self.lock.lock()
            self.finished = true
            self.lock.unlock()
            self.done.signal()
        }
    }

    /// Stops git when the scan ends without needing the log (an error, an interrupt).
    func cancel() {
        self.lock.lock()
        defer { self.lock.unlock() }
        if !self.finished { self.child.terminate() }
    }

    /// Waits for git to finish.
    /// - Throws: git's failure, or a parse error.
    func wait() throws {
        self.done.wait()
        self.done.signal() // later waits return at once
        if let failure { throw failure }
    }
}

/// The commit graph held in memory: parents, committer dates, children, reachability and ranks.
struct CommitGraph {
    let parents: [ObjectID: [ObjectID]]
    let committerTime: [ObjectID: Int64]
    let children: [ObjectID: [ObjectID]]

    init(parents: [ObjectID: [ObjectID]], committerTime: [ObjectID: Int64]) {
        self.parents = parents
        self.committerTime = committerTime
        var children: [ObjectID: [ObjectID]] = [:]
        for (c, ps) in parents { for p in ps { children[p, default: []].append(c) } }
        self.children = children
    }

    /// Commits reachable from `tips` through parents.
    func reachable(from tips: [ObjectID]) -> Set<ObjectID> {
        var seen = Set<ObjectID>()
        var stack = tips.filter { self.parents[$0] != nil }
        while let c = stack.popLast() {
            guard seen.insert(c).inserted else { continue }
            for p in self.parents[c] ?? [] where self.parents[p] != nil && !seen.contains(p) { stack.append(p) }
        }
        return seen
    }

    /// `commits` in topological order (see `topologicalOrder`).
    func order(of commits: Set<ObjectID>) -> [ObjectID] {
        var sub: [ObjectID: [ObjectID]] = [:]
        sub.reserveCapacity(commits.count)
        for c in commits { sub[c] = self.parents[c] ?? [] }
        return topologicalOrder(sub) { self.committerTime[$0] ?? 0 }
    }

    /// Names of refs whose history contains any of `commits`: branches first, then HEAD, remote-tracking refs,
    /// tags and the rest, each group by name.
    func refs(reaching commits: [ObjectID], refs: [GitRef]) -> [String] {
        var seen = Set<ObjectID>()
        var stack = commits
        while let c = stack.popLast() {
            guard seen.insert(c).inserted else { continue }
            for child in self.children[c] ?? [] where !seen.contains(child) { stack.append(child) }
        }
        let names = refs.filter { seen.contains($0.commit) }.map(\.name)
        return names.sorted { (Self.refRank($0), $0) < (Self.refRank($1), $1) }
    }

    private static func refRank(_ name: String) -> Int {
        name.hasPrefix("refs/heads/") ? 0 : name == "HEAD" ? 1 : name.hasPrefix("refs/remotes/") ? 2 : name.hasPrefix("refs/tags/") ? 3 : 4
    }
}

/// A ref and what it points at: `object` as stored (a tag object for annotated tags), `commit` peeled.
struct GitRef {
    var name: String
    /// What the ref finally points at (a commit, or a blob or tree for refs that skip commits).
    var commit: ObjectID
    /// What the ref itself holds (an annotated tag object for annotated tags).
    var object: ObjectID
    /// The kind of `commit`.
    var kind: ObjectKind? = .commit
}

// MARK: - Ranges

/// What a set of commits introduces: the blobs their diffs add (against each parent, merges as combined
/// diffs: only paths that differ from every parent), a token counting only where no parent held it at that path.
final class RangeScan {
    let repository: GitRepository
    let scanner: HistoryScanner
    let revisions: [String]
    let isCancelled: @Sendable () -> Bool
    var summary = ScanSummary.git

    init(repository: GitRepository, scanner: HistoryScanner, revisions: [String], isCancelled: @escaping @Sendable () -> Bool) {
        self.repository = repository
        self.scanner = scanner
        self.revisions = revisions
        self.isCancelled = isCancelled
    }

    func run() throws -> ScanReport {
        let git = self.repository.git
        // revisions go through standard input, where git accepts no options (nothing a user typed can become one,
        // and no argument list grows with a push of many refs); `--not --remotes…` stays on the command line,
        // after `--stdin`, so it applies to the command-line pseudo-refs only
        let options = self.revisions.filter { $0.hasPrefix("-") }
        let revisions = self.revisions.filter { !$0.hasPrefix("-") && !$0.hasPrefix("^") }.isEmpty ? [] : self.revisions.filter { !$0.hasPrefix("-") }
        if revisions.isEmpty { // nothing but non-commit objects (a tag on a blob or tree)
            return ScanReport(findings: try self.pushedObjects(), summary: self.summary)
        }
        let args = ["log", "--raw", "-z", "--no-abbrev", "-M", "-c", "--root", "--no-color", "--no-ext-diff", "--no-textconv",
                    "--no-relative", "--format=%x01%H %ct %P", "--stdin"] + options + ["--"]
        let child = try git.start(args, input: true)
        let text = revisions.map { $0 + "\n" }.joined()
        Thread.detachNewThread {
            _ = Array(text.utf8).withUnsafeBytes { child.writeInput($0) }
            child.closeInput()
        }
        var parents: [ObjectID: [ObjectID]] = [:]
        var times: [ObjectID: Int64] = [:]
        var commits: [ObjectID] = []
        var changes: [(commit: ObjectID, change: RawChange)] = []
        var current: ObjectID? = nil
        try parseRawLog(ByteStream(fd: child.stdoutFD), commit: { header in
            let parts = header.split(separator: " ")
            guard let id = parts.first.flatMap({ ObjectID(String($0)) }) else { current = nil; return }
            current = id
            commits.append(id)
            times[id] = parts.count > 1 ? Int64(parts[1]) ?? 0 : 0
            parents[id] = parts.dropFirst(2).compactMap { ObjectID(String($0)) }
        }, change: { change in
            if let c = current, change.hasScannableBlob { changes.append((c, change)) }
        })
        guard child.wait().succeeded else { throw git.failure(args, child) }

        // the blobs the range adds and its commits' messages, each read once
        var newBlobs = Set<ObjectID>()
        var blobOrder: [ObjectID] = []
        for (_, change) in changes where newBlobs.insert(change.newBlob).inserted { blobOrder.append(change.newBlob) }
        var hits: [ObjectID: [Finding]] = [:]
        var messageFindings: [ObjectID: [Finding]] = [:]
        let wanted = blobOrder + (self.scanner.options.scanMessages ? commits : [])
        try CatFileBatch(git: git, ids: wanted).forEach(isCancelled: self.isCancelled, missing: { id in
            self.summary.unreadable.append(ScanIssue(path: "object \(id)", message: "missing from the repository"))
        }) { id, kind, content in
            if kind == .commit, case .whole(let bytes) = content {
                self.summary.commitsScanned += 1
                let header = CommitHeader(bytes)
                let found = self.scanner.scanMessage(bytes, from: header.messageStart, path: HistoryScanner.messagePath(commit: id), summary: &self.summary)
                if !found.isEmpty { messageFindings[id] = found }
            } else if kind == .blob {
                let result = self.scanner.scan(content)
                self.summary.countBlob(result, id: id)
                if !result.findings.isEmpty { hits[id] = result.findings }
            }
        }
        if self.isCancelled() { self.summary.interrupted = true }

        // what the parents held at the same paths, for the changes that hit
        var oldBlobs = Set<ObjectID>()
        for (_, change) in changes where hits[change.newBlob] != nil {
            for old in change.oldBlobs where !old.isZero && !newBlobs.contains(old) { oldBlobs.insert(old) }
        }
        var tokensIn: [ObjectID: Set<String>] = [:]
        for (blob, found) in hits { tokensIn[blob] = Set(found.filter { !$0.isSuppressed }.map(\.tokenKey)) }
        if !oldBlobs.isEmpty {
            try CatFileBatch(git: git, ids: oldBlobs.sorted()).forEach(isCancelled: self.isCancelled, missing: { _ in }) { id, kind, content in
                guard kind == .blob else { return }
                tokensIn[id] = Set(self.scanner.scan(content).findings.filter { !$0.isSuppressed }.map(\.tokenKey))
            }
        }

        let graph = CommitGraph(parents: parents, committerTime: times)
        let order = graph.order(of: Set(commits))
        let rank = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
        let ranked = changes.filter { hits[$0.change.newBlob] != nil }.sorted { (rank[$0.commit] ?? 0) < (rank[$1.commit] ?? 0) }
        struct Tally { var first: ObjectID; var finding: Finding; var commits = Set<ObjectID>() }
        var tallies: [TokenAtPath: Tally] = [:]
        var keys: [TokenAtPath] = []
        for (commit, change) in ranked {
            var before = Set<String>()
            for old in change.oldBlobs where !old.isZero { before.formUnion(tokensIn[old] ?? []) }
            let found = hits[change.newBlob] ?? []
            for f in found where f == found.first(where: { $0.tokenKey == f.tokenKey && !$0.isSuppressed }) ?? found.first(where: { $0.tokenKey == f.tokenKey }) {
                let key = TokenAtPath(rule: f.ruleID, token: f.token, path: change.path)
                if let known = tallies[key], !(known.finding.isSuppressed && !f.isSuppressed) {
                    tallies[key]!.commits.insert(commit)
                    continue
                }
                // a token counts where no parent held it (without an allow comment) at this path
                guard !before.contains(f.tokenKey) else { continue }
                var finding = f
                finding.path = HistoryScanner.display(change.path) + f.path
                finding.git = GitProvenance(source: .blob, object: change.newBlob.description)
                if tallies[key] == nil { keys.append(key) }
                tallies[key] = Tally(first: commit, finding: finding, commits: (tallies[key]?.commits ?? []).union([commit]))
            }
        }
        let involved = Set(tallies.values.map(\.first)).union(messageFindings.keys)
        let headers = try HistoryScanner.authors(of: involved, git: git, isCancelled: self.isCancelled)
        var findings: [Finding] = []
        for key in keys {
            let tally = tallies[key]!
            var f = tally.finding
            if self.scanner.isExcluded(f.path) { continue }
            HistoryScanner.stamp(&f, commit: tally.first, headers: headers)
            f.git?.commitCount = tally.commits.count
            findings.append(f)
        }
        for commit in order {
            for var f in messageFindings[commit] ?? [] {
                f.git = GitProvenance(source: .commitMessage, object: commit.description)
                HistoryScanner.stamp(&f, commit: commit, headers: headers)
                f.git?.commitCount = 1
                findings.append(f)
            }
        }
        findings += try self.pushedObjects()
        return ScanReport(findings: findings, summary: self.summary)
    }

    /// Annotated tags a push sends (their messages, and the tags and blobs they point at).
    func pushedObjects() throws -> [Finding] {
        var findings: [Finding] = []
        var queue = self.scanner.options.pushedObjects
        var seen = Set(queue)
        var treePaths: [ObjectID: String] = [:]
        while !queue.isEmpty {
            let batch = queue
            queue = []
            try CatFileBatch(git: self.repository.git, ids: batch).forEach(isCancelled: self.isCancelled, missing: { id in
                self.summary.unreadable.append(ScanIssue(path: "object \(id)", message: "missing from the repository"))
            }) { id, kind, content in
                switch kind {
                case .tag:
                    guard case .whole(let bytes) = content else { return }
                    let header = TagHeader(bytes)
                    for var f in self.scanner.scanMessage(bytes, from: header.messageStart, path: HistoryScanner.tagPath(header.name), summary: &self.summary) {
                        f.git = GitProvenance(source: .tagMessage, object: id.description)
                        f.git?.tag = header.name
                        findings.append(f)
                    }
                    if let target = header.target, header.targetKind != .commit, seen.insert(target).inserted {
                        queue.append(target)
                    }
                case .tree:
                    // every blob under a pushed tree, at its path
                    let listing = try self.repository.git.run(["ls-tree", "-r", "-z", "--full-tree", id.description]).output
                    for entry in TreeEntry.list(listing) where entry.kind == .blob {
                        treePaths[entry.id] = HistoryScanner.display(entry.path)
                        if seen.insert(entry.id).inserted { queue.append(entry.id) }
                    }
                case .blob:
                    let result = self.scanner.scan(content)
                    self.summary.countBlob(result, id: id)
                    for var f in result.findings {
                        f.path = (treePaths[id] ?? "(pushed blob \(id.description.prefix(12)))") + f.path
                        f.git = GitProvenance(source: .blob, object: id.description)
                        findings.append(f)
                    }
                default: break
                }
            }
        }
        return findings
    }
}
