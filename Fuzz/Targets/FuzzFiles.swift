import Foundation

/// Parsers of files a user hands mptscan, and of the token registry's answers. Each parser gets the whole input;
/// errors are expected, crashes and hangs are not.
enum FuzzFiles {
    static func config(_ data: UnsafeBufferPointer<UInt8>) {
        let bytes = Data(buffer: data)
        let text = String(decoding: data, as: UTF8.self)
        if let config = try? Configuration.parse(bytes, file: ".mptscan.json") {
            for pattern in config.excludes { _ = try? PathGlob(pattern).matchesFileOrParent("src/app/config.ts") }
            if let registry = config.registry { _ = try? RegistryEndpoint.parse(registry) }
        }
        _ = FuzzScratch.withFile(data) { try? Baseline.load(from: $0) }
        if let ignore = try? IgnoreList.parse(text, file: ".mptscanignore") {
            for entry in ignore.entries { fuzzCheck(entry.fingerprint?.count == 64, "ignore entry with fingerprint \(entry.fingerprint ?? "nil")") }
        }
        // each line as a path glob (excludes, ignore entries) and as a registry URL
        for line in text.split(separator: "\n", omittingEmptySubsequences: true).prefix(16) {
            if let glob = try? PathGlob(String(line)) {
                _ = glob.matches("a/b/c.js", isDirectory: false)
                _ = glob.matchesFileOrParent(String(line))
            }
            _ = try? RegistryEndpoint.parse(String(line))
        }
        _ = try? Rule.decode(bytes, file: "rule.json")
        _ = try? SweepState.decodeObjects(Array(data), file: "objects")
    }

    static let now = Date(timeIntervalSince1970: 1_750_000_000)

    static func registry(_ data: UnsafeBufferPointer<UInt8>) {
        let bytes = Data(buffer: data)
        if let record = try? JSONDecoder().decode(APITokenRecord.self, from: bytes) {
            _ = record.description
            _ = record.valueFingerprint
            // a live or disabled verdict only ever for the registry's own value
            for found in [record.token ?? "", "idt:\(record.id):Placeholder0000", String((record.token ?? "").dropFirst(4))] {
                let verdict = RegistryVerdict.decide(found: found, tokenID: record.id, lookup: .success(record))
                if verdict.verdict == .live || verdict.verdict == .disabled {
                    fuzzCheck(record.token == found || record.token == "idt:" + found, "verdict \(verdict.verdict) for a value that is not the registry's")
                }
                _ = RegistryVerdict.decideSelf(tokenID: record.id, lookup: .success(record))
            }
        }
        if let page = try? JSONDecoder().decode(APITokenPage.self, from: bytes) { _ = page.hasMore }
        if let problem = Problem.decode(bytes) {
            let line = problem.description
            fuzzCheck(line.count <= 400 && !line.contains("\n"), "problem described in \(line.count) characters")
        }
        if let seconds = RegistryClient.retryAfterSeconds(String(decoding: data.prefix(200), as: UTF8.self), now: Self.now) {
            fuzzCheck(seconds >= 0 && seconds.isFinite, "Retry-After of \(seconds) seconds")
        }
        if let snapshot = FuzzScratch.withFile(data, { try? RegistrySnapshot.load(from: $0) }) {
            _ = snapshot.age(now: Self.now)
            for entry in snapshot.tokens.prefix(8) {
                let canonical = "idt:\(entry.id):Placeholder0000"
                let verdict = snapshot.verdict(tokenID: entry.id, canonical: canonical, fingerprint: SHA256.hexDigest(of: Array(canonical.utf8)), stale: nil)
                if verdict.verdict == .live || verdict.verdict == .disabled {
                    fuzzCheck(entry.sha256 == SHA256.hexDigest(of: Array(canonical.utf8)), "verdict \(verdict.verdict) for a hash that is not stored")
                }
            }
            _ = snapshot.serialized()
        }
    }
}
