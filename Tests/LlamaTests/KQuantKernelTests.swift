import Testing
import Llama

/// Q2_K, Q3_K, Q5_K, IQ4_NL and IQ4_XS (and Q4_K/Q6_K alongside): matmul on random blocks
/// against exact math on the weights `dequantizeRow` reads from them. One token takes the
/// direct dots with int8 activations, 8 and 21 tokens the int8 GEMM (AVX-512 VNNI) or the
/// fp32 GEMM; 33 rows cross the two-row dots' odd row and the GEMM's 16-row tiles.
@Suite struct KQuantKernelTests {
    /// Byte offsets of each type's f16 scales in its block, set to small finite values (the
    /// other bytes stay random: every bit pattern of them is a valid block).
    static func halfFields(_ type: GGMLType) -> [Int] {
        switch type {
        case .q2_K: return [80, 82]
        case .q3_K: return [108]
        case .q4_K, .q5_K: return [0, 2]
        case .q6_K: return [208]
        default: return [0]
        }
    }

    @Test(arguments: [GGMLType.q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_nl, .iq4_xs], [1, 3, 8, 21])
    func matmulMatchesDequantizedMath(type: GGMLType, tokens: Int) {
        let rows = 33, cols = 768
        var rng = Xoshiro256(seed: UInt64(type.rawValue) * 7 + UInt64(tokens))
        func uniform() -> Float { Float(rng.next() >> 40) / Float(1 << 24) * 2 - 1 }
        let rowBytes = type.rowBytes(columns: cols), (blockElements, blockBytes) = type.blockLayout
        var blocks = (0..<(rows * rowBytes)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for b in 0..<(rows * cols / blockElements) {
            for (k, offset) in Self.halfFields(type).enumerated() {
                let bits = floatToHalf((k == 0 ? 0.004 : 0.002) * (1 + uniform() * 0.5))
                blocks[b * blockBytes + offset] = UInt8(bits & 0xFF)
                blocks[b * blockBytes + offset + 1] = UInt8(bits >> 8)
            }
        }
        let x = (0..<(tokens * cols)).map { _ in uniform() }
        var dequant = [Float](repeating: 0, count: rows * cols)
        blocks.withUnsafeBytes { b in
            dequant.withUnsafeMutableBufferPointer { d in
                for r in 0..<rows { dequantizeRow(type, b.baseAddress! + r * rowBytes, d.baseAddress! + r * cols, count: cols) }
            }
        }
        #expect(type.isSupportedByKernels)
        // Every kernel set this CPU runs (generation's matvec path; the GEMM path is shared).
        for kernels in KernelSet.runnable {
        var out = [Float](repeating: 0, count: tokens * rows)
        blocks.withUnsafeBytes { b in
            let w = MatrixView(type: type, rows: rows, columns: cols, base: b.baseAddress!)
            x.withUnsafeBufferPointer { xs in out.withUnsafeMutableBufferPointer { o in
                matmul(w, xs.baseAddress!, tokens: tokens, o.baseAddress!, parallel: ParallelFor(workers: 2), kernels: kernels)
            } }
        }
        for t in 0..<tokens {
            for r in 0..<rows {
                var exact = 0.0, squares = 0.0
                for c in 0..<cols {
                    exact += Double(dequant[r * cols + c]) * Double(x[t * cols + c])
                    squares += Double(dequant[r * cols + c]) * Double(dequant[r * cols + c])
                }
                // int8 activations: each x (|x| ≤ 1) is rounded to a step of at most 1/127,
                // independently, so the error has a standard deviation of at most
                // √(Σ w²)·(1/127)/√12; six of them (a wrong sub-block's products are far larger).
                let int8 = tokens <= matvecMaxTokens || kernels.takesInt8GEMM(type)
                let sigma = squares.squareRoot() / 127 / 12.0.squareRoot()
                let bound = (int8 ? 6 * sigma : 0) + 1e-4 * max(1, abs(exact))
                #expect(abs(Double(out[t * rows + r]) - exact) <= bound,
                        "\(type.name) \(kernels.name) row \(r) token \(t): \(out[t * rows + r]) vs \(exact)")
            }
        }
        }
    }
}
