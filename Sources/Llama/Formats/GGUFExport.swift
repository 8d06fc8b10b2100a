/// Writes any checkpoint as a GGUF file that llama.cpp runs: the weight matrices as one type
/// (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1) or a K-quant mix (Q4_K_S/M, Q5_K_S/M, Q6_K;
/// norms stay F32, as llama.cpp does), plus everything the model needs around them.
///
/// A GGUF input keeps its metadata as it was, tokenizer included (vocabulary, merges, token
/// types, BOS/EOS/pad ids, `add_bos_token`, the pre-tokenizer name, `tokenizer.chat_template`),
/// even when this engine cannot load that tokenizer itself. Any other input with a tokenizer
/// gets it written as GGUF vocabulary metadata (`GGUFVocabularyWriter`), and its chat template
/// when it has one. `llama quantize` and `llama export --to X.gguf` are this one function.
public enum GGUFExport {
    /// Writes the file; returns notes for the user (what of the tokenizer could not be written).
    @discardableResult
    public static func write(_ checkpoint: any Checkpoint, to path: String, type: GGMLType) throws -> [String] {
        try write(checkpoint, to: path, scheme: .uniform(type))
    }

    /// `write` with a quantization scheme (one type, or a K-quant mix).
    @discardableResult
    public static func write(_ checkpoint: any Checkpoint, to path: String, scheme: QuantizationScheme) throws -> [String] {
        let (w, notes) = try writer(checkpoint, scheme: scheme)
        try w.write(to: path)
        return notes
    }

    /// The GGUF file `write` would produce, not yet written, and the notes `write` returns.
    public static func writer(_ checkpoint: any Checkpoint, type: GGMLType) throws -> (GGUFWriter, notes: [String]) {
        try writer(checkpoint, scheme: .uniform(type))
    }

    /// `writer` with a quantization scheme.
    public static func writer(_ checkpoint: any Checkpoint, scheme: QuantizationScheme) throws -> (GGUFWriter, notes: [String]) {
        if case let .uniform(type) = scheme, !Quantizer.targets.values.contains(type) {
            throw QuantizeError.unsupportedTarget(type.name)
        }
        // An overridden tokenizer replaces the source file's: copy its metadata, then rewrite
        // the tokenizer part.
        let overridden = checkpoint is TokenizerOverride
        let base = (checkpoint as? TokenizerOverride)?.base ?? checkpoint
        let source = (base as? GGUFCheckpoint)?.file
        var w = try Quantizer.gguf(checkpoint, scheme: scheme, source: source)
        var notes: [String] = []
        if source == nil || overridden {
            let templates = checkpoint.chatTemplates
            if overridden { w.removeAll(prefix: "tokenizer.") }
            if let tok = checkpoint.tokenizer {
                do {
                    try GGUFVocabularyWriter.write(tok, into: &w, vocabularySize: checkpoint.config.vocabSize)
                } catch let e as GGUFVocabularyWriter.ExportError {
                    // The weights are still worth having; llama.cpp then needs ids or another vocabulary.
                    notes.append("no vocabulary written: \(e)")
                }
            } else {
                let why = (checkpoint as? TokenizerLoadReporting)?.tokenizerError.map { ": \($0)" } ?? ""
                notes.append("no vocabulary written: the checkpoint has no tokenizer this engine can read\(why)")
            }
            // llama.cpp's names: the default as tokenizer.chat_template, others with their name.
            for (name, template) in templates.sorted(by: { $0.key < $1.key }) {
                w.set(name == "default" ? "tokenizer.chat_template" : "tokenizer.chat_template." + name, .string(template))
            }
        }
        return (w, notes)
    }
}

extension GGUFWriter {
    /// The `<architecture>.*` hyperparameters llama.cpp reads, from `c`.
    /// Keys follow llama.cpp's `llama-arch.cpp` names; what an architecture lacks (RoPE for
    /// learned positions) is left out, and what it adds (head size, soft-caps, window) is
    /// written only when the model has it.
    mutating func setHyperparameters(_ c: ModelConfig) {
        let arch = c.architecture, a = arch.ggufArchitecture
        set("\(a).context_length", .uint32(UInt32(c.maxContext)))
        set("\(a).embedding_length", .uint32(UInt32(c.dim)))
        set("\(a).block_count", .uint32(UInt32(c.layerCount)))
        set("\(a).feed_forward_length", .uint32(UInt32(c.hiddenDim)))
        set("\(a).attention.head_count", .uint32(UInt32(c.headCount)))
        set("\(a).attention.head_count_kv", .uint32(UInt32(c.kvHeadCount)))
        let eps = arch.norm == .layerNorm ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon"
        set("\(a).\(eps)", .float32(c.normEps))
        if c.queryDim != c.dim || arch.ggufWritesHeadSize {
            set("\(a).attention.key_length", .uint32(UInt32(c.headDim)))
            set("\(a).attention.value_length", .uint32(UInt32(c.headDim)))
        }
        if !arch.learnedPositions {
            set("\(a).rope.freq_base", .float32(c.ropeTheta))
            set("\(a).rope.dimension_count", .uint32(UInt32(c.headDim)))
        }
        if let cap = arch.attentionSoftCap { set("\(a).attn_logit_softcapping", .float32(cap)) }
        if let cap = arch.logitSoftCap { set("\(a).final_logit_softcapping", .float32(cap)) }
        if let window = arch.slidingWindow?.compactMap({ $0 }).max() {
            set("\(a).attention.sliding_window", .uint32(UInt32(window)))
        } else if arch.ggufWritesOriginalContextAndWindow {
            set("\(a).attention.sliding_window", .uint32(0))  // the converter's "none"
        }
        if arch.ggufWritesOriginalContextAndWindow {
            set("\(a).rope.scaling.original_context_length", .uint32(UInt32(c.ropeScaling?.originalContext ?? c.maxContext)))
        }
        // llama.cpp infers the query scale (see `ggufScaleByDimPerHeadAtLayerCounts`); written
        // only when the model's differs from that (read back by this engine).
        if let scale = arch.attentionScale {
            let inferred = arch.scalesQueriesByQueryPreAttnScalar
                ? Architecture.queryScale(Double(arch.ggufScaleByDimPerHeadAtLayerCounts.contains(c.layerCount) ? c.dim / c.headCount : c.headDim))
                : 1 / Float(c.headDim).squareRoot()
            if scale != inferred { set("\(a).attention.scale", .float32(scale)) }
        }
        set("\(a).vocab_size", .uint32(UInt32(c.vocabSize)))
        if let experts = arch.expertCount {
            set("\(a).expert_count", .uint32(UInt32(experts)))
            set("\(a).expert_used_count", .uint32(UInt32(arch.expertsPerToken)))
        }
    }
}
