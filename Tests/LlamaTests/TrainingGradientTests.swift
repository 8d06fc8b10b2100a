import Foundation
import Testing
import Llama

/// Forward and backward of the training model against PyTorch autograd, on the fixture that
/// scripts/make_grad_fixture.py writes (fp64 PyTorch; our fp32 must agree to 1e-4 of each
/// tensor's largest gradient, 1e-5 relative on the loss): Llama untied and tied, and the
/// Qwen2-style model of `llama train --qkv-bias` (q/k/v biases, rotate-half RoPE).
@Suite struct TrainingGradientTests {
    struct Fixture: Decodable {
        struct Config: Decodable {
            let vocab_size, dim, layers, heads, kv_heads, hidden, context, batch: Int
        }
        struct Param: Decodable { let name: String; let shape: [Int]; let value: [Double]; let grad: [Double] }
        struct Case: Decodable { let tied: Bool; let qkv_bias: Bool; let tokens: [Int32]; let targets: [Int32]; let loss: Double; let params: [Param] }
        let config: Config
        let cases: [Case]
    }

    static func load() throws -> Fixture {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/train_grads.json")
        return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
    }

    @Test(arguments: [(false, false), (true, false), (false, true)])
    func gradientsMatchPyTorch(tied: Bool, qkvBias: Bool) throws {
        let fx = try Self.load()
        let f = fx.config
        guard let c = fx.cases.first(where: { $0.tied == tied && $0.qkv_bias == qkvBias }) else {
            Issue.record("no case tied=\(tied) qkv_bias=\(qkvBias)"); return
        }
        let config = ModelConfig.training(vocabSize: f.vocab_size, dim: f.dim, layerCount: f.layers, headCount: f.heads,
                                          kvHeadCount: f.kv_heads, hiddenDim: f.hidden, context: f.context,
                                          tiedEmbeddings: tied, architecture: qkvBias ? .qwen2 : .llama)
        for threads in [1, 2] {
            let model = try TrainingModel(config: config, pool: ParallelFor(workers: threads))
            #expect(model.layout.tensors.map(\.name) == c.params.map(\.name))
            for (t, p) in zip(model.layout.tensors, c.params) {
                #expect(t.shape == p.shape, "\(t.name)")
                for (i, v) in p.value.enumerated() { model.params[t.offset + i] = Float(v) }
            }
            let ws = TrainingWorkspace(config: config, batch: f.batch, backward: true)
            for b in 0..<f.batch {
                let r = (b * f.context)..<((b + 1) * f.context)
                ws.setSequence(b, tokens: c.tokens[r], targets: c.targets[r])
            }
            model.zeroGradients()
            let loss = model.forward(ws, gradScale: 1) / Double(f.batch * f.context)
            model.backward(ws)
            #expect(abs(loss - c.loss) / abs(c.loss) < 1e-5, "loss \(loss) vs torch \(c.loss)")
            var worst = 0.0
            for (t, p) in zip(model.layout.tensors, c.params) {
                let scale = p.grad.map(abs).max() ?? 0
                var err = 0.0
                for (i, g) in p.grad.enumerated() { err = max(err, abs(Double(model.grads[t.offset + i]) - g)) }
                let rel = err / max(scale, 1e-12)
                worst = max(worst, rel)
                #expect(rel < 1e-4, "\(t.name): max |Δgrad| \(err) vs max |grad| \(scale) (rel \(rel))")
            }
            print("tied=\(tied) qkv_bias=\(qkvBias) threads=\(threads): loss \(loss) (torch \(c.loss)), worst gradient relative error \(worst)")
        }
    }
}
