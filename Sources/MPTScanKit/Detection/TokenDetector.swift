#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A token found in a buffer, located by byte offsets (0-based, `end` exclusive) into that buffer.
public struct Candidate: Sendable, Equatable {
    /// Index of the rule in `TokenDetector.rules`.
    public var ruleIndex: Int
    /// Byte offset of the first byte of the reported span.
    public var start: Int
    /// Byte offset just past the reported span.
    public var end: Int
    /// The token id, e.g. `TKN-1234-5678`.
    public var tokenID: String
    /// The token in canonical decoded form: `idt:TKN-…:<secret>` (current) or `TKN-…:<secret>` (legacy pair).
    public var canonical: String
    /// Length of the secret in characters (the tail of `canonical`).
    public var secretLength: Int
    /// How the separators were written, `.plain` when both were a literal `:`.
    public var encoding: SeparatorEncoding
    /// True when the span holds only the secret (a legacy secret under a key, its id elsewhere).
    public var spanIsSecretOnly = false
    /// `.utf16LE`/`.utf16BE` when the token was found as UTF-16 text inside bytes not decoded as UTF-16.
    public var form: TextForm = .bytes
    /// The decodings that led from the span's bytes to the token, outermost first (`["base64"]`,
    /// `["joined-literals"]`); empty when the token is written as such.
    public var decodings: [String] = []
    /// For a platform JWT: whose it is and when it expires.
    public var claims: PlatformClaims? = nil
}

/// Finds tokens in raw bytes: a `memchr` search (`LiteralSearch`) for each rule's id anchor (`TKN-`), or the
/// anchors a scan's `CombinedAnchors` found, then the grammar checked by hand around each anchor, then the secret
/// scored by `SecretQuality`. No regular expressions on the hot path.
///
/// A candidate needs at most `lookBehind` bytes before its anchor and `lookAhead` bytes after it; callers that
/// stream a file keep that much context around the range of anchors they ask about.
///
/// A class, immutable once made: every thread's `ContentScanner` shares one without copying it. As a struct,
/// each use copied it, retaining and releasing each of its arrays: 28 retains and 28 releases per file, and 14
/// of each for the `PlatformJWT` inside it (callgrind, `--jobs 1`, ten packages of the benchmark tree), all on
/// memory every thread touches.
public final class TokenDetector: Sendable {
    /// The rules, in the order candidates refer to them.
    public let rules: [Rule]
    private let qualities: [SecretQuality]
    private let anchors: [[UInt8]]
    /// One search per distinct anchor, with the rules that share it.
    private let searches: [(LiteralSearch, [Int])]
    private let prefixes: [[UInt8]]
    private let keys: [[[UInt8]]]
    /// Per rule, 256 flags: whether a byte (either case) can start one of its keys.
    private let keyStarts: [[Bool]]
    /// The platform JWT search, when a `platform-jwt` rule is loaded.
    let jwt: PlatformJWT?
    /// The distinct id anchors of the rules (`TKN-`), in the order `scan(_:hits:idPrefixHits:emit:)` numbers
    /// them.
    let anchorLiterals: [[UInt8]]

    /// Bytes before an anchor kept in context: the prefix, the legacy key window (2 KB), and for inline allow
    /// comments the token's line and the line before, up to 4 KB each (`InlineAllow.window`).
    public static let lookBehind = 3 * 4096
    /// Bytes after an anchor that matching may read (id, separator, secret, the legacy key window, and the rest
    /// of a platform JWT after its claims anchor: `PlatformJWT.maxPayload` + `maxSignature`).
    public static let lookAhead = 12 * 1024
    /// Legacy key window, in bytes each side of the id, and never past `maxKeyDistanceLines` lines.
    static let keyWindowBytes = 2048
    private static let bearer = Array("bearer".utf8)

