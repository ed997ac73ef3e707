import Dispatch
import Foundation

/// `body(i)` for every `i < count`, spread over the cores by `DispatchQueue.concurrentPerform`;
/// the results in index order. When calls fail, the error of the lowest index is thrown (the
/// first problem's error, whichever thread met it first), so a report's failure message does
/// not depend on timing.
func concurrentMap<T>(_ count: Int, _ body: @Sendable (Int) throws -> T) throws -> [T] {
    let slots = IndexedSlots<Result<T, Error>>(count: count)
    DispatchQueue.concurrentPerform(iterations: count) { i in slots.set(i, Result { try body(i) }) }
    return try slots.values.map { try $0!.get() }
}

/// One slot per index, each written by one thread; a lock orders the writes with the read.
final class IndexedSlots<T>: @unchecked Sendable {
    private var slots: [T?]
    private let lock = NSLock()

    init(count: Int) { slots = [T?](repeating: nil, count: count) }

    func set(_ i: Int, _ value: T) { lock.withLock { slots[i] = value } }

    var values: [T?] { lock.withLock { slots } }
}

/// The first error of threads that stop at it: each thread checks `isSet` between items.
final class FirstFailure: @unchecked Sendable {
    private var error: Error?
    private let lock = NSLock()

    func record(_ error: Error) { lock.withLock { if self.error == nil { self.error = error } } }
    var isSet: Bool { lock.withLock { error != nil } }
    func throwIfSet() throws { if let error = lock.withLock({ error }) { throw error } }
}
