extension Architecture {
    /// GPT-2 as llama.cpp's converter and transformers' `GPT2LMHeadModel` write it: learned
    /// positions, pre-LayerNorm blocks with biases everywhere, a plain GELU feed-forward,
    /// q/k/v fused in one `c_attn` (rows q, k, v), output tied to the token embedding.
    ///
    /// transformers keeps GPT-2's `Conv1D` weights as `[in, out]` (`huggingFaceTransposed`);
    /// llama.cpp's converter transposes them to `[out, in]` rows, so its GGUF is read as is.
    /// Hub checkpoints saved from the bare `GPT2Model` name tensors without `transformer.`
    /// and carry the causal-mask buffers `attn.bias` / `attn.masked_bias`, which are not weights.
    public static let gpt2: Architecture = {
        var a = Architecture(name: "gpt2", huggingFaceClass: "GPT2LMHeadModel", tensors: [
            TensorSpec(.tokenEmbedding, [.vocabulary, .model], gguf: "token_embd.weight", huggingFace: "transformer.wte.weight"),
            TensorSpec(.positionEmbedding, [.context, .model], gguf: "position_embd.weight", huggingFace: "transformer.wpe.weight"),
            TensorSpec(.attentionNorm, [.model], gguf: "attn_norm.weight", huggingFace: "ln_1.weight"),
            TensorSpec(.attentionNormBias, [.model], gguf: "attn_norm.bias", huggingFace: "ln_1.bias"),
            TensorSpec(.wq, [.query, .model], gguf: FormatName("attn_qkv.weight", rowOffset: []),
                       huggingFace: FormatName("attn.c_attn.weight", rowOffset: []), huggingFaceTransposed: true),
            TensorSpec(.wk, [.keyValue, .model], gguf: FormatName("attn_qkv.weight", rowOffset: [.query]),
                       huggingFace: FormatName("attn.c_attn.weight", rowOffset: [.query]), huggingFaceTransposed: true),
            TensorSpec(.wv, [.keyValue, .model], gguf: FormatName("attn_qkv.weight", rowOffset: [.query, .keyValue]),
                       huggingFace: FormatName("attn.c_attn.weight", rowOffset: [.query, .keyValue]), huggingFaceTransposed: true),
            TensorSpec(.wqBias, [.query], gguf: FormatName("attn_qkv.bias", rowOffset: []),
                       huggingFace: FormatName("attn.c_attn.bias", rowOffset: [])),
            TensorSpec(.wkBias, [.keyValue], gguf: FormatName("attn_qkv.bias", rowOffset: [.query]),
                       huggingFace: FormatName("attn.c_attn.bias", rowOffset: [.query])),
            TensorSpec(.wvBias, [.keyValue], gguf: FormatName("attn_qkv.bias", rowOffset: [.query, .keyValue]),
                       huggingFace: FormatName("attn.c_attn.bias", rowOffset: [.query, .keyValue])),
            TensorSpec(.wo, [.model, .query], gguf: "attn_output.weight", huggingFace: "attn.c_proj.weight", huggingFaceTransposed: true),
            TensorSpec(.woBias, [.model], gguf: "attn_output.bias", huggingFace: "attn.c_proj.bias"),
            TensorSpec(.ffnNorm, [.model], gguf: "ffn_norm.weight", huggingFace: "ln_2.weight"),
            TensorSpec(.ffnNormBias, [.model], gguf: "ffn_norm.bias", huggingFace: "ln_2.bias"),
            TensorSpec(.up, [.hidden, .model], gguf: "ffn_up.weight", huggingFace: "mlp.c_fc.weight", huggingFaceTransposed: true),
            TensorSpec(.upBias, [.hidden], gguf: "ffn_up.bias", huggingFace: "mlp.c_fc.bias"),
            TensorSpec(.down, [.model, .hidden], gguf: "ffn_down.weight", huggingFace: "mlp.c_proj.weight", huggingFaceTransposed: true),
            TensorSpec(.downBias, [.model], gguf: "ffn_down.bias", huggingFace: "mlp.c_proj.bias"),
            TensorSpec(.finalNorm, [.model], gguf: "output_norm.weight", huggingFace: "transformer.ln_f.weight"),
            TensorSpec(.finalNormBias, [.model], gguf: "output_norm.bias", huggingFace: "transformer.ln_f.bias"),
            TensorSpec(.output, [.vocabulary, .model], gguf: "output.weight", huggingFace: "lm_head.weight"),
        ])
        a.huggingFaceLayerStem = "transformer.h."
        a.huggingFaceOptionalPrefix = "transformer."
        a.huggingFaceIgnoredSuffixes = [".attn.bias", ".attn.masked_bias"]
        // GPT2Config's attribute_map; n_inner null means 4 · n_embd.
        a.huggingFaceConfigKeys = ["hidden_size": "n_embd", "num_hidden_layers": "n_layer", "num_attention_heads": "n_head",
                                   "intermediate_size": "n_inner", "max_position_embeddings": "n_positions",
                                   "rms_norm_eps": "layer_norm_epsilon"]
        a.huggingFaceActivationKeys = ["activation_function"]
        a.defaultHiddenPerDim = 4
        a.norm = .layerNorm
        a.activation = .geluTanh
        a.gatedFeedForward = false
        a.learnedPositions = true
        return a
    }()
}
