import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A stand-in for the platform's token registry on a loopback address, for tests and for trying mptscan's
/// registry features without touching the platform (`mptscan registry emulate`).
///
/// Serves under `/public/v1` (shapes from `reference/marketplace-api.md`):
/// - `GET /accounts/api-tokens/{id}`: the token object; 404 unknown; Deleted tokens come back with status
///   `Deleted` and no value; the value (`token`) only for callers with `readValue`.
/// - `POST /accounts/api-tokens/{id}/disable` and `…/enable` (body ignored): 200 and the record; 400 problem when
///   the token is already in that state or deleted.
/// - `GET /accounts/api-tokens?limit=&offset=&eq(field,"value")`: `{"$meta":{"pagination":{…}},"data":[…]}`,
///   ordered by id, `limit` 0…100 (default 10, capped at 100), filters `eq` on `id`, `status`, `name`,
///   `account.id` (several are AND-ed); other RQL is a 400.
///
/// Authentication (`Authorization: Bearer …`): an admin `Credential` (matched by the SHA-256 of the bearer), or a
/// token of the state authenticating as itself when its value matches and it is Active (Disabled, Deleted or a
/// wrong value: 401). Permission: `platformAccountManagement` (every account) or `accessManagement` in the
/// token's account (an admin's `accounts`, or a token's own account); otherwise 403. Errors are RFC 7807
/// `application/problem+json` with a `traceId`.
///
/// State lives in memory and, with a state file, is written there (atomically, mode 0600) after every change.
/// Faults (`Fault`) can be injected; every request is counted by method and path.
public final class RegistryEmulator: @unchecked Sendable {
    /// What a credential may do.
    public enum Permission: String, Sendable, Codable, CaseIterable {
        /// Read, disable and enable tokens of the credential's own accounts ("Access Management" module).
        case accessManagement
        /// The same in every account (an Operations token with "Platform Account Management").
        case platformAccountManagement
        /// See token values (`token`) in what it may read; without it, records come without the value.
        case readValue
    }

    /// An admin bearer token of the emulator. Stored as the SHA-256 of the bearer, never the bearer itself.
    ///
    /// JSON: `{"name":"ops","sha256":"<64 hex>","permissions":["platformAccountManagement","readValue"],"accounts":[]}`;
    /// a hand-written state file may give `"bearer":"<value>"` instead of `sha256`, stored back hashed.
    public struct Credential: Sendable, Equatable, Codable {
        /// A label for logs and errors.
        public var name: String
        /// SHA-256 of the bearer value, lowercase hex.
        public var sha256: String
        /// What it may do.
        public var permissions: [Permission]
        /// The accounts where `accessManagement` applies (`ACC-…`).
        public var accounts: [String]

        /// A credential for `bearer`, hashed at once.
        public init(name: String, bearer: String, permissions: [Permission] = [.accessManagement, .readValue], accounts: [String] = []) {
            self.name = name
            self.sha256 = SHA256.hexDigest(of: Array(bearer.utf8))
            self.permissions = permissions
            self.accounts = accounts
        }

        enum CodingKeys: String, CodingKey { case name, sha256, bearer, permissions, accounts }

        /// Decodes `sha256`, or hashes a plain `bearer`.
        /// - Throws: `DecodingError` when `name` is missing, `sha256` is not 64 hex digits, or neither is given.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            self.name = try c.decode(String.self, forKey: .name)
            if let hash = try c.decodeIfPresent(String.self, forKey: .sha256) {
                guard hash.count == 64, Hex.decode(hash) != nil else {
                    throw DecodingError.dataCorruptedError(forKey: .sha256, in: c, debugDescription: "sha256 must be 64 hexadecimal digits")
                }
                self.sha256 = hash.lowercased()
            } else {
                self.sha256 = SHA256.hexDigest(of: Array(try c.decode(String.self, forKey: .bearer).utf8))
            }
            self.permissions = try c.decodeIfPresent([Permission].self, forKey: .permissions) ?? []
            self.accounts = try c.decodeIfPresent([String].self, forKey: .accounts) ?? []
        }

