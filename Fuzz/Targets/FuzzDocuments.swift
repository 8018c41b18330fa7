/// JSON documents read with mptscan's own walker: Jupyter notebooks and source maps.
enum FuzzDocuments {
    /// Offsets worth asking about in a string of `range`: its ends, its middle, just outside it.
    static func probes(_ range: Range<Int>, count: Int) -> [Int] {
        [range.lowerBound - 1, range.lowerBound, (range.lowerBound + range.upperBound) / 2, range.upperBound - 1, range.upperBound]
            .filter { $0 >= 0 && $0 < count }
    }

    static func notebook(_ data: UnsafeBufferPointer<UInt8>) {
        guard let pieces = Notebook.pieces(data) else { return }
        var offsets: [Int] = []
        for piece in pieces {
            fuzzCheck(piece.range.lowerBound >= 0 && piece.range.upperBound <= data.count, "notebook string \(piece.range) outside \(data.count) bytes")
            fuzzCheck(piece.line >= 1 && piece.cell >= 0, "notebook string at cell \(piece.cell), line \(piece.line)")
            offsets += Self.probes(piece.range, count: data.count)
        }
        var findings = offsets.prefix(64).map { fuzzFinding(offset: $0) }
        Notebook.annotate(&findings, bytes: data)
        for f in findings {
            guard let original = f.original else { continue }
            fuzzCheck(original.line >= 1 && original.column >= 1, "notebook position \(original.line):\(original.column)")
        }
    }

    static func sourceMap(_ data: UnsafeBufferPointer<UInt8>) {
        _ = SourceMap.looksLikeSourceMap(UnsafeBufferPointer(rebasing: data.prefix(512)), path: nil)
        Self.map(data)
        // a bundle's sourceMappingURL comment, and an inline (data:) map it points at; a relative URL is never
        // opened here
        if let link = SourceMapLink.find(in: data), link.url.hasPrefix("data:"),
           let bytes = link.load(relativeTo: "/nonexistent", limit: 1 << 20)?.0 {
            bytes.withUnsafeBufferPointer { Self.map($0) }
            // the bundle's own findings mapped through the inline map, as `mptscan scan` does
            var findings = (0..<min(8, data.count)).map { fuzzFinding(offset: $0 * data.count / 8, line: 1 + $0) }
            bytes.withUnsafeBufferPointer { SourceMap.annotateGenerated(&findings, bundle: data, mapBytes: $0, label: "inline map") }
        }
    }

    static func map(_ data: UnsafeBufferPointer<UInt8>) {
        guard let map = SourceMap.parse(data) else { return }
        var offsets: [Int] = []
        for content in map.contents {
            fuzzCheck(content.range.lowerBound >= 0 && content.range.upperBound <= data.count, "sourcesContent string \(content.range) outside \(data.count) bytes")
            for offset in Self.probes(content.range, count: data.count) {
                if let p = map.position(ofByte: offset, in: data) {
                    fuzzCheck(p.line >= 1 && p.column >= 1, "sourcesContent position \(p.line):\(p.column)")
                }
                offsets.append(offset)
            }
        }
        if let mappings = map.mappings {
            fuzzCheck(mappings.lowerBound >= 0 && mappings.upperBound <= data.count, "mappings \(mappings) outside \(data.count) bytes")
            // the VLQ decoder, for a few generated lines and columns
            for line in [0, 1, 2, 7] {
                for column in [0, 1, 9, 100, Int.max] {
                    if let p = map.originalPosition(line: line, column: column, in: data) {
                        fuzzCheck(p.line >= 1 && p.column >= 1 && map.sources.contains(p.source), "mapped to \(p.source):\(p.line):\(p.column)")
                    }
                }
            }
        }
        var findings = offsets.prefix(64).map { fuzzFinding(offset: $0) }
        SourceMap.annotate(&findings, mapBytes: data)
    }
}
