import Foundation
import Testing
import Llama

@Suite struct TrainingRunTests {
    static func tinyData() -> TrainingData {
        // A repetitive "corpus" the model can learn something from in a few steps.
        var rng = Xoshiro256(seed: 7)
        var text: [Int32] = []
        for i in 0..<4000 {
            let noise = rng.below(4) == 0 ? 3 : 0
            text.append(Int32((i * 7 + i / 13 + noise) % 24))
        }
        return TrainingData(train: Array(text[..<3600]), val: Array(text[3600...]), vocabSize: 24, directory: "synthetic")
    }

    static let config = ModelConfig.training(vocabSize: 24, dim: 16, layerCount: 2, headCount: 4, kvHeadCount: 2, hiddenDim: 40, context: 16)

    static func hyper(steps: Int) -> TrainingHyperparameters {
        var h = TrainingHyperparameters()
        h.batch = 3
        h.gradAccum = 2
        h.steps = steps
        h.warmup = 4
        h.lr = 3e-3
        h.minLR = 3e-4
        h.evalEvery = 5
        h.saveEvery = 7
        return h
    }

    func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "swiftllama-train-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    @Test func resumedRunEndsExactlyLikeAnUninterruptedOne() throws {
        let data = Self.tinyData()
        let straightDir = try tempDir(), splitDir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: straightDir); try? FileManager.default.removeItem(atPath: splitDir) }

        let straight = try Trainer(config: Self.config, hyper: Self.hyper(steps: 20), data: data, runDirectory: straightDir, threads: 2)
        let a = try straight.run()
        #expect(a.finished && a.step == 20)

        let first = try Trainer(config: Self.config, hyper: Self.hyper(steps: 20), data: data, runDirectory: splitDir, threads: 2)
        let stopped = try first.run(shouldStop: { first.step >= 10 })
        #expect(!stopped.finished && stopped.step == 10)
        // Different thread count on purpose: results do not depend on it.
        let second = try Trainer(resuming: splitDir, data: data, threads: 1)
        #expect(second.step == 10)
        let b = try second.run()
        #expect(b.finished && b.step == 20)

        #expect(a.trainLoss == b.trainLoss, "train loss \(a.trainLoss ?? .nan) vs resumed \(b.trainLoss ?? .nan)")
        #expect(a.valLoss == b.valLoss, "val loss \(a.valLoss ?? .nan) vs resumed \(b.valLoss ?? .nan)")
        let n = straight.model.layout.count
        #expect((0..<n).allSatisfy { straight.model.params[$0] == second.model.params[$0] }, "parameters differ")
        #expect(a.trainLoss! < 3.0, "loss did not fall: \(a.trainLoss!)")  // ln 24 ≈ 3.18 at the start
        let logA = try String(contentsOfFile: straightDir + "/log.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",").prefix(3) }
        let logB = try String(contentsOfFile: splitDir + "/log.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",").prefix(3) }
        #expect(logA == logB, "log.csv losses differ after resume")
    }

    /// Two micro-batches of 3 sequences accumulate to the gradient of one batch of 6 (the
    /// RNG draws the same 6 windows either way), so one step lands on the same weights.
    @Test func gradientAccumulationEqualsTheLargerBatch() throws {
        var h1 = Self.hyper(steps: 3), h2 = Self.hyper(steps: 3)
        h1.batch = 6; h1.gradAccum = 1
        h2.batch = 3; h2.gradAccum = 2
        h1.clip = 0; h2.clip = 0  // unclipped, so the gradients left after the step are the raw sums
        let a = try Trainer(config: Self.config, hyper: h1, data: Self.tinyData(), runDirectory: "/tmp/unused", threads: 2)
        let b = try Trainer(config: Self.config, hyper: h2, data: Self.tinyData(), runDirectory: "/tmp/unused", threads: 2)
        let la = a.trainStep(), lb = b.trainStep()
        #expect(abs(la - lb) < 1e-6, "loss \(la) vs \(lb)")
        // Adam's first step is nearly scale-invariant, so compare the gradients themselves.
        var worst: Float = 0, scale: Float = 0
        for i in 0..<a.model.layout.count {
            worst = max(worst, abs(a.model.grads[i] - b.model.grads[i]))
            scale = max(scale, abs(a.model.grads[i]))
        }
        #expect(worst <= 1e-5 * scale, "gradients differ by \(worst) (largest \(scale))")
        var paramDiff: Float = 0
        for i in 0..<a.model.layout.count { paramDiff = max(paramDiff, abs(a.model.params[i] - b.model.params[i])) }
        #expect(paramDiff < 1e-6, "parameters differ by \(paramDiff) after one step")
    }

    @Test func checkpointRoundTripsAndRejectsDamage() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = try Trainer(config: Self.config, hyper: Self.hyper(steps: 2), data: Self.tinyData(), runDirectory: dir, threads: 1)
        _ = t.trainStep()
        try t.saveCheckpoint()
        let ck = try TrainingCheckpoint(path: t.checkpointPath)
        #expect(ck.header.step == 1 && ck.header.model == Self.config && ck.params.count == t.model.layout.count)
        #expect(ck.params[5] == t.model.params[5] && ck.v[9] == t.optimizer.v[9])
        let good = try Data(contentsOf: URL(fileURLWithPath: t.checkpointPath))
        for bad in [good.prefix(10), good.dropLast(4), Data("LTRX".utf8) + good.dropFirst(4)] {
            let p = dir + "/bad.bin"
            try bad.write(to: URL(fileURLWithPath: p))
            #expect { try TrainingCheckpoint(path: p) } throws: { "\($0)".contains(p) }
        }
    }

    @Test func scheduleMatchesTheReferenceFormula() {
        let s = LearningRateSchedule(peak: 1e-3, minimum: 1e-4, warmup: 100, steps: 2000)
        #expect(s(0) == 1e-3 * 1 / 100)
        #expect(s(99) == 1e-3)
        #expect(abs(s(100) - 1e-3) < 1e-15)
        #expect(abs(s(1999) - (1e-4 + 0.5 * (1 + cos(Double.pi * 1899 / 1900)) * 9e-4)) < 1e-15)
    }

    @Test func badConfigsNameTheField() {
        var c = Self.config
        c.headCount = 5
        #expect { try c.validateForTraining() } throws: { "\($0)".contains("dim") }
        c = Self.config
        c.kvHeadCount = 3
        #expect { try c.validateForTraining() } throws: { "\($0)".contains("kv_heads") }
        c = Self.config
        c.maxContext = 5000
        #expect { try Trainer(config: c, hyper: Self.hyper(steps: 1), data: Self.tinyData(), runDirectory: "/tmp/unused", threads: 1) }
            throws: { "\($0)".contains("context") }
    }
}
