import Foundation

// Model-parallel inference as Meta's original Llama code runs it (fairscale's layers), one
// rank per slice of every layer:
//
//   column-parallel (each rank its rows):     wq, wk, wv (+ biases), w1, w3 (+ GPT-2's up bias),
//                                             the output (by vocabulary, logits all-gathered)
//   row-parallel (each rank its columns):     wo, w2; their partial outputs are summed over
//                                             the ranks (all-reduce) before bias and residual
//   replicated:                               norms, output biases, positions, the residual,
//                                             a mixture's router (each expert is split like a
//                                             feed-forward: one all-reduce per expert used)
//
// Rank r takes query heads [r·H/N, (r+1)·H/N) and feed-forward rows [r·F/N, (r+1)·F/N). Its
// query heads read key/value heads [r·KV/N, …) when N divides KV; with fewer key/value heads
// than ranks (N a multiple of KV) each rank keeps the one head its query heads read, so that
// head is computed on several ranks. The attention itself is then local: only the two sums
// per layer and the logits cross ranks.
//
// Where the weights come from:
//   - a Meta directory of N shards: rank r maps consolidated.0r.pth only (MetaCheckpoint with
//     `shard`), whose tensors already are its slices, except the embedding (Meta splits it by
//     columns, ParallelEmbedding, or by rows, VocabParallelEmbedding: gathered per token) and
//     wk/wv when KV < N (the shards split the head's rows: gathered at load, bytes as stored);
//   - anything else (GGUF, Hugging Face, a single file): the full tensors are sliced at load,
//     the rank's rows or columns copied out of the map, and the map's pages of the tensor then
//     released (madvise), so a rank's resident weights are its slices. A column slice of a
//     quantized type must start and end on the type's blocks. The embedding stays in the map
//     (a lookup reads one row); a tied output is the rank's rows of it.

/// This process's part of a model split across `size` ranks (Meta's model parallelism).
public struct TensorParallel: Sendable, Equatable, CustomStringConvertible {
    public let rank: Int
    public let size: Int

    public init(rank: Int, size: Int) {
        self.rank = rank
        self.size = size
    }

    /// The part of this communicator's rank.
    public init(_ communicator: any Communicator) {
        self.init(rank: communicator.rank, size: communicator.size)
    }

    public var description: String { "rank \(rank) of \(size)" }

    /// Rank counts that can split `c`: they divide the query heads and the feed-forward size,
    /// and divide the key/value heads or are a multiple of them.
    public static func validSizes(_ c: ModelConfig) -> [Int] {
        guard c.headCount > 0 else { return [1] }
        return (1...c.headCount).filter { n in
            c.headCount % n == 0 && c.hiddenDim % n == 0 && (c.kvHeadCount % n == 0 || n % c.kvHeadCount == 0)
        }
    }

    /// The configuration of this rank's slice of `full`: heads, key/value heads and the
    /// feed-forward size divided by the ranks (the vocabulary, dim and head size stay), so
    /// every buffer the forward pass allocates (`RunState`, `KVCache`) is this rank's.
    public func localConfig(_ full: ModelConfig) throws -> ModelConfig {
        guard size > 1 else { return full }
        let advice = "use mpirun -np with one of \(TensorParallel.validSizes(full).map(String.init).joined(separator: ", "))"
        guard full.headCount % size == 0 else {
            throw DistributedError.indivisible(what: "the model's query head count", value: full.headCount, ranks: size, advice: advice)
        }
        guard full.hiddenDim % size == 0 else {
            throw DistributedError.indivisible(what: "the model's feed-forward size", value: full.hiddenDim, ranks: size, advice: advice)
        }
        guard full.kvHeadCount % size == 0 || size % full.kvHeadCount == 0 else {
            throw DistributedError.indivisible(what: "the model's key/value head count (nor a multiple of it)", value: full.kvHeadCount,
                                               ranks: size, advice: advice)
        }
        var c = full
        let headDim = full.headDim
        c.headCount = full.headCount / size
        c.kvHeadCount = full.kvHeadCount % size == 0 ? full.kvHeadCount / size : 1
        c.hiddenDim = full.hiddenDim / size
        c.headDim = headDim
        return c
    }

