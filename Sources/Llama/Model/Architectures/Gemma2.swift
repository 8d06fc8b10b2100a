extension Architecture {
    /// Gemma 2: Gemma plus norms after attention and after the feed-forward, tanh
    /// soft-capping of the attention scores and of the final logits, q·k scaled by
    /// `query_pre_attn_scalar`^−½, and a sliding window on every other layer (layer 0 first,
    /// transformers' `layer_types` or llama.cpp's pattern of 2).
    public static let gemma2: Architecture = {
        var a = gemma
        a.name = "gemma2"
        a.huggingFaceClass = "Gemma2ForCausalLM"
        a.tensors = gemmaTensors(postNorms: true)
        a.slidingWindowPattern = 2
        a.scalesQueriesByQueryPreAttnScalar = true
        a.ggufScaleByDimPerHeadAtLayerCounts = [46]  // llama.cpp: the 27B model's 144 = 4608 / 32
        // llama.cpp's values when the file leaves them out (llama-hparams.h, models/gemma2.cpp).
        a.ggufDefaultAttentionSoftCap = 50
        a.ggufDefaultLogitSoftCap = 30
        a.ggufDefaultSlidingWindow = 4096
        return a
    }()
}
