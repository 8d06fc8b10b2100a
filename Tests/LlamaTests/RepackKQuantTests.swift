import Foundation
import Testing
import Llama
import CKernels

/// Q4_K, Q5_K and Q6_K in their row-interleaved layouts (repack_kquants.h,
/// kernels_r8_kquants.h): random super-blocks (every bit pattern is a valid block; the f16
/// scales set to small finite values) repacked, then the kernels of every set this CPU runs
/// against Double sums of the weights `dequantizeRow` reads from the plain blocks times the
/// quantized activations; bit-for-bit agreement of batched and lone tokens; the plain blocks
/// back out of the layout; the prompt GEMMs on the layout.
@Suite struct RepackKQuantTests {
    let k = KernelTests()
    let r8 = RepackKernelTests()

    /// `rows × cols` random blocks of `type` and their dequantized values.
    func randomBlocks(_ type: GGMLType, rows: Int, cols: Int, seed: UInt64) -> (bytes: [UInt8], values: [Float]) {
        var rng = Xoshiro256(seed: seed)
        let rowBytes = type.rowBytes(columns: cols), (blockElements, blockBytes) = type.blockLayout
        var bytes = (0..<(rows * rowBytes)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        for b in 0..<(rows * cols / blockElements) {
            for (i, offset) in KQuantKernelTests.halfFields(type).enumerated() {
                let bits = floatToHalf((i == 0 ? 0.004 : 0.002) * (1 + Float(rng.nextUnit()) * 0.5))
                bytes[b * blockBytes + offset] = UInt8(bits & 0xFF)
                bytes[b * blockBytes + offset + 1] = UInt8(bits >> 8)
            }
        }
        var values = [Float](repeating: 0, count: rows * cols)
        bytes.withUnsafeBytes { raw in
            values.withUnsafeMutableBufferPointer { v in
                for r in 0..<rows { dequantizeRow(type, raw.baseAddress! + r * rowBytes, v.baseAddress! + r * cols, count: cols) }
            }
        }
        return (bytes, values)
    }

    /// 1…8 tokens through the interleaved kernels against plain Double sums; shapes of 1, 3 and
    /// 9 super-blocks with odd numbers of row groups, and rows long enough (262400 / 131328
    /// columns) that the kernels' per-call tables do not fit and the values come inline.
    @Test(arguments: [(GGMLType.q4_K, 8, 256), (.q4_K, 24, 768), (.q4_K, 72, 2304), (.q4_K, 8, 262_400),
                      (.q6_K, 8, 256), (.q6_K, 24, 768), (.q6_K, 72, 2304), (.q6_K, 8, 131_328),
                      (.q5_K, 8, 256), (.q5_K, 24, 768), (.q5_K, 72, 2304)])
    func repackedMatchesPlainSums(_ type: GGMLType, _ rows: Int, _ cols: Int) throws {
        let (bytes, w) = randomBlocks(type, rows: rows, cols: cols, seed: UInt64(rows * 31 + cols))
        try bytes.withUnsafeBytes { raw in
            let plain = MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!)
            let m = try #require(plain.rowInterleaved(parallel: ParallelFor(workers: 3)))
            #expect(m.layout == .rowInterleaved8)
            let tokenCounts = cols > 10_000 ? [1, 2] : [1, 2, 3, 5, 8]
            for tokens in tokenCounts {
                let x = k.values(tokens * cols, seed: UInt64(50 + tokens))
                let xq = k.referenceQuantized(x)
                var expected = [Float](repeating: 0, count: tokens * rows), bound = expected
                for t in 0..<tokens {
                    for r in 0..<rows {
                        var s: Double = 0, a: Double = 0
                        for c in 0..<cols {
                            s += Double(w[r * cols + c]) * Double(xq[t * cols + c])
                            a += abs(Double(w[r * cols + c]) * Double(xq[t * cols + c]))
                        }
                        expected[t * rows + r] = Float(s)
                        // fp32 sums of the int32 block sums times float scales: a few ulps of
                        // the magnitudes summed.
                        bound[t * rows + r] = Float(1e-5 * a + 1e-5)
                    }
                }
                for kernels in KernelSet.runnable {
                    for parallel in [ParallelFor.serial, ParallelFor(workers: 3)] {
                        let out = r8.product(m, x, tokens: tokens, parallel: parallel, kernels: kernels)
                        let worst = zip(zip(out, expected), bound).map { abs($0.0 - $0.1) / $1 }.max() ?? .nan
                        #expect(worst <= 1, "\(type.name) \(rows)×\(cols), \(tokens) tokens, \(kernels.name): \(worst) of the bound")
                    }
                }
            }
        }
    }

