import Foundation
import Testing
import Llama

/// Data-parallel training without MPI: ranks as threads of this process, exchanging through
/// shared memory (`ThreadRank`), so the default build checks what `mpirun` runs
/// (scripts/test-mpi.sh checks it under real MPI).
@Suite struct DataParallelTrainingTests {
    func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "swiftllama-dp-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    static func hyper(gradAccum: Int) -> TrainingHyperparameters {
        var h = TrainingRunTests.hyper(steps: 12)
        h.batch = 3
        h.gradAccum = gradAccum
        h.saveEvery = 5
        return h
    }

    /// Trains on `ranks` thread-ranks; returns each rank's summary and final parameters.
    func trainOnRanks(_ ranks: Int, hyper: TrainingHyperparameters, directory: String) throws
        -> [(summary: TrainingSummary, params: [Float])] {
        let group = ThreadGroup(size: ranks)
        let results = ResultBox(count: ranks)
        let done = DispatchGroup()
        for r in 0..<ranks {
            done.enter()
            let thread = Thread {
                defer { done.leave() }
                do {
                    let t = try Trainer(config: TrainingRunTests.config, hyper: hyper, data: TrainingRunTests.tinyData(),
                                        runDirectory: directory, threads: 1, communicator: ThreadRank(rank: r, group: group))
                    let s = try t.run()
                    results.set(r, .success((s, Array(UnsafeBufferPointer(start: t.model.params, count: t.model.layout.count)))))
                } catch {
                    results.set(r, .failure(error))
                }
            }
            thread.start()
        }
        done.wait()
        return try results.values.map { try #require($0).get() }
    }

    /// Four micro-batches: each of 2 ranks sums 2, the all-reduce adds the halves; one process
    /// sums the same halves the same way, so everything matches bit for bit.
    @Test func twoRanksTrainBitForBitLikeOneProcess() throws {
        let h = Self.hyper(gradAccum: 4)
        let oneDir = try tempDir(), twoDir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: oneDir); try? FileManager.default.removeItem(atPath: twoDir) }
        let one = try trainOnRanks(1, hyper: h, directory: oneDir)[0]
        let two = try trainOnRanks(2, hyper: h, directory: twoDir)
        #expect(one.summary.trainLoss != nil && one.summary.valLoss != nil)
        for (r, rank) in two.enumerated() {
            #expect(rank.summary.trainLoss == one.summary.trainLoss, "rank \(r) train loss \(rank.summary.trainLoss ?? .nan) vs \(one.summary.trainLoss ?? .nan)")
            #expect(rank.summary.valLoss == one.summary.valLoss, "rank \(r) val loss")
            #expect(rank.params == one.params, "rank \(r) parameters differ from the single process's")
            #expect(rank.summary.ranks == 2)
        }
        func log(_ d: String) throws -> [[Substring]] {
            try String(contentsOfFile: d + "/log.csv", encoding: .utf8).split(separator: "\n").map { Array($0.split(separator: ",", omittingEmptySubsequences: false).prefix(4)) }
        }
        #expect(try log(oneDir) == log(twoDir), "log.csv losses differ")
        #expect(try log(oneDir).count == 12 + 2)  // header, 12 steps, final
        let saved = try TrainingCheckpoint(path: twoDir + "/checkpoint.bin")
        #expect(saved.params == one.params)
    }

    @Test func aGradAccumTheRanksCannotSplitIsRefusedNamingBoth() throws {
        var h = Self.hyper(gradAccum: 3)
        h.batch = 4
        let group = ThreadGroup(size: 2)
        #expect {
            try Trainer(config: TrainingRunTests.config, hyper: h, data: TrainingRunTests.tinyData(), runDirectory: "/tmp/unused",
                        threads: 1, communicator: ThreadRank(rank: 0, group: group))
        } throws: {
            let m = "\($0)"
            return m.contains("--grad-accum 3 is not divisible by the 2 MPI ranks") && m.contains("--grad-accum 6")
        }
        // One micro-batch of 12 on 2 ranks: the same global batch as 2 of 6.
        var g = Self.hyper(gradAccum: 1)
        g.batch = 12
        #expect {
            try Trainer(config: TrainingRunTests.config, hyper: g, data: TrainingRunTests.tinyData(), runDirectory: "/tmp/unused",
                        threads: 1, communicator: ThreadRank(rank: 0, group: group))
        } throws: { "\($0)".contains("use --batch 6 --grad-accum 2 (the same global batch of 12 sequences)") }
    }

    @Test func ranksStartedWithOtherSettingsAreRefusedOnEveryRank() throws {
        let group = ThreadGroup(size: 2)
        let results = ResultBox(count: 2)
        let done = DispatchGroup()
        for r in 0..<2 {
            done.enter()
            Thread {
                defer { done.leave() }
                var h = Self.hyper(gradAccum: 2)
                h.lr = r == 0 ? 3e-3 : 2e-3
                do {
                    let t = try Trainer(config: TrainingRunTests.config, hyper: h, data: TrainingRunTests.tinyData(),
                                        runDirectory: "/tmp/unused", threads: 1, communicator: ThreadRank(rank: r, group: group))
                    try t.checkRanksAgree()
                } catch {
                    results.setMessage(r, "\(error)")
                }
            }.start()
        }
        done.wait()
        for r in 0..<2 {
            #expect(results.messages[r]?.contains("1 of the 2 MPI ranks disagree with rank 0 on the training settings") == true, "rank \(r): \(results.messages[r] ?? "no error")")
        }
    }
}

