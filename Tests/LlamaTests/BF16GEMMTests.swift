import Foundation
import Testing
import Llama

/// The BF16-product prompt GEMM (CKernels/GEMMBF16.c) against plain sums of the same
/// bfloat16-rounded operands, at every width this CPU runs, on sizes that cross the tile
/// (32 rows), vector (8/16 rows), column-pair (odd columns), column-block (1024 pairs) and
/// token-group (6/12 tokens) boundaries.
@Suite struct BF16GEMMTests {
    /// Random F16 or BF16 rows with values in [-1, 1), and their fp32 values.
    func randomRows(_ type: GGMLType, rows: Int, cols: Int, seed: UInt64) -> (bytes: [UInt8], values: [Float]) {
        var rng = Xoshiro256(seed: seed)
        var bytes = [UInt8](repeating: 0, count: rows * cols * 2)
        var values = [Float](repeating: 0, count: rows * cols)
        for i in 0..<(rows * cols) {
            let v = Float(rng.nextUnit() * 2 - 1)
            let bits = type == .f16 ? floatToHalf(v) : floatToBFloat16(v)
            bytes[2 * i] = UInt8(bits & 0xFF)
            bytes[2 * i + 1] = UInt8(bits >> 8)
            values[i] = type == .f16 ? halfToFloat(bits) : bfloat16ToFloat(bits)
        }
        return (bytes, values)
    }

    func bf16(_ v: [Float]) -> [Float] { v.map { bfloat16ToFloat(floatToBFloat16($0)) } }

    /// Σ w·x in double over bfloat16-rounded operands, and Σ |w·x| (the scale of fp32
    /// rounding error of the kernel's sums).
    func reference(_ w: [Float], _ x: [Float], rows: Int, cols: Int, tokens: Int) -> (sums: [Float], magnitudes: [Float]) {
        let wb = bf16(w), xb = bf16(x)
        var sums = [Float](repeating: 0, count: tokens * rows), mags = sums
        for t in 0..<tokens {
            for r in 0..<rows {
                var s: Double = 0, m: Double = 0
                for c in 0..<cols {
                    let p = Double(wb[r * cols + c]) * Double(xb[t * cols + c])
                    s += p
                    m += abs(p)
                }
                sums[t * rows + r] = Float(s)
                mags[t * rows + r] = Float(m)
            }
        }
        return (sums, mags)
    }

