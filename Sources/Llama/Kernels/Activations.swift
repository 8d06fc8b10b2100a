import Foundation

// Activation functions of the feed-forward layers, shared by inference and training (the
// backward passes sit beside their forwards so the two can never drift apart).

/// Raw fp32 pointer, the type the training kernels work on.
public typealias FloatPointer = UnsafeMutablePointer<Float>

/// `g = silu(a1) ⊙ a3`.
public func swiglu(_ a1: UnsafePointer<Float>, _ a3: UnsafePointer<Float>, _ g: FloatPointer, count: Int) {
    typealias V = SIMD8<Float>
    var i = 0
    let r1 = UnsafeRawPointer(a1), r3 = UnsafeRawPointer(a3), rg = UnsafeMutableRawPointer(g)
    while i + 8 <= count {
        let x = r1.loadUnaligned(fromByteOffset: i * 4, as: V.self)
        let silu = x / (1 + exp8(-x))
        rg.storeBytes(of: silu * r3.loadUnaligned(fromByteOffset: i * 4, as: V.self), toByteOffset: i * 4, as: V.self)
        i += 8
    }
    while i < count {
        let x = a1[i]
        g[i] = x / (1 + expf(-x)) * a3[i]
        i += 1
    }
}

/// Backward of `swiglu`: writes `da1`, `da3` from `dg`.
public func swigluBackward(_ dg: UnsafePointer<Float>, _ a1: UnsafePointer<Float>, _ a3: UnsafePointer<Float>,
                                  _ da1: FloatPointer, _ da3: FloatPointer, count: Int) {
    typealias V = SIMD8<Float>
    var i = 0
    let rdg = UnsafeRawPointer(dg), r1 = UnsafeRawPointer(a1), r3 = UnsafeRawPointer(a3)
    let rd1 = UnsafeMutableRawPointer(da1), rd3 = UnsafeMutableRawPointer(da3)
    while i + 8 <= count {
        let o = i * 4
        let x = r1.loadUnaligned(fromByteOffset: o, as: V.self)
        let d = rdg.loadUnaligned(fromByteOffset: o, as: V.self)
        let sig = 1 / (1 + exp8(-x))
        rd3.storeBytes(of: d * x * sig, toByteOffset: o, as: V.self)
        let dsilu = sig * (1 + x * (1 - sig))
        rd1.storeBytes(of: d * r3.loadUnaligned(fromByteOffset: o, as: V.self) * dsilu, toByteOffset: o, as: V.self)
        i += 8
    }
    while i < count {
        let x = a1[i]
        let sig = 1 / (1 + expf(-x))
        da3[i] = dg[i] * x * sig
        da1[i] = dg[i] * a3[i] * sig * (1 + x * (1 - sig))
        i += 1
    }
}

/// eˣ for 8 floats, within 2 ulp of `expf` on [-87, 88]; 0 below and +∞ above, which is all
/// the sigmoid in SwiGLU needs there. x = n·ln2 + r
/// with |r| ≤ ln2/2, a degree-6 Taylor polynomial for eʳ, and 2ⁿ built in the exponent bits.
/// `expf` is a library call per element; this keeps SwiGLU's eight lanes in registers.
@inline(__always)
public func exp8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    typealias V = SIMD8<Float>
    let tooSmall = x .< V(repeating: -87)
    let tooBig = x .> V(repeating: 88)
    var xc = x
    xc.replace(with: -87, where: tooSmall)
    xc.replace(with: 88, where: tooBig)
    // Round to nearest by adding 1.5·2²³: the sum's low mantissa bits are then n itself
    // (no library rounding calls, which the SIMD types' generic `rounded` would make).
    let shifter = V(repeating: 12_582_912)
    let t = xc * V(repeating: 1.442695041) + shifter
    let n = t - shifter
    let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000
    // ln 2 split in two so n·ln2_hi is exact.
    var r = xc - n * V(repeating: 0.693145751953125)
    r = r - n * V(repeating: 1.428606765330187e-06)
    var p = V(repeating: 1.0 / 720)
    p = p * r + V(repeating: 1.0 / 120)
    p = p * r + V(repeating: 1.0 / 24)
    p = p * r + V(repeating: 1.0 / 6)
    p = p * r + V(repeating: 0.5)
    p = p * r + V(repeating: 1)
    p = p * r + V(repeating: 1)
    let bits = (ni &+ 127) &<< 23
    var result = p * unsafeBitCast(bits, to: V.self)
    result.replace(with: 0, where: tooSmall)
    result.replace(with: Float.infinity, where: tooBig)
    return result
}
