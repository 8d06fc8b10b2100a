import Foundation
// A GGUF model file as a Checkpoint.
//
// Configuration comes from `<arch>.*` metadata (arch = `general.architecture`, one of
// `Architecture.all`): embedding_length, block_count, attention.head_count,
//   attention.head_count_kv (default: head_count), feed_forward_length,
//   attention.layer_norm_rms_epsilon (LayerNorm architectures: attention.layer_norm_epsilon),
//   rope.freq_base (default 10000), context_length, attention.key_length / value_length (head
//   size, where the architecture allows one apart from dim / heads), attn_logit_softcapping,
//   final_logit_softcapping, attention.sliding_window (+ sliding_window_pattern),
//   attention.scale; the vocabulary size is token_embd's row count.
// A fused tensor (GPT-2 attn_qkv, already [out, in] rows as the converter writes it) must hold
// exactly its parts' rows; each part is a zero-copy row range.
// Tensor names map onto the canonical (Meta) names through the architecture's table
// (`Architecture.llama`: token_embd.weight → tok_embeddings.weight, blk.N.attn_q.weight →
// layers.N.attention.wq.weight, …); output.weight absent means tied to the embedding.
// GGUF dimensions are fastest-varying first, so [columns, rows] becomes shape [rows, columns].
// llama.cpp's converter keeps q/k rows in Meta's interleaved RoPE layout for llama, and
// transformers' rotate-half rows for the NEOX-style architectures (Gemma): nothing to undo.
// Llama 3.1 rope scaling travels as `rope_freqs.weight`, one divisor per frequency pair.

/// Why a GGUF file cannot be used as a model.
public enum GGUFCheckpointError: Error, CustomStringConvertible {
    case unknownTensorType(path: String, tensor: String, typeID: UInt32)
    case missingTensor(path: String, tensor: String)
    case badValue(path: String, key: String, message: String)
    case unsupportedArchitecture(path: String, architecture: String)

    public var description: String {
        switch self {
        case let .unknownTensorType(path, tensor, id):
            return "\(path): tensor \(tensor) has ggml type id \(id), which this reader does not know"
        case let .missingTensor(path, tensor):
            return "\(path): the model has no tensor \(tensor)"
        case let .badValue(path, key, message):
            return "\(path): \(key): \(message)"
        case let .unsupportedArchitecture(path, arch):
            return "\(path): general.architecture is \"\(arch)\"; supported: \(Architecture.supportedGGUFNames)"
        }
    }
}

/// A GGUF model file as a `Checkpoint` (tensors memory-mapped, tokenizer from metadata).
public final class GGUFCheckpoint: Checkpoint, TokenizerLoadReporting, LongRopeCarrying, @unchecked Sendable {
    public let path: String
    public let config: ModelConfig
    /// Phi-3's LongRoPE (`rope_factors_short/long.weight`): its short factors are the RoPE divisors.
    public let longRope: LongRopeScaling?
    /// The embedded vocabulary, built on first use: a 128k-token vocabulary costs tens of
    /// MB while it is parsed, which a run on token ids (or `llama bench`) never needs.
    public var tokenizer: (any Tokenizer)? { loadTokenizer().tokenizer }
    /// Why the embedded tokenizer could not be loaded (the weights stay usable with ids).
    public var tokenizerError: (any Error)? { loadTokenizer().error }
    private let tokenizerLock = NSLock()
    private var tokenizerLoaded: (tokenizer: (any Tokenizer)?, error: (any Error)?)?
    public var chatTemplates: [String: String] { (try? ModelChatTemplates.fromGGUF(file))?.templates ?? [:] }
    /// The parsed file (metadata and the memory map the tensors point into); of a split
    /// GGUF, the first shard, which holds the metadata.
    public let file: GGUFFile
    /// Every file of the model: `file` alone, or the shards of a split GGUF in order (see
    /// GGUFSplit.swift), each tensor read from its own shard's memory map.
    public let shards: [GGUFFile]
    /// GGUF tensor infos by canonical name (plus `rope_freqs.weight` under its own name),
    /// with the table entry that named them and the shard that holds them.
    private let byCanonicalName: [String: (info: GGUFTensorInfo, spec: TensorSpec?, file: GGUFFile)]

    static let ropeFreqsName = "rope_freqs.weight"

    /// Opens and memory-maps `path` (of a split GGUF, the first shard: the others are opened
    /// beside it); reads the configuration and the embedded vocabulary.
    public convenience init(path: String) throws {
        try self.init(file: GGUFFile(path: path))
    }

