// The seam between file formats and the model: what a decoder architecture is made of,
// written once. Readers map file names onto roles through `Architecture.tensors`, writers
// map roles back, the model and the trainer ask it for shapes. Adding an architecture is a
// new `static let` built like `llama` below (in its own file), plus its tests.
//
// Names are kept per format because converters disagree (llama.cpp's GGUF names, the
// transformers state dict, Meta's consolidated.pth); the engine's own key for a tensor is
// its canonical name, which is Meta's spelling (`TensorRole.canonicalName`).

/// What a tensor is for, whatever a file calls it.
public enum TensorRole: String, CaseIterable, Sendable {
    case tokenEmbedding
    /// Learned absolute position embeddings, `[context, dim]`, added to the tokens' (GPT-2).
    case positionEmbedding
    case attentionNorm, wq, wk, wv, wo
    /// LayerNorm biases (GPT-2).
    case attentionNormBias
    /// Projection biases: q/k/v (Qwen2, GPT-2) and the attention output (GPT-2).
    case wqBias, wkBias, wvBias, woBias
    /// Norm of the attention block's output before the residual add (Gemma 2).
    case postAttentionNorm
    case ffnNorm
    case ffnNormBias
    /// Feed-forward gate (Meta's w1), up (w3) and down (w2) projections.
    case gate, down, up
    /// Feed-forward biases (GPT-2).
    case upBias, downBias
    /// Norm of the feed-forward's output before the residual add (Gemma 2).
    case postFfnNorm
    case finalNorm
    case finalNormBias
    /// The output projection; absent from a file when tied to the embedding.
    case output
    /// Mixture of experts (Mixtral): the router (one row of logits per expert) and each
    /// expert's gate (w1), up (w3) and down (w2) projections.
    case router, expertGate, expertUp, expertDown

    /// True for tensors that each layer has its own of.
    public var isPerLayer: Bool {
        switch self {
        case .tokenEmbedding, .positionEmbedding, .finalNorm, .finalNormBias, .output: return false
        default: return true
        }
    }

    /// A norm's scale vector: the weights a (1 + w) norm's files store as w.
    public var isNormWeight: Bool {
        switch self {
        case .attentionNorm, .postAttentionNorm, .ffnNorm, .postFfnNorm, .finalNorm: return true
        default: return false
        }
    }

    /// A matrix `llama quantize` stores in the target type; everything else stays F32 as in
    /// llama.cpp's quantizer (vectors, and the position table it never quantizes).
    public var isQuantizable: Bool {
        switch self {
        case .tokenEmbedding, .wq, .wk, .wv, .wo, .gate, .down, .up, .output: return true
        // llama.cpp keeps the router (`ffn_gate_inp`) in F32 and quantizes the experts.
        case .expertGate, .expertUp, .expertDown: return true
        default: return false
        }
    }

    /// True for the tensors each expert of a mixture-of-experts layer has its own of.
    public var isPerExpert: Bool {
        switch self {
        case .expertGate, .expertUp, .expertDown: return true
        default: return false
        }
    }

    /// Where a per-expert name has its expert number (`experts.%e.w1.weight`).
    public static let expertMark = "%e"

    /// The engine's key for the tensor (Meta's name), for `layer` when `isPerLayer`.
    public func canonicalName(layer: Int = 0) -> String {
        isPerLayer ? "\(Self.canonicalLayerStem)\(layer).\(canonicalSuffix)" : canonicalSuffix
    }

    /// What comes before the layer number in a per-layer canonical name.
    static let canonicalLayerStem = "layers."

