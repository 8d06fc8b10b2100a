import CKernels

// Matrix-matrix product for prompt processing: `out[t, r] = Σ_c W[r, c] · x[t, c]` for a
// batch of tokens, with W in any stored type.
//
// The usual blocked method. W is cut into blocks of `blockRows` rows × `kc` columns; each
// block is converted to fp32 once (dequantized from its stored type) and packed as panels of
// 32 rows, column-major within the panel (`panel[k·32 + j] = W[r0 + j, k0 + k]`), so the
// micro-kernel reads 32 consecutive rows of one column with two 16-float loads. Tokens come
// 6 at a time straight from `x` as broadcasts. A 6×32 tile keeps its twelve 16-float
// accumulators in registers over the `kc` steps, then adds them to `out`, where 32 rows of
// one token are contiguous. The conversion of a block is shared by every token of the batch,
// and a block (128 × 256 floats, 128 KiB) and 6 tokens' columns stay in L2 / L1 while used.

/// Rows of W per panel: two 16-float vectors.
let gemmPanelRows = 32
/// Tokens per micro-kernel call.
let gemmTokens = 6
/// Columns of W per block: a multiple of 256, so block boundaries fall on K-quant
/// super-block (and 32-element block) boundaries.
let gemmKc = 256
/// Rows of W per block.
let gemmBlockRows = 128

/// `out[t, r] = Σ_c W[r, c] · x[t, c]` for `t < tokens`: `x` is `tokens × columns`, `out` is
/// `tokens × rows`, both row-major fp32. Rows of W are split across cores in whole panels.
/// Quantized weights take `kernels`' int8 GEMM where it has one for the type; F16/BF16
/// weights take BF16 products when `role`'s products do (`takesBF16Products`).
public func gemm(_ w: MatrixView, _ x: UnsafePointer<Float>, tokens: Int, _ out: UnsafeMutablePointer<Float>,
          parallel: ParallelFor, kernels: KernelSet = .selected, role: ProductRole? = nil) {
    if gemmInt8(w, x, tokens: tokens, out, parallel: parallel, kernels: kernels) { return }
    if takesBF16Products(role), let width = bf16GEMMWidth, gemmBF16(w, x, tokens: tokens, out, parallel: parallel, width: width) {
        return
    }
    let rows = w.rows, cols = w.columns
    let panels = (rows + gemmPanelRows - 1) / gemmPanelRows
    // Chunks of whole row blocks, so each chunk converts its weights once.
    let panelsPerBlock = gemmBlockRows / gemmPanelRows
    parallel.runChunked(panels, chunk: panelsPerBlock) { _, panelRange in
        let packedCount = gemmBlockRows * gemmKc
        withUnsafeTemporaryAllocation(of: Float.self, capacity: packedCount + gemmKc) { scratch in
            guard let packed = scratch.baseAddress else { return }
            let rowBuffer = packed + packedCount
            let rStart = panelRange.lowerBound * gemmPanelRows
            let rEnd = min(rows, panelRange.upperBound * gemmPanelRows)
            var r0 = rStart
            while r0 < rEnd {
                let blockRows = min(gemmBlockRows, rEnd - r0)
                let blockPanels = (blockRows + gemmPanelRows - 1) / gemmPanelRows
                var k0 = 0
                while k0 < cols {
                    let kc = min(gemmKc, cols - k0)
                    packBlock(w, rowStart: r0, rowCount: blockRows, k0: k0, kc: kc, into: packed, rowBuffer: rowBuffer)
                    let accumulate = k0 > 0
                    var t0 = 0
                    while t0 < tokens {
                        let nt = min(gemmTokens, tokens - t0)
                        for p in 0..<blockPanels {
                            let pr = r0 + p * gemmPanelRows
                            let validRows = min(gemmPanelRows, r0 + blockRows - pr)
                            if let tile = kernels.gemmF32Tile {
                                tile(packed + p * gemmPanelRows * kc, x + t0 * cols + k0, cols, out + t0 * rows + pr, rows,
                                     Int32(kc), Int32(nt), Int32(validRows), accumulate ? 1 : 0)
                            } else {
                                gemmTile(packed + p * gemmPanelRows * kc, x + t0 * cols + k0, ldx: cols,
                                         out + t0 * rows + pr, ldo: rows, kc: kc, tokens: nt, rows: validRows,
                                         accumulate: accumulate)
                            }
                        }
                        t0 += nt
                    }
                    k0 += kc
                }
                r0 += blockRows
            }
        }
    }
}

/// Packs W[rowStart ..< rowStart+rowCount, k0 ..< k0+kc] as fp32 panels of 32 rows
/// (zero rows pad the last panel), each `kc × 32` column-major.
@inline(__always)
func packBlock(_ w: MatrixView, rowStart: Int, rowCount: Int, k0: Int, kc: Int,
               into packed: UnsafeMutablePointer<Float>, rowBuffer: UnsafeMutablePointer<Float>) {
    // Row-interleaved F16 / BF16: straight from the 8-row groups, vectorized (the same floats).
    if KernelSet.selected.packPanels(w, rowStart: rowStart, rowCount: rowCount, k0: k0, kc: kc, into: packed) { return }
    let panelCount = (rowCount + gemmPanelRows - 1) / gemmPanelRows
    let padded = panelCount * gemmPanelRows
    for i in 0..<padded {
        let panel = packed + (i / gemmPanelRows) * gemmPanelRows * kc + (i % gemmPanelRows)
        if i >= rowCount {
            for k in 0..<kc { panel[k * gemmPanelRows] = 0 }
            continue
        }
        w.dequantize(row: rowStart + i, from: k0, count: kc, into: rowBuffer)
        for k in 0..<kc { panel[k * gemmPanelRows] = rowBuffer[k] }
    }
}

