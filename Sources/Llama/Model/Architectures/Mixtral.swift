extension Architecture {
    /// Mixtral (`MixtralForCausalLM`): Llama's attention with a mixture-of-experts feed-forward:
    /// a router (`block_sparse_moe.gate`, GGUF `ffn_gate_inp`) picks the top
    /// `expertsPerToken` of `expertCount` SwiGLU experts per token, weighted by a softmax over
    /// the chosen logits. transformers stores one tensor per expert
    /// (`block_sparse_moe.experts.N.w1`); llama.cpp stacks them (`ffn_gate_exps`,
    /// `[experts, rows, columns]`) and writes the model as `llama` with
    /// `llama.expert_count` / `llama.expert_used_count`, which is how a GGUF reader knows it.
    public static let mixtral: Architecture = {
        let e = TensorRole.expertMark
        var a = Architecture.llama.removing([.gate, .up, .down]).inserting([
            TensorSpec(.router, [.experts, .model], gguf: "ffn_gate_inp.weight", huggingFace: "block_sparse_moe.gate.weight"),
            TensorSpec(.expertGate, [.hidden, .model], gguf: FormatName("ffn_gate_exps.weight", stacksExperts: true),
                       huggingFace: FormatName("block_sparse_moe.experts.\(e).w1.weight")),
            TensorSpec(.expertDown, [.model, .hidden], gguf: FormatName("ffn_down_exps.weight", stacksExperts: true),
                       huggingFace: FormatName("block_sparse_moe.experts.\(e).w2.weight")),
            TensorSpec(.expertUp, [.hidden, .model], gguf: FormatName("ffn_up_exps.weight", stacksExperts: true),
                       huggingFace: FormatName("block_sparse_moe.experts.\(e).w3.weight")),
        ], after: .ffnNorm)
        a.name = "mixtral"
        a.huggingFaceClass = "MixtralForCausalLM"
        a.ggufName = "llama"
        return a
    }()
}