    /// This rank's query rows (heads × head size) of `full`.
    func queryRows(_ full: ModelConfig) -> Range<Int> {
        let n = full.queryDim / size
        return rank * n..<(rank + 1) * n
    }

    /// The key/value rows this rank's query heads read: its share of the key/value heads, or
    /// the one head they all read when there are fewer such heads than ranks.
    func keyValueRows(_ full: ModelConfig) -> Range<Int> {
        let localHeads = full.headCount / size, groupSize = full.headCount / full.kvHeadCount
        let first = rank * localHeads / groupSize
        let count = full.kvHeadCount % size == 0 ? full.kvHeadCount / size : 1
        return first * full.headDim..<(first + count) * full.headDim
    }

    /// This rank's feed-forward rows.
    func hiddenRows(_ full: ModelConfig) -> Range<Int> {
        let n = full.hiddenDim / size
        return rank * n..<(rank + 1) * n
    }

    /// This rank's vocabulary rows of the output, nil when the vocabulary does not split
    /// evenly (the output is then replicated).
    func vocabularyRows(_ full: ModelConfig) -> Range<Int>? {
        guard full.vocabSize % size == 0 else { return nil }
        let n = full.vocabSize / size
        return rank * n..<(rank + 1) * n
    }
}

/// How a tensor of the full model is cut for one rank.
enum TensorSplit: Equatable {
    case whole
    /// Rows of a matrix, elements of a vector.
    case rows(Range<Int>)
    case columns(Range<Int>)

    func apply(to shape: [Int]) -> [Int] {
        switch self {
        case .whole: return shape
        case let .rows(r): return [r.count] + shape.dropFirst()
        case let .columns(r): return shape.count == 2 ? [shape[0], r.count] : shape
        }
    }
}

/// The tensors of one rank's slice of a model, and the collectives of the forward pass
/// that are not plain sums (embedding lookup and logits of a split table). With one rank
/// it hands out the checkpoint's tensors unchanged.
final class ModelShards: @unchecked Sendable {
    let checkpoint: any Checkpoint
    let communicator: any Communicator
    let part: TensorParallel
    /// The whole model's configuration, and this rank's (see `TensorParallel.localConfig`).
    let full: ModelConfig
    let local: ModelConfig
    /// True when the checkpoint holds only this rank's slices (a Meta shard).
    let preSliced: Bool
    /// Slices copied out of the checkpoint, alive as long as the model.
    private var owners: [OwnedBuffer] = []

    var size: Int { part.size }

    init(checkpoint: any Checkpoint, communicator: any Communicator) throws {
        self.checkpoint = checkpoint
        self.communicator = communicator
        part = TensorParallel(communicator)
        full = checkpoint.config
        let path = checkpoint.path
        if let shard = checkpoint.modelParallelShard, shard != part {
            throw DistributedError.shardCount(path: path, shards: shard.size, ranks: part.size)
        }
        preSliced = checkpoint.modelParallelShard != nil && part.size > 1
        guard part.size > 1 else {
            local = full
            return
        }
        // Ranks must read the same model: its configuration, stored types and (for a file) size.
        var f = Fingerprint()
        f.add("\(full)")
        for name in [TensorName.embedding, TensorName.wq(0), TensorName.w2(0)] {
            if let t = try? checkpoint.tensor(name) { f.add("\(name) \(t.type.name)") }
        }
        if let attributes = try? FileManager.default.attributesOfItem(atPath: path), attributes[.type] as? FileAttributeType == .typeRegular,
           let size = attributes[.size] as? Int {
            f.add("\(size) bytes")  // a file's (a directory's size depends on its filesystem)
        }
        try communicator.checkAgreement(f.value, "model (--model: another file, or another configuration)")
        local = try part.localConfig(full)
    }

    /// How this rank cuts the full model's tensor of `role`.
    func split(_ role: TensorRole) -> TensorSplit {
        guard size > 1 else { return .whole }
        switch role {
        case .wq, .wqBias: return .rows(part.queryRows(full))
        case .wk, .wv, .wkBias, .wvBias: return .rows(part.keyValueRows(full))
        case .wo: return .columns(part.queryRows(full))
        case .gate, .up, .upBias, .expertGate, .expertUp: return .rows(part.hiddenRows(full))
        case .down, .expertDown: return .columns(part.hiddenRows(full))
        case .output: return part.vocabularyRows(full).map { .rows($0) } ?? .whole
        default: return .whole
        }
    }

