import Foundation
import CKernels

/// RMSNorm: `out[i] = weight[i] · x[i] / sqrt(mean(x²) + eps)`. The mean is summed in
/// Double because it is cheap here and it is the one reduction every value depends on.
/// Returns the scale 1 / sqrt(mean(x²) + eps) (the training model saves it for the backward).
@discardableResult
public func rmsnorm(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                    count n: Int, eps: Float) -> Float {
    var ss: Double = 0
    for i in 0..<n { ss += Double(x[i]) * Double(x[i]) }
    // Same order of operations as the reference (x · rsqrt(var + eps), then · weight), in fp32.
    let variance = Float(ss / Double(n))
    let scale = 1 / (variance + eps).squareRoot()
    for i in 0..<n { out[i] = weight[i] * (x[i] * scale) }
    return scale
}

/// Softmax in place; the maximum is subtracted first so exp never overflows. Eight lanes at
/// a time with the vectorized exp (within 2 ulp of `expf`): attention over a long prompt
/// calls this once per row and head.
public func softmax(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    guard n > 0 else { return }
    typealias V = SIMD8<Float>
    let raw = UnsafeMutableRawPointer(x)
    var m = x[0]
    for i in 1..<max(1, n) where x[i] > m { m = x[i] }
    var acc = V()
    var tail: Float = 0
    var i = 0
    while i + 8 <= n {
        let e = exp8(raw.loadUnaligned(fromByteOffset: 4 * i, as: V.self) - V(repeating: m))
        raw.storeBytes(of: e, toByteOffset: 4 * i, as: V.self)
        acc += e
        i += 8
    }
    while i < n {
        let e = expf(x[i] - m)
        x[i] = e
        tail += e
        i += 1
    }
    let inv = 1 / (acc.sum() + tail)
    for i in 0..<n { x[i] *= inv }
}

/// SiLU (swish): `x · sigmoid(x)`.
@inline(__always)
public func silu(_ x: Float) -> Float {
    x / (1 + expf(-x))
}

/// `x[i] += y[i]` (the residual connection).
public func addInPlace(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count n: Int) {
    for i in 0..<n { x[i] += y[i] }
}

/// `out[d] = Σ_t weight[t] · values[t·stride + d]` for `d < width`: attention's weighted sum
/// of value vectors, each output an FMA chain over t in order (the C attention kernel with
/// one head, so a head's output is the same as in `TransformerBlock.cacheAttention`'s groups).
public func weightedSum(_ weight: UnsafePointer<Float>, count n: Int, values: UnsafePointer<Float>, stride: Int,
                        width: Int, into out: UnsafeMutablePointer<Float>) {
    swiftllama_attention_values(weight, n, 1, values, Int32(SWIFTLLAMA_CACHE_F32), stride, Int32(n), Int32(width), out, width, nil)
}

/// `weightedSum` of `rows` (≤ 4) consecutive query rows of attention: row r sums the first
/// `firstCount + r` value vectors with weights `p[r·ldp ..]` into `out[r·ldo ..]`. The C
/// attention kernel with the rows as its heads (each value vector loaded once for all of
/// them): every row sums over the longest row's positions, the others' weights there being
/// the zeros above the causal diagonal, which leave an FMA chain unchanged; so each row
/// has `weightedSum`'s bits, and attention over a sequence's own rows
/// (`TransformerBlock.sequenceAttention`) the bits of attention over a cache.
func weightedSumRows(_ p: UnsafePointer<Float>, ldp: Int, firstCount n0: Int, rows: Int,
                     values: UnsafePointer<Float>, stride: Int, width: Int,
                     into out: FloatPointer, ldo: Int) {
    swiftllama_attention_values(p, ldp, Int32(rows), values, Int32(SWIFTLLAMA_CACHE_F32), stride, Int32(n0 + rows - 1),
                                Int32(width), out, ldo, nil)
}

/// LayerNorm: `out[i] = (x[i] − mean) / sqrt(var + eps) · weight[i] + bias[i]` with the
/// biased variance, as torch's `layer_norm`. Mean and variance are summed in Double (two
/// passes), the rest in fp32. `out` may be `x`.
public func layerNorm(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ bias: UnsafePointer<Float>?,
                      _ out: UnsafeMutablePointer<Float>, count n: Int, eps: Float) {
    var sum: Double = 0
    for i in 0..<n { sum += Double(x[i]) }
    let mean = sum / Double(n)
    var ss: Double = 0
    for i in 0..<n { let d = Double(x[i]) - mean; ss += d * d }
    let m = Float(mean)
    let scale = 1 / (Float(ss / Double(n)) + eps).squareRoot()
    if let bias {
        for i in 0..<n { out[i] = (x[i] - m) * scale * weight[i] + bias[i] }
    } else {
        for i in 0..<n { out[i] = (x[i] - m) * scale * weight[i] }
    }
}

/// GELU with the tanh approximation: `0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))`
/// (transformers' `gelu_new` and `gelu_pytorch_tanh`), in fp32.
@inline(__always)
public func geluTanh(_ x: Float) -> Float {
    let c: Float = 0.7978845608028654  // √(2/π)
    return 0.5 * x * (1 + tanhf(c * (x + 0.044715 * x * x * x)))
}

/// `x[i] = geluTanh(x[i])`.
public func geluTanhInPlace(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    for i in 0..<n { x[i] = geluTanh(x[i]) }
}

/// GeGLU: `out[i] = geluTanh(gate[i]) · up[i]` (Gemma's feed-forward gate); `out` may be `gate`.
public func geglu(_ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count n: Int) {
    for i in 0..<n { out[i] = geluTanh(gate[i]) * up[i] }
}

/// `x[i] *= s`.
public func scaleInPlace(_ x: UnsafeMutablePointer<Float>, by s: Float, count n: Int) {
    for i in 0..<n { x[i] *= s }
}

/// Scores of one query head against `count` keys `stride` floats apart: `q·k · scale`, then
/// soft-capped when `softCap` is set. The C attention kernel with one head, as
/// `TransformerBlock.cacheAttention` scores its head groups: attention over a sequence's own
/// rows (`TransformerBlock.sequenceAttention`) scores with this, so the two agree to the bit.
public func attentionScores(_ q: UnsafePointer<Float>, keys: UnsafePointer<Float>, stride: Int, count: Int, headDim: Int,
                            scale: Float, softCap cap: Float?, into att: UnsafeMutablePointer<Float>) {
    swiftllama_attention_scores(q, headDim, 1, keys, Int32(SWIFTLLAMA_CACHE_F32), stride, Int32(count), Int32(headDim),
                                scale, att, count, nil)
    if let cap { softCap(att, count: count, cap: cap) }
}

/// tanh soft-capping in place: `x[i] = cap · tanh(x[i] / cap)` (Gemma 2's attention scores
/// and final logits), in the reference's order of operations.
public func softCap(_ x: UnsafeMutablePointer<Float>, count n: Int, cap: Float) {
    for i in 0..<n { x[i] = tanhf(x[i] / cap) * cap }
}
