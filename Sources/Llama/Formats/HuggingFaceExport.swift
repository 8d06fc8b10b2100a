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

        // Tensors, in HF names, converted to `type`.
        // A fused tensor (Phi-3 qkv_proj) is its roles' rows one after the other.
        var header: [String: Any] = ["__metadata__": ["format": "pt"]]
        var blobs: [[UInt8]] = []
        var offset = 0
        for file in c.architecture.fileTensors(c, in: .huggingFace) {
            var values: [Float] = []
            for (spec, layer) in file.parts {
                let t = try checkpoint.tensor(spec.canonicalName(layer: layer))
                var part = dequantized(t)
                if let heads = spec.huggingFacePermutedHeads?.count(c), c.architecture.ropeLayout == .interleaved, t.shape.count == 2 {
                    part = toRotateHalf(part, rows: t.shape[0], columns: t.shape[1], heads: heads)
                }
                values += part
            }
            let bytes = encode(values, as: type)
            header[file.name] = ["dtype": dtype, "shape": file.shape, "data_offsets": [offset, offset + bytes.count]]
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
            "architectures": [c.architecture.huggingFaceClass], "model_type": c.architecture.name, "hidden_act": "silu",
            "hidden_size": c.dim, "intermediate_size": c.hiddenDim, "num_hidden_layers": c.layerCount,
            "num_attention_heads": c.headCount, "num_key_value_heads": c.kvHeadCount, "head_dim": c.headDim,
            "vocab_size": c.vocabSize, "rms_norm_eps": Double(c.normEps), "rope_theta": Double(c.ropeTheta),
            "max_position_embeddings": c.maxContext, "tie_word_embeddings": c.tiedEmbeddings,
            "attention_bias": c.architecture.attentionBias, "mlp_bias": false,
            "torch_dtype": ["F32": "float32", "F16": "float16", "BF16": "bfloat16"][dtype] ?? "float32",
        ]
        if let experts = c.architecture.expertCount {
            config["num_local_experts"] = experts
            config["num_experts_per_tok"] = c.architecture.expertsPerToken
        }
        if let windows = c.architecture.slidingWindow, let window = windows.compactMap({ $0 }).max() {
            config["sliding_window"] = window
            config["use_sliding_window"] = true
            config["layer_types"] = windows.map { $0 == nil ? "full_attention" : "sliding_attention" }
        }
        if let r = c.ropeScaling {
            config["rope_scaling"] = ["rope_type": "llama3", "factor": Double(r.factor), "low_freq_factor": Double(r.lowFreqFactor),
                                      "high_freq_factor": Double(r.highFreqFactor), "original_max_position_embeddings": r.originalContext]
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
