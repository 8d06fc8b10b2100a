import Foundation
import Testing
import Llama

/// The row-interleaved layout of F16 and BF16 weights (CKernels/include/RepackHalf.h,
/// kernels_r8_half.h): the generation kernels of every set this CPU runs against plain Double
/// sums of the weights × the fp32 activations, on shapes that cross the column-pair step (cols
/// ≡ 2 mod 4), row-group, chunk (64 rows) and token-group (2 or 4 tokens per pass) boundaries,
/// an odd number of groups (the 512-bit kernel takes two groups at a time);
/// a token's results bit for bit the same alone, batched and in a shared-input call; rows read
/// back out of the layout; the prompt GEMMs (fp32 and BF16 products) reading it as they read
/// plain rows.
@Suite struct HalfRepackTests {
    let k = KernelTests()
    let r8 = RepackKernelTests()
    static let types: [GGMLType] = [.f16, .bf16]

    func interleaved(_ type: GGMLType, _ bytes: [UInt8], rows: Int, cols: Int) throws -> MatrixView {
        let m = try bytes.withUnsafeBytes { raw in
            try #require(MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!).rowInterleaved(parallel: ParallelFor(workers: 3)))
        }
        #expect(m.layout == .rowInterleaved8)
        return m
    }

    @Test(arguments: types)
    func repackedMatchesPlainSums(_ type: GGMLType) throws {
        for (rows, cols) in [(8, 2), (24, 34), (136, 352), (72, 2048)] {
            let (bytes, w) = k.encoded(type, rows: rows, cols: cols, seed: UInt64(41 + rows + cols))
            let m = try interleaved(type, bytes, rows: rows, cols: cols)
            // The sets have a kernel for the layout (the generic one is never given it).
            for kernels in KernelSet.runnable where kernels.name != "generic" {
                #expect(repacks(MatrixView(type: type, rows: rows, columns: cols, base: m.base), kernels: kernels))
            }
            for tokens in [1, 2, 3, 4, 5, 8] {
                let x = k.values(tokens * cols, seed: UInt64(50 + tokens))
                let expected = r8.plainSums(w, x, rows: rows, cols: cols, tokens: tokens)
                for kernels in KernelSet.runnable {
                    for parallel in [ParallelFor.serial, ParallelFor(workers: 3)] {
                        let out = r8.product(m, x, tokens: tokens, parallel: parallel, kernels: kernels)
                        #expect(maxAbsDifference(out, expected) < 1e-5 * max(1, Float(cols) / 64),
                                "\(type.name) \(rows)×\(cols), \(tokens) tokens, \(kernels.name)")
                    }
                }
            }
        }
    }

    /// The decode step of parallel sequences: each token's results are those it gets alone.
    @Test(arguments: types)
    func batchedTokensEqualEachTokenAlone(_ type: GGMLType) throws {
        for (rows, cols) in [(200, 2048), (24, 98)] {
            let (bytes, _) = k.encoded(type, rows: rows, cols: cols, seed: 21)
            let m = try interleaved(type, bytes, rows: rows, cols: cols)
            r8.expectBatchedEqualsAlone(m, columns: cols, label: "\(type.name) \(rows)×\(cols)")
        }
    }

    /// The SIMD sets sum each row in the same order, whatever the vector width (the `avx512`
    /// set's 512-bit kernel for 2+ tokens, the others' 256-bit ones): the same bits from every set, for every token count.
    @Test(arguments: types)
    func everySIMDSetGivesTheSameBits(_ type: GGMLType) throws {
        for (rows, cols) in [(200, 2048), (24, 98), (40, 100)] {
            let (bytes, _) = k.encoded(type, rows: rows, cols: cols, seed: 33)
            let m = try interleaved(type, bytes, rows: rows, cols: cols)
            let sets = KernelSet.runnable.filter { $0.name != "generic" }
            for tokens in [1, 2, 3, 5, 8] {
                let x = k.values(tokens * cols, seed: UInt64(70 + tokens))
                let outs = sets.map { r8.product(m, x, tokens: tokens, parallel: .serial, kernels: $0) }
                for (set, out) in zip(sets, outs).dropFirst() {
                    #expect(out == outs[0], "\(type.name) \(rows)×\(cols), \(tokens) tokens: \(set.name) against \(sets[0].name)")
                }
            }
        }
    }

    /// A layer's products that share their input, F16, BF16 and Q4_0 mixed in one call (a
    /// mixed file): each output what its matrix gives alone.
    @Test func sharedInputProductsEqualEachAlone() throws {
        let cols = 320
        let shapes: [(GGMLType, Int)] = [(.f16, 136), (.bf16, 24), (.q4_0, 8), (.f16, 8)]
        var keep: [MatrixView] = []
        for (i, (type, rows)) in shapes.enumerated() {
            let (bytes, _) = k.encoded(type, rows: rows, cols: cols, seed: UInt64(60 + i))
            keep.append(try interleaved(type, bytes, rows: rows, cols: cols))
        }
        r8.expectSharedInputEqualsAlone(keep, columns: cols)
        r8.expectSharedInputEqualsAlone(Array(keep.prefix(2)), columns: cols)
    }

    /// Embedding lookups, tied outputs and the fp32 GEMM's packing read rows out of the layout:
    /// the same floats as the plain rows, whole and by column ranges (odd ones included).
    @Test(arguments: types)
    func rowsReadBackFromTheLayout(_ type: GGMLType) throws {
        let rows = 24, cols = 610
        let (bytes, w) = k.encoded(type, rows: rows, cols: cols, seed: 7)
        let m = try interleaved(type, bytes, rows: rows, cols: cols)
        var row = [Float](repeating: .nan, count: cols)
        for r in 0..<rows {
            row.withUnsafeMutableBufferPointer { m.dequantize(row: r, into: $0.baseAddress!) }
            #expect(row == Array(w[(r * cols)..<((r + 1) * cols)]), "row \(r)")
        }
    }

    /// Prompts (more tokens than the matrix-vector path takes) over the layout: the fp32 GEMM
    /// gives the plain Double sums, and the BF16 GEMM gives bit for bit what it gives over the
    /// plain rows, at every width this CPU runs.
    @Test(arguments: types)
    func promptGEMMsReadTheLayout(_ type: GGMLType) throws {
        for (rows, cols, tokens) in [(40, 66, 13), (136, 352, 9)] {
            let (bytes, w) = k.encoded(type, rows: rows, cols: cols, seed: UInt64(rows))
            let m = try interleaved(type, bytes, rows: rows, cols: cols)
            let x = k.values(tokens * cols, seed: 5)
            let expected = r8.plainSums(w, x, rows: rows, cols: cols, tokens: tokens)
            var out = [Float](repeating: .nan, count: tokens * rows)
            x.withUnsafeBufferPointer { xp in
                out.withUnsafeMutableBufferPointer { gemm(m, xp.baseAddress!, tokens: tokens, $0.baseAddress!, parallel: ParallelFor(workers: 3)) }
            }
            // `gemm` takes BF16 products when LLAMA_BF16_PRODUCTS=1 is set for the run.
            let tolerance: Float = takesBF16Products(nil) ? 0.05 : 1e-5 * max(1, Float(cols) / 64)
            #expect(maxAbsDifference(out, expected) < tolerance, "\(type.name) \(rows)×\(cols), \(tokens) tokens, fp32 GEMM")
            for width in BF16GEMMWidth.runnable {
                var plainOut = [Float](repeating: .nan, count: tokens * rows), r8Out = plainOut
                bytes.withUnsafeBytes { raw in
                    let plain = MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!)
                    x.withUnsafeBufferPointer { xp in
                        plainOut.withUnsafeMutableBufferPointer {
                            #expect(gemmBF16(plain, xp.baseAddress!, tokens: tokens, $0.baseAddress!, parallel: .serial, width: width))
                        }
                        r8Out.withUnsafeMutableBufferPointer {
                            #expect(gemmBF16(m, xp.baseAddress!, tokens: tokens, $0.baseAddress!, parallel: ParallelFor(workers: 3), width: width))
                        }
                    }
                }
                #expect(r8Out == plainOut, "\(type.name) \(rows)×\(cols), \(tokens) tokens, BF16 GEMM \(width)")
                #expect(maxAbsDifference(r8Out, expected) < 0.05, "\(type.name) BF16 GEMM \(width) against the exact sums")
            }
        }
    }

    /// The fp32 GEMM's packer over the layout (`KernelSet.packPanels`): every set writes the
    /// weights' exact floats in panel order, zeros past the rows, for row ranges of 1…5
    /// groups (a part panel), column ranges at an offset and of odd pair counts.
    @Test(arguments: types)
    func panelsHoldTheWeights(_ type: GGMLType) throws {
        let rows = 48, cols = 70
        let (bytes, w) = k.encoded(type, rows: rows, cols: cols, seed: 77)
        let m = try interleaved(type, bytes, rows: rows, cols: cols)
        for (rowStart, rowCount, k0, kc) in [(0, 8, 0, 70), (8, 40, 4, 22), (16, 32, 68, 2), (0, 48, 0, 70)] {
            let panels = (rowCount + 31) / 32
            for kernels in KernelSet.runnable {
                var out = [Float](repeating: .nan, count: panels * 32 * kc)
                let packed = out.withUnsafeMutableBufferPointer {
                    kernels.packPanels(m, rowStart: rowStart, rowCount: rowCount, k0: k0, kc: kc, into: $0.baseAddress!)
                }
                #expect(packed, "\(kernels.name)")
                var wrong = 0
                for q in 0..<panels {
                    for kk in 0..<kc {
                        for j in 0..<32 {
                            let r = q * 32 + j
                            let expected = r < rowCount ? w[(rowStart + r) * cols + k0 + kk] : 0
                            if out[q * 32 * kc + kk * 32 + j].bitPattern != expected.bitPattern { wrong += 1 }
                        }
                    }
                }
                #expect(wrong == 0, "\(type.name) rows \(rowStart)+\(rowCount) cols \(k0)+\(kc), \(kernels.name)")
            }
        }
        // Not whole groups or pairs, or a plain matrix: nothing written.
        var out = [Float](repeating: .nan, count: 64 * cols)
        out.withUnsafeMutableBufferPointer { o in
            #expect(!KernelSet.selected.packPanels(m, rowStart: 4, rowCount: 8, k0: 0, kc: 2, into: o.baseAddress!))
            #expect(!KernelSet.selected.packPanels(m, rowStart: 0, rowCount: 8, k0: 1, kc: 2, into: o.baseAddress!))
            #expect(!KernelSet.selected.packPanels(m, rowStart: 0, rowCount: 56, k0: 0, kc: 2, into: o.baseAddress!))
            bytes.withUnsafeBytes { raw in
                let plain = MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!)
                #expect(!KernelSet.selected.packPanels(plain, rowStart: 0, rowCount: 8, k0: 0, kc: 2, into: o.baseAddress!))
            }
        }
        #expect(out.allSatisfy { $0.isNaN })
    }

    /// Odd widths and rows not in groups of 8 stay plain; the loader repacks F16 / BF16 for
    /// every SIMD set unless LLAMA_REPACK=0.
    @Test(arguments: types)
    func whichMatricesRepack(_ type: GGMLType) {
        for (rows, cols, expected) in [(16, 63, false), (12, 64, false), (16, 64, true)] {
            let (bytes, _) = k.encoded(type, rows: rows, cols: cols, seed: 3)
            bytes.withUnsafeBytes { raw in
                let m = MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!)
                #expect((m.rowInterleaved() != nil) == expected, "\(type.name) \(rows)×\(cols)")
                let loaded = expected && repackEnabled && KernelSet.selected.name != "generic"
                #expect(repackForMatvec(m, releasingSource: false).layout == (loaded ? .rowInterleaved8 : .plain))
            }
        }
    }
}
