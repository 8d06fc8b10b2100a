extension Architecture {
    /// Gemma as llama.cpp's converter and transformers' `GemmaForCausalLM` write it: Llama's
    /// tensors with rotate-half RoPE (llama.cpp keeps transformers' q/k rows), (1 + w)
    /// RMSNorm, token embeddings scaled by sqrt(dim), a GeGLU feed-forward (tanh GELU), head
    /// size from `head_dim`, output tied to the embedding.
    public static let gemma: Architecture = {
        var a = Architecture(name: "gemma", huggingFaceClass: "GemmaForCausalLM", tensors: gemmaTensors(postNorms: false))
        a.ropeLayout = .rotateHalf
        a.norm = .rmsOnePlusWeight
        a.activation = .geluTanh
        a.scalesEmbeddingBySqrtDim = true
        a.separateHeadSize = true
        a.ggufWritesHeadSize = true
        a.huggingFaceActivationKeys = ["hidden_activation", "hidden_act"]
        a.huggingFaceActivationAliases = ["gelu"]
        return a
    }()

    /// Gemma's tensors, and with `postNorms` Gemma 2's: a norm after attention and after the
    /// feed-forward, whose transformers names shift (`post_attention_layernorm` is the
    /// post-attention norm there, `pre_feedforward_layernorm` the feed-forward's input norm).
    static func gemmaTensors(postNorms: Bool) -> [TensorSpec] {
        var t: [TensorSpec] = [
            TensorSpec(.tokenEmbedding, [.vocabulary, .model], gguf: "token_embd.weight", huggingFace: "model.embed_tokens.weight"),
            TensorSpec(.attentionNorm, [.model], gguf: "attn_norm.weight", huggingFace: "input_layernorm.weight"),
            TensorSpec(.wq, [.query, .model], gguf: "attn_q.weight", huggingFace: "self_attn.q_proj.weight"),
            TensorSpec(.wk, [.keyValue, .model], gguf: "attn_k.weight", huggingFace: "self_attn.k_proj.weight"),
            TensorSpec(.wv, [.keyValue, .model], gguf: "attn_v.weight", huggingFace: "self_attn.v_proj.weight"),
            TensorSpec(.wo, [.model, .query], gguf: "attn_output.weight", huggingFace: "self_attn.o_proj.weight"),
        ]
        if postNorms {
            t += [TensorSpec(.postAttentionNorm, [.model], gguf: "post_attention_norm.weight", huggingFace: "post_attention_layernorm.weight"),
                  TensorSpec(.ffnNorm, [.model], gguf: "ffn_norm.weight", huggingFace: "pre_feedforward_layernorm.weight")]
        } else {
            t += [TensorSpec(.ffnNorm, [.model], gguf: "ffn_norm.weight", huggingFace: "post_attention_layernorm.weight")]
        }
        t += [
            TensorSpec(.gate, [.hidden, .model], gguf: "ffn_gate.weight", huggingFace: "mlp.gate_proj.weight"),
            TensorSpec(.down, [.model, .hidden], gguf: "ffn_down.weight", huggingFace: "mlp.down_proj.weight"),
            TensorSpec(.up, [.hidden, .model], gguf: "ffn_up.weight", huggingFace: "mlp.up_proj.weight"),
        ]
        if postNorms {
            t += [TensorSpec(.postFfnNorm, [.model], gguf: "post_ffw_norm.weight", huggingFace: "post_feedforward_layernorm.weight")]
        }
        return t + [
            TensorSpec(.finalNorm, [.model], gguf: "output_norm.weight", huggingFace: "model.norm.weight"),
            TensorSpec(.output, [.vocabulary, .model], gguf: "output.weight", huggingFace: "lm_head.weight"),
        ]
    }
}
