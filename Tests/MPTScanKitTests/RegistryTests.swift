import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import XCTest
@testable import MPTScanKit
import _MPTScanTestSupport

/// The registry client against the emulator, over real loopback sockets: lookups, self-check, disable, paging,
/// retries, resets, timeouts, redirects, and that no credential or token value ever shows in a message.
final class RegistryTests: XCTestCase {
    static let accountA = "ACC-1111-2222"
    static let accountB = "ACC-3333-4444"
    /// Admin bearers: synthetic secrets, never hand-typed.
    let opsBearer = SyntheticTokens.secret(seed: 1501, length: 48)
    let clientBearer = SyntheticTokens.secret(seed: 1502, length: 48)
    let blindBearer = SyntheticTokens.secret(seed: 1503, length: 48)

    override class func setUp() {
        super.setUp()
        // libcurl would send loopback requests to an http_proxy from the environment unless no_proxy lists them
        for name in ["no_proxy", "NO_PROXY"] {
            let current = ProcessInfo.processInfo.environment[name].map { $0 + "," } ?? ""
            setenv(name, current + "127.0.0.1,localhost", 1)
        }
    }

    /// Seeds 900…904: active (A), disabled (A), deleted (A), active (B), active (A) allowed to read itself.
    func token(_ seed: Int, _ status: APITokenRecord.Status, account: String = RegistryTests.accountA,
               grants: [RegistryEmulator.Permission] = []) -> RegistryEmulator.Token {
        RegistryEmulator.Token(APITokenRecord(id: SyntheticTokens.tokenID(seed: seed), status: status, name: "token \(seed)",
                                              tokenDescription: "synthetic", lastAccessAt: "2026-03-15T10:00:00.000Z",
                                              token: SyntheticTokens.token(seed: seed),
                                              account: .init(id: account, name: "Example \(account)", type: "Client", status: "Active")),
                               grants: grants)
    }

    func state() -> RegistryEmulator.State {
        RegistryEmulator.State(
            tokens: [self.token(900, .active), self.token(901, .disabled), self.token(902, .deleted),
                     self.token(903, .active, account: Self.accountB), self.token(904, .active, grants: [.accessManagement])],
            credentials: [
                .init(name: "ops", bearer: self.opsBearer, permissions: [.platformAccountManagement, .readValue]),
                .init(name: "client", bearer: self.clientBearer, permissions: [.accessManagement, .readValue], accounts: [Self.accountA]),
                .init(name: "blind", bearer: self.blindBearer, permissions: [.accessManagement], accounts: [Self.accountA]),
            ])
    }

    func emulator(_ state: RegistryEmulator.State? = nil, stateFile: String? = nil) throws -> RegistryEmulator {
        let emulator = try RegistryEmulator(state: state ?? self.state(), stateFile: stateFile)
        self.addTeardownBlock { emulator.stop() }
        return emulator
    }

    /// Fast options: tiny backoff; sleeps recorded (and really taken, they are short) unless `realSleep` is false.
    func options(attempts: Int = 5, sleeps: SleepLog? = nil) -> RegistryClientOptions {
        var options = RegistryClientOptions()
        options.maxAttempts = attempts
        options.initialBackoff = 0.02
        options.maxWait = 5
        options.requestTimeout = 5
        options.attemptTimeout = 10
        if let sleeps { options.sleep = { sleeps.append($0) } }
        return options
    }

    func client(_ emulator: RegistryEmulator, bearer: String? = nil, options: RegistryClientOptions? = nil) throws -> RegistryClient {
        let endpoint = try RegistryEndpoint.parse(emulator.baseURL)
        return RegistryClient(endpoint: endpoint, credential: try RegistryCredential(bearer ?? self.opsBearer), options: options ?? self.options())
    }

    final class SleepLog: @unchecked Sendable {
        private let lock = NSLock()
        private var values: [TimeInterval] = []
        func append(_ value: TimeInterval) { self.lock.lock(); self.values.append(value); self.lock.unlock() }
        var all: [TimeInterval] { self.lock.lock(); defer { self.lock.unlock() }; return self.values }
    }

    func id(_ seed: Int) -> String { SyntheticTokens.tokenID(seed: seed) }

    // MARK: - Endpoint, credential, problem

