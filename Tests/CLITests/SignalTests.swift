import Foundation
import Testing
import MPTScanKit
import _MPTScanTestSupport
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Stop signals and closed pipes through the built binary. No test sleeps and hopes: each waits for a marker
/// (standard input consumed, a file a stalled git wrote, a request the registry emulator holds, a line on
/// standard error) before it signals.
@Suite struct SignalTests {
    /// A started `mptscan` whose standard error is collected as it comes.
    final class Running: @unchecked Sendable {
        let process = Process()
        let input = Pipe(), output = Pipe(), errors = Pipe()
        private let lock = NSLock()
        private var errText = Data()
        private var outText = Data()
        private let exited = DispatchSemaphore(value: 0)
        private let drained = DispatchGroup()

        init(_ args: [String], environment: [String: String]? = nil, directory: URL? = nil) throws {
            self.process.executableURL = CLITests.binary
            self.process.arguments = args
            var env = environment ?? ProcessInfo.processInfo.environment
            env["NO_COLOR"] = nil
            self.process.environment = env
            if let directory { self.process.currentDirectoryURL = directory }
            self.process.standardInput = self.input
            self.process.standardOutput = self.output
            self.process.standardError = self.errors
            self.process.terminationHandler = { [exited] _ in exited.signal() }
            try self.process.run()
            for (pipe, stderr) in [(self.output, false), (self.errors, true)] {
                self.drained.enter()
                Thread.detachNewThread { [self] in
                    while true {
                        let chunk = pipe.fileHandleForReading.availableData
                        if chunk.isEmpty { break }
                        self.lock.withLock { if stderr { self.errText += chunk } else { self.outText += chunk } }
                    }
                    self.drained.leave()
                }
            }
        }

        var stderr: String { self.lock.withLock { String(decoding: self.errText, as: UTF8.self) } }
        var stdout: String { self.lock.withLock { String(decoding: self.outText, as: UTF8.self) } }

        func signal(_ number: Int32) { kill(self.process.processIdentifier, number) }

        /// Waits (at most `timeout` seconds) until standard error holds `text`.
        func waitForStderr(_ text: String, timeout: TimeInterval = 30) -> Bool {
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                if self.stderr.contains(text) { return true }
                usleep(10_000)
            }
            return false
        }