    /// Meta's name, after `layers.N.` for per-layer roles.
    var canonicalSuffix: String {
        switch self {
        case .tokenEmbedding: return "tok_embeddings.weight"
        case .positionEmbedding: return "pos_embeddings.weight"
        case .attentionNorm: return "attention_norm.weight"
        case .attentionNormBias: return "attention_norm.bias"
        case .wq: return "attention.wq.weight"
        case .wk: return "attention.wk.weight"
        case .wv: return "attention.wv.weight"
        case .wo: return "attention.wo.weight"
        case .wqBias: return "attention.wq.bias"
        case .wkBias: return "attention.wk.bias"
        case .wvBias: return "attention.wv.bias"
        case .woBias: return "attention.wo.bias"
        case .postAttentionNorm: return "post_attention_norm.weight"
        case .ffnNorm: return "ffn_norm.weight"
        case .ffnNormBias: return "ffn_norm.bias"
        case .gate: return "feed_forward.w1.weight"
        case .down: return "feed_forward.w2.weight"
        case .up: return "feed_forward.w3.weight"
        case .upBias: return "feed_forward.w3.bias"
        case .downBias: return "feed_forward.w2.bias"
        case .postFfnNorm: return "post_ffn_norm.weight"
        case .finalNorm: return "norm.weight"
        case .finalNormBias: return "norm.bias"
        case .output: return "output.weight"
        case .router: return "feed_forward.gate.weight"
        case .expertGate: return "feed_forward.experts.\(Self.expertMark).w1.weight"
        case .expertDown: return "feed_forward.experts.\(Self.expertMark).w2.weight"
        case .expertUp: return "feed_forward.experts.\(Self.expertMark).w3.weight"
        }
    }
}

/// A size of the configuration, so shapes are data that can be compared and printed.
public enum ModelDimension: Sendable, Equatable {
    /// `dim`, the residual stream.
    case model
    case vocabulary
    /// Query rows: heads · head size.
    case query
    /// Key and value rows: kv heads · head size.
    case keyValue
    /// Feed-forward inner size.
    case hidden
    /// Positions a learned position table holds (`maxContext`).
    case context
    /// Experts of a mixture-of-experts layer.
    case experts

    /// The value under `c`.
    public func size(_ c: ModelConfig) -> Int {
        switch self {
        case .model: return c.dim
        case .vocabulary: return c.vocabSize
        case .query: return c.queryDim
        case .keyValue: return c.kvDim
        case .hidden: return c.hiddenDim
        case .context: return c.maxContext
        case .experts: return c.architecture.expertCount ?? 0
        }
    }
}

/// Where a role lives in one file format: a whole tensor, or a range of rows of a fused one
/// (Phi-3 `qkv_proj`, GPT-2 `c_attn`), which a reader hands out as a zero-copy slice.
public struct FormatName: Sendable, Equatable, ExpressibleByStringLiteral {
    /// The name after the format's layer prefix (`blk.N.`, `model.layers.N.`) for per-layer roles.
    public var name: String
    /// For a fused tensor: the rows before this role's, as a sum of dimensions.
    public var rowOffset: [ModelDimension]?
    /// For a per-expert role: one tensor holds every expert (GGUF's 3-D `ffn_up_exps`,
    /// `[experts, rows, columns]`), expert e being its e-th block of rows. Otherwise each
    /// expert has its own tensor, its number in place of `TensorRole.expertMark`.
    public var stacksExperts: Bool

    public init(_ name: String, rowOffset: [ModelDimension]? = nil, stacksExperts: Bool = false) {
        self.name = name
        self.rowOffset = rowOffset
        self.stacksExperts = stacksExperts
    }

    public init(stringLiteral name: String) { self.init(name) }
}

/// One tensor of an architecture: its role, its shape under a configuration, and its name
/// in each format.
public struct TensorSpec: Sendable, Equatable {
    public var role: TensorRole
    /// PyTorch order: `[rows, columns]` for matrices, `[n]` for vectors.
    public var shape: [ModelDimension]
    /// llama.cpp's name (`token_embd.weight`, `attn_q.weight` after `blk.N.`).
    public var gguf: FormatName
    /// The transformers state-dict name (`model.embed_tokens.weight`, `self_attn.q_proj.weight`
    /// after `model.layers.N.`).
    public var huggingFace: FormatName
    /// Hugging Face checkpoints store these rows in rotate-half order while the engine keeps
    /// the interleaved pairs of Meta's layout (for an architecture whose `ropeLayout` is
    /// `.interleaved`): the head count to permute by, or nil.
    public var huggingFacePermutedHeads: HeadGroup?
    /// The transformers file stores this matrix as `[columns, rows]` (GPT-2's `Conv1D`
    /// layers keep `[in, out]`); readers transpose it once into owned memory, writers back.
    public var huggingFaceTransposed: Bool
    /// Which expert, for a per-expert role as `Architecture.layout` lists it (nil in the table).
    public var expert: Int?

