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

/// Softmax in place; the maximum is subtracted first so exp never overflows.
public func softmax(_ x: UnsafeMutablePointer<Float>, count n: Int) {
    guard n > 0 else { return }
    var m = x[0]
    for i in 1..<n where x[i] > m { m = x[i] }
    var sum: Double = 0
    for i in 0..<n {
        let e = expf(x[i] - m)
        x[i] = e
        sum += Double(e)
    }
    let inv = Float(1 / sum)
    for i in 0..<n { x[i] *= inv }
}

/// SiLU (swish): `x · sigmoid(x)`.
@inline(__always)
public func silu(_ x: Float) -> Float {
    x / (1 + expf(-x))
}

/// SwiGLU's gate: `gate[i] = silu(gate[i]) · up[i]`, in place.
public func siluMultiply(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count n: Int) {
    for i in 0..<n { gate[i] = silu(gate[i]) * up[i] }
}

/// `x[i] += y[i]` (the residual connection).
public func addInPlace(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count n: Int) {
    for i in 0..<n { x[i] += y[i] }
}
