import Foundation

/// Writes any checkpoint as a Hugging Face directory that `LlamaForCausalLM.from_pretrained`
/// loads: `config.json` and one `model.safetensors` (F32, F16 or BF16), and around them what
/// the model needs to be used: `tokenizer.model` (tiktoken or SentencePiece, see
/// `TokenizerFileWriter`), `tokenizer_config.json` (special tokens, `add_bos_token`, the chat
/// template) and `generation_config.json` (BOS and every end-of-generation id).
///
/// q/k rows go back to HF's rotate-half order (the inverse of what the reader undoes): within
/// each head, HF row i < headDim/2 is Meta row 2i and HF row headDim/2 + i is Meta row 2i + 1.
public enum HuggingFaceExport {
    public enum ExportError: Error, CustomStringConvertible {
        case unsupportedType(GGMLType)
        public var description: String {
            switch self {
            case let .unsupportedType(t): return "Hugging Face export writes F32, F16 or BF16, not \(t.name)"
            }
        }
    }

    /// The files `write` may create in the directory (callers check none of them is an input).
    public static let fileNames = ["model.safetensors", "config.json", "tokenizer.model", "tokenizer.json",
                                   "tokenizer_config.json", "generation_config.json"]

    /// Writes the directory (created if needed; files in it are replaced atomically). Returns
    /// notes for the user: what of the tokenizer could not be written, and why.
    @discardableResult
    public static func write(_ checkpoint: any Checkpoint, to directory: String, type: GGMLType = .f32) throws -> [String] {
        let dtype: String
        switch type {
        case .f32: dtype = "F32"
        case .f16: dtype = "F16"
        case .bf16: dtype = "BF16"
        default: throw ExportError.unsupportedType(type)
        }
        let c = checkpoint.config
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)

        // Tensors, in HF names and layouts (fused parts joined, q/k rows to rotate-half,
        // Conv1D matrices transposed, (1 + w) norms back to w), converted to `type`.
        let a = c.architecture
        var header: [String: Any] = ["__metadata__": ["format": "pt"]]
        var blobs: [[UInt8]] = []
        var offset = 0
        for (name, spec, _, t) in try Quantizer.fileTensors(checkpoint, format: .huggingFace) {
            var values = dequantized(t)
            var shape = t.shape
            if let heads = spec.huggingFacePermutedHeads, a.ropeLayout == .interleaved, t.shape.count == 2 {
                values = toRotateHalf(values, rows: t.shape[0], columns: t.shape[1], heads: heads.count(c))
            }
            if spec.role.isNormWeight, a.huggingFaceNormOffset != 0 {
                values = values.map { $0 - a.huggingFaceNormOffset }
            }
            if spec.huggingFaceTransposed, shape.count == 2 {
                values = transposed(values, rows: shape[0], columns: shape[1])
                shape = [shape[1], shape[0]]
            }
            let bytes = encode(values, as: type)
            header[name] = ["dtype": dtype, "shape": shape, "data_offsets": [offset, offset + bytes.count]]
            offset += bytes.count
            blobs.append(bytes)
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }  // the format pads the header with spaces
        var file = Data()
        file.reserveCapacity(8 + json.count + offset)
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(json)
        for b in blobs { file.append(contentsOf: b) }
        try AtomicFile.write(file, to: directory + "/model.safetensors")

