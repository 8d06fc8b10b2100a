import Foundation
import CKernels

/// Why a model cannot be built from a checkpoint, or a forward call cannot run.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case wrongShape(path: String, tensor: String, expected: [Int], actual: [Int])
    case unsupportedType(path: String, tensor: String, type: String)
    case truncatedTensor(path: String, tensor: String, bytes: Int, needed: Int)
    case promptTooLong(tokens: Int, context: Int)
    case tokenOutOfRange(id: TokenID, vocabularySize: Int)
    case invalidBatch(String)
    case invalidConfig(path: String, message: String)
    case cacheTooLarge(positions: Int, bytes: Int, available: Int)

    public var description: String {
        switch self {
        case let .wrongShape(path, tensor, expected, actual):
            return "\(path): tensor \(tensor) has shape \(actual), expected \(expected)"
        case let .unsupportedType(path, tensor, type):
            return "\(path): tensor \(tensor) is stored as \(type), which the kernels do not support yet (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K)"
        case let .truncatedTensor(path, tensor, bytes, needed):
            return "\(path): tensor \(tensor) has \(bytes) bytes of data, needs \(needed)"
        case let .promptTooLong(tokens, context):
            return "the prompt has \(tokens) tokens, more than the context of \(context) tokens (raise --context, up to the model's maximum)"
        case let .tokenOutOfRange(id, size):
            return "token id \(id) is outside the model's vocabulary (valid ids: 0..<\(size))"
        case let .invalidBatch(message):
            return "invalid batch: \(message)"
        case let .cacheTooLarge(positions, bytes, available):
            return "a KV cache of \(positions) positions needs \(bytes >> 20) MiB, more than the \(available >> 20) MiB of memory (lower --context or --max-tokens)"
        case let .invalidConfig(path, message):
            return "\(path): invalid model configuration: \(message)"
        }
    }
}

/// One token in a forward call: which sequence (index into the caches) and where in it.
public struct BatchRow: Sendable, Equatable {
    public var token: TokenID
    public var position: Int
    public var sequence: Int

    public init(token: TokenID, position: Int, sequence: Int = 0) {
        self.token = token
        self.position = position
        self.sequence = sequence
    }
}

/// A decoder of the Llama family and its relatives: the embedding, `TransformerBlock`s
/// (Block.swift: pre-norm grouped-query attention and a feed-forward, with what varies
/// between architectures), then a final norm and the output projection (tied or not).
///
/// Weights stay in the checkpoint's memory (memory-mapped for GGUF) in their stored type;
/// kernels convert them to fp32 as they go. The model itself is immutable: the per-request
/// state lives in a `RunState` and one `KVCache` per sequence, both passed in.
///
/// With a `communicator` of N > 1 ranks the model is this rank's slice of a model-parallel
/// job (`TensorParallel`): its query heads, key/value heads and feed-forward rows, with an
/// all-reduce after wo and after w2; every rank must then make the same forward calls.
public final class LlamaModel: @unchecked Sendable {
    /// This rank's configuration: the checkpoint's, with heads, key/value heads and the
    /// feed-forward size divided by the ranks of a model-parallel job (the same alone).
    public let config: ModelConfig
    public let checkpoint: any Checkpoint
    /// The ranks this model is split across (`SingleProcess`: not split).
    public let communicator: any Communicator
    let shards: ModelShards
    let embedding: MatrixView
    /// Learned position table (GPT-2), `[maxContext, dim]`.
    let positionEmbedding: MatrixView?
    let layers: [LayerWeights]
    let finalNorm: NormWeights
    let output: MatrixView
    /// Rotation frequency of each pair within a head.
    public let ropeFrequencies: [Float]
    public let parallel: ParallelFor
    /// The decoder block every layer runs (the training model runs the same one).
    let block: TransformerBlock

