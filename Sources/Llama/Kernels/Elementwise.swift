import Foundation

/// RMSNorm: `out[i] = weight[i] · x[i] / sqrt(mean(x²) + eps)`. The mean is summed in
/// Double because it is cheap here and it is the one reduction every value depends on.
public func rmsnorm(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                    count n: Int, eps: Float) {
    var ss: Double = 0
    for i in 0..<n { ss += Double(x[i]) * Double(x[i]) }
    // Same order of operations as the reference (x · rsqrt(var + eps), then · weight), in fp32.
    let variance = Float(ss / Double(n))
    let scale = 1 / (variance + eps).squareRoot()
    for i in 0..<n { out[i] = weight[i] * (x[i] * scale) }
}

/// Softmax in place; the maximum is subtracted first so exp never overflows. Eight lanes at
/// a time with the vectorized exp (within 2 ulp of `expf`): attention over a long prompt
/// calls this once per row and head.
public func softmax(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    guard n > 0 else { return }
    typealias V = SIMD8<Float>
    let raw = UnsafeMutableRawPointer(x)
    var i = 0
    var mv = V(repeating: -.infinity)
    while i + 8 <= n {
        mv = pointwiseMax(mv, raw.loadUnaligned(fromByteOffset: 4 * i, as: V.self))
        i += 8
    }
    var m = mv.max()
    while i < n {
        m = max(m, x[i])
        i += 1
    }
    var acc = V()
    var tail: Float = 0
    i = 0
    while i + 8 <= n {
        let e = TrainingKernels.exp8(raw.loadUnaligned(fromByteOffset: 4 * i, as: V.self) - V(repeating: m))
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
