import CKernels

/// How a weight matrix's rows lie in memory.
public enum WeightLayout: Sendable, Equatable, CustomStringConvertible {
    /// Row r at `base + r·rowBytes`, as the checkpoint stores it.
    case plain
    /// Groups of 8 rows interleaved block by block (CKernels.h, "R8"): the layout
    /// `repackForMatvec` makes at load for the types with such kernels (every quantized type,
    /// F16 and BF16).
    case rowInterleaved8

    public var description: String { self == .plain ? "plain" : "row-interleaved (8 rows)" }
}

/// A weight matrix as the kernels see it: `rows × columns` of `type`, in `layout`.
public struct MatrixView: @unchecked Sendable {
    public let type: GGMLType
    public let rows: Int
    public let columns: Int
    /// First byte of row 0 (`.plain`) or of row group 0 (`.rowInterleaved8`); a group of 8
    /// rows takes the bytes of 8 plain rows, so group g starts at `base + 8·g·rowBytes`.
    public let base: UnsafeRawPointer
    public let rowBytes: Int
    /// Plain rows, or the row-interleaved copy made at load. Only the kernels read `base`
    /// directly; everything else reads rows through `dequantize(row:into:)`.
    public let layout: WeightLayout
    /// Owns a repacked copy (nil: the caller keeps the bytes alive).
    let storage: AnyObject?

    /// A view of `rows × columns` plain rows of `type` at `base` (the caller keeps them alive).
    public init(type: GGMLType, rows: Int, columns: Int, base: UnsafeRawPointer) {
        self.init(type: type, rows: rows, columns: columns, base: base, layout: .plain, storage: nil)
    }

    init(type: GGMLType, rows: Int, columns: Int, base: UnsafeRawPointer, layout: WeightLayout, storage: AnyObject?) {
        self.type = type
        self.rows = rows
        self.columns = columns
        self.base = base
        self.rowBytes = type.rowBytes(columns: columns)
        self.layout = layout
        self.storage = storage
    }

    /// Row `r` in fp32, written to `dst` (`columns` floats).
    @inline(__always)
    public func dequantize(row r: Int, into dst: UnsafeMutablePointer<Float>) {
        dequantize(row: r, from: 0, count: columns, into: dst)
    }

