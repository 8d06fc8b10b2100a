// Element types of weights and how one row of each becomes fp32.
//
// Block layouts, as llama.cpp's ggml-common.h defines them (little-endian):
//   F32   4 bytes per element
//   F16   IEEE half, 2 bytes
//   BF16  the high 16 bits of an fp32, 2 bytes
//   Q8_0  blocks of 32: d (f16 scale), then 32 × int8 q;        x = d·q
//   Q4_0  blocks of 32: d (f16 scale), then 16 bytes of nibbles; byte j holds element j in
//         its low nibble and element j+16 in its high nibble;    x = d·(nibble − 8)
//   Q4_1  blocks of 32: d f16, m f16, 16 bytes of nibbles as Q4_0;   x = d·nibble + m
//   Q5_0  blocks of 32: d f16, qh u32 (fifth bit of element j at bit j), 16 bytes of nibbles
//         as Q4_0;                                                   x = d·(q − 16)
//   Q5_1  blocks of 32: d f16, m f16, qh u32, nibbles;               x = d·q + m
// K-quants: super-blocks of 256 elements in 8 (Q4_K, Q5_K) or 16 (Q6_K) sub-blocks, each
// with its own scale (and min), themselves quantized against the super-block's d (dmin).
//   Q4_K  144 bytes: d f16, dmin f16, scales[12] (6-bit scale and min of 8 sub-blocks,
//         packed), qs[128]; each 64 elements use 32 bytes: low nibbles first, then high;
//         x = d·scale·q − dmin·min
//   Q5_K  176 bytes: d, dmin, scales[12], qh[32] (fifth bits), qs[128]; as Q4_K with bit
//         2k (low half) / 2k+1 (high half) of qh[l] adding 16 in the k-th 64-element group
//   Q6_K  210 bytes: ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d f16;
//         each 128 elements: x = d·scale·(q − 32), q = low nibble | 2 high bits << 4
//   Q2_K  84 bytes: scales[16] (per 16 elements: scale in the low nibble, min in the high),
//         qs[64], d f16, dmin f16. Each 128 elements use 32 bytes of qs: element 32k + l
//         (l < 32) is bits 2k…2k+1 of byte l; its sub-block is 2k + l/16;
//         x = d·scale·q − dmin·min
//   Q3_K  110 bytes: hmask[32], qs[64], scales[12] (16 six-bit scales), d f16. The 2 low bits
//         as Q2_K's; the third is bit 4h + k of hmask[l] (h: which 128) and when it is clear
//         the value is 4 lower: x = d·(scale − 32)·(q − 4·(1 − bit)). Scales: sub-block j
//         < 8 takes the low nibble of byte j, j ≥ 8 the high nibble of byte j − 8; the top
//         two bits come from byte 8 + j % 4, bits 2·(j / 4)…
// Non-linear 4-bit types: each nibble indexes a fixed table of 16 int8 values (IQ4_VALUES).
//   IQ4_NL  blocks of 32: d f16, 16 bytes of nibbles as Q4_0;   x = d·table[nibble]
//   IQ4_XS  136 bytes per 256: d f16, scales_h u16, scales_l[4], qs[128]; block of 32 number
//         b has the 6-bit scale (nibble b%2 of scales_l[b/2]) | (bits 2b…2b+1 of scales_h) << 4
//         and 16 bytes of nibbles as Q4_0;                         x = d·(scale − 32)·table[nibble]

