import CKernels

/// `out[t, r] = W[r] · x[t]` for the few tokens of a decode step over parallel sequences
/// (2…`smallBatchMaxTokens`), each weight row unpacked once for all of them; false when `w`'s
/// type has no such kernel (the caller then uses `matvec` or `gemm`).
///
/// `matvec` dots a row with one token at a time: at 4 tokens the Q4_0 unpacking is done 4
/// times and bounds the step, so 4 streams ran only about 2× as fast as one. Here the
/// activations are quantized and reordered once per token, then each pair of rows meets up
/// to 4 tokens per kernel call. Same sums as `matvec` on each token alone (bit for bit), so
/// a sequence generates the same ids in a batch as alone.
func smallBatchMatvec(_ w: MatrixView, _ x: UnsafePointer<Float>, tokens: Int, _ out: UnsafeMutablePointer<Float>,
                      parallel: ParallelFor) -> Bool {
    // Without AVX-512 VNNI the kernel would only call the per-token one: leave it to matvec/gemm.
    guard hasInt8GEMM, w.type == .q4_0, tokens >= 2, tokens <= smallBatchMaxTokens, w.columns % 32 == 0 else { return false }
    let cols = w.columns, rows = w.rows, blocks = cols / 32, rowBytes = w.rowBytes
    // The activations as quantized (for an odd last row, dotted as `matvec` does) and
    // reordered for the pair kernel.
    withUnsafeTemporaryAllocation(of: Int8.self, capacity: 2 * tokens * cols) { valueBuffer in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: tokens * blocks) { scaleBuffer in
            guard let values = valueBuffer.baseAddress, let scales = scaleBuffer.baseAddress else { return }
            let ordered = values + tokens * cols
            for t in 0..<tokens {
                quantizeActivations(x + t * cols, into: QuantizedActivations(values: values + t * cols, scales: scales + t * blocks, blocks: blocks))
                ordered.advanced(by: t * cols).update(from: values + t * cols, count: cols)
                swiftllama_q4_0_pair_order(ordered + t * cols, Int32(blocks))
            }
            parallel.runChunked(rows, chunk: matvecChunkRows) { _, range in
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 8) { pair in
                    guard let result = pair.baseAddress else { return }
                    var r = range.lowerBound
                    while r + 2 <= range.upperBound {
                        let row = w.base + r * rowBytes
                        var t0 = 0
                        while t0 < tokens {
                            let n = min(4, tokens - t0)
                            swiftllama_dot2xn_q4_0(row, row + rowBytes, ordered + t0 * cols, scales + t0 * blocks,
                                                   Int32(blocks), Int32(n), result)
                            for t in 0..<n {
                                out[(t0 + t) * rows + r] = result[2 * t]
                                out[(t0 + t) * rows + r + 1] = result[2 * t + 1]
                            }
                            t0 += n
                        }
                        r += 2
                    }
                    if r < range.upperBound {
                        let row = w.base + r * rowBytes
                        for t in 0..<tokens {
                            out[t * rows + r] = swiftllama_dot_q4_0(row, values + t * cols, scales + t * blocks, Int32(blocks))
                        }
                    }
                }
            }
        }
    }
    return true
}

/// Up to this many tokens a type with a small-batch kernel uses it instead of `gemm`
/// (whose per-call repacking of the weights only pays off over more tokens).
let smallBatchMaxTokens = 8