    /// The shape this rank's tensor of `role` has, for a tensor of `shape` in the full model.
    func localShape(_ role: TensorRole, full shape: [Int]) -> [Int] {
        guard size > 1 else { return shape }
        if role == .tokenEmbedding && preSliced, let t = try? checkpoint.tensor(role.canonicalName()) {
            return t.shape  // by columns or by rows, as the shard has it (checked in `embed`)
        }
        return split(role).apply(to: shape)
    }

    /// This rank's slice of tensor `name` (a canonical name); `tiedOutput` takes the output's
    /// slice of the embedding table.
    func tensor(_ name: String, asOutput tiedOutput: Bool = false) throws -> WeightTensor {
        let t = try checkpoint.tensor(name)
        guard size > 1 else { return t }
        guard let role = tiedOutput ? .output : full.architecture.locate(name, in: .canonical).first?.spec.role else { return t }
        if preSliced {
            // A Meta shard's key/value rows are a split of the heads' rows; with fewer heads
            // than ranks, put the head back together and keep the one this rank reads.
            guard role == .wk || role == .wv, full.kvHeadCount % size != 0 else { return t }
            return try keep(gatherRows(t), split(role))
        }
        return try keep(t, split(role))
    }

    private func keep(_ t: WeightTensor, _ split: TensorSplit) throws -> WeightTensor {
        let sliced: WeightTensor
        switch split {
        case .whole: return t
        case let .rows(range): sliced = try copyRows(t, range)
        case let .columns(range): sliced = try copyColumns(t, range)
        }
        // The whole tensor was read to copy the slice: its pages leave this rank's memory.
        mappedFile(of: t.owner)?.release(t.data)
        return sliced
    }

    /// The file map behind a tensor's bytes, nil for memory of its own (which must stay).
    private func mappedFile(of owner: AnyObject) -> MappedFile? {
        if let f = owner as? MappedFile { return f }
        if let g = owner as? GGUFFile { return g.file }
        if let s = owner as? SafetensorsFile { return s.owner as? MappedFile }
        return nil
    }

    private func owned(_ bytes: Int) -> OwnedBuffer {
        let b = OwnedBuffer(byteCount: bytes)
        owners.append(b)
        return b
    }

    /// Rows `range` of a matrix (elements of a vector), copied.
    func copyRows(_ t: WeightTensor, _ range: Range<Int>) throws -> WeightTensor {
        guard let view = t.rows(range), let src = view.data.baseAddress else {
            throw DistributedError.unsplittable(path: checkpoint.path, tensor: t.name,
                                                message: "its shape \(t.shape) (\(t.type.name)) has no rows \(range.lowerBound)..<\(range.upperBound) to take")
        }
        let b = owned(view.data.count)
        b.bytes.baseAddress?.copyMemory(from: src, byteCount: view.data.count)
        return WeightTensor(name: t.name, type: t.type, shape: view.shape, data: b.readOnly, owner: b)
    }

    /// Columns `range` of a matrix, copied row by row; the slice must fall on the type's blocks.
    func copyColumns(_ t: WeightTensor, _ range: Range<Int>) throws -> WeightTensor {
        guard t.shape.count == 2, range.upperBound <= t.shape[1] else {
            throw DistributedError.unsplittable(path: checkpoint.path, tensor: t.name,
                                                message: "its shape \(t.shape) has no columns \(range.lowerBound)..<\(range.upperBound)")
        }
        let (per, blockBytes) = t.type.blockLayout
        guard range.lowerBound % per == 0, range.count % per == 0 else {
            throw DistributedError.unsplittable(path: checkpoint.path, tensor: t.name, message:
                "each of the \(size) ranks takes \(range.count) of its \(t.shape[1]) columns, which is not a whole number of \(t.type.name) blocks of \(per) columns; use a file with unquantized weights (F32, F16, BF16) or one of blocks that fit, or another -np")
        }
        let rows = t.shape[0], rowBytes = t.type.rowBytes(columns: t.shape[1])
        let start = range.lowerBound / per * blockBytes, width = range.count / per * blockBytes
        guard let need = CheckpointSupport.mul(rows, rowBytes), need <= t.data.count, let src = t.data.baseAddress else {
            throw DistributedError.unsplittable(path: checkpoint.path, tensor: t.name, message: "\(t.data.count) bytes, too few for shape \(t.shape)")
        }
        let b = owned(rows * width)
        if let dst = b.bytes.baseAddress {
            for r in 0..<rows { (dst + r * width).copyMemory(from: src + r * rowBytes + start, byteCount: width) }
        }
        return WeightTensor(name: t.name, type: t.type, shape: [rows, range.count], data: b.readOnly, owner: b)
    }

