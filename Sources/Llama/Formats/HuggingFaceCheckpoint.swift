import Foundation

// Hugging Face Llama directory, as this reader enforces it:
//
//   config.json                        LlamaConfig: hidden_size, num_hidden_layers,
//                                      num_attention_heads, num_key_value_heads (default: heads),
//                                      intermediate_size, vocab_size, rms_norm_eps,
//                                      max_position_embeddings, rope_theta (default 10000),
//                                      rope_scaling (null, "default", or "llama3" with factor,
//                                      low_freq_factor, high_freq_factor,
//                                      original_max_position_embeddings; newer files put
//                                      these and rope_theta in rope_parameters), tie_word_embeddings
//                                      (default false), head_dim (optional; must be hidden/heads)
//   model.safetensors                  all tensors, or
//   model.safetensors.index.json       {"weight_map": {"<tensor>": "<shard file>"}} with the shards
//   tokenizer.json                     optional (Hugging Face tokenizers), read first
//   tokenizer.model                    optional (SentencePiece or tiktoken), also original/tokenizer.model
//
// Tensor names and their Meta (canonical) names are in the architecture's table
// (`Architecture.llama`: model.embed_tokens.weight → tok_embeddings.weight,
// model.layers.N.self_attn.q_proj.weight → layers.N.attention.wq.weight, …); lm_head.weight
// is absent or ignored when tied.
//
// Other architectures (`model_type`, see `Architecture.all`) spell some keys their own way
// (GPT-2: n_embd, n_layer, n_head, n_inner, n_positions, layer_norm_epsilon) and add their
// own: head_dim, sliding_window / layer_types / use_sliding_window, attn_logit_softcapping,
// final_logit_softcapping, query_pre_attn_scalar. Their tensors may be fused (GPT-2 c_attn:
// checked against the sum of its parts, then zero-copy row ranges), stored transposed
// (GPT-2's Conv1D [in, out]: transposed once here into owned memory), or (1 + w) norms stored
// as w (Gemma: 1 is added here, into owned memory).
//
// HF's conversion permutes q_proj/k_proj rows so that "rotate half" RoPE pairs dimension i
// with i + headDim/2. Within each head, HF row i < headDim/2 is Meta row 2i and HF row
// headDim/2 + i is Meta row 2i + 1; this reader undoes that into an owned buffer so every
// format hands the model Meta's interleaved pairs. Everything else stays memory-mapped.

/// Why a Hugging Face checkpoint directory could not be read.
public enum HuggingFaceError: Error, CustomStringConvertible, Equatable {
    case missingFile(path: String, expected: String)
    case missingKey(path: String, key: String)
    case badValue(path: String, key: String, message: String)
    case unsupported(path: String, message: String)
    case badIndex(path: String, message: String)
    case unknownTensor(path: String, tensor: String, architecture: String)

    public var description: String {
        switch self {
        case let .missingFile(path, expected): return "\(path): \(expected)"
        case let .missingKey(path, key): return "\(path): required key \"\(key)\" is missing"
        case let .badValue(path, key, message): return "\(path): key \"\(key)\": \(message)"
        case let .unsupported(path, message): return "\(path): \(message)"
        case let .badIndex(path, message): return "\(path): \(message)"
        case let .unknownTensor(path, tensor, architecture):
            return "\(path): tensor \"\(tensor)\" is not part of a \(architecture) model"
        }
    }
}

/// A Hugging Face Llama checkpoint directory (config.json + safetensors).
public final class HuggingFaceCheckpoint: Checkpoint, TensorTableCheckpoint, TokenizerLoadReporting, LongRopeCarrying, @unchecked Sendable {
    public let path: String
    public let config: ModelConfig
    /// Phi-3's LongRoPE (config.json `rope_scaling` longrope): its short factors are the RoPE divisors.
    public let longRope: LongRopeScaling?
    public func ropeFrequencyFactors() throws -> [Float]? { longRope?.shortFactors }
    public let tokenizer: (any Tokenizer)?
    /// Why a `tokenizer.model` found beside the weights could not be loaded, if it could not.
    public let tokenizerError: (any Error)?
    public var chatTemplates: [String: String] { (try? ModelChatTemplates.fromHuggingFace(directory: path))?.templates ?? [:] }
    let tensors: [String: WeightTensor]