        /// Encodes the hash, never a bearer.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(self.name, forKey: .name)
            try c.encode(self.sha256, forKey: .sha256)
            try c.encode(self.permissions, forKey: .permissions)
            try c.encode(self.accounts, forKey: .accounts)
        }
    }

    /// A token of the emulated registry: the platform's record (with its value) plus what the token may do when
    /// it authenticates as itself (`grants`; none by default, so reading its own record gives 403).
    ///
    /// JSON: the platform's token object members (`id`, `status`, `name`, `description`, `lastAccessAt`, `token`,
    /// `account`) and `"grants":["accessManagement"]`.
    public struct Token: Sendable, Equatable, Codable {
        /// The record, `token` holding the full value.
        public var record: APITokenRecord
        /// Permissions of the token itself (applied to its own account for `accessManagement`).
        public var grants: [Permission]

        /// A token with `record` and `grants`.
        public init(_ record: APITokenRecord, grants: [Permission] = []) {
            self.record = record
            self.grants = grants
        }

        enum CodingKeys: String, CodingKey { case grants }

        /// Decodes the platform's token object and `grants`.
        public init(from decoder: any Decoder) throws {
            self.record = try APITokenRecord(from: decoder)
            self.grants = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent([Permission].self, forKey: .grants) ?? []
        }

        /// Encodes the token object, plus `grants` when there are any.
        public func encode(to encoder: any Encoder) throws {
            try self.record.encode(to: encoder)
            if !self.grants.isEmpty {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(self.grants, forKey: .grants)
            }
        }
    }

    /// Everything the emulator remembers; the state file's content: `{"tokens":[Token…],"credentials":[Credential…]}`.
    public struct State: Sendable, Equatable, Codable {
        /// The tokens, any order (served ordered by id).
        public var tokens: [Token]
        /// The admin credentials.
        public var credentials: [Credential]

        /// A state with the given tokens and credentials.
        public init(tokens: [Token] = [], credentials: [Credential] = []) {
            self.tokens = tokens
            self.credentials = credentials
        }

        /// The state in the JSON file at `path`.
        /// - Throws: a `CocoaError` when it cannot be read, a `DecodingError` (with the coding path) when it is not
        ///   a state.
        public static func load(from path: String) throws -> State {
            try JSONDecoder().decode(State.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        }

        /// Writes the state to `path` as sorted, indented JSON: a temporary file (mode 0600) in the same
        /// directory, then `rename(2)`, so a reader sees the old or the new file, never half of one.
        /// - Throws: `RegistryEmulator.Failure` when it cannot be written.
        public func save(to path: String) throws {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let data = try encoder.encode(self) + Data("\n".utf8)
            // created 0600 before a byte is written: the state holds token values (FileManager's atomic
            // write creates its temporary file 0644 and changes the mode only after the rename)
            if let code = PrivateFile.writeAtomically(Array(data), to: path) {
                throw Failure("cannot write \(path): \(String(cString: strerror(code)))")
            }
        }
    }

    /// A fault to inject: what happens, to which requests, and when.
    public struct Fault: Sendable {
        /// What the emulator does instead of (or before) answering.
        public enum Action: Sendable, Equatable {
            /// Answer `status` with a problem body, and `Retry-After: <retryAfter>` when given (seconds or a date).
            case status(Int, retryAfter: String? = nil)
            /// Wait this many seconds, then answer normally.
            case delay(TimeInterval)
            /// Close the connection with a TCP reset, without answering (nothing is done).
            case reset
            /// Do what the request asks (a disable applies), then close with a reset instead of answering: an
            /// answer lost on the way back.
            case dropAnswer
            /// Answer `status` (301, 302, 303, 307, 308) with `Location: location`.
            case redirect(status: Int, location: String)
            /// Answer `status` with this body and content type (a broken or hostile registry).
            case body(status: Int, contentType: String, body: String)
            /// Do what the request asks (a disable applies), then hold the answer until the gate opens: a
            /// request in flight for as long as a test needs (to signal the client meanwhile).
            case hold(Gate)
        }

        /// Holds answers (`Action.hold`) until `open()`: a test waits for `waitUntilHolding`, acts, then opens it.
        /// A held answer is let go after `maxHold` seconds anyway, so a failing test cannot hang the server.
        public final class Gate: @unchecked Sendable, Equatable {
            private let condition = NSCondition()
            private var isOpen = false
            private var holding = 0
            /// The longest an answer is held, in seconds.
            public let maxHold: TimeInterval

            /// A closed gate.
            public init(maxHold: TimeInterval = 60) { self.maxHold = maxHold }

            /// Lets every held answer go, and every later one through at once.
            public func open() {
                self.condition.lock()
                self.isOpen = true
                self.condition.broadcast()
                self.condition.unlock()
            }

            /// Waits until `count` answers are held at once (or `timeout` seconds pass); true when they are.
            public func waitUntilHolding(_ count: Int = 1, timeout: TimeInterval) -> Bool {
                let deadline = Date().addingTimeInterval(timeout)
                self.condition.lock()
                defer { self.condition.unlock() }
                while self.holding < count {
                    if !self.condition.wait(until: deadline) { return self.holding >= count }
                }
                return true
            }

            /// Called by the emulator outside its lock: returns when the gate opens (or after `maxHold`).
            func hold() {
                let deadline = Date().addingTimeInterval(self.maxHold)
                self.condition.lock()
                self.holding += 1
                self.condition.broadcast()
                while !self.isOpen && self.condition.wait(until: deadline) {}
                self.holding -= 1
                self.condition.unlock()
            }

            /// Gates are equal when they are the same gate.
            public static func == (a: Gate, b: Gate) -> Bool { a === b }
        }

        /// Which of the matching requests get the fault (counted from 1, per fault).
        public enum Trigger: Sendable, Equatable {
            /// The first n.
            case first(Int)
            /// The n-th, 2n-th, 3n-th, …
            case everyNth(Int)
            /// Each with this probability (0…1): SplitMix64 of `seed`, the request's path and how many requests to
            /// that path this fault has matched, so whether the n-th request for a token fails does not depend on
            /// the order in which concurrent lookups arrive (a sequence drawn in arrival order made the outcome
            /// depend on thread timing).
            case fraction(Double, seed: UInt64)
            /// All of them.
            case always
        }

        /// The action.
        public var action: Action
        /// The trigger.
        public var trigger: Trigger
        /// Only requests with this method; nil: any.
        public var method: String?
        /// Only requests whose path, after `/public/v1`, starts with this; nil: any.
        public var pathPrefix: String?

        /// A fault doing `action` when `trigger` says so, for requests matching `method` and `pathPrefix`.
        public init(_ action: Action, when trigger: Trigger, method: String? = nil, pathPrefix: String? = nil) {
            self.action = action
            self.trigger = trigger
            self.method = method
            self.pathPrefix = pathPrefix
        }
    }

    /// An emulator error (socket, state file), with what went wrong.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        /// What went wrong.
        public var message: String
        /// An error with `message`.
        public init(_ message: String) { self.message = message }
        /// The message.
        public var description: String { self.message }
    }

    /// One request as received: never the credential, only whether there was one.
    public struct ReceivedRequest: Sendable, Equatable {
        /// `GET`, `POST`, …
        public var method: String
        /// The path, query excluded.
        public var path: String
        /// The raw query, or nil.
        public var query: String?
        /// The `User-Agent` header.
        public var userAgent: String?
        /// The `Accept` header.
        public var accept: String?
        /// True when an `Authorization` header came.
        public var hadAuthorization: Bool
    }

    /// The path prefix of every route.
    public static let basePath = RegistryEndpoint.apiPath

    private let server: LoopbackHTTPServer
    private let lock = NSLock()
    private var current: State
    private let stateFile: String?
    private var faults: [(fault: Fault, matched: Int, seed: UInt64, perPath: [String: Int])] = []
    private var counts: [String: Int] = [:]
    private var received: [ReceivedRequest] = []
    private var traces = 0
    private var saveError: String?

    /// Starts an emulator on `host:port` (port 0: a free one, see `port`) serving `state`; with `stateFile`, the
    /// state is written there now and after every change.
    /// - Throws: `Failure` when the address cannot be bound or the state file cannot be written.
    public init(state: State = State(), stateFile: String? = nil, host: String = "127.0.0.1", port: UInt16 = 0) throws {
        self.current = state
        self.stateFile = stateFile
        if let stateFile { try state.save(to: stateFile) }
        let box = WeakEmulator()
        do {
            self.server = try LoopbackHTTPServer(host: host, port: port) { request in
                box.emulator?.handle(request) ?? HTTPServerResponse(status: 503)
            }
        } catch {
            throw Failure("\(error)")
        }
        box.emulator = self
    }

    deinit { self.server.stop() }

    /// The bound port.
    public var port: UInt16 { self.server.port }

    /// `http://<host>:<port>/public/v1`, the base to give `RegistryEndpoint.parse`.
    public var baseURL: String { "http://\(self.server.host):\(self.port)\(Self.basePath)" }

    /// Stops serving: no new connections; those in progress are finished (delays cut short, held answers let
    /// go). Idempotent.
    public func stop() {
        let gates = self.locked { self.faults.compactMap { entry -> Fault.Gate? in
            if case .hold(let gate) = entry.fault.action { return gate }
            return nil
        } }
        gates.forEach { $0.open() }
        self.server.stop()
    }

    /// A copy of the current state.
    public var state: State { self.locked { self.current } }

    /// Changes the state (e.g. a test deleting a token) and saves it when there is a state file.
    public func update(_ change: (inout State) -> Void) {
        self.locked {
            change(&self.current)
            _ = self.persist()
        }
    }

    /// The token with `id`, or nil.
    public func token(id: String) -> Token? { self.locked { self.current.tokens.first { $0.record.id == id } } }

    /// Replaces the injected faults (their counters start again at 0). Faults are tried in order: each counts the
    /// requests it matches (method, path prefix), and the first that fires decides the request.
    public func setFaults(_ faults: [Fault]) {
        self.locked {
            self.faults = faults.map { fault in
                if case .fraction(_, let seed) = fault.trigger { return (fault, 0, seed, [:]) }
                return (fault, 0, 0, [:])
            }
        }
    }

    /// How many requests came with `method` and `path` (with or without the `/public/v1` prefix; no query).
    public func requestCount(method: String, path: String) -> Int {
        let full = path.hasPrefix(Self.basePath) ? path : Self.basePath + path
        return self.locked { self.counts["\(method) \(full)"] ?? 0 }
    }

    /// Requests received per `"METHOD /path"` (no query), faults included.
    public var requestCounts: [String: Int] { self.locked { self.counts } }

    /// All requests received.
    public var totalRequests: Int { self.locked { self.counts.values.reduce(0, +) } }

    /// The requests received, oldest first (the first 10,000).
    public var requests: [ReceivedRequest] { self.locked { self.received } }

    /// Forgets the request counts and the request log.
    public func resetCounts() { self.locked { self.counts = [:]; self.received = [] } }

    /// The last state-file write failure, or nil.
    public var lastSaveError: String? { self.locked { self.saveError } }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        self.lock.lock()
        defer { self.lock.unlock() }
        return try body()
    }

    // MARK: - Requests

    private enum Principal {
        case admin(Credential)
        case token(Token)

        func has(_ permission: Permission) -> Bool {
            switch self {
            case .admin(let c): return c.permissions.contains(permission)
            case .token(let t): return t.grants.contains(permission)
            }
        }

        func mayManage(account: String?) -> Bool {
            if self.has(.platformAccountManagement) { return true }
            guard self.has(.accessManagement), let account else { return false }
            switch self {
            case .admin(let c): return c.accounts.contains(account)
            case .token(let t): return t.record.account?.id == account
            }
        }
    }

    func handle(_ request: HTTPServerRequest) -> HTTPServerResponse {
        var gate: Fault.Gate? = nil
        let response = self.answer(request, gate: &gate)
        gate?.hold() // outside the lock: other requests go on meanwhile
        return response
    }

    private func answer(_ request: HTTPServerRequest, gate: inout Fault.Gate?) -> HTTPServerResponse {
        self.locked {
            self.counts["\(request.method) \(request.path)", default: 0] += 1
            if self.received.count < 10_000 {
                self.received.append(ReceivedRequest(method: request.method, path: request.path, query: request.query,
                                                     userAgent: request.headers["user-agent"], accept: request.headers["accept"],
                                                     hadAuthorization: request.headers["authorization"] != nil))
            }
            var delay: TimeInterval = 0
            var drop = false
            if let action = self.fault(for: request) {
                switch action {
                case .status(let status, let retryAfter):
                    var response = self.problem(status, detail: "Injected fault.")
                    if let retryAfter { response.headers.append(("Retry-After", retryAfter)) }
                    return response
                case .reset:
                    return HTTPServerResponse(status: 0, reset: true)
                case .redirect(let status, let location):
                    return HTTPServerResponse(status: status, headers: [("Location", location), ("Content-Type", "text/plain")], body: Array("moved\n".utf8))
                case .body(let status, let contentType, let body):
                    return HTTPServerResponse(status: status, headers: [("Content-Type", contentType)], body: Array(body.utf8))
                case .delay(let seconds):
                    delay = seconds
                case .dropAnswer:
                    drop = true
                case .hold(let held):
                    gate = held
                }
            }
            var response = self.route(request)
            response.delay = delay
            response.reset = drop
            return response
        }
    }

    private func fault(for request: HTTPServerRequest) -> Fault.Action? {
        let relative = request.path.hasPrefix(Self.basePath) ? String(request.path.dropFirst(Self.basePath.count)) : request.path
        for i in self.faults.indices {
            let fault = self.faults[i].fault
            if let method = fault.method, method != request.method { continue }
            if let prefix = fault.pathPrefix, !relative.hasPrefix(prefix) { continue }
            self.faults[i].matched += 1
            let n = self.faults[i].matched
            let fires: Bool
            switch fault.trigger {
            case .first(let count): fires = n <= count
            case .everyNth(let every): fires = every > 0 && n % every == 0
            case .always: fires = true
            case .fraction(let p, _):
                let k = self.faults[i].perPath[relative, default: 0] + 1
                self.faults[i].perPath[relative] = k
                // FNV-1a of the path, mixed with the seed and the path's count, then SplitMix64's finaliser
                var h: UInt64 = 0xCBF2_9CE4_8422_2325
                for b in relative.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
                var z = self.faults[i].seed &+ h &+ UInt64(k) &* 0x9E3779B97F4A7C15
                z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
                z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
                z ^= z >> 31
                fires = Double(z >> 11) / Double(1 << 53) < p
            }
            if fires { return fault.action }
        }
        return nil
    }

    private func route(_ request: HTTPServerRequest) -> HTTPServerResponse {
        guard request.path.hasPrefix(Self.basePath + "/") else { return self.problem(404, detail: "No route for \(request.path); the API lives under \(Self.basePath).") }
        var parts = request.path.dropFirst(Self.basePath.count + 1).split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        if parts.last == "" { parts.removeLast() }
        guard parts.count >= 2, parts[0] == "accounts", parts[1] == "api-tokens" else {
            return self.problem(404, detail: "The emulator serves only /accounts/api-tokens.")
        }
        let principal: Principal
        switch self.authenticate(request.headers["authorization"]) {
        case .success(let p): principal = p
        case .failure(let refusal):
            return self.problem(401, detail: refusal.detail, headers: [("WWW-Authenticate", refusal.challenge)])
        }
        switch (request.method, parts.count) {
        case ("GET", 2): return self.list(request.query, principal)
        case ("GET", 3): return self.get(parts[2], principal)
        case ("POST", 4) where parts[3] == "disable": return self.change(parts[2], to: .disabled, principal)
        case ("POST", 4) where parts[3] == "enable": return self.change(parts[2], to: .active, principal)
        case (_, 2): return self.problem(405, detail: "Use GET.", headers: [("Allow", "GET")])
        case (_, 3): return self.problem(405, detail: "Use GET (the emulator never deletes).", headers: [("Allow", "GET")])
        case (_, 4) where parts[3] == "disable" || parts[3] == "enable": return self.problem(405, detail: "Use POST.", headers: [("Allow", "POST")])
        default: return self.problem(404, detail: "No route for \(request.path).")
        }
    }

    private struct Refusal: Error {
        var detail: String
        var challenge: String
    }

    private func authenticate(_ header: String?) -> Result<Principal, Refusal> {
        let bearer = header.flatMap { $0.lowercased().hasPrefix("bearer ") ? $0.dropFirst(7).trimmingCharacters(in: .whitespaces) : nil } ?? ""
        guard !bearer.isEmpty else {
            return .failure(Refusal(detail: "Missing bearer token.", challenge: "Bearer"))
        }
        let hash = Array(SHA256.hexDigest(of: Array(bearer.utf8)).utf8)
        if let admin = self.current.credentials.first(where: { APITokenRecord.constantTimeEquals(Array($0.sha256.utf8), hash) }) {
            return .success(.admin(admin))
        }
        if bearer.hasPrefix("idt:"), let colon = bearer.dropFirst(4).firstIndex(of: ":") {
            let id = String(bearer[bearer.index(bearer.startIndex, offsetBy: 4)..<colon])
            if let token = self.current.tokens.first(where: { $0.record.id == id }), token.record.status == .active, token.record.valueEquals(bearer) {
                return .success(.token(token))
            }
        }
        return .failure(Refusal(detail: "The bearer token is invalid, disabled or deleted.", challenge: "Bearer error=\"invalid_token\""))
    }

    private func get(_ id: String, _ principal: Principal) -> HTTPServerResponse {
        guard let token = self.current.tokens.first(where: { $0.record.id == id }) else {
            return self.problem(404, detail: "API token \(Printable.text(String(id.prefix(40)))) not found.")
        }
        guard principal.mayManage(account: token.record.account?.id) else {
            return self.problem(403, detail: "Access to API token \(id) is not allowed.")
        }
        return self.json(200, self.render(token, principal))
    }

    private func change(_ id: String, to target: APITokenRecord.Status, _ principal: Principal) -> HTTPServerResponse {
        guard let index = self.current.tokens.firstIndex(where: { $0.record.id == id }) else {
            return self.problem(404, detail: "API token \(Printable.text(String(id.prefix(40)))) not found.")
        }
        var token = self.current.tokens[index]
        guard principal.mayManage(account: token.record.account?.id) else {
            return self.problem(403, detail: "Changing API token \(id) is not allowed.")
        }
        switch (token.record.status, target) {
        case (.deleted, _):
            return self.problem(400, detail: "API token \(id) is deleted.", errors: ["status": ["A deleted token cannot change status."]])
        case (.active, .active), (.disabled, .disabled):
            return self.problem(400, detail: "API token \(id) is already \(target.rawValue.lowercased()).",
                                errors: ["status": ["Token is already \(target.rawValue)."]])
        case (.active, _), (.disabled, _), (.other, _):
            token.record.status = target
            self.current.tokens[index] = token
            if let error = self.persist() { return self.problem(500, detail: "The emulator could not save its state: \(error)") }
            return self.json(200, self.render(token, principal))
        }
    }

    private func list(_ query: String?, _ principal: Principal) -> HTTPServerResponse {
        var limit = 10, offset = 0
        var filters: [(String, String)] = []
        for part in (query ?? "").split(separator: "&") {
            let text = String(part).removingPercentEncoding ?? String(part)
            if text.hasPrefix("limit=") || text.hasPrefix("offset=") {
                let value = text.split(separator: "=", maxSplits: 1).last.map(String.init) ?? ""
                guard let n = Int(value), n >= 0 else { return self.problem(400, detail: "\(text) is not a whole number.", errors: [String(text.prefix { $0 != "=" }): ["Must be a whole number, 0 or more."]]) }
                if text.hasPrefix("limit=") { limit = min(n, 100) } else { offset = n }
            } else if text.hasPrefix("select=") || text.hasPrefix("order=") {
                continue
            } else if text.hasPrefix("eq("), text.hasSuffix(")"), let comma = text.firstIndex(of: ",") {
                let field = String(text[text.index(text.startIndex, offsetBy: 3)..<comma])
                var value = String(text[text.index(after: comma)..<text.index(before: text.endIndex)])
                if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") || value.hasPrefix("'") && value.hasSuffix("'") {
                    value = String(value.dropFirst().dropLast())
                }
                guard ["id", "status", "name", "account.id"].contains(field) else {
                    return self.problem(400, detail: "The emulator filters only on id, status, name and account.id, not \(Printable.text(field)).")
                }
                filters.append((field, value))
            } else {
                return self.problem(400, detail: "Unsupported RQL: \(Printable.text(String(text.prefix(80)))).")
            }
        }
        let visible = self.current.tokens
            .filter { principal.mayManage(account: $0.record.account?.id) }
            .filter { token in
                filters.allSatisfy { field, value in
                    switch field {
                    case "id": return token.record.id == value
                    case "status": return token.record.status.rawValue == value
                    case "name": return token.record.name == value
                    default: return token.record.account?.id == value
                    }
                }
            }
            .sorted { $0.record.id < $1.record.id }
        let page = offset < visible.count ? Array(visible[offset..<min(visible.count, offset + limit)]) : []
        let body: [String: Any] = [
            "$meta": ["pagination": ["offset": offset, "limit": limit, "total": visible.count]],
            "data": page.map { self.render($0, principal) },
        ]
        return self.json(200, body)
    }

    /// The platform's JSON object for `token` as `principal` may see it.
    private func render(_ token: Token, _ principal: Principal) -> [String: Any] {
        let record = token.record
        var object: [String: Any] = ["id": record.id, "href": "/accounts/api-tokens/\(record.id)", "status": record.status.rawValue, "icon": ""]
        if let name = record.name { object["name"] = name }
        if let description = record.tokenDescription { object["description"] = description }
        if let lastAccessAt = record.lastAccessAt { object["lastAccessAt"] = lastAccessAt }
        if let value = record.token, record.status != .deleted, principal.has(.readValue) { object["token"] = value }
        if let account = record.account {
            var a: [String: Any] = ["id": account.id, "href": "/accounts/accounts/\(account.id)"]
            if let name = account.name { a["name"] = name }
            if let type = account.type { a["type"] = type }
            if let status = account.status { a["status"] = status }
            object["account"] = a
        }
        return object
    }

    private func json(_ status: Int, _ object: [String: Any], contentType: String = "application/json") -> HTTPServerResponse {
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return HTTPServerResponse(status: status, headers: [("Content-Type", contentType)], body: Array(data))
    }

    /// An RFC 7807 answer with the platform's members (`traceId`, `errors`).
    private func problem(_ status: Int, detail: String, errors: [String: [String]] = [:], headers: [(String, String)] = []) -> HTTPServerResponse {
        self.traces += 1
        let digest = SHA256.hexDigest(of: Array("emulator-trace-\(self.port)-\(self.traces)".utf8))
        let trace = "00-" + digest.prefix(32) + "-" + digest.dropFirst(32).prefix(16) + "-01"
        let section = ["400": "15.5.1", "401": "15.5.2", "403": "15.5.4", "404": "15.5.5", "405": "15.5.6", "429": "6.4 (RFC 6585)",
                       "500": "15.6.1", "502": "15.6.3", "503": "15.6.4", "504": "15.6.5"]["\(status)"]
        var object: [String: Any] = [
            "type": section.map { $0.contains("RFC") ? "https://tools.ietf.org/html/rfc6585#section-4" : "https://tools.ietf.org/html/rfc9110#section-\($0)" } ?? "about:blank",
            "title": LoopbackHTTPServer.reason(status), "status": status, "detail": detail, "traceId": trace,
        ]
        if !errors.isEmpty { object["errors"] = errors }
        var response = self.json(status, object, contentType: "application/problem+json")
        response.headers += headers
        return response
    }

    /// Saves the state when there is a state file; the error text, or nil. Called with the lock held.
    @discardableResult
    private func persist() -> String? {
        guard let file = self.stateFile else { return nil }
        do {
            try self.current.save(to: file)
            self.saveError = nil
            return nil
        } catch {
            self.saveError = "\(error)"
            return self.saveError
        }
    }
}

/// Lets the server's handler reach the emulator without a reference cycle (the emulator owns the server).
private final class WeakEmulator: @unchecked Sendable {
    weak var emulator: RegistryEmulator?
}
