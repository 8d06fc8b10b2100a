import Foundation

/// A small Llama model with random weights, written as GGUF with a real vocabulary: the
/// model the repository ships until a trained one replaces it. Its text is gibberish by
/// design; it exists so every command runs with no download.
public struct RandomModelSpec: Sendable {
    public var dim = 48
    public var layerCount = 2
    public var headCount = 4
    public var kvHeadCount = 2
    public var hiddenDim = 128
    public var maxContext = 2048
    public var normEps: Float = 1e-5
    public var ropeTheta: Float = 10000
    /// Standard deviation of the normal weights.
    public var weightStd: Float = 0.1
    public var seed: UInt64 = 1
    public var name = "tiny-random"

    public init() {}

    /// Builds the GGUF: hyperparameters as `llama.*` metadata, every `tokenizer.*` entry of
    /// `vocabulary` (so the vocabulary size is its token count), F16 matrices, F32 norms, and
    /// no `output.weight` (tied to the embedding).
    public func makeGGUF(vocabulary: GGUFFile) throws -> GGUFWriter {
        let tokens = try vocabulary.stringArray("tokenizer.ggml.tokens")
        let vocab = tokens.count
        let headDim = dim / headCount
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.set("general.name", .string(name))
        w.set("general.description", .string("random weights, not trained (seed \(seed))"))
        w.set("general.file_type", .uint32(1))  // llama.cpp's MOSTLY_F16
        w.set("llama.context_length", .uint32(UInt32(maxContext)))
        w.set("llama.embedding_length", .uint32(UInt32(dim)))
        w.set("llama.block_count", .uint32(UInt32(layerCount)))
        w.set("llama.feed_forward_length", .uint32(UInt32(hiddenDim)))
        w.set("llama.attention.head_count", .uint32(UInt32(headCount)))
        w.set("llama.attention.head_count_kv", .uint32(UInt32(kvHeadCount)))
        w.set("llama.attention.layer_norm_rms_epsilon", .float32(normEps))
        w.set("llama.rope.freq_base", .float32(ropeTheta))
        w.set("llama.rope.dimension_count", .uint32(UInt32(headDim)))
        w.set("llama.vocab_size", .uint32(UInt32(vocab)))
        for key in vocabulary.metadataKeys where key.hasPrefix("tokenizer.") {
            if let v = vocabulary.metadata[key] { w.set(key, .from(v, key: key)) }
        }

        var rng = Xoshiro256(seed: seed)
        func normal(_ count: Int) -> [Float] {
            // Box-Muller: two uniforms give two independent normals.
            var out: [Float] = []
            out.reserveCapacity(count + 1)
            while out.count < count {
                let u1 = max(rng.nextUnit(), 1e-300), u2 = rng.nextUnit()
                let r = (-2 * log(u1)).squareRoot()
                out.append(Float(r * cos(2 * .pi * u2)) * weightStd)
                out.append(Float(r * sin(2 * .pi * u2)) * weightStd)
            }
            return Array(out.prefix(count))
        }
        let ones = [Float](repeating: 1, count: dim)
        let kvDim = kvHeadCount * headDim
        try w.addTensor(name: "token_embd.weight", shape: [vocab, dim], values: normal(vocab * dim), as: .f16)
        for l in 0..<layerCount {
            try w.addTensor(name: "blk.\(l).attn_norm.weight", shape: [dim], values: ones, as: .f32)
            try w.addTensor(name: "blk.\(l).attn_q.weight", shape: [dim, dim], values: normal(dim * dim), as: .f16)
            try w.addTensor(name: "blk.\(l).attn_k.weight", shape: [kvDim, dim], values: normal(kvDim * dim), as: .f16)
            try w.addTensor(name: "blk.\(l).attn_v.weight", shape: [kvDim, dim], values: normal(kvDim * dim), as: .f16)
            try w.addTensor(name: "blk.\(l).attn_output.weight", shape: [dim, dim], values: normal(dim * dim), as: .f16)
            try w.addTensor(name: "blk.\(l).ffn_norm.weight", shape: [dim], values: ones, as: .f32)
            try w.addTensor(name: "blk.\(l).ffn_gate.weight", shape: [hiddenDim, dim], values: normal(hiddenDim * dim), as: .f16)
            try w.addTensor(name: "blk.\(l).ffn_down.weight", shape: [dim, hiddenDim], values: normal(dim * hiddenDim), as: .f16)
            try w.addTensor(name: "blk.\(l).ffn_up.weight", shape: [hiddenDim, dim], values: normal(hiddenDim * dim), as: .f16)
        }
        try w.addTensor(name: "output_norm.weight", shape: [dim], values: ones, as: .f32)
        return w
    }
}
