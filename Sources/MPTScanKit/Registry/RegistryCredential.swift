import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A credential that cannot be used: where it came from and what is wrong, never its value.
public struct RegistryCredentialError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong (names the variable or file, never the value).
    public var message: String
    /// An error with `message`.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { self.message }
}

/// The bearer token mptscan sends to the registry (`Authorization: Bearer <value>`).
///
/// The value never appears in `description`, `debugDescription`, a mirror (`dump`) or any error: they all say
/// `<redacted>`. Only `RegistryClient` reads it, to build the request header. It must be one line of visible
/// ASCII (a line break would let it inject headers).
public struct RegistryCredential: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The environment variable read by `fromEnvironment`.
    public static let environmentVariable = "MPT_REGISTRY_TOKEN"
    /// Largest credential file read, in bytes (a token is 82 characters; a JWT a few KB).
    public static let maxFileBytes = 64 * 1024

    let value: String

    /// A credential holding `value`, with surrounding whitespace (a trailing newline) trimmed.
    /// - Parameter source: names where the value came from, for error messages (never the value itself).
    /// - Throws: `RegistryCredentialError` when the value is empty or holds whitespace or control characters inside.
    public init(_ value: String, source: String = "the registry credential") throws(RegistryCredentialError) {
        let trimmed = value.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw RegistryCredentialError("\(source) is empty") }
        guard trimmed.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else {
            throw RegistryCredentialError("\(source) must be a single token of visible ASCII characters (it holds spaces, line breaks or other characters)")
        }
        self.value = trimmed
    }

    /// The credential in `environment[MPT_REGISTRY_TOKEN]`, or nil when the variable is not set.
    /// - Throws: `RegistryCredentialError` when it is set but empty or malformed.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) throws(RegistryCredentialError) -> RegistryCredential? {
        guard let value = environment[self.environmentVariable] else { return nil }
        return try RegistryCredential(value, source: self.environmentVariable)
    }

    /// The credential in the file at `path` (its whole content, trailing newline trimmed).
    /// - Throws: `RegistryCredentialError` when the file cannot be read, is larger than `maxFileBytes`, or holds
    ///   no usable value.
    public static func fromFile(_ path: String) throws(RegistryCredentialError) -> RegistryCredential {
        let source = "credential file \(Printable.text(path))"
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw RegistryCredentialError("\(source): cannot be read (\(String(cString: strerror(errno))))")
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.read(upToCount: self.maxFileBytes + 1) ?? Data()
        } catch {
            throw RegistryCredentialError("\(source): cannot be read")
        }
        guard data.count <= self.maxFileBytes else { throw RegistryCredentialError("\(source) is larger than \(self.maxFileBytes) bytes: not a credential") }
        guard let text = String(data: data, encoding: .utf8) else { throw RegistryCredentialError("\(source) is not UTF-8 text") }
        return try RegistryCredential(text, source: source)
    }

    /// The token id when the credential is a Marketplace API token (`idt:TKN-…:<secret>`): not secret, usable
    /// to name the operator in an audit log. Nil for any other credential.
    public var tokenID: String? {
        guard self.value.hasPrefix("idt:") else { return nil }
        let rest = self.value.dropFirst(4)
        guard let colon = rest.firstIndex(of: ":") else { return nil }
        let id = String(rest[..<colon])
        return APITokenRecord.isValidID(id) ? id : nil
    }

    /// The `Authorization` header value.
    var authorization: String { "Bearer " + self.value }

    /// Always `RegistryCredential(<redacted>)`.
    public var description: String { "RegistryCredential(<redacted>)" }
    /// Always `RegistryCredential(<redacted>)`.
    public var debugDescription: String { self.description }
    /// No children: `dump` shows no value.
    public var customMirror: Mirror { Mirror(self, children: []) }
}
