import Dispatch
import Foundation
import Synchronization

/// Splits `0..<count` into contiguous ranges, one per worker, and runs them on all cores.
///
/// Contiguous ranges (rather than one task per item) keep each core on its own rows of a
/// weight matrix, and the worker index lets a caller give each worker its own scratch.
/// Loops run on a `WorkerPool` of threads that stay alive between loops: a token of
/// generation is a few hundred small matrix-vector products, and waking threads through
/// Dispatch for each one costs more than the product itself on small models.
public struct ParallelFor: Sendable {
    /// Number of ranges a loop is split into at most.
    public let workers: Int
    let pool: WorkerPool?

    /// Splits loops over `workers` threads (default: every core).
    public init(workers: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.workers = max(1, workers)
        pool = self.workers > 1 ? WorkerPool.shared(size: self.workers) : nil
    }

    /// A single-threaded runner, for tests and for callers that are already parallel.
    public static let serial = ParallelFor(workers: 1)

    /// Calls `body(worker, range)` for disjoint ranges covering `0..<count`.
    /// `minimumPerWorker` keeps tiny loops on one thread, where waking workers would cost more than it saves.
    public func run(_ count: Int, minimumPerWorker: Int = 1, _ body: (_ worker: Int, _ range: Range<Int>) -> Void) {
        guard count > 0 else { return }
        let n = min(workers, max(1, count / max(1, minimumPerWorker)))
        if n == 1 {
            body(0, 0..<count)
            return
        }
        let part: (Int) -> Void = { w in
            guard w < n else { return }
            let start = count * w / n
            let end = count * (w + 1) / n
            if start < end { body(w, start..<end) }
        }
        if let pool, pool.run(part) { return }
        // The pool is busy with another caller's loop (several models or requests at
        // once): fall back to Dispatch rather than wait. concurrentPerform returns only when
        // every iteration has finished, so the closure never outlives this call; the box
        // states that to the compiler, which cannot see that the writes are disjoint.
        withoutActuallyEscaping(part) { escapable in
            let box = UncheckedSendable(escapable)
            DispatchQueue.concurrentPerform(iterations: n) { w in box.value(w) }
        }
    }
}

extension ParallelFor {
    /// Calls `body(worker, range)` for chunks of at most `chunk` items that together cover
    /// `0..<count`. On the pool, worker w first takes the chunks of its own contiguous share
    /// (w/n … (w+1)/n of them) in order, then helps the others by taking their next chunks:
    /// each core streams one run of a weight matrix (interleaving 73 KB chunks between two
    /// cores broke the hardware prefetcher's streams: 44 against 63 GB/s for the same
    /// row-interleaved kernel on Zen 4), and a core that runs ahead (the other one was
    /// interrupted, or its rows were in cache) still takes over work instead of waiting at
    /// the end. Each item is computed by one call, so results do not depend on the thread
    /// count or timing.
    public func runChunked(_ count: Int, chunk: Int, _ body: (_ worker: Int, _ range: Range<Int>) -> Void) {
        guard count > 0 else { return }
        let chunk = max(1, chunk)
        let chunks = (count + chunk - 1) / chunk
        if chunks == 1 || workers == 1 {
            body(0, 0..<count)
            return
        }
        let n = min(workers, chunks)
        // The pool's own cursors (set by `run` before it publishes the job): nothing is
        // allocated per loop, and generation runs a few hundred of these per token.
        if let pool, pool.runChunks(chunks, parts: n, { worker, c in body(worker, (c * chunk)..<min(count, (c + 1) * chunk)) }) {
            return
        }
        let next = ChunkCounter()
        run(n) { worker, _ in
            while true {
                let c = next.value.wrappingAdd(1, ordering: .relaxed).oldValue
                guard c < chunks else { return }
                body(worker, (c * chunk)..<min(count, (c + 1) * chunk))
            }
        }
    }
}

extension ParallelFor {
    /// Runs `body(i)` for every `i` in `0..<count`, each index claimed from a shared counter
    /// by whichever thread is free (the training kernels' unit of work: a GEMM panel, a
    /// (sequence, head) pair). Each index is computed by one call, so results do not depend
    /// on the thread count.
    public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        runChunked(count, chunk: 1) { _, range in
            for i in range { body(i) }
        }
    }
}

