import Foundation
import Synchronization
import Testing
import Llama

/// The forward pass's observation tap, through the public API: every step once per layer
/// with its shape, the attention of every (row, head), no effect on the results, and an
/// inspection that does not depend on how the prompt is batched.
@Suite struct ForwardObserverTests {
    final class Recorder: ForwardObserver, @unchecked Sendable {
        var seen: [String: (rows: Int, width: Int, count: Int)] = [:]
        let attentionCalls = Atomic<Int>(0)
        let probabilitySums = Mutex<[Float]>([])

        func observe(_ step: ForwardStep, layer: Int, values: UnsafePointer<Float>, rows: Int, width: Int) {
            let key = "\(step.rawValue)@\(layer)"
            seen[key] = (rows, width, (seen[key]?.count ?? 0) + 1)
        }

        func observeAttention(_ stage: AttentionStage, layer: Int, row: Int, head: Int, values: UnsafePointer<Float>, first: Int, count: Int) {
            attentionCalls.wrappingAdd(1, ordering: .relaxed)
            if stage == .probabilities {
                let sum = UnsafeBufferPointer(start: values, count: count).reduce(0, +)
                probabilitySums.withLock { $0.append(sum) }
            }
        }
    }

    static func model() throws -> LlamaModel {
        try LlamaModel(checkpoint: CheckpointLoader.load(path: Fixtures.shared("fixtures/dev-odd/model-f16.gguf")))
    }

    @Test func everyStepOnceWithItsShapeAndTheSameLogits() throws {
        let model = try Self.model()
        let c = model.config
        let tokens: [TokenID] = [1, 15043, 3186, 29991, 306, 626]
        let rows = tokens.enumerated().map { BatchRow(token: $0.element, position: $0.offset) }

        let plainState = RunState(config: c, maxRows: rows.count)
        try model.forward(rows, caches: [KVCache(config: c, capacity: 8)], state: plainState, logitRows: [rows.count - 1])
        let plain = Array(plainState.logits(row: 0))

        let recorder = Recorder()
        let state = RunState(config: c, maxRows: rows.count)
        try model.forward(rows, caches: [KVCache(config: c, capacity: 8)], state: state, logitRows: [rows.count - 1], observer: recorder)
        #expect(Array(state.logits(row: 0)) == plain)

        let n = rows.count
        let perLayer: [(ForwardStep, Int)] = [(.attentionNorm, c.dim), (.query, c.dim), (.key, c.kvDim), (.value, c.kvDim),
                                             (.attentionOutput, c.dim), (.attentionProjection, c.dim), (.attentionResidual, c.dim),
                                             (.ffnNorm, c.dim), (.gate, c.hiddenDim), (.up, c.hiddenDim), (.activation, c.hiddenDim),
                                             (.down, c.dim), (.residual, c.dim)]
        var expected: [String: (Int, Int)] = ["embedding@0": (n, c.dim), "finalNorm@\(c.layerCount)": (1, c.dim),
                                              "logits@\(c.layerCount)": (1, c.vocabSize)]
        for l in 0..<c.layerCount { for (step, width) in perLayer { expected["\(step.rawValue)@\(l)"] = (n, width) } }
        #expect(Set(recorder.seen.keys) == Set(expected.keys))
        for (key, shape) in expected {
            let got = recorder.seen[key]
            #expect(got?.rows == shape.0 && got?.width == shape.1 && got?.count == 1, "\(key): \(String(describing: got))")
        }
        #expect(recorder.attentionCalls.load(ordering: .relaxed) == 2 * n * c.headCount * c.layerCount)
        let sums = recorder.probabilitySums.withLock { $0 }
        #expect(sums.count == n * c.headCount * c.layerCount && sums.allSatisfy { abs($0 - 1) < 1e-5 })
    }

