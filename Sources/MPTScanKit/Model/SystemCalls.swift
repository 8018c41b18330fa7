#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The C library's read(2), write(2) and close(2) under names that types with their own `write`/`close` methods (output
// streams, child processes, state files) can call without shadowing. One declaration for the whole module.
#if canImport(Glibc)
let systemRead = Glibc.read
let systemWrite = Glibc.write
let systemClose = Glibc.close
#elseif canImport(Darwin)
let systemRead = Darwin.read
let systemWrite = Darwin.write
let systemClose = Darwin.close
#endif

/// Files only their owner may read, written whole: sweep state, the registry emulator's state.
enum PrivateFile {
    /// Writes all of `bytes` to `fd`, retrying on EINTR; false on an error (see `errno`).
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var done = 0
        return bytes.withUnsafeBytes { raw in
            while done < raw.count {
                let n = systemWrite(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 { if errno == EINTR { continue }; return false }
                done += n
            }
            return true
        }
    }

    /// Writes `bytes` to `path` through a temporary file in the same directory, created with mode 0600
    /// (`O_EXCL`, never through a symbolic link), fsync'd and renamed over `path`: a reader sees the old file
    /// or the new one, and the content is never readable by others, not even before a `chmod`.
    /// - Returns: nil when written, else the `errno` of what failed (the temporary file is removed).
    static func writeAtomically(_ bytes: [UInt8], to path: String) -> Int32? {
        let temp = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { return errno }
        var ok = Self.writeAll(fd, bytes) && fsync(fd) == 0
        let code = errno
        ok = systemClose(fd) == 0 && ok
        guard ok, rename(temp, path) == 0 else {
            let failure = ok ? errno : code
            unlink(temp)
            return failure
        }
        return nil
    }
}

/// The signals that stop a run (SIGINT, SIGTERM, SIGHUP), and those of them ignored when the process started
/// (`nohup`, a script's background job), which stay ignored, here and in children. Shared by the CLI's
/// `Interrupt`, which takes them, and `ChildProcess`, which restores them for git.
enum StopSignals {
    /// SIGINT (Ctrl-C), SIGTERM (a supervisor stopping the job), SIGHUP (the terminal went away).
    static let all: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    /// Read once, before any handler is installed.
    static let ignoredAtStart: Set<Int32> = Set(StopSignals.all.filter(StopSignals.isIgnored))

    private static func isIgnored(_ number: Int32) -> Bool {
        var current = sigaction()
        guard sigaction(number, nil, &current) == 0 else { return false }
        #if canImport(Glibc)
        let handler = current.__sigaction_handler.sa_handler
        #else
        let handler = current.__sigaction_u.__sa_handler
        #endif
        return unsafeBitCast(handler, to: Int.self) == unsafeBitCast(SIG_IGN, to: Int.self)
    }
}

/// The name of the directory entry `entry` (from `readdir`), without its NUL, in place. Read through a pointer
/// up to the NUL only: a record is only as long as its name (`d_reclen`), and copying the declared 256-byte
/// `d_name` array reads past the last record of the buffer, into an unmapped page when the buffer ends at one
/// (a segmentation fault seen on a large tree). Record layout: getdents64(2), `struct linux_dirent64`.
func direntName(_ entry: UnsafeMutablePointer<dirent>) -> UnsafeBufferPointer<UInt8> {
    let name = UnsafeRawPointer(entry) + MemoryLayout<dirent>.offset(of: \dirent.d_name)!
    return UnsafeBufferPointer(start: name.assumingMemoryBound(to: UInt8.self), count: strlen(name.assumingMemoryBound(to: CChar.self)))
}
