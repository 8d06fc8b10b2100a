import CKernels

/// A weight matrix as the kernels see it: `rows × columns`, each row contiguous in `type`.
public struct MatrixView: @unchecked Sendable {
    public let type: GGMLType
    public let rows: Int
    public let columns: Int
    /// First byte of row 0; rows follow each other `rowBytes` apart.
    public let base: UnsafeRawPointer
    public let rowBytes: Int

    /// A view of `rows × columns` elements of `type` at `base` (the caller keeps them alive).
    public init(type: GGMLType, rows: Int, columns: Int, base: UnsafeRawPointer) {
        self.type = type
        self.rows = rows
        self.columns = columns
        self.base = base
        self.rowBytes = type.rowBytes(columns: columns)
    }

    /// Row `r` in fp32, written to `dst` (`columns` floats).
    @inline(__always)
    public func dequantize(row r: Int, into dst: UnsafeMutablePointer<Float>) {
        dequantizeRow(type, base + r * rowBytes, dst, count: columns)
    }
}

/// Dot product of two fp32 vectors: SIMD8 with four accumulators, so rounding error grows
/// with n/32 rather than n, and the tail handled one element at a time.
@inline(__always)
public func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), s2 = SIMD8<Float>(), s3 = SIMD8<Float>()
    let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
    var i = 0
    while i + 32 <= n {
        s0 += ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
        s1 += ra.loadUnaligned(fromByteOffset: 4 * (i + 8), as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: 4 * (i + 8), as: SIMD8<Float>.self)
        s2 += ra.loadUnaligned(fromByteOffset: 4 * (i + 16), as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: 4 * (i + 16), as: SIMD8<Float>.self)
        s3 += ra.loadUnaligned(fromByteOffset: 4 * (i + 24), as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: 4 * (i + 24), as: SIMD8<Float>.self)
        i += 32
    }
    while i + 8 <= n {
        s0 += ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
        i += 8
    }
    var tail: Float = 0
    while i < n {
        tail += a[i] * b[i]
        i += 1
    }
    return ((s0 + s1) + (s2 + s3)).sum() + tail
}

/// Dots of 4 consecutive rows of `w` (row stride `n`) with two vectors at once: each
/// load of a weight serves two tokens and each load of an activation four rows, which is
/// what makes batched prompt processing faster than repeated matrix-vector products.
@inline(__always)
func dot4x2(_ w: UnsafePointer<Float>, _ x0: UnsafePointer<Float>, _ x1: UnsafePointer<Float>, _ n: Int)
    -> (SIMD4<Float>, SIMD4<Float>) {
    let rw = UnsafeRawPointer(w), r0 = UnsafeRawPointer(x0), r1 = UnsafeRawPointer(x1)
    let stride = 4 * n
    var a00 = SIMD8<Float>(), a10 = SIMD8<Float>(), a20 = SIMD8<Float>(), a30 = SIMD8<Float>()
    var a01 = SIMD8<Float>(), a11 = SIMD8<Float>(), a21 = SIMD8<Float>(), a31 = SIMD8<Float>()
    var i = 0
    while i + 8 <= n {
        let o = 4 * i
        let v0 = r0.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
        let v1 = r1.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
        var wv = rw.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
        a00.addProduct(wv, v0); a01.addProduct(wv, v1)
        wv = rw.loadUnaligned(fromByteOffset: o + stride, as: SIMD8<Float>.self)
        a10.addProduct(wv, v0); a11.addProduct(wv, v1)
        wv = rw.loadUnaligned(fromByteOffset: o + 2 * stride, as: SIMD8<Float>.self)
        a20.addProduct(wv, v0); a21.addProduct(wv, v1)
        wv = rw.loadUnaligned(fromByteOffset: o + 3 * stride, as: SIMD8<Float>.self)
        a30.addProduct(wv, v0); a31.addProduct(wv, v1)
        i += 8
    }
    var t0 = SIMD4<Float>(a00.sum(), a10.sum(), a20.sum(), a30.sum())
    var t1 = SIMD4<Float>(a01.sum(), a11.sum(), a21.sum(), a31.sum())
    while i < n {
        let wcol = SIMD4<Float>(w[i], w[n + i], w[2 * n + i], w[3 * n + i])
        t0 += wcol * x0[i]
        t1 += wcol * x1[i]
        i += 1
    }
    return (t0, t1)
}