    public enum HeadGroup: Sendable, Equatable {
        case query, keyValue
        public func count(_ c: ModelConfig) -> Int { self == .query ? c.headCount : c.kvHeadCount }
    }

    public init(_ role: TensorRole, _ shape: [ModelDimension], gguf: FormatName, huggingFace: FormatName,
                huggingFacePermutedHeads: HeadGroup? = nil, huggingFaceTransposed: Bool = false) {
        self.role = role
        self.shape = shape
        self.gguf = gguf
        self.huggingFace = huggingFace
        self.huggingFacePermutedHeads = huggingFacePermutedHeads
        self.huggingFaceTransposed = huggingFaceTransposed
    }

    /// The shape under `c`.
    public func shape(_ c: ModelConfig) -> [Int] { shape.map { $0.size(c) } }

    /// The engine's key for this tensor in `layer` (and its expert).
    public func canonicalName(layer: Int = 0) -> String {
        Self.fillExpert(role.canonicalName(layer: layer), expert)
    }

    /// `name` with the expert number in place of `TensorRole.expertMark`.
    static func fillExpert(_ name: String, _ expert: Int?) -> String {
        guard let expert else { return name }
        return name.replacingOccurrences(of: TensorRole.expertMark, with: String(expert))
    }
}

/// How RoPE pairs the dimensions of a head.
public enum RopeLayout: Sendable, Equatable {
    /// Pairs (2i, 2i+1): Meta's code and GGUF files of `llama`.
    case interleaved
    /// Pairs (i, i + headDim/2): transformers, and llama.cpp's NEOX style (qwen2, phi3, gemma).
    case rotateHalf
}

public enum NormKind: Sendable, Equatable {
    case rms
    /// RMSNorm scaled by 1 + w (Gemma). Transformers files store w; llama.cpp's converter
    /// stores 1 + w (`convert_hf_to_gguf.py`, Gemma's `modify_tensors` adds 1 to every
    /// `norm.weight`). The engine keeps 1 + w, the factor actually applied, so this is plain
    /// RMSNorm once loaded: the Hugging Face reader adds 1 and its writer subtracts it.
    case rmsOnePlusWeight
    /// LayerNorm with a bias (GPT-2): `(x − mean) / sqrt(var + eps) · w + b`.
    case layerNorm
}

public enum Activation: Sendable, Equatable {
    case silu
    /// GELU with the tanh approximation (transformers' `gelu_new`, `gelu_pytorch_tanh`).
    case geluTanh
}