    /// Reads `config.json` and maps the safetensors in directory `path`.
    public init(path: String) throws {
        self.path = path
        let configPath = path + "/config.json"
        guard FileManager.default.fileExists(atPath: configPath) else {
            throw HuggingFaceError.missingFile(path: path, expected: "no config.json in this directory")
        }
        let configData: Data
        do { configData = try Data(contentsOf: URL(fileURLWithPath: configPath)) } catch {
            throw FileError.cannotOpen(path: configPath, reason: "\(error)")
        }
        let parsed = try HuggingFaceCheckpoint.parseConfig(configData, path: configPath)

        // Shards: one file, or an index naming the file of each tensor.
        var files: [SafetensorsFile] = []
        let single = path + "/model.safetensors"
        let indexPath = path + "/model.safetensors.index.json"
        if FileManager.default.fileExists(atPath: single) {
            files = [try SafetensorsFile(path: single)]
        } else if FileManager.default.fileExists(atPath: indexPath) {
            let shardNames = try HuggingFaceCheckpoint.shardNames(indexPath: indexPath)
            for name in shardNames { files.append(try SafetensorsFile(path: path + "/" + name)) }
        } else {
            throw HuggingFaceError.missingFile(path: path, expected: "neither model.safetensors nor model.safetensors.index.json in this directory")
        }

        var hfTensors: [String: (SafetensorsFile, SafetensorsTensorInfo)] = [:]
        for f in files {
            for t in f.tensors {
                if let previous = hfTensors[t.name] {
                    throw HuggingFaceError.badIndex(path: f.path, message: "tensor \"\(t.name)\" is also in \(previous.0.path)")
                }
                hfTensors[t.name] = (f, t)
            }
        }

        longRope = parsed.longRope
        var c = parsed.config
        let outputName = c.architecture.spec(.output).map { c.architecture.name($0, layer: 0, in: .huggingFace) }
        c.tiedEmbeddings = parsed.tieWordEmbeddings || outputName.map { hfTensors[$0] == nil } ?? true
        try CheckpointSupport.checkConfig(c) { HuggingFaceError.unsupported(path: configPath, message: $0) }
        config = c

        let a = c.architecture
        var out: [String: WeightTensor] = [:]
        for (name, (file, _)) in hfTensors {
            if name.hasSuffix("rotary_emb.inv_freq") || a.huggingFaceIgnoredSuffixes.contains(where: name.hasSuffix) {
                continue  // buffers: inverse frequencies recomputed from rope_theta, causal masks
            }
            var held = a.locate(name, in: .huggingFace)
            if held.isEmpty, let prefix = a.huggingFaceOptionalPrefix { held = a.locate(prefix + name, in: .huggingFace) }
            held = held.filter { $0.layer < c.layerCount }
            if held.isEmpty { throw HuggingFaceError.unknownTensor(path: file.path, tensor: name, architecture: a.name) }
            if let e = held.compactMap(\.spec.expert).first, e >= a.expertCount ?? 0 {
                throw HuggingFaceError.badValue(path: file.path, key: name,
                    message: "is the weight of expert \(e), but config.json num_local_experts is \(a.expertCount ?? 0)")
            }
            guard let first = held.first?.spec, !(first.role == .output && c.tiedEmbeddings) else { continue }
            // One file tensor, prepared once for all the roles it holds.
            var whole = try file.weight(name, as: name)
            if first.huggingFaceTransposed { whole = try CheckpointSupport.transposed(whole, path: file.path, fileName: name) }
            for (spec, layer) in held {
                let canonical = spec.canonicalName(layer: layer)
                var w = try CheckpointSupport.part(spec, of: whole, in: .huggingFace, config: c, path: file.path, fileName: name)
                w = WeightTensor(name: canonical, type: w.type, shape: w.shape, data: w.data, owner: w.owner)
                if spec.role.isNormWeight, a.huggingFaceNormOffset != 0 { w = CheckpointSupport.adding(a.huggingFaceNormOffset, to: w) }
                if let heads = spec.huggingFacePermutedHeads, a.ropeLayout == .interleaved {
                    w = try HuggingFaceCheckpoint.unpermute(w, heads: heads.count(c), path: file.path, hfName: name)
                }
                out[canonical] = w
            }
        }
        try CheckpointSupport.validate(out, config: c, path: path, format: .huggingFace)
        tensors = out

        let tok = CheckpointSupport.tokenizerBeside([path + "/tokenizer.json", path + "/tokenizer.model", path + "/original/tokenizer.model"])
        tokenizer = tok.tokenizer
        tokenizerError = tok.error
    }