        /// Waits for the end (killing the process, and `stalled`, after `timeout` seconds); the exit status,
        /// nil when killed. (`Process` notices the end only once every process holding the descriptor it watches
        /// has ended, and a stalled git child inherits it.)
        func finish(timeout: TimeInterval = 30, stalled: pid_t = 0) -> Int32? {
            try? self.input.fileHandleForWriting.close()
            if self.exited.wait(timeout: .now() + timeout) == .timedOut {
                if stalled > 0 { kill(stalled, SIGKILL) } // still running (not reaped): its pid is its own
                kill(self.process.processIdentifier, SIGKILL)
                self.exited.wait()
                _ = self.drained.wait(timeout: .now() + 5) // an orphaned grandchild may hold a pipe
                return nil
            }
            self.drained.wait()
            return self.process.terminationStatus
        }
    }

    static let stops: [(Int32, Int32)] = [(SIGINT, 130), (SIGTERM, 143), (SIGHUP, 129)]
    static let names: [Int32: String] = [SIGINT: "SIGINT", SIGTERM: "SIGTERM", SIGHUP: "SIGHUP"]

    /// True when `json` is a JSON report whose summary says it was interrupted (and so incomplete).
    static func saysInterrupted(_ json: String) -> Bool {
        guard let report = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any],
              let summary = report["summary"] as? [String: Any] else { return false }
        return summary["interrupted"] as? Bool == true && summary["complete"] as? Bool == false
    }

    /// Waits (at most 30 s) until the file at `path` exists.
    static func waitForFile(_ path: String) -> Bool {
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if FileManager.default.fileExists(atPath: path) { return true }
            usleep(10_000)
        }
        return false
    }

    /// A scan reading standard input is stopped by each signal: partial summary, 128 + the signal's number, and
    /// a report that says it was interrupted.
    @Test(arguments: Self.stops) func aScanStopsOnEachSignalWithItsPartialSummary(signal: Int32, status: Int32) throws {
        let run = try Running(["scan", "-", "--format", "json"])
        // 1 MiB through a pipe of at most 64 KiB: once written, the scan is reading (its handlers are in place)
        try run.input.fileHandleForWriting.write(contentsOf: Data(repeating: UInt8(ascii: "x"), count: 1 << 20))
        run.signal(signal)
        // standard input stays open (the scan is waiting for more) until the signal was taken
        #expect(run.waitForStderr("\(Self.names[signal]!) received"), "\(run.stderr)")
        #expect(run.finish() == status)
        #expect(run.stderr.contains("interrupted: the scan is incomplete"), "\(run.stderr)")
        #expect(run.stderr.contains("mptscan: 0 findings; 0 files"), "the partial summary")
        #expect(Self.saysInterrupted(run.stdout), "\(run.stdout)")
    }

    /// A `git` on PATH that stalls on `cat-file --batch…` (writing its pid to a marker file first), and runs
    /// the real git otherwise.
    static func stallingGit(in dir: URL) throws -> (environment: [String: String], marker: String) {
        let bin = dir.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let marker = dir.appendingPathComponent("stalled").path
        let script = """
            #!/bin/sh
            for a in "$@"; do
              case "$a" in --batch*) echo $$ > "$MPTSCAN_STALL_MARKER.tmp"; mv "$MPTSCAN_STALL_MARKER.tmp" "$MPTSCAN_STALL_MARKER"; exec sleep 600;; esac
            done
            PATH="$MPTSCAN_REAL_PATH" exec git "$@"

            """
        try Data(script.utf8).write(to: bin.appendingPathComponent("git"))
        chmod(bin.appendingPathComponent("git").path, 0o755)
        var env = ProcessInfo.processInfo.environment
        env["MPTSCAN_REAL_PATH"] = env["PATH"] ?? "/usr/bin:/bin"
        env["PATH"] = bin.path + ":" + (env["PATH"] ?? "/usr/bin:/bin")
        env["MPTSCAN_STALL_MARKER"] = marker
        return (env, marker)
    }

    /// A history scan whose git has not written yet stops at once: git is stopped, the partial summary printed.
    @Test(arguments: Self.stops) func aHistoryScanWaitingOnGitStopsOnEachSignal(signal: Int32, status: Int32) throws {
        let repo = try GitRecipe()
        try repo.write("a.env", "K=\(SyntheticTokens.token(seed: 1780))\n")
        try repo.commit("leak")
        let dir = try TestPaths.makeTemporaryDirectory("mptscan-signal")
        defer { try? FileManager.default.removeItem(at: dir) }
        let (env, marker) = try Self.stallingGit(in: dir)
        let run = try Running(["history", repo.path, "--format", "json"], environment: env)
        #expect(Self.waitForFile(marker), "git was asked for objects")
        let gitPID = pid_t(try String(contentsOfFile: marker, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        run.signal(signal)
        #expect(run.finish(stalled: gitPID) == status, "\(run.stderr)")
        // a live pid cannot have been reused: if the stalled git is still there, the test failed; stop it
        let alive = gitPID > 0 && kill(gitPID, 0) == 0
        if alive { kill(gitPID, SIGKILL) }
        #expect(gitPID > 0 && !alive, "the stalled git was stopped and reaped")
        #expect(run.stderr.contains("interrupted: the scan is incomplete"), "\(run.stderr)")
        #expect(!run.stderr.contains("error"), "a git stopped by the signal is no git error: \(run.stderr)")
        #expect(Self.saysInterrupted(run.stdout), "\(run.stdout)")
    }

    /// A sweep stopped while git stalls is resumed by the same command.
    @Test func aSweepStoppedBySIGTERMResumes() throws {
        let repo = try GitRecipe()
        try repo.write("a.env", "K=\(SyntheticTokens.token(seed: 1781))\n")
        try repo.commit("leak")
        let dir = try TestPaths.makeTemporaryDirectory("mptscan-signal")
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("\(repo.path)\n".utf8).write(to: dir.appendingPathComponent("repos.txt"))
        let args = ["sweep", "--repos", dir.appendingPathComponent("repos.txt").path, "--state", dir.appendingPathComponent("state").path,
                    "-o", dir.appendingPathComponent("out.jsonl").path]
        let (env, marker) = try Self.stallingGit(in: dir)
        let run = try Running(args, environment: env)
        #expect(Self.waitForFile(marker))
        let gitPID = pid_t((try? String(contentsOfFile: marker, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 0
        run.signal(SIGTERM)
        #expect(run.finish(stalled: gitPID) == 143, "\(run.stderr)")
        let alive = gitPID > 0 && kill(gitPID, 0) == 0
        if alive { kill(gitPID, SIGKILL) }
        #expect(!alive, "the stalled git was stopped")
        #expect(run.stderr.contains("interrupted (run the same command to resume)"), "\(run.stderr)")
        let resumed = try CLITests.run(args + ["-q"])
        #expect(resumed.status == 1, "\(resumed.stderr)")
        #expect(try String(contentsOfFile: dir.appendingPathComponent("out.jsonl").path, encoding: .utf8).contains("\"path\":\"a.env\""))
    }

    /// A stop signal while a disable request is in flight: that request's outcome is logged, no other is sent,
    /// the run exits 128 + the signal's number, and the next run finishes the rest; every intent has one outcome.
    @Test(arguments: Self.stops) func aSignalDuringADisableLeavesTheAuditLogConsistent(signal: Int32, status: Int32) throws {
        let scenario = RegistryScenario()
        let emulator = try RegistryEmulator(state: scenario.state)
        let dir = try TestPaths.makeTemporaryDirectory("mptscan-signal")
        defer { emulator.stop(); try? FileManager.default.removeItem(at: dir) }
        try Data(scenario.leaks.utf8).write(to: dir.appendingPathComponent("leaks.ts"))
        var env = ProcessInfo.processInfo.environment
        env["MPT_REGISTRY_TOKEN"] = scenario.adminBearer
        env["no_proxy"] = "127.0.0.1"
        let report = dir.appendingPathComponent("report.json").path, audit = dir.appendingPathComponent("audit.jsonl").path
        let scan = try TestProcess.run(CLITests.binary, ["scan", dir.appendingPathComponent("leaks.ts").path, "--format", "json", "-o", report, "-q"], environment: env)
        #expect(scan.status == 1)
        let gate = RegistryEmulator.Fault.Gate()
        emulator.setFaults([.init(.hold(gate), when: .first(1), method: "POST")])
        let args = ["disable", "--from-report", report, "--registry", emulator.baseURL, "--yes", "--audit-log", audit]
        let run = try Running(args, environment: env)
        // the first disable is in flight (its intent logged), its answer held
        #expect(gate.waitUntilHolding(1, timeout: 30))
        run.signal(signal)
        #expect(run.waitForStderr("\(Self.names[signal]!) received"), "\(run.stderr)")
        gate.open()
        #expect(run.finish() == status, "\(run.stderr)")
        #expect(run.stderr.contains("interrupted after 1 of"), "\(run.stderr)")
        let records = AuditLog.records(at: audit)
        #expect(records.filter { $0.event == "intent" }.count == 1)
        #expect(records.filter { $0.event == "outcome" }.map { $0.outcome } == ["disabled"])
        #expect(AuditLog.unfinished(records).isEmpty, "the request in flight got its outcome")
        let posts = emulator.requests.filter { $0.method == "POST" }.count
        #expect(posts == 1, "no disable after the signal")

        let rerun = try TestProcess.run(CLITests.binary, args, environment: env)
        #expect(rerun.status == 0, "\(rerun.stderr)")
        let after = AuditLog.records(at: audit)
        #expect(AuditLog.unfinished(after).isEmpty)
        let live = scenario.expected.filter { $0.value == .live }.keys
        for id in live {
            #expect(emulator.requestCount(method: "POST", path: "/accounts/api-tokens/\(id)/disable") == 1, "\(id) disabled once")
        }
    }

    /// A reader that goes away (`| head`) ends every command and format quietly: nothing on standard error,
    /// and the exit code the leaks found decide.
    @Test(arguments: ["text", "json", "jsonl", "sarif", "junit", "gitlab", "github"])
    func aClosedStandardOutputEndsEveryFormatQuietly(format: String) throws {
        let repo = try GitRecipe()
        try repo.write("a.env", "K=\(SyntheticTokens.token(seed: 1782))\n")
        try repo.commit("leak")
        try repo.write("b.env", "K=\(SyntheticTokens.token(seed: 1784))\n")
        try repo.git("add", "b.env")
        for args in [["scan", CLITests.fixtureTree], ["history", repo.path], ["staged", repo.path]] {
            let r = try CLITests.run(args + ["--format", format], closeStdout: true)
            #expect(r.status == 1, "\(args[0]) \(format): \(r.stderr)")
            #expect(r.stderr.isEmpty, "\(args[0]) \(format): \(r.stderr)")
        }
    }

    @Test func aClosedStandardOutputEndsSweepAndMergeQuietly() throws {
        let repo = try GitRecipe()
        try repo.write("a.env", "K=\(SyntheticTokens.token(seed: 1783))\n")
        try repo.commit("leak")
        let dir = try TestPaths.makeTemporaryDirectory("mptscan-signal")
        defer { try? FileManager.default.removeItem(at: dir) }
        let list = dir.appendingPathComponent("repos.txt")
        try Data("\(repo.path)\n".utf8).write(to: list)
        let sweep = try CLITests.run(["sweep", "--repos", list.path], closeStdout: true)
        #expect(sweep.status == 1, "leaks found, though not delivered: \(sweep.stderr)")
        #expect(sweep.stderr.isEmpty, "\(sweep.stderr)")
        let records = try CLITests.run(["sweep", "--repos", list.path, "-q"])
        let file = dir.appendingPathComponent("out.jsonl")
        try Data(records.stdout.utf8).write(to: file)
        let merge = try CLITests.run(["merge", file.path], closeStdout: true)
        #expect(merge.status == 1 && merge.stderr.isEmpty, "\(merge.stderr)")
    }
}
