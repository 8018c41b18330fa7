import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process started with `posix_spawnp`, its standard output read through a pipe by the caller and its
/// standard error collected (up to 64 KiB) on a background thread. Waiting is a blocking `waitpid`, not the
/// 50 ms polling of Foundation's `Process.waitUntilExit()` on Linux (measured: ../shared/reference/swift-on-linux.md).
///
/// Starting a child sets SIGPIPE to ignored in this process (once), so that writing to a child that stopped
/// reading fails with EPIPE instead of killing the caller. Pipes are created and the child spawned under one
/// lock, so a child started from another thread can never inherit the other end of our pipes.
final class ChildProcess: @unchecked Sendable {
    /// Why a child could not be started.
    struct SpawnError: Error, CustomStringConvertible {
        var program: String
        var code: Int32
        var description: String {
            self.code == ENOENT ? "\(self.program) was not found on PATH" : "cannot start \(self.program): \(String(cString: strerror(self.code)))"
        }
    }

    /// How a finished child ended.
    struct Status: Sendable, Equatable {
        /// The exit code, or nil when a signal ended it.
        var exitCode: Int32?
        /// The signal that ended it.
        var signal: Int32?
        var succeeded: Bool { self.exitCode == 0 }
    }

    let pid: pid_t
    /// Read end of the child's standard output, or -1 when output goes to /dev/null.
    private(set) var stdoutFD: Int32
    /// Write end of the child's standard input, or -1 when input is /dev/null.
    private(set) var stdinFD: Int32
    /// Guards closing standard input: the writer thread and the reader may both close it, and a descriptor
    /// closed twice could close another file that reused the number in between.
    private let stdinLock = NSLock()
    /// Standard error as collected by the reading thread, which holds only this box (not the `ChildProcess`,
    /// so `deinit` can still stop a child that was abandoned).
    private final class ErrorText: @unchecked Sendable {
        var bytes: [UInt8] = []
        let done = DispatchSemaphore(value: 0)
    }
    private let stderrText = ErrorText()
    private var status: Status? = nil
    private static let spawnLock = NSLock()
    /// Children started and not yet reaped: `terminateAll` stops them when the run is interrupted.
    private static let running = Locked<Set<pid_t>>([])

    /// Stops every child not yet reaped (SIGTERM): on Ctrl-C or SIGTERM, a scan reading a git that has not
    /// written yet sees the end of its output at once instead of waiting for it. A pid leaves the set before
    /// it is reaped (`wait`), so no other process that reuses it is ever signalled.
    static func terminateAll() {
        Self.running.withLock { pids in for pid in pids { kill(pid, SIGTERM) } }
    }
    private static let ignoreSIGPIPE: Void = { signal(SIGPIPE, SIG_IGN); return () }()

