import CKernels
import Testing

/// The attention kernels (CKernels/Attention.c) against plain Double sums, on head sizes and
/// key counts that cross the 8-lane and 8-key boundaries, fp32 and half caches; and a query's
/// results do not depend on the group it is computed with.
@Suite struct AttentionKernelTests {
    struct Shape: CustomStringConvertible, Sendable {
        let heads, headDim, count: Int
        var description: String { "\(heads) heads × \(headDim), \(count) keys" }
    }

    static let shapes = [Shape(heads: 4, headDim: 64, count: 37), Shape(heads: 1, headDim: 64, count: 8),
                         Shape(heads: 3, headDim: 80, count: 9), Shape(heads: 8, headDim: 128, count: 17),
                         Shape(heads: 2, headDim: 12, count: 5), Shape(heads: 5, headDim: 16, count: 1),
                         Shape(heads: 9, headDim: 32, count: 23)]

    /// A deterministic pseudo-random sequence in [-1, 1).
    static func values(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed &* 0x9E3779B97F4A7C15 | 1
        return (0..<n).map { _ in
            s ^= s << 13; s ^= s >> 7; s ^= s << 17
            return Float(Int64(bitPattern: s >> 11) % 20000) / 10000 - 1
        }
    }

    static func halves(_ x: [Float]) -> [UInt16] { x.map { Float16($0).bitPattern } }

    /// The cache elements of `type`: `floats` or their halves.
    static func withElements(_ type: Int, _ floats: [Float], _ halves: [UInt16], _ body: (UnsafeRawPointer?) -> Void) {
        if type == SWIFTLLAMA_CACHE_F16 {
            halves.withUnsafeBytes { body($0.baseAddress) }
        } else {
            floats.withUnsafeBytes { body($0.baseAddress) }
        }
    }

    @Test(arguments: shapes)
    func scoresAreSumsAndDoNotDependOnTheGroup(_ s: Shape) throws {
        let stride = s.headDim * 2 + 3  // keys interleaved with other heads' data, as in the cache
        let q = Self.values(s.heads * s.headDim, seed: 1)
        let keys = Self.values(s.count * stride, seed: 2)
        let halfKeys = Self.halves(keys)
        let scale: Float = 0.125
        for type in [SWIFTLLAMA_CACHE_F32, SWIFTLLAMA_CACHE_F16] {
            var att = [Float](repeating: .nan, count: s.heads * s.count)
            var alone = att
            var scratch = [Float](repeating: 0, count: 8 * s.headDim)
            func run(_ qp: UnsafePointer<Float>, heads: Int, into out: UnsafeMutablePointer<Float>) {
                Self.withElements(type, keys, halfKeys) { k in
                    swiftllama_attention_scores(qp, s.headDim, Int32(heads), k, Int32(type), stride, Int32(s.count),
                                                Int32(s.headDim), scale, out, s.count, &scratch)
                }
            }
            q.withUnsafeBufferPointer { qp in
                att.withUnsafeMutableBufferPointer { run(qp.baseAddress!, heads: s.heads, into: $0.baseAddress!) }
                alone.withUnsafeMutableBufferPointer { a in
                    for j in 0..<s.heads { run(qp.baseAddress! + j * s.headDim, heads: 1, into: a.baseAddress! + j * s.count) }
                }
            }
            #expect(att.map(\.bitPattern) == alone.map(\.bitPattern), "type \(type)")
            for j in 0..<s.heads {
                for t in 0..<s.count {
                    var ref = 0.0
                    for d in 0..<s.headDim {
                        let k = type == SWIFTLLAMA_CACHE_F16 ? Float(Float16(bitPattern: halfKeys[t * stride + d])) : keys[t * stride + d]
                        ref += Double(q[j * s.headDim + d]) * Double(k)
                    }
                    ref *= Double(scale)
                    #expect(abs(Double(att[j * s.count + t]) - ref) <= 1e-6 * max(1, abs(ref)), "type \(type) head \(j) key \(t)")
                }
            }
        }
    }

    @Test(arguments: shapes)
    func valuesAreSumsAndDoNotDependOnTheGroup(_ s: Shape) throws {
        let stride = s.headDim + 5
        let att = Self.values(s.heads * s.count, seed: 3).map { abs($0) }
        let values = Self.values(s.count * stride, seed: 4)
        let halfValues = Self.halves(values)
        for type in [SWIFTLLAMA_CACHE_F32, SWIFTLLAMA_CACHE_F16] {
            var out = [Float](repeating: .nan, count: s.heads * s.headDim)
            var alone = out
            func run(_ a: UnsafePointer<Float>, heads: Int, into o: UnsafeMutablePointer<Float>) {
                Self.withElements(type, values, halfValues) { v in
                    swiftllama_attention_values(a, s.count, Int32(heads), v, Int32(type), stride, Int32(s.count),
                                                Int32(s.headDim), o, s.headDim, nil)
                }
            }
            att.withUnsafeBufferPointer { a in
                out.withUnsafeMutableBufferPointer { run(a.baseAddress!, heads: s.heads, into: $0.baseAddress!) }
                alone.withUnsafeMutableBufferPointer { o in
                    for j in 0..<s.heads { run(a.baseAddress! + j * s.count, heads: 1, into: o.baseAddress! + j * s.headDim) }
                }
            }
            #expect(out.map(\.bitPattern) == alone.map(\.bitPattern), "type \(type)")
            for j in 0..<s.heads {
                for d in 0..<s.headDim {
                    var ref = 0.0
                    for t in 0..<s.count {
                        let v = type == SWIFTLLAMA_CACHE_F16 ? Float(Float16(bitPattern: halfValues[t * stride + d])) : values[t * stride + d]
                        ref += Double(att[j * s.count + t]) * Double(v)
                    }
                    #expect(abs(Double(out[j * s.headDim + d]) - ref) <= 1e-6 * max(1, abs(ref)), "type \(type) head \(j) lane \(d)")
                }
            }
        }
    }

    /// Float → half → float as Swift's Float16 rounds (to nearest, ties to even), at sizes
    /// that cross the 8-lane boundary, with values at the edges of the half range.
    @Test func halfConversionsRoundAsFloat16() {
        var x = Self.values(37, seed: 5).map { $0 * 70000 }
        x += [0, -0.0, 65504, 65520, -65519, 1e-8, 6e-8, 5.9604645e-08, 1 + 1.0 / 2048, 1 + 3.0 / 2048, .infinity, -.infinity]
        var h = [UInt16](repeating: 0, count: x.count)
        swiftllama_floats_to_halves(x, &h, x.count)
        #expect(h == x.map { Float16($0).bitPattern })
        var back = [Float](repeating: 0, count: x.count)
        swiftllama_halves_to_floats(h, &back, h.count)
        #expect(back.map(\.bitPattern) == h.map { Float(Float16(bitPattern: $0)).bitPattern })
    }
}
