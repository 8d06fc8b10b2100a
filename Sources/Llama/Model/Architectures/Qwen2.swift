extension Architecture {
    /// Qwen2 / Qwen2.5 (`Qwen2ForCausalLM`, GGUF `qwen2`): Llama's tensors plus q/k/v biases,
    /// rotate-half RoPE (llama.cpp's NEOX style: its GGUF keeps transformers' q/k row order,
    /// so neither format is permuted), tied or untied output.
    public static let qwen2: Architecture = {
        var a = Architecture.llama.inserting([
            TensorSpec(.wqBias, [.query], gguf: "attn_q.bias", huggingFace: "self_attn.q_proj.bias"),
            TensorSpec(.wkBias, [.keyValue], gguf: "attn_k.bias", huggingFace: "self_attn.k_proj.bias"),
            TensorSpec(.wvBias, [.keyValue], gguf: "attn_v.bias", huggingFace: "self_attn.v_proj.bias"),
        ], after: .wv)
        a.name = "qwen2"
        a.huggingFaceClass = "Qwen2ForCausalLM"
        a.ropeLayout = .rotateHalf
        a.attentionBias = true
        return a
    }()
}
