import CKernels
#if canImport(Glibc)
import Glibc
#endif

// Row-interleaved weights for generation. The plain matrix-vector kernels dot one row at a
// time: per row and block of 32 they load, unpack, multiply, convert the products and the
// scale to floats and sum, then reduce the row's vector to a scalar. That work, not memory,
// bounded generation (Q4_0 streamed 10–14 GB/s per thread of the machine's 32). Repacked
// once at load so that 8 rows share every step (CKernels.h, "R8"): one activation broadcast
// feeds one product for 8 rows, the 8 sums stay in the lanes of one vector, one conversion
// gives the 8 scales, and Q4_0's offset is computed once per block for all 8 rows. The same
// kernel takes 1…8 tokens, each block unpacked once for all of them (parallel sequences).

/// False when `LLAMA_REPACK=0` is set: weights keep the checkpoint's plain layout (to
/// compare the two; results agree within float reassociation).
public let repackEnabled: Bool = {
    guard let v = getenv("LLAMA_REPACK") else { return true }
    return String(cString: v) != "0"
}()

/// True when a `WeightTensor`'s `owner` keeps its bytes in a read-only memory map of a file
/// (GGUF, safetensors, any `MappedFile`): pages there can be dropped and are read again
/// from the file if touched. In-memory buffers (converted tensors) are not.
public func isReadOnlyFileMapping(_ owner: AnyObject) -> Bool {
    owner is MappedFile || owner is GGUFFile || (owner as? SafetensorsFile)?.owner is MappedFile
}

/// Up to this many tokens a row-interleaved matrix goes through its matrix-vector kernel
/// (8 tokens per call); beyond, through `gemm` (which reads the layout when it packs).
public let interleavedMaxTokens = 8

/// Up to this many tokens (a short prompt, a chat turn, a few parallel prompts), a
/// row-interleaved product runs its matrix-vector kernel over consecutive runs of
/// `interleavedMaxTokens` tokens instead of `gemm`: `gemm` first converts every block of the
/// matrix into its packed panels, a cost that a 512-token prompt shares out but that made a
/// 12-token prompt cost as much as ~100 (1B Q4_0 model, AMD EPYC Zen 4). Each token's
/// result is what it would get in a run of 8. `LLAMA_R8_RUNS_MAX_TOKENS=N` changes the limit
/// (0: always `gemm` beyond 8 tokens), to measure the crossover on another CPU.
public let interleavedRunsMaxTokens: Int = {
    guard let v = getenv("LLAMA_R8_RUNS_MAX_TOKENS"), let n = Int(String(cString: v)), n >= 0 else { return 64 }
    return n
}()

/// True when `repackForMatvec` would repack `view` for `kernels`: the layout is on, the set
/// has SIMD kernels for it (not the generic set), and the rows split into groups of 8.
public func repacks(_ view: MatrixView, kernels: KernelSet = .selected) -> Bool {
    repackEnabled && kernels.name != "generic" && view.layout == .plain && kernels.hasInterleavedKernel(view.type)
        && swiftllama_r8_supports(Int32(view.type.rawValue)) != 0
        && view.rows >= 8 && view.rows % 8 == 0 && view.columns % view.type.interleavedColumns == 0
}

/// `view` in the row-interleaved layout of its type, in memory of its own, for every kernel
/// that reads it (generation, batches of parallel sequences, prompts' GEMMs, row lookups);
/// `view` itself when `repacks(view)` is false. With `releasingSource` (the plain bytes are
/// a read-only file mapping), the source pages are dropped from this process once copied,
/// so the weights stay resident once, not twice: a later read of the checkpoint's tensor
/// faults them in again from the file.
public func repackForMatvec(_ view: MatrixView, releasingSource: Bool, parallel: ParallelFor = .serial,
                            kernels: KernelSet = .selected) -> MatrixView {
    guard repacks(view, kernels: kernels), let repacked = view.rowInterleaved(parallel: parallel) else { return view }
    if releasingSource {
        let bytes = view.rows * view.rowBytes
        // Whole pages inside the matrix only: a page shared with a neighbour stays.
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: view.base) + page - 1) / page * page
        let end = (Int(bitPattern: view.base) + bytes) / page * page
        if end > start, let p = UnsafeMutableRawPointer(bitPattern: start) {
            _ = madvise(p, end - start, MADV_DONTNEED)
        }
    }
    return repacked
}