/// The 16 values an IQ4_NL / IQ4_XS nibble stands for (ggml's kvalues_iq4nl).
public let iq4Values: [Int8] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]

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
        case .f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_nl, .iq4_xs: return true
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
        // Eight at a time: one vcvtph2ps each (F16C).
        let out = UnsafeMutableRawPointer(dst)
        var i = 0
        while i + 8 <= count {
            out.storeBytes(of: SIMD8<Float>(src.loadUnaligned(fromByteOffset: 2 * i, as: SIMD8<Float16>.self)),
                           toByteOffset: 4 * i, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            dst[i] = halfToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            i += 1
        }
    case .bf16:
        let out = UnsafeMutableRawPointer(dst)
        var i = 0
        while i + 8 <= count {
            out.storeBytes(of: bf16x8(src, 2 * i), toByteOffset: 4 * i, as: SIMD8<Float>.self)
            i += 8
        }
        while i < count {
            dst[i] = bfloat16ToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            i += 1
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
    case .q4_1, .q5_0, .q5_1:
        let hasMin = type != .q5_0, hasHighBits = type != .q4_1
        let blockBytes = type.blockLayout.bytes
        for b in 0..<(count / 32) {
            let block = src + blockBytes * b
            let d = halfToFloat(block.loadUnaligned(as: UInt16.self))
            let m = hasMin ? halfToFloat(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self)) : 0
            var offset = hasMin ? 4 : 2
            var qh: UInt32 = 0
            if hasHighBits {
                qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
                offset += 4
            }
            let q = (block + offset).assumingMemoryBound(to: UInt8.self)
            let out = dst + 32 * b
            // Q5_0 centres its 5-bit values on 16; Q4_1/Q5_1 add the block minimum instead.
            let bias = type == .q5_0 ? 16 : 0
            for j in 0..<16 {
                var lo = Int(q[j] & 0x0F), hi = Int(q[j] >> 4)
                if hasHighBits {
                    lo |= Int((qh >> UInt32(j)) & 1) << 4
                    hi |= Int((qh >> UInt32(j + 16)) & 1) << 4
                }
                out[j] = d * Float(lo - bias) + m
                out[j + 16] = d * Float(hi - bias) + m
            }
        }
    case .q4_K, .q5_K:
        let hasHighBits = type == .q5_K
        let blockBytes = hasHighBits ? 176 : 144
        for b in 0..<(count / 256) {
            let block = src + blockBytes * b
            let d = halfToFloat(block.loadUnaligned(as: UInt16.self))
            let dmin = halfToFloat(block.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            let scales = (block + 4).assumingMemoryBound(to: UInt8.self)
            let qh = (block + 16).assumingMemoryBound(to: UInt8.self)
            var q = (block + (hasHighBits ? 48 : 16)).assumingMemoryBound(to: UInt8.self)
            var out = dst + 256 * b
            for group in 0..<4 {
                let (sc1, m1) = kQuantScaleMin(2 * group, scales)
                let (sc2, m2) = kQuantScaleMin(2 * group + 1, scales)
                let d1 = d * Float(sc1), min1 = dmin * Float(m1)
                let d2 = d * Float(sc2), min2 = dmin * Float(m2)
                let lowBit = UInt8(1) << (2 * group), highBit = UInt8(1) << (2 * group + 1)
                for l in 0..<32 {
                    var lo = Int(q[l] & 0x0F), hi = Int(q[l] >> 4)
                    if hasHighBits {
                        if qh[l] & lowBit != 0 { lo += 16 }
                        if qh[l] & highBit != 0 { hi += 16 }
                    }
                    out[l] = d1 * Float(lo) - min1
                    out[l + 32] = d2 * Float(hi) - min2
                }
                q += 32
                out += 64
            }
        }
    case .q6_K:
        for b in 0..<(count / 256) {
            let block = src + 210 * b
            var ql = block.assumingMemoryBound(to: UInt8.self)
            var qh = (block + 128).assumingMemoryBound(to: UInt8.self)
            var sc = (block + 192).assumingMemoryBound(to: Int8.self)
            let d = halfToFloat(block.loadUnaligned(fromByteOffset: 208, as: UInt16.self))
            var out = dst + 256 * b
            for _ in 0..<2 {
                for l in 0..<32 {
                    let s = l / 16
                    let q1 = Int((ql[l] & 0x0F) | ((qh[l] & 0x03) << 4)) - 32
                    let q2 = Int((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 0x03) << 4)) - 32
                    let q3 = Int((ql[l] >> 4) | (((qh[l] >> 4) & 0x03) << 4)) - 32
                    let q4 = Int((ql[l + 32] >> 4) | (((qh[l] >> 6) & 0x03) << 4)) - 32
                    out[l] = d * Float(sc[s]) * Float(q1)
                    out[l + 32] = d * Float(sc[s + 2]) * Float(q2)
                    out[l + 64] = d * Float(sc[s + 4]) * Float(q3)
                    out[l + 96] = d * Float(sc[s + 6]) * Float(q4)
                }
                ql += 64
                qh += 32
                sc += 8
                out += 128
            }
        }
    case .q2_K, .q3_K:
        let isQ3 = type == .q3_K
        let blockBytes = isQ3 ? 110 : 84
        for b in 0..<(count / 256) {
            let block = (src + blockBytes * b).assumingMemoryBound(to: UInt8.self)
            let qs = block + (isQ3 ? 32 : 16)
            let d = halfToFloat((src + blockBytes * b).loadUnaligned(fromByteOffset: isQ3 ? 108 : 80, as: UInt16.self))
            let dmin = isQ3 ? 0 : halfToFloat((src + blockBytes * b).loadUnaligned(fromByteOffset: 82, as: UInt16.self))
            let out = dst + 256 * b
            for e in 0..<256 {
                let h = e / 128, k = (e % 128) / 32, l = e % 32
                let q = Int((qs[32 * h + l] >> UInt8(2 * k)) & 3)
                let sub = 8 * h + 2 * k + l / 16
                if isQ3 {
                    let high = (block[l] >> UInt8(4 * h + k)) & 1
                    out[e] = d * Float(q3KScale(sub, block + 96) - 32) * Float(q - (high == 0 ? 4 : 0))
                } else {
                    out[e] = d * Float(block[sub] & 0x0F) * Float(q) - dmin * Float(block[sub] >> 4)
                }
            }
        }
    case .iq4_nl:
        for b in 0..<(count / 32) {
            let block = src + 18 * b
            let d = halfToFloat(block.loadUnaligned(as: UInt16.self))
            let q = (block + 2).assumingMemoryBound(to: UInt8.self)
            let out = dst + 32 * b
            for j in 0..<16 {
                out[j] = d * Float(iq4Values[Int(q[j] & 0x0F)])
                out[j + 16] = d * Float(iq4Values[Int(q[j] >> 4)])
            }
        }
    case .iq4_xs:
        for b in 0..<(count / 256) {
            let block = src + 136 * b
            let d = halfToFloat(block.loadUnaligned(as: UInt16.self))
            let high = UInt16(littleEndian: block.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
            let low = (block + 4).assumingMemoryBound(to: UInt8.self)
            for sub in 0..<8 {
                let scale = Int((low[sub / 2] >> UInt8(4 * (sub % 2))) & 0x0F) | Int((high >> UInt16(2 * sub)) & 3) << 4
                let dl = d * Float(scale - 32)
                let q = (block + 8 + 16 * sub).assumingMemoryBound(to: UInt8.self)
                let out = dst + 256 * b + 32 * sub
                for j in 0..<16 {
                    out[j] = dl * Float(iq4Values[Int(q[j] & 0x0F)])
                    out[j + 16] = dl * Float(iq4Values[Int(q[j] >> 4)])
                }
            }
        }
    default:
        // Unreachable for checked weights; zeros make a misuse visible without crashing.
        dst.update(repeating: 0, count: count)
    }
}

/// Scale and min of sub-block `j` (0..<8) of a Q4_K/Q5_K super-block: 6 bits each, packed
/// in 12 bytes. Sub-blocks 0–3 use the low 6 bits of bytes j and j+4; sub-blocks 4–7 take
/// their low 4 bits from byte j+4 and their top 2 bits from the spare bits of bytes j−4 / j.
@inline(__always)
func kQuantScaleMin(_ j: Int, _ q: UnsafePointer<UInt8>) -> (scale: UInt8, min: UInt8) {
    if j < 4 {
        return (q[j] & 63, q[j + 4] & 63)
    }
    return ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
}

/// The 6-bit scale (0…63, stored with an offset of 32) of sub-block `j` (0..<16) of a Q3_K
/// super-block, from its 12 packed bytes: low 4 bits in a nibble of byte j % 8 (low nibble
/// for j < 8), top 2 bits at bits 2·(j / 4) of byte 8 + j % 4.
@inline(__always)
func q3KScale(_ j: Int, _ q: UnsafePointer<UInt8>) -> Int {
    let low = j < 8 ? q[j] & 0x0F : q[j - 8] >> 4
    let top = (q[8 + j % 4] >> UInt8(2 * (j / 4))) & 3
    return Int(low | (top << 4))
}