    func run(_ type: GGMLType, _ bytes: [UInt8], rows: Int, cols: Int, _ x: [Float], tokens: Int,
             parallel: ParallelFor, width: BF16GEMMWidth) -> [Float] {
        var out = [Float](repeating: .nan, count: tokens * rows)
        bytes.withUnsafeBytes { raw in
            let m = MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!)
            out.withUnsafeMutableBufferPointer { o in
                #expect(gemmBF16(m, x, tokens: tokens, o.baseAddress!, parallel: parallel, width: width))
            }
        }
        return out
    }

    @Test(arguments: [GGMLType.f16, .bf16])
    func matchesPlainSums(_ type: GGMLType) {
        // rows: one partial tile, 2 tiles + 11 rows; cols: odd, not a multiple of 32, and
        // past one block of 1024 pairs; tokens 5…37 cross the 6- and 12-token groups.
        for (rows, cols, tokens) in [(7, 33, 5), (75, 77, 13), (43, 2101, 37), (64, 96, 24)] {
            let (bytes, w) = randomRows(type, rows: rows, cols: cols, seed: UInt64(rows * cols))
            let x = KernelTests().values(tokens * cols, seed: UInt64(tokens))
            let (expected, magnitudes) = reference(w, x, rows: rows, cols: cols, tokens: tokens)
            for width in BF16GEMMWidth.runnable {
                for parallel in [ParallelFor.serial, ParallelFor(workers: 3)] {
                    let out = run(type, bytes, rows: rows, cols: cols, x, tokens: tokens, parallel: parallel, width: width)
                    var worst: Float = 0
                    for i in out.indices {
                        // fp32 sums of exact products: within a few ulps of Σ|w·x|.
                        worst = max(worst, abs(out[i] - expected[i]) / max(magnitudes[i], 1e-30))
                    }
                    #expect(worst <= 1e-5, "\(type) \(rows)×\(cols)×\(tokens) \(width) workers \(parallel.workers): relative error \(worst)")
                }
            }
        }
    }

    /// Every width computes the same bits (each lane's products are summed in the same order
    /// of pairs; only the vector width differs), and `gemm` takes the selected width for
    /// F16/BF16 where there is one.
    @Test(arguments: [GGMLType.f16, .bf16])
    func widthsAgreeAndGemmDispatches(_ type: GGMLType) {
        let rows = 70, cols = 130, tokens = 29
        let (bytes, _) = randomRows(type, rows: rows, cols: cols, seed: 9)
        let x = KernelTests().values(tokens * cols, seed: 10)
        let widths = BF16GEMMWidth.runnable.filter { $0 != .plain }
        let outs = widths.map { run(type, bytes, rows: rows, cols: cols, x, tokens: tokens, parallel: .serial, width: $0) }
        for o in outs.dropFirst() { #expect(o == outs[0]) }
        guard let width = bf16GEMMWidth, takesBF16Products(nil) else { return }
        var viaGemm = [Float](repeating: .nan, count: tokens * rows)
        bytes.withUnsafeBytes { raw in
            let m = MatrixView(type: type, rows: rows, columns: cols, base: raw.baseAddress!)
            viaGemm.withUnsafeMutableBufferPointer { o in gemm(m, x, tokens: tokens, o.baseAddress!, parallel: ParallelFor(workers: 2)) }
        }
        #expect(viaGemm == run(type, bytes, rows: rows, cols: cols, x, tokens: tokens, parallel: .serial, width: width))
    }

    /// The path follows the CPU and the kernel set: AVX512_BF16 with an AVX-512 set selected
    /// (forced sets included), none under LLAMA_KERNELS=avx2|generic or LLAMA_BF16_PRODUCTS=0;
    /// the products that take it are `bf16ProductRoles` (every one, roles or not, under
    /// LLAMA_BF16_PRODUCTS=1).
    @Test func selection() {
        let avx512Set = KernelSet.selected.name.hasPrefix("avx512")
        let env = ProcessInfo.processInfo.environment["LLAMA_BF16_PRODUCTS"]
        let available = env != "0" && cpuHasAVX512BF16 && avx512Set
        #expect((bf16GEMMWidth != nil) == available)
        #expect(takesBF16Products(nil) == (available && env == "1"))
        for role in ProductRole.allCases {
            let listed = env == nil ? defaultBF16ProductRoles.contains(role)
                : env == "1" || env!.split(separator: ",").contains(Substring(role.rawValue))
            #expect(takesBF16Products(role) == (available && listed), "\(role)")
        }
        #expect(BF16GEMMWidth.runnable.contains(.plain))
        #expect(BF16GEMMWidth.runnable.count == (cpuHasAVX512BF16 ? 3 : 1))
    }

    /// Other types and layouts are refused without writing.
    @Test func refusesOtherTypes() {
        let w = [Float](repeating: 1, count: 64)
        var out = [Float](repeating: 7, count: 2)
        w.withUnsafeBytes { raw in
            let m = MatrixView(type: .f32, rows: 2, columns: 32, base: raw.baseAddress!)
            out.withUnsafeMutableBufferPointer { o in
                #expect(!gemmBF16(m, w, tokens: 1, o.baseAddress!, parallel: .serial, width: .plain))
            }
        }
        #expect(out == [7, 7])
    }

    /// Model level, through `llama generate` with LLAMA_BF16_PRODUCTS=1 (the path is opt-in,
    /// and read once per process): the F16/BF16 fixtures' logits against HF's fp32 ones.
    /// bfloat16 activations (8 significant bits) move them by 2e-3 to 6.3e-3 here (measured
    /// on an AMD EPYC Zen 4), so the bar is 1e-2, not the 1e-4 of fp32 products; where the
    /// path runs (the long input: `gemm`) the error must also exceed 1e-4, or the products
    /// were not bfloat16 ones.
    @Test(arguments: [("fixtures/dev-odd", "model-f16.gguf"), ("fixtures/dev-odd", "model-bf16.gguf"), ("fixtures/dev-llama3", "hf")])
    func modelLogitsWithBF16Products(_ fixture: String, _ file: String) throws {
        let tolerance: Float = 1e-2
        let ref = try ModelReference.load(fixture)
        let model = try Fixtures.shared(fixture + "/" + file)
        let logitsPath = NSTemporaryDirectory() + "logits-bf16-\(getpid())-\(file).json"
        defer { unlink(logitsPath) }
        let runs = cpuHasAVX512BF16 && KernelSet.selected.name.hasPrefix("avx512")
        let cli = GenerateCommandTests()
        for (ids, logits, next) in [(ref.ids, ref.lastLogits, ref.greedyNext), (ref.longIDs, ref.longLastLogits, ref.longGreedyNext)] {
            let r = try cli.run(["generate", "--model", model, "--ids", ids.map(String.init).joined(separator: " "),
                                 "--temperature", "0", "--print-ids", "--max-tokens", "\(next.count)", "--logits-out", logitsPath],
                                environment: ["LLAMA_BF16_PRODUCTS": "1"])
            #expect(r.status == 0, "\(r.err)")
            let got = try cli.readLogits(logitsPath)
            try #require(got.count == logits.count)
            let err = maxAbsDifference(got, logits)
            print("\(fixture)/\(file) with BF16 products, \(ids.count) ids: max abs error \(err)")
            #expect(err <= tolerance)
            // Up to `interleavedRunsMaxTokens` ids a row-interleaved model reads the prompt with
            // the few-token kernels (fp32 products), not `gemm`.
            if runs && ids.count > interleavedRunsMaxTokens { #expect(err > 1e-4) }
            let outIDs = r.out.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            expectGreedy(outIDs, next, referenceLogits: logits, exact: false, tolerance: tolerance)
        }
    }
}
