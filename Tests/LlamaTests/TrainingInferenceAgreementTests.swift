import Foundation
import Testing
import Llama

/// The training model's forward against the inference model's (`LlamaModel`, the prompt
/// path of `llama generate`) on the same weights and tokens: the logits must be identical to
/// the bit. Both compose the same kernels (`rmsnorm`, `ropeAngles` + `applyRope` /
/// `applyRopeRotateHalf`, the `gemmTile` micro-kernel with the same 256-column blocking,
/// `attentionScores` + `softmax` + `weightedSum`, `swiglu`, `addInPlace`); the shapes keep
/// every vector length a multiple of 8 so no product falls into a scalar tail in one model
/// and not the other, and every batch has more than `matvecMaxTokens` rows so the inference
/// model multiplies with `gemm`, not `matvec`.
@Suite struct TrainingInferenceAgreementTests {
    /// The parameters of a training model as a `Checkpoint` the inference model loads (fp32
    /// tensors by canonical name, copied out of the flat buffer).
    struct ParamsCheckpoint: Checkpoint, @unchecked Sendable {
        let path = "training-model"
        let config: ModelConfig
        let tokenizer: (any Tokenizer)? = nil
        let tensors: [String: WeightTensor]

        init(_ model: TrainingModel) {
            config = model.config
            let buffer = OwnedBuffer(byteCount: model.layout.count * 4)
            buffer.bytes.copyMemory(from: UnsafeRawBufferPointer(start: model.params, count: model.layout.count * 4))
            var table: [String: WeightTensor] = [:]
            for t in model.layout.tensors {
                let data = UnsafeRawBufferPointer(rebasing: buffer.readOnly[(t.offset * 4)..<((t.offset + t.count) * 4)])
                table[t.name] = WeightTensor(name: t.name, type: .f32, shape: t.shape, data: data, owner: buffer)
            }
            tensors = table
        }

        func tensor(_ name: String) throws -> WeightTensor {
            guard let t = tensors[name] else { throw TrainingError.invalidConfig(field: name, reason: "no such tensor") }
            return t
        }

        func ropeFrequencyFactors() throws -> [Float]? { nil }
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func sameLogitsAsTheInferenceModel(tied: Bool, qkvBias: Bool) throws {
        let config = ModelConfig.training(vocabSize: 48, dim: 32, layerCount: 2, headCount: 4, kvHeadCount: 2,
                                          hiddenDim: 64, context: 16, tiedEmbeddings: tied,
                                          architecture: qkvBias ? .qwen2 : .llama)
        try check(config, batch: 2, label: "tied=\(tied) qkv_bias=\(qkvBias)")
    }

    /// Heads of 48 (stories15M's: the weighted sum's 32-lane fused part and its 16-lane
    /// tail) and 40, and a context that is not a multiple of the 4 rows the training
    /// attention sums at a time.
    @Test(arguments: [(96, 2, 1), (80, 2, 2)])
    func sameLogitsWithWideHeads(dim: Int, heads: Int, kvHeads: Int) throws {
        let config = ModelConfig.training(vocabSize: 48, dim: dim, layerCount: 2, headCount: heads, kvHeadCount: kvHeads,
                                          hiddenDim: 64, context: 19)
        try check(config, batch: 2, label: "dim \(dim), \(heads) heads")
    }

    func check(_ config: ModelConfig, batch: Int, label: String) throws {
        let context = config.maxContext
        let pool = ParallelFor(workers: 2)
        let model = try TrainingModel(config: config, pool: pool)
        var rng = Xoshiro256(seed: 11)
        model.initialize(rng: &rng)
        // Norms and biases away from their initial 1 and 0, matrices larger than the training
        // init, so every path carries signal.
        for t in model.layout.tensors {
            for i in 0..<t.count {
                let r = Float(rng.nextNormal())
                model.params[t.offset + i] = t.shape.count == 2 ? 0.3 * r : (t.name.hasSuffix(".bias") ? 0.3 * r : 1 + 0.2 * r)
            }
        }
        let tokens = (0..<(batch * context)).map { _ in Int32(rng.next() % UInt64(config.vocabSize)) }
        let ws = TrainingWorkspace(config: config, batch: batch, backward: false)
        for b in 0..<batch {
            let r = (b * context)..<((b + 1) * context)
            ws.setSequence(b, tokens: tokens[r], targets: tokens[r])
        }
        model.forward(ws)

        let inference = try LlamaModel(checkpoint: ParamsCheckpoint(model), parallel: pool)
        var mismatches = 0, worst: Float = 0
        for b in 0..<batch {
            let ids = tokens[(b * context)..<((b + 1) * context)].map { TokenID($0) }
            let expected = try inference.logits(of: ids, at: Array(0..<context))
            for p in 0..<context {
                let got = ws.logits(sequence: b, position: p)
                #expect(got.count == config.vocabSize && expected[p].count == config.vocabSize)
                for (x, y) in zip(got, expected[p]) where x.bitPattern != y.bitPattern {
                    mismatches += 1
                    worst = max(worst, abs(x - y))
                }
            }
        }
        #expect(mismatches == 0, "\(label): \(mismatches) logits differ, by up to \(worst)")
    }
}
