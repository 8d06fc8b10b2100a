import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A fixed set of worker threads that run `parallelFor` bodies for the training kernels.
///
/// A training step launches a few hundred small parallel regions (one per matrix product),
/// each lasting tens to hundreds of microseconds, so waking threads through the kernel every
/// time would cost a noticeable share of the step. Workers therefore spin on an atomic
/// generation counter for a short while after each region and only then sleep on a
/// condition variable. Tasks are claimed dynamically; callers make each task's result
/// independent of the thread that runs it, so results do not depend on the thread count.
public final class TrainingThreadPool: @unchecked Sendable {
    /// Threads that run tasks, the calling thread included.
    public let threadCount: Int

    private let generation = Atomic<Int>(0)
    private let nextTask = Atomic<Int>(0)
    private let busyWorkers = Atomic<Int>(0)
    private let shuttingDown = Atomic<Bool>(false)
    // Written by the caller before `generation` is bumped (a sequentially consistent store),
    // read by workers after they observe the new generation.
    nonisolated(unsafe) private var body: ((Int) -> Void)?
    nonisolated(unsafe) private var taskCount = 0
    private var mutex = pthread_mutex_t()
    private var condition = pthread_cond_t()
    private var threads: [Thread] = []
    /// Polls before a worker sleeps: a short pure spin, then `sched_yield` polls (so a
    /// waiting worker never keeps the core from the thread doing serial work), about a
    /// millisecond in all: longer than the gap between two kernels of one step.
    private let spinLimit = 3000

    /// Starts `threadCount - 1` workers (the caller is the last thread).
    public init(threadCount: Int) {
        self.threadCount = max(1, threadCount)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&condition, nil)
        for _ in 1..<self.threadCount {
            // unowned(unsafe): a worker that starts only once the pool is being destroyed
            // (a trainer dropped right after it was made) still has to read the pool to see
            // the shutdown; a checked unowned reference traps once deinit has begun, and
            // deinit keeps the memory alive until every worker has stopped.
            let t = Thread { [unowned(unsafe) self] in self.workerLoop() }
            t.stackSize = 1 << 20
            threads.append(t)
            t.start()
        }
    }

    deinit {
        busyWorkers.store(threadCount - 1, ordering: .sequentiallyConsistent)
        shuttingDown.store(true, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(&mutex)
        generation.add(1, ordering: .sequentiallyConsistent)
        pthread_cond_broadcast(&condition)
        pthread_mutex_unlock(&mutex)
        // Workers hold the pool unowned: wait until each has seen the shutdown and stopped
        // touching it.
        while busyWorkers.load(ordering: .sequentiallyConsistent) > 0 { sched_yield() }
    }

    /// Runs `body(i)` for every `i` in `0..<count`, spread over the pool; returns when all ran.
    public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        if count <= 0 { return }
        if threadCount == 1 || count == 1 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            self.body = escapable
            taskCount = count
            nextTask.store(0, ordering: .sequentiallyConsistent)
            busyWorkers.store(threadCount - 1, ordering: .sequentiallyConsistent)
            pthread_mutex_lock(&mutex)
            generation.add(1, ordering: .sequentiallyConsistent)
            pthread_cond_broadcast(&condition)
            pthread_mutex_unlock(&mutex)
            runTasks()
            // A worker still inside a task may have lost its core to another process:
            // after a short spin, yield ours so it can finish.
            var spins = 0
            while busyWorkers.load(ordering: .sequentiallyConsistent) > 0 {
                spins += 1
                if spins > 2000 { sched_yield() }
            }
            self.body = nil
        }
    }

    private func runTasks() {
        guard let body else { return }
        let n = taskCount
        while true {
            let i = nextTask.add(1, ordering: .sequentiallyConsistent).oldValue
            if i >= n { break }
            body(i)
        }
    }

    private func workerLoop() {
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .sequentiallyConsistent) == seen {
                spins += 1
                if spins > 2000 { sched_yield() }
                if spins > spinLimit {
                    pthread_mutex_lock(&mutex)
                    while generation.load(ordering: .sequentiallyConsistent) == seen {
                        pthread_cond_wait(&condition, &mutex)
                    }
                    pthread_mutex_unlock(&mutex)
                }
            }
            seen = generation.load(ordering: .sequentiallyConsistent)
            if shuttingDown.load(ordering: .sequentiallyConsistent) {
                busyWorkers.subtract(1, ordering: .sequentiallyConsistent)
                return
            }
            runTasks()
            busyWorkers.subtract(1, ordering: .sequentiallyConsistent)
        }
    }
}
