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
    /// `(offset, count, decays)` ranges of the parameter buffer: each tensor, cut into
    /// pieces of at most `pieceSize` floats so that threads share the update evenly.
    let groups: [(offset: Int, count: Int, decays: Bool)]
    static let pieceSize = 1 << 14

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
        groups = layout.tensors.flatMap { t in
            stride(from: 0, to: t.count, by: AdamW.pieceSize).map { i in
                (t.offset + i, min(AdamW.pieceSize, t.count - i), t.isMatrix)
            }
        }
    }

    deinit {
        m.deallocate()
        v.deallocate()
    }

    /// One update of `params` from `grads` at learning rate `lr`; with `gradScale`, from
    /// `grads` times it (each gradient `g · gradScale`, as `clipGradientNorm` would have
    /// scaled it in place: the same bits, one pass over the gradients fewer).
    public func update(params: FloatPointer, grads: UnsafePointer<Float>, lr: Double, gradScale: Float? = nil,
                       pool: ParallelFor) {
        step += 1
        let bc1 = 1 - pow(Double(beta1), Double(step))
        let bc2 = 1 - pow(Double(beta2), Double(step))
        let stepSize = Float(lr / bc1)
        let bc2Root = Float(bc2.squareRoot())
        let lrF = Float(lr)
        let b1 = beta1, b2 = beta2, eps = eps, wd = weightDecay
        let m = m, v = v
        let groups = groups
        let scaled = gradScale != nil, scale = gradScale ?? 1
        pool.parallelFor(groups.count) { gi in
            let g = groups[gi]
            let decay: Float = g.decays ? 1 - lrF * wd : 1
            // 16 lanes at a time, each lane the scalar formula below (the same operations in
            // the same order, no fused multiply-adds): the same bits.
            typealias V = SIMD16<Float>
            let pr = UnsafeMutableRawPointer(params), gr = UnsafeRawPointer(grads)
            let mr = UnsafeMutableRawPointer(m), vr = UnsafeMutableRawPointer(v)
            let vDecay = V(repeating: decay), vb1 = V(repeating: b1), vb2 = V(repeating: b2)
            let vc1 = V(repeating: 1 - b1), vc2 = V(repeating: 1 - b2)
            let vStep = V(repeating: stepSize), vRoot = V(repeating: bc2Root), vEps = V(repeating: eps)
            let vScale = V(repeating: scale)
            var i = g.offset
            let end = g.offset + g.count
            while i + 16 <= end {
                let o = i * 4
                var grad = gr.loadUnaligned(fromByteOffset: o, as: V.self)
                if scaled { grad *= vScale }
                let p = pr.loadUnaligned(fromByteOffset: o, as: V.self) * vDecay
                let mi = vb1 * mr.loadUnaligned(fromByteOffset: o, as: V.self) + vc1 * grad
                let vi = vb2 * vr.loadUnaligned(fromByteOffset: o, as: V.self) + vc2 * grad * grad
                mr.storeBytes(of: mi, toByteOffset: o, as: V.self)
                vr.storeBytes(of: vi, toByteOffset: o, as: V.self)
                pr.storeBytes(of: p - vStep * mi / (vi.squareRoot() / vRoot + vEps), toByteOffset: o, as: V.self)
                i += 16
            }
            while i < end {
                let grad = scaled ? grads[i] * scale : grads[i]
                let p = params[i] * decay
                m[i] = b1 * m[i] + (1 - b1) * grad
                v[i] = b2 * v[i] + (1 - b2) * grad * grad
                params[i] = p - stepSize * m[i] / (v[i].squareRoot() / bc2Root + eps)
                i += 1
            }
        }
    }
}

/// Scales `grads` so their global L2 norm is at most `maxNorm`, as
/// `torch.nn.utils.clip_grad_norm_` does (factor `maxNorm / (norm + 1e-6)` when below 1).
/// Returns the norm before clipping.
@discardableResult
public func clipGradientNorm(_ grads: FloatPointer, count: Int, maxNorm: Double, pool: ParallelFor = .serial) -> Double {
    let norm = gradientNorm(grads, count: count, pool: pool)
    if let c = clipFactor(norm: norm, maxNorm: maxNorm) {
        TrainingKernels.parallelRows(count, pool) { j0, j1 in
            for j in j0..<j1 { grads[j] *= c }
        }
    }
    return norm
}

/// The factor `clipGradientNorm` scales gradients of global norm `norm` by: nil when it
/// leaves them as they are (`maxNorm` 0, or the norm within it).
public func clipFactor(norm: Double, maxNorm: Double) -> Float? {
    guard maxNorm > 0 else { return nil }
    let coef = maxNorm / (norm + 1e-6)
    return coef < 1 ? Float(coef) : nil
}

/// The global L2 norm of `grads` (as `clipGradientNorm` computes it).
public func gradientNorm(_ grads: UnsafePointer<Float>, count: Int, pool: ParallelFor = .serial) -> Double {
    // Summed in fixed-size chunks (each in 16 lanes, in Float), then the chunks in order (in
    // Double), so the result never depends on threads.
    let chunk = 4096
    let chunks = (count + chunk - 1) / chunk
    // Per-chunk sums on the stack (a few KB for models trained here), not a new array per step.
    return withUnsafeTemporaryAllocation(of: Double.self, capacity: max(1, chunks)) { partial in
        guard let part = partial.baseAddress else { return 0 }
        pool.runChunked(chunks, chunk: 8) { _, range in
            for c in range {
                // 16 lanes over the chunk, then the lanes in order: a fixed reassociation of
                // the chunk's serial sum.
                typealias V = SIMD16<Float>
                let end = min(count, (c + 1) * chunk)
                let raw = UnsafeRawPointer(grads)
                var acc = V()
                var j = c * chunk
                while j + 16 <= end {
                    let g = raw.loadUnaligned(fromByteOffset: j * 4, as: V.self)
                    acc.addProduct(g, g)
                    j += 16
                }
                var s = acc.sum()
                while j < end { s += grads[j] * grads[j]; j += 1 }
                part[c] = Double(s)
            }
        }
        var sum = 0.0
        for c in 0..<chunks { sum += part[c] }
        return sum.squareRoot()
    }
}
