/// A command line that cannot be run as given: an unknown flag, a missing or bad value. Exit code 64.
public struct UsageError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { self.message }
}
