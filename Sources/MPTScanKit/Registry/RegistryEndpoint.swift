import Foundation

/// A registry URL that cannot be used, with what to give instead. Never holds a credential.
public struct RegistryEndpointError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What is wrong with the URL and what a good one looks like.
    public var message: String
    /// An error with `message`.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { self.message }
}

/// The base of the Marketplace Platform REST API that mptscan talks to: always a URL ending in `/public/v1`,
/// without a trailing slash, query, fragment or user information.
///
/// Source: `reference/marketplace-api.md` ("Environments": every path starts with `/public/v1`; HTTPS only, the
/// API refuses plain HTTP) and PRODUCT.md ("a registry URL given to mptscan is always this full base").
public struct RegistryEndpoint: Sendable, Equatable, CustomStringConvertible {
    /// The path every API base ends with.
    public static let apiPath = "/public/v1"

    /// The platform's named environments and their API bases, in the order help text lists them.
    /// Source: `reference/marketplace-api.md`, "Environments".
    public static let environments: [(name: String, base: String)] = [
        ("production", "https://api.platform.softwareone.com/public/v1"),
        ("qa", "https://api.s1.live/public/v1"),
        ("test", "https://api.s1.show/public/v1"),
        ("dev", "https://api.s1.today/public/v1"),
    ]

    /// The API base, e.g. `https://api.platform.softwareone.com/public/v1` (no trailing slash).
    public let baseURL: URL
    /// A warning for the caller to print (plain HTTP to a loopback address), or nil.
    public let warning: String?

    /// The base URL.
    public var description: String { self.baseURL.absoluteString }

    /// True when the base is plain HTTP (only ever to a loopback host).
    public var isPlainHTTP: Bool { self.baseURL.scheme == "http" }

    /// The endpoint for `text`: an environment name (`production`, `qa`, `test`, `dev`; any case) or an
    /// absolute URL whose path ends in `/public/v1` (a trailing slash is dropped).
    ///
    /// `https` is required; `http` is accepted only for a loopback host (127.0.0.0/8, `::1`, `localhost`), for an
    /// emulator or a local proxy, and then `warning` says so.
    /// - Throws: `RegistryEndpointError` for an unknown name, another scheme, plain HTTP to a non-loopback host, user
    ///   information, a query or fragment, or a path that does not end in `/public/v1` (the message suggests one).
    public static func parse(_ text: String) throws(RegistryEndpointError) -> RegistryEndpoint {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if let env = self.environments.first(where: { $0.name == trimmed.lowercased() }) {
            return RegistryEndpoint(baseURL: URL(string: env.base)!, warning: nil)
        }
        let names = self.environments.map(\.name).joined(separator: ", ")
        guard trimmed.contains("://") else {
            throw RegistryEndpointError("unknown registry '\(Printable.text(trimmed))': give an environment (\(names)) or a URL such as https://api.platform.softwareone.com/public/v1")
        }
        guard let components = URLComponents(string: trimmed), let scheme = components.scheme?.lowercased(),
              let host = components.host, !host.isEmpty else {
            throw RegistryEndpointError("registry URL '\(Printable.text(trimmed))' is not a valid absolute URL")
        }
        if components.user != nil || components.password != nil {
            // never echo it: user information may be a password
            throw RegistryEndpointError("registry URL must not contain user information (user:password@); give the credential in MPT_REGISTRY_TOKEN or a file instead")
        }
        if components.query != nil || components.fragment != nil {
            throw RegistryEndpointError("registry URL must not have a query or fragment: give the API base, ending in /public/v1")
        }
        var warning: String? = nil
        switch scheme {
        case "https": break
        case "http":
            guard self.isLoopback(host) else {
                throw RegistryEndpointError("registry URL must use https (the platform refuses plain HTTP, and the credential would travel in clear); http is accepted only for a loopback host such as 127.0.0.1")
            }
            warning = "registry \(scheme)://\(components.percentEncodedHost ?? host)\(components.port.map { ":\($0)" } ?? "") is plain HTTP (accepted only because it is a loopback address, e.g. an emulator)"
        default:
            throw RegistryEndpointError("registry URL must use https, not '\(Printable.text(scheme))'")
        }
        var path = components.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        guard path.hasSuffix(self.apiPath) else {
            var suggestion = components
            if let range = path.range(of: self.apiPath + "/") {
                suggestion.percentEncodedPath = String(path[..<range.lowerBound]) + self.apiPath // a resource path was given
            } else {
                suggestion.percentEncodedPath = path + self.apiPath
            }
            throw RegistryEndpointError("registry URL must be the API base ending in \(self.apiPath)"
                + (suggestion.string.map { " (did you mean \($0)?)" } ?? ""))
        }
        var base = components
        base.scheme = scheme
        base.percentEncodedPath = path
        guard let url = base.url else { throw RegistryEndpointError("registry URL '\(Printable.text(trimmed))' is not a valid absolute URL") }
        return RegistryEndpoint(baseURL: url, warning: warning)
    }

    /// True for `localhost`, an IPv4 address in 127.0.0.0/8 and the IPv6 loopback `::1` (bracketed or not).
    public static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        if h == "localhost" || h == "localhost." || h == "::1" || h == "0:0:0:0:0:0:0:1" { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts.allSatisfy({ !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isASCII) && UInt8($0) != nil }) else { return false }
        return parts[0] == "127"
    }

    /// `baseURL` followed by `path` (which starts with `/`) and, when given, the already-encoded `query`.
    public func url(_ path: String, query: String? = nil) -> URL {
        URL(string: self.baseURL.absoluteString + path + (query.map { "?" + $0 } ?? ""))!
    }

    private init(baseURL: URL, warning: String?) {
        self.baseURL = baseURL
        self.warning = warning
    }

    /// Equal when the base URLs are (the warning follows from the URL).
    public static func == (a: RegistryEndpoint, b: RegistryEndpoint) -> Bool { a.baseURL == b.baseURL }
}