        var config: [String: Any] = [
            "architectures": [a.huggingFaceClass], "model_type": a.name,
            "hidden_size": c.dim, "intermediate_size": c.hiddenDim, "num_hidden_layers": c.layerCount,
            "num_attention_heads": c.headCount, "num_key_value_heads": c.kvHeadCount, "head_dim": c.headDim,
            "vocab_size": c.vocabSize, "rms_norm_eps": Double(c.normEps),
            "max_position_embeddings": c.maxContext, "tie_word_embeddings": c.tiedEmbeddings,
            "attention_bias": a.has(.wqBias), "mlp_bias": false, "torch_dtype": ["F32": "float32", "F16": "float16", "BF16": "bfloat16"][dtype] ?? "float32",
        ]
        if let key = a.huggingFaceActivationKeys.first, let act = a.huggingFaceActivationNames.first { config[key] = act }
        if !a.learnedPositions { config["rope_theta"] = Double(c.ropeTheta) }
        if let cap = a.attentionSoftCap { config["attn_logit_softcapping"] = Double(cap) }
        if let cap = a.logitSoftCap { config["final_logit_softcapping"] = Double(cap) }
        if a.scalesQueriesByQueryPreAttnScalar, let scale = a.attentionScale {
            let q = 1 / (Double(scale) * Double(scale))
            config["query_pre_attn_scalar"] = abs(q - q.rounded()) < 1e-3 ? Int(q.rounded()) as Any : q as Any
        }
        if let experts = a.expertCount {
            config["num_local_experts"] = experts
            config["num_experts_per_tok"] = a.expertsPerToken
        }
        if let windows = a.slidingWindow, let size = windows.compactMap({ $0 }).max() {
            config["sliding_window"] = size
            config["use_sliding_window"] = true
            config["layer_types"] = windows.map { $0 == nil ? "full_attention" : "sliding_attention" }
        }
        // The architecture's own spellings (GPT-2: n_embd, n_layer, …).
        for (common, own) in a.huggingFaceConfigKeys {
            if let v = config.removeValue(forKey: common) { config[own] = v }
        }
        if let r = c.ropeScaling {
            config["rope_scaling"] = ["rope_type": "llama3", "factor": Double(r.factor), "low_freq_factor": Double(r.lowFreqFactor),
                                      "high_freq_factor": Double(r.highFreqFactor), "original_max_position_embeddings": r.originalContext]
        }
        if let lr = LongRopeScaling.of(checkpoint) {
            var rope: [String: Any] = ["rope_type": "longrope", "short_factor": lr.shortFactors.map(Double.init),
                                       "long_factor": lr.longFactors.map(Double.init), "rope_theta": Double(c.ropeTheta),
                                       "original_max_position_embeddings": lr.originalContext]
            if lr.attentionFactor != Float(LongRopeScaling.defaultAttentionFactor(context: lr.context, original: lr.originalContext)) {
                rope["attention_factor"] = Double(lr.attentionFactor)
            }
            config["rope_scaling"] = rope
            config["max_position_embeddings"] = lr.context
            config["original_max_position_embeddings"] = lr.originalContext
        }
        if let tok = checkpoint.tokenizer {
            if let b = tok.bosID { config["bos_token_id"] = b }
            if let e = tok.eosID { config["eos_token_id"] = e }
        }
        let configData = try JSONSerialization.data(withJSONObject: config, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try AtomicFile.write(configData, to: directory + "/config.json")
        return try writeTokenizer(checkpoint, to: directory)
    }

