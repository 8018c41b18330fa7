/// The anchors that every buffer is searched for, found in one `MultiLiteralSearch`: the rules' id anchors
/// (`TKN-`, plain and as UTF-16 text), the Base64 forms of the token prefix up to the decode depth, the escaped
/// `idt`s, and the platform JWT's claims anchor. Searched decoder by decoder they took seven `memchr` passes (`K`;
/// `U`, `V`, `W`; `6`; `Z`, `Y`); together the cheapest pivot cover at the default decode depth (3) has five bytes
/// (`T`, `4`, `Z`, `V`, `&`; four, `6`, `T`, `U`, `Z`, at depths 0 and 1), which also stop less often: counted in
/// the benchmark tree, 663 times per 100 KB instead of 1,273 (docs/PERFORMANCE.md, seventh session). The
/// joined-literal decoder's `+` is still its own pass.
///
/// A hit goes to the decoder whose anchor it is, in the order that decoder expects: the detector and the Base64
/// decoder take each literal's hits in increasing order (which one search gives them: a literal is under one
/// pivot), the escape and JWT decoders in text order (sorted here). Decoded text (a Base64 window, an unescaped
/// string) is searched by each decoder's own search, as before.
///
/// Immutable once made, so the scanning threads share one (`TreeScanner`); made for one detector and one decode
/// depth.
final class CombinedAnchors: Sendable {
    /// Whose literal it is, and which of its anchors.
    enum Owner: Sendable, Equatable {
        /// `TokenDetector.anchorLiterals[anchor]`, one byte per character.
        case id(anchor: Int)
        /// `TokenDetector.anchorLiterals[anchor]` as UTF-16 without its last zero: the characters with a zero
        /// between each two (`T\0K\0N\0-`), which both byte orders share; the zero after (little-endian) or
        /// before (big-endian) tells which.
        case wideID(anchor: Int)
        /// `Base64Tokens.anchors[base64Indices[anchor]]`.
        case base64(anchor: Int)
        /// `EscapedTokens.anchors[anchor]`.
        case escape(anchor: Int)
        /// `PlatformJWT.anchorForms[form]` of the detector's JWT rule.
        case jwt(form: Int)
    }

    /// The detector whose anchors these are, and that matches the grammar around them.
    let detector: TokenDetector
    /// One search for every literal, numbered as `owners`.
    let search: MultiLiteralSearch
    /// Per literal of `search`, whose it is.
    let owners: [Owner]
    /// Per literal of `search`, its length in bytes.
    private let lengths: [Int]
    /// The Base64 anchors searched (indices into `Base64Tokens.anchors`): those of the decode depth.
    let base64Indices: [Int]
    /// The decode depth, 0…`ScanLimits.deepestDecoding` (`--max-decode-depth`).
    let depth: Int

    /// The anchors of `detector`'s rules and of the decoders at decode depth `depth` (clamped to
    /// 0…`ScanLimits.deepestDecoding`). Costs a few milliseconds (the pivot cover over 155 literals): make one
    /// per scan, not per file.
    init(detector: TokenDetector, depth: Int) {
        self.detector = detector
        self.depth = min(max(0, depth), ScanLimits.deepestDecoding)
        var literals: [[UInt8]] = [], owners: [Owner] = []
        for (index, anchor) in detector.anchorLiterals.enumerated() {
            literals.append(anchor)
            owners.append(.id(anchor: index))
            literals.append(Array(anchor.map { [$0, 0] }.joined().dropLast()))
            owners.append(.wideID(anchor: index))
        }
        self.base64Indices = Base64Tokens.outerIndices(depth: self.depth)
        for (local, index) in self.base64Indices.enumerated() {
            literals.append(Array(Base64Tokens.anchors[index].literal.utf8))
            owners.append(.base64(anchor: local))
        }
        for (index, anchor) in EscapedTokens.anchors.enumerated() {
            literals.append(Array(anchor.literal.utf8))
            owners.append(.escape(anchor: index))
        }
        for (index, form) in (detector.jwt?.anchorForms ?? []).enumerated() {
            literals.append(form)
            owners.append(.jwt(form: index))
        }
        self.search = MultiLiteralSearch(literals)
        self.owners = owners
        self.lengths = literals.map(\.count)
    }

