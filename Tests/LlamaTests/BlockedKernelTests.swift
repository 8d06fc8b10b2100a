import Foundation
import Testing
import Llama
import CKernels

/// The blocked prompt-processing product and the K-quant dot products against plain sums,
/// on sizes that cross every block boundary (panel rows, row blocks, kc columns, token tiles).
@Suite struct BlockedKernelTests {
    /// The same deterministic inputs as `KernelTests`.
    func values(_ n: Int, seed: UInt64) -> [Float] { KernelTests().values(n, seed: seed) }

    /// Random rows of `type`: random bytes with the scale fields set to small halves (any
    /// other byte pattern is a valid block), and what they mean in fp32 by `dequantizeRow`
    /// (itself checked against hand-packed blocks in `KQuantTests` and `KernelTests`).
    func randomRows(_ type: GGMLType, rows: Int, cols: Int, seed: UInt64) -> (bytes: [UInt8], values: [Float]) {
        var rng = Xoshiro256(seed: seed)
        let rowBytes = type.rowBytes(columns: cols)
        var bytes = (0..<(rows * rowBytes)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        func setHalf(_ offset: Int, _ v: Float) {
            let bits = floatToHalf(v)
            bytes[offset] = UInt8(bits & 0xFF)
            bytes[offset + 1] = UInt8(bits >> 8)
        }
        let (elements, blockBytes) = type.blockLayout
        for block in 0..<(rows * cols / elements) {
            let b = block * blockBytes
            switch type {
            case .f16:
                for i in 0..<elements { setHalf(b + 2 * i, Float(rng.nextUnit() * 2 - 1)) }
            case .f32:
                let v = Float(rng.nextUnit() * 2 - 1)
                withUnsafeBytes(of: v.bitPattern.littleEndian) { for i in 0..<4 { bytes[b + i] = $0[i] } }
            case .q8_0, .q4_0:
                setHalf(b, Float(rng.nextUnit()) * 0.02 + 0.001)
            case .q4_K, .q5_K:
                setHalf(b, Float(rng.nextUnit()) * 0.002 + 0.0005)
                setHalf(b + 2, Float(rng.nextUnit()) * 0.002)
            case .q6_K:
                setHalf(b + 208, Float(rng.nextUnit()) * 0.0005 + 0.0001)
            case .q2_K:
                setHalf(b + 80, Float(rng.nextUnit()) * 0.002 + 0.0005)
                setHalf(b + 82, Float(rng.nextUnit()) * 0.002)
            case .q3_K:
                setHalf(b + 108, Float(rng.nextUnit()) * 0.002 + 0.0005)
            case .iq4_xs: setHalf(b, Float(rng.nextUnit()) * 0.0005 + 0.0001)
            case .iq4_nl: setHalf(b, Float(rng.nextUnit()) * 0.01 + 0.001)
            case .q5_0: setHalf(b, Float(rng.nextUnit()) * 0.05 + 0.005)
            case .q4_1, .q5_1:
                setHalf(b, Float(rng.nextUnit()) * 0.05 + 0.005)
                setHalf(b + 2, Float(rng.nextUnit()) * 0.4 - 0.2)
            default:
                break
            }
        }
        var vals = [Float](repeating: 0, count: rows * cols)
        bytes.withUnsafeBytes { raw in
            vals.withUnsafeMutableBufferPointer { o in
                for r in 0..<rows {
                    dequantizeRow(type, raw.baseAddress! + r * rowBytes, o.baseAddress! + r * cols, count: cols)
                }
            }
        }
        return (bytes, vals)
    }

    func naive(_ w: [Float], _ x: [Float], rows: Int, cols: Int, tokens: Int) -> [Float] {
        KernelTests().plainSums(w, x, rows: rows, cols: cols, tokens: tokens)
    }

    /// 150 rows = 4 full panels + a partial one, across two row blocks (int8: 9 tiles of 16 and
    /// one of 6; Q8_0/Q4_0 in steps of two tiles, the last 16 + 6); 768 columns = three kc
    /// blocks (three super-blocks); 13 tokens = two tiles of 6 and a tail of 1 (int8: one group
    /// of 8 and a short one of 5; Q8_0/Q4_0 groups of 6, the last one overlapping).
    @Test(arguments: [GGMLType.f32, .f16, .q8_0, .q4_0, .q4_K, .q5_K, .iq4_xs, .q6_K, .q2_K, .q3_K])
    func gemmMatchesNaive(_ type: GGMLType) {
        let rows = 150, cols = 768, tokens = 13
        let (bytes, w) = randomRows(type, rows: rows, cols: cols, seed: 3)
        let x = values(tokens * cols, seed: 4)
        // Every set this CPU runs. Where its int8 path runs, the activations are quantized per
        // 32 (per 256 for the K-quants and IQ4_XS in the K16 and K32 layouts) first: the
        // reference rounds them the same way, so only summation order differs.
        var fp32Outputs: [(String, [Float])] = []
        for kernels in KernelSet.runnable {
            let int8 = kernels.takesInt8GEMM(type)
            // Where the BF16 path runs (F16 weights, AVX512_BF16; a `gemm` without a role only
            // under LLAMA_BF16_PRODUCTS=1), both operands are rounded to bfloat16 first: the
            // reference rounds them the same way.
            let bf16 = takesBF16Products(nil) && bf16GEMMTypes.contains(type)
            let toBF16: ([Float]) -> [Float] = { $0.map { bfloat16ToFloat(floatToBFloat16($0)) } }
            let per256 = (int8GEMMK16Types.contains(type) && kernels.hasInt8GEMMK16)
                || (int8GEMMK32Types.contains(type) && kernels.hasInt8GEMMK32)
            let expected = bf16 ? naive(toBF16(w), toBF16(x), rows: rows, cols: cols, tokens: tokens)
                : naive(w, int8 ? referenceQuantized(x, block: per256 ? 256 : 32) : x, rows: rows, cols: cols, tokens: tokens)
            let scale = expected.map { abs($0) }.max() ?? 1
            for parallel in [ParallelFor.serial, ParallelFor(workers: 3)] {
                var out = [Float](repeating: .nan, count: tokens * rows)
                bytes.withUnsafeBytes { raw in
                    let m = MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!)
                    out.withUnsafeMutableBufferPointer { o in gemm(m, x, tokens: tokens, o.baseAddress!, parallel: parallel, kernels: kernels) }
                }
                #expect(maxAbsDifference(out, expected) <= 1e-5 * max(1, scale), "\(type) \(kernels.name)")
                if !int8, !bf16, parallel.workers > 1 { fp32Outputs.append((kernels.name, out)) }
            }
        }
        // The fp32 path (Swift's micro-kernel, or the `avx2` set's C one): the same bits everywhere.
        for (name, out) in fp32Outputs.dropFirst() {
            #expect(out.map(\.bitPattern) == fp32Outputs[0].1.map(\.bitPattern), "\(type): \(name) vs \(fp32Outputs[0].0)")
        }
    }

