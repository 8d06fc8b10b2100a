import CKernels

// Dot products of one stored weight row with fp32 (or 8-bit quantized) activations,
// straight from the stored format: the matrix-vector products of generation read every
// weight once, so converting a row to fp32 in memory first would double the traffic.

/// Σ w[i]·x[i] for `n` IEEE-half weights at `w`; four independent SIMD8 accumulators
/// keep the FMA pipes busy, and the half→float conversion is one vcvtph2ps per 8.
@inline(__always)
public func dotF16(_ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
    let rx = UnsafeRawPointer(x)
    var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), s2 = SIMD8<Float>(), s3 = SIMD8<Float>()
    var i = 0
    while i + 32 <= n {
        s0.addProduct(SIMD8<Float>(w.loadUnaligned(fromByteOffset: 2 * i, as: SIMD8<Float16>.self)),
                      rx.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self))
        s1.addProduct(SIMD8<Float>(w.loadUnaligned(fromByteOffset: 2 * i + 16, as: SIMD8<Float16>.self)),
                      rx.loadUnaligned(fromByteOffset: 4 * i + 32, as: SIMD8<Float>.self))
        s2.addProduct(SIMD8<Float>(w.loadUnaligned(fromByteOffset: 2 * i + 32, as: SIMD8<Float16>.self)),
                      rx.loadUnaligned(fromByteOffset: 4 * i + 64, as: SIMD8<Float>.self))
        s3.addProduct(SIMD8<Float>(w.loadUnaligned(fromByteOffset: 2 * i + 48, as: SIMD8<Float16>.self)),
                      rx.loadUnaligned(fromByteOffset: 4 * i + 96, as: SIMD8<Float>.self))
        i += 32
    }
    while i + 8 <= n {
        s0.addProduct(SIMD8<Float>(w.loadUnaligned(fromByteOffset: 2 * i, as: SIMD8<Float16>.self)),
                      rx.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self))
        i += 8
    }
    var tail: Float = 0
    while i < n {
        tail += Float(w.loadUnaligned(fromByteOffset: 2 * i, as: Float16.self)) * x[i]
        i += 1
    }
    return ((s0 + s1) + (s2 + s3)).sum() + tail
}

/// `dotF16` of two rows with the same `x`: two weight streams in flight per core (the
/// memory system keeps more requests open) and each activation load serves both rows.
@inline(__always)
func dotF16x2(_ w0: UnsafeRawPointer, _ w1: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ n: Int) -> (Float, Float) {
    typealias V = SIMD8<Float>
    typealias H = SIMD8<Float16>
    let rx = UnsafeRawPointer(x)
    var a0 = V(), a1 = V(), b0 = V(), b1 = V()
    var i = 0
    while i + 16 <= n {
        let x0 = rx.loadUnaligned(fromByteOffset: 4 * i, as: V.self)
        let x1 = rx.loadUnaligned(fromByteOffset: 4 * i + 32, as: V.self)
        a0.addProduct(V(w0.loadUnaligned(fromByteOffset: 2 * i, as: H.self)), x0)
        b0.addProduct(V(w1.loadUnaligned(fromByteOffset: 2 * i, as: H.self)), x0)
        a1.addProduct(V(w0.loadUnaligned(fromByteOffset: 2 * i + 16, as: H.self)), x1)
        b1.addProduct(V(w1.loadUnaligned(fromByteOffset: 2 * i + 16, as: H.self)), x1)
        i += 16
    }
    var ta: Float = 0, tb: Float = 0
    while i < n {
        ta += Float(w0.loadUnaligned(fromByteOffset: 2 * i, as: Float16.self)) * x[i]
        tb += Float(w1.loadUnaligned(fromByteOffset: 2 * i, as: Float16.self)) * x[i]
        i += 1
    }
    return ((a0 + a1).sum() + ta, (b0 + b1).sum() + tb)
}

/// bf16 → fp32 of 8 values: bf16 is the top half of an fp32, so a shift is exact.
@inline(__always)
func bf16x8(_ p: UnsafeRawPointer, _ offset: Int) -> SIMD8<Float> {
    let bits = SIMD8<UInt32>(truncatingIfNeeded: p.loadUnaligned(fromByteOffset: offset, as: SIMD8<UInt16>.self)) &<< 16
    return unsafeBitCast(bits, to: SIMD8<Float>.self)
}