    func testEndpointEnvironmentsAndURLs() throws {
        XCTAssertEqual(try RegistryEndpoint.parse("production").baseURL.absoluteString, "https://api.platform.softwareone.com/public/v1")
        XCTAssertEqual(try RegistryEndpoint.parse(" QA ").baseURL.absoluteString, "https://api.s1.live/public/v1")
        XCTAssertEqual(try RegistryEndpoint.parse("test").baseURL.absoluteString, "https://api.s1.show/public/v1")
        XCTAssertEqual(try RegistryEndpoint.parse("dev").baseURL.absoluteString, "https://api.s1.today/public/v1")
        let custom = try RegistryEndpoint.parse("https://proxy.example.com:8443/mpt/public/v1/")
        XCTAssertEqual(custom.baseURL.absoluteString, "https://proxy.example.com:8443/mpt/public/v1")
        XCTAssertNil(custom.warning)
        XCTAssertEqual(custom.url("/accounts/api-tokens/TKN-1234-5678").absoluteString,
                       "https://proxy.example.com:8443/mpt/public/v1/accounts/api-tokens/TKN-1234-5678")

        func message(_ text: String) -> String {
            do { _ = try RegistryEndpoint.parse(text); return "accepted" } catch { return error.message }
        }
        XCTAssertTrue(message("https://api.s1.live").contains("did you mean https://api.s1.live/public/v1?"), message("https://api.s1.live"))
        XCTAssertTrue(message("https://api.s1.live/v1").contains("ending in /public/v1"))
        XCTAssertTrue(message("https://api.s1.live/public/v1/accounts/api-tokens").contains("did you mean https://api.s1.live/public/v1?"))
        XCTAssertTrue(message("http://api.s1.live/public/v1").contains("must use https"))
        XCTAssertTrue(message("http://10.0.0.8/public/v1").contains("must use https"))
        XCTAssertTrue(message("http://127.0.0.1.evil.example/public/v1").contains("must use https"))
        XCTAssertTrue(message("ftp://api.s1.live/public/v1").contains("must use https"))
        XCTAssertTrue(message("staging").contains("unknown registry 'staging'"))
        XCTAssertTrue(message("https://api.s1.live/public/v1?x=1").contains("query"))
        let userInfo = message("https://me:hunter-\(SyntheticTokens.secret(seed: 1510, length: 12))@api.s1.live/public/v1")
        XCTAssertTrue(userInfo.contains("user information"))
        XCTAssertFalse(userInfo.contains(SyntheticTokens.secret(seed: 1510, length: 12)), "the password is not echoed")

        for loopback in ["http://127.0.0.1:8080/public/v1", "http://127.1.2.3/public/v1", "http://localhost:9/public/v1", "http://[::1]:9/public/v1"] {
            let endpoint = try RegistryEndpoint.parse(loopback)
            XCTAssertTrue(endpoint.isPlainHTTP)
            XCTAssertTrue(endpoint.warning?.contains("plain HTTP") ?? false, loopback)
        }
    }

    func testCredentialSourcesAndRedaction() throws {
        let value = SyntheticTokens.token(seed: 920)
        XCTAssertNil(try RegistryCredential.fromEnvironment([:]))
        XCTAssertThrowsError(try RegistryCredential.fromEnvironment(["MPT_REGISTRY_TOKEN": " \n"])) { error in
            XCTAssertEqual("\(error)", "MPT_REGISTRY_TOKEN is empty")
        }
        let fromEnv = try XCTUnwrap(try RegistryCredential.fromEnvironment(["MPT_REGISTRY_TOKEN": value + "\n"]))
        XCTAssertEqual(fromEnv.authorization, "Bearer " + value)
        XCTAssertEqual(fromEnv.tokenID, SyntheticTokens.tokenID(seed: 920))

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mptscan-cred-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("token").path
        try Data((value + "\r\n").utf8).write(to: URL(fileURLWithPath: file))
        XCTAssertEqual(try RegistryCredential.fromFile(file).authorization, "Bearer " + value)
        try Data("\n".utf8).write(to: URL(fileURLWithPath: file))
        XCTAssertThrowsError(try RegistryCredential.fromFile(file)) { XCTAssertTrue("\($0)".hasSuffix("is empty")) }
        try Data((value + "\nsecond line").utf8).write(to: URL(fileURLWithPath: file))
        XCTAssertThrowsError(try RegistryCredential.fromFile(file)) { error in
            XCTAssertTrue("\(error)".contains("single token"))
            XCTAssertFalse("\(error)".contains(SyntheticTokens.secret(seed: 920)))
        }
        XCTAssertThrowsError(try RegistryCredential.fromFile(dir.appendingPathComponent("missing").path)) {
            XCTAssertTrue("\($0)".contains("cannot be read"))
        }

        var dumped = ""
        dump(fromEnv, to: &dumped)
        for text in ["\(fromEnv)", String(reflecting: fromEnv), dumped] {
            XCTAssertFalse(text.contains(SyntheticTokens.secret(seed: 920)), text)
        }
        XCTAssertNil(try RegistryCredential(self.opsBearer).tokenID)
    }

