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
    /// The tensors and the variations of the forward pass, with this model's values
    /// (soft-caps, windows) filled in by the reader.
    public var architecture: Architecture

    /// Size of one attention head: dim / heads unless the file says otherwise (Gemma's
    /// `head_dim`, GGUF `attention.key_length`). Stored only when it differs, so configs that
    /// spell the default out compare equal to those that do not; 0 when heads do not divide
    /// dim and nothing was said (readers reject that).
    public var headDim: Int {
        get { explicitHeadDim ?? (headCount > 0 && dim % headCount == 0 ? dim / headCount : 0) }
        set { explicitHeadDim = headCount > 0 && newValue == dim / headCount && dim % headCount == 0 ? nil : newValue }
    }
    private var explicitHeadDim: Int?
    /// Query rows (heads · head size); equals dim unless the head size is set apart.
    public var queryDim: Int { headCount * headDim }
    public var kvDim: Int { kvHeadCount * headDim }

    public init(dim: Int, layerCount: Int, headCount: Int, kvHeadCount: Int, hiddenDim: Int, vocabSize: Int,
                normEps: Float, ropeTheta: Float, ropeScaling: RopeScaling?, maxContext: Int, tiedEmbeddings: Bool,
                architecture: Architecture = .llama, headDim: Int? = nil) {
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
        if let headDim { self.headDim = headDim }
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
