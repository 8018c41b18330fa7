import Foundation

/// An RFC 7807 problem details object, as the platform returns on errors (`application/problem+json`):
/// `{"type":"…","title":"…","status":401,"detail":"…","traceId":"…","errors":{"field":["message"]}}`.
///
/// Decoded leniently: every member is optional, `status` may be a number or a numeric string, and `errors` may map
/// to strings, arrays or anything else (kept as text). Source: RFC 7807 section 3.1 and
/// `reference/marketplace-api.md` ("Errors"; `traceId` and `errors` are the platform's extension members).
public struct Problem: Sendable, Equatable, CustomStringConvertible {
    /// A URI reference naming the problem type (RFC 7807 §3.1), e.g. `https://tools.ietf.org/html/rfc9110#section-15.5.5`.
    public var type: String?
    /// A short summary of the problem type, e.g. `Not Found`.
    public var title: String?
    /// The HTTP status code the server gave in the body.
    public var status: Int?
    /// An explanation specific to this occurrence.
    public var detail: String?
    /// The platform's trace id, to quote when asking the platform's support about a failed call.
    public var traceId: String?
    /// Validation messages by field name, sorted by field when described.
    public var errors: [String: [String]]

    /// A problem with the given members.
    public init(type: String? = nil, title: String? = nil, status: Int? = nil, detail: String? = nil,
                traceId: String? = nil, errors: [String: [String]] = [:]) {
        self.type = type
        self.title = title
        self.status = status
        self.detail = detail
        self.traceId = traceId
        self.errors = errors
    }

    /// The problem in `body`, or nil when it is not a JSON object holding at least one of `title`, `detail`,
    /// `status`, `type`, `traceId` or `errors`. Never throws: an error body is a hint, not a contract.
    public static func decode(_ body: Data) -> Problem? {
        guard !body.isEmpty, let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else { return nil }
        func string(_ key: String) -> String? {
            switch object[key] {
            case let s as String: return s
            case let n as NSNumber: return n.stringValue
            default: return nil
            }
        }
        var problem = Problem(type: string("type"), title: string("title"), detail: string("detail"),
                              traceId: string("traceId") ?? string("traceid") ?? string("trace_id"))
        if let n = object["status"] as? NSNumber, !(object["status"] is Bool) {
            problem.status = Int(exactly: n.doubleValue)
        } else if let s = object["status"] as? String {
            problem.status = Int(s)
        }
        if let errors = object["errors"] as? [String: Any] {
            for (field, value) in errors { problem.errors[field] = Self.messages(value) }
        } else if let errors = object["errors"] {
            problem.errors[""] = Self.messages(errors)
        }
        let empty = problem.type == nil && problem.title == nil && problem.status == nil && problem.detail == nil
            && problem.traceId == nil && problem.errors.isEmpty
        return empty ? nil : problem
    }

    private static func messages(_ value: Any) -> [String] {
        switch value {
        case let s as String: return [s]
        case let array as [Any]: return array.flatMap { self.messages($0) }
        case let n as NSNumber: return [n.stringValue]
        case is NSNull: return []
        default:
            if JSONSerialization.isValidJSONObject(value), let data = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]) {
                return [String(decoding: data, as: UTF8.self)]
            }
            return ["\(value)"]
        }
    }

    /// One line for standard error: `title (status): detail [field: message; …] (trace <id>)`, terminal-safe
    /// (`Printable.text`) and at most 400 characters.
    public var description: String {
        var parts: [String] = []
        var head = self.title ?? ""
        if let status = self.status { head += head.isEmpty ? "HTTP \(status)" : " (\(status))" }
        if !head.isEmpty { parts.append(head) }
        if let detail = self.detail, !detail.isEmpty { parts.append(detail) }
        var line = parts.joined(separator: ": ")
        if !self.errors.isEmpty {
            let listed = self.errors.keys.sorted().map { key in
                (key.isEmpty ? "" : key + ": ") + (self.errors[key] ?? []).joined(separator: ", ")
            }
            line += (line.isEmpty ? "" : " ") + "[" + listed.joined(separator: "; ") + "]"
        }
        if let trace = self.traceId, !trace.isEmpty { line += (line.isEmpty ? "" : " ") + "(trace \(trace))" }
        if line.isEmpty, let type = self.type { line = type }
        line = Printable.text(line.replacingOccurrences(of: "\r\n", with: " ").replacingOccurrences(of: "\n", with: " "))
        if line.count > 400 { line = String(line.prefix(399)) + "…" }
        return line
    }
}