    /// Starts `arguments[0]` (looked up on `PATH`) with `arguments`.
    /// - Parameters:
    ///   - environment: the complete environment; nil inherits this process's.
    ///   - input: give the child a pipe for standard input (`stdinFD`); otherwise it reads /dev/null.
    ///   - output: give the child a pipe for standard output (`stdoutFD`); otherwise /dev/null.
    /// - Throws: `SpawnError` when the program is missing or cannot start.
    init(_ arguments: [String], environment: [String: String]? = nil, input: Bool = false, output: Bool = true) throws {
        _ = Self.ignoreSIGPIPE
        Self.spawnLock.lock()
        defer { Self.spawnLock.unlock() }
        var inPipe: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        func closeAll() { for fd in inPipe + outPipe + errPipe where fd >= 0 { _ = systemClose(fd) } }
        guard (!input || Self.makePipe(&inPipe)), (!output || Self.makePipe(&outPipe)), Self.makePipe(&errPipe) else {
            let code = errno
            closeAll()
            throw SpawnError(program: arguments[0], code: code)
        }
        #if canImport(Darwin)
        var actions: posix_spawn_file_actions_t? = nil
        #else
        var actions = posix_spawn_file_actions_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if input {
            posix_spawn_file_actions_adddup2(&actions, inPipe[0], STDIN_FILENO)
        } else {
            posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0)
        }
        if output {
            posix_spawn_file_actions_adddup2(&actions, outPipe[1], STDOUT_FILENO)
        } else {
            posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], STDERR_FILENO)
        // the pipes are O_CLOEXEC, so the child keeps only the dup2'd copies

        #if canImport(Darwin)
        var attributes: posix_spawnattr_t? = nil
        #else
        var attributes = posix_spawnattr_t()
        #endif
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // the child must not inherit SIGPIPE ignored (git expects to die quietly on a closed pipe) nor our mask
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        // nor the stop signals ignored while `Interrupt` takes them: `terminate()` must still stop it
        for number in StopSignals.all where !StopSignals.ignoredAtStart.contains(number) { sigaddset(&defaults, number) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let env = (environment ?? ProcessInfo.processInfo.environment).map { "\($0.key)=\($0.value)" }
        var pid: pid_t = 0
        let result = Self.withCStrings(arguments) { argv in
            Self.withCStrings(env) { envp in posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, envp) }
        }
        for fd in [inPipe[0], outPipe[1], errPipe[1]] where fd >= 0 { _ = systemClose(fd) }
        guard result == 0 else {
            for fd in [inPipe[1], outPipe[0], errPipe[0]] where fd >= 0 { _ = systemClose(fd) }
            throw SpawnError(program: arguments[0], code: result)
        }
        self.pid = pid
        Self.running.withLock { _ = $0.insert(pid) }
        self.stdinFD = inPipe[1]
        self.stdoutFD = outPipe[0]
        #if os(Linux)
        // a 1 MiB pipe (the default maximum) instead of 64 KiB: fewer wake-ups when git streams gigabytes
        if output { _ = fcntl(outPipe[0], 1031 /* F_SETPIPE_SZ, fcntl(2) */, 1 << 20) }
        #endif
        let errFD = errPipe[0]
        let box = self.stderrText
        Thread.detachNewThread {
            var chunk = [UInt8](repeating: 0, count: 4096)
            var kept: [UInt8] = []
            while true {
                let n = chunk.withUnsafeMutableBytes { read(errFD, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                if kept.count < 1 << 16 { kept += chunk[0..<min(n, (1 << 16) - kept.count)] }
            }
            _ = systemClose(errFD)
            box.bytes = kept
            box.done.signal()
        }
    }

    deinit {
        self.closeInput()
        if self.stdoutFD >= 0 { _ = systemClose(self.stdoutFD) }
        if self.status == nil { kill(self.pid, SIGKILL); _ = self.wait() }
    }

    /// Closes our end of the child's standard input (it sees end of file). Safe to call from two threads: the
    /// descriptor is closed once.
    func closeInput() {
        let fd: Int32 = self.stdinLock.withLock {
            let fd = self.stdinFD
            self.stdinFD = -1
            return fd
        }
        if fd >= 0 { _ = systemClose(fd) }
    }

    /// Closes our end of the child's standard output (a child still writing gets SIGPIPE).
    func closeOutput() {
        if self.stdoutFD >= 0 { _ = systemClose(self.stdoutFD); self.stdoutFD = -1 }
    }

    /// Stops the child (SIGTERM), e.g. when the scan is interrupted.
    func terminate() { if self.status == nil { kill(self.pid, SIGTERM) } }

    /// Waits for the child to end (blocking `waitpid`) and for its standard error to be collected.
    @discardableResult
    func wait() -> Status {
        if let status = self.status { return status }
        var raw: Int32 = 0
        var result: pid_t = -1
        // wait for the end without reaping (WNOWAIT), leave `running`, then reap: the pid cannot be reused
        // while `terminateAll` may still signal it
        var info = siginfo_t()
        var waited: Int32 = -1
        repeat { waited = waitid(P_PID, id_t(self.pid), &info, WEXITED | WNOWAIT) } while waited < 0 && errno == EINTR
        Self.running.withLock { _ = $0.remove(self.pid) }
        repeat { result = waitpid(self.pid, &raw, 0) } while result < 0 && errno == EINTR
        self.stderrText.done.wait()
        self.stderrText.done.signal() // later calls return at once
        guard result == self.pid else {
            // ECHILD (a host that sets SIGCHLD to SIG_IGN reaps children itself): the outcome is unknown
            let status = Status(exitCode: nil, signal: nil)
            self.status = status
            return status
        }
        // wait(2) status layout: low 7 bits the terminating signal (0: exited, 0x7F: stopped), next 8 the exit code
        let signalled = (raw & 0x7F) != 0 && (raw & 0x7F) != 0x7F
        let status = signalled ? Status(exitCode: nil, signal: raw & 0x7F) : Status(exitCode: (raw >> 8) & 0xFF, signal: nil)
        self.status = status
        return status
    }

    /// What the child wrote to standard error (the first 64 KiB), trimmed; valid after `wait()`.
    var errorText: String {
        String(decoding: self.stderrText.bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Writes all of `bytes` to the child's standard input; false when the child stopped reading (EPIPE).
    func writeInput(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let fd = self.stdinLock.withLock { self.stdinFD }
        guard fd >= 0 else { return false }
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    private static func makePipe(_ fds: inout [Int32]) -> Bool {
        var pair: [Int32] = [-1, -1]
        // (called under spawnLock, so no other spawn can inherit these before FD_CLOEXEC is set)
        guard pipe(&pair) == 0 else { return false }
        for fd in pair { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        fds = pair
        return true
    }

    private static func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { for p in pointers { free(p) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