    /// Compiles `rules`. Rules are validated by `RuleValidator`; this initialiser trusts them.
    public init(rules: [Rule]) {
        self.rules = rules
        self.qualities = rules.map { SecretQuality(policy: $0.entropy ?? EntropyPolicy.none) }
        self.anchors = rules.map { $0.grammar.map { Array(($0.idPrefix + "-").utf8) } ?? [] }
        self.prefixes = rules.map { Array(($0.grammar?.prefix ?? "idt").utf8) }
        self.jwt = rules.indices.first { rules[$0].detector == .platformJWT && rules[$0].jwt != nil }.map { PlatformJWT(ruleIndex: $0, policy: rules[$0].jwt!) }
        var searches: [(LiteralSearch, [Int])] = []
        for (index, anchor) in self.anchors.enumerated() where !anchor.isEmpty {
            if let i = searches.firstIndex(where: { $0.0.literal == anchor }) { searches[i].1.append(index) } else { searches.append((LiteralSearch(anchor), [index])) }
        }
        self.searches = searches
        self.anchorLiterals = searches.map(\.0.literal)
        self.idPrefixSearch = searches.firstIndex { $0.0.literal == JoinedLiterals.idPrefix.literal }
        self.keys = rules.map { ($0.grammar?.keys ?? []).map { Array($0.lowercased().utf8) } }
        self.keyStarts = self.keys.map { keys in
            var starts = [Bool](repeating: false, count: 256)
            for key in keys {
                guard let first = key.first else { continue }
                starts[Int(first)] = true
                if first >= 97 && first <= 122 { starts[Int(first - 32)] = true }
            }
            return starts
        }
    }

    /// Reports every candidate whose anchor starts at an offset in `anchorRange`, in order of anchor offset.
    /// Reads bytes of `buffer` outside `anchorRange` as context.
    public func scan(_ buffer: UnsafeBufferPointer<UInt8>, anchorRange: Range<Int>, emit: (Candidate) -> Void) {
        var state = AnchorState()
        for s in self.searches.indices {
            self.searches[s].0.forEachForm(in: buffer, starting: anchorRange) { at, form in
                self.anchorHit(buffer, anchor: s, at: at, form: form, state: &state, emit: emit)
            }
        }
        self.jwt?.scan(buffer, anchorRange: anchorRange, emit: emit)
    }

    /// Whether `scan(_:hits:idPrefixHits:emit:)` can report the offsets of `JoinedLiterals.idPrefix` (a rule
    /// anchors on `TKN-`).
    var findsIDPrefix: Bool { self.idPrefixSearch != nil }
    /// The search (index into `anchorLiterals`) for `JoinedLiterals.idPrefix`, when a rule anchors on it.
    private let idPrefixSearch: Int?

    /// The id anchors' part of `scan` (not the platform JWT's) on hits found by the caller (`CombinedAnchors`
    /// finds them together with the decoders' anchors): (index into `anchorLiterals`, 0-based byte offset of the
    /// anchor's text, form), each literal's hits in increasing order, a wide text's little-endian reading before
    /// its big-endian one (`LiteralSearch.forEachForm`'s order). Appends the offset of every plain `TKN-` to
    /// `idPrefixHits`, for the joined-literal decoder.
    func scan(_ buffer: UnsafeBufferPointer<UInt8>, hits: [(anchor: Int, at: Int, form: TextForm)], idPrefixHits: inout [Int],
              emit: (Candidate) -> Void) {
        var state = AnchorState()
        for hit in hits {
            if hit.form == .bytes && hit.anchor == self.idPrefixSearch { idPrefixHits.append(hit.at) }
            self.anchorHit(buffer, anchor: hit.anchor, at: hit.at, form: hit.form, state: &state, emit: emit)
        }
    }

    /// What one buffer's anchors share: the legacy key index per rule, the last wide text matched little-endian.
    private struct AnchorState {
        /// Per rule, allocated at the first anchor: most buffers have none.
        var keyIndexes: [KeyIndex] = []
        var littleEndianMatch: (anchor: Int, at: Int)? = nil
    }