    public init(checkpoint: any Checkpoint, parallel: ParallelFor = ParallelFor(),
                communicator: any Communicator = SingleProcess()) throws {
        self.checkpoint = checkpoint
        self.parallel = parallel
        self.communicator = communicator
        let shards = try ModelShards(checkpoint: checkpoint, communicator: communicator)
        self.shards = shards
        let c = shards.local, full = shards.full
        config = c
        block = TransformerBlock(config: c, parallel: parallel, products: .stored(parallel), communicator: communicator)
        let path = checkpoint.path
        guard c.dim > 0, c.layerCount > 0, c.headCount > 0, c.kvHeadCount > 0, c.hiddenDim > 0, c.vocabSize > 0 else {
            throw ModelError.invalidConfig(path: path, message: "sizes must be positive (\(c))")
        }
        guard c.headDim > 0, c.headDim % 2 == 0 || c.architecture.learnedPositions else {
            throw ModelError.invalidConfig(path: path, message: "\(c.headCount) heads do not split dim \(c.dim) into heads of even size")
        }
        guard c.headCount % c.kvHeadCount == 0 else {
            throw ModelError.invalidConfig(path: path, message: "\(c.kvHeadCount) key/value heads do not divide \(c.headCount) heads")
        }
        guard c.maxContext > 0, c.normEps > 0, c.ropeTheta > 0 else {
            throw ModelError.invalidConfig(path: path, message: "context, eps and rope theta must be positive")
        }

        func matrix(_ name: String, _ rows: Int, _ cols: Int, asOutput: Bool = false) throws -> MatrixView {
            let t = try shards.tensor(name, asOutput: asOutput)
            guard t.shape == [rows, cols] else {
                throw ModelError.wrongShape(path: path, tensor: name, expected: [rows, cols], actual: t.shape)
            }
            guard t.type.isSupportedByKernels else {
                throw ModelError.unsupportedType(path: path, tensor: name, type: t.type.name)
            }
            guard cols % t.type.blockLayout.elements == 0 else {
                throw ModelError.invalidConfig(path: path, message: "tensor \(name): \(cols) columns are not a multiple of the \(t.type.name) block size \(t.type.blockLayout.elements)")
            }
            let needed = rows * t.type.rowBytes(columns: cols)
            guard t.data.count >= needed, let base = t.data.baseAddress else {
                throw ModelError.truncatedTensor(path: path, tensor: name, bytes: t.data.count, needed: needed)
            }
            // Row-interleaved for the kernels where they have such a layout (Kernels/Repack.swift).
            return repackForMatvec(MatrixView(type: t.type, rows: rows, columns: cols, base: base),
                                   releasingSource: isReadOnlyFileMapping(t.owner), parallel: parallel)
        }
        func vector(_ name: String, _ count: Int) throws -> WeightVector {
            let t = try shards.tensor(name)
            guard t.shape == [count] else {
                throw ModelError.wrongShape(path: path, tensor: name, expected: [count], actual: t.shape)
            }
            guard t.type.isSupportedByKernels else {
                throw ModelError.unsupportedType(path: path, tensor: name, type: t.type.name)
            }
            let needed = t.type.rowBytes(columns: count)
            guard t.data.count >= needed, let base = t.data.baseAddress, count % t.type.blockLayout.elements == 0 else {
                throw ModelError.truncatedTensor(path: path, tensor: name, bytes: t.data.count, needed: needed)
            }
            // An fp32 copy, kept alive by the vector.
            let owned = OwnedBuffer(byteCount: count * MemoryLayout<Float>.stride)
            let values = owned.bytes.bindMemory(to: Float.self)
            guard let p = values.baseAddress else {
                throw ModelError.truncatedTensor(path: path, tensor: name, bytes: t.data.count, needed: needed)
            }
            dequantizeRow(t.type, base, p, count: count)
            return WeightVector(base: p, count: count, storage: owned)
        }

        // Shapes come from the architecture's table (this rank's slices of them, see
        // `ModelShards.localShape`); the fields are what the forward pass reads.
        func weight(_ role: TensorRole, _ l: Int = 0) throws -> MatrixView {
            guard let fullShape = c.architecture.spec(role)?.shape(full), fullShape.count == 2 else {
                throw ModelError.invalidConfig(path: path, message: "architecture \(c.architecture.name) has no \(role) matrix")
            }
            let shape = shards.localShape(role, full: fullShape)
            return try matrix(role.canonicalName(layer: l), shape[0], shape[1])
        }
        let a = c.architecture
        /// A vector the architecture has (a bias, a norm), nil when it has none.
        func optionalVector(_ role: TensorRole, _ l: Int = 0) throws -> WeightVector? {
            guard let fullShape = a.spec(role)?.shape(full) else { return nil }
            let shape = shards.localShape(role, full: fullShape)
            guard shape.count == 1 else { throw ModelError.invalidConfig(path: path, message: "architecture \(a.name): \(role) is not a vector") }
            return try vector(role.canonicalName(layer: l), shape[0])
        }
        func expertWeight(_ role: TensorRole, _ l: Int, _ e: Int) throws -> MatrixView {
            guard var spec = a.spec(role), spec.shape.count == 2 else {
                throw ModelError.invalidConfig(path: path, message: "architecture \(a.name) has no \(role) matrix")
            }
            spec.expert = e
            let shape = shards.localShape(role, full: spec.shape(full))
            return try matrix(spec.canonicalName(layer: l), shape[0], shape[1])
        }
        embedding = try weight(.tokenEmbedding)
        positionEmbedding = a.learnedPositions ? try weight(.positionEmbedding) : nil
        let ls = try (0..<c.layerCount).map { l in
            try LayerWeights(layer: l, architecture: a, path: path, matrix: { try weight($0, l) },
                             vector: { try optionalVector($0, l) }, expert: { try expertWeight($0, l, $1) })
        }
        layers = ls
        guard let finalScale = try optionalVector(.finalNorm) else {
            throw ModelError.invalidConfig(path: path, message: "architecture \(a.name) has no \(TensorRole.finalNorm)")
        }
        finalNorm = NormWeights(weight: finalScale, bias: try optionalVector(.finalNormBias))
        if let w = a.slidingWindow, w.count != c.layerCount || w.contains(where: { ($0 ?? 1) < 1 }) {
            throw ModelError.invalidConfig(path: path, message: "sliding windows \(w) for \(c.layerCount) layers")
        }
        if c.tiedEmbeddings && shards.split(.output) != .whole {
            // This rank's vocabulary rows of the embedding table.
            let shape = shards.localShape(.output, full: [c.vocabSize, c.dim])
            output = try matrix(TensorName.embedding, shape[0], shape[1], asOutput: true)
        } else {
            output = c.tiedEmbeddings ? embedding : try weight(.output)
        }
        let divisors = try checkpoint.ropeFrequencyFactors()
        if let divisors {
            guard divisors.count == c.headDim / 2, divisors.allSatisfy({ $0 > 0 && $0.isFinite }) else {
                throw ModelError.invalidConfig(path: path, message: "rope frequency factors: \(divisors.count) values, expected \(c.headDim / 2) positive numbers")
            }
        }
        ropeFrequencies = LlamaModel.frequencies(config: c, divisors: divisors)
    }

