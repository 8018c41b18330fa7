import MPTScanKit

/// Seeded generator of synthetic Marketplace tokens for tests and fixtures. Never a real secret: every value is
/// a pure function of its seed (SplitMix64, Steele et al. 2014), and `isSynthetic` recognises them, so a test can
/// prove that the repository's token-shaped strings all came from here.
///
/// The same algorithm is used by the Python helpers in scripts/ (`synthetic_secret`), so both agree.
public enum SyntheticTokens {
    /// The secret alphabet of the current token form, in the order the generator indexes it.
    public static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)

    /// Seeds below this bound are searched by `isSynthetic`.
    public static let seedBound = 2000

    /// A secret of `length` characters drawn from `alphabet` (default: the 62 alphanumerics) for `seed`.
    public static func secret(seed: Int, length: Int = 64, alphabet: [UInt8] = SyntheticTokens.alphabet) -> String {
        var state = mix(UInt64(truncatingIfNeeded: seed) &* 0x2545F4914F6CDD1D &+ 1)
        var out: [UInt8] = []
        out.reserveCapacity(length)
        for _ in 0..<length {
            state &+= 0x9E3779B97F4A7C15
            out.append(alphabet[Int(mix(state) % UInt64(alphabet.count))])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A current-form token `idt:TKN-dddd-dddd:<64>` for `seed`; the id digits derive from the seed too.
    public static func token(seed: Int) -> String {
        "idt:\(self.tokenID(seed: seed)):\(self.secret(seed: seed))"
    }

    /// The base64url alphabet (RFC 4648 §5) of synthetic JWT signatures.
    public static let urlAlphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    /// Seeds of JWT signatures are offset by this, so they never equal a token's secret.
    public static let jwtSeedOffset = 100_000

    /// A JWT (RFC 7519 compact form) with `claims` (a JSON object's text) as its payload, a fixed RS256 header
    /// and a 342-character synthetic signature for `seed`: token-shaped, verifiable against no key. The same
    /// as `synthetic_jwt` in scripts/synthetic.py when the JSON texts are equal.
    public static func jwt(seed: Int, claims: String) -> String {
        let header = #"{"alg":"RS256","typ":"JWT","kid":"synthetic-\#(seed)"}"#
        return [Self.base64URL(header), Self.base64URL(claims),
                Self.secret(seed: seed + Self.jwtSeedOffset, length: 342, alphabet: Self.urlAlphabet)].joined(separator: ".")
    }

    /// True when the last part of `jwt` is a signature made by `jwt(seed:claims:)` for a seed below `seedBound`.
    public static func isSyntheticJWT(_ jwt: String) -> Bool {
        guard let signature = jwt.split(separator: ".", omittingEmptySubsequences: false).last, jwt.contains(".") else { return false }
        return (0..<self.seedBound).contains {
            self.secret(seed: $0 + self.jwtSeedOffset, length: signature.utf8.count, alphabet: self.urlAlphabet) == signature
        }
    }

    static func base64URL(_ text: String) -> String {
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let n = min(3, bytes.count - i)
            var v = 0
            for k in 0..<3 { v = v << 8 | (k < n ? Int(bytes[i + k]) : 0) }
            for k in 0...n { out.append(table[(v >> (18 - 6 * k)) & 63]) }
            i += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A token id `TKN-dddd-dddd` for `seed`.
    public static func tokenID(seed: Int) -> String {
        let n = mix(UInt64(truncatingIfNeeded: seed) &+ 77)
        let a = Int(n % 10000), b = Int((n / 10000) % 10000)
        return "TKN-" + pad(a) + "-" + pad(b)
    }

    /// True when `secret` is `secret(seed:length:)` for some seed below `seedBound`, in either alphabet used
    /// by the fixtures (alphanumeric, lower-case hexadecimal).
    public static func isSynthetic(_ secret: String) -> Bool {
        let hex = Array("0123456789abcdef".utf8)
        let length = secret.utf8.count
        for seed in 0..<seedBound {
            if self.secret(seed: seed, length: length) == secret { return true }
            if self.secret(seed: seed, length: length, alphabet: hex) == secret { return true }
            // prefixes (a test may cut a synthetic secret shorter)
            if self.secret(seed: seed).hasPrefix(secret) && length >= 32 { return true }
        }
        return false
    }

    private static func pad(_ n: Int) -> String {
        let s = String(n)
        return String(repeating: "0", count: 4 - s.count) + s
    }

    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}
