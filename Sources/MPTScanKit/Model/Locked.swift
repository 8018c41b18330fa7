import Foundation

/// A value behind a lock, shared by worker threads (results gathered by the registry lookups, counters).
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    /// Runs `body` with the value, under the lock.
    func withLock<T>(_ body: (inout Value) -> T) -> T {
        self.lock.lock()
        defer { self.lock.unlock() }
        return body(&self.value)
    }
}

extension Locked where Value == Int {
    /// Calls `body` once for each index in `0..<count` on `workers` threads of its own (at least one, at most
    /// `count`), each taking the next index when it is free; returns when all are done. Own threads, not
    /// Dispatch's pool: the work is network-bound, so more requests than cores may be in flight.
    static func forEachIndex(_ count: Int, workers: Int, _ body: @escaping @Sendable (Int) -> Void) {
        guard count > 0 else { return }
        let next = Locked(0)
        let group = DispatchGroup()
        for _ in 0..<max(1, min(workers, count)) {
            group.enter()
            let thread = Thread {
                while true {
                    let index = next.withLock { value -> Int in defer { value += 1 }; return value }
                    guard index < count else { break }
                    body(index)
                }
                group.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
    }
}