    /// Columns `k0 ..< k0 + count` of row `r` in fp32 (`k0` and `count` whole blocks).
    @inline(__always)
    func dequantize(row r: Int, from k0: Int, count: Int, into dst: UnsafeMutablePointer<Float>) {
        switch layout {
        case .plain:
            dequantizeRow(type, base + r * rowBytes + type.rowBytes(columns: k0), dst, count: count)
        case .rowInterleaved8:
            // The plain blocks back, at most 8 at a time (272 bytes of Q8_0, 1 680 of Q6_K;
            // F16 / BF16: 256 columns, 512 bytes).
            let block = type.blockLayout.elements
            let per = type.interleavedColumns == 2 ? 256 : 8 * block
            var k = 0
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: type.rowBytes(columns: per)) { buffer in
                guard let plain = buffer.baseAddress else { return }
                while k < count {
                    let n = min(per, count - k)
                    swiftllama_r8_row(Int32(type.rawValue), base, Int32(columns / block), r, Int32((k0 + k) / block),
                                      Int32(n / block), plain)
                    dequantizeRow(type, plain, dst + k, count: n)
                    k += n
                }
            }
        }
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

/// `out[t, r] = Σ_c W[r, c] · x[t, c]` for `t < tokens`: `x` is `tokens × columns`, `out`
/// is `tokens × rows`, both row-major fp32.
///
/// A few tokens (generation, small batches) read each weight row once, straight from its
/// stored format (`matvec`, with `kernels`: the process's selected C kernel set unless a
/// test or benchmark forces another); more (prompt processing) go through the blocked
/// `gemm`, which converts each block of W to fp32 once for the whole batch (`role`: which
/// of the model's products this is, for `gemm`'s choice of BF16 products). Row-interleaved
/// matrices take up to `interleavedRunsMaxTokens` tokens as runs of 8 through their
/// matrix-vector kernel.
public func matmul(_ w: MatrixView, _ x: UnsafePointer<Float>, tokens: Int, _ out: UnsafeMutablePointer<Float>,
                   parallel: ParallelFor, kernels: KernelSet = .selected, role: ProductRole? = nil) {
    if w.layout == .rowInterleaved8 {
        if tokens <= interleavedMaxTokens {
            matvecInterleaved(w, x, tokens: tokens, out, parallel: parallel, kernels: kernels)
        } else if tokens <= interleavedRunsMaxTokens {
            var t0 = 0
            while t0 < tokens {
                let n = min(interleavedMaxTokens, tokens - t0)
                matvecInterleaved(w, x + t0 * w.columns, tokens: n, out + t0 * w.rows, parallel: parallel, kernels: kernels)
                t0 += n
            }
        } else {
            gemm(w, x, tokens: tokens, out, parallel: parallel, kernels: kernels, role: role)
        }
        return
    }
    if tokens <= matvecMaxTokens, hasDirectDot(w.type) {
        matvec(w, x, tokens: tokens, out, parallel: parallel, kernels: kernels)
    } else {
        gemm(w, x, tokens: tokens, out, parallel: parallel, kernels: kernels, role: role)
    }
}

/// `matmul` of several matrices with the same input (a layer's wq, wk, wv; its gate and
/// up), each into its own output. When they are all row-interleaved and the tokens few
/// (generation, parallel streams), the input is quantized once and one parallel loop runs
/// all of them; otherwise one `matmul` each. The outputs are the same either way.
public func matmul(_ products: [(w: MatrixView, out: UnsafeMutablePointer<Float>)], _ x: UnsafePointer<Float>, tokens: Int,
                   parallel: ParallelFor, kernels: KernelSet = .selected, role: ProductRole? = nil) {
    products.withUnsafeBufferPointer { matmul($0, x, tokens: tokens, parallel: parallel, kernels: kernels, role: role) }
}

/// `matmul(_:_:tokens:parallel:kernels:)` over a list the caller keeps where it likes (the
/// model's layers pass two or three products from the stack: no array per layer).
public func matmul(_ products: UnsafeBufferPointer<(w: MatrixView, out: UnsafeMutablePointer<Float>)>, _ x: UnsafePointer<Float>,
                   tokens: Int, parallel: ParallelFor, kernels: KernelSet = .selected, role: ProductRole? = nil) {
    let cols = products.first?.w.columns ?? 0
    if products.count > 1, tokens <= max(interleavedMaxTokens, interleavedRunsMaxTokens),
       products.allSatisfy({ $0.w.layout == .rowInterleaved8 && $0.w.columns == cols && kernels.hasInterleavedKernel($0.w.type) }) {
        if tokens <= interleavedMaxTokens {
            matvecInterleaved(products, x, tokens: tokens, parallel: parallel, kernels: kernels)
            return
        }
        // Runs of 8 tokens, as `matmul` of one matrix does, each output shifted to the run.
        withUnsafeTemporaryAllocation(of: (w: MatrixView, out: UnsafeMutablePointer<Float>).self, capacity: products.count) { run in
            guard let base = run.baseAddress else { return }
            var t0 = 0
            while t0 < tokens {
                let n = min(interleavedMaxTokens, tokens - t0)
                for (i, p) in products.enumerated() { (base + i).initialize(to: (w: p.w, out: p.out + t0 * p.w.rows)) }
                matvecInterleaved(UnsafeBufferPointer(start: base, count: products.count), x + t0 * cols, tokens: n,
                                  parallel: parallel, kernels: kernels)
                (base).deinitialize(count: products.count)
                t0 += n
            }
        }
        return
    }
    for (w, out) in products { matmul(w, x, tokens: tokens, out, parallel: parallel, kernels: kernels, role: role) }
}

/// Up to this many tokens, a product reads each weight row once and dots it straight from
/// its stored format with every token (generation); beyond, `gemm` converts blocks of W to
/// fp32 once and shares them with the whole batch (prompt processing).
public let matvecMaxTokens = 4

/// Rows per chunk of a matrix-vector product: small enough that the cores finish together,
/// large enough that taking a chunk costs nothing next to reading its rows.
let matvecChunkRows = 64

/// Types with a dot product straight from the stored row.
@inline(__always)
func hasDirectDot(_ type: GGMLType) -> Bool {
    switch type {
    case .f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .iq4_nl, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_xs: return true
    default: return false
    }
}

/// `out[t, r] = W[r] · x[t]` for a few tokens, each weight row read once from its stored
/// format and dotted with every token while it is in cache. Quantized rows meet
/// activations quantized to 8 bits (int8 × int8 products, as llama.cpp computes them):
/// per 32 for the types with blocks of 32 (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL), per 256
/// with the sums of every 16 for those with super-blocks of 256 (the K-quants, IQ4_XS). Float formats meet
/// the fp32 activations.
func matvec(_ w: MatrixView, _ x: UnsafePointer<Float>, tokens: Int, _ out: UnsafeMutablePointer<Float>,
            parallel: ParallelFor, kernels: KernelSet = .selected) {
    let cols = w.columns, rows = w.rows
    if let (dot, dot2) = kernels.dot32[w.type] {
        // Every type with blocks of 32 meets the same activations, quantized per 32 once.
        let blocks = cols / 32
        withActivationScratch(tokens: tokens, columns: cols, scaleCount: blocks, sumCount: 0, sum: Int32.self) {
            values, scales, _ in
            for t in 0..<tokens {
                kernels.quantizeQ8(x + t * cols, values + t * cols, scales + t * blocks, Int32(blocks))
            }
            let twoRows = kernels.twoRows
            parallel.runChunked(rows, chunk: matvecChunkRows) { _, range in
                var r = range.lowerBound
                if twoRows {
                    // Two rows at a time (two weight streams per core, the activations'
                    // loads and offset products shared), then the odd row alone.
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2) { pair in
                        guard let two = pair.baseAddress else { return }
                        while r + 2 <= range.upperBound {
                            let row = w.base + r * w.rowBytes
                            for t in 0..<tokens {
                                dot2(row, row + w.rowBytes, values + t * cols, scales + t * blocks, Int32(blocks), two)
                                out[t * rows + r] = two[0]
                                out[t * rows + r + 1] = two[1]
                            }
                            r += 2
                        }
                    }
                }
                for r in r..<range.upperBound {
                    let row = w.base + r * w.rowBytes
                    for t in 0..<tokens {
                        out[t * rows + r] = dot(row, values + t * cols, scales + t * blocks, Int32(blocks))
                    }
                }
            }
        }
    } else if let dot = kernels.dot256[w.type] {
        let superblocks = cols / 256
        withActivationScratch(tokens: tokens, columns: cols, scaleCount: superblocks, sumCount: cols / 16, sum: Int16.self) {
            values, scales, sums in
            for t in 0..<tokens {
                kernels.quantizeQ8K(x + t * cols, values + t * cols, scales + t * superblocks,
                                    sums + t * cols / 16, Int32(superblocks))
            }
            parallel.runChunked(rows, chunk: matvecChunkRows) { _, range in
                for r in range {
                    let row = w.base + r * w.rowBytes
                    for t in 0..<tokens {
                        let xq = values + t * cols, xd = scales + t * superblocks, xs = sums + t * cols / 16
                        out[t * rows + r] = dot(row, xq, xd, xs, Int32(superblocks))
                    }
                }
            }
        }
    } else if let halfMatvec = kernels.matvecHalf[w.type] {
        // F16 / BF16: four rows per pass in C (F16C conversion, 256-bit FMAs), each chunk's
        // rows for every token while they are in cache.
        parallel.runChunked(rows, chunk: matvecChunkRows) { _, range in
            halfMatvec(w.base + range.lowerBound * w.rowBytes, w.rowBytes, Int32(range.count), Int32(cols),
                       x, cols, Int32(tokens), out + range.lowerBound, rows)
        }
    } else {
        parallel.runChunked(rows, chunk: matvecChunkRows) { _, range in
            for r in range {
                let row = (w.base + r * w.rowBytes).assumingMemoryBound(to: Float.self)
                for t in 0..<tokens {
                    out[t * rows + r] = dot(row, x + t * cols, cols)
                }
            }
        }
    }
}
