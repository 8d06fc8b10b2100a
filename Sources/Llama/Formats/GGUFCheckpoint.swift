/// A GGUF model file as a `Checkpoint` (tensors memory-mapped, tokenizer from metadata).
public final class GGUFCheckpoint: Checkpoint, @unchecked Sendable {
    public let path: String
    public let config: ModelConfig
    public let tokenizer: (any Tokenizer)?

    public init(path: String) throws {
        throw GGUFError.malformed(path: path, offset: 0, message: "GGUF checkpoints are not implemented yet")
    }

    public func tensor(_ name: String) throws -> WeightTensor {
        throw GGUFError.missingKey(path: path, key: name)
    }

    public func ropeFrequencyFactors() throws -> [Float]? { nil }
}