    static func frequencies(config c: ModelConfig, divisors: [Float]?) -> [Float] {
        Llama.ropeFrequencies(headDim: c.headDim, theta: c.ropeTheta, scaling: c.ropeScaling, divisors: divisors)
    }

    /// Runs `rows` through the model, appending their keys and values to the caches, and
    /// writes the logits of the rows listed in `logitRows` (indices into `rows`) to
    /// `state.logits`, in that order. Logits of other rows are never computed.
    ///
    /// Each sequence's rows must continue its cache: positions `cache.count`, `+1`, … in
    /// order. Rows of different sequences share every weight matmul. `observer` (nil: no
    /// cost) is shown the activations at each `ForwardStep`.
    public func forward(_ rows: [BatchRow], caches: [KVCache], state: RunState, logitRows: [Int],
                        observer: (any ForwardObserver)? = nil) throws {
        let c = config
        let n = rows.count
        guard n > 0 else { return }
        guard n <= state.maxRows else { throw ModelError.invalidBatch("\(n) rows, the state holds \(state.maxRows)") }
        guard logitRows.count <= state.maxLogitRows, logitRows.allSatisfy({ $0 >= 0 && $0 < n }) else {
            throw ModelError.invalidBatch("logit rows \(logitRows) for \(n) rows (state returns at most \(state.maxLogitRows))")
        }
        // Each sequence's next position, on the stack (nothing is allocated per token).
        try withUnsafeTemporaryAllocation(of: Int.self, capacity: caches.count) { next in
            for (s, cache) in caches.enumerated() { next.initializeElement(at: s, to: cache.count) }
            for r in rows {
                guard r.token >= 0, r.token < c.vocabSize else { throw ModelError.tokenOutOfRange(id: r.token, vocabularySize: c.vocabSize) }
                guard r.sequence >= 0, r.sequence < caches.count else { throw ModelError.invalidBatch("sequence \(r.sequence) has no cache") }
                guard r.position == next[r.sequence] else {
                    throw ModelError.invalidBatch("sequence \(r.sequence): position \(r.position), expected \(next[r.sequence])")
                }
                guard r.position < caches[r.sequence].capacity else {
                    throw ModelError.promptTooLong(tokens: r.position + 1, context: caches[r.sequence].capacity)
                }
                // A learned position table has no row past the model's context.
                guard positionEmbedding == nil || r.position < c.maxContext else {
                    throw ModelError.promptTooLong(tokens: r.position + 1, context: c.maxContext)
                }
                next[r.sequence] += 1
            }
        }

        let a = c.architecture
        let dim = c.dim, half = c.headDim / 2
        let x = state.x, xb = state.xb
        let splitEmbedding = shards.splitsEmbedding(embedding)
        if splitEmbedding { shards.embed(embedding, tokens: rows.map(\.token), into: x) }
        for (i, r) in rows.enumerated() {
            if !splitEmbedding { embedding.dequantize(row: r.token, into: x + i * dim) }
            if a.scalesEmbeddingBySqrtDim { scaleInPlace(x + i * dim, by: Float(dim).squareRoot(), count: dim) }
            if let pe = positionEmbedding {
                pe.dequantize(row: r.position, into: xb + i * dim)
                addInPlace(x + i * dim, xb + i * dim, count: dim)
            } else {
                ropeAngles(position: r.position, freqs: ropeFrequencies, cos: state.ropeCos + i * half, sin: state.ropeSin + i * half)
            }
        }
        observer?.observe(.embedding, layer: 0, values: x, rows: n, width: dim)

        let buffers = BlockActivations(scratch: state)
        let angles = positionEmbedding == nil ? RopeRows(cos: state.ropeCos, sin: state.ropeSin, period: n) : nil
        let source = AttentionSource.caches(rows: rows, caches: caches)
        for (l, w) in layers.enumerated() {
            block.forward(layer: l, w, x: x, output: x, rows: n, buffers: buffers, attention: source, rope: angles,
                          observer: observer)
        }
        // Rows continue their caches in order (checked above): a cache's new count is its
        // last row's position + 1.
        for r in rows { caches[r.sequence].count = max(caches[r.sequence].count, r.position + 1) }

        // Final norm and output projection, only for the rows whose logits are wanted.
        guard !logitRows.isEmpty else { return }
        block.normRows(x, finalNorm, xb, rows: logitRows)
        observer?.observe(.finalNorm, layer: c.layerCount, values: xb, rows: logitRows.count, width: dim)
        if shards.splitsOutput(output) {
            shards.logits(output, xb, rows: logitRows.count, into: state.logits, parallel: parallel)
        } else {
            matmul(output, xb, tokens: logitRows.count, state.logits, parallel: parallel, role: .output)
        }
        if let cap = a.logitSoftCap { softCap(state.logits, count: logitRows.count * c.vocabSize, cap: cap) }
        observer?.observe(.logits, layer: c.layerCount, values: state.logits, rows: logitRows.count, width: c.vocabSize)
    }

