import Foundation
import Testing
import Llama

/// Row-interleaved weights (Kernels/Repack.swift, CKernels.h "R8"): the kernels of every set
/// this CPU runs against plain sums of the dequantized weights, on shapes that cross block,
/// row-group, chunk and vector boundaries; a token's results bit for bit the same alone and in
/// a batch; row lookups and the prompt GEMMs reading the layout.
@Suite struct RepackKernelTests {
    let k = KernelTests()

    /// `w · xs` per token and row in Double: the reference for a `rows × cols` matrix.
    func plainSums(_ w: [Float], _ xs: [Float], rows: Int, cols: Int, tokens: Int) -> [Float] {
        k.plainSums(w, xs, rows: rows, cols: cols, tokens: tokens)
    }

    /// Token counts past one call of 8 that `matmul` still runs as runs of 8 (a short prompt).
    let runTokenCounts = [interleavedMaxTokens + 1, 20]

    /// Under every runnable set, 2…8 tokens through a row-interleaved `m` at once give bit for
    /// bit what each token gives alone (the R8 kernels' contract, for every type's tests), and
    /// so do 9 and 20 (`matmul`'s runs of 8, below `interleavedRunsMaxTokens`).
    func expectBatchedEqualsAlone(_ m: MatrixView, columns cols: Int, label: String) {
        #expect(interleavedRunsMaxTokens >= runTokenCounts.max()!, "LLAMA_R8_RUNS_MAX_TOKENS set below 20 for the tests")
        for kernels in KernelSet.runnable {
            for tokens in Array(2...interleavedMaxTokens) + runTokenCounts {
                let x = k.values(tokens * cols, seed: UInt64(30 + tokens))
                let parallel = ParallelFor(workers: 3)
                let batched = product(m, x, tokens: tokens, parallel: parallel, kernels: kernels)
                var alone: [Float] = []
                for t in 0..<tokens {
                    alone += product(m, Array(x[(t * cols)..<((t + 1) * cols)]), tokens: 1, parallel: parallel, kernels: kernels)
                }
                #expect(batched == alone, "\(label): \(tokens) tokens, \(kernels.name)")
                #expect(!batched.contains { $0.isNaN })
            }
        }
    }

