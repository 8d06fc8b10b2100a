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
        let c = ModelConfig(dim: dim, layerCount: layerCount, headCount: headCount, kvHeadCount: kvHeadCount,
                            hiddenDim: hiddenDim, vocabSize: vocab, normEps: normEps, ropeTheta: ropeTheta, ropeScaling: nil,
                            maxContext: maxContext, tiedEmbeddings: true)
        var w = GGUFWriter()
        w.set("general.architecture", .string(c.architecture.ggufArchitecture))
        w.set("general.name", .string(name))
        w.set("general.description", .string("random weights, not trained (seed \(seed))"))
        w.set("general.file_type", .uint32(1))  // llama.cpp's MOSTLY_F16
        w.setHyperparameters(c)
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
        // Norm weights start at one, as in training; matrices are random.
        for (spec, layer) in c.tensorLayout {
            let shape = spec.shape(c)
            let name = c.architecture.name(spec, layer: layer, in: .gguf)
            if shape.count == 2 {
                try w.addTensor(name: name, shape: shape, values: normal(shape[0] * shape[1]), as: .f16)
            } else {
                try w.addTensor(name: name, shape: shape, values: [Float](repeating: 1, count: shape[0]), as: .f32)
            }
        }
        return w
    }
}