/// Σ w[i]·x[i] for `n` bfloat16 weights at `w`.
@inline(__always)
public func dotBF16(_ w: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ n: Int) -> Float {
    let rx = UnsafeRawPointer(x)
    var s0 = SIMD8<Float>(), s1 = SIMD8<Float>()
    var i = 0
    while i + 16 <= n {
        s0.addProduct(bf16x8(w, 2 * i), rx.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self))
        s1.addProduct(bf16x8(w, 2 * i + 16), rx.loadUnaligned(fromByteOffset: 4 * i + 32, as: SIMD8<Float>.self))
        i += 16
    }
    while i + 8 <= n {
        s0.addProduct(bf16x8(w, 2 * i), rx.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self))
        i += 8
    }
    var tail: Float = 0
    while i < n {
        tail += bfloat16ToFloat(w.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) * x[i]
        i += 1
    }
    return (s0 + s1).sum() + tail
}

/// Activations quantized like a Q8_0 row: blocks of 32 int8 values with one fp32 scale
/// each (llama.cpp's Q8_0 scale is f16; fp32 here loses nothing and costs nothing).
/// `values` holds `blocks × 32` int8s, `scales` one Float per block.
public struct QuantizedActivations {
    public let values: UnsafeMutablePointer<Int8>
    public let scales: UnsafeMutablePointer<Float>
    public let blocks: Int

    /// A view of caller-owned storage for `blocks` blocks (`32 × blocks` values, `blocks` scales).
    public init(values: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>, blocks: Int) {
        self.values = values
        self.scales = scales
        self.blocks = blocks
    }
}

/// Quantizes `32 × q.blocks` floats of `x` into `q`: per block, d = max|x|/127 and
/// q = round(x/d) (ties to even), as llama.cpp's AVX quantize_row_q8_0 does (so int8 dot
/// products against Q8_0/Q4_0 weights match its arithmetic). In C (CKernels): Swift's SIMD
/// max, select and narrowing conversions run lane by lane.
public func quantizeActivations(_ x: UnsafePointer<Float>, into q: QuantizedActivations) {
    swiftllama_quantize_q8(x, q.values, q.scales, Int32(q.blocks))
}

/// Σ a[i]·b[i] over 32 int8 pairs, as 8 int32 partial sums (each ≤ 4·128·128, no overflow).
@inline(__always)
func int8Dot32(_ a: SIMD32<Int8>, _ b: SIMD32<Int8>) -> SIMD8<Int32> {
    let lo = SIMD16<Int16>(truncatingIfNeeded: a.lowHalf) &* SIMD16<Int16>(truncatingIfNeeded: b.lowHalf)
    let hi = SIMD16<Int16>(truncatingIfNeeded: a.highHalf) &* SIMD16<Int16>(truncatingIfNeeded: b.highHalf)
    let s = SIMD16<Int32>(truncatingIfNeeded: lo) &+ SIMD16<Int32>(truncatingIfNeeded: hi)
    return s.lowHalf &+ s.highHalf
}

/// Dot of a Q8_0 row (`q.blocks` blocks of 34 bytes) with quantized activations.
@inline(__always)
public func dotQ8_0(_ w: UnsafeRawPointer, _ q: QuantizedActivations) -> Float {
    var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
    var b = 0
    while b + 2 <= q.blocks {
        let w0 = w + 34 * b, w1 = w0 + 34
        let p0 = int8Dot32(w0.loadUnaligned(fromByteOffset: 2, as: SIMD32<Int8>.self),
                           UnsafeRawPointer(q.values + 32 * b).loadUnaligned(as: SIMD32<Int8>.self))
        let p1 = int8Dot32(w1.loadUnaligned(fromByteOffset: 2, as: SIMD32<Int8>.self),
                           UnsafeRawPointer(q.values + 32 * b + 32).loadUnaligned(as: SIMD32<Int8>.self))
        acc0.addProduct(SIMD8<Float>(p0), SIMD8(repeating: Float(w0.loadUnaligned(as: Float16.self)) * q.scales[b]))
        acc1.addProduct(SIMD8<Float>(p1), SIMD8(repeating: Float(w1.loadUnaligned(as: Float16.self)) * q.scales[b + 1]))
        b += 2
    }
    if b < q.blocks {
        let w0 = w + 34 * b
        let p0 = int8Dot32(w0.loadUnaligned(fromByteOffset: 2, as: SIMD32<Int8>.self),
                           UnsafeRawPointer(q.values + 32 * b).loadUnaligned(as: SIMD32<Int8>.self))
        acc0.addProduct(SIMD8<Float>(p0), SIMD8(repeating: Float(w0.loadUnaligned(as: Float16.self)) * q.scales[b]))
    }
    return (acc0 + acc1).sum()
}