extension MatrixView {
    /// This plain matrix in the row-interleaved layout, in memory of its own, whatever the
    /// kernel set and `LLAMA_REPACK` (tests; the model goes through `repackForMatvec`); nil
    /// when the type has no such layout or the rows do not split into groups of 8.
    public func rowInterleaved(parallel: ParallelFor = .serial) -> MatrixView? {
        let block = type.blockLayout.elements
        guard layout == .plain, swiftllama_r8_supports(Int32(type.rawValue)) != 0, rows >= 8, rows % 8 == 0,
              columns % type.interleavedColumns == 0,
              let storage = AnonymousMemory(bytes: rows * rowBytes) else { return nil }
        // Blocks of the type's own size: 32 elements (Q4_0, Q8_0, …), 256 (K-quants, IQ4_XS).
        let typeID = Int32(type.rawValue), blocks = Int32(columns / block), groupBytes = 8 * rowBytes
        parallel.runChunked(rows / 8, chunk: 64) { _, range in
            let offset = range.lowerBound * groupBytes
            swiftllama_repack_r8(typeID, base + offset, storage.base + offset, Int32(range.count), blocks)
        }
        return MatrixView(type: type, rows: rows, columns: columns, base: UnsafeRawPointer(storage.base),
                          layout: .rowInterleaved8, storage: storage)
    }
}

extension GGMLType {
    /// The row-interleaved layout's unit of columns: the block (32 or 256 elements) of the
    /// quantized types; a pair of columns for F16 and BF16 (CKernels/include/RepackHalf.h).
    var interleavedColumns: Int { self == .f16 || self == .bf16 ? 2 : blockLayout.elements }
}

/// `out[t, r] = W[r] · x[t]` for up to `interleavedMaxTokens` tokens over a row-interleaved
/// matrix: the activations quantized per 32 (with each block's sum, which the weights'
/// offset multiplies), then each chunk of row groups meets up to 8 tokens per kernel call.
func matvecInterleaved(_ w: MatrixView, _ x: UnsafePointer<Float>, tokens: Int, _ out: UnsafeMutablePointer<Float>,
                       parallel: ParallelFor, kernels: KernelSet = .selected) {
    var one = (w: w, out: out)
    withUnsafePointer(to: &one) { p in
        matvecInterleaved(UnsafeBufferPointer(start: p, count: 1), x, tokens: tokens, parallel: parallel, kernels: kernels)
    }
}

