#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a candidate secret was judged a placeholder rather than a random token.
public enum PlaceholderReason: Equatable, Sendable, CustomStringConvertible {
    case lowEntropy(bitsPerChar: Double)
    case longRun(Int)
    case sequence(Int)
    case periodic(period: Int)
    case singleCase
    case alphabeticalOrder(fraction: Double)
    case missingDigitOrLetter
    case placeholderWord(String)
    case otherFormat(prefix: String)

    public var description: String {
        switch self {
        case .lowEntropy(let bits): return "entropy \(Double(Int(bits * 100)) / 100) bits/char is below the threshold"
        case .longRun(let n): return "a run of \(n) identical characters"
        case .sequence(let n): return "a sequence of \(n) consecutive characters"
        case .periodic(let p): return "repeats with period \(p)"
        case .singleCase: return "letters all of one case"
        case .alphabeticalOrder(let f): return "letters \(Int(f * 100)) % in alphabetical order"
        case .missingDigitOrLetter: return "lacks a digit or a letter"
        case .placeholderWord(let w): return "contains the placeholder word '\(w)'"
        case .otherFormat(let p): return "starts with '\(p)', the mark of another format"
        }
    }
}

/// Scores candidate secrets against an `EntropyPolicy`.
///
/// A real Marketplace secret is 64 characters drawn uniformly from `[A-Za-z0-9]` (62 symbols). Its empirical
/// Shannon entropy averages 5.16 bits/char (the 5.95 maximum is unreachable with only 64 samples); over 200,000
/// seeded random secrets the lowest seen was 4.63. The 4.0 threshold of the current-form rule leaves a wide margin
/// above hand-typed placeholders (`abc123…` patterns score 2 to 3.5) and below real secrets. The structure tests
/// catch placeholders with high entropy but visible design (`abcdefgh…`, `Ab12Ab12…`); each would reject a random
/// secret with a probability below 10^-6 (docs/RULES.md gives the arithmetic).
public struct SecretQuality: Sendable {
    public let policy: EntropyPolicy
    private let words: [[UInt8]]

    public init(policy: EntropyPolicy) {
        self.policy = policy
        self.words = policy.placeholderWords.map { Array($0.lowercased().utf8) }
    }

    /// Shannon entropy of `bytes` in bits per character (0 for an empty input).
    public static func shannonEntropy(_ bytes: UnsafeBufferPointer<UInt8>) -> Double {
        guard !bytes.isEmpty else { return 0 }
        var counts = [Int](repeating: 0, count: 256)
        for b in bytes { counts[Int(b)] += 1 }
        let n = Double(bytes.count)
        var h = 0.0
        for c in counts where c > 0 {
            let p = Double(c) / n
            h -= p * log2(p)
        }
        return h
    }

    /// The first reason `secret` looks like a placeholder, or nil when it looks random.
    public func placeholderReason(_ secret: UnsafeBufferPointer<UInt8>) -> PlaceholderReason? {
        let n = secret.count
        guard n > 0 else { return .lowEntropy(bitsPerChar: 0) }
        var upper = false, lower = false, digit = false
        var run = 1, longestRun = 1, seq = 1, longestSeq = 1
        var previousStep = 0
        for i in 0..<n {
            let c = secret[i]
            if c >= 65 && c <= 90 { upper = true } else if c >= 97 && c <= 122 { lower = true } else if c >= 48 && c <= 57 { digit = true }
            if i > 0 {
                let prev = secret[i - 1]
                if c == prev { run += 1; longestRun = max(longestRun, run) } else { run = 1 }
                let step = Int(c) - Int(prev)
                if (step == 1 || step == -1) && (seq == 1 || step == previousStep) {
                    seq += 1
                } else if step == 1 || step == -1 {
                    seq = 2
                } else {
                    seq = 1
                }
                previousStep = step
                longestSeq = max(longestSeq, seq)
            }
        }
        if longestRun > self.policy.maxRun { return .longRun(longestRun) }
        if longestSeq > self.policy.maxSequence { return .sequence(longestSeq) }
        if self.policy.requireDigitAndLetter && (!digit || !(upper || lower)) { return .missingDigitOrLetter }
        if self.policy.requireMixedCase && !(upper && lower) { return .singleCase }
        if self.policy.maxPeriod > 0 {
            for period in 1...min(self.policy.maxPeriod, n / 2) where Self.isPeriodic(secret, period: period) {
                return .periodic(period: period)
            }
        }
        if let word = self.placeholderWord(in: secret) { return .placeholderWord(word) }
        for prefix in self.policy.excludedPrefixes where secret.starts(with: prefix.utf8) { return .otherFormat(prefix: prefix) }
        if let fraction = Self.orderedFraction(secret), fraction > self.policy.maxOrderedFraction {
            return .alphabeticalOrder(fraction: fraction)
        }
        let bits = Self.shannonEntropy(secret)
        if bits < self.policy.minBitsPerChar { return .lowEntropy(bitsPerChar: bits) }
        return nil
    }

    /// Convenience for tests and tools: `placeholderReason` over a string's UTF-8 bytes.
    public func placeholderReason(_ secret: String) -> PlaceholderReason? {
        let bytes = Array(secret.utf8)
        return bytes.withUnsafeBufferPointer { self.placeholderReason($0) }
    }

    /// Share of consecutive letter pairs in alphabetical order (the larger of ascending and descending), or nil
    /// when there are fewer than 16 pairs to judge.
    static func orderedFraction(_ s: UnsafeBufferPointer<UInt8>) -> Double? {
        var previous: UInt8? = nil
        var pairs = 0, up = 0, down = 0
        for c in s {
            let lowered = (c >= 65 && c <= 90) ? c + 32 : c
            guard lowered >= 97 && lowered <= 122 else { continue }
            if let p = previous {
                pairs += 1
                if lowered > p { up += 1 } else if lowered < p { down += 1 }
            }
            previous = lowered
        }
        guard pairs >= 16 else { return nil }
        return Double(max(up, down)) / Double(pairs)
    }

    private static func isPeriodic(_ s: UnsafeBufferPointer<UInt8>, period: Int) -> Bool {
        for i in period..<s.count where s[i] != s[i - period] { return false }
        return true
    }

    private func placeholderWord(in secret: UnsafeBufferPointer<UInt8>) -> String? {
        guard !self.words.isEmpty else { return nil }
        var lowered = [UInt8](repeating: 0, count: secret.count)
        for i in 0..<secret.count {
            let c = secret[i]
            lowered[i] = (c >= 65 && c <= 90) ? c + 32 : c
        }
        for (index, word) in self.words.enumerated() where !word.isEmpty && word.count <= lowered.count {
            let last = lowered.count - word.count
            var start = 0
            while start <= last {
                var equal = true
                for j in 0..<word.count where lowered[start + j] != word[j] { equal = false; break }
                if equal { return self.policy.placeholderWords[index] }
                start += 1
            }
        }
        return nil
    }
}
