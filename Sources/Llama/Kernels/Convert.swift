// Element types of weights and how one row of each becomes fp32.
//
// Block layouts, as llama.cpp's ggml-common.h defines them (little-endian):
//   F32   4 bytes per element
//   F16   IEEE half, 2 bytes
//   BF16  the high 16 bits of an fp32, 2 bytes
//   Q8_0  blocks of 32: d (f16 scale), then 32 × int8 q;        x = d·q
//   Q4_0  blocks of 32: d (f16 scale), then 16 bytes of nibbles; byte j holds element j in
//         its low nibble and element j+16 in its high nibble;    x = d·(nibble − 8)

/// An IEEE half-precision bit pattern as fp32.
@inline(__always)
public func halfToFloat(_ bits: UInt16) -> Float {
    Float(Float16(bitPattern: bits))
}

/// A bfloat16 bit pattern as fp32 (exact: bf16 is the top half of an fp32).
@inline(__always)
public func bfloat16ToFloat(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}

/// fp32 to bfloat16 with round-to-nearest-even (NaN stays NaN).
public func floatToBFloat16(_ x: Float) -> UInt16 {
    let bits = x.bitPattern
    if x.isNaN { return UInt16(bits >> 16) | 0x40 }
    let rounding = UInt32(0x7FFF) + ((bits >> 16) & 1)
    return UInt16((bits &+ rounding) >> 16)
}

/// fp32 to IEEE half with round-to-nearest-even.
@inline(__always)
public func floatToHalf(_ x: Float) -> UInt16 {
    Float16(x).bitPattern
}

extension GGMLType {
    /// True for the types the kernels can compute with.
    public var isSupportedByKernels: Bool {
        switch self {
        case .f32, .f16, .bf16, .q8_0, .q4_0: return true
        default: return false
        }
    }

    /// Bytes taken by `columns` elements (a multiple of the block size).
    public func rowBytes(columns: Int) -> Int {
        let (elements, bytes) = blockLayout
        return columns / elements * bytes
    }
}

/// Converts `count` elements stored as `type` at `src` into fp32 at `dst`.
/// `count` must be a multiple of the type's block size; only supported types are accepted
/// (callers check `isSupportedByKernels` once, when the model is loaded).
public func dequantizeRow(_ type: GGMLType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
    switch type {
    case .f32:
        // A byte copy: fp32 data in some formats (safetensors) need not be 4-byte aligned.
        UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: 4 * count)
    case .f16:
        for i in 0..<count {
            dst[i] = halfToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        }
    case .bf16:
        for i in 0..<count {
            dst[i] = bfloat16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        }
    case .q8_0:
        for b in 0..<(count / 32) {
            let block = src + 34 * b
            let d = halfToFloat(block.loadUnaligned(as: UInt16.self))
            let q = (block + 2).assumingMemoryBound(to: Int8.self)
            let out = dst + 32 * b
            for j in 0..<32 { out[j] = d * Float(q[j]) }
        }
    case .q4_0:
        for b in 0..<(count / 32) {
            let block = src + 18 * b
            let d = halfToFloat(block.loadUnaligned(as: UInt16.self))
            let q = (block + 2).assumingMemoryBound(to: UInt8.self)
            let out = dst + 32 * b
            for j in 0..<16 {
                out[j] = d * Float(Int(q[j] & 0x0F) - 8)
                out[j + 16] = d * Float(Int(q[j] >> 4) - 8)
            }
        }
    default:
        // Unreachable for checked weights; zeros make a misuse visible without crashing.
        dst.update(repeating: 0, count: count)
    }
}
