import Foundation
import Testing
import Llama

/// The row-interleaved layouts of Q4_1, Q5_0, Q5_1, IQ4_NL and IQ4_XS (CKernels/r8_legacy.h):
/// the generation kernels of every set this CPU runs against plain Double sums of the
/// dequantized weights × the quantized activations, a token's results bit for bit the same
/// alone and batched, rows read back out of the layout, the prompt GEMMs reading it, and the
/// IQ4 fixture models' real llama.cpp-quantized matrices.
@Suite struct LegacyRepackTests {
    let k = KernelTests()
    let r8 = RepackKernelTests()
    static let types: [GGMLType] = [.iq4_nl, .iq4_xs, .q4_1, .q5_0, .q5_1]

    /// Random blocks of `type` with small f16 scales (and minima), and their values
    /// (`BlockedKernelTests.randomRows`, the suites' one random-block encoder).
    func randomRows(_ type: GGMLType, rows: Int, cols: Int, seed: UInt64) -> (bytes: [UInt8], values: [Float]) {
        BlockedKernelTests().randomRows(type, rows: rows, cols: cols, seed: seed)
    }

    /// Columns of 1, 3 and 9 blocks of 32, or 1, 2 and 3 super-blocks of 256 (IQ4_XS).
    func widths(_ type: GGMLType) -> [Int] { type == .iq4_xs ? [256, 512, 768] : [32, 96, 288] }

