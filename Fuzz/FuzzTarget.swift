// libFuzzer entry points for mptscan's parsers and decoders.
//
// Not part of the package: `scripts/fuzz` compiles the files in Fuzz/ into the MPTScanKit module together with
// Sources/MPTScanKit (so each target calls the library's own parsers, internal ones included, exactly as the
// scanner does, with no access level widened for the fuzzer), and links one libFuzzer binary per target whose
// `LLVMFuzzerTestOneInput` calls `FuzzTarget.run`. See docs/FUZZING.md.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One fuzz target: a family of parsers fed the fuzzer's bytes. The raw value names the binary
/// (`.build-fuzz/fuzz-<name>`) and the corpus (`fixtures/fuzz-corpus/<name>/`).
public enum FuzzTarget: String, CaseIterable {
    /// The token matcher: `TokenDetector`, and `ContentScanner` over arrays, memory, pulled pieces and 64-byte
    /// chunks (all must agree), UTF-16 decoding included.
    case tokens
    /// Tokens written in Base64 (`Base64Tokens`).
    case base64
    /// Tokens with every byte escaped: percent, `\x`/`\u`, HTML character references (`EscapedTokens`).
    case escapes
    /// Tokens split across joined string literals (`JoinedLiterals`).
    case joined
    /// Jupyter notebooks (`Notebook`).
    case notebook
    /// Source maps: the JSON walker, `sourcesContent` positions, the `mappings` VLQ decoder, `sourceMappingURL`.
    case sourcemap
    /// zip, gzip, tar and asar readers (`ArchiveWalker`) and `Inflate`.
    case archive
    /// git plumbing output: commit and tag objects, `log --raw -z`, `diff-index --raw -z`, `ls-tree -r -z`,
    /// `cat-file --batch`, and the commit graph built from them.
    case git
    /// Files a user hands mptscan: `.mptscan.json`, the baseline, `.mptscanignore`, path globs, registry URLs,
    /// rule files, sweep state.
    case config
    /// Registry responses: the API token object and list page, RFC 7807 problems, `Retry-After`, snapshots.
    case registry
    /// Platform JWTs (`PlatformJWT`): the anchor search, base64url decoding and the claims parser.
    case jwt

    /// Runs the target on one input. An invariant that does not hold stops the process (`fuzzCheck`), which
    /// libFuzzer records as a crash with its input.
    public func run(_ data: UnsafeBufferPointer<UInt8>) {
        switch self {
        case .tokens: FuzzTokens.run(data)
        case .base64: FuzzDecoders.base64(data)
        case .escapes: FuzzDecoders.escapes(data)
        case .joined: FuzzDecoders.joined(data)
        case .notebook: FuzzDocuments.notebook(data)
        case .sourcemap: FuzzDocuments.sourceMap(data)
        case .archive: FuzzArchive.run(data)
        case .git: FuzzGit.run(data)
        case .config: FuzzFiles.config(data)
        case .registry: FuzzFiles.registry(data)
        case .jwt: FuzzTokens.jwt(data)
        }
    }
}

/// Stops the run, naming the broken invariant, when `condition` is false.
func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
               file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError("fuzz invariant broken: \(message())", file: file, line: line) }
}

/// Checks that a candidate's span lies inside a buffer of `count` bytes and is not empty.
func fuzzCheckSpan(_ c: Candidate, in count: Int, _ what: String) {
    fuzzCheck(c.start >= 0 && c.start < c.end && c.end <= count, "\(what): span \(c.start)..<\(c.end) outside \(count) bytes")
}

/// A finding at `offset` with made-up fields, for the annotators (`SourceMap.annotate`, `Notebook.annotate`),
/// which only read its offset, line and encoding.
func fuzzFinding(offset: Int, line: Int = 1) -> Finding {
    Finding(ruleID: "mpt-api-token", tokenID: "TKN-0000-0000", severity: .high, confidence: .high, path: "input",
            line: line, column: 1, endColumn: 2, byteOffset: offset, token: "idt:TKN-0000-0000:placeholder",
            secretLength: 11, snippetBefore: "", snippetAfter: "", fingerprint: "", encoding: .plain, suppression: nil,
            spanIsSecretOnly: false, textEncoding: nil, decodings: [])
}

/// A scratch file for parsers that only read paths (`Baseline.load`, `RegistrySnapshot.load`): in `/dev/shm`
/// when there is one, one per process, removed after each use.
enum FuzzScratch {
    static let path: String = {
        var isDir: ObjCBool = false
        let dir = FileManager.default.fileExists(atPath: "/dev/shm", isDirectory: &isDir) && isDir.boolValue ? "/dev/shm" : NSTemporaryDirectory()
        return dir + "/mptscan-fuzz-\(getpid()).json"
    }()

    /// Calls `body` with the path of a file holding `data`.
    static func withFile<T>(_ data: UnsafeBufferPointer<UInt8>, _ body: (String) -> T) -> T {
        _ = FileManager.default.createFile(atPath: Self.path, contents: Data(buffer: data))
        defer { unlink(Self.path) }
        return body(Self.path)
    }
}