    /// One id anchor: the grammar of each rule that anchors on it, matched around it.
    @inline(__always)
    private func anchorHit(_ buffer: UnsafeBufferPointer<UInt8>, anchor s: Int, at: Int, form: TextForm, state: inout AnchorState,
                           emit: (Candidate) -> Void) {
        if form != .bytes {
            // the same wide text read both ways: keep the little-endian reading when it matched
            if form == .utf16BE, let match = state.littleEndianMatch, match.anchor == s, at + 1 == match.at { return }
            if self.matchWide(buffer, anchorAt: at, form: form, ruleIndices: self.searches[s].1, emit: emit) && form == .utf16LE {
                state.littleEndianMatch = (s, at)
            }
            return
        }
        if state.keyIndexes.isEmpty { state.keyIndexes = [KeyIndex](repeating: KeyIndex(), count: self.rules.count) }
        for index in self.searches[s].1 {
            if let candidate = self.match(buffer, anchorAt: at, ruleIndex: index, keyIndex: &state.keyIndexes[index]) { emit(candidate) }
        }
    }

    /// UTF-16 code units decoded around a wide anchor: 64 before it, 200 after.
    static let wideUnitsBefore = 64
    static let wideUnitsAfter = 200

    /// A token stored as UTF-16 inside bytes not decoded as UTF-16 (a .NET string heap, Windows wide strings,
    /// UTF-16 text after a UTF-8 part): the code units around the anchor are narrowed one byte per unit
    /// (non-ASCII units become 0x01, so offsets stay one to one), matched as usual, and the span is mapped back
    /// to the raw bytes.
    /// Returns whether any rule matched.
    @discardableResult
    private func matchWide(_ b: UnsafeBufferPointer<UInt8>, anchorAt a: Int, form: TextForm, ruleIndices: [Int], emit: (Candidate) -> Void) -> Bool {
        let before = min(Self.wideUnitsBefore, a / 2)
        let start = a - 2 * before
        let units = min(before + Self.wideUnitsAfter, (b.count - start) / 2)
        var narrow = [UInt8](repeating: 1, count: units)
        for u in 0..<units {
            let (char, zero) = form == .utf16LE ? (start + 2 * u, start + 2 * u + 1) : (start + 2 * u + 1, start + 2 * u)
            if b[zero] == 0 && b[char] < 0x80 && b[char] != 0 { narrow[u] = b[char] }
        }
        return narrow.withUnsafeBufferPointer { view in
            var index = KeyIndex()
            var matched = false
            for ruleIndex in ruleIndices {
                guard var c = self.match(view, anchorAt: before, ruleIndex: ruleIndex, keyIndex: &index) else { continue }
                c.start = start + 2 * c.start
                c.end = start + 2 * c.end
                c.form = form
                emit(c)
                matched = true
            }
            return matched
        }
    }

    /// Keyed secrets (`MPT_API_TOKEN=<secret>`) found so far in one buffer, for the legacy rule: each byte is
    /// examined once however many ids share a window (a line of 400,000 ids would otherwise cost 4 KB each).
    struct KeyIndex {
        /// Buffer offsets examined: [start, end).
        var start = 0
        var end = 0
        /// Secrets that passed the quality tests, as (key start, secret range), in order of key start.
        var hits: [(key: Int, secret: Range<Int>)] = []
        /// `hits[i].key`, for binary search.
        var hitKeys: [Int] = []
        /// Line breaks examined, as the offset just after each (LF, or the `\n` of an escaped string), in order.
        var breaks: [Int] = []
    }

    /// Convenience: every candidate in a whole buffer (tests, small inputs).
    public func candidates(in bytes: [UInt8]) -> [Candidate] {
        var out: [Candidate] = []
        bytes.withUnsafeBufferPointer { buffer in
            self.scan(buffer, anchorRange: 0..<buffer.count) { out.append($0) }
        }
        return out.sorted { ($0.start, $0.ruleIndex) < ($1.start, $1.ruleIndex) }
    }