/// A decoder architecture: its tensors and what its forward pass does differently. The
/// defaults are Llama's; each architecture's file (`Model/Architectures/`) sets what differs,
/// and readers fill in the per-model values (soft-caps, windows, query scale) from the file.
public struct Architecture: Sendable, Equatable, CustomStringConvertible {
    /// GGUF `general.architecture`, Hugging Face `model_type`.
    public var name: String
    /// The transformers model class (config.json `architectures`).
    public var huggingFaceClass: String
    /// The tensors, in the order files of the engine's own making list them.
    public var tensors: [TensorSpec]
    /// Where per-layer tensors live in the transformers state dict (GPT-2: `transformer.h.`).
    public var huggingFaceLayerStem = "model.layers."
    /// A prefix some transformers files leave out (GPT-2 saved from `GPT2Model`: `h.0.…`,
    /// `wte.weight`); names without it are read as if they had it.
    public var huggingFaceOptionalPrefix: String? = nil
    /// Tensors in transformers files that are buffers, not weights (GPT-2's causal masks).
    public var huggingFaceIgnoredSuffixes: [String] = []
    /// config.json keys this architecture spells its own way, by the name transformers'
    /// `attribute_map` gives them (GPT-2: `hidden_size` is `n_embd`).
    public var huggingFaceConfigKeys: [String: String] = [:]
    /// config.json keys naming the activation, first present wins.
    public var huggingFaceActivationKeys = ["hidden_act"]
    /// More activation names meaning `activation` for this architecture (Gemma: transformers
    /// runs a plain "gelu" as the tanh approximation, with a warning).
    public var huggingFaceActivationAliases: [String] = []
    /// Feed-forward size as a multiple of dim when config.json leaves it null (GPT-2: 4).
    public var defaultHiddenPerDim: Int? = nil
    /// How the engine's q/k rows pair dimensions for RoPE once loaded.
    public var ropeLayout: RopeLayout = .interleaved
    /// q, k, v projections have biases (Qwen2).
    public var attentionBias = false
    /// Tokens a layer attends back over, per layer (nil: the whole context).
    public var slidingWindow: [Int?]? = nil
    public var norm: NormKind = .rms
    public var activation: Activation = .silu
    /// Feed-forward of gate ⊙ act(up) (Llama), or act(up) alone (GPT-2).
    public var gatedFeedForward = true
    /// Experts per mixture-of-experts layer; nil for a dense feed-forward. Set from the file
    /// (config.json `num_local_experts`, GGUF `<arch>.expert_count`).
    public var expertCount: Int? = nil
    /// Experts each token is routed to (the top k of the router's logits).
    public var expertsPerToken: Int = 0
    /// GGUF `general.architecture` when llama.cpp writes it under another name (Mistral and
    /// Mixtral are `llama`).
    public var ggufName: String? = nil
    /// Positions are learned embeddings added to the tokens' (GPT-2), not RoPE.
    public var learnedPositions = false
    /// The token embeddings are multiplied by sqrt(dim) (Gemma), in fp32 as llama.cpp does;
    /// transformers rounds the factor to the hidden dtype first, which fp32 leaves exact.
    public var scalesEmbeddingBySqrtDim = false
    /// With a sliding window and no per-layer list in the file, layer l slides when
    /// `l % pattern < pattern − 1` (llama.cpp's rule; Gemma 2: 2, every even layer).
    public var slidingWindowPattern: Int? = nil
    /// Per-model values read from the file (nil: off).
    /// tanh soft-capping of the final logits: `cap · tanh(logit / cap)` (Gemma 2).
    public var logitSoftCap: Float? = nil
    /// tanh soft-capping of the attention scores before the mask (Gemma 2).
    public var attentionSoftCap: Float? = nil
    /// Scale of q·k; nil for 1/sqrt(headDim) (Gemma 2: `query_pre_attn_scalar`^−½).
    public var attentionScale: Float? = nil
    /// q·k is scaled by `query_pre_attn_scalar`^−½ (Gemma 2): readers always fill
    /// `attentionScale`, and the Hugging Face writer writes the key.
    public var scalesQueriesByQueryPreAttnScalar = false
    /// GGUF files carry no query scale for Gemma 2; llama.cpp uses 1/sqrt(dim / heads) for
    /// the model sizes listed here by layer count (27B: 46) and 1/sqrt(headDim) otherwise.
    public var ggufScaleByDimPerHeadAtLayerCounts: [Int] = []

    /// The head size may differ from dim / heads (`head_dim`, GGUF `attention.key_length`);
    /// readers refuse a different one for the other architectures.
    public var separateHeadSize = false
    /// llama.cpp's converter writes `attention.key_length` / `value_length` for this
    /// architecture even when they equal dim / heads (Gemma); otherwise only when they differ.
    public var ggufWritesHeadSize = false
    /// llama.cpp's converter writes `rope.scaling.original_context_length` and
    /// `attention.sliding_window` (0 for none) for this architecture (Phi-3).
    public var ggufWritesOriginalContextAndWindow = false
    /// What llama.cpp assumes when a GGUF file leaves a key out (Gemma 2: soft-caps 50 and
    /// 30, window 4096): the attention soft-cap, the final soft-cap, the sliding window.
    public var ggufDefaultAttentionSoftCap: Float? = nil
    public var ggufDefaultLogitSoftCap: Float? = nil
    public var ggufDefaultSlidingWindow: Int? = nil

    /// The scale of q·k for a `query_pre_attn_scalar` of `s` (one rounding, whatever file).
    public static func queryScale(_ s: Double) -> Float { Float(1 / s.squareRoot()) }

