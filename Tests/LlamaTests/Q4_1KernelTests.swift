import Foundation
import Testing
import Llama

/// Q4_1, Q5_0 and Q5_1: llama.cpp's reference rounding, and the generation dot (int8
/// activations) against exact math on the dequantized weights (whose reader existed before).
@Suite struct Q4_1KernelTests {
    /// A block quantized by hand with llama.cpp's quantize_row_q4_1_ref rule: d = (max−min)/15,
    /// m = min, q = min(15, trunc((x−min)/d + 0.5)).
    @Test func blocksFollowTheReferenceRounding() {
        var x = [Float](repeating: 0, count: 32)
        for j in 0..<32 { x[j] = Float(j) * 0.25 - 3 }  // min −3, max 4.75, d = 7.75/15
        var block = [UInt8](repeating: 0, count: 20)
        x.withUnsafeBufferPointer { xs in block.withUnsafeMutableBytes { quantizeRow(xs.baseAddress!, count: 32, as: .q4_1, into: $0.baseAddress!) } }
        let d = Float(Float16(Float(7.75) / 15)), m = Float(Float16(Float(-3)))
        #expect(Float(Float16(bitPattern: UInt16(block[0]) | UInt16(block[1]) << 8)) == d)
        #expect(Float(Float16(bitPattern: UInt16(block[2]) | UInt16(block[3]) << 8)) == m)
        let id = 1 / (Float(7.75) / 15)
        for j in 0..<16 {
            let q0 = min(15, Int((x[j] + 3) * id + 0.5)), q1 = min(15, Int((x[j + 16] + 3) * id + 0.5))
            #expect(block[4 + j] == UInt8(q0 | q1 << 4), "byte \(j)")
        }
    }

    /// matmul over Q4_1/Q5_0/Q5_1 rows: one token takes the int8 dots (two rows at a time,
    /// then the odd row; two blocks at a time, then the odd block: 3 blocks of 32 and 71 rows
    /// cross both), eight tokens the int8 GEMM (AVX-512 VNNI) or the fp32 GEMM of the
    /// dequantized blocks; all match exact math on the dequantized weights (the int8 paths
    /// within the activations' 8-bit rounding).
    @Test(arguments: [GGMLType.q4_1, .q5_0, .q5_1], [(1, 256), (1, 96), (8, 256), (8, 96), (21, 96)])
    func matmulMatchesDequantizedMath(type: GGMLType, shape: (tokens: Int, cols: Int)) {
        let rows = 71, cols = shape.cols, tokens = shape.tokens
        var rng = Xoshiro256(seed: 42)
        func uniform() -> Float { Float(rng.next() >> 40) / Float(1 << 24) * 2 - 1 }
        let weights = (0..<(rows * cols)).map { _ in uniform() * 0.5 + 0.1 }
        let x = (0..<(tokens * cols)).map { _ in uniform() }
        let rowBytes = type.rowBytes(columns: cols)
        var blocks = [UInt8](repeating: 0, count: rows * rowBytes)
        var dequant = [Float](repeating: 0, count: rows * cols)
        weights.withUnsafeBufferPointer { w in
            blocks.withUnsafeMutableBytes { b in
                for r in 0..<rows { quantizeRow(w.baseAddress! + r * cols, count: cols, as: type, into: b.baseAddress! + r * rowBytes) }
                dequant.withUnsafeMutableBufferPointer { d in
                    for r in 0..<rows { dequantizeRow(type, UnsafeRawPointer(b.baseAddress! + r * rowBytes), d.baseAddress! + r * cols, count: cols) }
                }
            }
        }
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
                var exact = 0.0, scale = 0.0
                for c in 0..<cols {
                    exact += Double(dequant[r * cols + c]) * Double(x[t * cols + c])
                    scale += abs(Double(dequant[r * cols + c]))
                }
                // int8 activations: each |x| is off by at most max|x|/254 per block of 32.
                let int8 = tokens <= matvecMaxTokens || kernels.takesInt8GEMM(type)
                let bound = int8 ? scale / 254 + 1e-4 : 1e-4 * max(1, abs(exact))
                #expect(abs(Double(out[t * rows + r]) - exact) <= bound,
                        "\(type.name) \(kernels.name) row \(r) token \(t): \(out[t * rows + r]) vs \(exact)")
            }
        }
        }
    }
}
