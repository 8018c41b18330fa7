import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Why a registry call failed. Descriptions are one line for standard error, terminal-safe, and never hold a
/// credential or a token value (the client redacts any echo of them from server text).
public enum RegistryFailure: Error, Sendable, Equatable, CustomStringConvertible {
    /// 404: no token with that id, or one the credential may not see.
    case notFound(Problem?)
    /// 401: the credential is missing, invalid, disabled or deleted.
    case unauthorized(Problem?)
    /// 403: the credential is valid but may not read (or change) that token.
    case forbidden(Problem?)
    /// Any other non-2xx status, after retries when it was retryable (429, 5xx).
    case http(status: Int, problem: Problem?)
    /// A 3xx to another origin (scheme, host, port), not followed so the credential stays with the registry.
    case redirectRefused(status: Int, location: String?)
    /// No HTTP answer: connection refused or reset, timeout, DNS, TLS; after retries when retryable.
    case transport(String)
    /// A 2xx whose body is not the expected JSON.
    case malformed(String)
    /// A request mptscan refuses to send (e.g. a token id that is not `TKN-dddd-dddd`).
    case invalidRequest(String)

    /// The HTTP status, when the registry answered.
    public var status: Int? {
        switch self {
        case .notFound: return 404
        case .unauthorized: return 401
        case .forbidden: return 403
        case .http(let status, _), .redirectRefused(let status, _): return status
        case .transport, .malformed, .invalidRequest: return nil
        }
    }

    /// The problem details the registry sent, if any.
    public var problem: Problem? {
        switch self {
        case .notFound(let p), .unauthorized(let p), .forbidden(let p), .http(_, let p): return p
        default: return nil
        }
    }

    /// One line for standard error: the status and what it means, then the problem's own line.
    public var description: String {
        func with(_ text: String, _ problem: Problem?) -> String {
            guard let problem else { return text }
            return text + " — " + problem.description
        }
        switch self {
        case .notFound(let p): return with("registry: 404 not found (no such token id, or not visible to this credential)", p)
        case .unauthorized(let p): return with("registry: 401 unauthorized (the credential is missing, invalid, disabled or deleted)", p)
        case .forbidden(let p): return with("registry: 403 forbidden (the credential needs Access Management in the token's account, or Platform Account Management)", p)
        case .http(let status, let p): return with("registry: HTTP \(status)", p)
        case .redirectRefused(let status, let location):
            return "registry: HTTP \(status) redirect to another origin (\(location.map(Printable.text) ?? "no Location")) refused: the credential is only sent to the configured registry"
        case .transport(let message): return "registry unreachable: \(message)"
        case .malformed(let message): return "registry: unreadable answer: \(message)"
        case .invalidRequest(let message): return "registry: request not sent: \(message)"
        }
    }
}

/// Settings of a `RegistryClient`: timeouts, retries and the injectable sleep, clock and randomness.
public struct RegistryClientOptions: Sendable {
    /// Seconds a request may wait for the next bytes (URLSession `timeoutIntervalForRequest`). Default 10.
    /// Rounded up to whole seconds, at least 1: on Linux, URLSession hands libcurl whole seconds, and a value
    /// below 1 made every request time out at once (measured with Swift 6.3).
    public var requestTimeout: TimeInterval = 10
    /// Seconds one attempt may take in all (URLSession `timeoutIntervalForResource`), whole seconds, at least 1.
    /// Default 30.
    public var attemptTimeout: TimeInterval = 30
    /// Attempts per call, the first included (the platform's own client retries 5 times; marketplace-api.md). Default 5.
    public var maxAttempts = 5
    /// The backoff ceiling of the first retry, in seconds; doubled per retry ("full jitter": the wait is uniform
    /// in 0…ceiling). Default 0.5.
    public var initialBackoff: TimeInterval = 0.5
    /// The longest single wait, in seconds, for backoff and `Retry-After` alike. A `Retry-After` longer than this
    /// ends the retries (the server asked for more patience than we have). Default 30.
    public var maxWait: TimeInterval = 30
    /// Statuses retried: 429 and the transient 5xx. Default 429, 500, 502, 503, 504.
    public var retryStatuses: Set<Int> = [429, 500, 502, 503, 504]
    /// Largest answer body read, in bytes; a longer one is refused (a token record is about 1 KB, a page of
    /// 100 about 100 KB), so a hostile registry cannot fill memory.
    public var maxBodyBytes = 4 << 20
    /// The `User-Agent` header: `mptscan/<version>`.
    public var userAgent = "\(ToolInfo.name)/\(ToolInfo.version)"
    /// Sleeps the calling thread for the given seconds (tests inject a recorder).
    public var sleep: @Sendable (TimeInterval) -> Void = { Thread.sleep(forTimeInterval: $0) }
    /// A uniform random number in 0..<1, for jitter.
    public var random: @Sendable () -> Double = { Double.random(in: 0..<1) }
    /// The current time, for `Retry-After` dates.
    public var now: @Sendable () -> Date = { Date() }