/// Writes token `t`'s 32 output lanes of a GEMM tile (`v0`, `v1`) to row `t` of `out` (`ldo`
/// apart), the first `rows` of them, added to what is there when `accumulate`; nothing for
/// `t ≥ tokens`. Shared by `gemmTile` and `StridedGEMM.gemmTileTransposedA`.
@inline(__always)
func storeTileRow(_ out: UnsafeMutablePointer<Float>, ldo: Int, token t: Int, tokens: Int, rows: Int, accumulate: Bool,
                  _ v0: SIMD16<Float>, _ v1: SIMD16<Float>) {
    typealias V = SIMD16<Float>
    guard t < tokens else { return }
    let o = out + t * ldo
    if rows == gemmPanelRows {
        let r = UnsafeMutableRawPointer(o)
        if accumulate {
            r.storeBytes(of: r.loadUnaligned(as: V.self) + v0, as: V.self)
            r.storeBytes(of: r.loadUnaligned(fromByteOffset: 64, as: V.self) + v1, toByteOffset: 64, as: V.self)
        } else {
            r.storeBytes(of: v0, as: V.self)
            r.storeBytes(of: v1, toByteOffset: 64, as: V.self)
        }
    } else {
        for j in 0..<rows {
            let v = j < 16 ? v0[j] : v1[j - 16]
            o[j] = accumulate ? o[j] + v : v
        }
    }
}

/// `out[t, j] (+)= Σ_k panel[k, j] · x[t, k]` for `t < tokens` (≤ 6) and `j < rows` (≤ 32).
@inline(__always)
func gemmTile(_ panel: UnsafePointer<Float>, _ x: UnsafePointer<Float>, ldx: Int,
              _ out: UnsafeMutablePointer<Float>, ldo: Int, kc: Int, tokens: Int, rows: Int, accumulate: Bool) {
    typealias V = SIMD16<Float>
    var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
    var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
    let p = UnsafeRawPointer(panel)
    if tokens == gemmTokens {
        let x0 = x, x1 = x + ldx, x2 = x1 + ldx, x3 = x2 + ldx, x4 = x3 + ldx, x5 = x4 + ldx
        for k in 0..<kc {
            let b0 = p.loadUnaligned(fromByteOffset: 128 * k, as: V.self)
            let b1 = p.loadUnaligned(fromByteOffset: 128 * k + 64, as: V.self)
            var a = V(repeating: x0[k])
            c00.addProduct(a, b0); c01.addProduct(a, b1)
            a = V(repeating: x1[k])
            c10.addProduct(a, b0); c11.addProduct(a, b1)
            a = V(repeating: x2[k])
            c20.addProduct(a, b0); c21.addProduct(a, b1)
            a = V(repeating: x3[k])
            c30.addProduct(a, b0); c31.addProduct(a, b1)
            a = V(repeating: x4[k])
            c40.addProduct(a, b0); c41.addProduct(a, b1)
            a = V(repeating: x5[k])
            c50.addProduct(a, b0); c51.addProduct(a, b1)
        }
    } else {
        // Fewer than 6 tokens (the end of a batch): one token at a time.
        for t in 0..<tokens {
            var s0 = V(), s1 = V()
            let xt = x + t * ldx
            for k in 0..<kc {
                let a = V(repeating: xt[k])
                s0.addProduct(a, p.loadUnaligned(fromByteOffset: 128 * k, as: V.self))
                s1.addProduct(a, p.loadUnaligned(fromByteOffset: 128 * k + 64, as: V.self))
            }
            switch t {
            case 0: c00 = s0; c01 = s1
            case 1: c10 = s0; c11 = s1
            case 2: c20 = s0; c21 = s1
            case 3: c30 = s0; c31 = s1
            default: c40 = s0; c41 = s1
            }
        }
    }
    @inline(__always) func store(_ t: Int, _ v0: V, _ v1: V) {
        storeTileRow(out, ldo: ldo, token: t, tokens: tokens, rows: rows, accumulate: accumulate, v0, v1)
    }
    store(0, c00, c01); store(1, c10, c11); store(2, c20, c21)
    store(3, c30, c31); store(4, c40, c41); store(5, c50, c51)
}

// Int8 path: weights whose blocks are int8 or small unsigned integers with one scale (and
// min) per 32 or 16 elements multiply 8-bit activations with VNNI instructions (CKernels),
// four times the lanes of fp32 FMA. Exact in the weights (they are only repacked); the
// activations are quantized per 32 as in generation, as llama.cpp does for these types.

/// Whether the selected kernel set (`KernelSet.selected`) has an int8 GEMM (AVX-512 VNNI or
/// AVX2); which types take it: `KernelSet.takesInt8GEMM`.
public let hasInt8GEMM = swiftllama_has_int8_gemm() != 0
/// Types the int8 packers read: blocks of 32 (Q4_K's, Q5_K's and IQ4_XS's sub-blocks of 32)
/// of small unsigned values with a scale and a bias (Q4_1/Q5_1's minimum, Q5_0's centre, the
/// K-quants' mins, IQ4's table shifted by 128), and super-blocks of 256 with sub-blocks of 16
/// (Q2_K, Q3_K, Q6_K: `gemmInt8K16`).
public let int8GEMMTypes: Set<GGMLType> = [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .iq4_nl, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_xs]
/// Weight rows per int8 tile (one 16-lane vector).
let int8TileRows = 16

/// Types whose sub-blocks of 16 have small integer scales under one scale per 256: their
/// products stay in int32 over a super-block (`gemmInt8K16`).
public let int8GEMMK16Types: Set<GGMLType> = [.q2_K, .q3_K, .q6_K]

/// Types whose sub-blocks of 32 have integer scales (and mins) under one scale per 256: their
/// prompts take activations per 256 and one float step per sub-block (`gemmInt8K32`).
public let int8GEMMK32Types: Set<GGMLType> = [.q4_K, .q5_K, .iq4_xs]