/// One worker's share of a `WorkerPool.runChunks` job: its next chunk and the end of its
/// share. Padded so that two cursors never share a cache line.
final class ChunkCursor: Sendable {
    let next = Atomic<Int>(0)
    let end = Atomic<Int>(0)
    // 16 bytes of object header + 16 of cursors + 96 of padding: 128, two cache lines.
    private let pad0 = 0, pad1 = 0, pad2 = 0, pad3 = 0, pad4 = 0, pad5 = 0
    private let pad6 = 0, pad7 = 0, pad8 = 0, pad9 = 0, pad10 = 0, pad11 = 0
}

/// The shared chunk index of one `runChunked` loop that could not use the pool's.
final class ChunkCounter: Sendable {
    let value = Atomic<Int>(0)
}

/// `size − 1` threads that, with the calling thread, run one job at a time.
///
/// Handing out a job bumps `generation`; workers spin on it for a short while after each
/// job (the next matmul of a token usually follows within microseconds) and then park on
/// a condition variable, so an idle process does not burn its cores. The caller, once its
/// own share is done, spins the same short while for the workers to finish and then blocks
/// until the last one wakes it.
///
/// Why block rather than spin on: when more threads want the cores than there are cores
/// (`llama serve`'s HTTP threads and its clients beside the two compute threads on a 2-core
/// machine), the scheduler takes a core from one compute thread, and the other, spinning,
/// keeps its own core busy doing nothing until the first gets a core back. A thread that
/// blocks leaves its core idle, and the scheduler moves the waiting thread (or the
/// intruder) onto it at once. A loop's share usually ends within microseconds of the
/// other's, so the spin covers the normal case and the wake-up costs nothing then.
final class WorkerPool: @unchecked Sendable {
    let size: Int
    private let generation = Atomic<Int>(0)
    private let remaining = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private let sleepers = Atomic<Int>(0)
    /// True while the caller is blocked in `run` waiting for the workers.
    private let callerWaiting = Atomic<Bool>(false)
    private let callerCondition = NSCondition()
    /// Per worker, the next chunk and the end of its share in the current `runChunks` job;
    /// set before the job is published (only the holder of `busy` writes them otherwise).
    private let cursors: [ChunkCursor]
    private let condition = NSCondition()
    /// The job of the current generation; written only while `busy` is held and before the
    /// generation is published, read by workers only after they saw it.
    private var job: ((Int) -> Void)?
    /// How long a waiting thread spins before it blocks, in nanoseconds: 50 µs, or
    /// `LLAMA_SPIN_US` microseconds (0: block at once; a large value: spin as OpenMP's
    /// active wait policy does). Longer than the gaps between a token's loops, shorter than
    /// the time slices the scheduler hands to other threads.
    static let spinNanoseconds: UInt64 = {
        if let v = getenv("LLAMA_SPIN_US"), let us = UInt64(String(cString: v)) { return us &* 1000 }
        return 50_000
    }()

    /// Spins until `done()` or until `spinNanoseconds` have passed; true if `done()` held.
    /// The clock is read every 64 checks (a vDSO call costs more than a load).
    @inline(__always)
    private static func spin(until done: () -> Bool) -> Bool {
        let limit = spinNanoseconds
        if limit == 0 { return done() }
        let start = DispatchTime.now().uptimeNanoseconds
        while true {
            for _ in 0..<64 where done() { return true }
            if DispatchTime.now().uptimeNanoseconds &- start >= limit { return done() }
        }
    }

    private static let pools = Mutex<[Int: WorkerPool]>([:])

    /// The process-wide pool of `size` threads (created on first use, never torn down).
    static func shared(size: Int) -> WorkerPool {
        pools.withLock { pools in
            if let p = pools[size] { return p }
            let p = WorkerPool(size: size)
            pools[size] = p
            return p
        }
    }

    private init(size: Int) {
        self.size = size
        cursors = (0..<size).map { _ in ChunkCursor() }
        for w in 1..<size {
            let thread = Thread { [self] in self.workerLoop(w) }
            thread.name = "llama-worker-\(w)"
            thread.start()
        }
    }