    @Test(arguments: types)
    func repackedMatchesPlainSums(_ type: GGMLType) throws {
        for cols in widths(type) {
            for rows in [8, 24, 136] {
                let (bytes, w) = randomRows(type, rows: rows, cols: cols, seed: UInt64(41 + rows + cols))
                try bytes.withUnsafeBytes { raw in
                    let plain = MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!)
                    let m = try #require(plain.rowInterleaved(parallel: ParallelFor(workers: 3)))
                    #expect(m.layout == .rowInterleaved8)
                    for tokens in 1...interleavedMaxTokens {
                        let x = k.values(tokens * cols, seed: UInt64(50 + tokens))
                        let expected = r8.plainSums(w, k.referenceQuantized(x), rows: rows, cols: cols, tokens: tokens)
                        let bound = Float(1e-5) * max(1, Float(cols) / 64) * max(1, expected.map { abs($0) }.max() ?? 1)
                        for kernels in KernelSet.runnable {
                            for parallel in [ParallelFor.serial, ParallelFor(workers: 3)] {
                                let out = r8.product(m, x, tokens: tokens, parallel: parallel, kernels: kernels)
                                #expect(maxAbsDifference(out, expected) < bound,
                                        "\(type.name) \(rows)×\(cols), \(tokens) tokens, \(kernels.name)")
                            }
                        }
                    }
                }
            }
        }
    }

    /// The prompt GEMM (`gemm`: past `interleavedRunsMaxTokens` tokens) reads the layout (plain rows copied back out of it): the same
    /// results as on the plain matrix, bit for bit.
    @Test(arguments: types)
    func promptProductsEqualThePlainMatrixs(_ type: GGMLType) throws {
        let cols = type == .iq4_xs ? 512 : 320, rows = 136
        let (bytes, _) = randomRows(type, rows: rows, cols: cols, seed: 77)
        try bytes.withUnsafeBytes { raw in
            let plain = MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!)
            let m = try #require(plain.rowInterleaved())
            for tokens in [9, 13, 40] {
                let x = k.values(tokens * cols, seed: UInt64(90 + tokens))
                let parallel = ParallelFor(workers: 3)
                let a = r8.gemmProduct(m, x, tokens: tokens, parallel: parallel)
                let b = r8.gemmProduct(plain, x, tokens: tokens, parallel: parallel)
                #expect(a == b, "\(type.name) \(tokens) tokens")
                #expect(!a.contains { $0.isNaN })
            }
        }
    }

    @Test(arguments: types)
    func batchedTokensEqualEachTokenAlone(_ type: GGMLType) throws {
        let cols = type == .iq4_xs ? 1024 : 320, rows = 200
        let (bytes, _) = randomRows(type, rows: rows, cols: cols, seed: 21)
        try bytes.withUnsafeBytes { raw in
            let m = try #require(MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!).rowInterleaved())
            r8.expectBatchedEqualsAlone(m, columns: cols, label: "\(type.name)")
        }
    }

    /// Matrices of these types (and Q4_0) sharing one input in one call: each output bit for
    /// bit what its matrix gives alone.
    @Test func sharedInputProductsEqualEachAlone() throws {
        let cols = 512
        let shapes: [(GGMLType, Int)] = [(.iq4_xs, 136), (.q5_0, 24), (.q4_1, 8), (.iq4_nl, 16), (.q5_1, 40), (.q4_0, 8)]
        var keep: [MatrixView] = []
        for (i, (type, rows)) in shapes.enumerated() {
            let (bytes, _) = randomRows(type, rows: rows, cols: cols, seed: UInt64(60 + i))
            let repacked = bytes.withUnsafeBytes { MatrixView(type: type, rows: rows, columns: cols, base: $0.baseAddress!).rowInterleaved() }
            keep.append(try #require(repacked))
        }
        r8.expectSharedInputEqualsAlone(keep, columns: cols)
    }

    /// Row lookups read the plain blocks back out of the layout: the same floats.
    @Test(arguments: types)
    func rowsReadBackFromTheLayout(_ type: GGMLType) throws {
        let rows = 24, cols = type == .iq4_xs ? 768 : 320
        let (bytes, w) = randomRows(type, rows: rows, cols: cols, seed: 7)
        try bytes.withUnsafeBytes { raw in
            let m = try #require(MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!).rowInterleaved())
            var row = [Float](repeating: .nan, count: cols)
            for r in 0..<rows {
                row.withUnsafeMutableBufferPointer { m.dequantize(row: r, into: $0.baseAddress!) }
                #expect(row == Array(w[(r * cols)..<((r + 1) * cols)]), "\(type.name) row \(r)")
            }
        }
    }

    /// The fixture models' matrices, quantized by llama.cpp: the row-interleaved kernels of
    /// every set against plain sums of the dequantized weights × the quantized activations.
    @Test(arguments: ["iq4_nl", "iq4_xs"])
    func fixtureMatricesMatchPlainSums(_ name: String) throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/ktypes/model-\(name).gguf").path
        let c = try CheckpointLoader.load(path: path)
        for tensor in [TensorName.wq(0), TensorName.w2(1), TensorName.w1(0)] {
            let t = try c.tensor(tensor)
            #expect(t.type.name == name.uppercased())
            let rows = t.shape[0], cols = t.shape[1]
            let base = try #require(t.data.baseAddress)
            var w = [Float](repeating: 0, count: rows * cols)
            w.withUnsafeMutableBufferPointer { o in
                for r in 0..<rows { dequantizeRow(t.type, base + r * t.type.rowBytes(columns: cols), o.baseAddress! + r * cols, count: cols) }
            }
            let m = try #require(MatrixView(type: t.type, rows: rows, columns: cols, base: base).rowInterleaved())
            for tokens in [1, 3, 8] {
                let x = k.values(tokens * cols, seed: UInt64(tokens))
                let expected = r8.plainSums(w, k.referenceQuantized(x), rows: rows, cols: cols, tokens: tokens)
                let bound = Float(1e-5) * max(1, Float(cols) / 64) * max(1, expected.map { abs($0) }.max() ?? 1)
                for kernels in KernelSet.runnable {
                    let out = r8.product(m, x, tokens: tokens, parallel: ParallelFor(workers: 2), kernels: kernels)
                    #expect(maxAbsDifference(out, expected) < bound, "\(name) \(tensor) \(tokens) tokens, \(kernels.name)")
                }
            }
        }
    }

    /// The IQ4 fixture models through the generation kernels only: every token of the short
    /// prompt fed one at a time (the 1-token kernel) and 8 at a time (the 8-token one), the
    /// last logits within 0.05 × max(1, max |reference|) of the float64 reference, with the
    /// matrices row-interleaved for the selected set (unless LLAMA_REPACK=0 or generic).
    @Test(arguments: ["iq4_nl", "iq4_xs"])
    func fixtureModelsGenerateNearTheReference(_ name: String) throws {
        let fixtures = KTypesModelTests()
        let ref = try fixtures.reference(name)
        let model = try LlamaModel(checkpoint: try fixtures.checkpoint(name))
        if repackEnabled && KernelSet.selected.name != "generic" {
            #expect(model.weightLayoutSummary.contains("(\(name.uppercased()))"), "\(model.weightLayoutSummary)")
        }
        let tolerance = quantizedActivationTolerance * max(1, ref.last.map { abs($0) }.max() ?? 1)
        for batch in [1, 8] {
            let logits = try #require(try model.logits(of: ref.ids, at: [ref.ids.count - 1], maxBatch: batch).first)
            let err = maxAbsDifference(logits, ref.last)
            print("\(name), \(ref.ids.count) ids \(batch) at a time: max abs error \(err) (bar \(tolerance))")
            #expect(err <= tolerance, "\(name), \(batch) tokens per step")
        }
    }
}
