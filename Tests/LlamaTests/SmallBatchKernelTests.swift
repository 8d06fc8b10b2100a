import Foundation
import Testing
import Llama

/// The decode step of a few parallel sequences (2–8 rows through one matmul) takes the
/// small-batch kernel for Q4_0: each token's products must be bit for bit those of the
/// same token alone, so that a sequence generates the same ids in a batch as alone.
@Suite struct SmallBatchKernelTests {
    @Test(arguments: [(2048, 130), (32 * 7, 67), (96, 3)])
    func batchedRowsEqualEachTokenAlone(_ cols: Int, _ rows: Int) {
        let (bytes, _) = KernelTests().encoded(.q4_0, rows: rows, cols: cols, seed: 21)
        for tokens in 2...8 {
            let x = KernelTests().values(tokens * cols, seed: UInt64(30 + tokens))
            for parallel in [ParallelFor.serial, ParallelFor(workers: 3)] {
                var batched = [Float](repeating: .nan, count: tokens * rows)
                var alone = [Float](repeating: .nan, count: tokens * rows)
                bytes.withUnsafeBytes { raw in
                    let m = MatrixView(type: .q4_0, rows: rows, columns: cols, base: raw.baseAddress!)
                    x.withUnsafeBufferPointer { xp in
                        batched.withUnsafeMutableBufferPointer { o in
                            matmul(m, xp.baseAddress!, tokens: tokens, o.baseAddress!, parallel: parallel)
                        }
                        alone.withUnsafeMutableBufferPointer { o in
                            for t in 0..<tokens {
                                matmul(m, xp.baseAddress! + t * cols, tokens: 1, o.baseAddress! + t * rows, parallel: parallel)
                            }
                        }
                    }
                }
                #expect(batched == alone, "\(tokens) tokens, \(rows)×\(cols)")
                #expect(!batched.contains { $0.isNaN })
            }
        }
    }
}
