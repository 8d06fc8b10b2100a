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
        typealias V = SIMD16<Float>
        let vectorEnd = dim / 16 * 16
        parallelRows(rows, pool) { r0, r1 in
            let rw = UnsafeRawPointer(w)
            for r in r0..<r1 {
                let dyr = dy + r * dim, xr = x + r * dim, dxr = dx + r * dim
                let s = rstd[r]
                let ry = UnsafeRawPointer(dyr), rx = UnsafeRawPointer(xr), rdx = UnsafeMutableRawPointer(dxr)
                // dot = mean(dy ⊙ w ⊙ x̂), 16 lanes then the lanes in order (a reassociation
                // of the serial sum).
                let vs = V(repeating: s)
                var acc = V()
                var i = 0
                while i < vectorEnd {
                    let o = i * 4
                    acc += ry.loadUnaligned(fromByteOffset: o, as: V.self) * rw.loadUnaligned(fromByteOffset: o, as: V.self)
                        * rx.loadUnaligned(fromByteOffset: o, as: V.self) * vs
                    i += 16
                }
                var dot = acc.sum()
                while i < dim { dot += dyr[i] * w[i] * xr[i] * s; i += 1 }
                dot /= Float(dim)
                // dx = s·(dy ⊙ w − x̂·s·dot): each element the scalar formula.
                i = 0
                while i < vectorEnd {
                    let o = i * 4
                    let xs = rx.loadUnaligned(fromByteOffset: o, as: V.self)
                    let g = vs * (ry.loadUnaligned(fromByteOffset: o, as: V.self) * rw.loadUnaligned(fromByteOffset: o, as: V.self)
                        - xs * vs * V(repeating: dot))
                    rdx.storeBytes(of: accumulate ? rdx.loadUnaligned(fromByteOffset: o, as: V.self) + g : g,
                                   toByteOffset: o, as: V.self)
                    i += 16
                }
                while i < dim {
                    let g = s * (dyr[i] * w[i] - xr[i] * s * dot)
                    dxr[i] = accumulate ? dxr[i] + g : g
                    i += 1
                }
            }
        }
        // Each task owns a range of columns and adds the rows in order: the serial sums.
        parallelColumns(dim, pool) { c0, c1 in
            for r in 0..<rows {
                let s = rstd[r]
                accumulateProduct(dw + c0, dy + r * dim + c0, x + r * dim + c0, scale: s, count: c1 - c0)
            }
        }
    }

    /// `dst[i] += src[i]`, 16 lanes at a time.
    @inline(__always)
    static func addRow(_ dst: FloatPointer, _ src: UnsafePointer<Float>, count n: Int) {
        typealias V = SIMD16<Float>
        let rd = UnsafeMutableRawPointer(dst), rs = UnsafeRawPointer(src)
        var i = 0
        while i + 16 <= n {
            let o = i * 4
            rd.storeBytes(of: rd.loadUnaligned(fromByteOffset: o, as: V.self) + rs.loadUnaligned(fromByteOffset: o, as: V.self),
                          toByteOffset: o, as: V.self)
            i += 16
        }
        while i < n { dst[i] += src[i]; i += 1 }
    }

    /// `dst[i] += a[i] · b[i] · s`, 16 lanes at a time (each element the scalar formula).
    @inline(__always)
    static func accumulateProduct(_ dst: FloatPointer, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                  scale s: Float, count n: Int) {
        typealias V = SIMD16<Float>
        let rd = UnsafeMutableRawPointer(dst), ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        let vs = V(repeating: s)
        var i = 0
        while i + 16 <= n {
            let o = i * 4
            rd.storeBytes(of: rd.loadUnaligned(fromByteOffset: o, as: V.self)
                + ra.loadUnaligned(fromByteOffset: o, as: V.self) * rb.loadUnaligned(fromByteOffset: o, as: V.self) * vs,
                toByteOffset: o, as: V.self)
            i += 16
        }
        while i < n { dst[i] += a[i] * b[i] * s; i += 1 }
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
                    // Causal: P and dS are zero above the diagonal (s > t), so each strip of
                    // rows skips the products with those zeros (the sums keep their order).
                    // dP = dO·Vᵀ, rows t only up to column t ; dV (+)= Pᵀ·dO, row s over t ≥ s
                    causalSerial(m: T, n: T, k: hd, a: dOh, aRow: qw, aCol: 1, b: vb, bRow: 1, bCol: kw,
                                 c: dS, ldc: T, accumulate: false, packBuffer: pack) { i0, rows in (0..<hd, i0 + rows) }
                    causalSerial(m: T, n: hd, k: T, a: P, aRow: 1, aCol: T, b: dOh, bRow: qw, bCol: 1,
                                 c: dvb, ldc: kw, accumulate: i > 0, packBuffer: pack) { i0, _ in (i0..<T, hd) }
                    // dS = P ⊙ (dP − Σ_s P·dP) · scale (softmax backward, then the score scale),
                    // zero from t + 1 to the end of t's strip of rows (what the products below read).
                    for t in 0..<T {
                        let pt = P + t * T, st = dS + t * T
                        let rowDot = dot(pt, st, t + 1)
                        softmaxBackwardRow(pt, st, rowDot: rowDot, scale: scale, count: t + 1)
                        let stripEnd = min(T, (t / gemmTokens + 1) * gemmTokens)
                        if t + 1 < stripEnd { (st + t + 1).update(repeating: 0, count: stripEnd - t - 1) }
                    }
                    // dQ = dS·K, row t over s ≤ t ; dK (+)= dSᵀ·Q, row s over t ≥ s
                    causalSerial(m: T, n: hd, k: T, a: dS, aRow: T, aCol: 1, b: kb, bRow: kw, bCol: 1,
                                 c: dq + b * T * qw + h * hd, ldc: qw, accumulate: false, packBuffer: pack) { i0, rows in
                        (0..<min(T, i0 + rows), hd)
                    }
                    causalSerial(m: T, n: hd, k: T, a: dS, aRow: 1, aCol: T, b: qh, bRow: qw, bCol: 1,
                                 c: dkb, ldc: kw, accumulate: i > 0, packBuffer: pack) { i0, _ in (i0..<T, hd) }
                }
            }
        }
    }

    /// `st[s] = pt[s] · (st[s] − rowDot) · scale` for `s < count`, 16 lanes at a time (each
    /// element the scalar formula).
    @inline(__always)
    static func softmaxBackwardRow(_ pt: UnsafePointer<Float>, _ st: FloatPointer, rowDot: Float, scale: Float, count n: Int) {
        typealias V = SIMD16<Float>
        let rp = UnsafeRawPointer(pt), rs = UnsafeMutableRawPointer(st)
        let vd = V(repeating: rowDot), vs = V(repeating: scale)
        var s = 0
        while s + 16 <= n {
            let o = s * 4
            rs.storeBytes(of: rp.loadUnaligned(fromByteOffset: o, as: V.self) * (rs.loadUnaligned(fromByteOffset: o, as: V.self) - vd) * vs,
                          toByteOffset: o, as: V.self)
            s += 16
        }
        while s < n { st[s] = pt[s] * (st[s] - rowDot) * scale; s += 1 }
    }

    /// `StridedGEMM.multiplySerial` for the causal products of attention's backward: the
    /// strip of C rows `i0 ..< i0 + rows` sums only over `band(i0, rows).k` (the other terms
    /// are products with zeros) and writes only its columns below `band(i0, rows).columns`
    /// (whole panels of 32: the columns past those panels are left as they were). The terms kept are summed in the same
    /// order and the same `gemmKc` blocks as `multiplySerial`, so C is the same (up to the
    /// sign of a zero). A is either row-contiguous (`aCol == 1`) or transposed (`aRow == 1`).
    static func causalSerial(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, aRow: Int, aCol: Int,
                             b: UnsafePointer<Float>, bRow: Int, bCol: Int, c: FloatPointer, ldc: Int,
                             accumulate: Bool, packBuffer: FloatPointer,
                             band: (_ i0: Int, _ rows: Int) -> (k: Range<Int>, columns: Int)) {
        let nr = StridedGEMM.nr
        let panels = (n + nr - 1) / nr
        for panel in 0..<panels {
            StridedGEMM.packPanel(panel, n: n, k: k, b: b, bRow: bRow, bCol: bCol, into: packBuffer)
        }
        var i0 = 0
        while i0 < m {
            let rows = min(gemmTokens, m - i0)
            let (kr, columns) = band(i0, rows)
            let width = min(n, columns)
            let used = (width + nr - 1) / nr
            var wrote = accumulate
            var p0 = 0
            while p0 < k {
                let blockEnd = min(k, p0 + gemmKc)
                let lo = max(p0, kr.lowerBound), hi = min(blockEnd, kr.upperBound)
                if lo < hi {
                    for panel in 0..<used {
                        let j0 = panel * nr
                        let pb = packBuffer + panel * nr * k + lo * nr
                        if aRow == 1 {
                            StridedGEMM.gemmTileTransposedA(pb, a + i0 + lo * aCol, lda: aCol, c + i0 * ldc + j0, ldo: ldc,
                                                            kc: hi - lo, tokens: rows, rows: min(nr, n - j0), accumulate: wrote)
                        } else {
                            gemmTile(pb, a + i0 * aRow + lo, ldx: aRow, c + i0 * ldc + j0, ldo: ldc,
                                     kc: hi - lo, tokens: rows, rows: min(nr, n - j0), accumulate: wrote)
                        }
                    }
                    wrote = true
                }
                p0 = blockEnd
            }
            if !wrote {
                for r in 0..<rows { (c + (i0 + r) * ldc).update(repeating: 0, count: width) }
            }
            i0 += rows
        }
    }

    /// Mean cross-entropy of `logits` (rows×vocab) against `targets`, and when `dLogits` is
    /// given, its gradient times `gradScale` (softmax − one-hot) · gradScale / rows.
    /// Returns the sum (not mean) of the per-row losses, in Double.
    public static func crossEntropy(_ logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, rows: Int, vocab: Int,
                                    dLogits: FloatPointer?, gradScale: Float, rowLoss: FloatPointer,
                                    pool: ParallelFor) -> Double {
        typealias V = SIMD8<Float>
        parallelRows(rows, pool) { r0, r1 in
            for r in r0..<r1 {
                let l = logits + r * vocab
                let rl = UnsafeRawPointer(l)
                // The maximum (any order gives the same), then eˣ⁻ᵐᵃˣ eight lanes at a time with
                // `exp8` (within 2 ulp of `expf`), summed per lane then across the lanes.
                var vmax = V(repeating: -.infinity)
                var i = 0
                while i + 8 <= vocab {
                    let x = rl.loadUnaligned(fromByteOffset: i * 4, as: V.self)
                    vmax.replace(with: x, where: x .> vmax)
                    i += 8
                }
                var mx = vmax.max()
                while i < vocab { mx = max(mx, l[i]); i += 1 }
                let target = Int(targets[r])
                let lt = l[target]
                let vmx = V(repeating: mx)
                var acc = V()
                var tail: Float = 0
                i = 0
                if let d = dLogits {
                    // One exp per logit, kept in dLogits (which may be `logits` itself: the
                    // target's logit was read above).
                    let dr = d + r * vocab, rd = UnsafeMutableRawPointer(dr)
                    while i + 8 <= vocab {
                        let e = exp8(rl.loadUnaligned(fromByteOffset: i * 4, as: V.self) - vmx)
                        acc += e
                        rd.storeBytes(of: e, toByteOffset: i * 4, as: V.self)
                        i += 8
                    }
                    while i < vocab { let e = expf(l[i] - mx); tail += e; dr[i] = e; i += 1 }
                    let sum = acc.sum() + tail
                    let g = gradScale / Float(rows)
                    let inv = 1 / sum
                    let vinv = V(repeating: inv), vg = V(repeating: g)
                    i = 0
                    while i + 8 <= vocab {
                        rd.storeBytes(of: rd.loadUnaligned(fromByteOffset: i * 4, as: V.self) * vinv * vg, toByteOffset: i * 4, as: V.self)
                        i += 8
                    }
                    while i < vocab { dr[i] = dr[i] * inv * g; i += 1 }
                    dr[target] -= g
                    rowLoss[r] = mx + logf(sum) - lt
                } else {
                    while i + 8 <= vocab { acc += exp8(rl.loadUnaligned(fromByteOffset: i * 4, as: V.self) - vmx); i += 8 }
                    while i < vocab { tail += expf(l[i] - mx); i += 1 }
                    rowLoss[r] = mx + logf(acc.sum() + tail) - lt
                }
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
