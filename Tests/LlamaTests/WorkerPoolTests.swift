import Foundation
import Synchronization
import Testing
import Llama

/// `ParallelFor`'s thread pool when one side of a loop is late: the caller or a worker
/// outlasts the other's spin and blocks, and the other must wake it (a lost wake-up hangs
/// the loop, which the time limit turns into a failure).
@Suite(.serialized, .timeLimit(.minutes(2))) struct WorkerPoolTests {
    /// A pool size no other suite uses, so that these loops run on the pool and not on the
    /// Dispatch fallback taken when another caller holds it.
    static let workers = 5

    /// An atomic counter that can sit in an array (`Atomic` itself cannot be copied).
    final class Counter: Sendable {
        let value = Atomic<Int>(0)
    }

    /// Every index is run once and its write is seen by the caller after the loop, whether
    /// the workers finish long after the caller (it blocks) or long before it (they park).
    @Test(arguments: [0, 1, 2]) func lateSharesAreWaitedForAndSeen(late: Int) throws {
        let parallel = ParallelFor(workers: WorkerPoolTests.workers)
        let count = 40
        for round in 0..<30 {
            let hits = (0..<count).map { _ in Counter() }
            parallel.run(count) { worker, range in
                // late 0: the caller's share is slow (the workers' spin ends, they park);
                // late 1: one worker's share is slow (the caller's spin ends, it blocks);
                // late 2: both, by turns.
                let slow = late == 0 ? worker == 0 : late == 1 ? worker == 3 : worker == round % WorkerPoolTests.workers
                if slow { usleep(UInt32(200 + 300 * (round % 4))) }
                for i in range { hits[i].value.wrappingAdd(1, ordering: .relaxed) }
            }
            let counts = hits.map { $0.value.load(ordering: .relaxed) }
            #expect(counts == Array(repeating: 1, count: count), "round \(round): indices run \(counts) times")
        }
    }

    /// Chunked loops, with pauses between them long enough for every worker to park, give
    /// the same sums as a serial loop.
    @Test func chunkedLoopsAfterIdlePausesGiveSerialSums() throws {
        let parallel = ParallelFor(workers: WorkerPoolTests.workers)
        let values = (0..<10_000).map { ($0 * 7919) % 1000 }
        let expected = values.reduce(0, +)
        for round in 0..<20 {
            let partial = (0..<WorkerPoolTests.workers).map { _ in Counter() }
            parallel.runChunked(values.count, chunk: 97) { worker, range in
                var s = 0
                for i in range { s += values[i] }
                partial[worker].value.wrappingAdd(s, ordering: .relaxed)
            }
            let total = partial.reduce(0) { $0 + $1.value.load(ordering: .relaxed) }
            #expect(total == expected, "round \(round)")
            if round % 5 == 4 { usleep(2000) }
        }
    }
}
