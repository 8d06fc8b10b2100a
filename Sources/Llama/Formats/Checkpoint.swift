/// Canonical (Meta) names of the Llama tensors, for callers that want one by name; the
/// list of tensors, their shapes and their names in other formats are in `Architecture.llama`.
///
/// Shapes are PyTorch's: `[rows, columns]`, row-major, each row contiguous in its stored
/// type. q/k rows are in Meta's interleaved-pair RoPE layout (pairs (2i, 2i+1) rotate
/// together); readers of Hugging Face files un-permute them.
public enum TensorName {
    public static let embedding = TensorRole.tokenEmbedding.canonicalName()
    public static let finalNorm = TensorRole.finalNorm.canonicalName()
    public static let output = TensorRole.output.canonicalName()
    public static func attentionNorm(_ l: Int) -> String { TensorRole.attentionNorm.canonicalName(layer: l) }
    public static func wq(_ l: Int) -> String { TensorRole.wq.canonicalName(layer: l) }
    public static func wk(_ l: Int) -> String { TensorRole.wk.canonicalName(layer: l) }
    public static func wv(_ l: Int) -> String { TensorRole.wv.canonicalName(layer: l) }
    public static func wo(_ l: Int) -> String { TensorRole.wo.canonicalName(layer: l) }
    public static func ffnNorm(_ l: Int) -> String { TensorRole.ffnNorm.canonicalName(layer: l) }
    public static func w1(_ l: Int) -> String { TensorRole.gate.canonicalName(layer: l) }
    public static func w2(_ l: Int) -> String { TensorRole.down.canonicalName(layer: l) }
    public static func w3(_ l: Int) -> String { TensorRole.up.canonicalName(layer: l) }
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

    /// Rows `range` of a matrix, or elements `range` of a vector (a fused bias), sharing its
    /// memory (a role stored inside a fused tensor); nil when the range or the bytes do not fit.
    public func rows(_ range: Range<Int>) -> WeightTensor? {
        guard shape.count == 1 || shape.count == 2, range.lowerBound >= 0, range.upperBound <= shape[0] else { return nil }
        if shape.count == 1 {
            let per = type.blockLayout.elements
            guard range.lowerBound % per == 0, range.upperBound % per == 0 else { return nil }
            let start = range.lowerBound / per * type.blockLayout.bytes, end = range.upperBound / per * type.blockLayout.bytes
            guard end <= data.count else { return nil }
            return WeightTensor(name: name, type: type, shape: [range.count], data: UnsafeRawBufferPointer(rebasing: data[start..<end]), owner: owner)
        }
        let rowBytes = type.rowBytes(columns: shape[1])
        guard let end = CheckpointSupport.mul(range.upperBound, rowBytes), end <= data.count else { return nil }
        let bytes = UnsafeRawBufferPointer(rebasing: data[(range.lowerBound * rowBytes)..<end])
        return WeightTensor(name: name, type: type, shape: [range.count, shape[1]], data: bytes, owner: owner)
    }
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
    /// The rank whose slices alone this checkpoint holds (a Meta directory opened for one
    /// rank of a model-parallel job: its `consolidated.0r.pth`); nil for a whole model.
    var modelParallelShard: TensorParallel? { get }
}

extension Checkpoint {
    public var chatTemplates: [String: String] { [:] }
    public var modelParallelShard: TensorParallel? { nil }
}
