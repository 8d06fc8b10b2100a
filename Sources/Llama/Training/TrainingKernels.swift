import Foundation
import CKernels

// Kernels of the training model: small functions over raw fp32 buffers, with no knowledge
// of the model, so they can be benchmarked and replaced alone.
//
// Every matrix is row-major. Parallel kernels split work so that each output element is
// computed by exactly one task in a fixed order: results are bit-identical whatever the
// thread count.

/// The backward kernels of the block (`TransformerBlock`, whose forward the training model
/// runs as the inference model does) and the loss.
public enum TrainingKernels {
    /// Backward of the block's RMSNorm (`TransformerBlock.normRows` with `rstd`): `dx (+)= …`,
    /// and `dw += Σ_rows dy ⊙ x̂` (serial over rows, so the sum order never changes).
    public static func rmsNormBackward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                       _ rstd: UnsafePointer<Float>, _ dx: FloatPointer, _ dw: FloatPointer,
                                       rows: Int, dim: Int, accumulate: Bool, pool: ParallelFor) {
        parallelRows(rows, pool) { r0, r1 in
            for r in r0..<r1 {
                let dyr = dy + r * dim, xr = x + r * dim, dxr = dx + r * dim
                let s = rstd[r]
                // dot = mean(dy ⊙ w ⊙ x̂)
                var dot: Float = 0
                for i in 0..<dim { dot += dyr[i] * w[i] * xr[i] * s }
                dot /= Float(dim)
                for i in 0..<dim {
                    let g = s * (dyr[i] * w[i] - xr[i] * s * dot)
                    dxr[i] = accumulate ? dxr[i] + g : g
                }
            }
        }
        // Each task owns a range of columns and adds the rows in order: the serial sums.
        parallelColumns(dim, pool) { c0, c1 in
            for r in 0..<rows {
                let dyr = dy + r * dim, xr = x + r * dim
                let s = rstd[r]
                for i in c0..<c1 { dw[i] += dyr[i] * xr[i] * s }
            }
        }
    }

    /// Floats of scratch one worker of `attentionBackward` needs: a packed operand and the
    /// T × T score gradient.
    public static func attentionBackwardScratchCount(context T: Int, headDim hd: Int) -> Int {
        max(T, hd) * (max(T, hd) + StridedGEMM.nr) + T * T
    }

    /// Backward of `attention`: writes dq, dk, dv (dk, dv summed over the heads sharing a
    /// kv head inside one task, so no two tasks write the same element). `scratch` holds
    /// `attentionBackwardScratchCount` floats per worker of `pool` (nil: allocated here, once
    /// per call).
    public static func attentionBackward(dOut: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                                         v: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                                         dq: FloatPointer, dk: FloatPointer, dv: FloatPointer,
                                         batch: Int, context T: Int, heads: Int, kvHeads: Int, headDim hd: Int,
                                         pool: ParallelFor, scratch: FloatPointer? = nil) {
        let qw = heads * hd, kw = kvHeads * hd, group = heads / kvHeads
        let scale = 1 / Float(hd).squareRoot()
        let perWorker = attentionBackwardScratchCount(context: T, headDim: hd)
        let packCount = perWorker - T * T
        let owned = scratch == nil ? FloatPointer.allocate(capacity: perWorker * pool.workers) : nil
        defer { owned?.deallocate() }
        guard let buffers = scratch ?? owned else { return }
        pool.runChunked(batch * kvHeads, chunk: 1) { worker, jobs in
            for job in jobs {
                let b = job / kvHeads, kh = job % kvHeads
                let kb = k + b * T * kw + kh * hd, vb = v + b * T * kw + kh * hd
                let dkb = dk + b * T * kw + kh * hd, dvb = dv + b * T * kw + kh * hd
                let pack = buffers + worker * perWorker
                let dS = pack + packCount
                for (i, h) in ((kh * group)..<((kh + 1) * group)).enumerated() {
                    let P = probs + (b * heads + h) * T * T
                    let dOh = dOut + b * T * qw + h * hd, qh = q + b * T * qw + h * hd
                    // dP = dO·Vᵀ ; dV (+)= Pᵀ·dO
                    StridedGEMM.multiplySerial(m: T, n: T, k: hd, a: dOh, aRow: qw, aCol: 1, b: vb, bRow: 1, bCol: kw,
                                                c: dS, ldc: T, accumulate: false, packBuffer: pack)
                    StridedGEMM.multiplySerial(m: T, n: hd, k: T, a: P, aRow: 1, aCol: T, b: dOh, bRow: qw, bCol: 1,
                                                c: dvb, ldc: kw, accumulate: i > 0, packBuffer: pack)
                    // dS = P ⊙ (dP − Σ_s P·dP) · scale (softmax backward, then the score scale)
                    for t in 0..<T {
                        let pt = P + t * T, st = dS + t * T
                        var rowDot: Float = 0
                        for s in 0...t { rowDot += pt[s] * st[s] }
                        for s in 0...t { st[s] = pt[s] * (st[s] - rowDot) * scale }
                        if t + 1 < T { (st + t + 1).update(repeating: 0, count: T - t - 1) }
                    }
                    // dQ = dS·K ; dK (+)= dSᵀ·Q
                    StridedGEMM.multiplySerial(m: T, n: hd, k: T, a: dS, aRow: T, aCol: 1, b: kb, bRow: kw, bCol: 1,
                                                c: dq + b * T * qw + h * hd, ldc: qw, accumulate: false, packBuffer: pack)
                    StridedGEMM.multiplySerial(m: T, n: hd, k: T, a: dS, aRow: 1, aCol: T, b: qh, bRow: qw, bCol: 1,
                                                c: dkb, ldc: kw, accumulate: i > 0, packBuffer: pack)
                }
            }
        }
    }

    /// Mean cross-entropy of `logits` (rows×vocab) against `targets`, and when `dLogits` is
    /// given, its gradient times `gradScale` (softmax − one-hot) · gradScale / rows.
    /// Returns the sum (not mean) of the per-row losses, in Double.
    public static func crossEntropy(_ logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, rows: Int, vocab: Int,
                                    dLogits: FloatPointer?, gradScale: Float, rowLoss: FloatPointer,
                                    pool: ParallelFor) -> Double {
        parallelRows(rows, pool) { r0, r1 in
            for r in r0..<r1 {
                let l = logits + r * vocab
                var mx = -Float.infinity
                for i in 0..<vocab { mx = max(mx, l[i]) }
                let target = Int(targets[r])
                let lt = l[target]
                var sum: Float = 0
                if let d = dLogits {
                    // One exp per logit, kept in dLogits (which may be `logits` itself: the
                    // target's logit was read above).
                    let dr = d + r * vocab
                    for i in 0..<vocab {
                        let e = expf(l[i] - mx)
                        sum += e
                        dr[i] = e
                    }
                    let g = gradScale / Float(rows)
                    let inv = 1 / sum
                    for i in 0..<vocab { dr[i] = dr[i] * inv * g }
                    dr[target] -= g
                } else {
                    for i in 0..<vocab { sum += expf(l[i] - mx) }
                }
                rowLoss[r] = mx + logf(sum) - lt
            }
        }
        var total = 0.0
        for r in 0..<rows { total += Double(rowLoss[r]) }
        return total
    }

    /// Splits `columns` into contiguous ranges of whole 16-float vectors over the pool (for
    /// sums over rows that must keep their order: each column is summed by one task).
    @inline(__always)
    static func parallelColumns(_ columns: Int, _ pool: ParallelFor, _ body: (Int, Int) -> Void) {
        let vectors = (columns + 15) / 16
        let tasks = min(vectors, pool.workers * 2)
        guard tasks > 1 else { return body(0, columns) }
        pool.parallelFor(tasks) { t in body(min(columns, vectors * t / tasks * 16), min(columns, vectors * (t + 1) / tasks * 16)) }
    }

    /// Splits `rows` into contiguous chunks over the pool.
    @inline(__always)
    static func parallelRows(_ rows: Int, _ pool: ParallelFor, _ body: (Int, Int) -> Void) {
        let tasks = min(rows, pool.workers * 2)
        pool.parallelFor(tasks) { t in body(rows * t / tasks, rows * (t + 1) / tasks) }
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var i = 0
        var acc = SIMD8<Float>()
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        while i + 8 <= n {
            acc = acc.addingProduct(ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self),
                                    rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self))
            i += 8
        }
        var s = acc.sum()
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// `y += alpha · x`.
    @inline(__always)
    static func axpy(_ alpha: Float, _ x: UnsafePointer<Float>, _ y: FloatPointer, _ n: Int) {
        var i = 0
        let av = SIMD8<Float>(repeating: alpha)
        let rx = UnsafeRawPointer(x), ry = UnsafeMutableRawPointer(y)
        while i + 8 <= n {
            let r = ry.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                .addingProduct(av, rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self))
            ry.storeBytes(of: r, toByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n { y[i] += alpha * x[i]; i += 1 }
    }
}