    /// A checkpoint over an already parsed file (of a split GGUF, the first shard). Throws for
    /// unknown tensor types, for missing or inconsistent shards and for missing or
    /// inconsistent `llama.*` metadata.
    public init(file: GGUFFile) throws {
        self.file = file
        let path = file.path
        self.path = path
        let shards = try GGUFSplit.shards(first: file)
        self.shards = shards

        for shard in shards {
            for info in shard.tensors where info.type == nil {
                throw GGUFCheckpointError.unknownTensorType(path: shard.path, tensor: info.name, typeID: info.rawType)
            }
        }
        let arch = (try? file.string("general.architecture")) ?? "llama"
        guard var architecture = Architecture.named(gguf: arch) else {
            throw GGUFCheckpointError.unsupportedArchitecture(path: path, architecture: arch)
        }
        func key(_ k: String) -> String { "\(arch).\(k)" }
        func positive(_ k: String) throws -> Int {
            let v = try file.int(key(k))
            guard v > 0, v <= 1 << 30 else { throw GGUFCheckpointError.badValue(path: path, key: key(k), message: "must be a positive integer, got \(v)") }
            return v
        }
        // llama.cpp writes Mixtral as `llama` with an expert count (and Mistral as plain
        // `llama`, without its window: such a file runs with full attention, as in llama.cpp).
        if let experts = try file.optionalInt(key("expert_count")), experts > 0 {
            guard arch == Architecture.mixtral.ggufArchitecture else {
                throw GGUFCheckpointError.badValue(path: path, key: key("expert_count"),
                                                   message: "mixture-of-experts \(arch) models are not supported (supported: Mixtral, written as llama)")
            }
            let used = try positive("expert_used_count")
            guard experts <= 1 << 12, used <= experts else {
                throw GGUFCheckpointError.badValue(path: path, key: key("expert_used_count"), message: "\(used) of \(experts) experts")
            }
            architecture = .mixtral
            architecture.expertCount = experts
            architecture.expertsPerToken = used
        }
        var map: [String: (info: GGUFTensorInfo, spec: TensorSpec?, file: GGUFFile)] = [:]
        for shard in shards {
            for info in shard.tensors {
                let held = architecture.locate(info.name, in: .gguf)
                if held.isEmpty { map[info.name] = (info, nil, shard) }
                for (spec, layer) in held { map[spec.canonicalName(layer: layer)] = (info, spec, shard) }
            }
        }
        byCanonicalName = map

        let dim = try positive("embedding_length")
        let layers = try positive("block_count")
        let heads = try positive("attention.head_count")
        let kvHeads = try file.optionalInt(key("attention.head_count_kv")) ?? heads
        let hidden = try positive("feed_forward_length")
        let epsKey = architecture.norm == .layerNorm ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon"
        let eps = try file.double(key(epsKey))
        let theta = file.metadata[key("rope.freq_base")] != nil ? try file.double(key("rope.freq_base")) : 10000
        let context = try file.optionalInt(key("context_length")) ?? 2048
        // llama.cpp's head size keys (Gemma's differ from dim / heads); values must match keys.
        let headDim = file.metadata[key("attention.key_length")] != nil ? try positive("attention.key_length") : nil
        if let hd = headDim, !architecture.separateHeadSize, dim % heads != 0 || hd != dim / heads {
            throw GGUFCheckpointError.badValue(path: path, key: key("attention.key_length"),
                                               message: "\(hd) differs from embedding_length / head_count = \(dim) / \(heads); a separate head size is not supported for \(arch)")
        }
        if let valueLength = try file.optionalInt(key("attention.value_length")), valueLength != (headDim ?? dim / heads) {
            throw GGUFCheckpointError.badValue(path: path, key: key("attention.value_length"),
                                               message: "\(valueLength) differs from the key length \(headDim ?? dim / heads), which this engine does not support")
        }
        guard headDim != nil || dim % heads == 0, architecture.learnedPositions || (headDim ?? dim / heads) % 2 == 0 else {
            throw GGUFCheckpointError.badValue(path: path, key: key("attention.head_count"), message: "\(heads) heads do not divide embedding_length \(dim) into even-sized heads")
        }
        if !architecture.learnedPositions, let rotated = try file.optionalInt(key("rope.dimension_count")), rotated != (headDim ?? dim / heads) {
            throw GGUFCheckpointError.badValue(path: path, key: key("rope.dimension_count"),
                                               message: "RoPE on \(rotated) of \(headDim ?? dim / heads) dimensions per head (partial rotary) is not supported")
        }
        // Phi-3's LongRoPE, as llama.cpp's converter writes it (see LongRope.swift).
        var longRope: LongRopeScaling? = nil
        if let short = map["rope_factors_short.weight"] {
            guard let long = map["rope_factors_long.weight"] else {
                throw GGUFCheckpointError.missingTensor(path: path, tensor: "rope_factors_long.weight")
            }
            guard let original = try file.optionalInt(key("rope.scaling.original_context_length")), original > 0 else {
                throw GGUFCheckpointError.badValue(path: path, key: key("rope.scaling.original_context_length"), message: "missing, but the file has rope_factors_short.weight")
            }
            let af = file.metadata[key("rope.scaling.attn_factor")] != nil ? try file.double(key("rope.scaling.attn_factor"))
                : LongRopeScaling.defaultAttentionFactor(context: context, original: original)
            let lr = LongRopeScaling(shortFactors: try GGUFCheckpoint.floats(short.file, short.info, path: path),
                                     longFactors: try GGUFCheckpoint.floats(long.file, long.info, path: path),
                                     originalContext: original, context: context, attentionFactor: Float(af))
            let half = (headDim ?? dim / heads) / 2
            guard lr.shortFactors.count == half, lr.longFactors.count == half, af.isFinite, af > 0 else {
                throw GGUFCheckpointError.badValue(path: path, key: "rope_factors_short.weight",
                    message: "\(lr.shortFactors.count) short and \(lr.longFactors.count) long factors, expected \(half) each (attn_factor \(af))")
            }
            longRope = lr
        }
        self.longRope = longRope
        try GGUFCheckpoint.readAttentionVariations(file, into: &architecture, layers: layers, dim: dim, heads: heads,
                                                   headDim: headDim ?? dim / heads, path: path)
        guard kvHeads > 0, heads % kvHeads == 0 else {
            throw GGUFCheckpointError.badValue(path: path, key: key("attention.head_count_kv"), message: "\(kvHeads) must divide head_count \(heads)")
        }
        guard eps > 0, eps < 1 else {
            throw GGUFCheckpointError.badValue(path: path, key: key("attention.layer_norm_rms_epsilon"), message: "\(eps) is not a small positive number")
        }
        guard let embd = map[TensorName.embedding]?.info else {
            throw GGUFCheckpointError.missingTensor(path: path, tensor: GGUFCheckpoint.fileName(TensorName.embedding, architecture))
        }
        guard embd.dimensions.count == 2, embd.dimensions[0] == dim else {
            throw GGUFCheckpointError.badValue(path: path, key: "token_embd.weight", message: "dimensions \(embd.dimensions) do not match embedding_length \(dim)")
        }
        let vocab = embd.dimensions[1]

        // Scaling parameters, when a converter wrote them as metadata; the divisors in
        // rope_freqs.weight (if any) take precedence when the model is built.
        var scaling: RopeScaling? = nil
        if let type = try? file.string(key("rope.scaling.type")), type == "llama3",
           let f = try? file.double(key("rope.scaling.factor")) {
            scaling = RopeScaling(
                factor: Float(f),
                lowFreqFactor: Float((try? file.double(key("rope.scaling.low_freq_factor"))) ?? 1),
                highFreqFactor: Float((try? file.double(key("rope.scaling.high_freq_factor"))) ?? 4),
                originalContext: (try? file.int(key("rope.scaling.original_context_length"))) ?? 8192)
        }

        // Other scaling types (linear, yarn) change the RoPE angles at every length: refused
        // rather than run with plain RoPE (llama.cpp's converter writes them for configs with
        // rope_scaling linear / yarn; Llama 3.1's scaling travels as rope_freqs.weight).
        if let type = try? file.string(key("rope.scaling.type")), type != "none", type != "llama3" {
            let factor = (try? file.double(key("rope.scaling.factor"))) ?? 1
            if factor != 1 && factor != 0 {
                throw GGUFCheckpointError.badValue(path: path, key: key("rope.scaling.type"),
                    message: "RoPE scaling \"\(type)\" (factor \(factor)) is not supported; supported: none, llama3 (or rope_freqs.weight)")
            }
        }
        // LongRoPE runs its short factors, within the context they serve (an explicit
        // attention.scale, as this engine's own export leaves out, would win).
        if let lr = longRope, architecture.attentionScale == nil, lr.attentionFactor != 1 {
            architecture.attentionScale = lr.queryScale(headDim: headDim ?? dim / heads)
        }
        let c = ModelConfig(dim: dim, layerCount: layers, headCount: heads, kvHeadCount: kvHeads, hiddenDim: hidden,
                            vocabSize: vocab, normEps: Float(eps), ropeTheta: Float(theta), ropeScaling: scaling,
                            maxContext: longRope.map { min(context, $0.originalContext) } ?? context, tiedEmbeddings: map[TensorName.output] == nil,
                            architecture: architecture, headDim: headDim)
        // A fused tensor (GPT-2 attn_qkv) must hold exactly the rows of its parts, a stack of
        // experts (ffn_up_exps) exactly the expert count's; checked in layout order.
        let byName = Dictionary(shards.flatMap(\.tensors).map { ($0.name, $0) }, uniquingKeysWith: { x, _ in x })
        var checked = Set<String>()
        for (spec, layer) in c.tensorLayout where architecture.rows(spec, in: .gguf, c) != nil {
            let name = architecture.name(spec, layer: layer, in: .gguf)
            guard checked.insert(name).inserted else { continue }
            let stacked = TensorFormat.gguf.formatName(spec).stacksExperts
            guard let info = byName[name] else {
                // Files converted before llama.cpp stacked the experts (early 2024) hold one
                // tensor per expert, `blk.N.ffn_gate.E.weight`; the llama.cpp this engine
                // follows (llama-cpp-python 0.3.36) requires the stacked form too.
                let perExpert = name.replacingOccurrences(of: "_exps.weight", with: ".0.weight")
                if stacked, perExpert != name, byName[perExpert] != nil {
                    throw GGUFCheckpointError.badValue(path: path, key: name,
                        message: "missing: this file stores the experts one tensor each (\(perExpert), …), the layout llama.cpp wrote before it stacked them in \(name); llama.cpp no longer loads it either: convert the model again with llama.cpp's convert_hf_to_gguf.py, or run its Hugging Face folder")
                }
                if stacked { throw GGUFCheckpointError.missingTensor(path: path, tensor: name) }
                continue  // named when the model asks for it
            }
            let expected = architecture.storedShape(spec, in: .gguf, c), shape = Array(info.dimensions.reversed())
            guard shape != expected else { continue }
            if stacked {
                throw GGUFCheckpointError.badValue(path: path, key: name,
                    message: "has shape \(shape), expected \(expected) for \(architecture.expertCount ?? 0) experts (\(key("expert_count")))")
            }
            throw CheckpointTensorError.wrongFusedShape(path: path, tensor: name, shape: shape, expected: expected,
                                                        parts: architecture.fusedGroup(spec, in: .gguf).map { $0.canonicalName() })
        }
        config = c
    }

