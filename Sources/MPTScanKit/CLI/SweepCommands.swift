import Foundation

/// The org-wide subcommands: `sweep` (many repositories' histories into one JSON Lines report) and `merge`.
extension MPTScan {
    static let sweep = CommandSpec(
        overview: "Scan the full history of many local clones into one JSON Lines report; resumable, incremental and shardable.",
        usage: "mptscan sweep --repos <file|dir> [<options>]",
        options: [
            OptionSpec(long: "repos", valueName: "file|dir", help: "A file of repository paths (one a line, # comments), or a directory whose git repositories are swept."),
            OptionSpec(long: "state", valueName: "dir", help: "State directory: resume an interrupted sweep, and scan only new objects next time."),
            OptionSpec(long: "shard", valueName: "K/N", help: "Sweep only shard K (from 0) of N: the repositories whose path hashes to K."),
            OptionSpec(long: "list", help: "Print this shard's repositories (one a line) and exit, scanning nothing: to clone or fetch only those."),
            OptionSpec(long: "output", short: "o", valueName: "file", help: "Write the records to <file> (mode 0600; a resumed sweep appends) instead of standard output."),
            OptionSpec(long: "exclude", valueName: "glob", help: "Leave out findings at paths matching a gitignore-style glob (repeatable).", repeatable: true),
            OptionSpec(long: "no-messages", help: "Do not scan commit and tag messages."),
            OptionSpec(long: "config", valueName: "file", help: "Configuration file for excludes, severities and allowed fingerprints (repositories' own files are not read)."),
            OptionSpec(long: "ignore-file", valueName: "file", help: "Fingerprints of known test tokens to ignore."),
            OptionSpec(long: "show-secrets", help: "Show full token values (and names holding one) instead of redacted ones; never on standard error, never into an existing file its group or others may read."),
            OptionSpec(long: "jobs", short: "j", valueName: "n", help: "Threads reading and scanning git objects per repository. (default: the number of cores)"),
            OptionSpec(long: "quiet", short: "q", help: "Print no progress lines on standard error (errors are still printed)."),
        ] + limitOptions,
        discussion: """
        One record per finding ({"repository": <path as listed>, …the JSON report's finding fields}), then one
        {"repository": …, "summary": {"status": "ok"|"unchanged"|"failed", "message": …, …}} per repository,
        written when the repository completes, in list order. With --state, a sweep that was interrupted is
        resumed by the same command (repositories already done are skipped and the output is appended to), and
        the next sweep reads only objects no earlier sweep read: findings already reported are not repeated, and
        a repository whose ref tips did not change is not scanned at all. Docs: docs/SWEEP.md.

        EXIT CODES:
          0    every repository scanned, no unsuppressed finding
          1    leaks found (in any repository of this run)
          2    a repository could not be scanned (not a repository, shallow or partial clone, git failing) or was
               scanned incompletely (a limit reached, a damaged archive), or the list, state directory or output
               is unusable
          64   bad usage
          130  interrupted (143 SIGTERM, 129 SIGHUP; run the same command again to resume, with --state)
        """)

    static let merge = CommandSpec(
        overview: "Combine sweep outputs (JSON Lines) into one, de-duplicated on (repository, path, rule id, fingerprint).",
        usage: "mptscan merge [<options>] <file> ...",
        arguments: [("<file>", "Sweep outputs (from shards, or from several sweeps: oldest first).")],
        options: [OptionSpec(long: "output", short: "o", valueName: "file", help: "Write the merged records to <file> (mode 0600) instead of standard output.")],
        discussion: """
        The first of duplicate findings is kept, and the last summary of each repository. Records are sorted:
        repositories by path, then each one's findings by path, rule id, fingerprint, line and column, then its
        summary.

        EXIT CODES:
          0    no unsuppressed finding, no failed repository
          1    leaks found
          2    a failed repository (and no leak), or an input that cannot be read or is not a sweep output
          64   bad usage
        """)

