/// The anchors that every buffer is searched for, found in one `MultiLiteralSearch`: the rules' id anchors
/// (`TKN-`, plain and as UTF-16 text), the Base64 forms of the token prefix up to the decode depth, the escaped
/// `idt`s, and the platform JWT's claims anchor. Searched decoder by decoder they took eight `memchr` passes
/// (`K`, `U`, `V`, `W`, `Z`, `Y`, `6` and the joined literals' `+`); together the exact cover needs five bytes
/// (`T`, `4`, `Z`, `V`, `&`), which also stop half as often in source text: on the benchmark tree 663 stops per
/// 100 KB instead of 1,273, and 23 ms per 100 MB instead of 37 (docs/PERFORMANCE.md, seventh session).
///
/// A hit goes to the decoder whose anchor it is, in the order that decoder expects: the detector and the Base64
/// decoder take each literal's hits in increasing order (which one search gives them), the escape and JWT
/// decoders in text order (sorted here). Decoded text (a Base64 window, an unescaped string) is searched by each
/// decoder's own search, as before.
final class CombinedAnchors: Sendable {
    /// Whose literal: an id anchor (plain or UTF-16), a Base64 anchor, an escaped `idt`, a JWT claims anchor.
    enum Owner: Sendable, Equatable {
        /// `TokenDetector.anchorLiterals[search]`, one byte per character.
        case idAnchor(search: Int)
        /// `TokenDetector.anchorLiterals[search]` as UTF-16 without its last zero: the characters with a zero
        /// between each two (`T\0K\0N\0-`), which both byte orders share; the zero before or after tells which.
        case wideIDAnchor(search: Int)
        /// Index into `base64Indices`.
        case base64(Int)
        /// Index into `EscapedTokens.anchors`.
        case escape(Int)
        /// Index into `PlatformJWT.anchorForms`.
        case jwt(Int)
    }

    let search: MultiLiteralSearch
    /// Per literal of `search`, whose it is.
    let owners: [Owner]
    /// Per literal of `search`, its length in bytes.
    private let lengths: [Int]
    /// The Base64 anchors searched (indices into `Base64Tokens.anchors`): those of the decode depth.
    let base64Indices: [Int]
    /// The decode depth the Base64 anchors were chosen for, 0…`ScanLimits.deepestDecoding`.
    let depth: Int

    /// The anchors of `detector`'s rules and of the decoders at decode depth `depth` (clamped to
    /// 0…`ScanLimits.deepestDecoding`).
    init(detector: TokenDetector, depth: Int) {
        self.depth = min(max(0, depth), ScanLimits.deepestDecoding)
        var literals: [[UInt8]] = [], owners: [Owner] = []
        for (s, anchor) in detector.anchorLiterals.enumerated() {
            literals.append(anchor)
            owners.append(.idAnchor(search: s))
            literals.append(Array(anchor.map { [$0, 0] }.joined().dropLast()))
            owners.append(.wideIDAnchor(search: s))
        }
        self.base64Indices = Base64Tokens.outerIndices(depth: self.depth)
        for (local, index) in self.base64Indices.enumerated() {
            literals.append(Array(Base64Tokens.anchors[index].literal.utf8))
            owners.append(.base64(local))
        }
        for (index, anchor) in EscapedTokens.anchors.enumerated() {
            literals.append(Array(anchor.literal.utf8))
            owners.append(.escape(index))
        }
        for (index, form) in (detector.jwt?.anchorForms ?? []).enumerated() {
            literals.append(form)
            owners.append(.jwt(index))
        }
        self.search = MultiLiteralSearch(literals)
        self.owners = owners
        self.lengths = literals.map(\.count)
    }

    /// Reusable lists of the hits of one buffer, per decoder (kept by the caller across buffers, so that their
    /// storage is allocated once).
    struct Hits {
        var id: [(search: Int, at: Int, form: TextForm)] = []
        var base64: [(Int, Int)] = []
        var escape: [(Int, Int)] = []
        var jwt: [(Int, Int)] = []

        mutating func removeAll() {
            self.id.removeAll(keepingCapacity: true)
            self.base64.removeAll(keepingCapacity: true)
            self.escape.removeAll(keepingCapacity: true)
            self.jwt.removeAll(keepingCapacity: true)
        }
    }

    /// Finds every anchor starting in `range` of `buffer` (one may run past `range`, not past the buffer) and
    /// sorts the hits into `hits`, each list in the order its decoder expects.
    func find(in buffer: UnsafeBufferPointer<UInt8>, starting range: Range<Int>, into hits: inout Hits) {
        hits.removeAll()
        self.search.forEach(in: buffer, starting: range) { literal, at in
            switch self.owners[literal] {
            case .idAnchor(let s):
                hits.id.append((s, at, .bytes))
            case .wideIDAnchor(let s):
                // the literal is the n characters with n - 1 zeros between them (2n - 1 bytes from `at`):
                // little-endian text has a zero after it, big-endian text one before it
                let end = at + self.lengths[literal]
                if end < buffer.count && buffer[end] == 0 { hits.id.append((s, at, .utf16LE)) }
                if at > 0 && buffer[at - 1] == 0 { hits.id.append((s, at - 1, .utf16BE)) }
            case .base64(let local):
                hits.base64.append((local, at))
            case .escape(let index):
                hits.escape.append((index, at))
            case .jwt(let index):
                hits.jwt.append((index, at))
            }
        }
        if hits.escape.count > 1 { hits.escape.sort { ($0.1, $0.0) < ($1.1, $1.0) } }
        if hits.jwt.count > 1 { hits.jwt.sort { ($0.1, $0.0) < ($1.1, $1.0) } }
    }

    /// Every candidate whose anchor starts in `range` of `buffer`, as the detector, `Base64Tokens`,
    /// `EscapedTokens` and `JoinedLiterals` find them one by one (`ContentScanner.mayHoldFindings` and the
    /// streaming scan): `idPrefixHits` gets the plain `TKN-` offsets, `overLimit` the offsets of encoded
    /// prefixes under more layers than the depth.
    func candidates(in buffer: UnsafeBufferPointer<UInt8>, range: Range<Int>, detector: TokenDetector, hits: inout Hits,
                    idPrefixHits: inout [Int], overLimit: (Int) -> Void, _ emit: (Candidate) -> Void) {
        self.find(in: buffer, starting: range, into: &hits)
        let found = hits
        detector.scan(buffer, idPrefixHits: &idPrefixHits, anchors: { visit in for h in found.id { visit(h.search, h.at, h.form) } }, emit: emit)
        if let jwt = detector.jwt, !found.jwt.isEmpty {
            jwt.scan(buffer, hits: { visit in for h in found.jwt { visit(h.0, h.1) } }, emit: emit)
        }
        if !found.base64.isEmpty {
            Base64Tokens.forEach(in: buffer, detector: detector, indices: self.base64Indices, maxLevel: self.depth,
                                 hits: { visit in for h in found.base64 { visit(h.0, h.1) } }, overLimit: overLimit, emit)
        }
        if !found.escape.isEmpty {
            EscapedTokens.forEach(in: buffer, detector: detector, maxDepth: self.depth,
                                  hits: { visit in for h in found.escape { visit(h.0, h.1) } }, overLimit: overLimit, emit)
        }
        JoinedLiterals.forEach(in: buffer, anchorRange: range, detector: detector, stringDepth: 0,
                               idPrefixHits: detector.findsIDPrefix ? idPrefixHits : nil, emit)
    }
}
