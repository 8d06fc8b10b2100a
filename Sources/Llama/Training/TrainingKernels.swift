import Foundation

// Kernels of the training model: small functions over raw fp32 buffers, with no knowledge
// of the model, so they can be benchmarked and replaced alone.
//
// Every matrix is row-major. Parallel kernels split work so that each output element is
// computed by exactly one task in a fixed order: results are bit-identical whatever the
// thread count.

/// Raw fp32 pointer, the type every kernel works on.
public typealias FloatPointer = UnsafeMutablePointer<Float>

/// Single-precision matrix products for training shapes (hundreds of rows and columns).
///
/// `C[m×n] = (accumulate ? C : 0) + A[m×k] · B[k×n]` where A and B are read through
/// strides, so the three products of a linear layer need no transposed copies:
/// forward `Y = X·Wᵀ`, backward `dX = dY·W` and `dW += dYᵀ·X`.
///
/// The method is the usual one: B is packed once into 32-column panels, each task packs a
/// 6-row strip of A for a block of `kc` steps of k, and a 6×32 micro-kernel keeps its
/// twelve 16-float accumulators in registers while streaming both packed operands (one
/// AVX-512 register each where the CPU has them, two AVX registers elsewhere).
public final class TrainingGEMM: @unchecked Sendable {
    static let mr = 6
    static let nr = 32
    static let kc = 256

    let pool: ParallelFor
    private var packedB: UnsafeMutablePointer<Float>
    private var packedBCapacity: Int

    public init(pool: ParallelFor) {
        self.pool = pool
        packedBCapacity = 1 << 16
        packedB = .allocate(capacity: packedBCapacity)
    }

    deinit { packedB.deallocate() }