    /// The defaults.
    public init() {}
}

/// A synchronous client of the Marketplace Platform's token registry, usable from plain threads (each call
/// blocks its caller until the answer, retries included).
///
/// Every request carries `User-Agent: mptscan/<version>`, `Accept: application/json` and
/// `Authorization: Bearer <credential>`. Sessions are ephemeral (no cookies, cache or credential storage); proxies
/// come from the environment as URLSession takes them: on Linux, libcurl reads `https_proxy`/`HTTPS_PROXY`,
/// `http_proxy` and `no_proxy` itself (measured: `http_proxy` applies even to 127.0.0.1 unless `no_proxy` lists
/// it, and `connectionProxyDictionary` is ignored); on Darwin, `HTTPS_PROXY` is turned into the session's proxy. Redirects to another origin are never followed (on Linux, URLSession would forward
/// `Authorization` to it; reference/swift-on-linux.md). Retries: 429, 500, 502, 503, 504 and transport errors,
/// exponential backoff with full jitter, `Retry-After` honoured (RFC 9110 §10.2.3: seconds or an HTTP-date).
///
/// Endpoints: `reference/marketplace-api.md`, "Endpoints".
public final class RegistryClient: Sendable {
    /// The registry this client talks to.
    public let endpoint: RegistryEndpoint
    /// Timeouts, retries and injected sleep, clock and randomness.
    public let options: RegistryClientOptions
    private let credential: RegistryCredential
    private let session: URLSession
    private let tasks: TaskTable

    /// A client of `endpoint` authenticating as `credential`.
    public init(endpoint: RegistryEndpoint, credential: RegistryCredential, options: RegistryClientOptions = RegistryClientOptions()) {
        self.endpoint = endpoint
        self.credential = credential
        self.options = options
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = Self.wholeSeconds(options.requestTimeout)
        configuration.timeoutIntervalForResource = Self.wholeSeconds(options.attemptTimeout)
        configuration.httpCookieStorage = nil
        configuration.urlCredentialStorage = nil
        configuration.urlCache = nil
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.httpShouldSetCookies = false
        #if canImport(Darwin)
        // Darwin's URLSession takes proxies from the system settings only; honour HTTPS_PROXY like libcurl does.
        if let proxy = Self.environmentProxy(), !RegistryEndpoint.isLoopback(endpoint.baseURL.host ?? "") {
            configuration.connectionProxyDictionary = ["HTTPSEnable": 1, "HTTPSProxy": proxy.host, "HTTPSPort": proxy.port]
        }
        #endif
        let queue = OperationQueue()
        queue.maxConcurrentOperationCount = 1
        self.tasks = TaskTable(maxBody: options.maxBodyBytes)
        self.session = URLSession(configuration: configuration, delegate: SessionDelegate(tasks: self.tasks), delegateQueue: queue)
    }

    private static func wholeSeconds(_ seconds: TimeInterval) -> TimeInterval {
        seconds.isFinite ? max(1, seconds.rounded(.up)) : 60
    }

    deinit {
        self.session.invalidateAndCancel()
    }

    #if canImport(Darwin)
    private static func environmentProxy() -> (host: String, port: Int)? {
        let env = ProcessInfo.processInfo.environment
        guard let text = env["HTTPS_PROXY"] ?? env["https_proxy"], let url = URL(string: text.contains("://") ? text : "http://" + text),
              let host = url.host else { return nil }
        return (host, url.port ?? 8080)
    }
    #endif

    // MARK: - Calls

