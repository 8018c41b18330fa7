import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One HTTP/1.1 request as `LoopbackHTTPServer` read it.
struct HTTPServerRequest: Sendable {
    /// `GET`, `POST`, … as sent.
    var method: String
    /// The path of the request target, percent-encoding kept, without the query.
    var path: String
    /// The raw query (after `?`), or nil.
    var query: String?
    /// Header fields by lower-cased name (a repeated field keeps its last value).
    var headers: [String: String]
    /// The body (Content-Length or chunked), at most `LoopbackHTTPServer.maxBodyBytes`.
    var body: [UInt8]
}

/// What `LoopbackHTTPServer` sends back.
struct HTTPServerResponse: Sendable {
    /// The status code.
    var status: Int
    /// Header fields besides `Content-Length` and `Connection: close`, which the server adds.
    var headers: [(String, String)] = []
    /// The body.
    var body: [UInt8] = []
    /// Seconds to wait before answering (a slow registry). Cut short by `stop()`.
    var delay: TimeInterval = 0
    /// Close the connection with a TCP reset instead of answering.
    var reset = false
}

/// A minimal HTTP/1.1 server on a loopback address, on the C library's sockets: one accept thread (polling every
/// 50 ms so `stop()` is prompt) and one thread per connection; one request per connection (`Connection: close`).
/// Request lines and headers up to 64 KiB, bodies by `Content-Length` or chunked up to 1 MiB.
/// For tests and the registry emulator only: it trusts nothing it reads but is not built for load.
final class LoopbackHTTPServer: @unchecked Sendable {
    /// A socket error, with the call and errno text.
    struct SocketError: Error, CustomStringConvertible, Sendable {
        var description: String
    }

    static let maxHeaderBytes = 64 * 1024
    static let maxBodyBytes = 1 << 20

    /// The bound port (the kernel's choice when 0 was asked).
    let port: UInt16
    /// The bound IPv4 address.
    let host: String
    private let listener: Int32
    private let handler: @Sendable (HTTPServerRequest) -> HTTPServerResponse
    private let lock = NSLock()
    private var stopping = false
    private let connections = DispatchGroup()
    private let acceptDone = DispatchSemaphore(value: 0)

