import CKernels

/// One set of the C generation kernels (Sources/CKernels/kernels_*.c): the same dot
/// products compiled for one instruction-set level. The process uses `KernelSet.selected`,
/// chosen once from the CPU (CPUID) or from `LLAMA_KERNELS=generic|avx2|avx512-256|avx512`;
/// tests and benchmarks pass any set this CPU runs to `matmul(_:_:tokens:_:parallel:kernels:)`.
public struct KernelSet: @unchecked Sendable, CustomStringConvertible {
    public typealias Dot32 = @convention(c) (UnsafeRawPointer?, UnsafePointer<Int8>?, UnsafePointer<Float>?, Int32) -> Float
    public typealias Dot2 = @convention(c) (UnsafeRawPointer?, UnsafeRawPointer?, UnsafePointer<Int8>?, UnsafePointer<Float>?, Int32,
                                            UnsafeMutablePointer<Float>?) -> Void
    public typealias Dot256 = @convention(c) (UnsafeRawPointer?, UnsafePointer<Int8>?, UnsafePointer<Float>?, UnsafePointer<Int16>?, Int32) -> Float
    public typealias MatvecR8 = @convention(c) (UnsafeRawPointer?, Int32, Int32, UnsafePointer<Int8>?, UnsafePointer<Float>?,
                                                UnsafePointer<Int32>?, Int32, UnsafeMutablePointer<Float>?, Int) -> Void
    public typealias HalfMatvec = @convention(c) (UnsafeRawPointer?, Int, Int32, Int32, UnsafePointer<Float>?, Int, Int32,
                                                  UnsafeMutablePointer<Float>?, Int) -> Void
    public typealias HalfMatvecR8 = @convention(c) (UnsafeRawPointer?, Int32, Int32, UnsafePointer<Float>?, Int, Int32,
                                                    UnsafeMutablePointer<Float>?, Int) -> Void
    public typealias HalfR8Panels = @convention(c) (Int32, UnsafeRawPointer?, Int32, Int, Int32, Int32, Int32,
                                                    UnsafeMutablePointer<Float>?) -> Void

    /// "generic", "avx2", "avx512-256" or "avx512".
    public let name: String
    /// The instructions the set uses and how, for `llama --version`.
    public let summary: String
    /// True when the CPU has the set's instructions.
    public let runsHere: Bool
    /// True when two-row dots beat two one-row calls (512-bit sets on CPUs that run 512-bit
    /// vectors whole).
    let twoRows: Bool
    /// Dots of blocks of 32 (one row, two rows) per type, and of super-blocks of 256.
    let dot32: [GGMLType: (one: Dot32, two: Dot2)]
    let dot256: [GGMLType: Dot256]
    let matvecHalf: [GGMLType: HalfMatvec]
    /// Row-interleaved matrix-vector kernels (1…8 tokens against groups of 8 rows) per type.
    let matvecR8: [GGMLType: MatvecR8]
    /// Row-interleaved F16 / BF16 matrix-vector kernels (fp32 activations, any number of
    /// tokens) per type, where the set has them (CKernels/kernels_r8_half.h).
    let matvecHalfR8: [GGMLType: HalfMatvecR8]
    /// Columns of row-interleaved F16 / BF16 groups as the fp32 GEMM's panels of 32 rows
    /// (`swiftllama_half_r8_panels_fn`: exact conversions, the same floats in every set).
    let halfR8Panels: HalfR8Panels
    /// The int8 prompt GEMM of blocks of 32 (CKernels.h `swiftllama_gemm_int8`: AVX-512 VNNI,
    /// or AVX2 `vpmaddubsw` + `vpmaddwd`, the same sums), or nil (the generic set).
    let gemmInt8: swiftllama_gemm_int8_fn?
    /// Whether the set has the int8 GEMMs of the K-quants' super-blocks: sub-blocks of 16
    /// (Q2_K, Q3_K, Q6_K; AVX-512 and AVX2 sets) and of 32 with activations per 256 (Q4_K,
    /// Q5_K, IQ4_XS; AVX-512 sets); without them those types take `gemmInt8` per block of 16 or 32.
    public var hasInt8GEMMK16: Bool { gemmInt8K16 != nil }
    public var hasInt8GEMMK32: Bool { gemmInt8K32 != nil }
    let gemmInt8K16: swiftllama_gemm_int8_k16_fn?
    let gemmInt8K32: swiftllama_gemm_int8_k32_fn?
    /// The fp32 GEMM's micro-kernel in C for CPUs with 16 vector registers (the `avx2` set),
    /// or nil: Swift's `gemmTile` (the same sums in the same order).
    let gemmF32Tile: swiftllama_gemm_f32_tile_fn?
    let quantizeQ8: @convention(c) (UnsafePointer<Float>?, UnsafeMutablePointer<Int8>?, UnsafeMutablePointer<Float>?, Int32) -> Void
    let quantizeQ8K: @convention(c) (UnsafePointer<Float>?, UnsafeMutablePointer<Int8>?, UnsafeMutablePointer<Float>?,
                                     UnsafeMutablePointer<Int16>?, Int32) -> Void