    /// A prompt inspected in batches of 4 positions (as generation prefills longer prompts)
    /// gives the trace of one batch: the recorder places every batch at its positions.
    @Test func inspectionDoesNotDependOnTheBatching() throws {
        let model = try Self.model()
        let tokens: [TokenID] = [1, 15043, 3186, 29991, 306, 626, 263, 1243, 29889, 13]
        let whole = try Inspection.run(model: model, tokens: tokens, tokenizer: nil, options: InspectionOptions())
        let split = try Inspection.run(model: model, tokens: tokens, tokenizer: nil, options: InspectionOptions(maxBatch: 4))
        func maxDiff(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) } }
        #expect(whole.residual.count == split.residual.count)
        // Different batch sizes take different matmul paths: equal up to rounding (a misplaced
        // batch would differ by whole units).
        for (a, b) in zip(whole.residual, split.residual) { #expect(maxDiff(a.values, b.values) < 1e-4) }
        #expect(whole.layers.count == split.layers.count)
        for (a, b) in zip(whole.layers, split.layers) {
            #expect(maxDiff(a.probabilities, b.probabilities) < 1e-5)
            #expect(maxDiff(a.scores, b.scores) < 1e-4)
            #expect(a.steps.keys.count == b.steps.keys.count)
            if let qa = a.steps[.query], let qb = b.steps[.query] { #expect(maxDiff(qa.values, qb.values) < 1e-5) }
        }
        #expect(whole.logitLens.map { $0.map(\.id) } == split.logitLens.map { $0.map(\.id) })
        #expect(whole.pieces == tokens.map { "#\($0)" })
        // The future half of the scores is q·k/√d of the engine's q and k.
        let l0 = whole.layers[0]
        let t = tokens.count, hd = model.config.headDim
        let q = try #require(l0.steps[.query]), k = try #require(l0.steps[.key])
        var dot: Float = 0
        for d in 0..<hd { dot += q.values[0 * model.config.dim + d] * k.values[(t - 1) * model.config.kvDim + d] }
        #expect(abs(l0.scores[0 * t + (t - 1)] - dot / Float(hd).squareRoot()) < 1e-4)
    }

    /// Architectures with a sliding window and an attention soft cap (gemma2), with 1 + w
    /// norms (gemma) and with learned positions and LayerNorm (gpt2), from their HF folders: the probabilities are the softmax of the unmasked
    /// scores, zero where the mask (causal and window) hides a key, and the last logits are
    /// HF's.
    @Test(arguments: ["gemma2", "gemma", "gpt2"])
    func masksAndScoresOfOtherArchitectures(_ arch: String) throws {
        let model = try LlamaModel(checkpoint: CheckpointLoader.load(path: Fixtures.shared("arch/\(arch)/hf")))
        let data = try Data(contentsOf: URL(fileURLWithPath: try Fixtures.shared("arch/\(arch)/ref.json")))
        let ref = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let ids = try #require(ref["ids"] as? [Int]), longIDs = try #require(ref["long_ids"] as? [Int])
        let refLogits = try #require(ref["last_logits"] as? [Double])
        let short = try Inspection.run(model: model, tokens: ids, tokenizer: nil)
        #expect(zip(short.lastLogits, refLogits).allSatisfy { abs(Double($0.0) - $0.1) < 1e-4 })
        let tokens = Array(longIDs.prefix(32))
        let s = try Inspection.run(model: model, tokens: tokens, tokenizer: nil)
        let t = tokens.count
        var windowed = false
        for trace in s.layers {
            if let w = trace.window, w < t { windowed = true }
            for hi in trace.heads.indices {
                for i in 0..<t {
                    let row = (hi * t + i) * t
                    let open = (0..<t).filter { !trace.isMasked(query: i, key: $0) }
                    let m = open.map { trace.scores[row + $0] }.max() ?? 0
                    let z = open.reduce(Float(0)) { $0 + exp(trace.scores[row + $1] - m) }
                    for j in 0..<t {
                        let p = trace.probabilities[row + j]
                        if trace.isMasked(query: i, key: j) {
                            #expect(p == 0, "\(arch) layer \(trace.layer) head \(hi) row \(i) key \(j)")
                        } else {
                            #expect(abs(p - exp(trace.scores[row + j] - m) / z) < 1e-5)
                        }
                    }
                }
            }
        }
        #expect(windowed == (arch == "gemma2"), "a sliding window shorter than \(t) positions")
    }
}

