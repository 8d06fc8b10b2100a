import Foundation

// LongRoPE (Phi-3 128k / Phi-3.5: config.json `rope_scaling` {type "longrope" (or "su"),
// short_factor, long_factor}, `original_max_position_embeddings`), as transformers computes it:
//
//   inv_freq[i] = 1 / (ext[i] · θ^(2i/d)),  ext = short_factor while the sequence fits in
//                 original_max_position_embeddings, long_factor beyond
//   cos, sin    multiplied by attention_factor = sqrt(1 + ln(factor) / ln(original)), factor =
//               max_position_embeddings / original (1 when factor ≤ 1), unless the config gives
//               attention_factor
//
// A checkpoint runs the short factors: its context is capped at original_max_position_embeddings,
// the factors are the RoPE frequency divisors (`Checkpoint.ropeFrequencyFactors`), and scaling
// q and k by attention_factor is the q·k scale attention_factor² / √head_dim. Asked for a longer
// context (`--context`), `LongRopeScaling.withContext` gives the same checkpoint with the long
// factors at every position, up to max_position_embeddings: llama.cpp's rule (long factors when
// the context is longer than the original one), and what transformers computes for a sequence
// longer than original_max_position_embeddings (a shorter prompt in such a context gets the
// long factors here and in llama.cpp, the short ones in transformers). GGUF carries the same as llama.cpp's converter writes
// it: tensors `rope_factors_short.weight` / `rope_factors_long.weight`, and
// `<arch>.rope.scaling.attn_factor`, `.rope.scaling.original_context_length`, `.context_length`.

/// Phi-3's LongRoPE parameters.
public struct LongRopeScaling: Sendable, Equatable {
    public var shortFactors: [Float]
    public var longFactors: [Float]
    /// `original_max_position_embeddings`: the longest context the short factors serve.
    public var originalContext: Int
    /// `max_position_embeddings`: the context the long factors serve.
    public var context: Int
    /// Stored as GGUF stores it (f32), so both formats give the same model.
    public var attentionFactor: Float

    /// transformers' default attention factor for a context stretched from `original` to `context`.
    public static func defaultAttentionFactor(context: Int, original: Int) -> Double {
        let factor = Double(context) / Double(original)
        return factor <= 1 ? 1 : (1 + log(factor) / log(Double(original))).squareRoot()
    }

    /// The q·k scale that applies the attention factor to both q and k.
    public func queryScale(headDim: Int) -> Float {
        Float(Double(attentionFactor) * Double(attentionFactor) / Double(headDim).squareRoot())
    }

    /// Reads the `rope_scaling` / `rope_parameters` object `d` of config.json `json`.
    static func fromHuggingFace(_ d: [String: Any], config json: [String: Any], context: Int, headDim: Int,
                                path: String, key: String) throws -> LongRopeScaling {
        func bad(_ k: String, _ message: String) -> HuggingFaceError { .badValue(path: path, key: "\(key).\(k)", message: message) }
        func factors(_ k: String) throws -> [Float] {
            guard let a = d[k] as? [Any] else { throw HuggingFaceError.missingKey(path: path, key: "\(key).\(k)") }
            let xs = a.compactMap { ($0 as? NSNumber)?.doubleValue }.filter { $0.isFinite && $0 > 0 }
            guard xs.count == a.count, xs.count == headDim / 2 else {
                throw bad(k, "expected \(headDim / 2) positive numbers (one per frequency pair of a \(headDim)-wide head), found \(a.count) entries")
            }
            return xs.map(Float.init)
        }
        func positive(_ v: Any?, _ k: String) throws -> Double? {
            guard let v, !(v is NSNull) else { return nil }
            guard let x = (v as? NSNumber)?.doubleValue, x.isFinite, x > 0 else { throw bad(k, "expected a positive number, found \(v)") }
            return x
        }
        let original = try positive(d["original_max_position_embeddings"], "original_max_position_embeddings")
            ?? positive(json["original_max_position_embeddings"], "original_max_position_embeddings") ?? Double(context)
        guard original.rounded() == original, original < 1e9 else { throw bad("original_max_position_embeddings", "expected an integer") }
        var attention = try positive(d["attention_factor"], "attention_factor")
        if attention == nil, let factor = try positive(d["factor"], "factor") {
            attention = factor <= 1 ? 1 : (1 + log(factor) / log(original)).squareRoot()
        }
        return LongRopeScaling(shortFactors: try factors("short_factor"), longFactors: try factors("long_factor"),
                               originalContext: Int(original), context: context,
                               attentionFactor: Float(attention ?? defaultAttentionFactor(context: context, original: Int(original))))
    }
}

/// A checkpoint whose RoPE is LongRoPE (exports write it back).
public protocol LongRopeCarrying {
    var longRope: LongRopeScaling? { get }
}

extension LongRopeScaling {
    /// The LongRoPE of `checkpoint` (looking through a tokenizer override), if any.
    public static func of(_ checkpoint: any Checkpoint) -> LongRopeScaling? {
        let base = (checkpoint as? TokenizerOverride)?.base ?? checkpoint
        return (base as? LongRopeCarrying)?.longRope
    }
}

extension LongRopeScaling {
    /// `checkpoint` for a context of `context` tokens: itself when that fits its context or it
    /// has no LongRoPE, else the same weights with the long factors and a context of
    /// max_position_embeddings.
    public static func withContext(_ checkpoint: any Checkpoint, _ context: Int) -> any Checkpoint {
        guard context > checkpoint.config.maxContext, let lr = of(checkpoint), lr.context > lr.originalContext,
              !(checkpoint is LongRopeLongFactors) else { return checkpoint }
        return LongRopeLongFactors(base: checkpoint, longRope: lr)
    }
}

/// A LongRoPE checkpoint running its long factors (`LongRopeScaling.withContext`).
public struct LongRopeLongFactors: Checkpoint, LongRopeCarrying, TokenizerLoadReporting {
    public let base: any Checkpoint
    public let longRope: LongRopeScaling?
    init(base: any Checkpoint, longRope: LongRopeScaling) {
        self.base = base
        self.longRope = longRope
    }
    public var path: String { base.path }
    public var config: ModelConfig {
        var c = base.config
        c.maxContext = longRope?.context ?? c.maxContext
        return c
    }
    public var tokenizer: (any Tokenizer)? { base.tokenizer }
    public var tokenizerError: (any Error)? { (base as? TokenizerLoadReporting)?.tokenizerError }
    public func tensor(_ name: String) throws -> WeightTensor { try base.tensor(name) }
    public func ropeFrequencyFactors() throws -> [Float]? { longRope?.longFactors }
    public var chatTemplates: [String: String] { base.chatTemplates }
}