/// `gemm` through `kernels`' int8 GEMM: activations quantized per 32 (or per 256 for the
/// K-quants' super-block kernels), weights packed per tile. Returns false, writing nothing,
/// when the set does not take `w`'s type (`KernelSet.takesInt8GEMM`).
@discardableResult
public func gemmInt8(_ w: MatrixView, _ x: UnsafePointer<Float>, tokens: Int, _ out: UnsafeMutablePointer<Float>,
                     parallel: ParallelFor, kernels: KernelSet = .selected) -> Bool {
    guard kernels.takesInt8GEMM(w.type), let kernel = kernels.gemmInt8 else { return false }
    if int8GEMMK16Types.contains(w.type), kernels.hasInt8GEMMK16 {
        gemmInt8K16(w, x, tokens: tokens, out, parallel: parallel, kernels: kernels)
        return true
    }
    if int8GEMMK32Types.contains(w.type), w.columns % 256 == 0, kernels.hasInt8GEMMK32 {
        gemmInt8K32(w, x, tokens: tokens, out, parallel: parallel, kernels: kernels)
        return true
    }
    let rows = w.rows, cols = w.columns, blocks32 = cols / 32
    let typeID = Int32(w.type.rawValue)
    let size = Int(swiftllama_int8_block_size(typeID))
    let blocks = cols / size
    // Types whose bias is a multiple of the scale take it in the kernel's integer sums.
    let center = swiftllama_int8_center(typeID)
    // Block-major (the kernel's layout): token t's block b at b·tokens + t.
    let xq = UnsafeMutablePointer<Int8>.allocate(capacity: tokens * cols)
    let xd = UnsafeMutablePointer<Float>.allocate(capacity: tokens * blocks)
    let xds = UnsafeMutablePointer<Float>.allocate(capacity: tokens * blocks)
    let xsums = UnsafeMutablePointer<Int32>.allocate(capacity: tokens * blocks)
    defer { xq.deallocate(); xd.deallocate(); xds.deallocate(); xsums.deallocate() }
    // Activations per 32, 16 tokens at a time, then each kernel block's values, scale and sum.
    let chunk = 16
    parallel.runChunked(tokens, chunk: chunk) { _, range in
        let rowsQ = UnsafeMutablePointer<Int8>.allocate(capacity: chunk * cols)
        let rows32 = UnsafeMutablePointer<Float>.allocate(capacity: chunk * blocks32)
        defer { rowsQ.deallocate(); rows32.deallocate() }
        // One worker may get the whole range: at most `chunk` tokens per pass.
        for c0 in stride(from: range.lowerBound, to: range.upperBound, by: chunk) {
            let part = c0..<min(c0 + chunk, range.upperBound)
            for t in part {
                let i = t - c0
                quantizeActivations(x + t * cols, into: QuantizedActivations(values: rowsQ + i * cols, scales: rows32 + i * blocks32,
                                                                             blocks: blocks32))
            }
            if size == 32 {
                swiftllama_int8_scatter_tokens(rowsQ, rows32, Int32(blocks), Int32(tokens), Int32(c0), Int32(part.count),
                                               xq, xd, xds, xsums)
                continue
            }
            for t in part {
                let i = t - c0
                for b in 0..<blocks {
                    let v = rowsQ + i * cols + size * b
                    var sum: Int32 = 0
                    for k in 0..<size { sum &+= Int32(v[k]) }
                    let o = b * tokens + t, scale = rows32[i * blocks32 + b * size / 32]
                    (xq + o * size).update(from: v, count: size)
                    xd[o] = scale
                    xsums[o] = sum
                    xds[o] = scale * Float(sum)
                }
            }
        }
    }
    // Two tiles of 16 rows per step (the kernel's 32-row form), packed one after the other.
    let stepRows = 2 * int8TileRows, tileBytes = blocks * int8TileRows * size, tileBlocks = blocks * int8TileRows
    let steps = (rows + stepRows - 1) / stepRows
    parallel.runChunked(steps, chunk: 1) { _, range in
        let packed = UnsafeMutablePointer<UInt8>.allocate(capacity: 2 * tileBytes)
        let scales = UnsafeMutablePointer<Float>.allocate(capacity: 2 * tileBlocks)
        let biases = UnsafeMutablePointer<Float>.allocate(capacity: 2 * tileBlocks)
        var plain: UnsafeMutableRawPointer?
        defer { packed.deallocate(); scales.deallocate(); biases.deallocate(); plain?.deallocate() }
        for step in range {
            let r0 = step * stepRows
            let n = min(stepRows, rows - r0)
            for h in 0..<(n + int8TileRows - 1) / int8TileRows {
                let t0 = r0 + h * int8TileRows, tn = min(int8TileRows, n - h * int8TileRows)
                let p = packed + h * tileBytes, s = scales + h * tileBlocks, bi = biases + h * tileBlocks
                if w.layout == .rowInterleaved8, w.type == .q4_0 || w.type == .q8_0 {
                    swiftllama_pack_int8_r8(typeID, w.base, t0, Int32(tn), Int32(blocks), p, s, bi)
                } else {
                    let source = plainRows(w, from: t0, count: tn, buffer: &plain)
                    swiftllama_pack_int8(typeID, source, w.rowBytes, Int32(tn), Int32(blocks), p, s, bi)
                }
            }
            kernel(Int32(size), center, packed, scales, biases, Int32(blocks), xq, xd, xds, xsums,
                   Int32(tokens), out + r0, rows, Int32(n))
        }
    }
    return true
}

/// Rows `r0 ..< r0 + count` of `w` in the plain layout: in place for a plain matrix; for a
/// row-interleaved one, copied back into `buffer` (allocated on first use, `count` ≤ 16 rows,
/// kept for the caller's next tile), so that one packer per type serves both layouts.
func plainRows(_ w: MatrixView, from r0: Int, count: Int, buffer: inout UnsafeMutableRawPointer?) -> UnsafeRawPointer {
    guard w.layout == .rowInterleaved8 else { return w.base + r0 * w.rowBytes }
    let rows: UnsafeMutableRawPointer
    if let buffer { rows = buffer } else {
        rows = .allocate(byteCount: int8TileRows * w.rowBytes, alignment: 64)
        buffer = rows
    }
    let typeID = Int32(w.type.rawValue), blocks = Int32(w.columns / w.type.blockLayout.elements)
    for i in 0..<count {
        swiftllama_r8_row(typeID, w.base, blocks, r0 + i, 0, blocks, (rows + i * w.rowBytes).assumingMemoryBound(to: UInt8.self))
    }
    return UnsafeRawPointer(rows)
}