    /// The GGUF name of canonical tensor `canonical` under `architecture` (itself if unknown).
    static func fileName(_ canonical: String, _ architecture: Architecture) -> String {
        let located = architecture.locate(canonical, in: .canonical)
        guard let (spec, layer) = located.first else { return canonical }
        return architecture.name(spec, layer: layer, in: .gguf)
    }

    /// Soft-capping (`<arch>.attn_logit_softcapping`, `.final_logit_softcapping`), the sliding
    /// window (`.attention.sliding_window`, on the layers the architecture's pattern picks, as
    /// llama.cpp does) and the query scale (`.attention.scale`, else llama.cpp's rule).
    static func readAttentionVariations(_ file: GGUFFile, into a: inout Architecture, layers: Int, dim: Int, heads: Int,
                                        headDim: Int, path: String) throws {
        func positive(_ k: String) throws -> Double? {
            let key = "\(a.ggufArchitecture).\(k)"
            guard file.metadata[key] != nil else { return nil }
            let v = try file.double(key)
            guard v.isFinite, v > 0 else { throw GGUFCheckpointError.badValue(path: path, key: key, message: "must be positive, got \(v)") }
            return v
        }
        a.attentionSoftCap = try positive("attn_logit_softcapping").map(Float.init) ?? a.ggufDefaultAttentionSoftCap
        a.logitSoftCap = try positive("final_logit_softcapping").map(Float.init) ?? a.ggufDefaultLogitSoftCap
        if let s = try positive("attention.scale") {
            a.attentionScale = Float(s)
        } else if a.scalesQueriesByQueryPreAttnScalar {
            a.attentionScale = Architecture.queryScale(Double(a.ggufScaleByDimPerHeadAtLayerCounts.contains(layers) ? dim / heads : headDim))
        }
        // A window of 0 is none (llama.cpp's converter writes Phi-3's null window so); a file
        // without the key runs with full attention (llama.cpp's converter drops Mistral's).
        let windowKey = "\(a.ggufArchitecture).attention.sliding_window"
        let noWindow = try file.metadata[windowKey] != nil && file.double(windowKey) == 0
        if !noWindow, let w = try positive("attention.sliding_window") ?? a.ggufDefaultSlidingWindow.map(Double.init) {
            guard w.rounded() == w, w < 1e9 else {
                throw GGUFCheckpointError.badValue(path: path, key: windowKey, message: "expected an integer, got \(w)")
            }
            // llama.cpp's `sliding_window_pattern`: one bool per layer, or the period.
            let patternKey = "\(a.ggufArchitecture).attention.sliding_window_pattern"
            if case let .array(items)? = file.metadata[patternKey] {
                let flags = items.map { $0.bool ?? ($0.int.map { $0 != 0 }) }
                guard flags.count == layers, flags.allSatisfy({ $0 != nil }) else {
                    throw GGUFCheckpointError.badValue(path: path, key: patternKey, message: "expected \(layers) booleans, one per layer")
                }
                a.slidingWindow = flags.map { $0 == true ? Int(w) : nil }
            } else {
                if let p = try file.optionalInt(patternKey) { a.slidingWindowPattern = p }
                a.slidingWindow = a.slidingWindows(size: Int(w), layers: layers)
            }
            if a.slidingWindow?.allSatisfy({ $0 == nil }) == true { a.slidingWindow = nil }
        }
    }