    // MARK: - Grammar

    @inline(__always)
    private func match(_ b: UnsafeBufferPointer<UInt8>, anchorAt a: Int, ruleIndex: Int, keyIndex: inout KeyIndex) -> Candidate? {
        let rule = self.rules[ruleIndex]
        guard let g = rule.grammar else { return nil }
        guard let idEnd = Self.idEnd(b, anchorAt: a, anchorLength: self.anchors[ruleIndex].count, grammar: g) else { return nil }
        let id = a..<idEnd // decoded to a String only for a candidate
        let prefixStart = self.prefixStart(b, anchorAt: a, ruleIndex: ruleIndex)
        switch rule.detector {
        case .platformJWT:
            return nil
        case .currentToken:
            guard let (start, firstEncoding) = prefixStart else { return nil }
            guard let (secretStart, secretEnd, secondEncoding) = Self.secret(b, after: idEnd, grammar: g) else { return nil }
            return self.candidate(b, ruleIndex: ruleIndex, start: start, secret: secretStart..<secretEnd, id: id,
                                  prefix: "\(g.prefix ?? ""):", encoding: max(firstEncoding, secondEncoding))
        case .legacyPair:
            // With the current prefix in front, the current-form rule owns the hit (or rejected it on purpose).
            if prefixStart != nil { return nil }
            if let (secretStart, secretEnd, encoding) = Self.secret(b, after: idEnd, grammar: g) {
                return self.candidate(b, ruleIndex: ruleIndex, start: a, secret: secretStart..<secretEnd, id: id,
                                      prefix: "", encoding: encoding)
            }
            if Separator.forward(b, idEnd) != nil { return nil } // `TKN-…:` followed by something that is no secret
            return self.keyedSecret(b, idAt: a, idEnd: idEnd, ruleIndex: ruleIndex, index: &keyIndex)
        }
    }

    private func candidate(_ b: UnsafeBufferPointer<UInt8>, ruleIndex: Int, start: Int, secret: Range<Int>, id: Range<Int>,
                           prefix: String, encoding: SeparatorEncoding) -> Candidate? {
        let secretBytes = UnsafeBufferPointer(rebasing: b[secret])
        guard self.qualities[ruleIndex].placeholderReason(secretBytes) == nil else { return nil }
        let tokenID = String(decoding: UnsafeBufferPointer(rebasing: b[id]), as: UTF8.self)
        let canonical = prefix + tokenID + ":" + String(decoding: secretBytes, as: UTF8.self)
        return Candidate(ruleIndex: ruleIndex, start: start, end: secret.upperBound, tokenID: tokenID,
                         canonical: canonical, secretLength: secret.count, encoding: encoding)
    }

    /// End offset of `TKN-dddd-dddd[-dddd]` whose anchor `TKN-` starts at `a`, or nil.
    static func idEnd(_ b: UnsafeBufferPointer<UInt8>, anchorAt a: Int, anchorLength: Int, grammar g: TokenGrammar) -> Int? {
        var p = a + anchorLength
        guard digits(b, p, g.idGroupDigits) else { return nil }
        p += g.idGroupDigits
        var groups = 1
        while groups < g.idGroupsMax, p < b.count, b[p] == 0x2D, digits(b, p + 1, g.idGroupDigits) {
            p += 1 + g.idGroupDigits
            groups += 1
        }
        guard groups >= g.idGroupsMin else { return nil }
        if p < b.count && isDigit(b[p]) { return nil } // `TKN-1234-56789`: a longer number, not an id
        return p
    }

    /// Start of `<prefix><separator>` ending at the anchor, with the separator's encoding, or nil.
    private func prefixStart(_ b: UnsafeBufferPointer<UInt8>, anchorAt a: Int, ruleIndex: Int) -> (Int, SeparatorEncoding)? {
        let prefix = self.prefixes[ruleIndex]
        guard let (sepStart, encoding) = Separator.backward(b, endingAt: a) else { return nil }
        let start = sepStart - prefix.count
        guard start >= 0 else { return nil }
        for i in 0..<prefix.count where b[start + i] != prefix[i] { return nil }
        return (start, encoding)
    }

