import Dispatch
import Foundation

/// Splits `0..<count` into contiguous ranges, one per worker, and runs them on all cores.
///
/// Contiguous ranges (rather than one task per item) keep each core on its own rows of a
/// weight matrix, and the worker index lets a caller give each worker its own scratch.
public struct ParallelFor: Sendable {
    /// Number of ranges a loop is split into at most.
    public let workers: Int

    /// Splits loops over `workers` threads (default: every core).
    public init(workers: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.workers = max(1, workers)
    }

    /// A single-threaded runner, for tests and for callers that are already parallel.
    public static let serial = ParallelFor(workers: 1)

    /// Calls `body(worker, range)` for disjoint ranges covering `0..<count`.
    /// `minimumPerWorker` keeps tiny loops on one thread, where dispatch would cost more than it saves.
    public func run(_ count: Int, minimumPerWorker: Int = 1, _ body: (_ worker: Int, _ range: Range<Int>) -> Void) {
        guard count > 0 else { return }
        let n = min(workers, max(1, count / max(1, minimumPerWorker)))
        if n == 1 {
            body(0, 0..<count)
            return
        }
        // concurrentPerform returns only when every iteration has finished, so the closure
        // never outlives this call; the workers touch disjoint ranges by construction. The
        // box states that to the compiler, which cannot see that buffers captured by `body`
        // are written at disjoint places.
        withoutActuallyEscaping(body) { escapable in
            let box = UncheckedSendable(escapable)
            DispatchQueue.concurrentPerform(iterations: n) { w in
                let start = count * w / n
                let end = count * (w + 1) / n
                if start < end { box.value(w, start..<end) }
            }
        }
    }
}

/// A value handed to worker threads whose safety the caller guarantees (disjoint writes).
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