    /// `C = (accumulate ? C : 0) + A·B`. A(i, p) is `a[i*aRow + p*aCol]`, B(p, j) is
    /// `b[p*bRow + j*bCol]`, C(i, j) is `c[i*ldc + j]`.
    public func multiply(m: Int, n: Int, k: Int,
                         a: UnsafePointer<Float>, aRow: Int, aCol: Int,
                         b: UnsafePointer<Float>, bRow: Int, bCol: Int,
                         c: FloatPointer, ldc: Int, accumulate: Bool) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        let nr = TrainingGEMM.nr, mr = TrainingGEMM.mr
        let panels = (n + nr - 1) / nr
        let need = panels * nr * k
        if need > packedBCapacity {
            packedB.deallocate()
            packedBCapacity = need
            packedB = .allocate(capacity: need)
        }
        let pb = packedB
        // Pack B: panel j holds B(0..<k, 32j..<32j+32) as k rows of 32, zero-padded.
        pool.parallelFor(panels) { panel in
            TrainingGEMM.packPanel(panel, n: n, k: k, b: b, bRow: bRow, bCol: bCol, into: pb)
        }
        let strips = (m + mr - 1) / mr
        let tasks = min(strips, pool.workers * 4)
        pool.parallelFor(tasks) { task in
            TrainingGEMM.strips(strips * task / tasks, strips * (task + 1) / tasks, m: m, n: n, k: k,
                                a: a, aRow: aRow, aCol: aCol, packedB: pb, c: c, ldc: ldc, accumulate: accumulate)
        }
    }

    /// `multiply` on the calling thread only, for products inside an already parallel task
    /// (attention heads). `packBuffer` needs `k × (n rounded up to 32)` floats.
    public static func multiplySerial(m: Int, n: Int, k: Int,
                                      a: UnsafePointer<Float>, aRow: Int, aCol: Int,
                                      b: UnsafePointer<Float>, bRow: Int, bCol: Int,
                                      c: FloatPointer, ldc: Int, accumulate: Bool, packBuffer: FloatPointer) {
        let panels = (n + nr - 1) / nr
        for panel in 0..<panels {
            packPanel(panel, n: n, k: k, b: b, bRow: bRow, bCol: bCol, into: packBuffer)
        }
        strips(0, (m + mr - 1) / mr, m: m, n: n, k: k, a: a, aRow: aRow, aCol: aCol,
               packedB: packBuffer, c: c, ldc: ldc, accumulate: accumulate)
    }

    /// Packs panel `panel` of B (k rows × 32 columns, zero-padded) at `dst + panel·32·k`.
    @inline(__always)
    static func packPanel(_ panel: Int, n: Int, k: Int, b: UnsafePointer<Float>, bRow: Int, bCol: Int,
                          into packed: FloatPointer) {
        let j0 = panel * nr
        let width = min(nr, n - j0)
        let dst = packed + panel * nr * k
        if width < nr { dst.update(repeating: 0, count: nr * k) }
        if bCol == 1 {
            for p in 0..<k {
                let src = b + p * bRow + j0
                let d = dst + p * nr
                for jj in 0..<width { d[jj] = src[jj] }
            }
        } else {
            for jj in 0..<width {
                var d = dst + jj
                var s = b + (j0 + jj) * bCol
                for _ in 0..<k {
                    d.pointee = s.pointee
                    d += nr
                    s += bRow
                }
            }
        }
    }

    /// Rows `6·s0 ..< 6·s1` of C against the packed B.
    static func strips(_ s0: Int, _ s1: Int, m: Int, n: Int, k: Int,
                       a: UnsafePointer<Float>, aRow: Int, aCol: Int, packedB pb: UnsafePointer<Float>,
                       c: FloatPointer, ldc: Int, accumulate: Bool) {
        let panels = (n + nr - 1) / nr
        withUnsafeTemporaryAllocation(of: Float.self, capacity: mr * kc) { packA in
            let pa = packA.baseAddress!
            var p0 = 0
            while p0 < k {
                let kcNow = min(kc, k - p0)
                let add = accumulate || p0 > 0
                for strip in s0..<s1 {
                    let i0 = strip * mr
                    let rows = min(mr, m - i0)
                    // Pack A(i0..<i0+6, p0..<p0+kc) as kc columns of 6, zero-padded.
                    if rows < mr { pa.update(repeating: 0, count: mr * kcNow) }
                    for r in 0..<rows {
                        var src = a + (i0 + r) * aRow + p0 * aCol
                        var d = pa + r
                        for _ in 0..<kcNow {
                            d.pointee = src.pointee
                            d += mr
                            src += aCol
                        }
                    }
                    for panel in 0..<panels {
                        let j0 = panel * nr
                        microKernel(kc: kcNow, a: pa, b: pb + panel * nr * k + p0 * nr,
                                    c: c + i0 * ldc + j0, ldc: ldc,
                                    rows: rows, cols: min(nr, n - j0), add: add)
                    }
                }
                p0 += kcNow
            }
        }
    }

    /// The 6×32 tile `C (+)= Apacked·Bpacked` over `kc` steps; only `rows`×`cols` of it stored.
    @inline(__always)
    static func microKernel(kc: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                            c: FloatPointer, ldc: Int, rows: Int, cols: Int, add: Bool) {
        typealias V = SIMD16<Float>
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        var ap = UnsafeRawPointer(a)
        var bp = UnsafeRawPointer(b)
        for _ in 0..<kc {
            let b0 = bp.loadUnaligned(as: V.self)
            let b1 = bp.loadUnaligned(fromByteOffset: 64, as: V.self)
            var x = V(repeating: ap.load(as: Float.self))
            c00 = c00.addingProduct(x, b0); c01 = c01.addingProduct(x, b1)
            x = V(repeating: ap.load(fromByteOffset: 4, as: Float.self))
            c10 = c10.addingProduct(x, b0); c11 = c11.addingProduct(x, b1)
            x = V(repeating: ap.load(fromByteOffset: 8, as: Float.self))
            c20 = c20.addingProduct(x, b0); c21 = c21.addingProduct(x, b1)
            x = V(repeating: ap.load(fromByteOffset: 12, as: Float.self))
            c30 = c30.addingProduct(x, b0); c31 = c31.addingProduct(x, b1)
            x = V(repeating: ap.load(fromByteOffset: 16, as: Float.self))
            c40 = c40.addingProduct(x, b0); c41 = c41.addingProduct(x, b1)
            x = V(repeating: ap.load(fromByteOffset: 20, as: Float.self))
            c50 = c50.addingProduct(x, b0); c51 = c51.addingProduct(x, b1)
            ap += 24
            bp += 128
        }
        if rows == mr && cols == nr {
            @inline(__always) func store(_ row: FloatPointer, _ v0: V, _ v1: V) {
                let r = UnsafeMutableRawPointer(row)
                if add {
                    r.storeBytes(of: r.loadUnaligned(as: V.self) + v0, as: V.self)
                    r.storeBytes(of: r.loadUnaligned(fromByteOffset: 64, as: V.self) + v1, toByteOffset: 64, as: V.self)
                } else {
                    r.storeBytes(of: v0, as: V.self)
                    r.storeBytes(of: v1, toByteOffset: 64, as: V.self)
                }
            }
            store(c, c00, c01); store(c + ldc, c10, c11); store(c + 2 * ldc, c20, c21)
            store(c + 3 * ldc, c30, c31); store(c + 4 * ldc, c40, c41); store(c + 5 * ldc, c50, c51)
            return
        }
        let tile: [(V, V)] = [(c00, c01), (c10, c11), (c20, c21), (c30, c31), (c40, c41), (c50, c51)]
        for r in 0..<rows {
            let row = c + r * ldc
            for j in 0..<cols {
                let v = j < 16 ? tile[r].0[j] : tile[r].1[j - 16]
                row[j] = add ? row[j] + v : v
            }
        }
    }

    /// `y[rows×out] = x[rows×in] · wᵀ` with `w` of shape out×in (a linear layer).
    public func linear(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: FloatPointer,
                       rows: Int, inDim: Int, outDim: Int) {
        multiply(m: rows, n: outDim, k: inDim, a: x, aRow: inDim, aCol: 1,
                 b: w, bRow: 1, bCol: inDim, c: y, ldc: outDim, accumulate: false)
    }

    /// `dx (+)= dy · w`: the input gradient of a linear layer.
    public func linearBackwardInput(_ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dx: FloatPointer,
                                    rows: Int, inDim: Int, outDim: Int, accumulate: Bool) {
        multiply(m: rows, n: inDim, k: outDim, a: dy, aRow: outDim, aCol: 1,
                 b: w, bRow: inDim, bCol: 1, c: dx, ldc: inDim, accumulate: accumulate)
    }

    /// `dw += dyᵀ · x`: the weight gradient of a linear layer, accumulated.
    public func linearBackwardWeight(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dw: FloatPointer,
                                     rows: Int, inDim: Int, outDim: Int) {
        multiply(m: outDim, n: inDim, k: rows, a: dy, aRow: 1, aCol: outDim,
                 b: x, bRow: inDim, bCol: 1, c: dw, ldc: inDim, accumulate: true)
    }
}