    // MARK: config.json

    /// What a config.json says about the model, before the weights are looked at.
    public struct ParsedConfig: Sendable {
        /// The model's shape and hyperparameters.
        public var config: ModelConfig
        /// `tie_word_embeddings` (a missing `lm_head.weight` also ties them, decided later).
        public var tieWordEmbeddings: Bool
        /// Phi-3's LongRoPE, when `rope_scaling` says so.
        public var longRope: LongRopeScaling? = nil
    }

    /// Decodes and validates a config.json; `path` names the file in errors.
    public static func parseConfig(_ data: Data, path: String) throws -> ParsedConfig {
        let any: Any
        do { any = try JSONSerialization.jsonObject(with: data, options: []) } catch {
            throw HuggingFaceError.unsupported(path: path, message: "not valid JSON")
        }
        guard var json = any as? [String: Any] else {
            throw HuggingFaceError.unsupported(path: path, message: "not a JSON object")
        }
        func value(_ key: String, in dict: [String: Any]) -> Any? {
            guard let v = dict[key], !(v is NSNull) else { return nil }
            return v
        }
        let modelType = value("model_type", in: json) as? String ?? Architecture.llama.name
        guard var architecture = Architecture.named(modelType) else {
            throw HuggingFaceError.unsupported(path: path, message: "model_type is \"\(modelType)\"; supported: \(Architecture.supportedNames)")
        }
        // The architecture's own spellings of the common keys (GPT-2's n_embd, …).
        for (common, own) in architecture.huggingFaceConfigKeys where json[common] == nil { json[common] = json[own] }
        func shown(_ key: String) -> String { architecture.huggingFaceConfigKeys[key] ?? key }
        func int(_ key: String, in dict: [String: Any] = json, default def: Int? = nil) throws -> Int {
            guard let v = value(key, in: dict) else {
                if let def { return def }
                throw HuggingFaceError.missingKey(path: path, key: shown(key))
            }
            guard let i = SafetensorsFile.jsonInt(v) else {
                throw HuggingFaceError.badValue(path: path, key: key, message: "expected an integer, found \(v)")
            }
            guard i > 0 else { throw HuggingFaceError.badValue(path: path, key: key, message: "must be positive, found \(i)") }
            return i
        }
        func number(_ key: String, in dict: [String: Any] = json, default def: Double? = nil) throws -> Double {
            guard let v = value(key, in: dict) else {
                if let def { return def }
                throw HuggingFaceError.missingKey(path: path, key: shown(key))
            }
            guard let d = v as? Double, d.isFinite else {
                throw HuggingFaceError.badValue(path: path, key: key, message: "expected a number, found \(v)")
            }
            return d
        }

        for key in ["attention_bias", "mlp_bias"] where (value(key, in: json) as? Bool) == true && !architecture.has(.wqBias) {
            throw HuggingFaceError.unsupported(path: path, message: "\(key) is true; \(architecture.name) models without biases are supported")
        }
        if let key = architecture.huggingFaceActivationKeys.first(where: { value($0, in: json) != nil }) {
            let act = value(key, in: json) as? String ?? "\(value(key, in: json) ?? "")"
            guard architecture.huggingFaceActivationNames.contains(act) else {
                throw HuggingFaceError.unsupported(path: path, message: "\(key) is \"\(act)\"; \(architecture.name) supports \(architecture.huggingFaceActivationNames.map { "\"\($0)\"" }.joined(separator: ", "))")
            }
        }

