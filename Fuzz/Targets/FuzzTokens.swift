import Foundation

/// The token matcher and the streaming scanner around it; platform JWTs.
enum FuzzTokens {
    /// The built-in rules, as `mptscan scan` loads them.
    static let detector = TokenDetector(rules: BuiltinRules.all)
    /// The scanner's production chunk size (1 MiB): inputs here fit in one chunk.
    nonisolated(unsafe) static let large = ContentScanner(detector: Self.detector)
    /// The smallest chunk size: 64 new bytes per step, so tokens straddle chunk and anchor-range boundaries.
    nonisolated(unsafe) static let small = ContentScanner(detector: Self.detector, chunkSize: 64)

    static func run(_ data: UnsafeBufferPointer<UInt8>) {
        let bytes = Array(data)
        for c in Self.detector.candidates(in: bytes) { fuzzCheckSpan(c, in: bytes.count, "TokenDetector") }

        // the same bytes through each way in: an array (files), memory in place (git blobs, with the
        // no-candidate shortcut), and a producer handing out a few bytes at a time (large blobs, stdin)
        let whole = Self.large.scan(bytes: bytes, path: "input")
        Self.checkFindings(whole, inputCount: bytes.count)
        let inPlace = Self.large.scan(buffer: data, path: { "input" })
        Self.same(whole, inPlace, "scan(buffer:) against scan(bytes:)")
        let piece = 1 + bytes.count % 7
        var cursor = 0
        let pulled = Self.small.scan(pull: { out in
            let n = min(out.count, piece, bytes.count - cursor)
            for k in 0..<n { out[k] = bytes[cursor + k] }
            cursor += n
            return n
        }, path: { "input" })
        // (BOM-less UTF-16 is recognised from the first read, half a chunk: 32 bytes with 64-byte chunks, so the
        // two scanners may read such text differently; that is not what this compares)
        if pulled.decodedFrom == whole.decodedFrom { Self.same(whole, pulled, "64-byte chunks pulled \(piece) bytes at a time") }

        // the input between filler, so that its anchors are examined 64 bytes at a time rather than all at once
        // at the end of the stream: tokens then straddle every kind of boundary, at offsets the input decides
        let lead = bytes.count &* 37 % 1500
        var wrapped = Self.filler(lead)
        wrapped += bytes
        wrapped += Self.filler(TokenDetector.lookAhead + 700)
        let a = Self.large.scan(bytes: wrapped, path: "input")
        let b = Self.small.scan(bytes: wrapped, path: "input")
        if a.decodedFrom == b.decodedFrom { Self.same(a, b, "64-byte chunks against one chunk, input after \(lead) bytes of filler") }
    }

    /// Lines of text that hold nothing any rule or decoder looks at.
    static func filler(_ count: Int) -> [UInt8] {
        let line = Array("// filler line\n".utf8)
        return (0..<count).map { line[$0 % line.count] }
    }

    static func checkFindings(_ result: ContentScanResult, inputCount: Int) {
        for f in result.findings {
            fuzzCheck(f.line >= 1 && f.column >= 1 && f.endColumn > f.column, "finding at line \(f.line), columns \(f.column)..<\(f.endColumn)")
            // offsets in decoded UTF-16 text count the decoded bytes, which may outnumber the raw ones
            if result.decodedFrom == nil {
                fuzzCheck(f.byteOffset >= 0 && f.byteOffset < inputCount, "finding at byte \(f.byteOffset) of \(inputCount)")
            }
        }
        for (a, b) in zip(result.findings, result.findings.dropFirst()) {
            fuzzCheck((a.byteOffset, a.ruleID) <= (b.byteOffset, b.ruleID), "findings out of order: \(a.byteOffset) before \(b.byteOffset)")
        }
    }

    static func same(_ a: ContentScanResult, _ b: ContentScanResult, _ what: String) {
        guard a.findings != b.findings else { return }
        func describe(_ r: ContentScanResult) -> String {
            r.findings.map { "\($0.ruleID)@\($0.byteOffset) \($0.line):\($0.column) \($0.decodings) \($0.suppression?.rawValue ?? "-") \($0.snippetBefore.count)/\($0.snippetAfter.count)" }.joined(separator: ", ")
        }
        fuzzCheck(false, "\(what): [\(describe(a))] but [\(describe(b))]")
    }

    // MARK: - Platform JWTs

    /// The JWT search as scans run it, and its parts on their own: base64url decoding of any range, the claims of
    /// the input read as a JSON payload, and the platform id test.
    static func jwt(_ data: UnsafeBufferPointer<UInt8>) {
        let bytes = Array(data)
        let candidates = Self.detector.candidates(in: bytes)
        for c in candidates where c.claims != nil { fuzzCheckSpan(c, in: bytes.count, "PlatformJWT") }
        let result = Self.large.scan(bytes: bytes, path: "input")
        Self.checkFindings(result, inputCount: bytes.count)
        guard let index = BuiltinRules.all.firstIndex(where: { $0.detector == .platformJWT }), let policy = BuiltinRules.all[index].jwt else { return }
        let jwt = PlatformJWT(ruleIndex: index, policy: policy)
        // every dot-separated part decoded, as the search decodes header and payload
        var start = 0
        for (k, c) in bytes.enumerated() where c == UInt8(ascii: ".") || k == bytes.count - 1 {
            let end = c == UInt8(ascii: ".") ? k : k + 1
            if let decoded = PlatformJWT.decode(data, start..<end) {
                fuzzCheck(decoded.count <= (end - start) / 4 * 3 + 2, "\(end - start) base64url characters decoded to \(decoded.count) bytes")
                if let object = (try? JSONSerialization.jsonObject(with: Data(decoded))) as? [String: Any] { _ = jwt.claims(object) }
            }
            start = k + 1
        }
        if let object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any], let claims = jwt.claims(object) {
            if let user = claims.userID { fuzzCheck(PlatformJWT.isPlatformID(user), "user id shown in a non-platform shape") }
            if let account = claims.accountID { fuzzCheck(PlatformJWT.isPlatformID(account), "account id shown in a non-platform shape") }
        }
        _ = PlatformJWT.isPlatformID(String(decoding: bytes.prefix(64), as: UTF8.self))
    }
}