    /// `GET /accounts/api-tokens/{id}`: the token's record.
    /// - Parameter bearer: authenticate this one call with another credential (the self-check: the found token
    ///   reads its own record; 200 or 403 mean it authenticated, 401 that it is refused). Nil: the client's own.
    /// - Returns: the record, or `.notFound`, `.unauthorized`, `.forbidden`, `.http`, `.transport`, `.malformed`,
    ///   `.redirectRefused`, `.invalidRequest` (an id that is not `TKN-dddd-dddd[-dddd]`).
    public func getToken(id: String, bearer: RegistryCredential? = nil) -> Result<APITokenRecord, RegistryFailure> {
        guard APITokenRecord.isValidID(id) else { return .failure(.invalidRequest("'\(Redaction.quote(id, limit: 40))' is not a token id (TKN-dddd-dddd)")) }
        return self.call("GET", "/accounts/api-tokens/\(id)", bearer: bearer).flatMap { self.decode(APITokenRecord.self, $0.body) }
    }

    /// `POST /accounts/api-tokens/{id}/disable` (no body): disables the token and returns its record.
    ///
    /// A retried disable can find its first attempt applied (the answer was lost): when a later attempt gets 400,
    /// the record is read again and returned if it is Disabled. Disabling an already-disabled token otherwise
    /// fails with `.http(status: 400, …)`.
    public func disableToken(id: String) -> Result<APITokenRecord, RegistryFailure> {
        self.changeStatus(id: id, action: "disable", target: .disabled)
    }

    /// `POST /accounts/api-tokens/{id}/enable` (no body): re-enables a disabled token and returns its record.
    public func enableToken(id: String) -> Result<APITokenRecord, RegistryFailure> {
        self.changeStatus(id: id, action: "enable", target: .active)
    }

    private func changeStatus(id: String, action: String, target: APITokenRecord.Status) -> Result<APITokenRecord, RegistryFailure> {
        guard APITokenRecord.isValidID(id) else { return .failure(.invalidRequest("'\(Redaction.quote(id, limit: 40))' is not a token id (TKN-dddd-dddd)")) }
        var attempts = 0
        let result = self.call("POST", "/accounts/api-tokens/\(id)/\(action)", attempts: &attempts)
        if case .failure(.http(400, _)) = result, attempts > 1,
           case .success(let record) = self.getToken(id: id), record.status == target {
            return .success(record)
        }
        return result.flatMap { self.decode(APITokenRecord.self, $0.body) }
    }

    /// `GET /accounts/api-tokens?<filter>&limit=&offset=`: one page of the records the credential may see.
    /// - Parameters:
    ///   - limit: page size, 1…100 (the platform caps it at 100).
    ///   - offset: index of the first record, 0-based.
    ///   - filter: an RQL expression put as is into the query (e.g. `eq(status,"Active")`); characters that may not
    ///     appear in a query are percent-encoded.
    public func listTokens(limit: Int = 100, offset: Int = 0, filter: String? = nil) -> Result<APITokenPage, RegistryFailure> {
        guard (1...100).contains(limit), offset >= 0 else { return .failure(.invalidRequest("limit must be 1…100 and offset at least 0")) }
        var query: [String] = []
        if let filter, !filter.isEmpty { query.append(Self.encodeQuery(filter)) }
        query.append("limit=\(limit)")
        query.append("offset=\(offset)")
        return self.call("GET", "/accounts/api-tokens", query: query.joined(separator: "&")).flatMap { self.decode(APITokenPage.self, $0.body) }
    }

    /// Every record the credential may see, page by page (`pageSize` per request), in the registry's order.
    /// Stops at the first failure, or when a page comes back empty or the total is reached.
    public func listAllTokens(filter: String? = nil, pageSize: Int = 100) -> Result<[APITokenRecord], RegistryFailure> {
        var all: [APITokenRecord] = []
        var offset = 0
        while true {
            switch self.listTokens(limit: pageSize, offset: offset, filter: filter) {
            case .failure(let failure): return .failure(failure)
            case .success(let page):
                all += page.tokens
                offset = page.offset + page.tokens.count
                if !page.hasMore { return .success(all) }
            }
        }
    }

    /// Looks up each distinct id once (`getToken`), with at most `concurrency` requests in flight (1…16).
    /// - Returns: a result per distinct id of `ids`.
    /// `isCancelled` is asked before each request: ids not asked are left out of the result.
    public func lookUp(ids: [String], concurrency: Int = 4, isCancelled: @escaping @Sendable () -> Bool = { false }) -> [String: Result<APITokenRecord, RegistryFailure>] {
        var seen = Set<String>()
        let distinct = ids.filter { seen.insert($0).inserted }
        let results = Locked<[String: Result<APITokenRecord, RegistryFailure>]>([:])
        Locked<Int>.forEachIndex(distinct.count, workers: min(concurrency, 16)) { i in
            guard !isCancelled() else { return }
            let result = self.getToken(id: distinct[i])
            results.withLock { $0[distinct[i]] = result }
        }
        return results.withLock { $0 }
    }

