import CKernels
#if canImport(Glibc)
import Glibc
#endif

// BF16-product path for prompts over F16 and BF16 weights (CKernels/GEMMBF16.c): on CPUs
// with AVX-512 BF16, each tile of 32 weight rows is packed once as bfloat16 pairs (BF16
// weights as stored; F16 weights rounded to the nearest bfloat16, 10-bit mantissa to 7, as
// ik_llama.cpp's repacking does), the activations are rounded to bfloat16 once per batch,
// and vdpbf16ps sums two products per fp32 lane per instruction: twice the products of
// fp32 FMAs per instruction, with fp32 accumulation. Rounding activations to 8 significant
// bits moves the logits, and not every product alike: which products take this path is
// `bf16ProductRoles` (the model's call sites name their role, `ProductRole`); the others,
// every product of a CPU without AVX512_BF16 or under LLAMA_KERNELS=avx2|generic, and every
// product under LLAMA_BF16_PRODUCTS=0 keep the fp32 `gemm`.

/// The weight matrices of a forward pass, as the choice of product precision in prompts
/// sees them (`bf16ProductRoles`). Raw values are the names LLAMA_BF16_PRODUCTS lists.
public enum ProductRole: String, Sendable, CaseIterable {
    /// wq, wk, wv (one shared-input call).
    case qkv
    /// The attention output projection wo.
    case attentionOutput = "wo"
    /// The feed-forward gate and up matrices (w1, w3).
    case gateUp = "gate_up"
    /// The feed-forward down matrix w2.
    case down
    /// The vocabulary projection (in prompts usually only the last rows').
    case output
}

/// The products that take BF16 products in prompts (where `bf16GEMMWidth` is not nil), read
/// once from LLAMA_BF16_PRODUCTS: unset → `defaultBF16ProductRoles`; "1" → every product
/// (any `gemm` of F16/BF16 weights, with or without a role); "0" → none; a comma-separated
/// list of `ProductRole` names ("qkv,gate_up") → those (to measure each one's effect).
public let bf16ProductRoles: Set<ProductRole> = {
    guard let v = getenv("LLAMA_BF16_PRODUCTS").map({ String(cString: $0) }) else { return defaultBF16ProductRoles }
    if v == "1" { return Set(ProductRole.allCases) }
    return Set(v.split(separator: ",").compactMap { ProductRole(rawValue: $0.trimmingCharacters(in: .whitespaces)) })
}()

/// The products that take BF16 products by default: none yet (see the README's table of
/// measured distances to HF per choice).
public let defaultBF16ProductRoles: Set<ProductRole> = []

/// True when LLAMA_BF16_PRODUCTS=1: every F16/BF16 `gemm` takes BF16 products, role or not.
let bf16ProductsEverywhere: Bool = getenv("LLAMA_BF16_PRODUCTS").map { String(cString: $0) == "1" } ?? false

/// Whether a prompt product of `role` (nil: a caller outside the model's layers) over F16/BF16
/// weights takes BF16 products here.
@inline(__always)
public func takesBF16Products(_ role: ProductRole?) -> Bool {
    bf16GEMMWidth != nil && (bf16ProductsEverywhere || role.map { bf16ProductRoles.contains($0) } ?? false)
}

/// Vector width of the BF16 prompt kernel.
public enum BF16GEMMWidth: Int32, Sendable, CaseIterable, CustomStringConvertible {
    /// Plain loops over the same packed operands (any CPU; for tests).
    case plain = 0
    /// 256-bit vdpbf16ps, 32 rows × 6 tokens per micro-kernel: what AMD Zen 4 runs per half
    /// of a 512-bit instruction, measured ~8% faster there than 512-bit.
    case bits256 = 256
    /// 512-bit vdpbf16ps, 32 rows × 12 tokens per micro-kernel (Intel Sapphire Rapids and
    /// later, which run 512-bit vectors whole).
    case bits512 = 512

    public var description: String { self == .plain ? "plain" : "\(rawValue)-bit" }

    /// The widths this CPU runs (`plain` always).
    public static var runnable: [BF16GEMMWidth] { cpuHasAVX512BF16 ? allCases : [.plain] }
}

/// Whether the CPU has AVX-512 BF16 (vdpbf16ps), from CPUID.
public let cpuHasAVX512BF16 = swiftllama_cpu_has_bf16() != 0

/// The width prompts over F16/BF16 weights use for the products of `bf16ProductRoles`, or nil
/// when every product takes the fp32 `gemm` (LLAMA_BF16_PRODUCTS=0, no AVX512_BF16, or a
/// non-AVX-512 kernel set selected).
public let bf16GEMMWidth: BF16GEMMWidth? = {
    let w = swiftllama_bf16_gemm_width()
    return w == 0 ? nil : BF16GEMMWidth(rawValue: w)
}()

/// Types the BF16 path reads.
public let bf16GEMMTypes: Set<GGMLType> = [.f16, .bf16]

/// `out[t, r] = Σ_c W[r, c] · x[t, c]` for `t < tokens` with bfloat16 products and fp32
/// sums (see above), rows split across cores in tiles of 32. Returns false, writing nothing,
/// when `w` is not F16 or BF16. Row-interleaved weights (generation's layout) are packed
/// straight from their groups of 8 rows (`swiftllama_pack_bf16_r8`): the same tiles as from
/// plain rows, the same sums.
@discardableResult
public func gemmBF16(_ w: MatrixView, _ x: UnsafePointer<Float>, tokens: Int, _ out: UnsafeMutablePointer<Float>,
                     parallel: ParallelFor, width: BF16GEMMWidth) -> Bool {
    guard bf16GEMMTypes.contains(w.type) else { return false }
    let rows = w.rows, cols = w.columns, pairs = (cols + 1) / 2
    guard rows > 0, tokens > 0 else { return true }
    let tileRows = Int(SWIFTLLAMA_BF16_TILE_ROWS)
    let xb = UnsafeMutablePointer<UInt32>.allocate(capacity: tokens * pairs)
    defer { xb.deallocate() }
    parallel.runChunked(tokens, chunk: 32) { _, range in
        swiftllama_bf16_activations(x + range.lowerBound * cols, cols, Int32(range.count), Int32(cols),
                                    xb + range.lowerBound * pairs, pairs)
    }
    // One packed tile per worker, reused for each tile it takes.
    let tileWords = tileRows * pairs
    let packed = UnsafeMutablePointer<UInt32>.allocate(capacity: parallel.workers * tileWords)
    defer { packed.deallocate() }
    let interleaved = w.layout == .rowInterleaved8
    let typeID = Int32(w.type.rawValue)
    let tiles = (rows + tileRows - 1) / tileRows
    parallel.runChunked(tiles, chunk: 1) { worker, range in
        let tile = packed + worker * tileWords
        for t in range {
            let r0 = t * tileRows
            let n = min(tileRows, rows - r0)
            if interleaved {
                // Rows come in whole groups of 8 here (the layout's condition).
                swiftllama_pack_bf16_r8(typeID, w.base, Int32(cols), r0 / 8, Int32((n + 7) / 8), tile)
            } else {
                swiftllama_pack_bf16(typeID, w.base + r0 * w.rowBytes, w.rowBytes, Int32(n), Int32(cols), tile)
            }
            swiftllama_gemm_bf16(width.rawValue, tile, Int32(pairs), xb, pairs, Int32(tokens), out + r0, rows, Int32(n))
        }
    }
    return true
}
