import Foundation
import Testing
import Llama

/// The decode step of a few parallel sequences (2–8 rows through one matmul) takes the
/// small-batch kernel for Q4_0. Its lanes are summed in the order of the `avx512` set's
/// two-row dot: where that set is the selected one (CPUs that run 512-bit vectors whole) each
/// token's products are bit for bit those of the same token alone; with the other sets the
/// per-token dot sums the same products in another order, so they agree to float
/// reassociation (measured ≤ 2e-6 of max(1, |x|) on 64 blocks; the bar is 1e-5), and ServeTests shows the greedy ids stay equal.
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
                if KernelSet.selected.name == "avx512" {
                    #expect(batched == alone, "\(tokens) tokens, \(rows)×\(cols)")
                } else {
                    let worst = zip(batched, alone).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? 0
                    #expect(worst <= 1e-5, "\(tokens) tokens, \(rows)×\(cols): \(worst)")
                }
                #expect(!batched.contains { $0.isNaN })
            }
        }
    }
}