/// Results of the rank threads.
final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var values: [Result<(TrainingSummary, [Float]), any Error>?]
    private(set) var messages: [String?]
    init(count: Int) {
        values = Array(repeating: nil, count: count)
        messages = Array(repeating: nil, count: count)
    }
    func set(_ r: Int, _ v: Result<(TrainingSummary, [Float]), any Error>) { lock.withLock { values[r] = v } }
    func setMessage(_ r: Int, _ m: String) { lock.withLock { messages[r] = m } }
}

/// What the ranks of `ThreadRank` share: one slot per rank and a barrier.
final class ThreadGroup: @unchecked Sendable {
    let size: Int
    private let condition = NSCondition()
    private var arrived = 0
    private var generation = 0
    private var slots: [UnsafeMutableRawPointer?]
    init(size: Int) {
        self.size = size
        slots = Array(repeating: nil, count: size)
    }
    func barrier() {
        condition.lock()
        defer { condition.unlock() }
        let g = generation
        arrived += 1
        if arrived == size {
            arrived = 0
            generation += 1
            condition.broadcast()
        } else {
            while g == generation { condition.wait() }
        }
    }
    func publish(_ rank: Int, _ p: UnsafeMutableRawPointer) { condition.withLock { slots[rank] = p } }
    func slot(_ rank: Int) -> UnsafeMutableRawPointer { condition.withLock { slots[rank]! } }
}

/// A rank of an in-process job: collectives through `ThreadGroup`, reductions summed in rank
/// order (as MPI's sum of two ranks is, exactly).
final class ThreadRank: Communicator, @unchecked Sendable {
    let rank: Int
    let group: ThreadGroup
    var size: Int { group.size }
    init(rank: Int, group: ThreadGroup) {
        self.rank = rank
        self.group = group
    }

    private func reduce<T: FloatingPoint>(_ buffer: UnsafeMutablePointer<T>, count: Int) {
        let copy = UnsafeMutablePointer<T>.allocate(capacity: count)
        copy.update(from: buffer, count: count)
        group.publish(rank, UnsafeMutableRawPointer(copy))
        group.barrier()
        let parts = (0..<size).map { group.slot($0).assumingMemoryBound(to: T.self) }
        for i in 0..<count {
            var s = parts[0][i]
            for r in 1..<size { s += parts[r][i] }
            buffer[i] = s
        }
        group.barrier()
        copy.deallocate()
    }
    func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) { reduce(buffer, count: count) }
    func allreduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) { reduce(buffer, count: count) }
    func broadcast(_ buffer: UnsafeMutableRawPointer, byteCount: Int, root: Int) {
        group.publish(rank, buffer)
        group.barrier()
        if rank != root { buffer.copyMemory(from: group.slot(root), byteCount: byteCount) }
        group.barrier()
    }
    func allgather(_ send: UnsafePointer<Float>, count: Int, into receive: UnsafeMutablePointer<Float>) {
        group.publish(rank, UnsafeMutableRawPointer(mutating: send))
        group.barrier()
        for r in 0..<size { (receive + r * count).update(from: group.slot(r).assumingMemoryBound(to: Float.self), count: count) }
        group.barrier()
    }
    func finalize() {}
    func abort(code: Int32) -> Never { exit(code) }
}