    // MARK: - Transport

    /// A raw HTTP answer.
    struct Answer: Sendable {
        var status: Int
        var headers: [String: String]
        var body: Data
    }

    private func call(_ method: String, _ path: String, query: String? = nil, bearer: RegistryCredential? = nil) -> Result<Answer, RegistryFailure> {
        var attempts = 0
        return self.call(method, path, query: query, bearer: bearer, attempts: &attempts)
    }

    /// Sends the request with retries and maps non-2xx answers to failures. `attempts` receives how many were made.
    private func call(_ method: String, _ path: String, query: String? = nil, bearer: RegistryCredential? = nil,
                      attempts: inout Int) -> Result<Answer, RegistryFailure> {
        let credential = bearer ?? self.credential
        var request = URLRequest(url: self.endpoint.url(path, query: query))
        request.httpMethod = method
        request.timeoutInterval = Self.wholeSeconds(self.options.requestTimeout)
        request.setValue(self.options.userAgent, forHTTPHeaderField: "User-Agent")
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        request.setValue(credential.authorization, forHTTPHeaderField: "Authorization")
        if method == "POST" { request.setValue("0", forHTTPHeaderField: "Content-Length") }
        let secrets = Self.secrets(of: [self.credential, credential])

        let maxAttempts = max(1, self.options.maxAttempts)
        attempts = 0
        while true {
            attempts += 1
            let last = attempts >= maxAttempts
            switch self.send(request) {
            case .success(let answer):
                if (200..<300).contains(answer.status) { return .success(answer) }
                if self.options.retryStatuses.contains(answer.status) && !last,
                   let wait = self.wait(afterAttempt: attempts, retryAfter: answer.headers["retry-after"]) {
                    self.options.sleep(wait)
                    continue
                }
                return .failure(self.failure(answer, secrets: secrets))
            case .failure(let error):
                let message = Self.redact(self.describe(error), secrets) + (attempts > 1 ? " (after \(attempts) attempts)" : "")
                if Self.isRetryable(error) && !last, let wait = self.wait(afterAttempt: attempts, retryAfter: nil) {
                    self.options.sleep(wait)
                    continue
                }
                return .failure(.transport(message))
            }
        }
    }

    /// Seconds to wait before the attempt after `attempt` (1-based): `Retry-After` when given (nil if it asks for
    /// more than `maxWait`), else full jitter over `min(maxWait, initialBackoff × 2^(attempt-1))`.
    func wait(afterAttempt attempt: Int, retryAfter: String?) -> TimeInterval? {
        if let retryAfter, let seconds = Self.retryAfterSeconds(retryAfter, now: self.options.now()) {
            return seconds <= self.options.maxWait ? seconds : nil
        }
        let ceiling = min(self.options.maxWait, self.options.initialBackoff * pow(2, Double(min(attempt - 1, 30))))
        return ceiling * min(max(self.options.random(), 0), 1)
    }