    /// The int8 GEMM of every set that has one (the AVX-512 VNNI kernel, the AVX2 one) gives
    /// the same bits for the types of blocks of 32 and the K16 and K32 types: the AVX2 kernels'
    /// vpmaddubsw sums are the VNNI kernels' int32 sums, then the same float steps. Q8_0 rows 0–7 hold the int8
    /// extremes (127, −128, both alternating) against activations of equal magnitude, so every
    /// quantized activation is ±127: there a plain vpmaddubsw of u = q + 128 would saturate its
    /// int16 pair sums (2·255·127). 40 rows (two tiles and a half), 13 tokens (a tail group).
    @Test(arguments: [GGMLType.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .iq4_nl, .q6_K, .q3_K, .q2_K, .q4_K, .q5_K, .iq4_xs])
    func int8GEMMGivesTheSameBitsInEverySet(_ type: GGMLType) {
        let rows = 40, cols = 512, tokens = 13
        var (bytes, w) = randomRows(type, rows: rows, cols: cols, seed: 8)
        if type == .q8_0 {
            let rowBytes = type.rowBytes(columns: cols)
            for r in 0..<8 {
                for b in 0..<(cols / 32) {
                    for i in 0..<32 {
                        let q: Int8 = r % 3 == 0 ? 127 : r % 3 == 1 ? -128 : (i % 2 == 0 ? 127 : -128)
                        bytes[r * rowBytes + 34 * b + 2 + i] = UInt8(bitPattern: q)
                    }
                }
            }
            bytes.withUnsafeBytes { raw in
                w.withUnsafeMutableBufferPointer { o in
                    for r in 0..<8 { dequantizeRow(type, raw.baseAddress! + r * rowBytes, o.baseAddress! + r * cols, count: cols) }
                }
            }
        }
        // Tokens 0 and 1: every element ±1 (all quantize to ±127); the others random.
        var x = values(tokens * cols, seed: 9)
        for c in 0..<cols {
            x[c] = 1
            x[cols + c] = c % 3 == 0 ? -1 : 1
        }
        // The K16 and K32 types (a super-block kernel in every set with an int8 GEMM) take
        // activations per 256.
        let block = int8GEMMK16Types.contains(type) || int8GEMMK32Types.contains(type) ? 256 : 32
        let expected = naive(w, referenceQuantized(x, block: block), rows: rows, cols: cols, tokens: tokens)
        let scale = expected.map { abs($0) }.max() ?? 1
        var first: (name: String, out: [Float])?
        for kernels in KernelSet.runnable where kernels.takesInt8GEMM(type) {
            var out = [Float](repeating: .nan, count: tokens * rows)
            bytes.withUnsafeBytes { raw in
                let m = MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!)
                out.withUnsafeMutableBufferPointer { o in
                    #expect(gemmInt8(m, x, tokens: tokens, o.baseAddress!, parallel: ParallelFor(workers: 3), kernels: kernels))
                }
            }
            #expect(maxAbsDifference(out, expected) <= 1e-5 * max(1, scale), "\(type) \(kernels.name)")
            if let first {
                #expect(out.map(\.bitPattern) == first.out.map(\.bitPattern), "\(type): \(kernels.name) vs \(first.name)")
            } else {
                first = (kernels.name, out)
            }
        }
    }

    /// Per-block activation quantization, written plainly: d = max|x|/127, round half to even.
    func referenceQuantized(_ x: [Float], block size: Int) -> [Float] {
        var out = x
        for b in 0..<(x.count / size) {
            let block = x[(size * b)..<(size * b + size)]
            let m = block.map { abs($0) }.max() ?? 0
            for i in block.indices {
                out[i] = m > 0 ? m / 127 * (x[i] * (127 / m)).rounded(.toNearestOrEven) : 0
            }
        }
        return out
    }

    @Test(arguments: [GGMLType.q4_K, .q6_K])
    func kQuantDotsMatchPlainSums(_ type: GGMLType) {
        for superblocks in [1, 2, 3] {
            let cols = 256 * superblocks
            let (bytes, w) = randomRows(type, rows: 1, cols: cols, seed: 51 + UInt64(superblocks))
            var x = values(cols, seed: 53)
            if superblocks == 3 { for i in 256..<512 { x[i] = 0 } }  // a zero block: scale 0, no NaN
            let xs = referenceQuantized(x, block: 256)
            var expected: Double = 0
            for c in 0..<cols { expected += Double(w[c]) * Double(xs[c]) }
            var q = [Int8](repeating: 0, count: cols)
            var d = [Float](repeating: .nan, count: superblocks)
            var sums = [Int16](repeating: 0, count: cols / 16)
            let got: Float = q.withUnsafeMutableBufferPointer { qp in
                d.withUnsafeMutableBufferPointer { dp in
                    sums.withUnsafeMutableBufferPointer { sp in
                        let a = SuperBlockActivations(values: qp.baseAddress!, scales: dp.baseAddress!,
                                                      sums: sp.baseAddress!, superblocks: superblocks)
                        quantizeActivations(x, into: a)
                        return bytes.withUnsafeBytes { raw in
                            type == .q4_K
                                ? swiftllama_dot_q4_K(raw.baseAddress!, a.values, a.scales, a.sums, Int32(superblocks))
                                : swiftllama_dot_q6_K(raw.baseAddress!, a.values, a.scales, a.sums, Int32(superblocks))
                        }
                    }
                }
            }
            // The sums of 16 are what the kernels use for mins and offsets: check them too.
            for g in 0..<(cols / 16) {
                #expect(Int(sums[g]) == (0..<16).reduce(0) { $0 + Int(q[16 * g + $1]) })
            }
            #expect(abs(Double(got) - expected) < 1e-4 * max(1, abs(expected)), "\(type) × \(superblocks)")
        }
    }

    /// Generation's path (tokens ≤ 4) for K-quant rows: activations quantized per 256.
    @Test(arguments: [GGMLType.q4_K, .q6_K])
    func kQuantMatvecMatchesNaive(_ type: GGMLType) {
        let rows = 37, cols = 512
        let (bytes, w) = randomRows(type, rows: rows, cols: cols, seed: 61)
        for tokens in [1, 3] {
            let x = values(tokens * cols, seed: 62)
            let expected = naive(w, referenceQuantized(x, block: 256), rows: rows, cols: cols, tokens: tokens)
            let scale = expected.map { abs($0) }.max() ?? 1
            var out = [Float](repeating: .nan, count: tokens * rows)
            bytes.withUnsafeBytes { raw in
                let m = MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!)
                out.withUnsafeMutableBufferPointer { o in
                    matmul(m, x, tokens: tokens, o.baseAddress!, parallel: ParallelFor(workers: 2))
                }
            }
            #expect(maxAbsDifference(out, expected) <= 1e-5 * max(1, scale), "\(type), \(tokens) tokens")
        }
    }
}