    /// Parallel sequences: each token's results bit for bit those it gets alone, under every
    /// set, including rows whose per-call tables split the 8 tokens into smaller batches
    /// (65536 columns) or hold none (Q6_K at 131328 columns).
    @Test(arguments: [(GGMLType.q4_K, 200, 2048), (.q4_K, 24, 512), (.q4_K, 8, 65536),
                      (.q6_K, 200, 2048), (.q6_K, 24, 512), (.q6_K, 8, 65536), (.q6_K, 8, 131_328),
                      (.q5_K, 200, 2048), (.q5_K, 24, 512)])
    func batchedTokensEqualEachTokenAlone(_ type: GGMLType, _ rows: Int, _ cols: Int) throws {
        let (bytes, _) = randomBlocks(type, rows: rows, cols: cols, seed: 21)
        try bytes.withUnsafeBytes { raw in
            let m = try #require(MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!).rowInterleaved())
            r8.expectBatchedEqualsAlone(m, columns: cols, label: "\(type.name) \(rows)×\(cols)")
        }
    }

    /// The `avx512` set's 512-bit kernels (two 256-bit registers per vpdpbusd, the halves
    /// added in int32 before any float step) give the `avx512-256` set's 256-bit kernels'
    /// floats bit for bit, 1…8 tokens, where this CPU runs both.
    @Test(arguments: [(GGMLType.q4_K, 72, 2304), (.q5_K, 72, 2304), (.q6_K, 72, 2304), (.q6_K, 8, 8192)])
    func wideKernelsEqualTheirHalfWidthForms(_ type: GGMLType, _ rows: Int, _ cols: Int) throws {
        let sets = KernelSet.runnable
        guard let wide = sets.first(where: { $0.name == "avx512" }), let half = sets.first(where: { $0.name == "avx512-256" }) else { return }
        let (bytes, _) = randomBlocks(type, rows: rows, cols: cols, seed: 33)
        try bytes.withUnsafeBytes { raw in
            let m = try #require(MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!).rowInterleaved())
            for tokens in 1...8 {
                let x = k.values(tokens * cols, seed: UInt64(90 + tokens))
                let a = r8.product(m, x, tokens: tokens, parallel: .serial, kernels: wide)
                let b = r8.product(m, x, tokens: tokens, parallel: .serial, kernels: half)
                #expect(a == b, "\(type.name) \(rows)×\(cols), \(tokens) tokens")
            }
        }
    }

