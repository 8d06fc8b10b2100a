extension Architecture {
    /// Phi-3 (`Phi3ForCausalLM`, GGUF `phi3`): Llama's computation with q, k, v fused in one
    /// matrix (`qkv_proj` / `attn_qkv`, rows q then k then v) and gate and up fused in another
    /// (`gate_up_proj` / `ffn_up`, gate rows first), read as zero-copy row ranges;
    /// rotate-half RoPE (llama.cpp's NEOX style, so no format permutes q/k).
    public static let phi3: Architecture = {
        var a = Architecture.llama
        func fused(_ role: TensorRole, gguf: String, hf: String, after offset: [ModelDimension]) {
            guard let i = a.tensors.firstIndex(where: { $0.role == role }) else { return }
            a.tensors[i].gguf = FormatName(gguf, rowOffset: offset)
            a.tensors[i].huggingFace = FormatName(hf, rowOffset: offset)
            a.tensors[i].huggingFacePermutedHeads = nil
        }
        fused(.wq, gguf: "attn_qkv.weight", hf: "self_attn.qkv_proj.weight", after: [])
        fused(.wk, gguf: "attn_qkv.weight", hf: "self_attn.qkv_proj.weight", after: [.query])
        fused(.wv, gguf: "attn_qkv.weight", hf: "self_attn.qkv_proj.weight", after: [.query, .keyValue])
        fused(.gate, gguf: "ffn_up.weight", hf: "mlp.gate_up_proj.weight", after: [])
        fused(.up, gguf: "ffn_up.weight", hf: "mlp.gate_up_proj.weight", after: [.hidden])
        a.name = "phi3"
        a.huggingFaceClass = "Phi3ForCausalLM"
        a.ropeLayout = .rotateHalf
        a.ggufWritesOriginalContextAndWindow = true
        return a
    }()
}