    static func runSweep(_ args: [String], out: inout OutputStream) throws -> ExitCode {
        let parsed = try self.sweep.parse(args)
        if parsed.wantsHelp { out.write(self.sweep.helpText()); return .clean }
        guard parsed.positionals.isEmpty else { throw UsageError("Unexpected argument '\(parsed.positionals[0])' (list repositories with --repos)") }
        guard let repos = parsed.value("repos") else { throw UsageError("sweep needs --repos <file|dir>") }
        var options = SweepOptions()
        if let shard = parsed.value("shard") {
            guard let value = SweepShard(shard) else { throw UsageError("--shard needs K/N with 0 <= K < N (K from 0, like JOB_COMPLETION_INDEX), not '\(shard)'") }
            options.shard = value
        }
        if let jobs = parsed.value("jobs") {
            guard let n = Int(jobs), n >= 1, n <= 256 else { throw UsageError("--jobs needs a whole number from 1 to 256, not '\(jobs)'") }
            options.history.jobs = n
        }
        try self.checkOutput(parsed)
        try self.checkSecretsDestinations(parsed, files: parsed.value("output").map { [$0] } ?? [])
        options.output = parsed.value("output")
        options.stateDirectory = parsed.value("state")
        options.showSecrets = parsed.has("show-secrets")
        options.history.scanMessages = !parsed.has("no-messages")
        options.history.limits = try Self.scanLimits(parsed)
        // what would be the run setup of a scan, from named files only (never a swept repository's own)
        var setup = RunSetup()
        if let path = parsed.value("config") { setup.config = try Configuration.load(from: path); setup.configPath = path }
        do {
            setup.excludes = try (setup.config.excludes + parsed.all("exclude")).map(PathGlob.init)
        } catch let error as PathGlob.Error {
            throw UsageError("--exclude: \(error.message)")
        }
        if let path = parsed.value("ignore-file") {
            guard let data = FileManager.default.contents(atPath: path) else { throw ConfigError("\(path): cannot read the ignore file") }
            setup.ignore = try IgnoreList.parse(String(decoding: data, as: UTF8.self), file: path)
        }
        setup.ignore.entries += setup.config.allowFingerprints.map { IgnoreList.Entry(fingerprint: $0, tokenID: nil, path: nil) }
        setup.ignore.entries += setup.config.allowTokenIDs.map { IgnoreList.Entry(fingerprint: nil, tokenID: $0, path: nil) }
        options.history.excludes = setup.excludes
        options.repositories = try SweepList.load(repos)
        guard !options.repositories.isEmpty else { throw SweepError("--repos \(repos): no repositories listed") }
        if parsed.has("list") {
            // a list file's paths need not exist yet (they are about to be cloned)
            out.write(Sweep(detector: TokenDetector(rules: []), options: options).repositories.map { $0 + "\n" }.joined())
            out.close()
            return .clean
        }

        Interrupt.install()
        let quiet = parsed.has("quiet")
        let sweep = Sweep(detector: TokenDetector(rules: BuiltinRules.all), options: options) { report in
            self.applySuppressions(&report, setup)
        }
        var stdout = out
        let result = try sweep.run(isCancelled: { Interrupt.requested }, sink: { text in
            stdout.write(text)
            return !stdout.failed
        }, progress: { line in if !quiet { Self.stderr(line) } })
        out = stdout
        out.close()
        let code = result.exitCode
        if result.outputFailed {
            // a reader that went away (`mptscan sweep | head`) ends the sweep quietly; any other failure is an error
            if !stdout.brokenPipe { Self.stderr("mptscan: error: writing the sweep's records failed: \(String(cString: strerror(stdout.errorCode)))\n") }
            return code
        }
        if !quiet || code == .incomplete || code == .interrupted {
            let failing = result.outcomes.reduce(0) { $0 + $1.failing }
            let failed = result.outcomes.filter { $0.status == .failed }.count
            let unchanged = result.outcomes.filter { $0.status == .unchanged }.count
            let incomplete = result.outcomes.filter(\.incomplete).count
            var line = "mptscan: swept \(result.outcomes.count) of \(sweep.repositories.count) repositor\(sweep.repositories.count == 1 ? "y" : "ies")"
            if let shard = options.shard { line += " (shard \(shard))" }
            line += ": \(failing) finding\(failing == 1 ? "" : "s"), \(failed) failed, \(unchanged) unchanged"
            if incomplete > 0 { line += ", \(incomplete) scanned incompletely (see each one's summary record)" }
            if result.interrupted { line += "; interrupted" + (options.stateDirectory != nil ? " (run the same command to resume)" : "") }
            Self.stderr(line + "\n")
        }
        return code
    }

    static func runMerge(_ args: [String], out: inout OutputStream) throws -> ExitCode {
        let parsed = try self.merge.parse(args)
        if parsed.wantsHelp { out.write(self.merge.helpText()); return .clean }
        guard !parsed.positionals.isEmpty else { throw UsageError("merge needs at least one sweep output") }
        try self.checkOutput(parsed)
        var merge = SweepMerge()
        for path in parsed.positionals {
            guard let data = path == "-" ? FileHandle.standardInput.readDataToEndOfFile() : FileManager.default.contents(atPath: path) else {
                throw SweepError("\(path): cannot read")
            }
            try merge.add(data, name: path)
        }
        // records of sweeps run with --show-secrets hold full token values: the same rule as --show-secrets
        // (never into an existing file its group or others may read)
        let lines = merge.lines
        if lines.contains(where: { Redaction.secrets(in: $0) != $0 }) {
            if let path = parsed.value("output"), let problem = OutputStream.problemWritingSecrets(to: path) {
                throw UsageError("merge: the records hold full token values (a sweep run with --show-secrets), and \(path) \(problem)")
            }
            if parsed.value("output") == nil, let problem = OutputStream.problemWritingSecretsToStandardOutput() {
                throw UsageError("merge: the records hold full token values (a sweep run with --show-secrets), and \(problem)")
            }
        }
        if let path = parsed.value("output") {
            guard let file = OutputStream(creatingFile: path) else { throw SweepError("--output \(path): cannot write: \(String(cString: strerror(errno)))") }
            out = file
        }
        var pending = ""
        for line in lines {
            pending += line
            if pending.utf8.count >= 1 << 16 { out.write(pending); pending = "" }
        }
        out.write(pending)
        out.close()
        if out.failed && !out.brokenPipe { Self.stderr("mptscan: error: writing the merged records failed: \(String(cString: strerror(out.errorCode)))\n"); return .incomplete }
        return merge.exitCode
    }
}