    /// Binds `host` (an IPv4 loopback address) on `port` (0: any free port) and starts serving with `handler`,
    /// which is called on the connection's thread.
    /// - Throws: `SocketError` when the address is not loopback or the socket cannot be bound.
    init(host: String = "127.0.0.1", port: UInt16 = 0, handler: @escaping @Sendable (HTTPServerRequest) -> HTTPServerResponse) throws {
        guard RegistryEndpoint.isLoopback(host), host.first?.isNumber == true else {
            throw SocketError(description: "the emulator binds only an IPv4 loopback address (127.0.0.0/8), not \(host)")
        }
        #if canImport(Glibc)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw SocketError(description: "socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        var address = sockaddr_in()
        #if canImport(Darwin)
        address.sin_len = UInt8(MemoryLayout<sockaddr_in>.size)
        #endif
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            _ = Self.closeFD(fd)
            throw SocketError(description: "not an IPv4 address: \(host)")
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 128) == 0 else {
            let message = String(cString: strerror(errno))
            _ = Self.closeFD(fd)
            throw SocketError(description: "cannot listen on \(host):\(port): \(message)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.port = UInt16(bigEndian: actual.sin_port)
        self.host = host
        self.listener = fd
        self.handler = handler
        let thread = Thread { [self] in self.acceptLoop() }
        thread.name = "emulator-accept"
        thread.start()
    }

    /// True once `stop()` was called.
    var isStopping: Bool {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.stopping
    }

    /// Stops accepting, waits (up to 5 s) for connections in progress to end, and closes the socket. Idempotent.
    func stop() {
        self.lock.lock()
        let already = self.stopping
        self.stopping = true
        self.lock.unlock()
        guard !already else { return }
        self.acceptDone.wait()
        _ = Self.closeFD(self.listener)
        _ = self.connections.wait(timeout: .now() + 5)
    }

    private func acceptLoop() {
        defer { self.acceptDone.signal() }
        while !self.isStopping {
            var poller = pollfd(fd: self.listener, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, 50)
            if ready <= 0 { continue }
            let client = accept(self.listener, nil, nil)
            if client < 0 { continue }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            #if canImport(Darwin)
            var one: Int32 = 1
            setsockopt(client, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
            #endif
            self.connections.enter()
            let thread = Thread { [self] in
                self.serve(client)
                self.connections.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    private func serve(_ fd: Int32) {
        var response: HTTPServerResponse
        switch self.readRequest(fd) {
        case .success(let request): response = self.handler(request)
        case .failure(let status): response = HTTPServerResponse(status: status.status, headers: [("Content-Type", "text/plain")], body: Array("\(status.reason)\n".utf8))
        }
        var waited: TimeInterval = 0
        while waited < response.delay && !self.isStopping {
            let step = min(0.01, response.delay - waited)
            Thread.sleep(forTimeInterval: step)
            waited += step
        }
        if response.reset {
            var linger = Glibc_linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc_linger>.size))
            _ = Self.closeFD(fd)
            return
        }
        var head = "HTTP/1.1 \(response.status) \(Self.reason(response.status))\r\n"
        for (name, value) in response.headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(response.body.count)\r\nConnection: close\r\n\r\n"
        _ = Self.sendAll(fd, Array(head.utf8) + response.body)
        shutdown(fd, Int32(SHUT_WR))
        // drain what the client still sends (up to a moment) so the close does not turn into a reset
        var scratch = [UInt8](repeating: 0, count: 4096)
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        while scratch.withUnsafeMutableBytes({ recv(fd, $0.baseAddress, $0.count, 0) }) > 0 {}
        _ = Self.closeFD(fd)
    }

    private struct ReadFailure: Error {
        var status: Int
        var reason: String
    }

    private func readRequest(_ fd: Int32) -> Result<HTTPServerRequest, ReadFailure> {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        var headerEnd: Int? = nil
        while headerEnd == nil {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return .failure(ReadFailure(status: 400, reason: "incomplete request")) }
            let searchFrom = max(0, buffer.count - 3)
            buffer += chunk[0..<n]
            headerEnd = Self.find([13, 10, 13, 10], in: buffer, from: searchFrom)
            if (headerEnd ?? buffer.count) > Self.maxHeaderBytes {
                return .failure(ReadFailure(status: 431, reason: "request header fields too large"))
            }
        }
        let headText = String(decoding: buffer[0..<headerEnd!], as: UTF8.self)
        var lines = headText.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ", omittingEmptySubsequences: false)
        guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1.") else {
            return .failure(ReadFailure(status: 400, reason: "malformed request line"))
        }
        var headers: [String: String] = [:]
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { return .failure(ReadFailure(status: 400, reason: "malformed header")) }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        let target = String(requestLine[1])
        let question = target.firstIndex(of: "?")
        var request = HTTPServerRequest(method: String(requestLine[0]), path: String(target[..<(question ?? target.endIndex)]),
                                        query: question.map { String(target[target.index(after: $0)...]) }, headers: headers, body: [])
        var rest = Array(buffer[(headerEnd! + 4)...])
        if headers["expect"]?.lowercased() == "100-continue" { _ = Self.sendAll(fd, Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)) }
        func more() -> Bool {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return false }
            rest += chunk[0..<n]
            return true
        }
        if headers["transfer-encoding"]?.lowercased().contains("chunked") == true {
            var body: [UInt8] = []
            var at = 0
            while true {
                var lineEnd = Self.find([13, 10], in: rest, from: at)
                while lineEnd == nil { guard rest.count < Self.maxBodyBytes * 2, more() else { return .failure(ReadFailure(status: 400, reason: "truncated chunked body")) }; lineEnd = Self.find([13, 10], in: rest, from: at) }
                let sizeText = String(decoding: rest[at..<lineEnd!], as: UTF8.self).split(separator: ";").first.map(String.init) ?? ""
                guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16), size >= 0, body.count + size <= Self.maxBodyBytes else {
                    return .failure(ReadFailure(status: 400, reason: "bad chunk size"))
                }
                at = lineEnd! + 2
                if size == 0 { break }
                while rest.count < at + size + 2 { guard more() else { return .failure(ReadFailure(status: 400, reason: "truncated chunk")) } }
                body += rest[at..<(at + size)]
                at += size + 2
            }
            request.body = body
        } else if let lengthText = headers["content-length"] {
            guard let length = Int(lengthText), length >= 0 else { return .failure(ReadFailure(status: 400, reason: "bad Content-Length")) }
            guard length <= Self.maxBodyBytes else { return .failure(ReadFailure(status: 413, reason: "body too large")) }
            while rest.count < length { guard more() else { return .failure(ReadFailure(status: 400, reason: "truncated body")) } }
            request.body = Array(rest[0..<length])
        }
        return .success(request)
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        var i = max(0, start)
        while i + needle.count <= haystack.count {
            if haystack[i] == needle[0] && Array(haystack[i..<(i + needle.count)]) == needle { return i }
            i += 1
        }
        return nil
    }

    private static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var done = 0
        while done < bytes.count {
            #if canImport(Glibc)
            let flags = Int32(MSG_NOSIGNAL)
            #else
            let flags: Int32 = 0
            #endif
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + done, bytes.count - done, flags) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            done += n
        }
        return true
    }

    private static func closeFD(_ fd: Int32) -> Int32 {
        #if canImport(Glibc)
        return Glibc.close(fd)
        #else
        return Darwin.close(fd)
        #endif
    }

    /// The reason phrase for `status` (RFC 9110 §15).
    static func reason(_ status: Int) -> String {
        switch status {
        case 100: return "Continue"
        case 200: return "OK"
        case 204: return "No Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 303: return "See Other"
        case 307: return "Temporary Redirect"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 409: return "Conflict"
        case 413: return "Content Too Large"
        case 429: return "Too Many Requests"
        case 431: return "Request Header Fields Too Large"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        default: return "Status \(status)"
        }
    }
}

#if canImport(Glibc)
private typealias Glibc_linger = Glibc.linger
#else
private typealias Glibc_linger = Darwin.linger
#endif