    /// The name alone: a configuration printed in a message should not list every tensor.
    public var description: String { name }

    /// The transformers activation names this architecture's `activation` answers to.
    public var huggingFaceActivationNames: [String] {
        switch activation {
        case .silu: return ["silu", "swish"]
        case .geluTanh: return ["gelu_pytorch_tanh", "gelu_new"] + huggingFaceActivationAliases
        }
    }

    /// Every architecture the engine knows.
    public static let all: [Architecture] = [.llama, .qwen2, .mistral, .mixtral, .phi3, .gpt2, .gemma, .gemma2]

    /// The architecture a config.json `model_type` (or the engine's own name) names.
    public static func named(_ name: String) -> Architecture? { all.first { $0.name == name } }

    /// The architecture a GGUF `general.architecture` names (Mistral and Mixtral files say
    /// `llama`: a reader tells Mixtral by its expert count).
    public static func named(gguf name: String) -> Architecture? { all.first { $0.ggufName == nil && $0.name == name } }

    /// The names `named` knows, for messages.
    public static var supportedNames: String { all.map(\.name).joined(separator: ", ") }

    /// The GGUF architecture names a reader accepts, for messages.
    public static var supportedGGUFNames: String {
        all.compactMap { $0.ggufName == nil ? $0.name : nil }.joined(separator: ", ")
    }

    /// GGUF `general.architecture` of this architecture (and the prefix of its keys).
    public var ggufArchitecture: String { ggufName ?? name }

    /// The window of layer `l`, nil for full attention.
    public func window(layer l: Int) -> Int? {
        guard let w = slidingWindow, l < w.count else { return nil }
        return w[l]
    }

    /// How the layers attend, for `--verbose`: "full attention" or the windows.
    public var attentionSummary: String {
        guard let w = slidingWindow, w.contains(where: { $0 != nil }) else {
            return "full attention (the file records no sliding window)"
        }
        let windows = Set(w.compactMap { $0 })
        if windows.count == 1, !w.contains(where: { $0 == nil }), let only = windows.first {
            return "sliding-window attention of \(only) positions on every layer"
        }
        return "sliding-window attention per layer: " + w.map { $0.map(String.init) ?? "full" }.joined(separator: ", ")
    }

    /// This architecture with `added` inserted after the tensor of role `after` (or at the end).
    public func inserting(_ added: [TensorSpec], after: TensorRole) -> Architecture {
        var a = self
        let i = a.tensors.firstIndex { $0.role == after }.map { $0 + 1 } ?? a.tensors.endIndex
        a.tensors.insert(contentsOf: added, at: i)
        return a
    }

    /// This architecture without the tensors of `roles`.
    public func removing(_ roles: Set<TensorRole>) -> Architecture {
        var a = self
        a.tensors.removeAll { roles.contains($0.role) }
        return a
    }

    /// The spec of `role`, if this architecture has it.
    public func spec(_ role: TensorRole) -> TensorSpec? { tensors.first { $0.role == role } }

    /// True when this architecture has a tensor for `role`.
    public func has(_ role: TensorRole) -> Bool { spec(role) != nil }

    /// How much the transformers files' norm weights are below the factor applied (1 for a
    /// (1 + w) norm, see `NormKind.rmsOnePlusWeight`).
    public var huggingFaceNormOffset: Float { norm == .rmsOnePlusWeight ? 1 : 0 }

    /// The window of each of `layers` layers for a file that gives one window size and no
    /// per-layer list: every layer, or those `slidingWindowPattern` picks.
    public func slidingWindows(size: Int, layers: Int) -> [Int?] {
        (0..<layers).map { l in
            guard let p = slidingWindowPattern, p > 1 else { return size }
            return l % p < p - 1 ? size : nil
        }
    }

