#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A buffered reader over a pipe, for git's streamed output: lines, NUL-terminated fields and exact byte counts,
/// with the bytes handed out as views into one growing buffer (no copy for content that fits).
final class ByteStream {
    private let fd: Int32
    private var storage: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private var start = 0
    private var end = 0
    /// Set when the pipe is exhausted.
    private(set) var atEnd = false
    /// `errno` of a failed read.
    private(set) var error: Int32? = nil

    /// When a read returns less than `coalesceBelow` bytes, wait `coalesceMicroseconds` before the next read, so
    /// that a producer writing small pieces (git writes 16 KiB at a time) fills the pipe instead of waking the
    /// reader for each piece. Costs no throughput while the pipe (1 MiB) does not fill within the wait.
    private let coalesceMicroseconds: UInt32
    private let coalesceBelow = 128 << 10
    private var lastReadWasShort = false

    init(fd: Int32, capacity: Int = 1 << 20, coalesceMicroseconds: UInt32 = 0) {
        self.fd = fd
        self.coalesceMicroseconds = coalesceMicroseconds
        self.capacity = capacity
        self.storage = .allocate(capacity: capacity)
    }

    deinit { self.storage.deallocate() }

    /// Reads more bytes; false at end of stream or on error.
    private func fill() -> Bool {
        if self.atEnd { return false }
        if self.start > 0 && (self.end == self.capacity || self.start > self.capacity / 2) {
            memmove(self.storage, self.storage + self.start, self.end - self.start)
            self.end -= self.start
            self.start = 0
        }
        if self.end == self.capacity { self.grow(to: self.capacity * 2) }
        if self.lastReadWasShort && self.coalesceMicroseconds > 0 { usleep(self.coalesceMicroseconds) }
        while true {
            let n = read(self.fd, self.storage + self.end, self.capacity - self.end)
            self.lastReadWasShort = n < self.coalesceBelow && n < self.capacity - self.end
            if n < 0 && errno == EINTR { continue }
            if n < 0 { self.error = errno; self.atEnd = true; return false }
            if n == 0 { self.atEnd = true; return false }
            self.end += n
            return true
        }
    }

    private func grow(to size: Int) {
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: size)
        memcpy(bigger, self.storage + self.start, self.end - self.start)
        self.storage.deallocate()
        self.storage = bigger
        self.end -= self.start
        self.start = 0
        self.capacity = size
    }

    /// The bytes up to (not including) the next `delimiter`, which is consumed; nil at end of stream. A last
    /// field with no delimiter is returned as is. The view is valid until the next call.
    func next(until delimiter: UInt8) -> UnsafeBufferPointer<UInt8>? {
        var scanned = self.start
        while true {
            if let hit = memchr(self.storage + scanned, Int32(delimiter), self.end - scanned) {
                let at = self.storage.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                let view = UnsafeBufferPointer(start: self.storage + self.start, count: at - self.start)
                self.start = at + 1
                return view
            }
            let before = self.start
            scanned = self.end
            guard self.fill() else {
                if self.end > self.start {
                    let view = UnsafeBufferPointer(start: self.storage + self.start, count: self.end - self.start)
                    self.start = self.end
                    return view
                }
                return nil
            }
            scanned -= before - self.start // the buffer may have moved its data to the front
        }
    }

    /// Exactly `count` bytes as one view (growing the buffer when needed); nil if the stream ends first.
    func bytes(_ count: Int) -> UnsafeBufferPointer<UInt8>? {
        if self.capacity - self.start < count {
            if count > self.capacity { self.grow(to: max(count, self.capacity * 2)) }
            else if self.start > 0 {
                memmove(self.storage, self.storage + self.start, self.end - self.start)
                self.end -= self.start
                self.start = 0
            }
        }
        while self.end - self.start < count {
            guard self.fill() else { return nil }
        }
        let view = UnsafeBufferPointer(start: self.storage + self.start, count: count)
        self.start += count
        return view
    }

    /// Consumes up to `count` bytes, handing them to `body` in pieces of at most the buffer's size; returns the
    /// bytes consumed (fewer only at end of stream). For objects too large to hold at once.
    func stream(_ count: Int, _ body: (UnsafeBufferPointer<UInt8>) -> Void) -> Int {
        var left = count
        while left > 0 {
            if self.end == self.start {
                self.start = 0; self.end = 0
                guard self.fill() else { break }
            }
            let n = min(left, self.end - self.start)
            body(UnsafeBufferPointer(start: self.storage + self.start, count: n))
            self.start += n
            left -= n
        }
        return count - left
    }

    /// Reads and drops everything left (so a child is never blocked writing to us).
    func drain() {
        while self.fill() { self.start = 0; self.end = 0 }
        self.start = 0; self.end = 0
    }
}