/// Q2_K, Q3_K and Q6_K: activations quantized per 256 (Q8_K, with the sums of each 16), so a
/// super-block's sub-block products are summed with their integer scales in int32 and
/// converted to float once per super-block and token (`swiftllama_gemm_int8_k16`: a third
/// fewer vector instructions than one float step per 16).
func gemmInt8K16(_ w: MatrixView, _ x: UnsafePointer<Float>, tokens: Int, _ out: UnsafeMutablePointer<Float>,
                 parallel: ParallelFor, kernels: KernelSet) {
    let rows = w.rows, cols = w.columns, superblocks = cols / 256
    let typeID = Int32(w.type.rawValue)
    let xq = UnsafeMutablePointer<Int8>.allocate(capacity: tokens * cols)
    let xd = UnsafeMutablePointer<Float>.allocate(capacity: tokens * superblocks)
    let xsums = UnsafeMutablePointer<Int16>.allocate(capacity: tokens * superblocks * 16)
    defer { xq.deallocate(); xd.deallocate(); xsums.deallocate() }
    parallel.runChunked(tokens, chunk: 16) { _, range in
        for t in range {
            quantizeActivations(x + t * cols, into: SuperBlockActivations(
                values: xq + t * cols, scales: xd + t * superblocks, sums: xsums + t * superblocks * 16, superblocks: superblocks))
        }
    }
    let tiles = (rows + int8TileRows - 1) / int8TileRows
    parallel.runChunked(tiles, chunk: 2) { _, range in
        let packed = UnsafeMutablePointer<UInt8>.allocate(capacity: superblocks * 4096)
        let scales = UnsafeMutablePointer<Int32>.allocate(capacity: superblocks * 256)
        let pairs = UnsafeMutablePointer<Int32>.allocate(capacity: superblocks * 128)
        let d = UnsafeMutablePointer<Float>.allocate(capacity: superblocks * 16)
        let dbias = UnsafeMutablePointer<Float>.allocate(capacity: superblocks * 16)
        var plain: UnsafeMutableRawPointer?
        defer { packed.deallocate(); scales.deallocate(); pairs.deallocate(); d.deallocate(); dbias.deallocate(); plain?.deallocate() }
        for tile in range {
            let r0 = tile * int8TileRows
            let n = min(int8TileRows, rows - r0)
            let source = plainRows(w, from: r0, count: n, buffer: &plain)
            swiftllama_pack_int8_k16(typeID, source, w.rowBytes, Int32(n), Int32(superblocks),
                                     packed, scales, pairs, d, dbias)
            (kernels.gemmInt8K16 ?? swiftllama_gemm_int8_k16)(typeID, packed, scales, pairs, d, dbias, Int32(superblocks), xq, xd, xsums,
                                     Int32(tokens), out + r0, rows, Int32(n))
        }
    }
}

/// Q4_K, Q5_K and IQ4_XS: activations quantized per 256 (Q8_K, as generation and llama.cpp
/// take them for these types) and the per-32 tile of `swiftllama_pack_int8`, so each
/// sub-block of 32 costs one float fma instead of a scale, an fma and a bias step
/// (`swiftllama_gemm_int8_k32`: the biases in integers, xd once per 256).
func gemmInt8K32(_ w: MatrixView, _ x: UnsafePointer<Float>, tokens: Int, _ out: UnsafeMutablePointer<Float>,
                 parallel: ParallelFor, kernels: KernelSet) {
    let rows = w.rows, cols = w.columns, superblocks = cols / 256, blocks = cols / 32
    let typeID = Int32(w.type.rawValue)
    let xq = UnsafeMutablePointer<Int8>.allocate(capacity: tokens * cols)
    let xd = UnsafeMutablePointer<Float>.allocate(capacity: tokens * superblocks)
    let xsums16 = UnsafeMutablePointer<Int16>.allocate(capacity: tokens * superblocks * 16)
    let xsums = UnsafeMutablePointer<Int16>.allocate(capacity: tokens * blocks)
    defer { xq.deallocate(); xd.deallocate(); xsums16.deallocate(); xsums.deallocate() }
    parallel.runChunked(tokens, chunk: 16) { _, range in
        for t in range {
            let s16 = xsums16 + t * superblocks * 16
            quantizeActivations(x + t * cols, into: SuperBlockActivations(
                values: xq + t * cols, scales: xd + t * superblocks, sums: s16, superblocks: superblocks))
            // Sums of 32 (at most 32·127: Int16).
            for b in 0..<blocks { xsums[t * blocks + b] = s16[2 * b] &+ s16[2 * b + 1] }
        }
    }
    // Two tiles of 16 rows per step (the kernel's 32-row form), packed one after the other.
    let stepRows = 2 * int8TileRows, steps = (rows + stepRows - 1) / stepRows
    let tileBytes = blocks * int8TileRows * 32, tileBlocks = blocks * int8TileRows
    parallel.runChunked(steps, chunk: 1) { _, range in
        let packed = UnsafeMutablePointer<UInt8>.allocate(capacity: 2 * tileBytes)
        let scales = UnsafeMutablePointer<Float>.allocate(capacity: 2 * tileBlocks)
        let biases = UnsafeMutablePointer<Float>.allocate(capacity: tileBlocks)
        let pairs = UnsafeMutablePointer<Int32>.allocate(capacity: 2 * superblocks * 64)
        let dmin = UnsafeMutablePointer<Float>.allocate(capacity: 2 * superblocks * 16)
        var plain: UnsafeMutableRawPointer?
        defer {
            packed.deallocate(); scales.deallocate(); biases.deallocate(); pairs.deallocate(); dmin.deallocate()
            plain?.deallocate()
        }
        for step in range {
            let r0 = step * stepRows
            let n = min(stepRows, rows - r0)
            for h in 0..<(n + int8TileRows - 1) / int8TileRows {
                let t0 = r0 + h * int8TileRows, tn = min(int8TileRows, n - h * int8TileRows)
                let source = plainRows(w, from: t0, count: tn, buffer: &plain)
                // The biases are the K32 kernel's integer mins (pairs, dmin): not read.
                swiftllama_pack_int8(typeID, source, w.rowBytes, Int32(tn), Int32(blocks), packed + h * tileBytes,
                                     scales + h * tileBlocks, biases)
                swiftllama_pack_int8_k32_mins(typeID, source, w.rowBytes, Int32(tn), Int32(superblocks),
                                              pairs + h * superblocks * 64, dmin + h * superblocks * 16)
            }
            (kernels.gemmInt8K32 ?? swiftllama_gemm_int8_k32)(typeID, packed, scales, pairs, dmin, Int32(superblocks), xq, xd, xsums,
                                     Int32(tokens), out + r0, rows, Int32(n))
        }
    }
}

// fp32 products with strided operands (the training model): `C = (accumulate ? C : 0) + A·B`
// with A(i, p) = `a[i·aRow + p·aCol]` and B(p, j) = `b[p·bRow + j·bCol]`, so the three
// products of a linear layer (forward Y = X·Wᵀ, backward dX = dY·W and dW += dYᵀ·X) and
// attention's products need no transposed copies. Same blocking and micro-kernel as `gemm`:
// B is packed once into panels of 32 columns, `kc` rows per block (`gemmTile`'s layout), and
// A's rows go 6 at a time through `gemmTile`, straight from A when a row is contiguous in k
// (aCol = 1), else copied to a 6 × kc strip first. Each output element is computed by one
// task in a fixed order: results do not depend on the thread count.