    /// Runs `body(w)` for every `w < size`, on the caller (w = 0) and the workers; returns
    /// false without running anything if another caller holds the pool.
    func run(_ body: (Int) -> Void) -> Bool {
        run(chunks: 0, parts: 0, body)
    }

    /// Runs `body(worker, c)` once for every chunk `c < chunks` on `parts` (≤ size) workers:
    /// worker w takes the chunks of its share `chunks·w/parts ..< chunks·(w+1)/parts` in
    /// order, then the next chunks of the other shares until none is left. False without
    /// running anything if another caller holds the pool.
    func runChunks(_ chunks: Int, parts: Int, _ body: (_ worker: Int, _ chunk: Int) -> Void) -> Bool {
        run(chunks: chunks, parts: parts) { [cursors] worker in
            guard worker < parts else { return }
            for k in 0..<parts {
                let cursor = cursors[(worker + k) % parts]
                let end = cursor.end.load(ordering: .relaxed)
                while true {
                    let c = cursor.next.wrappingAdd(1, ordering: .relaxed).oldValue
                    guard c < end else { break }
                    body(worker, c)
                }
            }
        }
    }

    private func run(chunks: Int, parts: Int, _ body: (Int) -> Void) -> Bool {
        guard busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        withoutActuallyEscaping(body) { escapable in
            job = escapable
            remaining.store(size - 1, ordering: .relaxed)
            for w in 0..<min(parts, size) {
                cursors[w].next.store(chunks * w / parts, ordering: .relaxed)
                cursors[w].end.store(chunks * (w + 1) / parts, ordering: .relaxed)
            }
            // Publish first, then look for sleepers; a worker announces itself as a sleeper
            // first, then reads the generation (both sequentially consistent). So either it
            // sees the new generation and does not wait, or we see it as a sleeper and wake
            // it: taking the lock waits until it is inside `wait`, so the broadcast reaches it.
            // (Looking first and publishing second loses the wake-up when the worker parks
            // between the two: a hang, seen in `llama bench` on a 1B model.)
            generation.wrappingAdd(1, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                condition.lock()
                condition.broadcast()
                condition.unlock()
            }
            escapable(0)
            // A worker still inside the job may have lost its core to another thread: after
            // a short spin, block, so that the scheduler can give it ours. The same handshake
            // as the workers' sleep: we announce ourselves, then read `remaining`; the last
            // worker decrements it, then reads the flag (all sequentially consistent), so one
            // of us sees the other.
            if !WorkerPool.spin(until: { remaining.load(ordering: .acquiring) == 0 }) {
                callerCondition.lock()
                callerWaiting.store(true, ordering: .sequentiallyConsistent)
                while remaining.load(ordering: .sequentiallyConsistent) > 0 { callerCondition.wait() }
                callerWaiting.store(false, ordering: .relaxed)
                callerCondition.unlock()
            }
            job = nil
        }
        busy.store(false, ordering: .releasing)
        return true
    }

    private func workerLoop(_ w: Int) {
        // Generation 0 is the pool's initial state; a worker that starts after the first
        // job was handed out must still run it, so it must not read `seen` from the counter.
        var seen = 0
        while true {
            var g = generation.load(ordering: .acquiring)
            if g == seen, WorkerPool.spin(until: { generation.load(ordering: .acquiring) != seen }) {
                g = generation.load(ordering: .acquiring)
            }
            if g == seen {
                condition.lock()
                sleepers.wrappingAdd(1, ordering: .sequentiallyConsistent)
                g = generation.load(ordering: .sequentiallyConsistent)
                while g == seen {
                    condition.wait()
                    g = generation.load(ordering: .sequentiallyConsistent)
                }
                sleepers.wrappingSubtract(1, ordering: .sequentiallyConsistent)
                condition.unlock()
            }
            seen = g
            job?(w)
            if remaining.wrappingSubtract(1, ordering: .sequentiallyConsistent).newValue == 0,
               callerWaiting.load(ordering: .sequentiallyConsistent) {
                // Taking the lock waits until the caller is inside `wait`: the signal reaches it.
                callerCondition.lock()
                callerCondition.signal()
                callerCondition.unlock()
            }
        }
    }
}

/// A value handed to worker threads whose safety the caller guarantees (disjoint writes).
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