    func testProblemDetailsAreDecodedLeniently() throws {
        let full = Data(#"{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.1","title":"Bad Request","status":400,"detail":"Token is already disabled.","traceId":"00-abc-def-01","errors":{"status":["Token is already Disabled."],"id":"bad"}}"#.utf8)
        let problem = try XCTUnwrap(Problem.decode(full))
        XCTAssertEqual(problem.status, 400)
        XCTAssertEqual(problem.traceId, "00-abc-def-01")
        XCTAssertEqual(problem.errors, ["status": ["Token is already Disabled."], "id": ["bad"]])
        XCTAssertEqual(problem.description, "Bad Request (400): Token is already disabled. [id: bad; status: Token is already Disabled.] (trace 00-abc-def-01)")

        let odd = try XCTUnwrap(Problem.decode(Data(#"{"title":"Oops\n\u001b[31m","status":"503","errors":[{"code":1}],"extra":true}"#.utf8)))
        XCTAssertEqual(odd.status, 503)
        XCTAssertEqual(odd.errors[""], [#"{"code":1}"#])
        XCTAssertFalse(odd.description.contains("\n"))
        XCTAssertFalse(odd.description.contains("\u{1b}"))
        XCTAssertNil(Problem.decode(Data("<html>502 Bad Gateway</html>".utf8)))
        XCTAssertNil(Problem.decode(Data(#"{"data":[]}"#.utf8)))
        XCTAssertNil(Problem.decode(Data()))
        let long = try XCTUnwrap(Problem.decode(Data(("{\"detail\":\"" + String(repeating: "x", count: 2000) + "\"}").utf8)))
        XCTAssertLessThanOrEqual(long.description.count, 400)
    }

    func testRetryAfterSecondsAndDates() {
        let now = Date(timeIntervalSince1970: 784_111_777) // Sun, 06 Nov 1994 08:49:37 GMT
        XCTAssertEqual(RegistryClient.retryAfterSeconds("120", now: now), 120)
        XCTAssertEqual(RegistryClient.retryAfterSeconds("Sun, 06 Nov 1994 08:49:47 GMT", now: now), 10)
        XCTAssertEqual(RegistryClient.retryAfterSeconds("Sunday, 06-Nov-94 08:49:57 GMT", now: now), 20)
        XCTAssertEqual(RegistryClient.retryAfterSeconds("Sun Nov  6 08:50:07 1994", now: now), 30)
        XCTAssertEqual(RegistryClient.retryAfterSeconds("Sun, 06 Nov 1994 08:00:00 GMT", now: now), 0, "a date in the past: no wait")
        XCTAssertNil(RegistryClient.retryAfterSeconds("soon", now: now))
        XCTAssertNil(RegistryClient.retryAfterSeconds("-5", now: now))
    }

    // MARK: - Lookups

    func testLookupsCoverEveryAnswer() throws {
        let emulator = try self.emulator()
        let ops = try self.client(emulator)

        let live = try ops.getToken(id: self.id(900)).get()
        XCTAssertEqual(live.status, .active)
        XCTAssertEqual(live.account?.id, Self.accountA)
        XCTAssertEqual(live.name, "token 900")
        XCTAssertEqual(live.lastAccessAt, "2026-03-15T10:00:00.000Z")
        XCTAssertTrue(live.valueEquals(SyntheticTokens.token(seed: 900)))
        XCTAssertFalse(live.valueEquals(SyntheticTokens.token(seed: 901)))
        XCTAssertEqual(live.valueFingerprint, SHA256.hexDigest(of: Array(SyntheticTokens.token(seed: 900).utf8)))
        XCTAssertFalse("\(live)".contains(SyntheticTokens.secret(seed: 900)), "a record prints without its value")

        XCTAssertEqual(try ops.getToken(id: self.id(901)).get().status, .disabled)
        let deleted = try ops.getToken(id: self.id(902)).get()
        XCTAssertEqual(deleted.status, .deleted)
        XCTAssertNil(deleted.token, "deleted tokens come without a value")

        guard case .failure(.notFound(let problem)) = ops.getToken(id: "TKN-0000-0001") else { return XCTFail("404 expected") }
        XCTAssertEqual(problem?.status, 404)
        XCTAssertTrue(problem?.traceId?.hasPrefix("00-") ?? false)

        let client = try self.client(emulator, bearer: self.clientBearer)
        XCTAssertNoThrow(try client.getToken(id: self.id(900)).get())
        guard case .failure(.forbidden) = client.getToken(id: self.id(903)) else { return XCTFail("403 expected for another account") }

        let blind = try self.client(emulator, bearer: self.blindBearer)
        let hidden = try blind.getToken(id: self.id(900)).get()
        XCTAssertEqual(hidden.status, .active)
        XCTAssertNil(hidden.token, "without readValue the record has no value to compare")
        XCTAssertFalse(hidden.valueEquals(SyntheticTokens.token(seed: 900)))

        let stranger = try self.client(emulator, bearer: SyntheticTokens.secret(seed: 1504, length: 48))
        guard case .failure(.unauthorized(let refused)) = stranger.getToken(id: self.id(900)) else { return XCTFail("401 expected") }
        XCTAssertEqual(refused?.status, 401)

        XCTAssertEqual(emulator.requests.first?.userAgent, "mptscan/\(ToolInfo.version)")
        XCTAssertEqual(emulator.requests.first?.accept, "application/json")
        XCTAssertTrue(emulator.requests.allSatisfy(\.hadAuthorization))
    }

    func testSelfCheckAuthenticatesAsTheFoundToken() throws {
        let emulator = try self.emulator()
        let ops = try self.client(emulator)
        func check(_ seed: Int, value: String? = nil) -> Result<APITokenRecord, RegistryFailure> {
            ops.getToken(id: self.id(seed), bearer: try! RegistryCredential(value ?? SyntheticTokens.token(seed: seed)))
        }
        guard case .failure(.forbidden) = check(900) else { return XCTFail("an active token without rights: 403 (live)") }
        XCTAssertEqual(try check(904).get().status, .active, "an active token that may read itself: 200 (live)")
        guard case .failure(.unauthorized) = check(901) else { return XCTFail("a disabled token: 401 (invalid)") }
        guard case .failure(.unauthorized) = check(902) else { return XCTFail("a deleted token: 401 (invalid)") }
        let fake = "idt:\(self.id(900)):" + SyntheticTokens.secret(seed: 1505)
        guard case .failure(.unauthorized) = check(900, value: fake) else { return XCTFail("a real id with a fake secret: 401") }
    }

    func testBatchLookUpAsksOncePerDistinctID() throws {
        let emulator = try self.emulator()
        let ops = try self.client(emulator)
        let ids = [900, 901, 900, 902, 903, 904, 901].map(self.id) + ["TKN-0000-0001", "not-an-id"]
        let results = ops.lookUp(ids: ids, concurrency: 4)
        XCTAssertEqual(results.count, 7)
        XCTAssertEqual(try results[self.id(903)]?.get().account?.id, Self.accountB)
        guard case .failure(.notFound)? = results["TKN-0000-0001"] else { return XCTFail() }
        guard case .failure(.invalidRequest)? = results["not-an-id"] else { return XCTFail() }
        for seed in 900...904 { XCTAssertEqual(emulator.requestCount(method: "GET", path: "/accounts/api-tokens/\(self.id(seed))"), 1) }
        XCTAssertEqual(emulator.totalRequests, 6, "an invalid id is never sent")
    }

    // MARK: - Disable, paging

    func testDisableThenReReadAndStateFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mptscan-emu-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("state.json").path
        let emulator = try self.emulator(stateFile: file)
        let ops = try self.client(emulator)

        XCTAssertEqual(try ops.disableToken(id: self.id(900)).get().status, .disabled)
        XCTAssertEqual(try ops.getToken(id: self.id(900)).get().status, .disabled)
        guard case .failure(.http(400, let problem)) = ops.disableToken(id: self.id(900)) else { return XCTFail("disabling twice: 400") }
        XCTAssertEqual(problem?.errors["status"], ["Token is already Disabled."])
        guard case .failure(.http(400, _)) = ops.disableToken(id: self.id(902)) else { return XCTFail("a deleted token cannot be disabled") }
        let client = try self.client(emulator, bearer: self.clientBearer)
        guard case .failure(.forbidden) = client.disableToken(id: self.id(903)) else { return XCTFail("403 in another account") }
        XCTAssertEqual(emulator.requestCount(method: "POST", path: "/accounts/api-tokens/\(self.id(903))/disable"), 1)
        XCTAssertEqual(emulator.token(id: self.id(903))?.record.status, .active)

        let saved = try RegistryEmulator.State.load(from: file)
        XCTAssertEqual(saved.tokens.first { $0.record.id == self.id(900) }?.record.status, .disabled, "saved after the change")
        XCTAssertEqual(saved, emulator.state)
        let text = try String(contentsOfFile: file, encoding: .utf8)
        XCTAssertFalse(text.contains(self.opsBearer), "admin bearers are stored hashed")
        XCTAssertEqual((try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? NSNumber)?.intValue, 0o600)

        XCTAssertEqual(try ops.enableToken(id: self.id(900)).get().status, .active)
        XCTAssertEqual(try RegistryEmulator.State.load(from: file).tokens.first { $0.record.id == self.id(900) }?.record.status, .active)
        // a restarted emulator serves the saved state
        emulator.stop()
        let again = try self.emulator(try RegistryEmulator.State.load(from: file), stateFile: file)
        XCTAssertEqual(try self.client(again).getToken(id: self.id(901)).get().status, .disabled)
    }

    func testHandWrittenStateWithPlainBearerIsStoredHashed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mptscan-emu-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("state.json").path
        let json = """
        {"credentials":[{"name":"ops","bearer":"\(self.opsBearer)","permissions":["platformAccountManagement","readValue"]}],
         "tokens":[{"id":"\(self.id(930))","status":"Active","token":"\(SyntheticTokens.token(seed: 930))",
                    "account":{"id":"\(Self.accountA)"},"grants":["accessManagement"]}]}
        """
        try Data(json.utf8).write(to: URL(fileURLWithPath: file))
        let emulator = try self.emulator(try RegistryEmulator.State.load(from: file), stateFile: file)
        XCTAssertEqual(try self.client(emulator).getToken(id: self.id(930)).get().token, SyntheticTokens.token(seed: 930))
        XCTAssertEqual(emulator.token(id: self.id(930))?.grants, [.accessManagement])
        XCTAssertFalse(try String(contentsOfFile: file, encoding: .utf8).contains(self.opsBearer))
        XCTAssertThrowsError(try JSONDecoder().decode(RegistryEmulator.State.self, from: Data(#"{"tokens":[],"credentials":[{"name":"x","sha256":"zz"}]}"#.utf8)))
    }

    func testADisableWhoseAnswerWasLostIsConfirmedByReading() throws {
        let emulator = try self.emulator()
        emulator.setFaults([.init(.dropAnswer, when: .first(1), method: "POST")])
        let ops = try self.client(emulator)
        XCTAssertEqual(try ops.disableToken(id: self.id(900)).get().status, .disabled, "the retry's 400 'already disabled' is checked by a read")
        let disable = "/accounts/api-tokens/\(self.id(900))/disable"
        XCTAssertEqual(emulator.requestCount(method: "POST", path: disable), 2)
        XCTAssertEqual(emulator.requestCount(method: "GET", path: "/accounts/api-tokens/\(self.id(900))"), 1)
        // without an earlier lost attempt, 400 stays a failure
        guard case .failure(.http(400, _)) = ops.disableToken(id: self.id(900)) else { return XCTFail() }
        XCTAssertEqual(emulator.requestCount(method: "GET", path: "/accounts/api-tokens/\(self.id(900))"), 1)
    }

    func testPagingThrough250Tokens() throws {
        var state = self.state()
        state.tokens = (0..<250).map { self.token(1000 + $0, $0 % 5 == 0 ? .disabled : .active, account: $0 % 2 == 0 ? Self.accountA : Self.accountB) }
        XCTAssertEqual(Set(state.tokens.map(\.record.id)).count, 250, "distinct synthetic ids")
        let emulator = try self.emulator(state)
        let ops = try self.client(emulator)

        let all = try ops.listAllTokens().get()
        XCTAssertEqual(all.count, 250)
        XCTAssertEqual(all.map(\.id), state.tokens.map(\.record.id).sorted())
        XCTAssertEqual(emulator.requestCount(method: "GET", path: "/accounts/api-tokens"), 3, "pages of 100, 100, 50")

        let last = try ops.listTokens(limit: 100, offset: 200).get()
        XCTAssertEqual([last.offset, last.limit, last.total, last.tokens.count], [200, 100, 250, 50])
        XCTAssertFalse(last.hasMore)
        XCTAssertEqual(try ops.listTokens(limit: 100, offset: 300).get().tokens.count, 0)

        let active = try ops.listAllTokens(filter: #"eq(status,"Active")"#, pageSize: 40).get()
        XCTAssertEqual(active.count, 200)
        XCTAssertTrue(active.allSatisfy { $0.status == .active })
        XCTAssertEqual(emulator.requests.last?.query, "eq(status,%22Active%22)&limit=40&offset=160", "the fifth page ends the list")

        let client = try self.client(emulator, bearer: self.clientBearer)
        XCTAssertEqual(try client.listAllTokens().get().count, 125, "only the accounts a credential manages")
        guard case .failure(.invalidRequest) = ops.listTokens(limit: 101) else { return XCTFail() }
        guard case .failure(.http(400, _)) = ops.listTokens(filter: "like(name,*x*)") else { return XCTFail("unsupported RQL: 400") }
    }

    // MARK: - Retries and faults

    func testRetryAfterOneSecondThen500ThenSuccess() throws {
        let emulator = try self.emulator()
        emulator.setFaults([.init(.status(429, retryAfter: "1"), when: .first(1)), .init(.status(500), when: .first(1))])
        var options = self.options()
        options.initialBackoff = 0.1
        let ops = try self.client(emulator, options: options)
        let started = Date()
        let record = try ops.getToken(id: self.id(900)).get()
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertEqual(record.status, .active)
        XCTAssertEqual(emulator.requestCount(method: "GET", path: "/accounts/api-tokens/\(self.id(900))"), 3)
        XCTAssertGreaterThanOrEqual(elapsed, 1.0, "Retry-After: 1 honoured")
        XCTAssertLessThan(elapsed, 1.0 + 0.2 + 1.0, "one second, at most 0.2 s of backoff, and the requests")
    }

    func testRetriesBackOffWithJitterAndGiveUp() throws {
        let emulator = try self.emulator()
        emulator.setFaults([.init(.status(503), when: .always)])
        let sleeps = SleepLog()
        var options = self.options(attempts: 4, sleeps: sleeps)
        options.initialBackoff = 1
        options.maxWait = 3
        options.random = { 0.5 }
        let ops = try self.client(emulator, options: options)
        guard case .failure(.http(503, let problem)) = ops.getToken(id: self.id(900)) else { return XCTFail("503 after the attempts") }
        XCTAssertEqual(problem?.title, "Service Unavailable")
        XCTAssertEqual(emulator.totalRequests, 4)
        XCTAssertEqual(sleeps.all, [0.5, 1.0, 1.5], "half of 1, 2, then 4 capped at 3")

        // a Retry-After beyond maxWait ends the retries at once; an HTTP-date is honoured
        emulator.resetCounts()
        emulator.setFaults([.init(.status(429, retryAfter: "3600"), when: .always)])
        guard case .failure(.http(429, _)) = ops.getToken(id: self.id(900)) else { return XCTFail() }
        XCTAssertEqual(emulator.totalRequests, 1)
        let date = DateFormatter()
        date.locale = Locale(identifier: "en_US_POSIX")
        date.timeZone = TimeZone(identifier: "GMT")
        date.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        emulator.setFaults([.init(.status(429, retryAfter: date.string(from: Date().addingTimeInterval(2))), when: .first(1))])
        let before = sleeps.all.count
        XCTAssertNoThrow(try ops.getToken(id: self.id(900)).get())
        let waited = try XCTUnwrap(sleeps.all.dropFirst(before).first)
        XCTAssertTrue((0.5...2.0).contains(waited), "waited \(waited) s for a date about 2 s ahead (whole seconds)")

        // 400, 401, 403 and 404 are answers, never retried
        emulator.resetCounts()
        emulator.setFaults([.init(.status(400), when: .always)])
        guard case .failure(.http(400, _)) = ops.getToken(id: self.id(900)) else { return XCTFail() }
        XCTAssertEqual(emulator.totalRequests, 1)
    }

    func testFaultTriggersAreDeterministic() throws {
        let emulator = try self.emulator()
        emulator.setFaults([.init(.status(500), when: .everyNth(3), method: "GET", pathPrefix: "/accounts/api-tokens/")])
        let ops = try self.client(emulator, options: self.options(attempts: 1))
        let outcomes = (0..<6).map { _ in (try? ops.getToken(id: self.id(900)).get()) != nil }
        XCTAssertEqual(outcomes, [true, true, false, true, true, false])
        XCTAssertNotNil(try? ops.listTokens().get(), "another path is not matched")

        func fractionRun() throws -> [Bool] {
            emulator.setFaults([.init(.status(503), when: .fraction(0.5, seed: 7))])
            return (0..<20).map { _ in (try? ops.getToken(id: self.id(900)).get()) != nil }
        }
        let first = try fractionRun()
        XCTAssertEqual(first, try fractionRun(), "the same seed fails the same requests")
        XCTAssertTrue(first.contains(true) && first.contains(false))
    }

    func testConnectionResetIsRetried() throws {
        let emulator = try self.emulator()
        emulator.setFaults([.init(.reset, when: .first(2))])
        let sleeps = SleepLog()
        let ops = try self.client(emulator, options: self.options(sleeps: sleeps))
        XCTAssertEqual(try ops.getToken(id: self.id(900)).get().status, .active)
        XCTAssertEqual(emulator.totalRequests, 3)
        XCTAssertEqual(sleeps.all.count, 2)

        emulator.setFaults([.init(.reset, when: .always)])
        guard case .failure(.transport(let message)) = ops.getToken(id: self.id(900)) else { return XCTFail("transport failure expected") }
        XCTAssertTrue(message.contains("after 5 attempts"), message)
    }

    func testUnreachableAndSlowRegistries() throws {
        let emulator = try self.emulator()
        let base = emulator.baseURL
        emulator.stop()
        let sleeps = SleepLog()
        let gone = RegistryClient(endpoint: try RegistryEndpoint.parse(base), credential: try RegistryCredential(self.opsBearer),
                                  options: self.options(attempts: 2, sleeps: sleeps))
        guard case .failure(.transport(let message)) = gone.getToken(id: self.id(900)) else { return XCTFail("connection refused expected") }
        XCTAssertEqual(sleeps.all.count, 1, "refused connections are retried")
        XCTAssertFalse(message.contains(self.opsBearer))

        // timeouts are whole seconds (URLSession on Linux gives libcurl whole seconds; 0.3 timed out at once)
        let slow = try self.emulator()
        slow.setFaults([.init(.delay(3), when: .first(1))])
        var options = self.options(attempts: 2)
        options.requestTimeout = 0.3
        options.attemptTimeout = 1
        let started = Date()
        XCTAssertEqual(try self.client(slow, options: options).getToken(id: self.id(900)).get().status, .active, "the timed-out attempt is retried")
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertTrue((0.9..<2.5).contains(elapsed), "one 1 s timeout, then the answer: \(elapsed) s")
        XCTAssertEqual(slow.totalRequests, 2)
        slow.setFaults([.init(.delay(3), when: .always)])
        options.maxAttempts = 1
        guard case .failure(.transport(let timedOut)) = try self.client(slow, options: options).getToken(id: self.id(900)) else { return XCTFail() }
        XCTAssertTrue(timedOut.contains("timed out"), timedOut)
    }

    func testMalformedBodies() throws {
        let emulator = try self.emulator()
        let ops = try self.client(emulator)
        emulator.setFaults([.init(.body(status: 200, contentType: "application/json", body: #"{"id":"TKN-0000-0001"}"#), when: .first(1))])
        guard case .failure(.malformed(let message)) = ops.getToken(id: self.id(900)) else { return XCTFail() }
        XCTAssertTrue(message.contains("missing .status"), message)
        emulator.setFaults([.init(.body(status: 200, contentType: "text/html", body: "<html></html>"), when: .first(1))])
        guard case .failure(.malformed) = ops.getToken(id: self.id(900)) else { return XCTFail() }
        emulator.setFaults([.init(.body(status: 502, contentType: "text/html", body: "<html>bad gateway</html>"), when: .always)])
        guard case .failure(.http(502, nil)) = try self.client(emulator, options: self.options(attempts: 1)).getToken(id: self.id(900)) else { return XCTFail() }
        // unknown status strings are kept
        emulator.setFaults([.init(.body(status: 200, contentType: "application/json", body: #"{"id":"TKN-0000-0001","status":"Suspended"}"#), when: .first(1))])
        XCTAssertEqual(try ops.getToken(id: self.id(900)).get().status, .other("Suspended"))
    }

    // MARK: - Redirects and secrecy

    func testRedirectToAnotherOriginIsRefused() throws {
        let registry = try self.emulator()
        let elsewhere = try self.emulator()
        let path = "/accounts/api-tokens/\(self.id(900))"
        registry.setFaults([.init(.redirect(status: 302, location: elsewhere.baseURL + path), when: .always)])
        let ops = try self.client(registry)
        guard case .failure(.redirectRefused(302, let location)) = ops.getToken(id: self.id(900)) else { return XCTFail("redirect refused expected") }
        XCTAssertEqual(location, elsewhere.baseURL + path)
        XCTAssertEqual(elsewhere.totalRequests, 0, "the other origin never saw the request (nor its Authorization)")
        XCTAssertEqual(registry.totalRequests, 1, "a refused redirect is not retried")

        registry.setFaults([.init(.redirect(status: 307, location: elsewhere.baseURL + path + "/disable"), when: .always)])
        guard case .failure(.redirectRefused(307, _)) = ops.disableToken(id: self.id(900)) else { return XCTFail() }
        XCTAssertEqual(elsewhere.totalRequests, 0)

        // within the same origin a redirect is followed
        registry.setFaults([.init(.redirect(status: 302, location: registry.baseURL + path), when: .first(1))])
        XCTAssertEqual(try ops.getToken(id: self.id(900)).get().status, .active)

        let a = URL(string: "https://api.s1.live/public/v1/x")!
        XCTAssertTrue(SessionDelegate.sameOrigin(a, URL(string: "https://API.s1.live:443/other")!))
        for other in ["http://api.s1.live/public/v1/x", "https://api.s1.live:8443/public/v1/x", "https://evil.example/public/v1/x"] {
            XCTAssertFalse(SessionDelegate.sameOrigin(a, URL(string: other)!), other)
        }
    }

    func testCredentialNeverAppearsInFailures() throws {
        let emulator = try self.emulator()
        let foundToken = SyntheticTokens.token(seed: 900)
        // a hostile registry echoing what it was sent
        emulator.setFaults([.init(.body(status: 401, contentType: "application/problem+json",
                                        body: #"{"title":"Unauthorized","status":401,"detail":"bad bearer \#(self.opsBearer) and \#(foundToken)","errors":{"\#(self.opsBearer)":["\#(SyntheticTokens.secret(seed: 900))"]}}"#),
                                  when: .always)])
        let ops = try self.client(emulator)
        var failures: [RegistryFailure] = []
        if case .failure(let f) = ops.getToken(id: self.id(900)) { failures.append(f) }
        if case .failure(let f) = ops.getToken(id: self.id(900), bearer: try RegistryCredential(foundToken)) { failures.append(f) }
        emulator.setFaults([.init(.redirect(status: 302, location: "http://127.0.0.1:1/\(self.opsBearer)"), when: .always)])
        if case .failure(let f) = ops.getToken(id: self.id(900)) { failures.append(f) }
        XCTAssertEqual(failures.count, 3)
        for (i, failure) in failures.enumerated() {
            var dumped = ""
            dump(failure, to: &dumped)
            for text in ["\(failure)", dumped] {
                XCTAssertFalse(text.contains(self.opsBearer), text)
                // the found token's secret is redacted when it was sent (the self-check); a registry volunteering
                // a value it was not sent is not something the client can know to hide
                if i == 1 { XCTAssertFalse(text.contains(SyntheticTokens.secret(seed: 900)), text) }
            }
        }
        XCTAssertTrue("\(failures[0])".contains("<redacted>"))
    }

    /// Sends raw bytes to the emulator and returns its whole answer (it closes after one).
    func raw(_ emulator: RegistryEmulator, _ request: [UInt8]) throws -> String {
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer { _ = close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = emulator.port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        XCTAssertEqual(connected, 0)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            answer += buffer[0..<n]
        }
        return String(decoding: answer, as: UTF8.self)
    }

    func testTheEmulatorSurvivesMalformedRequests() throws {
        let emulator = try self.emulator()
        XCTAssertTrue(try self.raw(emulator, Array("GARBAGE\r\n\r\n".utf8)).hasPrefix("HTTP/1.1 400 "))
        let big = try self.raw(emulator, Array(("GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: 70_000) + "\r\n\r\n").utf8)); XCTAssertTrue(big.hasPrefix("HTTP/1.1 431 "), String(big.prefix(200)))
        XCTAssertTrue(try self.raw(emulator, Array("POST /x HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n".utf8)).hasPrefix("HTTP/1.1 413 "))
        // a chunked POST (what some clients send for a body-less POST) is read and answered
        let chunked = "POST \(RegistryEmulator.basePath)/accounts/api-tokens/\(self.id(900))/disable HTTP/1.1\r\nHost: x\r\n"
            + "Authorization: Bearer \(self.opsBearer)\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
        let answer = try self.raw(emulator, Array(chunked.utf8))
        XCTAssertTrue(answer.hasPrefix("HTTP/1.1 200 OK\r\n"), answer)
        XCTAssertTrue(answer.contains("Content-Type: application/json\r\n") && answer.contains("Connection: close\r\n"))
        XCTAssertEqual(emulator.token(id: self.id(900))?.record.status, .disabled)
        let wrongMethod = try self.raw(emulator, Array("DELETE \(RegistryEmulator.basePath)/accounts/api-tokens/\(self.id(900)) HTTP/1.1\r\nAuthorization: Bearer \(self.opsBearer)\r\n\r\n".utf8))
        XCTAssertTrue(wrongMethod.hasPrefix("HTTP/1.1 405 ") && wrongMethod.contains("application/problem+json"), wrongMethod)
        XCTAssertEqual(try self.client(emulator).getToken(id: self.id(901)).get().status, .disabled, "still serving")
    }

    func testInvalidIDsAreNeverSent() throws {
        let emulator = try self.emulator()
        let ops = try self.client(emulator)
        for id in ["../../accounts", "TKN-1234-5678/disable", "TKN-12345-678", "TKN-1234-5678?x", "tkn-1234-5678", ""] {
            guard case .failure(.invalidRequest) = ops.getToken(id: id) else { return XCTFail(id) }
            guard case .failure(.invalidRequest) = ops.disableToken(id: id) else { return XCTFail(id) }
        }
        XCTAssertTrue(APITokenRecord.isValidID("TKN-1234-5678-9012"))
        XCTAssertEqual(emulator.totalRequests, 0)
    }

    /// Hostile answers: a record of another token, a truncated or case-folded echo of a credential, a huge body.
    func testAnotherTokensRecordPartialEchoesAndHugeBodies() throws {
        let token = SyntheticTokens.token(seed: 1530)
        let other = APITokenRecord(id: "TKN-9999-0001", status: .active, token: token)
        XCTAssertEqual(RegistryVerdict.decide(found: token, tokenID: SyntheticTokens.tokenID(seed: 1530), lookup: .success(other)).verdict, .error)
        XCTAssertEqual(RegistryVerdict.decideSelf(tokenID: SyntheticTokens.tokenID(seed: 1530), lookup: .success(other)).verdict, .error)

        let secret = String(token.suffix(64))
        XCTAssertFalse(RegistryClient.redact("bad token \(secret.prefix(40))", [token, secret]).contains(String(secret.prefix(20))))
        XCTAssertFalse(RegistryClient.redact("bad token \(secret.lowercased())", [token, secret]).lowercased().contains(String(secret.prefix(20)).lowercased()))
        XCTAssertEqual(RegistryClient.redact("Not Found", [token, secret]), "Not Found")

        let big = String(repeating: "x", count: 6 << 20)
        let emulator = try RegistryEmulator()
        defer { emulator.stop() }
        emulator.setFaults([.init(.body(status: 200, contentType: "application/json", body: big), when: .always)])
        let client = RegistryClient(endpoint: try RegistryEndpoint.parse(emulator.baseURL), credential: try RegistryCredential("admin-" + SyntheticTokens.secret(seed: 1531, length: 30)))
        guard case .failure(let failure) = client.getToken(id: "TKN-1234-5678") else { return XCTFail("a 6 MiB answer must be refused") }
        XCTAssertTrue(failure.description.contains("larger than"), failure.description)
    }
}