/// Single-precision products for training shapes (hundreds of rows and columns), with the
/// packed-B buffer kept between calls.
/// The precision of the training model's matrix products (`llama train --precision`).
public enum TrainingPrecision: String, Sendable, CaseIterable, CustomStringConvertible {
    /// fp32 products and sums (the default).
    case fp32
    /// Operands rounded to bfloat16, products summed in fp32 (vdpbf16ps), as PyTorch's CPU
    /// autocast to bfloat16 does for linear layers: AVX-512 BF16 CPUs only
    /// (`TrainingPrecision.bf16IsAvailable`). Parameters, gradients, optimizer state,
    /// norms, softmax, loss and attention stay fp32.
    case bf16

    public var description: String { rawValue }

    /// Whether this CPU runs `.bf16` (AVX-512 BF16, from CPUID).
    public static var bf16IsAvailable: Bool { cpuHasAVX512BF16 }
}

public final class StridedGEMM: @unchecked Sendable {
    /// Columns of B per packed panel (`gemmTile`'s width).
    public static let nr = gemmPanelRows

    let pool: ParallelFor
    private var packedB: UnsafeMutablePointer<Float>
    private var packedBCapacity: Int
    /// The precision of `multiply`'s products (`.bf16` only where `TrainingPrecision.bf16`
    /// is available; `multiplySerial` is always fp32).
    public let precision: TrainingPrecision
    /// `.bf16`: A's rows and B's tiles rounded to bfloat16 pairs, each in its own buffer (A's
    /// kept for the next product with `reuseA`), and each worker's block of C when the
    /// product accumulates.
    private var wordsA: UnsafeMutablePointer<UInt32>
    private var wordsACapacity: Int
    private var wordsB: UnsafeMutablePointer<UInt32>
    private var wordsBCapacity: Int
    private let bf16Scratch: UnsafeMutablePointer<Float>
    /// Which A the rounded rows at the start of `wordsA` hold.
    private struct BF16Operand: Equatable {
        let base: UnsafePointer<Float>
        let row, column, m, k: Int
    }
    private var roundedA: BF16Operand?
    /// Rows of C per `.bf16` task (a multiple of the kernel's 6 tokens).
    static let bf16StripRows = 96

    public init(pool: ParallelFor, precision: TrainingPrecision = .fp32) {
        self.pool = pool
        packedBCapacity = 1 << 16
        packedB = .allocate(capacity: packedBCapacity)
        self.precision = precision
        wordsACapacity = precision == .bf16 ? 1 << 16 : 0
        wordsA = .allocate(capacity: wordsACapacity)
        wordsBCapacity = wordsACapacity
        wordsB = .allocate(capacity: wordsBCapacity)
        let scratch = precision == .bf16 ? pool.workers * StridedGEMM.bf16StripRows * gemmPanelRows : 0
        bf16Scratch = .allocate(capacity: scratch)
    }

    deinit {
        packedB.deallocate()
        wordsA.deallocate()
        wordsB.deallocate()
        bf16Scratch.deallocate()
    }

