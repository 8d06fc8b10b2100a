/// Llama 3.1-style RoPE frequency scaling (`rope_type: llama3`).
public struct RopeScaling: Sendable, Equatable {
    public var factor: Float
    public var lowFreqFactor: Float
    public var highFreqFactor: Float
    public var originalContext: Int

    public init(factor: Float, lowFreqFactor: Float, highFreqFactor: Float, originalContext: Int) {
        self.factor = factor
        self.lowFreqFactor = lowFreqFactor
        self.highFreqFactor = highFreqFactor
        self.originalContext = originalContext
    }

    /// What Meta's `use_scaled_rope: true` means in its own code.
    public static let llama31 = RopeScaling(factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalContext: 8192)
}

/// The shape and constants of a Llama-family decoder, whatever file it came from.
public struct ModelConfig: Sendable, Equatable {
    public var dim: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    /// Feed-forward inner size (w1/w3 rows).
    public var hiddenDim: Int
    public var vocabSize: Int
    public var normEps: Float
    public var ropeTheta: Float
    public var ropeScaling: RopeScaling?
    /// Longest context the checkpoint was made for.
    public var maxContext: Int
    /// True when the output projection is the token embedding.
    public var tiedEmbeddings: Bool
    /// The tensors and the variations of the forward pass (only Llama's exist today).
    public var architecture: Architecture

    public var headDim: Int { dim / headCount }
    public var kvDim: Int { kvHeadCount * headDim }

    public init(dim: Int, layerCount: Int, headCount: Int, kvHeadCount: Int, hiddenDim: Int, vocabSize: Int,
                normEps: Float, ropeTheta: Float, ropeScaling: RopeScaling?, maxContext: Int, tiedEmbeddings: Bool,
                architecture: Architecture = .llama) {
        self.dim = dim
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.hiddenDim = hiddenDim
        self.vocabSize = vocabSize
        self.normEps = normEps
        self.ropeTheta = ropeTheta
        self.ropeScaling = ropeScaling
        self.maxContext = maxContext
        self.tiedEmbeddings = tiedEmbeddings
        self.architecture = architecture
    }

    /// Every tensor this configuration needs, in file order (see `Architecture.layout`).
    public var tensorLayout: [(spec: TensorSpec, layer: Int)] { architecture.layout(self) }

    /// Meta's feed-forward size: 2/3 of 4·dim, times `ffn_dim_multiplier`, rounded up to `multiple_of`.
    public static func metaHiddenDim(dim: Int, multipleOf: Int, ffnDimMultiplier: Double?) -> Int {
        var hidden = Int(2 * (4 * dim) / 3)
        if let m = ffnDimMultiplier { hidden = Int(m * Double(hidden)) }
        return multipleOf * ((hidden + multipleOf - 1) / multipleOf)
    }
}
