import Foundation

/// Linear warmup then cosine decay, exactly `lr_at` of ../shared/tools/torch_train_ref.py:
///
///     step < warmup:  lr · (step + 1) / warmup
///     otherwise:      minLR + ½ (1 + cos(π · (step − warmup) / max(1, steps − warmup))) · (lr − minLR)
public struct LearningRateSchedule: Sendable {
    public var peak: Double
    public var minimum: Double
    public var warmup: Int
    public var steps: Int

    public init(peak: Double, minimum: Double, warmup: Int, steps: Int) {
        self.peak = peak
        self.minimum = minimum
        self.warmup = warmup
        self.steps = steps
    }

    /// The learning rate of step `step` (0-based).
    public func callAsFunction(_ step: Int) -> Double {
        if step < warmup { return peak * Double(step + 1) / Double(warmup) }
        let progress = Double(step - warmup) / Double(max(1, steps - warmup))
        return minimum + 0.5 * (1 + cos(Double.pi * progress)) * (peak - minimum)
    }
}

/// AdamW as `torch.optim.AdamW` computes it: decoupled weight decay (`p -= lr·wd·p`) on
/// matrices only, bias-corrected moments, `eps` added to `√v̂`.
public final class AdamW {
    public let count: Int
    public var beta1: Float
    public var beta2: Float
    public var eps: Float
    public var weightDecay: Float
    /// First and second moments, in the parameters' layout.
    public let m: FloatPointer
    public let v: FloatPointer
    /// Updates taken so far (bias correction uses `step` after increment).
    public var step = 0
    /// `(offset, count, decays)` ranges of the parameter buffer.
    let groups: [(offset: Int, count: Int, decays: Bool)]

    public init(layout: ParameterLayout, beta1: Float, beta2: Float, eps: Float = 1e-8, weightDecay: Float) {
        count = layout.count
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        m = .allocate(capacity: count)
        m.initialize(repeating: 0, count: count)
        v = .allocate(capacity: count)
        v.initialize(repeating: 0, count: count)
        groups = layout.tensors.map { ($0.offset, $0.count, $0.isMatrix) }
    }

    deinit {
        m.deallocate()
        v.deallocate()
    }

    /// One update of `params` from `grads` at learning rate `lr`.
    public func update(params: FloatPointer, grads: UnsafePointer<Float>, lr: Double, pool: ParallelFor) {
        step += 1
        let bc1 = 1 - pow(Double(beta1), Double(step))
        let bc2 = 1 - pow(Double(beta2), Double(step))
        let stepSize = Float(lr / bc1)
        let bc2Root = Float(bc2.squareRoot())
        let lrF = Float(lr)
        let b1 = beta1, b2 = beta2, eps = eps, wd = weightDecay
        let m = m, v = v
        pool.parallelFor(groups.count) { gi in
            let g = groups[gi]
            let decay: Float = g.decays ? 1 - lrF * wd : 1
            for i in g.offset..<(g.offset + g.count) {
                let grad = grads[i]
                let p = params[i] * decay
                m[i] = b1 * m[i] + (1 - b1) * grad
                v[i] = b2 * v[i] + (1 - b2) * grad * grad
                params[i] = p - stepSize * m[i] / (v[i].squareRoot() / bc2Root + eps)
            }
        }
    }
}

/// Scales `grads` so their global L2 norm is at most `maxNorm`, as
/// `torch.nn.utils.clip_grad_norm_` does (factor `maxNorm / (norm + 1e-6)` when below 1).
/// Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ grads: FloatPointer, count: Int, maxNorm: Double) -> Double {
    var sum = 0.0
    // Summed in fixed-size chunks, in order, so the result never depends on threads.
    var i = 0
    while i < count {
        let end = min(count, i + 4096)
        var s: Float = 0
        for j in i..<end { s += grads[j] * grads[j] }
        sum += Double(s)
        i = end
    }
    let norm = sum.squareRoot()
    if maxNorm > 0 {
        let coef = maxNorm / (norm + 1e-6)
        if coef < 1 {
            let c = Float(coef)
            for j in 0..<count { grads[j] *= c }
        }
    }
    return norm
}