    /// `tokenizer.model`, `tokenizer_config.json` and `generation_config.json`.
    static func writeTokenizer(_ checkpoint: any Checkpoint, to directory: String) throws -> [String] {
        guard let tok = checkpoint.tokenizer else {
            let why = (checkpoint as? TokenizerLoadReporting)?.tokenizerError.map { ": \($0)" } ?? ""
            return ["no tokenizer written: the checkpoint has none that this engine can read\(why)"]
        }
        var notes: [String] = []
        if let hf = tok as? HuggingFaceTokenizer, let source = hf.sourcePath {
            // A tokenizer.json is copied as it is: it is the format's own full description.
            guard let data = FileManager.default.contents(atPath: source) else {
                throw FileError.cannotOpen(path: source, reason: "cannot read it again to copy it")
            }
            try AtomicFile.write(data, to: directory + "/tokenizer.json")
        } else { do {
            let (bytes, caveats) = try TokenizerFileWriter.tokenizerModel(tok)
            try AtomicFile.write(bytes, to: directory + "/tokenizer.model")
            notes += caveats
        } catch let e as TokenizerFileWriter.WriteError {
            notes.append("no tokenizer.model written (\(e)); pass the source's tokenizer with --tokenizer when using this directory")
        } }
        // Control tokens decode to nothing; their text is their name.
        func text(_ id: TokenID?) -> String? {
            guard let id else { return nil }
            return tok.specialTokens.filter { $0.value == id }.map(\.key).min()
        }
        var tokenizerConfig: [String: Any] = ["add_bos_token": tok.addsBOSByDefault, "add_eos_token": false,
                                              "model_max_length": checkpoint.config.maxContext]
        if let b = text(tok.bosID) { tokenizerConfig["bos_token"] = b }
        if let e = text(tok.eosID) { tokenizerConfig["eos_token"] = e }
        // One template as a string; several as transformers' list of {name, template}.
        let templates = checkpoint.chatTemplates
        if templates.count == 1, let only = templates["default"] {
            tokenizerConfig["chat_template"] = only
        } else if !templates.isEmpty {
            tokenizerConfig["chat_template"] = templates.sorted { $0.key < $1.key }.map { ["name": $0.key, "template": $0.value] }
        }
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: tokenizerConfig, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]),
                             to: directory + "/tokenizer_config.json")

        var generation: [String: Any] = [:]
        if let b = tok.bosID { generation["bos_token_id"] = b }
        // EOS first, then the other ids that end a turn, as transformers lists them.
        var ends = tok.endOfGenerationIDs.sorted()
        if let e = tok.eosID { ends.removeAll { $0 == e }; ends.insert(e, at: 0) }
        if ends.count == 1 { generation["eos_token_id"] = ends[0] } else if !ends.isEmpty { generation["eos_token_id"] = ends }
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: generation, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]),
                             to: directory + "/generation_config.json")
        return notes
    }

    /// Every value of `t` as fp32, row-major, whatever type it is stored in.
    public static func dequantized(_ t: WeightTensor) -> [Float] {
        let columns = t.shape.last ?? 0
        let rows = columns == 0 ? 0 : t.elementCount / columns
        let rowBytes = columns / t.type.blockLayout.elements * t.type.blockLayout.bytes
        var out = [Float](repeating: 0, count: t.elementCount)
        out.withUnsafeMutableBufferPointer { dst in
            for r in 0..<rows {
                // A tensor's rows are whole blocks, so each row dequantizes alone.
                dequantizeRow(t.type, t.data.baseAddress! + r * rowBytes, dst.baseAddress! + r * columns, count: columns)
            }
        }
        return out
    }

    /// A row-major `rows × columns` matrix transposed (GPT-2's `Conv1D` stores `[in, out]`).
    static func transposed(_ w: [Float], rows: Int, columns: Int) -> [Float] {
        var out = w
        for r in 0..<rows { for c in 0..<columns { out[c * rows + r] = w[r * columns + c] } }
        return out
    }

    /// Meta's interleaved-pair rows → HF's rotate-half rows, head by head.
    static func toRotateHalf(_ w: [Float], rows: Int, columns: Int, heads: Int) -> [Float] {
        let headDim = rows / heads
        var out = w
        for h in 0..<heads {
            for i in 0..<(headDim / 2) {
                for (hfRow, metaRow) in [(h * headDim + i, h * headDim + 2 * i), (h * headDim + headDim / 2 + i, h * headDim + 2 * i + 1)] {
                    for c in 0..<columns { out[hfRow * columns + c] = w[metaRow * columns + c] }
                }
            }
        }
        return out
    }

    static func encode(_ values: [Float], as type: GGMLType) -> [UInt8] {
        var out: [UInt8] = []
        switch type {
        case .f16:
            out.reserveCapacity(values.count * 2)
            for v in values { withUnsafeBytes(of: floatToHalf(v).littleEndian) { out.append(contentsOf: $0) } }
        case .bf16:
            out.reserveCapacity(values.count * 2)
            for v in values { withUnsafeBytes(of: floatToBFloat16(v).littleEndian) { out.append(contentsOf: $0) } }
        default:
            out.reserveCapacity(values.count * 4)
            for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { out.append(contentsOf: $0) } }
        }
        return out
    }
}