    /// The hits of one buffer, per decoder, as 0-based byte offsets into it. Kept by the caller across buffers so
    /// that their storage is allocated once; `find` empties them first.
    struct Hits {
        /// Id anchors: which (index into `TokenDetector.anchorLiterals`), where the text starts, in which form
        /// (big-endian UTF-16 starts at the zero before the first character).
        var id: [(anchor: Int, at: Int, form: TextForm)] = []
        /// Base64 anchors (index into `base64Indices`), each anchor's in increasing order.
        var base64: [(anchor: Int, at: Int)] = []
        /// Escaped `idt`s (index into `EscapedTokens.anchors`), in text order.
        var escape: [(anchor: Int, at: Int)] = []
        /// JWT claims anchors (index into `PlatformJWT.anchorForms`), in text order.
        var jwt: [(form: Int, at: Int)] = []
        /// The plain `TKN-` offsets the detector saw (`JoinedLiterals.idPrefix`), in increasing order, for the
        /// joined-literal decoder.
        var idPrefix: [Int] = []

        /// Empties every list, keeping its storage.
        mutating func removeAll() {
            if !self.id.isEmpty { self.id.removeAll(keepingCapacity: true) }
            if !self.base64.isEmpty { self.base64.removeAll(keepingCapacity: true) }
            if !self.escape.isEmpty { self.escape.removeAll(keepingCapacity: true) }
            if !self.jwt.isEmpty { self.jwt.removeAll(keepingCapacity: true) }
            if !self.idPrefix.isEmpty { self.idPrefix.removeAll(keepingCapacity: true) }
        }
    }

    /// Finds every anchor starting in `range` of `buffer` (one may run past `range`, not past the buffer) and
    /// sorts the hits into `hits` (emptied first), each list in the order its decoder expects.
    func find(in buffer: UnsafeBufferPointer<UInt8>, starting range: Range<Int>, into hits: inout Hits) {
        hits.removeAll()
        self.search.forEach(in: buffer, starting: range) { literal, at in
            switch self.owners[literal] {
            case .id(let anchor):
                hits.id.append((anchor, at, .bytes))
            case .wideID(let anchor):
                // the n characters with n - 1 zeros between them (2n - 1 bytes from `at`): little-endian text
                // has a zero after them, big-endian text one before them (reported there, as
                // `LiteralSearch.forEachForm` does, the little-endian reading first)
                let end = at + self.lengths[literal]
                if end < buffer.count && buffer[end] == 0 { hits.id.append((anchor, at, .utf16LE)) }
                if at > 0 && buffer[at - 1] == 0 { hits.id.append((anchor, at - 1, .utf16BE)) }
            case .base64(let anchor):
                hits.base64.append((anchor, at))
            case .escape(let anchor):
                hits.escape.append((anchor, at))
            case .jwt(let form):
                hits.jwt.append((form, at))
            }
        }
        if hits.escape.count > 1 { hits.escape.sort { ($0.at, $0.anchor) < ($1.at, $1.anchor) } }
        if hits.jwt.count > 1 { hits.jwt.sort { ($0.at, $0.form) < ($1.at, $1.form) } }
    }

    /// Every candidate whose anchor starts in `range` of `buffer` (0-based byte offsets), as the detector,
    /// `Base64Tokens`, `EscapedTokens` and `JoinedLiterals` find them each with its own search: `overLimit` gets
    /// the offsets of encoded prefixes under more layers than the depth. With `stopAtFirst`, the decoders after
    /// the one that reported something are not run (the caller only asks whether there is anything).
    func candidates(in buffer: UnsafeBufferPointer<UInt8>, range: Range<Int>, hits: inout Hits, stopAtFirst: Bool = false,
                    overLimit: (Int) -> Void, _ emit: (Candidate) -> Void) {
        self.find(in: buffer, starting: range, into: &hits)
        var reported = false
        let detector = self.detector
        detector.scan(buffer, hits: hits.id, idPrefixHits: &hits.idPrefix) {
            reported = true
            emit($0)
        }
        if let jwt = detector.jwt, !hits.jwt.isEmpty, !(stopAtFirst && reported) {
            jwt.scan(buffer, hits: hits.jwt) {
                reported = true
                emit($0)
            }
        }
        let over = { (at: Int) in
            reported = true
            overLimit(at)
        }
        if !hits.base64.isEmpty, !(stopAtFirst && reported) {
            Base64Tokens.forEach(in: buffer, detector: detector, indices: self.base64Indices, maxLevel: self.depth,
                                 hits: hits.base64, overLimit: over) {
                reported = true
                emit($0)
            }
        }
        if !hits.escape.isEmpty, !(stopAtFirst && reported) {
            EscapedTokens.forEach(in: buffer, detector: detector, maxDepth: self.depth, hits: hits.escape, overLimit: over) {
                reported = true
                emit($0)
            }
        }
        guard !(stopAtFirst && reported) else { return }
        JoinedLiterals.forEach(in: buffer, anchorRange: range, detector: detector, stringDepth: 0,
                               idPrefixHits: detector.findsIDPrefix ? hits.idPrefix : nil, emit)
    }
}