    private func loadTokenizer() -> (tokenizer: (any Tokenizer)?, error: (any Error)?) {
        tokenizerLock.lock()
        defer { tokenizerLock.unlock() }
        if let done = tokenizerLoaded { return done }
        let result: (tokenizer: (any Tokenizer)?, error: (any Error)?)
        do {
            result = (try TokenizerLoader.load(gguf: file), nil)
        } catch {
            result = (nil, error)
        }
        tokenizerLoaded = result
        return result
    }

    /// A tensor by canonical name, pointing into the memory map (no copy).
    public func tensor(_ name: String) throws -> WeightTensor {
        guard let (info, spec, shard) = byCanonicalName[name], let type = info.type else {
            throw GGUFCheckpointError.missingTensor(path: path, tensor: GGUFCheckpoint.fileName(name, config.architecture))
        }
        // GGUF lists dimensions fastest-first; PyTorch shapes are slowest-first. A stack of
        // experts' matrices is seen as one matrix of all their rows, to be sliced below.
        var shape = Array(info.dimensions.reversed())
        if let spec, spec.expert != nil, shape.count == 3 { shape = [shape[0] * shape[1], shape[2]] }
        let whole = WeightTensor(name: name, type: type, shape: shape, data: shard.data(of: info), owner: shard)
        guard let spec, let range = config.architecture.rows(spec, in: .gguf, config) else { return whole }
        guard let part = whole.rows(range) else {
            throw GGUFCheckpointError.badValue(path: path, key: info.name, message: "has no rows \(range) for \(name)")
        }
        return part
    }

    /// The `rope_freqs.weight` divisors (Llama 3.1 scaling), if the file has them.
    public func ropeFrequencyFactors() throws -> [Float]? {
        guard let entry = byCanonicalName[GGUFCheckpoint.ropeFreqsName] else { return longRope?.shortFactors }
        return try GGUFCheckpoint.floats(entry.file, entry.info, path: path)
    }

    /// A small tensor's values as Float (rope_freqs, rope_factors_*).
    static func floats(_ file: GGUFFile, _ info: GGUFTensorInfo, path: String) throws -> [Float] {
        guard let type = info.type, type.isSupportedByKernels else {
            throw GGUFCheckpointError.badValue(path: path, key: info.name, message: "type \(info.type?.name ?? "?") is not supported")
        }
        let n = info.elementCount
        var out = [Float](repeating: 0, count: n)
        let data = file.data(of: info)
        if let base = data.baseAddress {
            out.withUnsafeMutableBufferPointer { dst in
                if let d = dst.baseAddress { dequantizeRow(type, base, d, count: n) }
            }
        }
        return out
    }
}