    /// Every tensor `c` needs, in file order: global tensors before the layers stay before
    /// them, per-layer ones repeat for each layer, and the output projection is left out when
    /// the embedding is tied.
    public func layout(_ c: ModelConfig) -> [(spec: TensorSpec, layer: Int)] {
        let perLayer = tensors.filter(\.role.isPerLayer).flatMap { s -> [TensorSpec] in
            guard s.role.isPerExpert else { return [s] }
            return (0..<(expertCount ?? 0)).map { e in var x = s; x.expert = e; return x }
        }
        guard let firstLayerIndex = tensors.firstIndex(where: \.role.isPerLayer) else {
            return tensors.filter { included($0, c) }.map { ($0, 0) }
        }
        var out: [(spec: TensorSpec, layer: Int)] = tensors[..<firstLayerIndex].filter { included($0, c) }.map { ($0, 0) }
        for l in 0..<c.layerCount { out += perLayer.map { ($0, l) } }
        out += tensors[firstLayerIndex...].filter { !$0.role.isPerLayer && included($0, c) }.map { ($0, 0) }
        return out
    }

    private func included(_ s: TensorSpec, _ c: ModelConfig) -> Bool { !(s.role == .output && c.tiedEmbeddings) }
}

/// The file formats whose names the table records.
public enum TensorFormat: Sendable {
    /// The engine's keys: Meta's `consolidated.pth` names.
    case canonical
    /// llama.cpp's GGUF names.
    case gguf
    /// The transformers state dict (safetensors).
    case huggingFace

    /// The table's name of `spec` in this format (without the layer prefix), and the rows it
    /// takes in a fused tensor.
    public func formatName(_ spec: TensorSpec) -> FormatName {
        switch self {
        case .canonical: return FormatName(spec.role.canonicalSuffix)
        case .gguf: return spec.gguf
        case .huggingFace: return spec.huggingFace
        }
    }
}

extension Architecture {
    /// What comes before a per-layer tensor's own name in `format`, without the layer number
    /// (`blk.`, `model.layers.`).
    public func layerStem(_ format: TensorFormat) -> String {
        switch format {
        case .canonical: return TensorRole.canonicalLayerStem
        case .gguf: return "blk."
        case .huggingFace: return huggingFaceLayerStem
        }
    }

    /// The full name of `spec` for `layer` in `format`.
    public func name(_ spec: TensorSpec, layer: Int, in format: TensorFormat) -> String {
        let f = format.formatName(spec)
        let own = f.stacksExperts ? f.name : TensorSpec.fillExpert(f.name, spec.expert)
        return spec.role.isPerLayer ? "\(layerStem(format))\(layer).\(own)" : own
    }

    /// Every spec stored in the same file tensor as `spec` in `format` (itself alone when
    /// not fused), in row order.
    /// A stack of experts (GGUF `ffn_up_exps`) holds the role's spec for every expert.
    public func fusedGroup(_ spec: TensorSpec, in format: TensorFormat) -> [TensorSpec] {
        let own = format.formatName(spec)
        if own.stacksExperts, spec.role.isPerExpert {
            return (0..<(expertCount ?? 0)).map { e in var x = spec; x.expert = e; return x }
        }
        guard own.rowOffset != nil else { return [spec] }
        return tensors.filter { $0.role.isPerLayer == spec.role.isPerLayer && format.formatName($0).name == own.name }
    }

    /// The shape of the file tensor `spec` is stored in (PyTorch order, before any
    /// transposition): a fused tensor has the rows of all its parts, a stack of experts is
    /// `[experts, rows, columns]`.
    public func storedShape(_ spec: TensorSpec, in format: TensorFormat, _ c: ModelConfig) -> [Int] {
        var shape = spec.shape(c)
        if format.formatName(spec).stacksExperts, spec.role.isPerExpert { return [expertCount ?? 0] + shape }
        if format.formatName(spec).rowOffset != nil, !shape.isEmpty {
            shape[0] = fusedGroup(spec, in: format).reduce(0) { $0 + ($1.shape(c).first ?? 0) }
        }
        return shape
    }

    /// The rows `spec` takes of the fused tensor it is stored in under `c` in `format` (for
    /// stacked experts, of the tensor seen as `[experts · rows, columns]`); nil when it is a
    /// tensor of its own.
    public func rows(_ spec: TensorSpec, in format: TensorFormat, _ c: ModelConfig) -> Range<Int>? {
        let f = format.formatName(spec)
        guard let rows = spec.shape(c).first else { return nil }
        if f.stacksExperts, let e = spec.expert { return (e * rows)..<((e + 1) * rows) }
        guard let offset = f.rowOffset else { return nil }
        let start = offset.reduce(0) { $0 + $1.size(c) }
        return start..<(start + rows)
    }