/// Element-wise and per-row kernels of the Llama block, forward and backward.
public enum TrainingKernels {
    /// `y = x / rms(x) * w` per row; saves `1/rms` per row for the backward pass.
    public static func rmsNorm(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: FloatPointer,
                               _ rstd: FloatPointer, rows: Int, dim: Int, eps: Float, pool: ParallelFor) {
        parallelRows(rows, pool) { r0, r1 in
            for r in r0..<r1 {
                let xr = x + r * dim, yr = y + r * dim
                var ss: Float = 0
                for i in 0..<dim { ss += xr[i] * xr[i] }
                let s = 1 / (ss / Float(dim) + eps).squareRoot()
                rstd[r] = s
                for i in 0..<dim { yr[i] = xr[i] * s * w[i] }
            }
        }
    }

    /// Backward of `rmsNorm`: `dx (+)= …`, and `dw += Σ_rows dy ⊙ x̂` (serial over rows, so
    /// the sum order never changes).
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
        for r in 0..<rows {
            let dyr = dy + r * dim, xr = x + r * dim
            let s = rstd[r]
            for i in 0..<dim { dw[i] += dyr[i] * xr[i] * s }
        }
    }

    /// RoPE tables as PyTorch's reference builds them (fp32): angle(t, i) = t · θ^(−2i/hd).
    public static func ropeTables(context: Int, headDim: Int, theta: Float) -> (cos: [Float], sin: [Float]) {
        let half = headDim / 2
        var c = [Float](repeating: 0, count: context * half), s = c
        for i in 0..<half {
            let f = 1 / powf(theta, Float(2 * i) / Float(headDim))
            for t in 0..<context {
                let angle = Float(t) * f
                c[t * half + i] = cosf(angle)
                s[t * half + i] = sinf(angle)
            }
        }
        return (c, s)
    }

    /// Rotates interleaved pairs (x[2i], x[2i+1]) of every head in place; rows are
    /// `batch × context` positions, `width` = heads × headDim. `inverse` applies the
    /// transpose rotation (the backward pass).
    public static func rope(_ x: FloatPointer, rows: Int, context: Int, width: Int, headDim: Int,
                            cos: UnsafePointer<Float>, sin: UnsafePointer<Float>, inverse: Bool) {
        let half = headDim / 2
        for r in 0..<rows {
            let t = r % context
            let cr = cos + t * half, sr = sin + t * half
            var p = x + r * width
            for _ in 0..<(width / headDim) {
                for i in 0..<half {
                    let a = p[2 * i], b = p[2 * i + 1]
                    let c = cr[i], s = inverse ? -sr[i] : sr[i]
                    p[2 * i] = a * c - b * s
                    p[2 * i + 1] = a * s + b * c
                }
                p += headDim
            }
        }
    }

    /// Causal grouped-query attention forward for `batch` sequences of `context` positions.
    /// q: rows×(heads·hd), k, v: rows×(kvHeads·hd), out: rows×(heads·hd),
    /// probs: batch×heads×context×context (softmax weights, upper triangle zero).
    ///
    /// Per head, two small matrix products (S = Q·Kᵀ, O = P·V) on the GEMM micro-kernel;
    /// computing the masked upper triangle too is cheaper than scalar dot products.
    public static func attention(q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                                 out: FloatPointer, probs: FloatPointer,
                                 batch: Int, context T: Int, heads: Int, kvHeads: Int, headDim hd: Int,
                                 pool: ParallelFor) {
        let qw = heads * hd, kw = kvHeads * hd, group = heads / kvHeads
        let scale = 1 / Float(hd).squareRoot()
        let packCount = max(T, hd) * (max(T, hd) + TrainingGEMM.nr)
        pool.parallelFor(batch * heads) { job in
            let b = job / heads, h = job % heads, kh = h / group
            let P = probs + (b * heads + h) * T * T
            let qh = q + b * T * qw + h * hd, kh_ = k + b * T * kw + kh * hd, vh = v + b * T * kw + kh * hd
            let pack = FloatPointer.allocate(capacity: packCount)
            defer { pack.deallocate() }
            TrainingGEMM.multiplySerial(m: T, n: T, k: hd, a: qh, aRow: qw, aCol: 1, b: kh_, bRow: 1, bCol: kw,
                                        c: P, ldc: T, accumulate: false, packBuffer: pack)
            for t in 0..<T {
                let pt = P + t * T
                var mx = -Float.infinity
                for s in 0...t {
                    pt[s] *= scale
                    mx = max(mx, pt[s])
                }
                var sum: Float = 0
                for s in 0...t {
                    let e = expf(pt[s] - mx)
                    pt[s] = e
                    sum += e
                }
                let inv = 1 / sum
                for s in 0...t { pt[s] *= inv }
                if t + 1 < T { (pt + t + 1).update(repeating: 0, count: T - t - 1) }
            }
            TrainingGEMM.multiplySerial(m: T, n: hd, k: T, a: P, aRow: T, aCol: 1, b: vh, bRow: kw, bCol: 1,
                                        c: out + b * T * qw + h * hd, ldc: qw, accumulate: false, packBuffer: pack)
        }
    }

    /// Backward of `attention`: writes dq, dk, dv (dk, dv summed over the heads sharing a
    /// kv head inside one task, so no two tasks write the same element).
    public static func attentionBackward(dOut: UnsafePointer<Float>, q: UnsafePointer<Float>, k: UnsafePointer<Float>,
                                         v: UnsafePointer<Float>, probs: UnsafePointer<Float>,
                                         dq: FloatPointer, dk: FloatPointer, dv: FloatPointer,
                                         batch: Int, context T: Int, heads: Int, kvHeads: Int, headDim hd: Int,
                                         pool: ParallelFor) {
        let qw = heads * hd, kw = kvHeads * hd, group = heads / kvHeads
        let scale = 1 / Float(hd).squareRoot()
        let packCount = max(T, hd) * (max(T, hd) + TrainingGEMM.nr)
        pool.parallelFor(batch * kvHeads) { job in
            let b = job / kvHeads, kh = job % kvHeads
            let kb = k + b * T * kw + kh * hd, vb = v + b * T * kw + kh * hd
            let dkb = dk + b * T * kw + kh * hd, dvb = dv + b * T * kw + kh * hd
            let pack = FloatPointer.allocate(capacity: packCount + T * T)
            defer { pack.deallocate() }
            let dS = pack + packCount
            for (i, h) in ((kh * group)..<((kh + 1) * group)).enumerated() {
                let P = probs + (b * heads + h) * T * T
                let dOh = dOut + b * T * qw + h * hd, qh = q + b * T * qw + h * hd
                // dP = dO·Vᵀ ; dV (+)= Pᵀ·dO
                TrainingGEMM.multiplySerial(m: T, n: T, k: hd, a: dOh, aRow: qw, aCol: 1, b: vb, bRow: 1, bCol: kw,
                                            c: dS, ldc: T, accumulate: false, packBuffer: pack)
                TrainingGEMM.multiplySerial(m: T, n: hd, k: T, a: P, aRow: 1, aCol: T, b: dOh, bRow: qw, bCol: 1,
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
                TrainingGEMM.multiplySerial(m: T, n: hd, k: T, a: dS, aRow: T, aCol: 1, b: kb, bRow: kw, bCol: 1,
                                            c: dq + b * T * qw + h * hd, ldc: qw, accumulate: false, packBuffer: pack)
                TrainingGEMM.multiplySerial(m: T, n: hd, k: T, a: dS, aRow: 1, aCol: T, b: qh, bRow: qw, bCol: 1,
                                            c: dkb, ldc: kw, accumulate: i > 0, packBuffer: pack)
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
                var sum: Float = 0
                for i in 0..<vocab { sum += expf(l[i] - mx) }
                let lse = mx + logf(sum)
                let target = Int(targets[r])
                rowLoss[r] = lse - l[target]
                if let d = dLogits {
                    let dr = d + r * vocab
                    let g = gradScale / Float(rows)
                    let inv = 1 / sum
                    for i in 0..<vocab { dr[i] = expf(l[i] - mx) * inv * g }
                    dr[target] -= g
                }
            }
        }
        var total = 0.0
        for r in 0..<rows { total += Double(rowLoss[r]) }
        return total
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
