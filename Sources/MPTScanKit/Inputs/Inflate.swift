import CZlib

/// zlib's `inflate` with a hard cap on output: raw DEFLATE (zip members, RFC 1951) or gzip (RFC 1952, all
/// members of a multi-member stream). Output beyond `limit` bytes stops inflation and says so, so a zip bomb
/// costs at most `limit` bytes of memory and the time to produce them.
enum Inflate {
    enum Outcome: Equatable {
        case complete
        /// More than `limit` bytes would come out.
        case overLimit
        /// The stream is corrupt or ends early.
        case corrupt(String)
    }

    /// Inflates `input` into a new array of at most `limit` bytes.
    /// - Parameter gzip: a gzip stream (header, trailer, further members) instead of raw DEFLATE.
    static func inflate(_ input: UnsafeBufferPointer<UInt8>, limit: Int, gzip: Bool) -> ([UInt8], Outcome) {
        var out = [UInt8]()
        guard let base = input.baseAddress, input.count > 0 else { return (out, .corrupt("empty stream")) }
        var stream = z_stream()
        let bits: Int32 = gzip ? 15 + 16 : -15
        guard inflateInit2_(&stream, bits, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            return (out, .corrupt("inflateInit failed"))
        }
        defer { inflateEnd(&stream) }
        stream.next_in = UnsafeMutablePointer(mutating: base)
        stream.avail_in = UInt32(min(input.count, Int(UInt32.max)))
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let (status, produced) = chunk.withUnsafeMutableBufferPointer { buf -> (Int32, Int) in
                stream.next_out = buf.baseAddress
                stream.avail_out = UInt32(buf.count)
                let status = CZlib.inflate(&stream, Z_NO_FLUSH)
                return (status, buf.count - Int(stream.avail_out))
            }
            if out.count + produced > limit {
                out.append(contentsOf: chunk[0..<(limit - out.count)])
                return (out, .overLimit)
            }
            out.append(contentsOf: chunk[0..<produced])
            switch status {
            case Z_STREAM_END:
                // gzip: another member may follow (`cat a.gz b.gz`)
                if gzip && stream.avail_in > 0 && inflateReset(&stream) == Z_OK { continue }
                return (out, .complete)
            case Z_OK:
                if produced == 0 && stream.avail_in == 0 { return (out, .corrupt("stream ends early")) }
            case Z_BUF_ERROR:
                if stream.avail_in == 0 { return (out, .corrupt("stream ends early")) }
            default:
                let message = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                return (out, .corrupt(message))
            }
        }
    }
}