    /// A layer's products that share their input, K-quants mixed with Q4_0 and Q8_0 in one
    /// call: each output bit for bit what its matrix gives alone.
    @Test func sharedInputProductsEqualEachAlone() throws {
        let cols = 512
        let shapes: [(GGMLType, Int)] = [(.q4_K, 136), (.q6_K, 24), (.q4_0, 16), (.q5_K, 8), (.q8_0, 8)]
        var keep: [MatrixView] = []
        for (i, (type, rows)) in shapes.enumerated() {
            let bytes = type == .q4_0 || type == .q8_0 ? k.encoded(type, rows: rows, cols: cols, seed: UInt64(60 + i)).bytes
                : randomBlocks(type, rows: rows, cols: cols, seed: UInt64(60 + i)).bytes
            let repacked = bytes.withUnsafeBytes { MatrixView(type: type, rows: rows, columns: cols, base: $0.baseAddress!).rowInterleaved() }
            keep.append(try #require(repacked))
        }
        r8.expectSharedInputEqualsAlone(keep, columns: cols)
    }

    /// The plain super-blocks come back byte for byte (every bit of a block is used), and the
    /// rows read out of the layout (embedding lookups, tied outputs) are the plain rows' floats.
    @Test(arguments: [GGMLType.q4_K, .q5_K, .q6_K])
    func plainBlocksComeBackFromTheLayout(_ type: GGMLType) throws {
        let rows = 24, cols = 768
        let (bytes, w) = randomBlocks(type, rows: rows, cols: cols, seed: 7)
        let rowBytes = type.rowBytes(columns: cols), blocks = cols / 256
        try bytes.withUnsafeBytes { raw in
            let m = try #require(MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!).rowInterleaved())
            var row = [Float](repeating: .nan, count: cols)
            var back = [UInt8](repeating: 0, count: rowBytes)
            for r in 0..<rows {
                back.withUnsafeMutableBufferPointer {
                    swiftllama_r8_row(Int32(type.rawValue), m.base, Int32(blocks), r, 0, Int32(blocks), $0.baseAddress!)
                }
                #expect(back == Array(bytes[(r * rowBytes)..<((r + 1) * rowBytes)]), "\(type.name) row \(r) bytes")
                row.withUnsafeMutableBufferPointer { m.dequantize(row: r, into: $0.baseAddress!) }
                #expect(row == Array(w[(r * cols)..<((r + 1) * cols)]), "\(type.name) row \(r)")
            }
        }
    }

    /// The prompt GEMM (`gemm`: past `interleavedRunsMaxTokens` tokens) reads the layout through its packers: the same
    /// floats as on the plain matrix, bit for bit.
    @Test(arguments: [GGMLType.q4_K, .q5_K, .q6_K])
    func gemmOnTheLayoutEqualsGemmOnPlainRows(_ type: GGMLType) throws {
        let rows = 40, cols = 768, tokens = 13
        let (bytes, _) = randomBlocks(type, rows: rows, cols: cols, seed: 17)
        let x = k.values(tokens * cols, seed: 3)
        try bytes.withUnsafeBytes { raw in
            let plain = MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!)
            let m = try #require(plain.rowInterleaved())
            let a = r8.gemmProduct(plain, x, tokens: tokens, parallel: ParallelFor(workers: 3))
            let b = r8.gemmProduct(m, x, tokens: tokens, parallel: ParallelFor(workers: 3))
            #expect(a == b, "\(type.name)")
            #expect(!a.contains { $0.isNaN })
        }
    }

    /// The loader repacks the Q4_K_M fixture's Q4_K and Q6_K matrices for the selected set (so
    /// KQuantModelTests' logits, within their bar, come from these kernels), unless
    /// LLAMA_REPACK=0 or the set is the generic one.
    @Test func loaderRepacksTheKQuantFixture() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/kquant/model-q4_k_m.gguf").path
        let model = try LlamaModel(checkpoint: try CheckpointLoader.load(path: path))
        let summary = model.weightLayoutSummary
        if repackEnabled && KernelSet.selected.name != "generic" {
            #expect(summary.contains("Q4_K") && summary.contains("Q6_K"), "\(summary)")
        } else {
            #expect(summary.hasPrefix("plain"), "\(summary)")
        }
    }

    /// Logits of the last of `ids` fed one token per forward call: every matrix product is a
    /// one-token matrix-vector product (the row-interleaved kernels when the loader repacked).
    func lastLogitsTokenByToken(_ model: LlamaModel, ids: [Int]) throws -> [Float] {
        let cache = KVCache(config: model.config, capacity: ids.count)
        let state = RunState(config: model.config, maxRows: 1)
        for id in ids {
            try model.forward([BatchRow(token: id, position: cache.count)], caches: [cache], state: state, logitRows: [0])
        }
        return Array(state.logits(row: 0))
    }

    /// The generation path of the Q4_K_M fixture (Q4_K and Q6_K matrices) and of the Q5_K one,
    /// token by token, against gguf-py's float64 reference within the bar of the quantized
    /// kernels (KQuantModelTests, KTypesModelTests: those compare the prompt path's logits).
    @Test(arguments: ["kquant/model-q4_k_m.gguf", "ktypes/model-q5_K.gguf"])
    func generationPathStaysNearTheReference(_ file: String) throws {
        let ref = file.hasPrefix("kquant") ? try #require(try KQuantModelTests().reference()) : try KTypesModelTests().reference("q5_K")
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(file)").path
        let model = try LlamaModel(checkpoint: try CheckpointLoader.load(path: path))
        let logits = try lastLogitsTokenByToken(model, ids: ref.ids)
        let tolerance = quantizedActivationTolerance * max(1, ref.last.map { abs($0) }.max() ?? 1)
        let err = maxAbsDifference(logits, ref.last)
        print("\(file) token by token (\(model.weightLayoutSummary)), \(ref.ids.count) ids: max abs error \(err) (bar \(tolerance))")
        #expect(err <= tolerance)
    }
}