/// The 32 weights of a Q4_0 block as int8 in −8…7: byte j holds element j (low nibble)
/// and element j+16 (high nibble).
@inline(__always)
func q4_0Values(_ block: UnsafeRawPointer) -> SIMD32<Int8> {
    let bytes = block.loadUnaligned(fromByteOffset: 2, as: SIMD16<UInt8>.self)
    let lo = bytes & 0x0F, hi = bytes &>> 4
    let all = SIMD32<UInt8>(lowHalf: lo, highHalf: hi)
    return SIMD32<Int8>(truncatingIfNeeded: all) &- 8
}

/// Dot of a Q4_0 row (`q.blocks` blocks of 18 bytes) with quantized activations.
@inline(__always)
public func dotQ4_0(_ w: UnsafeRawPointer, _ q: QuantizedActivations) -> Float {
    var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
    var b = 0
    while b + 2 <= q.blocks {
        let w0 = w + 18 * b, w1 = w0 + 18
        let p0 = int8Dot32(q4_0Values(w0), UnsafeRawPointer(q.values + 32 * b).loadUnaligned(as: SIMD32<Int8>.self))
        let p1 = int8Dot32(q4_0Values(w1), UnsafeRawPointer(q.values + 32 * b + 32).loadUnaligned(as: SIMD32<Int8>.self))
        acc0.addProduct(SIMD8<Float>(p0), SIMD8(repeating: Float(w0.loadUnaligned(as: Float16.self)) * q.scales[b]))
        acc1.addProduct(SIMD8<Float>(p1), SIMD8(repeating: Float(w1.loadUnaligned(as: Float16.self)) * q.scales[b + 1]))
        b += 2
    }
    if b < q.blocks {
        let w0 = w + 18 * b
        let p0 = int8Dot32(q4_0Values(w0), UnsafeRawPointer(q.values + 32 * b).loadUnaligned(as: SIMD32<Int8>.self))
        acc0.addProduct(SIMD8<Float>(p0), SIMD8(repeating: Float(w0.loadUnaligned(as: Float16.self)) * q.scales[b]))
    }
    return (acc0 + acc1).sum()
}

/// Activations quantized per super-block of 256 for K-quant rows (llama.cpp's Q8_K): one
/// fp32 scale per 256 values, and the sum of every 16 quantized values, which the K-quants'
/// sub-block mins and offsets multiply. `values` holds `256 × superblocks` int8s, `scales`
/// one Float per super-block, `sums` 16 Int16s per super-block.
public struct SuperBlockActivations {
    public let values: UnsafeMutablePointer<Int8>
    public let scales: UnsafeMutablePointer<Float>
    public let sums: UnsafeMutablePointer<Int16>
    public let superblocks: Int

    /// A view of caller-owned storage for `superblocks` super-blocks.
    public init(values: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>,
                sums: UnsafeMutablePointer<Int16>, superblocks: Int) {
        self.values = values
        self.scales = scales
        self.sums = sums
        self.superblocks = superblocks
    }
}

/// Quantizes `256 × q.superblocks` floats of `x` into `q`: per super-block d = max|x|/127,
/// q = round(x/d) (ties to even), and the sums of each 16 (at most 16·127, so they fit Int16).
public func quantizeActivations(_ x: UnsafePointer<Float>, into q: SuperBlockActivations) {
    swiftllama_quantize_q8_K(x, q.values, q.scales, q.sums, Int32(q.superblocks))
}
