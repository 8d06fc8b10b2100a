import ArgumentParser
import Llama

/// Writes the random-weight model shipped in `models/` (hidden: a maintainer's tool).
struct MakeRandomModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make-random-model",
        abstract: "Write a small random-weight Llama GGUF with a real vocabulary (for tests and demos).",
        shouldDisplay: false)

    @Option(help: "GGUF file whose tokenizer.* metadata is copied (e.g. ../shared/vocab/ggml-vocab-llama-spm.gguf).")
    var vocab: String

    @Option(help: "Output GGUF path.")
    var out: String

    @Option(parsing: .unconditional, help: "Embedding size.") var dim = 48
    @Option(parsing: .unconditional, help: "Decoder layers.") var layers = 2
    @Option(parsing: .unconditional, help: "Attention heads.") var heads = 4
    @Option(parsing: .unconditional, help: "Key/value heads.") var kvHeads = 2
    @Option(parsing: .unconditional, help: "Feed-forward size.") var hidden = 128
    @Option(parsing: .unconditional, help: "Random seed.") var seed: UInt64 = 1

    func run() throws {
        var spec = RandomModelSpec()
        spec.dim = dim
        spec.layerCount = layers
        spec.headCount = heads
        spec.kvHeadCount = kvHeads
        spec.hiddenDim = hidden
        spec.seed = seed
        guard dim > 0, heads > 0, dim % heads == 0, (dim / heads) % 2 == 0, kvHeads > 0, heads % kvHeads == 0, layers > 0, hidden > 0 else {
            throw ValidationError("need dim divisible by heads into even head sizes, and heads divisible by kv-heads")
        }
        try spec.makeGGUF(vocabulary: GGUFFile(path: vocab)).write(to: out)
    }
}
