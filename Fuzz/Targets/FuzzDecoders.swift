/// The decoders that find tokens under an encoding, each on the whole input and on its second half (the rest
/// then being context before the anchors, as for a streaming caller), and their helpers on their own.
enum FuzzDecoders {
    static var detector: TokenDetector { FuzzTokens.detector }

    static func base64(_ data: UnsafeBufferPointer<UInt8>) {
        for range in [0..<data.count, data.count / 2..<data.count] {
            Base64Tokens.forEach(in: data, anchorRange: range, detector: Self.detector) { c in
                fuzzCheckSpan(c, in: data.count, "Base64Tokens")
                fuzzCheck(c.decodings.first == Base64Tokens.decoding, "a Base64 candidate without the base64 decoding: \(c.decodings)")
            }
        }
        // the decoder on any bytes, into a buffer of the size it asks for and into one too small
        var out = [UInt8](repeating: 0, count: data.count / 4 * 3 + 3)
        let n = out.withUnsafeMutableBufferPointer { Base64Tokens.decode(data, into: $0) }
        fuzzCheck(n <= data.count / 4 * 3 + 2, "\(data.count) characters decoded to \(n) bytes")
        var short = [UInt8](repeating: 0, count: data.count / 5)
        let m = short.withUnsafeMutableBufferPointer { Base64Tokens.decode(data, into: $0) }
        fuzzCheck(m <= short.count, "decoded \(m) bytes into \(short.count)")
    }

    static func escapes(_ data: UnsafeBufferPointer<UInt8>) {
        for range in [0..<data.count, data.count / 2..<data.count] {
            EscapedTokens.forEach(in: data, anchorRange: range, detector: Self.detector) { c in
                fuzzCheckSpan(c, in: data.count, "EscapedTokens")
                fuzzCheck(!c.decodings.isEmpty, "an escaped candidate without decodings")
            }
        }
        // one level of each scheme undone: every output byte comes from a run of input bytes, the runs in order,
        // together covering the whole input
        let input = Array(data.prefix(EscapedTokens.window))
        for scheme in EscapedTokens.Scheme.allCases {
            var output: [UInt8] = [], starts: [Int] = [], ends: [Int] = []
            EscapedTokens.unescape(input, scheme, into: &output, starts: &starts, ends: &ends)
            fuzzCheck(output.count == starts.count && starts.count == ends.count, "\(scheme): \(output.count) bytes, \(starts.count) starts, \(ends.count) ends")
            var next = 0
            for k in output.indices {
                fuzzCheck(starts[k] == next && ends[k] > starts[k], "\(scheme): output byte \(k) from \(starts[k])..<\(ends[k]), expected to start at \(next)")
                next = ends[k]
            }
            fuzzCheck(next == input.count, "\(scheme): runs end at \(next) of \(input.count)")
            _ = EscapedTokens.startsWithAnchor(output, scheme)
        }
    }

    static func joined(_ data: UnsafeBufferPointer<UInt8>) {
        for range in [0..<data.count, data.count / 2..<data.count] {
            JoinedLiterals.forEach(in: data, anchorRange: range, detector: Self.detector) { c in
                fuzzCheckSpan(c, in: data.count, "JoinedLiterals")
                fuzzCheck(c.decodings == [JoinedLiterals.decoding], "a joined candidate with decodings \(c.decodings)")
            }
        }
    }
}
