/// A weight matrix as the kernels see it: `rows × columns`, each row contiguous in `type`.
public struct MatrixView: @unchecked Sendable {
    public let type: GGMLType
    public let rows: Int
    public let columns: Int
    public let base: UnsafeRawPointer
    public let rowBytes: Int

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

/// `out[t, r] = Σ_c W[r, c] · x[t, c]` for `t < tokens`: `x` is `tokens × columns`, `out`
/// is `tokens × rows`, both row-major fp32.
///
/// Rows of W are split across cores. Each worker converts a tile of W's rows to fp32 once
/// and uses it for every token, so the conversion cost is shared by the whole batch.
/// With `tokens == 1` this is the matrix-vector product of generation.
public func matmul(_ w: MatrixView, _ x: UnsafePointer<Float>, tokens: Int, _ out: UnsafeMutablePointer<Float>,
                   parallel: ParallelFor) {
    let cols = w.columns, rows = w.rows
    let tile = 8
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
                for t in 0..<tokens {
                    let xt = x + t * cols
                    let ot = out + t * rows + r0
                    for k in 0..<n { ot[k] = dot(tileBase + k * cols, xt, cols) }
                }
                r0 += n
            }
        }
    }
}
