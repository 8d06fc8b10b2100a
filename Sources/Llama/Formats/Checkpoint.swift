/// The tensors of a Llama model under one set of names, whatever the file format.
///
/// Canonical names are Meta's (`consolidated.00.pth`):
///   tok_embeddings.weight                    [vocab, dim]
///   layers.N.attention_norm.weight           [dim]
///   layers.N.attention.wq.weight             [heads·headDim, dim]
///   layers.N.attention.wk.weight             [kvHeads·headDim, dim]
///   layers.N.attention.wv.weight             [kvHeads·headDim, dim]
///   layers.N.attention.wo.weight             [dim, heads·headDim]
///   layers.N.ffn_norm.weight                 [dim]
///   layers.N.feed_forward.w1.weight          [hidden, dim]   (gate)
///   layers.N.feed_forward.w2.weight          [dim, hidden]   (down)
///   layers.N.feed_forward.w3.weight          [hidden, dim]   (up)
///   norm.weight                              [dim]
///   output.weight                            [vocab, dim]    (absent when tied)
///
/// Shapes are PyTorch's: `[rows, columns]`, row-major, each row contiguous in its stored
/// type. q/k rows are in Meta's interleaved-pair RoPE layout (pairs (2i, 2i+1) rotate
/// together); readers of Hugging Face files un-permute them.
public enum TensorName {
    public static let embedding = "tok_embeddings.weight"
    public static let finalNorm = "norm.weight"
    public static let output = "output.weight"
    public static func attentionNorm(_ l: Int) -> String { "layers.\(l).attention_norm.weight" }
    public static func wq(_ l: Int) -> String { "layers.\(l).attention.wq.weight" }
    public static func wk(_ l: Int) -> String { "layers.\(l).attention.wk.weight" }
    public static func wv(_ l: Int) -> String { "layers.\(l).attention.wv.weight" }
    public static func wo(_ l: Int) -> String { "layers.\(l).attention.wo.weight" }
    public static func ffnNorm(_ l: Int) -> String { "layers.\(l).ffn_norm.weight" }
    public static func w1(_ l: Int) -> String { "layers.\(l).feed_forward.w1.weight" }
    public static func w2(_ l: Int) -> String { "layers.\(l).feed_forward.w2.weight" }
    public static func w3(_ l: Int) -> String { "layers.\(l).feed_forward.w3.weight" }
}

/// One weight tensor: its bytes in their stored type, kept alive by `owner`
/// (a memory map or an owned buffer).
public struct WeightTensor: @unchecked Sendable {
    public let name: String
    public let type: GGMLType
    /// `[rows, columns]` for matrices, `[n]` for vectors.
    public let shape: [Int]
    public let data: UnsafeRawBufferPointer
    public let owner: AnyObject

    public init(name: String, type: GGMLType, shape: [Int], data: UnsafeRawBufferPointer, owner: AnyObject) {
        self.name = name
        self.type = type
        self.shape = shape
        self.data = data
        self.owner = owner
    }

    public var elementCount: Int { shape.reduce(1, *) }
}

/// A loaded checkpoint: configuration, tensors by canonical name, and the tokenizer that
/// travels with it (inside a GGUF, or beside the weights), if any.
public protocol Checkpoint: Sendable {
    /// File or directory it was read from (for error messages).
    var path: String { get }
    var config: ModelConfig { get }
    var tokenizer: (any Tokenizer)? { get }
    /// A tensor by canonical name (see `TensorName`); throws naming the file when absent.
    func tensor(_ name: String) throws -> WeightTensor
    /// Per-frequency-pair RoPE divisors when the file stores them (GGUF `rope_freqs.weight`).
    func ropeFrequencyFactors() throws -> [Float]?
    /// The model's chat templates (Jinja source) by name, "default" for the unnamed one, as
    /// `ModelChatTemplates` reads them (GGUF `tokenizer.chat_template[.NAME]`, Hugging Face
    /// `tokenizer_config.json` / `chat_template.jinja`); empty when it has none.
    var chatTemplates: [String: String] { get }
}

extension Checkpoint {
    public var chatTemplates: [String: String] { [:] }
}