    /// Runs a whole sequence of tokens through the model (in batches of `state.maxRows`
    /// positions) and returns the logits at its last position.
    public func prefill(_ tokens: [TokenID], cache: KVCache, state: RunState) throws -> [Float] {
        guard !tokens.isEmpty else { throw ModelError.invalidBatch("empty prompt") }
        guard cache.count + tokens.count <= cache.capacity else {
            throw ModelError.promptTooLong(tokens: cache.count + tokens.count, context: cache.capacity)
        }
        var start = 0
        while start < tokens.count {
            let end = min(tokens.count, start + state.maxRows)
            let base = cache.count
            let rows = (start..<end).map { BatchRow(token: tokens[$0], position: base + $0 - start, sequence: 0) }
            try forward(rows, caches: [cache], state: state, logitRows: end == tokens.count ? [rows.count - 1] : [])
            start = end
        }
        return Array(state.logits(row: 0))
    }

    /// Logits at chosen positions of a sequence (evaluation, inspection): runs `tokens`
    /// through a fresh cache in batches and keeps only the rows asked for.
    public func logits(of tokens: [TokenID], at positions: [Int], maxBatch: Int = 512) throws -> [[Float]] {
        guard !tokens.isEmpty else { throw ModelError.invalidBatch("empty sequence") }
        guard positions.allSatisfy({ $0 >= 0 && $0 < tokens.count }) else {
            throw ModelError.invalidBatch("positions \(positions) outside a sequence of \(tokens.count) tokens")
        }
        let cache = KVCache(config: config, capacity: tokens.count)
        let rowsPerCall = max(1, min(maxBatch, tokens.count))
        let state = RunState(config: config, maxRows: rowsPerCall, maxLogitRows: rowsPerCall)
        let wanted = Set(positions)
        var byPosition: [Int: [Float]] = [:]
        var start = 0
        while start < tokens.count {
            let end = min(tokens.count, start + rowsPerCall)
            let rows = (start..<end).map { BatchRow(token: tokens[$0], position: $0) }
            let keep = (start..<end).filter { wanted.contains($0) }
            try forward(rows, caches: [cache], state: state, logitRows: keep.map { $0 - start })
            for (j, p) in keep.enumerated() { byPosition[p] = Array(state.logits(row: j)) }
            start = end
        }
        return positions.map { byPosition[$0] ?? [] }
    }
}