    /// `C = (accumulate ? C : 0) + A·B`, over the pool. A(i, p) is `a[i*aRow + p*aCol]`,
    /// B(p, j) is `b[p*bRow + j*bCol]`, C(i, j) is `c[i*ldc + j]`.
    /// `reuseA`: A is the A of the previous call, unchanged since (a layer's q/k/v or gate/up
    /// products of one input): with `.bf16` its rounded copy is reused.
    public func multiply(m: Int, n: Int, k: Int,
                         a: UnsafePointer<Float>, aRow: Int, aCol: Int,
                         b: UnsafePointer<Float>, bRow: Int, bCol: Int,
                         c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool, reuseA: Bool = false) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return
        }
        if precision == .bf16, aRow == 1 || aCol == 1, bRow == 1 || bCol == 1 {
            let p = Product(m: m, n: n, k: k, a: a, aRow: aRow, aCol: aCol, b: b, bRow: bRow, bCol: bCol,
                            c: c, ldc: ldc, accumulate: accumulate)
            multiplyBF16(p, nil, nil, count: 1, shareA: false, shareB: false, reuseA: reuseA)
            return
        }
        let nr = StridedGEMM.nr
        let panels = (n + nr - 1) / nr
        let need = panels * nr * k
        if need > packedBCapacity {
            packedB.deallocate()
            packedBCapacity = need
            packedB = .allocate(capacity: need)
        }
        let pb = packedB
        pool.parallelFor(panels) { panel in
            StridedGEMM.packPanel(panel, n: n, k: k, b: b, bRow: bRow, bCol: bCol, into: pb)
        }
        let strips = (m + gemmTokens - 1) / gemmTokens
        let tasks = min(strips, pool.workers * 4)
        pool.parallelFor(tasks) { task in
            StridedGEMM.strips(strips * task / tasks, strips * (task + 1) / tasks, m: m, n: n, k: k,
                               a: a, aRow: aRow, aCol: aCol, packedB: pb, c: c, ldc: ldc, accumulate: accumulate)
        }
    }

    /// One product `C = (accumulate ? C : 0) + A·B` of `multiplyGroup`, in `multiply`'s terms.
    public struct Product {
        public let m, n, k: Int
        public let a: UnsafePointer<Float>
        public let aRow, aCol: Int
        public let b: UnsafePointer<Float>
        public let bRow, bCol: Int
        public let c: UnsafeMutablePointer<Float>
        public let ldc: Int
        public let accumulate: Bool

        public init(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, aRow: Int, aCol: Int,
                    b: UnsafePointer<Float>, bRow: Int, bCol: Int, c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
            (self.m, self.n, self.k, self.a, self.aRow, self.aCol) = (m, n, k, a, aRow, aCol)
            (self.b, self.bRow, self.bCol, self.c, self.ldc, self.accumulate) = (b, bRow, bCol, c, ldc, accumulate)
        }

        var takesBF16: Bool { m > 0 && n > 0 && k > 0 && (aRow == 1 || aCol == 1) && (bRow == 1 || bCol == 1) }
    }

    /// `multiply` on each product in turn (the fp32 form of `multiplyGroup` and `multiplySum`).
    func multiplyEach(_ p0: Product, _ p1: Product, _ p2: Product?) {
        func run(_ p: Product) {
            multiply(m: p.m, n: p.n, k: p.k, a: p.a, aRow: p.aRow, aCol: p.aCol, b: p.b, bRow: p.bRow, bCol: p.bCol,
                     c: p.c, ldc: p.ldc, accumulate: p.accumulate)
        }
        run(p0)
        run(p1)
        if let p2 { run(p2) }
    }

    /// Two or three products of which all share one operand: the same A (`sharedA`: a
    /// layer's q/k/v or gate/up products of one input) or the same B (their weight
    /// gradients, over that input). Each C is what `multiply` gives for its product alone.
    /// With `.bf16`, the shared operand is rounded once, and the roundings, then the
    /// products, of all of them each run as one parallel loop (two wake-ups of the pool
    /// instead of two per product); fp32 runs `multiply` on each in turn.
    public func multiplyGroup(_ p0: Product, _ p1: Product, _ p2: Product?, sharedA: Bool) {
        guard precision == .bf16, p0.takesBF16, p1.takesBF16, p2?.takesBF16 ?? true else {
            multiplyEach(p0, p1, p2)
            return
        }
        @inline(__always) func shares(_ p: Product) -> Bool {
            sharedA ? p.a == p0.a && p.aRow == p0.aRow && p.aCol == p0.aCol && p.m == p0.m && p.k == p0.k
                : p.b == p0.b && p.bRow == p0.bRow && p.bCol == p0.bCol && p.n == p0.n && p.k == p0.k
        }
        precondition(shares(p1) && (p2.map(shares) ?? true), "multiplyGroup: the products do not share their \(sharedA ? "A" : "B")")
        multiplyBF16(p0, p1, p2, count: p2 == nil ? 2 : 3, shareA: sharedA, shareB: !sharedA, reuseA: false)
    }

    /// Two or three products into the same C, in order (`p1` and `p2` accumulate onto what
    /// the ones before wrote: the input gradient of a layer's q/k/v or gate/up weights):
    /// C is what `multiply` on each in turn gives. With `.bf16`, the roundings of all the
    /// operands, then the products, each run as one parallel loop, each task taking its
    /// block of C through every product in turn; fp32 runs `multiply` on each in turn.
    public func multiplySum(_ p0: Product, _ p1: Product, _ p2: Product?) {
        guard precision == .bf16, p0.takesBF16, p1.takesBF16, p2?.takesBF16 ?? true else {
            multiplyEach(p0, p1, p2)
            return
        }
        @inline(__always) func adds(_ p: Product) -> Bool { p.c == p0.c && p.ldc == p0.ldc && p.m == p0.m && p.n == p0.n && p.accumulate }
        precondition(adds(p1) && (p2.map(adds) ?? true), "multiplySum: the later products must accumulate onto the first's C")
        multiplyBF16(p0, p1, p2, count: p2 == nil ? 2 : 3, shareA: false, shareB: false, reuseA: false, sum: true)
    }

    /// Where one product of `multiplyBF16` finds its rounded operands, and its share of the
    /// two parallel loops.
    private struct BF16Job {
        var p: Product
        var pairs = 0, tiles = 0, strips = 0
        var wordsA = 0, wordsB = 0
        var aChunks = 0, bTiles = 0
        var convertEnd = 0, computeEnd = 0
        init(_ p: Product) { self.p = p }
    }

    /// `multiply` with bfloat16 products summed in fp32 (`TrainingPrecision.bf16`) for one
    /// to three products (`count`; `shareA`/`shareB`: products 1 and 2 have product 0's A or
    /// B): A and B rounded to bfloat16 pairs once (CKernels/TrainingBF16.c; product 0's
    /// A kept from the previous call with `reuseA`), then the BF16 prompt kernel's
    /// micro-kernels (`swiftllama_gemm_bf16`, 256-bit) over tasks of 96 rows × 32 columns of
    /// a C, each written by one task (sums in a fixed order: the same bits whatever the
    /// thread count or grouping).
    private func multiplyBF16(_ p0: Product, _ p1: Product?, _ p2: Product?, count: Int, shareA: Bool, shareB: Bool,
                              reuseA: Bool, sum: Bool = false) {
        let nr = gemmPanelRows
        let aChunk = 64
        let stripRows = StridedGEMM.bf16StripRows
        var jobs = (BF16Job(p0), BF16Job(p1 ?? p0), BF16Job(p2 ?? p0))
        let signatureA = BF16Operand(base: p0.a, row: p0.aRow, column: p0.aCol, m: p0.m, k: p0.k)
        var convertA = !(reuseA && roundedA == signatureA)
        // Word offsets of each product's operands (a shared one: product 0's).
        var needA = 0, needB = 0
        func place(_ j: inout BF16Job, _ i: Int) {
            j.pairs = (j.p.k + 1) / 2
            j.tiles = (j.p.n + nr - 1) / nr
            j.strips = (j.p.m + stripRows - 1) / stripRows
            if i == 0 || !shareA { j.wordsA = needA; needA += j.p.m * j.pairs } else { j.wordsA = 0 }
            if i == 0 || !shareB { j.wordsB = needB; needB += j.tiles * nr * j.pairs } else { j.wordsB = 0 }
        }
        place(&jobs.0, 0); place(&jobs.1, 1); place(&jobs.2, 2)
        if needA > wordsACapacity {
            wordsA.deallocate()
            wordsACapacity = needA
            wordsA = .allocate(capacity: needA)
            convertA = true
        }
        if needB > wordsBCapacity {
            wordsB.deallocate()
            wordsBCapacity = needB
            wordsB = .allocate(capacity: needB)
        }
        roundedA = signatureA
        var converts = 0, computes = 0
        func share(_ j: inout BF16Job, _ i: Int) {
            if i < count {
                j.aChunks = (i == 0 ? convertA : !shareA) ? (j.p.m + aChunk - 1) / aChunk : 0
                j.bTiles = i == 0 || !shareB ? j.tiles : 0
                converts += j.aChunks + j.bTiles
                // `sum`: the tasks are product 0's blocks of C, each through every product.
                if i == 0 || !sum { computes += j.strips * j.tiles }
            }
            j.convertEnd = converts
            j.computeEnd = computes
        }
        share(&jobs.0, 0); share(&jobs.1, 1); share(&jobs.2, 2)
        let list = jobs
        let xa = wordsA, pb = wordsB
        @inline(__always) func job(_ i: Int) -> BF16Job { i == 0 ? list.0 : i == 1 ? list.1 : list.2 }
        if converts > 0 {
            pool.parallelFor(converts) { t in
                var i = 0
                while t >= job(i).convertEnd { i += 1 }
                let j = job(i), p = j.p
                let u = t - (i == 0 ? 0 : job(i - 1).convertEnd)
                if u < j.bTiles {
                    swiftllama_train_pack_bf16_b(p.b, p.bRow, p.bCol, Int32(p.k), Int32(u * nr), Int32(min(nr, p.n - u * nr)),
                                                 pb + j.wordsB + u * nr * j.pairs)
                } else {
                    let i0 = (u - j.bTiles) * aChunk
                    swiftllama_train_bf16_a(p.a, p.aRow, p.aCol, Int32(i0), Int32(min(aChunk, p.m - i0)), Int32(p.k),
                                            xa + j.wordsA + i0 * j.pairs, j.pairs)
                }
            }
        }
        let scratch = bf16Scratch
        let width = BF16GEMMWidth.bits256.rawValue
        pool.runChunked(computes, chunk: 1) { worker, range in
            for task in range {
                var i = 0
                while task >= job(i).computeEnd { i += 1 }
                let u = task - (i == 0 ? 0 : job(i - 1).computeEnd)
                let s = u / job(i).tiles, t = u % job(i).tiles
                for product in i..<(sum ? count : i + 1) {
                    let j = job(product), p = j.p
                    let i0 = s * stripRows, rows = min(stripRows, p.m - i0)
                    let j0 = t * nr, cols = min(nr, p.n - j0)
                    let tile = pb + j.wordsB + t * nr * j.pairs, x = xa + j.wordsA + i0 * j.pairs
                    if p.accumulate {
                        let tmp = scratch + worker * stripRows * nr
                        swiftllama_gemm_bf16(width, tile, Int32(j.pairs), x, j.pairs, Int32(rows), tmp, nr, Int32(cols))
                        for r in 0..<rows { addInPlace(p.c + (i0 + r) * p.ldc + j0, tmp + r * nr, count: cols) }
                    } else {
                        swiftllama_gemm_bf16(width, tile, Int32(j.pairs), x, j.pairs, Int32(rows), p.c + i0 * p.ldc + j0, p.ldc, Int32(cols))
                    }
                }
            }
        }
    }

    /// `multiply` on the calling thread only, for products inside an already parallel task
    /// (attention heads). `packBuffer` needs `k × (n rounded up to 32)` floats.
    public static func multiplySerial(m: Int, n: Int, k: Int,
                                      a: UnsafePointer<Float>, aRow: Int, aCol: Int,
                                      b: UnsafePointer<Float>, bRow: Int, bCol: Int,
                                      c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool,
                                      packBuffer: UnsafeMutablePointer<Float>) {
        let panels = (n + nr - 1) / nr
        for panel in 0..<panels {
            packPanel(panel, n: n, k: k, b: b, bRow: bRow, bCol: bCol, into: packBuffer)
        }
        strips(0, (m + gemmTokens - 1) / gemmTokens, m: m, n: n, k: k, a: a, aRow: aRow, aCol: aCol,
               packedB: packBuffer, c: c, ldc: ldc, accumulate: accumulate)
    }

    /// Packs panel `panel` of B (k rows × 32 columns, zero-padded) at `dst + panel·32·k`:
    /// row p of the panel at `p·32`, so a block of `kc` rows from p0 is what `gemmTile` reads.
    @inline(__always)
    static func packPanel(_ panel: Int, n: Int, k: Int, b: UnsafePointer<Float>, bRow: Int, bCol: Int,
                          into packed: UnsafeMutablePointer<Float>) {
        let j0 = panel * nr
        let width = min(nr, n - j0)
        let dst = packed + panel * nr * k
        if width < nr { dst.update(repeating: 0, count: nr * k) }
        if bCol == 1 {
            for p in 0..<k { (dst + p * nr).update(from: b + p * bRow + j0, count: width) }
        } else {
            for jj in 0..<width {
                var d = dst + jj
                var s = b + (j0 + jj) * bCol
                for _ in 0..<k {
                    d.pointee = s.pointee
                    d += nr
                    s += bRow
                }
            }
        }
    }

    /// Rows `6·s0 ..< 6·s1` of C against the packed B, block of `gemmKc` by block.
    static func strips(_ s0: Int, _ s1: Int, m: Int, n: Int, k: Int,
                       a: UnsafePointer<Float>, aRow: Int, aCol: Int, packedB pb: UnsafePointer<Float>,
                       c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool) {
        let panels = (n + nr - 1) / nr
        // A copy of A's strip only when its rows and columns are both strided (a transposed
        // A is read in place by `gemmTileTransposedA`).
        if aCol != 1 && aRow != 1 {
            withUnsafeTemporaryAllocation(of: Float.self, capacity: gemmTokens * gemmKc) { scratch in
                body(scratch.baseAddress)
            }
        } else {
            body(nil)
        }
        func body(_ strip: UnsafeMutablePointer<Float>?) {
            var p0 = 0
            while p0 < k {
                let kc = min(gemmKc, k - p0)
                let add = accumulate || p0 > 0
                for s in s0..<s1 {
                    let i0 = s * gemmTokens
                    let rows = min(gemmTokens, m - i0)
                    if aRow == 1 && aCol != 1 {
                        // A's columns are contiguous (a transposed operand: dYᵀ in the weight
                        // gradient, Pᵀ and dSᵀ in attention): the 6 rows of one k are adjacent.
                        let x = a + i0 + p0 * aCol
                        for panel in 0..<panels {
                            let j0 = panel * nr
                            gemmTileTransposedA(pb + panel * nr * k + p0 * nr, x, lda: aCol, c + i0 * ldc + j0, ldo: ldc,
                                                kc: kc, tokens: rows, rows: min(nr, n - j0), accumulate: add)
                        }
                        continue
                    }
                    var x = a + i0 * aRow + p0
                    var ldx = aRow
                    if aCol != 1, let strip {
                        // A(i0..<i0+rows, p0..<p0+kc) as rows of kc.
                        for r in 0..<rows {
                            var src = a + (i0 + r) * aRow + p0 * aCol
                            let d = strip + r * kc
                            for q in 0..<kc {
                                d[q] = src.pointee
                                src += aCol
                            }
                        }
                        x = UnsafePointer(strip)
                        ldx = kc
                    }
                    for panel in 0..<panels {
                        let j0 = panel * nr
                        gemmTile(pb + panel * nr * k + p0 * nr, x, ldx: ldx, c + i0 * ldc + j0, ldo: ldc,
                                 kc: kc, tokens: rows, rows: min(nr, n - j0), accumulate: add)
                    }
                }
                p0 += kc
            }
        }
    }

    /// `gemmTile` with the tokens of one k adjacent (`x[k·lda + t]`) instead of each token's
    /// row contiguous: the same products summed in the same order, so the same bits as
    /// `gemmTile` on a transposed copy, without the copy (training only; inference keeps
    /// `gemmTile`).
    @inline(__always)
    static func gemmTileTransposedA(_ panel: UnsafePointer<Float>, _ x: UnsafePointer<Float>, lda: Int,
                                    _ out: UnsafeMutablePointer<Float>, ldo: Int, kc: Int, tokens: Int, rows: Int,
                                    accumulate: Bool) {
        typealias V = SIMD16<Float>
        var c = (V(), V(), V(), V(), V(), V(), V(), V(), V(), V(), V(), V())
        let p = UnsafeRawPointer(panel)
        if tokens == gemmTokens {
            var xk = x
            for k in 0..<kc {
                let b0 = p.loadUnaligned(fromByteOffset: 128 * k, as: V.self)
                let b1 = p.loadUnaligned(fromByteOffset: 128 * k + 64, as: V.self)
                var s = V(repeating: xk[0])
                c.0.addProduct(s, b0); c.1.addProduct(s, b1)
                s = V(repeating: xk[1])
                c.2.addProduct(s, b0); c.3.addProduct(s, b1)
                s = V(repeating: xk[2])
                c.4.addProduct(s, b0); c.5.addProduct(s, b1)
                s = V(repeating: xk[3])
                c.6.addProduct(s, b0); c.7.addProduct(s, b1)
                s = V(repeating: xk[4])
                c.8.addProduct(s, b0); c.9.addProduct(s, b1)
                s = V(repeating: xk[5])
                c.10.addProduct(s, b0); c.11.addProduct(s, b1)
                xk += lda
            }
        } else {
            for t in 0..<tokens {
                var s0 = V(), s1 = V()
                for k in 0..<kc {
                    let s = V(repeating: x[k * lda + t])
                    s0.addProduct(s, p.loadUnaligned(fromByteOffset: 128 * k, as: V.self))
                    s1.addProduct(s, p.loadUnaligned(fromByteOffset: 128 * k + 64, as: V.self))
                }
                switch t {
                case 0: c.0 = s0; c.1 = s1
                case 1: c.2 = s0; c.3 = s1
                case 2: c.4 = s0; c.5 = s1
                case 3: c.6 = s0; c.7 = s1
                default: c.8 = s0; c.9 = s1
                }
            }
        }
        @inline(__always) func store(_ t: Int, _ v0: V, _ v1: V) {
            storeTileRow(out, ldo: ldo, token: t, tokens: tokens, rows: rows, accumulate: accumulate, v0, v1)
        }
        store(0, c.0, c.1); store(1, c.2, c.3); store(2, c.4, c.5)
        store(3, c.6, c.7); store(4, c.8, c.9); store(5, c.10, c.11)
    }

    /// `y[rows×out] = x[rows×in] · wᵀ` with `w` of shape out×in (a linear layer).
    /// `sameInput`: x is the previous `linear`'s, unchanged (see `multiply`'s `reuseA`).
    public func linear(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                       rows: Int, inDim: Int, outDim: Int, sameInput: Bool = false) {
        multiply(m: rows, n: outDim, k: inDim, a: x, aRow: inDim, aCol: 1,
                 b: w, bRow: 1, bCol: inDim, c: y, ldc: outDim, accumulate: false, reuseA: sameInput)
    }

    /// `dx (+)= dy · w`: the input gradient of a linear layer.
    public func linearBackwardInput(_ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                    rows: Int, inDim: Int, outDim: Int, accumulate: Bool) {
        multiply(m: rows, n: inDim, k: outDim, a: dy, aRow: outDim, aCol: 1,
                 b: w, bRow: inDim, bCol: 1, c: dx, ldc: inDim, accumulate: accumulate)
    }

    /// `dw += dyᵀ · x`: the weight gradient of a linear layer, accumulated.
    public func linearBackwardWeight(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
                                     rows: Int, inDim: Int, outDim: Int) {
        let p = StridedGEMM.weightGradient(dy, x, dw, rows: rows, inDim: inDim, outDim: outDim)
        multiply(m: p.m, n: p.n, k: p.k, a: p.a, aRow: p.aRow, aCol: p.aCol, b: p.b, bRow: p.bRow, bCol: p.bCol,
                 c: p.c, ldc: p.ldc, accumulate: p.accumulate)
    }

    /// `linearBackwardInput`'s product, for `multiplySum` (the input gradients of several
    /// weights over the same x, summed).
    public static func inputGradient(_ dy: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
                                     rows: Int, inDim: Int, outDim: Int, accumulate: Bool) -> Product {
        Product(m: rows, n: inDim, k: outDim, a: dy, aRow: outDim, aCol: 1, b: w, bRow: inDim, bCol: 1,
                c: dx, ldc: inDim, accumulate: accumulate)
    }

    /// `linear`'s product, for `multiplyGroup` (several weights over the same x: `sharedA`).
    public static func linearProduct(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                     rows: Int, inDim: Int, outDim: Int) -> Product {
        Product(m: rows, n: outDim, k: inDim, a: x, aRow: inDim, aCol: 1, b: w, bRow: 1, bCol: inDim,
                c: y, ldc: outDim, accumulate: false)
    }

    /// `linearBackwardWeight`'s product, for `multiplyGroup` (the weight gradients of several
    /// weights over the same x: `sharedA: false`, B shared).
    public static func weightGradient(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ dw: UnsafeMutablePointer<Float>,
                                      rows: Int, inDim: Int, outDim: Int) -> Product {
        Product(m: outDim, n: inDim, k: rows, a: dy, aRow: 1, aCol: outDim, b: x, bRow: inDim, bCol: 1,
                c: dw, ldc: inDim, accumulate: true)
    }
}
