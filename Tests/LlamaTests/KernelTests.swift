import Foundation
import Testing
import Llama
import CKernels

/// Kernels against plain loops, on sizes that are not multiples of the SIMD width or
/// the parallel split.
@Suite struct KernelTests {
    /// Deterministic pseudo-random floats in [-1, 1).
    func values(_ n: Int, seed: UInt64) -> [Float] {
        var rng = Xoshiro256(seed: seed)
        return (0..<n).map { _ in Float(rng.nextUnit() * 2 - 1) }
    }

    /// Weights in `type` and what they mean in fp32, built by hand from the block layouts.
    func encoded(_ type: GGMLType, rows: Int, cols: Int, seed: UInt64) -> (bytes: [UInt8], values: [Float]) {
        var rng = Xoshiro256(seed: seed)
        var bytes: [UInt8] = []
        var vals: [Float] = []
        func append16(_ v: UInt16) { bytes.append(UInt8(v & 0xFF)); bytes.append(UInt8(v >> 8)) }
        for _ in 0..<rows {
            switch type {
            case .f32:
                for _ in 0..<cols {
                    let v = Float(rng.nextUnit() * 2 - 1)
                    withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
                    vals.append(v)
                }
            case .f16, .bf16:
                for _ in 0..<cols {
                    let v = Float(rng.nextUnit() * 2 - 1)
                    let bits = type == .f16 ? floatToHalf(v) : floatToBFloat16(v)
                    append16(bits)
                    vals.append(type == .f16 ? Float(Float16(bitPattern: bits)) : Float(bitPattern: UInt32(bits) << 16))
                }
            case .q8_0:
                for _ in 0..<(cols / 32) {
                    let dBits = floatToHalf(Float(rng.nextUnit()) * 0.02 + 0.001)
                    let d = Float(Float16(bitPattern: dBits))
                    append16(dBits)
                    for _ in 0..<32 {
                        let q = Int8(Int(rng.next() % 255) - 127)
                        bytes.append(UInt8(bitPattern: q))
                        vals.append(d * Float(q))
                    }
                }
            case .q4_0:
                for _ in 0..<(cols / 32) {
                    let dBits = floatToHalf(Float(rng.nextUnit()) * 0.1 + 0.01)
                    let d = Float(Float16(bitPattern: dBits))
                    append16(dBits)
                    var block = [Float](repeating: 0, count: 32)
                    for j in 0..<16 {
                        let lo = Int(rng.next() % 16), hi = Int(rng.next() % 16)
                        bytes.append(UInt8(lo | (hi << 4)))
                        block[j] = d * Float(lo - 8)
                        block[j + 16] = d * Float(hi - 8)
                    }
                    vals.append(contentsOf: block)
                }
            default:
                break
            }
        }
        return (bytes, vals)
    }