        let dim = try int("hidden_size")
        let layers = try int("num_hidden_layers")
        let heads = try int("num_attention_heads")
        let kvHeads = try int("num_key_value_heads", default: heads)
        let hidden = try int("intermediate_size", default: architecture.defaultHiddenPerDim.map { $0 * dim })
        let vocab = try int("vocab_size")
        let eps = try number("rms_norm_eps")
        var theta = try number("rope_theta", default: 10000)
        // Newer transformers write rope_parameters {rope_type, rope_theta, factor, …} in place
        // of rope_theta and rope_scaling.
        var ropeKey = "rope_scaling"
        var ropeDict = value("rope_scaling", in: json)
        if let rp = value("rope_parameters", in: json) {
            guard let d = rp as? [String: Any] else {
                throw HuggingFaceError.badValue(path: path, key: "rope_parameters", message: "expected an object or null")
            }
            if value("rope_theta", in: d) != nil {
                guard let t = value("rope_theta", in: d) as? Double, t.isFinite, t > 0 else {
                    throw HuggingFaceError.badValue(path: path, key: "rope_parameters.rope_theta", message: "expected a positive number")
                }
                theta = t
            }
            if ropeDict == nil {
                ropeKey = "rope_parameters"
                ropeDict = d
            }
        }
        let context = try int("max_position_embeddings")
        var tie = false
        if let t = value("tie_word_embeddings", in: json) {
            guard let b = t as? Bool else {
                throw HuggingFaceError.badValue(path: path, key: "tie_word_embeddings", message: "expected true or false, found \(t)")
            }
            tie = b
        }
        let headDim = value("head_dim", in: json) != nil ? try int("head_dim") : nil
        if let hd = headDim, !architecture.separateHeadSize, dim % heads != 0 || hd != dim / heads {
            throw HuggingFaceError.badValue(path: path, key: "head_dim",
                                            message: "is \(hd), but hidden_size / num_attention_heads = \(dim) / \(heads); a separate head size is not supported for \(architecture.name)")
        }
        try readAttentionVariations(json, into: &architecture, layers: layers, path: path)
        if value("num_local_experts", in: json) != nil || architecture.has(.router) {
            let experts = try int("num_local_experts")
            let used = try int("num_experts_per_tok")
            guard architecture.has(.router) else {
                throw HuggingFaceError.unsupported(path: path, message: "num_local_experts: mixture-of-experts \(modelType) models are not supported (supported: mixtral)")
            }
            guard experts <= 1 << 12, used <= experts else {
                throw HuggingFaceError.badValue(path: path, key: "num_experts_per_tok", message: "\(used) of \(experts) experts")
            }
            architecture.expertCount = experts
            architecture.expertsPerToken = used
        }
        // Partial rotary embeddings (RoPE on a fraction of each head) are not implemented.
        for dict in [json, value("rope_parameters", in: json) as? [String: Any] ?? [:]] {
            if let f = value("partial_rotary_factor", in: dict) {
                guard let x = f as? Double, x == 1 else {
                    throw HuggingFaceError.unsupported(path: path, message: "partial_rotary_factor is \(f); only RoPE on whole heads (1.0) is supported")
                }
            }
        }

