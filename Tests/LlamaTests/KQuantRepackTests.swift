import Foundation
import Testing
import Llama

/// Q2_K and Q3_K in their row-interleaved layouts (CKernels/repack_k23.h): the R8 kernels of
/// every set this CPU runs against plain Double sums of the dequantized weights times the
/// activations quantized per 32, a token's results bit for bit the same alone and batched,
/// rows read back bit for bit, the prompt GEMMs reading the layout as they read plain rows,
/// and the quantized fixture models loading in the layout within their bar.
@Suite struct KQuantRepackTests {
    let k = KernelTests()
    let r8 = RepackKernelTests()
    static let types: [GGMLType] = [.q2_K, .q3_K]

    /// Random blocks of `type` (every bit pattern of the quants and scales is a valid block)
    /// with small finite f16 d / dmin, and the values `dequantizeRow` reads from them.
    func encoded(_ type: GGMLType, rows: Int, cols: Int, seed: UInt64) -> (bytes: [UInt8], values: [Float]) {
        var rng = Xoshiro256(seed: seed)
        func uniform() -> Float { Float(rng.next() >> 40) / Float(1 << 24) * 2 - 1 }
        let rowBytes = type.rowBytes(columns: cols), (blockElements, blockBytes) = type.blockLayout
        var bytes = (0..<(rows * rowBytes)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for b in 0..<(rows * cols / blockElements) {
            for (i, offset) in KQuantKernelTests.halfFields(type).enumerated() {
                let bits = floatToHalf((i == 0 ? 0.004 : 0.002) * (1 + uniform() * 0.5))
                bytes[b * blockBytes + offset] = UInt8(bits & 0xFF)
                bytes[b * blockBytes + offset + 1] = UInt8(bits >> 8)
            }
        }
        var values = [Float](repeating: 0, count: rows * cols)
        bytes.withUnsafeBytes { b in
            values.withUnsafeMutableBufferPointer { v in
                for r in 0..<rows { dequantizeRow(type, b.baseAddress! + r * rowBytes, v.baseAddress! + r * cols, count: cols) }
            }
        }
        return (bytes, values)
    }

    /// 1, 3 and 5 row groups; rows of 1, 2 and 3 super-blocks; 1…8 tokens.
    @Test(arguments: [GGMLType.q2_K, .q3_K], [(8, 256), (24, 512), (40, 768)])
    func repackedMatchesPlainSums(_ type: GGMLType, _ shape: (rows: Int, cols: Int)) throws {
        let (rows, cols) = shape
        let (bytes, w) = encoded(type, rows: rows, cols: cols, seed: 41 + UInt64(rows))
        try bytes.withUnsafeBytes { raw in
            let plain = MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!)
            let m = try #require(plain.rowInterleaved(parallel: ParallelFor(workers: 3)))
            #expect(m.layout == .rowInterleaved8)
            for tokens in 1...interleavedMaxTokens {
                let x = k.values(tokens * cols, seed: UInt64(50 + tokens))
                let xq = k.referenceQuantized(x)
                for kernels in KernelSet.runnable {
                    let out = r8.product(m, x, tokens: tokens, parallel: ParallelFor(workers: 3), kernels: kernels)
                    for t in 0..<tokens {
                        for r in 0..<rows {
                            var s = 0.0, magnitude = 0.0
                            for c in 0..<cols {
                                let p = Double(w[r * cols + c]) * Double(xq[t * cols + c])
                                s += p
                                magnitude += abs(p)
                            }
                            // The integer sums are exact; only float steps per block of 32 round.
                            #expect(abs(Double(out[t * rows + r]) - s) <= 1e-5 * magnitude + 1e-6,
                                    "\(type.name) \(rows)×\(cols) \(kernels.name) token \(t) row \(r): \(out[t * rows + r]) vs \(s)")
                        }
                    }
                }
            }
        }
    }

    /// Parallel sequences: each token's outputs are those it gets alone, bit for bit, under
    /// every set; rows of 33024 columns (1032 blocks of 32) take the kernel's other path for the
    /// halves' sums at 8 tokens (its per-call table holds 8192 block-tokens).
    @Test(arguments: [GGMLType.q2_K, .q3_K], [(200, 1024), (24, 256), (8, 33024)])
    func batchedTokensEqualEachTokenAlone(_ type: GGMLType, _ shape: (rows: Int, cols: Int)) throws {
        let (rows, cols) = shape
        let (bytes, _) = encoded(type, rows: rows, cols: cols, seed: 21)
        try bytes.withUnsafeBytes { raw in
            let m = try #require(MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!).rowInterleaved())
            r8.expectBatchedEqualsAlone(m, columns: cols, label: "\(type.name) \(rows)×\(cols)")
        }
    }

    /// Matrices sharing their input (Q2_K and Q3_K mixed with Q4_0) in one call: each output
    /// bit for bit what its matrix gives alone.
    @Test func sharedInputProductsEqualEachAlone() throws {
        let cols = 512
        let shapes: [(GGMLType, Int)] = [(.q2_K, 136), (.q3_K, 24), (.q4_0, 8)]
        let encoded = shapes.enumerated().map { i, s in
            s.0 == .q4_0 ? k.encoded(s.0, rows: s.1, cols: cols, seed: UInt64(60 + i)).0 : self.encoded(s.0, rows: s.1, cols: cols, seed: UInt64(60 + i)).0
        }
        var keep: [MatrixView] = []
        for ((type, rows), bytes) in zip(shapes, encoded) {
            let repacked = bytes.withUnsafeBytes { MatrixView(type: type, rows: rows, columns: cols, base: $0.baseAddress!).rowInterleaved() }
            keep.append(try #require(repacked))
        }
        r8.expectSharedInputEqualsAlone(keep, columns: cols)
    }

    /// Rows read back out of the layout (embedding lookups, the fp32 GEMM's packing) are the
    /// plain rows' values, bit for bit.
    @Test(arguments: [GGMLType.q2_K, .q3_K])
    func rowsReadBackFromTheLayout(_ type: GGMLType) throws {
        let rows = 24, cols = 768
        let (bytes, w) = encoded(type, rows: rows, cols: cols, seed: 7)
        try bytes.withUnsafeBytes { raw in
            let m = try #require(MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!).rowInterleaved())
            var row = [Float](repeating: .nan, count: cols)
            for r in 0..<rows {
                row.withUnsafeMutableBufferPointer { m.dequantize(row: r, into: $0.baseAddress!) }
                #expect(row == Array(w[(r * cols)..<((r + 1) * cols)]), "\(type.name) row \(r)")
            }
        }
    }

    /// The prompt GEMM (`gemm`: past `interleavedRunsMaxTokens` tokens) reads the layout
    /// by copying its rows back: the same floats as on the plain matrix, bit for bit.
    @Test(arguments: [GGMLType.q2_K, .q3_K])
    func promptGEMMReadsTheLayoutAsPlainRows(_ type: GGMLType) throws {
        let rows = 40, cols = 512
        let (bytes, _) = encoded(type, rows: rows, cols: cols, seed: 9)
        try bytes.withUnsafeBytes { raw in
            let plain = MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!)
            let m = try #require(plain.rowInterleaved())
            for tokens in [9, 21] {
                let x = k.values(tokens * cols, seed: UInt64(80 + tokens))
                let a = r8.gemmProduct(plain, x, tokens: tokens, parallel: ParallelFor(workers: 3))
                let b = r8.gemmProduct(m, x, tokens: tokens, parallel: ParallelFor(workers: 3))
                #expect(a == b, "\(type.name) \(tokens) tokens")
                #expect(!a.contains { $0.isNaN })
            }
        }
    }

    /// The fixture models of both types load row-interleaved for the selected set (unless
    /// LLAMA_REPACK=0 or the generic set) and stay within the quantized bar
    /// (`KTypesModelTests.quantizedKernelsStayNearTheReference` runs them end to end).
    @Test(arguments: ["q2_K", "q3_K"])
    func fixtureModelsLoadRowInterleaved(_ type: String) throws {
        let model = try LlamaModel(checkpoint: try KTypesModelTests().checkpoint(type))
        let summary = model.weightLayoutSummary
        if repackEnabled && KernelSet.selected.name != "generic" {
            #expect(summary.hasPrefix("row-interleaved") && summary.contains(type.uppercased()), "\(summary)")
        } else {
            #expect(summary.hasPrefix("plain"), "\(summary)")
        }
    }

    /// Generation through the layout: the fixture's ids fed one decode step at a time (every
    /// matrix product a 1-token R8 matvec when repacked) end on logits within the quantized bar
    /// of the float64 reference. The plain layout's dots quantize activations per 256 (Q8_K),
    /// the layout's kernels per 32, so the two differ by more than reassociation. Measured on
    /// an AMD EPYC (avx512-256): Q2_K 0.147, Q3_K 0.151 repacked; 0.204, 0.175 with
    /// LLAMA_REPACK=0 (bars 0.286, 0.258).
    @Test(arguments: ["q2_K", "q3_K"])
    func decodeStepsStayNearTheReference(_ type: String) throws {
        let ref = try KTypesModelTests().reference(type)
        let model = try LlamaModel(checkpoint: try KTypesModelTests().checkpoint(type))
        let cache = KVCache(config: model.config, capacity: ref.ids.count)
        let state = RunState(config: model.config, maxRows: 1)
        for id in ref.ids {
            try model.forward([BatchRow(token: id, position: cache.count)], caches: [cache], state: state, logitRows: [0])
        }
        let logits = Array(state.logits(row: 0))
        let tolerance = quantizedActivationTolerance * max(1, ref.last.map { abs($0) }.max() ?? 1)
        let err = maxAbsDifference(logits, ref.last)
        print("\(type) decode steps, \(ref.ids.count) ids, \(model.weightLayoutSummary): max abs error \(err) (bar \(tolerance))")
        #expect(err <= tolerance)
    }
}
