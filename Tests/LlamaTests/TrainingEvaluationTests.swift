import Foundation
import Llama
import Testing

/// Loss estimates during and after training: bounded by `--eval-steps` for the train split,
/// the whole validation split at the end, and exact whole splits on request.
@Suite struct TrainingEvaluationTests {
    static let config = ModelConfig.training(vocabSize: 32, dim: 16, layerCount: 1, headCount: 2, kvHeadCount: 2, hiddenDim: 32, context: 16)

    /// A train split of 2 500 windows (far more than an estimate's 20 × 4) and a validation
    /// split of 100.
    static func data() -> TrainingData {
        let tokens: [Int32] = (0..<41_602).map { (i: Int) -> Int32 in
            let v: Int = (i * 7 + i / 11) % 32
            return Int32(v)
        }
        return TrainingData(train: Array(tokens[..<40_001]), val: Array(tokens[40_001...]), vocabSize: 32)
    }

    func hyper(evalSteps: Int?) -> TrainingHyperparameters {
        var h = TrainingHyperparameters()
        h.batch = 4
        h.steps = 2
        h.warmup = 1
        if let evalSteps { h.evalSteps = evalSteps }
        return h
    }

    @Test func finalTrainLossIsABoundedEstimateAndValidationIsWhole() throws {
        #expect(TrainingHyperparameters().evalSteps == 20)
        let dir = NSTemporaryDirectory() + "swiftllama-eval-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = try Trainer(config: Self.config, hyper: hyper(evalSteps: nil), data: Self.data(), runDirectory: dir, threads: 2)
        let s = try t.run()
        #expect(s.trainLossWindows == 20 * 4)
        #expect(s.valLossWindows == 100)
        #expect(s.trainLoss == t.evaluate(t.data.train, maxWindows: 80))
        #expect(s.valLoss == t.evaluate(t.data.val))
        // Spread over the split: the estimate is not the mean of its first 80 windows.
        let first80 = try #require(t.evaluate(Array(t.data.train[..<(80 * 16 + 1)])))
        #expect(s.trainLoss != first80)
        let exact = try #require(t.evaluate(t.data.train))
        #expect(abs((s.trainLoss ?? .nan) - exact) < 0.05, "estimate \(s.trainLoss ?? .nan) vs exact \(exact)")
    }

    @Test func evalStepsZeroEvaluatesWholeSplits() throws {
        let dir = NSTemporaryDirectory() + "swiftllama-eval-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = try Trainer(config: Self.config, hyper: hyper(evalSteps: 0), data: Self.data(), runDirectory: dir, threads: 2)
        let s = try t.run()
        #expect(s.trainLossWindows == 2_500 && s.valLossWindows == 100)
        #expect(s.trainLoss == t.evaluate(t.data.train))
    }
}
