/// A fixed-size buffer without bounds or copy-on-write checks, for accumulators touched once per
/// activation; indices are checked by the callers' loops (feature ids below the limit).
final class ScratchBuffer<T> {
    let pointer: UnsafeMutablePointer<T>
    let count: Int

    init(_ count: Int, _ fill: T) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: fill, count: count)
    }

    deinit {
        pointer.deinitialize(count: count)
        pointer.deallocate()
    }

    subscript(_ i: Int) -> T {
        @inline(__always) get { pointer[i] }
        @inline(__always) set { pointer[i] = newValue }
    }
}

/// Lets `concurrentPerform` fill disjoint slots of one buffer.
struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