    /// The delay a `Retry-After` value asks for, in seconds (never negative), or nil when unreadable.
    /// RFC 9110 §10.2.3: `delay-seconds` (digits) or an HTTP-date (§5.6.7: IMF-fixdate, and the obsolete RFC 850
    /// and asctime forms, all GMT).
    public static func retryAfterSeconds(_ value: String, now: Date) -> TimeInterval? {
        let text = value.trimmingCharacters(in: .whitespaces)
        if !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) {
            return TimeInterval(text.count > 9 ? 999_999_999 : Int(text)!)
        }
        // an HTTP-date is printable ASCII; anything else is unreadable, and never reaches DateFormatter, which on
        // Linux traps on some non-ASCII text (a combining mark after a digit: "Incorrect range CFRange")
        guard text.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) else { return nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        for format in ["EEE, dd MMM yyyy HH:mm:ss 'GMT'", "EEEE, dd-MMM-yy HH:mm:ss 'GMT'", "EEE MMM d HH:mm:ss yyyy"] {
            formatter.dateFormat = format
            let normalized = format.hasPrefix("EEE MMM") ? text.split(separator: " ").joined(separator: " ") : text
            if let date = formatter.date(from: normalized) { return max(0, date.timeIntervalSince(now)) }
        }
        return nil
    }

    private func send(_ request: URLRequest) -> Result<Answer, any Error> {
        let task = self.session.dataTask(with: request)
        let state = self.tasks.register(task.taskIdentifier)
        task.resume()
        // URLSession enforces attemptTimeout; this bound only guards against a completion that never comes
        if state.done.wait(timeout: .now() + Self.wholeSeconds(self.options.attemptTimeout) + 5) == .timedOut {
            task.cancel()
            state.done.wait()
        }
        self.tasks.remove(task.taskIdentifier)
        if state.tooLarge { return .failure(BodyTooLarge(limit: self.options.maxBodyBytes)) }
        if let response = state.response {
            var headers: [String: String] = [:]
            for (key, value) in response.allHeaderFields {
                if let key = key as? String, let value = value as? String { headers[key.lowercased()] = value }
            }
            if state.error == nil { return .success(Answer(status: response.statusCode, headers: headers, body: state.data)) }
        }
        return .failure(state.error ?? URLError(.badServerResponse))
    }

    private func failure(_ answer: Answer, secrets: [String]) -> RegistryFailure {
        let problem = Problem.decode(answer.body).map { Self.redact($0, secrets) }
        switch answer.status {
        case 401: return .unauthorized(problem)
        case 403: return .forbidden(problem)
        case 404: return .notFound(problem)
        case 300..<400: return .redirectRefused(status: answer.status, location: answer.headers["location"].map { Self.redact($0, secrets) })
        default: return .http(status: answer.status, problem: problem)
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, _ body: Data) -> Result<T, RegistryFailure> {
        do {
            return .success(try JSONDecoder().decode(type, from: body))
        } catch let DecodingError.keyNotFound(key, context) {
            return .failure(.malformed("\(T.self): missing \(Self.path(context.codingPath + [key]))"))
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            return .failure(.malformed("\(T.self): wrong type at \(Self.path(context.codingPath))"))
        } catch {
            return .failure(.malformed("\(T.self): not JSON (\(body.count) bytes)"))
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? "." + $0.stringValue }.joined()
    }

    /// Transport errors worth another attempt: timeouts, refused, lost or empty connections, no network. Not
    /// retried: cancellation, bad URLs, TLS and certificate failures, and unknown hosts (a typo does not heal).
    static func isRetryable(_ error: any Error) -> Bool {
        guard let error = error as? URLError else { return false }
        switch error.code {
        case .timedOut, .cannotConnectToHost, .networkConnectionLost, .notConnectedToInternet, .dnsLookupFailed,
             .badServerResponse, .zeroByteResource, .cannotParseResponse, .resourceUnavailable, .internationalRoamingOff,
             .callIsActive, .dataNotAllowed:
            return true
        default:
            return false
        }
    }

    private func describe(_ error: any Error) -> String {
        guard let error = error as? URLError else { return "\(error)" }
        let text: String
        switch error.code {
        case .timedOut: text = "timed out (no answer within \(Int(Self.wholeSeconds(self.options.requestTimeout))) s)"
        case .cannotConnectToHost: text = "connection refused"
        case .networkConnectionLost: text = "connection lost"
        case .badServerResponse, .zeroByteResource: text = "the connection closed without an HTTP answer"
        case .cannotFindHost, .dnsLookupFailed: text = "host not found"
        case .notConnectedToInternet: text = "no network"
        case .secureConnectionFailed, .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateNotYetValid,
             .serverCertificateHasUnknownRoot, .clientCertificateRejected, .clientCertificateRequired:
            text = "TLS failed (check the registry URL, the proxy and the system's CA certificates)"
        default: text = error.localizedDescription
        }
        return "\(text) (URLError \(error.code.rawValue))"
    }

    /// The strings never to echo: each credential, and the secret part of a token credential.
    private static func secrets(of credentials: [RegistryCredential]) -> [String] {
        var out: [String] = []
        for credential in credentials {
            out.append(credential.value)
            if credential.tokenID != nil, let secret = credential.value.split(separator: ":").last, secret.count >= 16 {
                out.append(String(secret))
            }
        }
        return out
    }

    /// `text` with every credential replaced; a text holding any 12-character piece of one, in any case (a
    /// truncated or case-folded echo), is withheld whole. Any other token in it (a registry that echoes a
    /// token's value) is redacted as in reports (`Redaction.secrets(in:)`).
    static func redact(_ text: String, _ secrets: [String]) -> String {
        var text = text
        for secret in secrets where !secret.isEmpty { text = text.replacingOccurrences(of: secret, with: "<redacted>") }
        let folded = text.lowercased()
        for secret in secrets where secret.count >= 12 {
            let chars = Array(secret.lowercased())
            for start in 0...(chars.count - 12) where folded.contains(String(chars[start..<(start + 12)])) {
                return "<withheld: the registry's message echoed part of a credential>"
            }
        }
        return Redaction.secrets(in: text)
    }

    private static func redact(_ problem: Problem, _ secrets: [String]) -> Problem {
        var p = problem
        p.type = p.type.map { redact($0, secrets) }
        p.title = p.title.map { redact($0, secrets) }
        p.detail = p.detail.map { redact($0, secrets) }
        p.traceId = p.traceId.map { redact($0, secrets) }
        p.errors = Dictionary(uniqueKeysWithValues: p.errors.map { (redact($0.key, secrets), $0.value.map { redact($0, secrets) }) })
        return p
    }

    /// `text` percent-encoded for a query: RQL's `(),"` and the like kept readable where RFC 3986 allows.
    static func encodeQuery(_ text: String) -> String {
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~(),=*!'+:@/&")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}

/// The session delegate: a redirect is followed only within the same origin (scheme, host and port); any other
/// is refused (nil), so URLSession hands back the 3xx itself and the `Authorization` header never leaves for
/// another host. Source: reference/swift-on-linux.md (URLSession forwards `Authorization` across hosts).
final class SessionDelegate: NSObject, URLSessionDataDelegate, Sendable {
    let tasks: TaskTable

    init(tasks: TaskTable) { self.tasks = tasks }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @Sendable @escaping (URLSession.ResponseDisposition) -> Void) {
        guard let state = self.tasks.state(dataTask.taskIdentifier) else { return completionHandler(.cancel) }
        state.response = response as? HTTPURLResponse
        if response.expectedContentLength > Int64(self.tasks.maxBody) {
            state.tooLarge = true
            return completionHandler(.cancel)
        }
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard let state = self.tasks.state(dataTask.taskIdentifier), !state.tooLarge else { return }
        if state.data.count + data.count > self.tasks.maxBody {
            state.tooLarge = true
            dataTask.cancel()
            return
        }
        state.data.append(data)
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: (any Error)?) {
        guard let state = self.tasks.state(task.taskIdentifier) else { return }
        state.error = error
        state.done.signal()
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @Sendable @escaping (URLRequest?) -> Void) {
        let from = task.originalRequest?.url ?? response.url
        completionHandler(Self.sameOrigin(from, request.url) ? request : nil)
    }

    /// True when both URLs have the same scheme, host and port (default ports filled in), as RFC 6454 defines an origin.
    static func sameOrigin(_ a: URL?, _ b: URL?) -> Bool {
        guard let a, let b, let sa = a.scheme?.lowercased(), let sb = b.scheme?.lowercased(),
              let ha = a.host?.lowercased(), let hb = b.host?.lowercased() else { return false }
        func port(_ url: URL, _ scheme: String) -> Int { url.port ?? (scheme == "https" ? 443 : scheme == "http" ? 80 : -1) }
        return sa == sb && ha == hb && port(a, sa) == port(b, sb)
    }
}

/// An answer body over `RegistryClientOptions.maxBodyBytes`: refused, never retried.
struct BodyTooLarge: Error, CustomStringConvertible {
    var limit: Int
    var description: String { "the registry's answer is larger than \(self.limit) bytes: refused" }
}

/// What one data task has received, filled by the session delegate, read by `send` after `done`.
final class TaskState: @unchecked Sendable {
    let done = DispatchSemaphore(value: 0)
    var response: HTTPURLResponse?
    var data = Data()
    var error: (any Error)?
    var tooLarge = false
}

/// The tasks in flight, by task identifier.
final class TaskTable: @unchecked Sendable {
    private let lock = NSLock()
    private var states: [Int: TaskState] = [:]
    let maxBody: Int

    init(maxBody: Int) { self.maxBody = maxBody }

    func register(_ id: Int) -> TaskState {
        let state = TaskState()
        self.lock.withLock { self.states[id] = state }
        return state
    }

    func state(_ id: Int) -> TaskState? { self.lock.withLock { self.states[id] } }

    func remove(_ id: Int) { self.lock.withLock { _ = self.states.removeValue(forKey: id) } }
}