    /// Under every runnable set, 1…8 tokens (and 9, 20: runs of 8) through row-interleaved
    /// matrices of the same width in one shared-input call (a layer's wq, wk, wv; gate and up):
    /// each output bit for bit what its matrix gives alone.
    func expectSharedInputEqualsAlone(_ keep: [MatrixView], columns cols: Int) {
        for kernels in KernelSet.runnable {
            for tokens in Array(1...interleavedMaxTokens) + runTokenCounts {
                let x = k.values(tokens * cols, seed: UInt64(70 + tokens))
                let parallel = ParallelFor(workers: 3)
                let alone = keep.map { product($0, x, tokens: tokens, parallel: parallel, kernels: kernels) }
                let buffers = keep.map { UnsafeMutablePointer<Float>.allocate(capacity: tokens * $0.rows) }
                defer { for b in buffers { b.deallocate() } }
                x.withUnsafeBufferPointer { xp in
                    matmul(Array(zip(keep, buffers)).map { (w: $0.0, out: $0.1) }, xp.baseAddress!, tokens: tokens,
                           parallel: parallel, kernels: kernels)
                }
                for i in keep.indices {
                    #expect(Array(UnsafeBufferPointer(start: buffers[i], count: tokens * keep[i].rows)) == alone[i],
                            "\(keep[i].type.name) matrix \(i), \(tokens) tokens, \(kernels.name)")
                }
            }
        }
    }

    /// `gemm` alone (the prompt GEMM, whatever `matmul` would pick for this many tokens).
    func gemmProduct(_ m: MatrixView, _ x: [Float], tokens: Int, parallel: ParallelFor) -> [Float] {
        var out = [Float](repeating: .nan, count: tokens * m.rows)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { o in gemm(m, xp.baseAddress!, tokens: tokens, o.baseAddress!, parallel: parallel) }
        }
        return out
    }

    func product(_ m: MatrixView, _ x: [Float], tokens: Int, parallel: ParallelFor, kernels: KernelSet) -> [Float] {
        var out = [Float](repeating: .nan, count: tokens * m.rows)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { o in
                matmul(m, xp.baseAddress!, tokens: tokens, o.baseAddress!, parallel: parallel, kernels: kernels)
            }
        }
        return out
    }

    /// 8192 columns: the avx512 set's two-block kernels run 8 tokens as two passes of 4 (their
    /// interleaved activations fit 32768 bytes a call).
    @Test(arguments: [(GGMLType.q4_0, 8, 32), (.q4_0, 136, 352), (.q4_0, 72, 2048), (.q4_0, 16, 8192), (.q8_0, 8, 64),
                      (.q8_0, 136, 352), (.q8_0, 16, 2048), (.q8_0, 24, 8192)])
    func repackedMatchesPlainSums(_ type: GGMLType, _ rows: Int, _ cols: Int) throws {
        let (bytes, w) = k.encoded(type, rows: rows, cols: cols, seed: 41)
        try bytes.withUnsafeBytes { raw in
            let plain = MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!)
            let m = try #require(plain.rowInterleaved(parallel: ParallelFor(workers: 3)))
            #expect(m.layout == .rowInterleaved8)
            for tokens in [1, 2, 3, 5, 8, 9, 13] {
                let x = k.values(tokens * cols, seed: UInt64(50 + tokens))
                for kernels in KernelSet.runnable {
                    // Up to 64 tokens the interleaved kernel (runs of 8), beyond them the GEMMs (the set's
                    // int8 GEMM, else fp32 from rows read back out of the layout).
                    let quantized = tokens <= interleavedRunsMaxTokens || kernels.takesInt8GEMM(type)
                    let expected = plainSums(w, quantized ? k.referenceQuantized(x) : x, rows: rows, cols: cols, tokens: tokens)
                    for parallel in [ParallelFor.serial, ParallelFor(workers: 3)] {
                        let out = product(m, x, tokens: tokens, parallel: parallel, kernels: kernels)
                        #expect(maxAbsDifference(out, expected) < 1e-5 * max(1, Float(cols) / 64),
                                "\(type.name) \(rows)×\(cols), \(tokens) tokens, \(kernels.name)")
                    }
                }
            }
        }
    }

    /// The decode step of parallel sequences: each token's logits are those it gets alone, bit
    /// for bit, under every set (the kernel sums each token's blocks in the same order for 1…8
    /// tokens), so greedy generation is the same for one client and for four. Q4_0 rows of
    /// 33792 columns (1056 blocks) take the 256-bit kernel's other offset path at 8 tokens (the
    /// per-call table holds 8192 block-tokens): the same integers, so the same floats; in the
    /// avx512 set they (and Q8_0's) take the 256-bit kernels, past its two-block kernels'
    /// 32768 columns. Rows of 8192 columns run there as passes of at most 4 tokens, and odd
    /// block counts (3, 11, 257) end in a one-block step.
    @Test(arguments: [(GGMLType.q4_0, 200, 2048), (.q4_0, 24, 96), (.q4_0, 8, 33792), (.q4_0, 16, 8192), (.q4_0, 24, 8224),
                      (.q8_0, 200, 1024), (.q8_0, 24, 96), (.q8_0, 16, 8192), (.q8_0, 8, 8224), (.q8_0, 8, 33792),
                      (.q8_0, 24, 352)])
    func batchedTokensEqualEachTokenAlone(_ type: GGMLType, _ rows: Int, _ cols: Int) throws {
        let (bytes, _) = k.encoded(type, rows: rows, cols: cols, seed: 21)
        try bytes.withUnsafeBytes { raw in
            let m = try #require(MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!).rowInterleaved())
            expectBatchedEqualsAlone(m, columns: cols, label: "\(type.name) \(rows)×\(cols)")
        }
    }

    /// Every SIMD set adds a row's blocks in the same order with the same d·xd, whatever its
    /// vector width (the avx512 set's two-block 512-bit kernels for 2+ tokens, the 256-bit
    /// ones for one token and in the other sets): the same bits from every set, every token
    /// count, odd block counts and the passes of long rows included.
    @Test(arguments: [(GGMLType.q4_0, 24, 2048), (.q4_0, 16, 8224), (.q4_0, 8, 96), (.q8_0, 24, 1056), (.q8_0, 16, 8192),
                      (.q8_0, 8, 352)])
    func everySIMDSetGivesTheSameBits(_ type: GGMLType, _ rows: Int, _ cols: Int) throws {
        let (bytes, _) = k.encoded(type, rows: rows, cols: cols, seed: 41)
        try bytes.withUnsafeBytes { raw in
            let m = try #require(MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!).rowInterleaved())
            let sets = KernelSet.runnable.filter { $0.name != "generic" }
            for tokens in [1, 2, 3, 5, 8] {
                let x = k.values(tokens * cols, seed: UInt64(90 + tokens))
                let outs = sets.map { product(m, x, tokens: tokens, parallel: .serial, kernels: $0) }
                for (set, out) in zip(sets, outs).dropFirst() {
                    #expect(out == outs[0], "\(type.name) \(rows)×\(cols), \(tokens) tokens: \(set.name) against \(sets[0].name)")
                }
            }
        }
    }

    /// Matrices that share their input (a layer's wq, wk, wv; gate and up) in one call: each
    /// output bit for bit what its matrix gives alone, for Q4_0 and Q8_0 mixed, 1…8 tokens.
    @Test func sharedInputProductsEqualEachAlone() throws {
        let cols = 320
        let shapes: [(GGMLType, Int)] = [(.q4_0, 136), (.q8_0, 24), (.q4_0, 8)]
        let encoded = shapes.enumerated().map { i, s in k.encoded(s.0, rows: s.1, cols: cols, seed: UInt64(60 + i)).0 }
        var keep: [MatrixView] = []
        for ((type, rows), bytes) in zip(shapes, encoded) {
            // The repacked copy has memory of its own.
            let repacked = bytes.withUnsafeBytes { MatrixView(type: type, rows: rows, columns: cols, base: $0.baseAddress!).rowInterleaved() }
            keep.append(try #require(repacked))
        }
        expectSharedInputEqualsAlone(keep, columns: cols)
    }

    /// Embedding lookups and tied outputs read rows out of the layout: the same floats as the
    /// plain rows, whole and by block ranges (the fp32 GEMM's packing).
    @Test(arguments: [GGMLType.q4_0, .q8_0])
    func rowsReadBackFromTheLayout(_ type: GGMLType) throws {
        let rows = 24, cols = 320
        let (bytes, w) = k.encoded(type, rows: rows, cols: cols, seed: 7)
        try bytes.withUnsafeBytes { raw in
            let m = try #require(MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!).rowInterleaved())
            var row = [Float](repeating: .nan, count: cols)
            for r in 0..<rows {
                row.withUnsafeMutableBufferPointer { m.dequantize(row: r, into: $0.baseAddress!) }
                #expect(row == Array(w[(r * cols)..<((r + 1) * cols)]), "row \(r)")
            }
        }
    }

    /// Shapes without groups of 8 rows, and types without the layout, stay plain.
    @Test func otherShapesAndTypesStayPlain() {
        let (q4, _) = k.encoded(.q4_0, rows: 29, cols: 64, seed: 3)
        // F16 with an odd width (no column pairs; F16 / BF16 shapes: HalfRepackTests).
        let (f16, _) = k.encoded(.f16, rows: 16, cols: 63, seed: 3)
        q4.withUnsafeBytes { raw in
            let m = MatrixView(type: .q4_0, rows: 29, columns: 64, base: raw.baseAddress!)
            #expect(m.rowInterleaved() == nil)
            #expect(repackForMatvec(m, releasingSource: false).layout == .plain)
        }
        f16.withUnsafeBytes { raw in
            let m = MatrixView(type: .f16, rows: 16, columns: 63, base: raw.baseAddress!)
            #expect(m.rowInterleaved() == nil)
            #expect(repackForMatvec(m, releasingSource: false).layout == .plain)
        }
    }

    /// The model's loader repacks Q4_0/Q8_0 matrices for the selected set unless LLAMA_REPACK=0
    /// or the set is the generic one.
    @Test func loaderRepacksForTheSelectedSet() {
        let (bytes, _) = k.encoded(.q4_0, rows: 16, cols: 64, seed: 3)
        bytes.withUnsafeBytes { raw in
            let m = MatrixView(type: .q4_0, rows: 16, columns: 64, base: raw.baseAddress!)
            let expected: WeightLayout = repackEnabled && KernelSet.selected.name != "generic" ? .rowInterleaved8 : .plain
            #expect(repackForMatvec(m, releasingSource: false).layout == expected)
            #expect(repacks(m) == (expected == .rowInterleaved8))
        }
    }
}