    init?(_ table: UnsafePointer<swiftllama_kernel_set>) {
        let t = table.pointee
        guard let name = t.name, let summary = t.description,
              let q8 = t.dot_q8_0, let q4 = t.dot_q4_0, let q41 = t.dot_q4_1, let q50 = t.dot_q5_0, let q51 = t.dot_q5_1, let nl = t.dot_iq4_nl,
              let q8b = t.dot2_q8_0, let q4b = t.dot2_q4_0, let q41b = t.dot2_q4_1, let q50b = t.dot2_q5_0, let q51b = t.dot2_q5_1,
              let nlb = t.dot2_iq4_nl,
              let k2 = t.dot_q2_K, let k3 = t.dot_q3_K, let k4 = t.dot_q4_K, let k5 = t.dot_q5_K, let k6 = t.dot_q6_K, let xs = t.dot_iq4_xs,
              let quantizeQ8 = t.quantize_q8, let quantizeQ8K = t.quantize_q8_K, let f16 = t.matvec_f16, let bf16 = t.matvec_bf16,
              let q4r8 = t.matvec_q4_0_r8, let q8r8 = t.matvec_q8_0_r8,
              let q2Kr8 = t.matvec_q2_K_r8, let q3Kr8 = t.matvec_q3_K_r8, let halfR8Panels = t.half_r8_panels
        else { return nil }
        self.name = String(cString: name)
        self.summary = String(cString: summary)
        runsHere = swiftllama_kernel_set_runs_here(table) != 0
        twoRows = t.rowsPerCall == 2
        dot32 = [.q8_0: (q8, q8b), .q4_0: (q4, q4b), .q4_1: (q41, q41b), .q5_0: (q50, q50b), .q5_1: (q51, q51b), .iq4_nl: (nl, nlb)]
        dot256 = [.q2_K: k2, .q3_K: k3, .q4_K: k4, .q5_K: k5, .q6_K: k6, .iq4_xs: xs]
        matvecHalf = [.f16: f16, .bf16: bf16]
        var r8: [GGMLType: MatvecR8] = [.q4_0: q4r8, .q8_0: q8r8, .q2_K: q2Kr8, .q3_K: q3Kr8]
        // Q4_1, Q5_0, Q5_1, IQ4_NL, IQ4_XS (CKernels/r8_legacy.h), Q4_K, Q5_K, Q6_K (kernels_r8_kquants.h)
        // where the set has them.
        for (type, kernel) in [(GGMLType.q4_1, t.matvec_q4_1_r8), (.q5_0, t.matvec_q5_0_r8), (.q5_1, t.matvec_q5_1_r8),
                               (.iq4_nl, t.matvec_iq4_nl_r8), (.iq4_xs, t.matvec_iq4_xs_r8),
                               (.q4_K, t.matvec_q4_K_r8), (.q5_K, t.matvec_q5_K_r8), (.q6_K, t.matvec_q6_K_r8)] {
            if let kernel { r8[type] = kernel }
        }
        matvecR8 = r8
        var halfR8: [GGMLType: HalfMatvecR8] = [:]
        if let f16 = t.matvec_f16_r8 { halfR8[.f16] = f16 }
        if let bf16 = t.matvec_bf16_r8 { halfR8[.bf16] = bf16 }
        matvecHalfR8 = halfR8
        self.halfR8Panels = halfR8Panels
        gemmInt8 = t.gemm_int8
        gemmInt8K16 = t.gemm_int8_k16
        gemmInt8K32 = t.gemm_int8_k32
        gemmF32Tile = t.gemm_f32_tile
        self.quantizeQ8 = quantizeQ8
        self.quantizeQ8K = quantizeQ8K
    }

    /// Every compiled set, whether or not this CPU runs it.
    public static let all: [KernelSet] = (0..<swiftllama_kernel_set_count()).compactMap { i in
        swiftllama_kernel_set_at(i).flatMap { KernelSet($0) }
    }

    /// The sets this CPU runs (the generic one always).
    public static var runnable: [KernelSet] { all.filter(\.runsHere) }

    /// The set this process uses.
    public static let selected: KernelSet = {
        // Every table is a complete static constant of CKernels: only a broken build fails here.
        guard let s = KernelSet(swiftllama_kernels()) else { preconditionFailure("CKernels' selected kernel table is incomplete") }
        return s
    }()

    /// Why `selected` was chosen ("AMD family 0x19 with AVX-512 VNNI: …", "LLAMA_KERNELS=avx2").
    public static var selectionReason: String { String(cString: swiftllama_kernels_reason()) }

    /// True when the set has a row-interleaved matrix-vector kernel for `type`.
    func hasInterleavedKernel(_ type: GGMLType) -> Bool { matvecR8[type] != nil || matvecHalfR8[type] != nil }

    /// Whether prompts over `type` take this set's int8 GEMM (`gemmInt8(_:_:tokens:_:parallel:kernels:)`);
    /// the others take the fp32 (or BF16) GEMM.
    public func takesInt8GEMM(_ type: GGMLType) -> Bool { gemmInt8 != nil && int8GEMMTypes.contains(type) }

    /// Rows `rowStart ..< rowStart + rowCount`, columns `k0 ..< k0 + kc` of a row-interleaved
    /// F16 / BF16 matrix as the fp32 GEMM's panels of 32 rows at `dst` (panel q at
    /// `dst + q·32·kc`, row j's column k0 + k at `panel[32·k + j]`, rows past `rowCount` zero),
    /// converted straight from the 8-row groups. False, writing nothing, for any other matrix or
    /// a range not in whole groups and column pairs.
    public func packPanels(_ w: MatrixView, rowStart: Int, rowCount: Int, k0: Int, kc: Int,
                           into dst: UnsafeMutablePointer<Float>) -> Bool {
        guard w.layout == .rowInterleaved8, w.type == .f16 || w.type == .bf16,
              rowStart % 8 == 0, rowCount % 8 == 0, rowCount > 0, rowStart + rowCount <= w.rows,
              k0 % 2 == 0, kc % 2 == 0, kc > 0, k0 + kc <= w.columns else { return false }
        halfR8Panels(w.type == .bf16 ? 1 : 0, w.base, Int32(w.columns), rowStart / 8, Int32(rowCount / 8),
                     Int32(k0), Int32(kc), dst)
        return true
    }

    public var description: String { "\(name) (\(summary))" }
}