/// `out[t, r] = Σ_c W[r, c] · x[t, c]` for `t < tokens`: `x` is `tokens × columns`, `out`
/// is `tokens × rows`, both row-major fp32.
///
/// Rows of W are split across cores. Each worker converts a tile of W's rows to fp32 once
/// and uses it for every token, so the conversion cost is shared by the whole batch; within
/// a tile, 4 rows × 2 tokens are computed together (`dot4x2`). With `tokens == 1` this is
/// the matrix-vector product of generation.
public func matmul(_ w: MatrixView, _ x: UnsafePointer<Float>, tokens: Int, _ out: UnsafeMutablePointer<Float>,
                   parallel: ParallelFor) {
    if tokens <= matvecMaxTokens, hasDirectDot(w.type) {
        matvec(w, x, tokens: tokens, out, parallel: parallel)
        return
    }
    let cols = w.columns, rows = w.rows
    let tile = 16
    parallel.run(rows, minimumPerWorker: 16) { _, range in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: tile * cols) { scratch in
            guard let buf = scratch.baseAddress else { return }
            var r0 = range.lowerBound
            while r0 < range.upperBound {
                let n = min(tile, range.upperBound - r0)
                let tileBase: UnsafePointer<Float>
                if w.type == .f32 && Int(bitPattern: w.base) % MemoryLayout<Float>.alignment == 0 {
                    // Aligned fp32 weights are used in place: no copy.
                    tileBase = (w.base + r0 * w.rowBytes).assumingMemoryBound(to: Float.self)
                } else {
                    for k in 0..<n { w.dequantize(row: r0 + k, into: buf + k * cols) }
                    tileBase = UnsafePointer(buf)
                }
                var t = 0
                while t + 2 <= tokens {
                    let x0 = x + t * cols, x1 = x0 + cols
                    let o0 = out + t * rows + r0, o1 = o0 + rows
                    var k = 0
                    while k + 4 <= n {
                        let (d0, d1) = dot4x2(tileBase + k * cols, x0, x1, cols)
                        for j in 0..<4 { o0[k + j] = d0[j]; o1[k + j] = d1[j] }
                        k += 4
                    }
                    while k < n {
                        o0[k] = dot(tileBase + k * cols, x0, cols)
                        o1[k] = dot(tileBase + k * cols, x1, cols)
                        k += 1
                    }
                    t += 2
                }
                if t < tokens {
                    let xt = x + t * cols
                    let ot = out + t * rows + r0
                    for k in 0..<n { ot[k] = dot(tileBase + k * cols, xt, cols) }
                }
                r0 += n
            }
        }
    }
}

/// Up to this many tokens, a product reads each weight row once and dots it straight from
/// its stored format with every token (generation); beyond, rows are converted to fp32
/// once per tile and shared by the batch (prompt processing).
let matvecMaxTokens = 4

/// Types with a dot product straight from the stored row.
@inline(__always)
func hasDirectDot(_ type: GGMLType) -> Bool {
    switch type {
    case .f16, .bf16, .q8_0, .q4_0: return true
    default: return false
    }
}

/// `out[t, r] = W[r] · x[t]` for a few tokens, each weight row read once from its stored
/// format. Q8_0 and Q4_0 rows meet activations quantized to 8-bit blocks (int8 × int8
/// products, as llama.cpp computes them); float formats meet the fp32 activations.
func matvec(_ w: MatrixView, _ x: UnsafePointer<Float>, tokens: Int, _ out: UnsafeMutablePointer<Float>,
            parallel: ParallelFor) {
    let cols = w.columns, rows = w.rows
    switch w.type {
    case .q8_0, .q4_0:
        let blocks = cols / 32
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: tokens * cols) { valueBuffer in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: tokens * blocks) { scaleBuffer in
                guard let values = valueBuffer.baseAddress, let scales = scaleBuffer.baseAddress else { return }
                for t in 0..<tokens {
                    quantizeActivations(x + t * cols, into: QuantizedActivations(
                        values: values + t * cols, scales: scales + t * blocks, blocks: blocks))
                }
                let isQ8 = w.type == .q8_0
                parallel.run(rows, minimumPerWorker: 16) { _, range in
                    for t in 0..<tokens {
                        let q = QuantizedActivations(values: values + t * cols, scales: scales + t * blocks, blocks: blocks)
                        let o = out + t * rows
                        for r in range {
                            let row = w.base + r * w.rowBytes
                            o[r] = isQ8 ? swiftllama_dot_q8_0(row, q.values, q.scales, Int32(blocks))
                                        : swiftllama_dot_q4_0(row, q.values, q.scales, Int32(blocks))
                        }
                    }
                }
            }
        }
    default:
        let isF16 = w.type == .f16
        parallel.run(rows, minimumPerWorker: 16) { _, range in
            for t in 0..<tokens {
                let xt = x + t * cols, o = out + t * rows
                for r in range {
                    let row = w.base + r * w.rowBytes
                    o[r] = isF16 ? dotF16(row, xt, cols) : dotBF16(row, xt, cols)
                }
            }
        }
    }
}