    /// Every rank's rows of a row-split tensor, in rank order, as stored (a collective).
    func gatherRows(_ t: WeightTensor) throws -> WeightTensor {
        let bytes = t.data.count
        let b = owned(bytes * size)
        guard let dst = b.bytes.baseAddress, let src = t.data.baseAddress else { return t }
        (dst + part.rank * bytes).copyMemory(from: src, byteCount: bytes)
        for root in 0..<size { communicator.broadcast(dst + root * bytes, byteCount: bytes, root: root) }
        let shape = t.shape.count == 2 ? [t.shape[0] * size, t.shape[1]] : [t.shape[0] * size]
        return WeightTensor(name: t.name, type: t.type, shape: shape, data: b.readOnly, owner: b)
    }

    // MARK: The forward pass's gathers

    /// True when the embedding table is split (a Meta shard's), so `embed` looks tokens up.
    func splitsEmbedding(_ e: MatrixView) -> Bool { size > 1 && (e.columns != full.dim || e.rows != full.vocabSize) }

    /// The embeddings of `tokens` into `x` (`tokens.count × dim`) from this rank's slice of
    /// the table: by columns (ParallelEmbedding: every rank its dim/N of each row,
    /// all-gathered) or by rows (VocabParallelEmbedding: the rank that holds a token's row
    /// gives it, the others zeros, summed).
    func embed(_ e: MatrixView, tokens: [TokenID], into x: UnsafeMutablePointer<Float>) {
        let n = tokens.count, dim = full.dim
        if e.columns != dim {
            let width = e.columns
            var mine = [Float](repeating: 0, count: n * width)
            var all = [Float](repeating: 0, count: n * width * size)
            mine.withUnsafeMutableBufferPointer { m in
                guard let mp = m.baseAddress else { return }
                for (i, t) in tokens.enumerated() { e.dequantize(row: t, into: mp + i * width) }
                all.withUnsafeMutableBufferPointer { a in
                    guard let ap = a.baseAddress else { return }
                    communicator.allgather(mp, count: n * width, into: ap)
                    for r in 0..<size {
                        for i in 0..<n { (x + i * dim + r * width).update(from: ap + (r * n + i) * width, count: width) }
                    }
                }
            }
        } else {
            let first = part.rank * e.rows
            for (i, t) in tokens.enumerated() {
                if t >= first && t < first + e.rows { e.dequantize(row: t - first, into: x + i * dim) } else { (x + i * dim).update(repeating: 0, count: dim) }
            }
            communicator.allreduceSum(x, count: n * dim)
        }
    }

    /// True when the output holds this rank's vocabulary rows only.
    func splitsOutput(_ output: MatrixView) -> Bool { size > 1 && output.rows != full.vocabSize }

    /// The logits of `rows` rows of `x` through this rank's output rows, all-gathered into
    /// `logits` (`rows × vocab`).
    func logits(_ output: MatrixView, _ x: UnsafePointer<Float>, rows m: Int, into logits: UnsafeMutablePointer<Float>, parallel: ParallelFor) {
        let width = output.rows, vocab = full.vocabSize
        var mine = [Float](repeating: 0, count: m * width)
        var all = [Float](repeating: 0, count: m * width * size)
        mine.withUnsafeMutableBufferPointer { mb in
            guard let mp = mb.baseAddress else { return }
            matmul(output, x, tokens: m, mp, parallel: parallel)
            all.withUnsafeMutableBufferPointer { a in
                guard let ap = a.baseAddress else { return }
                communicator.allgather(mp, count: m * width, into: ap)
                for r in 0..<size {
                    for i in 0..<m { (logits + i * vocab + r * width).update(from: ap + (r * m + i) * width, count: width) }
                }
            }
        }
    }
}