    /// The secret after the id: a separator, then `[A-Za-z0-9]{min,max}`. Returns its byte range and encoding.
    static func secret(_ b: UnsafeBufferPointer<UInt8>, after idEnd: Int, grammar g: TokenGrammar) -> (Int, Int, SeparatorEncoding)? {
        guard let (length, encoding) = Separator.forward(b, idEnd) else { return nil }
        let start = idEnd + length
        var p = start
        while p < b.count && p - start < g.secretMaxLength && isAlnum(b[p]) { p += 1 }
        guard p - start >= g.secretMinLength else { return nil }
        if g.secretRequiresEnd && p < b.count && isAlnum(b[p]) { return nil }
        return (start, p, encoding)
    }

    /// Legacy form B: a bare id with `KEY = <secret>` within `maxKeyDistanceLines` lines.
    private func keyedSecret(_ b: UnsafeBufferPointer<UInt8>, idAt a: Int, idEnd: Int, ruleIndex: Int,
                             index: inout KeyIndex) -> Candidate? {
        let lines = self.rules[ruleIndex].grammar?.maxKeyDistanceLines ?? 0
        let reach = max(0, a - Self.keyWindowBytes)..<min(b.count, idEnd + Self.keyWindowBytes)
        self.extend(&index, b, to: reach, ruleIndex: ruleIndex)
        // the window: `lines` line breaks each way, within `keyWindowBytes`
        let before = Self.firstIndex(index.breaks, atOrAfter: a + 1) // breaks ending at or before a
        let lo = before - lines - 1 >= 0 ? max(reach.lowerBound, index.breaks[before - lines - 1]) : reach.lowerBound
        let after = Self.firstIndex(index.breaks, atOrAfter: idEnd + 1)
        let hi = after + lines < index.breaks.count ? min(reach.upperBound, index.breaks[after + lines] - 1) : reach.upperBound
        // the hit nearest the id whose key and secret lie inside the window
        var best: (key: Int, secret: Range<Int>)? = nil
        var i = Self.firstIndex(index.hitKeys, atOrAfter: lo)
        while i < index.hits.count && index.hits[i].key < hi {
            let hit = index.hits[i]
            if hit.secret.upperBound <= hi && (best == nil || abs(hit.secret.lowerBound - a) < abs(best!.secret.lowerBound - a)) { best = hit }
            i += 1
        }
        guard let best else { return nil }
        let secret = String(decoding: UnsafeBufferPointer(rebasing: b[best.secret]), as: UTF8.self)
        let tokenID = String(decoding: UnsafeBufferPointer(rebasing: b[a..<idEnd]), as: UTF8.self)
        return Candidate(ruleIndex: ruleIndex, start: best.secret.lowerBound, end: best.secret.upperBound, tokenID: tokenID,
                         canonical: tokenID + ":" + secret, secretLength: best.secret.count, encoding: .plain, spanIsSecretOnly: true)
    }

    /// Examines the bytes of `window` not yet in `index` for keys followed by a secret.
    private func extend(_ index: inout KeyIndex, _ b: UnsafeBufferPointer<UInt8>, to window: Range<Int>, ruleIndex: Int) {
        if index.end <= index.start || window.lowerBound > index.end {
            // first use, or a gap: start afresh at the window (hits before it can no longer be in any window)
            index = KeyIndex(start: window.lowerBound, end: window.lowerBound)
        }
        guard window.upperBound > index.end else { return }
        let keys = self.keys[ruleIndex]
        let starts = self.keyStarts[ruleIndex]
        var p = max(index.end, index.start)
        while p < window.upperBound {
            var c = b[p]
            if c == 0x0A || (c == 0x6E && p > 0 && b[p - 1] == 0x5C) { index.breaks.append(p + 1) }
            guard starts[Int(c)] else { p += 1; continue }
            if c >= 65 && c <= 90 { c += 32 }
            for key in keys where key.first == c && Self.equalsLowercased(b, p, key) {
                if let secret = self.valueAfterKey(b, keyEnd: p + key.count, limit: min(b.count, p + key.count + Self.keyWindowBytes), ruleIndex: ruleIndex) {
                    index.hits.append((p, secret))
                    index.hitKeys.append(p)
                }
            }
            p += 1
        }
        index.end = window.upperBound
    }

