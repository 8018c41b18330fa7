import Foundation

/// Runs a program to the end for tests: both output pipes read at once (a child filling one never waits on
/// the test), standard input written on its own queue, and the end awaited with a termination handler, not
/// `Process.waitUntilExit()` (which polls every 50 ms on Linux).
public enum TestProcess {
    /// How a run ended and what it printed.
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
    }

    /// Runs `executable` with `arguments`.
    /// - Parameters:
    ///   - environment: the complete environment.
    ///   - directory: the working directory; nil keeps the test's.
    ///   - input: written to standard input, which is then closed (closed at once when nil).
    ///   - closeStdout: close the read end of standard output at once (a reader that went away).
    /// - Throws: when the program cannot be started.
    public static func run(_ executable: URL, _ arguments: [String], environment: [String: String], directory: URL? = nil,
                           input: Data? = nil, closeStdout: Bool = false) throws -> Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = environment
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe(), inp = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = inp
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
        if closeStdout { try out.fileHandleForReading.close() }
        final class Box: @unchecked Sendable { var data = Data() }
        let errors = Box()
        let errorsRead = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            errors.data = err.fileHandleForReading.readDataToEndOfFile()
            errorsRead.signal()
        }
        let handle = inp.fileHandleForWriting
        if let input {
            DispatchQueue.global().async { handle.write(input); try? handle.close() }
        } else {
            try? handle.close()
        }
        let output = closeStdout ? Data() : out.fileHandleForReading.readDataToEndOfFile()
        errorsRead.wait()
        exited.wait()
        return Result(status: process.terminationStatus, stdout: String(decoding: output, as: UTF8.self),
                      stderr: String(decoding: errors.data, as: UTF8.self))
    }
}
