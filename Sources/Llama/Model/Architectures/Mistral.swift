extension Architecture {
    /// Mistral (`MistralForCausalLM`): Llama's tensors and layout with sliding-window attention
    /// (config.json `sliding_window`). llama.cpp converts it as `llama` and drops the window,
    /// so its GGUF reads as `llama` with full attention unless the file records
    /// `llama.attention.sliding_window`.
    public static let mistral: Architecture = {
        var a = Architecture.llama
        a.name = "mistral"
        a.huggingFaceClass = "MistralForCausalLM"
        a.ggufName = "llama"
        return a
    }()
}
