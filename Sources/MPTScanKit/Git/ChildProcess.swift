import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process started with `posix_spawnp`, its standard output read through a pipe by the caller and its
/// standard error collected (up to 64 KiB) on a background thread. Waiting is a blocking `waitpid`, not the
/// 50 ms polling of Foundation's `Process.waitUntilExit()` on Linux (docs/ARCHITECTURE.md, "Git").
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
    private let stderrDone = DispatchSemaphore(value: 0)
    private var stderrBytes: [UInt8] = []
    private var status: Status? = nil

    /// Starts `arguments[0]` (looked up on `PATH`) with `arguments`.
    /// - Parameters:
    ///   - environment: the complete environment; nil inherits this process's.
    ///   - input: give the child a pipe for standard input (`stdinFD`); otherwise it reads /dev/null.
    ///   - output: give the child a pipe for standard output (`stdoutFD`); otherwise /dev/null.
    /// - Throws: `SpawnError` when the program is missing or cannot start.
    init(_ arguments: [String], environment: [String: String]? = nil, input: Bool = false, output: Bool = true) throws {
        var inPipe: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        func closeAll() { for fd in inPipe + outPipe + errPipe where fd >= 0 { _ = systemClose(fd) } }
        guard (!input || Self.makePipe(&inPipe)), (!output || Self.makePipe(&outPipe)), Self.makePipe(&errPipe) else {
            let code = errno
            closeAll()
            throw SpawnError(program: arguments[0], code: code)
        }
        var actions = posix_spawn_file_actions_t()
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

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // the child must not inherit SIGPIPE ignored (git expects to die quietly on a closed pipe) nor our mask
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        sigaddset(&defaults, SIGINT)
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
        self.stdinFD = inPipe[1]
        self.stdoutFD = outPipe[0]
        #if os(Linux)
        // a 1 MiB pipe (the default maximum) instead of 64 KiB: fewer wake-ups when git streams gigabytes
        if output { _ = fcntl(outPipe[0], 1031 /* F_SETPIPE_SZ */, 1 << 20) }
        #endif
        let errFD = errPipe[0]
        Thread.detachNewThread { [self] in
            var chunk = [UInt8](repeating: 0, count: 4096)
            var kept: [UInt8] = []
            while true {
                let n = chunk.withUnsafeMutableBytes { read(errFD, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                if kept.count < 1 << 16 { kept += chunk[0..<min(n, (1 << 16) - kept.count)] }
            }
            _ = systemClose(errFD)
            self.stderrBytes = kept
            self.stderrDone.signal()
        }
    }

    deinit {
        if self.stdinFD >= 0 { _ = systemClose(self.stdinFD) }
        if self.stdoutFD >= 0 { _ = systemClose(self.stdoutFD) }
        if self.status == nil { kill(self.pid, SIGKILL); _ = self.wait() }
    }

    /// Closes our end of the child's standard input (it sees end of file).
    func closeInput() {
        if self.stdinFD >= 0 { _ = systemClose(self.stdinFD); self.stdinFD = -1 }
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
        while waitpid(self.pid, &raw, 0) < 0 && errno == EINTR {}
        self.stderrDone.wait()
        let signalled = (raw & 0x7F) != 0 && (raw & 0x7F) != 0x7F
        let status = signalled ? Status(exitCode: nil, signal: raw & 0x7F) : Status(exitCode: (raw >> 8) & 0xFF, signal: nil)
        self.status = status
        return status
    }

    /// What the child wrote to standard error (the first 64 KiB), trimmed; valid after `wait()`.
    var errorText: String {
        String(decoding: self.stderrBytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Writes all of `bytes` to the child's standard input; false when the child stopped reading (EPIPE).
    func writeInput(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var done = 0
        while done < bytes.count {
            let n = write(self.stdinFD, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    private static func makePipe(_ fds: inout [Int32]) -> Bool {
        var pair: [Int32] = [-1, -1]
        // (mptscan starts children from one thread at a time, so no other spawn can inherit these before
        // FD_CLOEXEC is set)
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

#if canImport(Glibc)
let systemClose = Glibc.close
#elseif canImport(Darwin)
let systemClose = Darwin.close
#endif