    /// Index of the first element at or after `offset` in an ascending array (binary search).
    private static func firstIndex(_ sorted: [Int], atOrAfter offset: Int) -> Int {
        var lo = 0, hi = sorted.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sorted[mid] < offset { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// `["']? \s* (=|:|=>|:=) \s* ["']? (Bearer\s+)? <secret>` after a key; the secret must end at a
    /// non-alphanumeric and pass the rule's quality tests. Returns its byte range.
    private func valueAfterKey(_ b: UnsafeBufferPointer<UInt8>, keyEnd: Int, limit: Int, ruleIndex: Int) -> Range<Int>? {
        guard let g = self.rules[ruleIndex].grammar else { return nil }
        var p = keyEnd
        Self.skipQuote(b, &p, limit)
        while p < limit && (b[p] == 0x20 || b[p] == 0x09) { p += 1 }
        guard p < limit else { return nil }
        if b[p] == 0x3D { // '=' or '=>'
            p += 1
            if p < limit && b[p] == 0x3E { p += 1 }
        } else if b[p] == 0x3A { // ':' or ':='
            p += 1
            if p < limit && b[p] == 0x3D { p += 1 }
        } else {
            return nil
        }
        while p < limit && (b[p] == 0x20 || b[p] == 0x09) { p += 1 }
        Self.skipQuote(b, &p, limit)
        if Self.equalsLowercased(b, p, Self.bearer), p + 6 < limit, b[p + 6] == 0x20 {
            p += 7
            while p < limit && b[p] == 0x20 { p += 1 }
        }
        let start = p
        while p < limit && p - start <= g.secretMaxLength && isAlnum(b[p]) { p += 1 }
        let length = p - start
        guard length >= g.secretMinLength, length <= g.secretMaxLength else { return nil }
        guard self.qualities[ruleIndex].placeholderReason(UnsafeBufferPointer(rebasing: b[start..<p])) == nil else { return nil }
        return start..<p
    }

    /// Skips one quote (`"`, `'` or a backquote), possibly escaped with backslashes (`\"` in JSON strings).
    private static func skipQuote(_ b: UnsafeBufferPointer<UInt8>, _ p: inout Int, _ limit: Int) {
        var q = p
        while q < limit && b[q] == 0x5C && q - p < Separator.maxBackslashes { q += 1 }
        if q < limit && (b[q] == 0x22 || b[q] == 0x27 || b[q] == 0x60) { p = q + 1 }
    }

    @inline(__always)
    private static func equalsLowercased(_ b: UnsafeBufferPointer<UInt8>, _ p: Int, _ lowered: [UInt8]) -> Bool {
        guard p + lowered.count <= b.count else { return false }
        for i in 0..<lowered.count {
            var c = b[p + i]
            if c >= 65 && c <= 90 { c += 32 }
            if c != lowered[i] { return false }
        }
        return true
    }
}

@inline(__always) func isDigit(_ c: UInt8) -> Bool { c &- 0x30 < 10 }
@inline(__always) func isAlnum(_ c: UInt8) -> Bool { c &- 0x30 < 10 || (c | 0x20) &- 0x61 < 26 }

@inline(__always)
private func digits(_ b: UnsafeBufferPointer<UInt8>, _ p: Int, _ count: Int) -> Bool {
    guard p + count <= b.count else { return false }
    for i in 0..<count where !isDigit(b[p + i]) { return false }
    return true
}