        var scaling: RopeScaling?
        var longRope: LongRopeScaling?
        if let rs = ropeDict {
            guard let d = rs as? [String: Any] else {
                throw HuggingFaceError.badValue(path: path, key: ropeKey, message: "expected an object or null")
            }
            let type = (value("rope_type", in: d) ?? value("type", in: d)) as? String
            switch type {
            case "llama3"?:
                func sub(_ k: String) -> String { "\(ropeKey).\(k)" }
                func n(_ k: String) throws -> Double {
                    guard let v = value(k, in: d) else { throw HuggingFaceError.missingKey(path: path, key: sub(k)) }
                    guard let x = v as? Double, x.isFinite, x > 0 else {
                        throw HuggingFaceError.badValue(path: path, key: sub(k), message: "expected a positive number, found \(v)")
                    }
                    return x
                }
                let factor = try n("factor")
                let low = try n("low_freq_factor")
                let high = try n("high_freq_factor")
                let original = try n("original_max_position_embeddings")
                guard original.rounded() == original, original < 1e9 else {
                    throw HuggingFaceError.badValue(path: path, key: sub("original_max_position_embeddings"), message: "expected an integer")
                }
                guard high > low else {
                    throw HuggingFaceError.badValue(path: path, key: sub("high_freq_factor"), message: "must exceed low_freq_factor (\(low))")
                }
                scaling = RopeScaling(factor: Float(factor), lowFreqFactor: Float(low), highFreqFactor: Float(high),
                                      originalContext: Int(original))
            case "default"?:
                scaling = nil
            case nil where ropeKey == "rope_parameters":  // theta only
                scaling = nil
            case "longrope"?, "su"?, "yarn"? where architecture.name == Architecture.phi3.name:
                // Phi-3 128k / 3.5 (transformers reads Phi-3's "su" and "yarn" as longrope).
                longRope = try LongRopeScaling.fromHuggingFace(d, config: json, context: context, headDim: headDim ?? dim / heads,
                                                               path: path, key: ropeKey)
                scaling = nil
            default:
                throw HuggingFaceError.unsupported(path: path,
                    message: "\(ropeKey) type \(type.map { "\"\($0)\"" } ?? "(none)") is not supported; expected \"llama3\"")
            }
        }

        // LongRoPE runs its short factors: the context stops where they stop (see LongRope.swift).
        if let lr = longRope, lr.attentionFactor != 1 { architecture.attentionScale = lr.queryScale(headDim: headDim ?? dim / heads) }
        let config = ModelConfig(dim: dim, layerCount: layers, headCount: heads, kvHeadCount: kvHeads, hiddenDim: hidden,
                                 vocabSize: vocab, normEps: Float(eps), ropeTheta: Float(theta), ropeScaling: scaling,
                                 maxContext: longRope.map { min(context, $0.originalContext) } ?? context, tiedEmbeddings: tie,
                                 architecture: architecture, headDim: headDim)
        return ParsedConfig(config: config, tieWordEmbeddings: tie, longRope: longRope)
    }

    /// Sliding windows (`sliding_window`, per layer from `layer_types` or the architecture's
    /// pattern, from layer `max_window_layers` on when given (Qwen2); off when
    /// `use_sliding_window` is false), soft-capping
    /// (`attn_logit_softcapping`, `final_logit_softcapping`) and `query_pre_attn_scalar`.
    static func readAttentionVariations(_ json: [String: Any], into a: inout Architecture, layers: Int, path: String) throws {
        func positive(_ key: String) throws -> Double? {
            guard let v = json[key], !(v is NSNull) else { return nil }
            guard let d = v as? Double, d.isFinite, d > 0 else {
                throw HuggingFaceError.badValue(path: path, key: key, message: "expected a positive number or null, found \(v)")
            }
            return d
        }
        a.attentionSoftCap = try positive("attn_logit_softcapping").map(Float.init)
        a.logitSoftCap = try positive("final_logit_softcapping").map(Float.init)
        if a.scalesQueriesByQueryPreAttnScalar {
            guard let s = try positive("query_pre_attn_scalar") else { throw HuggingFaceError.missingKey(path: path, key: "query_pre_attn_scalar") }
            a.attentionScale = Architecture.queryScale(s)
        }
        // transformers' Qwen2Config: `use_sliding_window` defaults to false (real Qwen2/2.5
        // configs carry a `sliding_window` they do not use), `max_window_layers` to 28, and
        // `layer_types` (when absent) puts the window on layers i >= max_window_layers.
        let qwen2 = a.name == "qwen2"
        let useWindow = (json["use_sliding_window"] as? Bool) ?? !qwen2
        guard useWindow, let w = try positive("sliding_window") else { return }
        guard w.rounded() == w, w < 1e9 else {
            throw HuggingFaceError.badValue(path: path, key: "sliding_window", message: "expected an integer, found \(w)")
        }
        if let types = json["layer_types"] as? [Any] {
            guard types.count == layers, types.allSatisfy({ $0 is String }) else {
                throw HuggingFaceError.badValue(path: path, key: "layer_types", message: "expected \(layers) strings, one per layer")
            }
            a.slidingWindow = types.map { ($0 as? String) == "sliding_attention" ? Int(w) : nil }
        } else {
            // transformers' Qwen2: layers below max_window_layers attend fully.
            let from = (json["max_window_layers"]).flatMap { SafetensorsFile.jsonInt($0) } ?? (qwen2 ? 28 : 0)
            a.slidingWindow = a.slidingWindows(size: Int(w), layers: layers).enumerated().map { $0.offset >= from ? $0.element : nil }
        }
        if a.slidingWindow?.allSatisfy({ $0 == nil }) == true { a.slidingWindow = nil }
    }

    /// The distinct shard file names of a `model.safetensors.index.json`, in first-use order.
    static func shardNames(indexPath: String) throws -> [String] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: indexPath)) } catch {
            throw FileError.cannotOpen(path: indexPath, reason: "\(error)")
        }
        guard let json = (try? JSONSerialization.jsonObject(with: data, options: [])) as? [String: Any],
              let map = json["weight_map"] as? [String: Any] else {
            throw HuggingFaceError.badIndex(path: indexPath, message: "expected a JSON object with a \"weight_map\" object")
        }
        var names: [String] = []
        for key in map.keys.sorted() {
            guard let file = map[key] as? String else {
                throw HuggingFaceError.badIndex(path: indexPath, message: "weight_map value for \"\(key)\" is not a file name")
            }
            guard !file.contains("/"), !file.hasPrefix("."), !file.isEmpty else {
                throw HuggingFaceError.badIndex(path: indexPath, message: "shard name \"\(file)\" must be a plain file name in this directory")
            }
            if !names.contains(file) { names.append(file) }
        }
        guard !names.isEmpty else { throw HuggingFaceError.badIndex(path: indexPath, message: "weight_map is empty") }
        return names.sorted()
    }

    /// Undoes HF's rotate-half row permutation of a q or k projection with `heads` heads.
    static func unpermute(_ w: WeightTensor, heads: Int, path: String, hfName: String) throws -> WeightTensor {
        guard w.shape.count == 2, heads > 0, w.shape[0] % heads == 0, (w.shape[0] / heads) % 2 == 0 else {
            throw SafetensorsError.badTensor(path: path, tensor: hfName,
                                             message: "shape \(w.shape) cannot be split into \(heads) heads of even size")
        }
        let headDim = w.shape[0] / heads
        let rowBytes = w.data.count / max(w.shape[0], 1)
        let buffer = OwnedBuffer(byteCount: w.data.count)
        guard let src = w.data.baseAddress, let dst = buffer.bytes.baseAddress else { return w }
        for h in 0..<heads {
            for i in 0..<headDim {
                let hfRow = h * headDim + i
                let metaRow = h * headDim + (i < headDim / 2 ? 2 * i : 2 * (i - headDim / 2) + 1)
                (dst + metaRow * rowBytes).copyMemory(from: src + hfRow * rowBytes, byteCount: rowBytes)
            }
        }
        return WeightTensor(name: w.name, type: w.type, shape: w.shape, data: buffer.readOnly, owner: buffer)
    }
}
