/// A named point of the forward pass where an observer sees the activations.
///
/// Every step hands over a `rows × width` row-major block (one row per row of the batch, in
/// the batch's order) that the forward pass has just computed. Shapes, with D the model's
/// dim, K its key/value dim (kv heads × head dim), F the feed-forward's hidden size:
public enum ForwardStep: String, Sendable, CaseIterable {
    /// The token embeddings, [rows × D], before the first layer (`layer` 0).
    case embedding
    /// RMSNorm of the residual stream with the layer's attention norm weight, [rows × D].
    case attentionNorm
    /// Queries after RoPE, [rows × D] (heads × head dim, each head's pairs interleaved as in
    /// Meta's layout).
    case query
    /// Keys after RoPE, [rows × K].
    case key
    /// Values, [rows × K].
    case value
    /// The attention's weighted sums of values, heads concatenated, [rows × D] (before wo).
    case attentionOutput
    /// wo times the attention output, [rows × D].
    case attentionProjection
    /// The residual stream after adding the attention block, [rows × D].
    case attentionResidual
    /// RMSNorm of the residual stream with the feed-forward norm weight, [rows × D].
    case ffnNorm
    /// w1 (gate) times the normalized stream, [rows × F].
    case gate
    /// w3 (up) times the normalized stream, [rows × F].
    case up
    /// The activation fed to w2: silu(gate) ⊙ up, [rows × F].
    case activation
    /// w2 (down) times the activation, [rows × D].
    case down
    /// The residual stream after the layer (the next layer's input), [rows × D].
    case residual
    /// The final RMSNorm of the rows whose logits are computed, [logit rows × D]
    /// (`layer` = layer count).
    case finalNorm
    /// The logits of those rows, [logit rows × vocab] (`layer` = layer count).
    case logits
}

/// Which attention values a `ForwardObserver` is shown.
public enum AttentionStage: String, Sendable {
    /// q·k/√(head dim) for key positions 0...row's position (the causal part; later
    /// positions are masked and never computed).
    case scores
    /// The softmax of those scores: the weights of the values.
    case probabilities
}

/// An optional tap on `LlamaModel.forward`: what `llama inspect` uses to show the engine's
/// own numbers. The pointers are valid only during the call; copy what you keep.
///
/// With no observer (the default) the forward pass does no extra work at all.
public protocol ForwardObserver: AnyObject {
    /// Called on the calling thread after each step of `ForwardStep`, for layer `layer`.
    func observe(_ step: ForwardStep, layer: Int, values: UnsafePointer<Float>, rows: Int, width: Int)

    /// Called for each (row, head) of the batch in layer `layer`: `values[t]` for key
    /// positions first + t, t in 0..<count, of that row's sequence (first is 0 unless a
    /// sliding window hides the older positions; those are masked out). Called **concurrently from worker
    /// threads**, each (row, head) once per stage: write to storage that is distinct per
    /// (row, head) and allocated before the forward call.
    func observeAttention(_ stage: AttentionStage, layer: Int, row: Int, head: Int, values: UnsafePointer<Float>, first: Int, count: Int)
}