/// `outs[i][t, r] = Wᵢ[r] · x[t]` for row-interleaved matrices of the same width that read
/// the same input (a layer's wq, wk and wv; its gate and up): the activations are quantized
/// once for all of them, and one parallel loop hands out every matrix's chunks of row groups,
/// so the cores meet once instead of once per matrix. Each output is what
/// `matvecInterleaved` gives for its matrix alone, bit for bit.
func matvecInterleaved(_ products: UnsafeBufferPointer<(w: MatrixView, out: UnsafeMutablePointer<Float>)>,
                       _ x: UnsafePointer<Float>, tokens: Int, parallel: ParallelFor, kernels: KernelSet = .selected) {
    guard let cols = products.first?.w.columns else { return }
    let blocks = cols / 32
    let groupsPerChunk = matvecChunkRows / 8
    // Chunks never cross matrices: matrix i owns chunks firstChunk[i] ..< firstChunk[i + 1].
    // The tables live on the stack and the activations in the thread's scratch: nothing is
    // allocated per call. F16 / BF16 matrices read the fp32 activations as they are; the
    // quantized ones their int8 copy, made only when some matrix of the call needs it.
    withUnsafeTemporaryAllocation(of: Int.self, capacity: products.count + 1) { firstChunk in
        withUnsafeTemporaryAllocation(of: KernelSet.MatvecR8?.self, capacity: products.count) { chosen in
            withUnsafeTemporaryAllocation(of: KernelSet.HalfMatvecR8?.self, capacity: products.count) { chosenHalf in
                firstChunk[0] = 0
                var quantized = false
                for (i, (w, _)) in products.enumerated() {
                    let kernel = kernels.matvecR8[w.type], half = kernels.matvecHalfR8[w.type]
                    guard w.columns == cols, kernel != nil || half != nil else {
                        preconditionFailure("no row-interleaved kernel for \(w.type.name) in set \(kernels.name), or widths differ")
                    }
                    chosen.initializeElement(at: i, to: kernel)
                    chosenHalf.initializeElement(at: i, to: half)
                    quantized = quantized || kernel != nil
                    firstChunk[i + 1] = firstChunk[i] + (w.rows / 8 + groupsPerChunk - 1) / groupsPerChunk
                }
                func run(_ values: UnsafeMutablePointer<Int8>?, _ scales: UnsafeMutablePointer<Float>?,
                         _ sums: UnsafeMutablePointer<Int32>?) {
                    parallel.runChunked(firstChunk[products.count], chunk: 1) { _, range in
                        var i = 0
                        for c in range {
                            while c >= firstChunk[i + 1] { i += 1 }
                            let (w, out) = products[i], rows = w.rows
                            let g0 = (c - firstChunk[i]) * groupsPerChunk
                            let count = min(groupsPerChunk, rows / 8 - g0)
                            let groupBase = w.base + g0 * 8 * w.rowBytes
                            if let half = chosenHalf[i] {
                                half(groupBase, Int32(count), Int32(cols), x, cols, Int32(tokens), out + 8 * g0, rows)
                                continue
                            }
                            guard let kernel = chosen[i], let values, let scales, let sums else { continue }
                            var t0 = 0
                            while t0 < tokens {
                                let n = min(8, tokens - t0)
                                kernel(groupBase, Int32(count), Int32(blocks), values + t0 * cols, scales + t0 * blocks,
                                       sums + t0 * blocks, Int32(n), out + t0 * rows + 8 * g0, rows)
                                t0 += n
                            }
                        }
                    }
                }
                if quantized {
                    withActivationScratch(tokens: tokens, columns: cols, scaleCount: blocks, sumCount: blocks, sum: Int32.self) {
                        values, scales, sums in
                        for t in 0..<tokens {
                            kernels.quantizeQ8(x + t * cols, values + t * cols, scales + t * blocks, Int32(blocks))
                            swiftllama_block_sums(values + t * cols, Int32(blocks), sums + t * blocks)
                        }
                        run(values, scales, sums)
                    }
                } else {
                    run(nil, nil, nil)
                }
            }
        }
    }
}

extension LlamaModel {
    /// How many weight matrices the kernels read row-interleaved, e.g. "row-interleaved:
    /// 113 of 113 matrices (Q4_0), kernels avx512-256" or "plain (LLAMA_REPACK=0)".
    public var weightLayoutSummary: String {
        var all: [MatrixView] = [embedding]
        if output.base != embedding.base { all.append(output) }  // a tied output is the embedding
        if let pe = positionEmbedding { all.append(pe) }
        for l in layers {
            all += [l.wq, l.wk, l.wv, l.wo]
            switch l.feedForward {
            case let .dense(f): all += [f.w2, f.w3] + (f.w1.map { [$0] } ?? [])
            case let .experts(router, experts, _):
                all.append(router)
                for f in experts { all += [f.w2, f.w3] + (f.w1.map { [$0] } ?? []) }
            }
        }
        let repacked = all.filter { $0.layout == .rowInterleaved8 }
        let types = Set(repacked.map(\.type.name)).sorted().joined(separator: ", ")
        let why = !repackEnabled ? " (LLAMA_REPACK=0)" : KernelSet.selected.name == "generic" ? " (generic kernels)" : ""
        if repacked.isEmpty { return "plain" + why }
        return "row-interleaved: \(repacked.count) of \(all.count) matrices (\(types)), kernels \(KernelSet.selected.name)"
    }
}