    @Test(arguments: [GGMLType.f32, .f16, .bf16, .q8_0, .q4_0])
    func dequantizeMatchesBlockLayout(_ type: GGMLType) {
        let cols = type.blockLayout.elements == 32 ? 96 : 37
        let (bytes, expected) = encoded(type, rows: 3, cols: cols, seed: 5)
        var out = [Float](repeating: .nan, count: expected.count)
        bytes.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { o in
                for r in 0..<3 {
                    dequantizeRow(type, raw.baseAddress! + r * type.rowBytes(columns: cols), o.baseAddress! + r * cols, count: cols)
                }
            }
        }
        #expect(out == expected)
    }

    /// `w · xs` per token and row in Double: the reference for a `rows × cols` matrix (row-major
    /// `w`, token-major `xs`; out token-major).
    func plainSums(_ w: [Float], _ xs: [Float], rows: Int, cols: Int, tokens: Int) -> [Float] {
        var expected = [Float](repeating: 0, count: tokens * rows)
        for t in 0..<tokens {
            for r in 0..<rows {
                var s: Double = 0
                for c in 0..<cols { s += Double(w[r * cols + c]) * Double(xs[t * cols + c]) }
                expected[t * rows + r] = Float(s)
            }
        }
        return expected
    }

    @Test(arguments: [(GGMLType.f32, 37), (.f32, 5), (.f16, 67), (.f16, 300), (.bf16, 13), (.bf16, 45), (.q8_0, 96), (.q8_0, 352),
                      (.q4_0, 64), (.q4_0, 352)])
    func matmulMatchesNaive(_ type: GGMLType, _ cols: Int) {
        let rows = 29
        let (bytes, w) = encoded(type, rows: rows, cols: cols, seed: 9)
        for tokens in [1, 3, 6] {
            let x = values(tokens * cols, seed: 11)
            // Q8_0/Q4_0 against few tokens (and against many where the int8 matrix-matrix
            // path runs) go through 8-bit activations: the reference rounds x the same way,
            // so the comparison stays exact up to fp32 summation.
            // Every kernel set this CPU runs, one and several threads.
            for kernels in KernelSet.runnable {
                let quantized = (tokens <= matvecMaxTokens || kernels.takesInt8GEMM(type)) && (type == .q8_0 || type == .q4_0)
                let expected = plainSums(w, quantized ? referenceQuantized(x) : x, rows: rows, cols: cols, tokens: tokens)
                for parallel in [ParallelFor.serial, ParallelFor(workers: 3)] {
                    var out = [Float](repeating: .nan, count: tokens * rows)
                    bytes.withUnsafeBytes { raw in
                        let m = MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!)
                        x.withUnsafeBufferPointer { xp in
                            out.withUnsafeMutableBufferPointer { o in
                                matmul(m, xp.baseAddress!, tokens: tokens, o.baseAddress!, parallel: parallel, kernels: kernels)
                            }
                        }
                    }
                    #expect(maxAbsDifference(out, expected) < 1e-5 * max(1, Float(cols) / 64), "\(kernels.name)")
                }
            }
        }
    }

    /// The kernel sets: all four on x86-64, each one this CPU can run listed as runnable, and
    /// the selected one among them (LLAMA_KERNELS or CPUID).
    @Test func kernelSetsAreCompiledAndSelected() {
        let names = KernelSet.all.map(\.name)
        #if arch(x86_64)
        #expect(names == ["generic", "avx2", "avx512-256", "avx512"])
        #else
        #expect(names == ["generic"])
        #endif
        #expect(KernelSet.runnable.contains { $0.name == "generic" })
        #expect(KernelSet.runnable.contains { $0.name == KernelSet.selected.name })
        #expect(!KernelSet.selectionReason.isEmpty)
        if let forced = ProcessInfo.processInfo.environment["LLAMA_KERNELS"], KernelSet.runnable.contains(where: { $0.name == forced }) {
            #expect(KernelSet.selected.name == forced)
        }
    }

    /// llama.cpp's Q8_0 rounding of activations (its AVX path: ties to even), written plainly: per 32, d = max|x|/127.
    func referenceQuantized(_ x: [Float]) -> [Float] {
        var out = x
        for b in 0..<(x.count / 32) {
            let block = x[(32 * b)..<(32 * b + 32)]
            let m = block.map { abs($0) }.max() ?? 0
            let d = m / 127
            for i in block.indices {
                out[i] = m > 0 ? d * (x[i] * (127 / m)).rounded(.toNearestOrEven) : 0
            }
        }
        return out
    }

    @Test func quantizedActivationsFollowQ8_0Rounding() {
        for blocks in [1, 3, 5] {
            var x = values(32 * blocks, seed: 21)
            x[7] = 0  // exact zeros and a block of zeros must not produce NaN scales
            if blocks == 5 { for i in 128..<160 { x[i] = 0 } }
            var q = [Int8](repeating: 0, count: 32 * blocks)
            var d = [Float](repeating: .nan, count: blocks)
            q.withUnsafeMutableBufferPointer { qp in
                d.withUnsafeMutableBufferPointer { dp in
                    quantizeActivations(x, into: QuantizedActivations(values: qp.baseAddress!, scales: dp.baseAddress!, blocks: blocks))
                }
            }
            let back = (0..<(32 * blocks)).map { d[$0 / 32] * Float(q[$0]) }
            #expect(maxAbsDifference(back, referenceQuantized(x)) < 1e-6)
        }
    }

    @Test(arguments: [GGMLType.q8_0, .q4_0])
    func int8DotsMatchPlainSums(_ type: GGMLType) {
        for blocks in [1, 2, 3, 7] {
            let cols = 32 * blocks
            let (bytes, w) = encoded(type, rows: 1, cols: cols, seed: 31)
            let x = values(cols, seed: 33)
            let xs = referenceQuantized(x)
            var expected: Double = 0
            for c in 0..<cols { expected += Double(w[c]) * Double(xs[c]) }
            var q = [Int8](repeating: 0, count: cols)
            var d = [Float](repeating: 0, count: blocks)
            // The Swift reference kernels and the C intrinsics the matmul uses.
            let (swift, c): (Float, Float) = q.withUnsafeMutableBufferPointer { qp in
                d.withUnsafeMutableBufferPointer { dp in
                    let qa = QuantizedActivations(values: qp.baseAddress!, scales: dp.baseAddress!, blocks: blocks)
                    quantizeActivations(x, into: qa)
                    return bytes.withUnsafeBytes { raw in
                        let w = raw.baseAddress!
                        return type == .q8_0
                            ? (dotQ8_0(w, qa), swiftllama_dot_q8_0(w, qa.values, qa.scales, Int32(blocks)))
                            : (dotQ4_0(w, qa), swiftllama_dot_q4_0(w, qa.values, qa.scales, Int32(blocks)))
                    }
                }
            }
            #expect(abs(Double(swift) - expected) < 1e-4 * max(1, abs(expected)))
            #expect(abs(Double(c) - expected) < 1e-4 * max(1, abs(expected)))
        }
    }

    @Test(arguments: [GGMLType.f16, .bf16])
    func halfDotsHandleTails(_ type: GGMLType) {
        for n in [1, 7, 8, 9, 31, 32, 33, 67, 100] {
            let (bytes, w) = encoded(type, rows: 1, cols: n, seed: 41)
            let x = values(n, seed: 43)
            var expected: Double = 0
            for i in 0..<n { expected += Double(w[i]) * Double(x[i]) }
            let got = bytes.withUnsafeBytes { raw in
                type == .f16 ? dotF16(raw.baseAddress!, x, n) : dotBF16(raw.baseAddress!, x, n)
            }
            #expect(abs(Double(got) - expected) < 1e-5)
        }
    }

    @Test func workerPoolRunsEveryRangeOnceUnderConcurrentCallers() async {
        let parallel = ParallelFor(workers: 3)
        await withTaskGroup(of: Bool.self) { group in
            for caller in 0..<4 {
                group.addTask {
                    var ok = true
                    for round in 0..<200 {
                        let count = 1 + (caller * 37 + round * 13) % 300
                        var hits = [Int](repeating: 0, count: count)
                        hits.withUnsafeMutableBufferPointer { h in
                            let p = h.baseAddress!
                            parallel.run(count) { _, range in for i in range { p[i] += 1 } }
                        }
                        ok = ok && hits.allSatisfy { $0 == 1 }
                    }
                    return ok
                }
            }
            for await ok in group { #expect(ok) }
        }
    }

    @Test func dotHandlesTails() {
        for n in [0, 1, 7, 8, 9, 31, 32, 33, 100] {
            let a = values(n, seed: 1), b = values(n, seed: 2)
            var expected: Double = 0
            for i in 0..<n { expected += Double(a[i]) * Double(b[i]) }
            let got = a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in
                dot(pa.baseAddress ?? UnsafePointer(bitPattern: 8)!, pb.baseAddress ?? UnsafePointer(bitPattern: 8)!, n) } }
            #expect(abs(Double(got) - expected) < 1e-5)
        }
    }

    @Test func rmsnormSoftmaxSilu() {
        let n = 13
        let x = values(n, seed: 3), g = values(n, seed: 4)
        var out = [Float](repeating: 0, count: n)
        rmsnorm(x, g, &out, count: n, eps: 1e-5)
        let ms = x.map { Double($0) * Double($0) }.reduce(0, +) / Double(n)
        for i in 0..<n {
            #expect(abs(Double(out[i]) - Double(g[i]) * Double(x[i]) / (ms + 1e-5).squareRoot()) < 1e-6)
        }
        var s = x.map { $0 * 50 }  // large values: the max must be subtracted
        softmax(&s, count: n)
        let e = x.map { exp(Double($0 * 50)) }
        let total = e.reduce(0, +)
        for i in 0..<n { #expect(abs(Double(s[i]) - e[i] / total) < 1e-6) }
        #expect(abs(silu(1) - Float(1 / (1 + exp(-1.0)))) < 1e-7)
    }

    @Test func ropeRotatesInterleavedPairs() {
        let headDim = 6, heads = 2, pos = 7
        let freqs = ropeFrequencies(headDim: headDim, theta: 10000, scaling: nil, divisors: nil)
        #expect(freqs.count == 3)
        #expect(abs(freqs[1] - Float(pow(10000.0, -2.0 / 6.0))) < 1e-7)
        var c = [Float](repeating: 0, count: 3), s = c
        ropeAngles(position: pos, freqs: freqs, cos: &c, sin: &s)
        let x = values(heads * headDim, seed: 8)
        var y = x
        applyRope(&y, heads: heads, headDim: headDim, cos: c, sin: s)
        for h in 0..<heads {
            for i in 0..<3 {
                let a = Double(x[h * headDim + 2 * i]), b = Double(x[h * headDim + 2 * i + 1])
                let th = Double(pos) * Double(freqs[i])
                let ct: Double = cos(th), st: Double = sin(th)
                let y0 = Double(y[h * headDim + 2 * i]), y1 = Double(y[h * headDim + 2 * i + 1])
                #expect(abs(y0 - (a * ct - b * st)) < 1e-6)
                #expect(abs(y1 - (a * st + b * ct)) < 1e-6)
            }
        }
    }

    @Test func llama31ScalingFollowsMetasRule() {
        let headDim = 64
        let plain = ropeFrequencies(headDim: headDim, theta: 500000, scaling: nil, divisors: nil)
        let scaled = ropeFrequencies(headDim: headDim, theta: 500000, scaling: .llama31, divisors: nil)
        for i in 0..<plain.count {
            let wavelen = 2 * Double.pi / Double(plain[i])
            if wavelen < 8192.0 / 4 {
                #expect(scaled[i] == plain[i])
            } else if wavelen > 8192.0 {
                #expect(abs(scaled[i] - plain[i] / 8) <= plain[i] * 1e-6)
            } else {
                #expect(scaled[i] < plain[i] && scaled[i] > plain[i] / 8)
            }
        }
        // Divisors (GGUF rope_freqs) divide the frequencies.
        let divided = ropeFrequencies(headDim: 4, theta: 100, scaling: nil, divisors: [1, 2])
        let base = ropeFrequencies(headDim: 4, theta: 100, scaling: nil, divisors: nil)
        #expect(divided == [base[0], base[1] / 2])
    }
}