    /// The tensors a file name holds in `format` (several for a fused tensor), or none when it
    /// is not one of this architecture's weights. The layer number must be written plainly
    /// (`blk.3.`, not `blk.03.`); whether the layer exists is the caller's check.
    public func locate(_ name: String, in format: TensorFormat) -> [(spec: TensorSpec, layer: Int)] {
        let global = tensors.filter { !$0.role.isPerLayer && format.formatName($0).name == name }
        if !global.isEmpty { return global.map { ($0, 0) } }
        let stem = layerStem(format)
        guard name.hasPrefix(stem) else { return [] }
        let rest = name.dropFirst(stem.count)
        guard let dot = rest.firstIndex(of: "."), let l = Int(rest[..<dot]), l >= 0, String(l) == rest[..<dot] else { return [] }
        let own = String(rest[rest.index(after: dot)...])
        var found: [(spec: TensorSpec, layer: Int)] = []
        for s in tensors where s.role.isPerLayer {
            let f = format.formatName(s)
            if !s.role.isPerExpert {
                if f.name == own { found.append((s, l)) }
            } else if f.stacksExperts {
                if f.name == own { found += (0..<(expertCount ?? 0)).map { e in var x = s; x.expert = e; return (x, l) } }
            } else if let e = Self.expertNumber(own, pattern: f.name) {
                var x = s
                x.expert = e
                found.append((x, l))
            }
        }
        return found
    }

    /// The expert number of `name` written as `pattern` (with `TensorRole.expertMark`), or nil.
    static func expertNumber(_ name: String, pattern: String) -> Int? {
        let parts = pattern.components(separatedBy: TensorRole.expertMark)
        guard parts.count == 2, name.hasPrefix(parts[0]), name.hasSuffix(parts[1]),
              name.count > parts[0].count + parts[1].count else { return nil }
        let digits = name.dropFirst(parts[0].count).dropLast(parts[1].count)
        guard let e = Int(digits), e >= 0, String(e) == digits else { return nil }
        return e
    }
}

extension Architecture {
    /// Llama 1/2/3 as Meta, llama.cpp and transformers write it.
    public static let llama = Architecture(name: "llama", huggingFaceClass: "LlamaForCausalLM", tensors: [
        TensorSpec(.tokenEmbedding, [.vocabulary, .model], gguf: "token_embd.weight", huggingFace: "model.embed_tokens.weight"),
        TensorSpec(.attentionNorm, [.model], gguf: "attn_norm.weight", huggingFace: "input_layernorm.weight"),
        TensorSpec(.wq, [.query, .model], gguf: "attn_q.weight", huggingFace: "self_attn.q_proj.weight",
                   huggingFacePermutedHeads: .query),
        TensorSpec(.wk, [.keyValue, .model], gguf: "attn_k.weight", huggingFace: "self_attn.k_proj.weight",
                   huggingFacePermutedHeads: .keyValue),
        TensorSpec(.wv, [.keyValue, .model], gguf: "attn_v.weight", huggingFace: "self_attn.v_proj.weight"),
        TensorSpec(.wo, [.model, .query], gguf: "attn_output.weight", huggingFace: "self_attn.o_proj.weight"),
        TensorSpec(.ffnNorm, [.model], gguf: "ffn_norm.weight", huggingFace: "post_attention_layernorm.weight"),
        TensorSpec(.gate, [.hidden, .model], gguf: "ffn_gate.weight", huggingFace: "mlp.gate_proj.weight"),
        TensorSpec(.down, [.model, .hidden], gguf: "ffn_down.weight", huggingFace: "mlp.down_proj.weight"),
        TensorSpec(.up, [.hidden, .model], gguf: "ffn_up.weight", huggingFace: "mlp.up_proj.weight"),
        TensorSpec(.finalNorm, [.model], gguf: "output_norm.weight", huggingFace: "model.norm.weight"),
        TensorSpec(.output, [.vocabulary, .model], gguf: "output.weight", huggingFace: "lm_head.weight"),
    ])
}
