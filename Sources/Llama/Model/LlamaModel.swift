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

/// A norm's scale and, for LayerNorm, its bias.
struct NormWeights {
    let weight: [Float]
    let bias: [Float]?
}

/// The weights of one decoder layer. Optional fields are the architecture's variations
/// (nil when it has no such tensor).
struct LayerWeights {
    let attentionNorm: NormWeights
    let wq, wk, wv, wo: MatrixView
    let bq, bk, bv, bo: [Float]?
    /// Gemma 2's norm of the attention output before the residual add.
    let postAttentionNorm: NormWeights?
    let ffnNorm: NormWeights
    let feedForward: FeedForwardWeights
    let postFfnNorm: NormWeights?
}

/// One feed-forward network. Gated: w2(act(w1·x) ⊙ w3·x) (SwiGLU, GeGLU). Plain (GPT-2, w1
/// nil): w2(act(w3·x + b3)) + b2.
struct DenseFeedForward {
    let w1: MatrixView?
    let w2, w3: MatrixView
    let upBias, downBias: [Float]?
}

/// A layer's feed-forward: one network, or a router over experts (Mixtral).
enum FeedForwardWeights {
    case dense(DenseFeedForward)
    /// `router` has one row per expert; each token goes to the top `perToken` experts.
    case experts(router: MatrixView, experts: [DenseFeedForward], perToken: Int)
}

/// A decoder of the Llama family and its relatives: pre-norm blocks of grouped-query
/// attention and a feed-forward, then a final norm and the output projection (tied or not).
/// What varies between architectures (`config.architecture`: norm kind, activation, gated
/// or plain feed-forward, biases, RoPE layout or learned positions, post-norms, soft-caps,
/// sliding windows) is each one small step below, chosen once per call, not per element.
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
    public var parallel: ParallelFor

    public init(checkpoint: any Checkpoint, parallel: ParallelFor = ParallelFor(),
                communicator: any Communicator = SingleProcess()) throws {
        self.checkpoint = checkpoint
        self.parallel = parallel
        self.communicator = communicator
        let shards = try ModelShards(checkpoint: checkpoint, communicator: communicator)
        self.shards = shards
        let c = shards.local, full = shards.full
        config = c
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
        func vector(_ name: String, _ count: Int) throws -> [Float] {
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
            var out = [Float](repeating: 0, count: count)
            out.withUnsafeMutableBufferPointer { b in
                if let p = b.baseAddress { dequantizeRow(t.type, base, p, count: count) }
            }
            return out
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
        func optionalVector(_ role: TensorRole, _ l: Int = 0) throws -> [Float]? {
            guard let fullShape = a.spec(role)?.shape(full) else { return nil }
            let shape = shards.localShape(role, full: fullShape)
            guard shape.count == 1 else { throw ModelError.invalidConfig(path: path, message: "architecture \(a.name): \(role) is not a vector") }
            return try vector(role.canonicalName(layer: l), shape[0])
        }
        func optionalNorm(_ role: TensorRole, bias: TensorRole? = nil, _ l: Int = 0) throws -> NormWeights? {
            guard let w = try optionalVector(role, l) else { return nil }
            return NormWeights(weight: w, bias: try bias.flatMap { try optionalVector($0, l) })
        }
        func norm(_ role: TensorRole, bias: TensorRole, _ l: Int = 0) throws -> NormWeights {
            guard let n = try optionalNorm(role, bias: bias, l) else {
                throw ModelError.invalidConfig(path: path, message: "architecture \(a.name) has no \(role)")
            }
            return n
        }
        func expertWeight(_ role: TensorRole, _ l: Int, _ e: Int) throws -> MatrixView {
            guard var spec = a.spec(role), spec.shape.count == 2 else {
                throw ModelError.invalidConfig(path: path, message: "architecture \(a.name) has no \(role) matrix")
            }
            spec.expert = e
            let shape = shards.localShape(role, full: spec.shape(full))
            return try matrix(spec.canonicalName(layer: l), shape[0], shape[1])
        }
        func feedForward(_ l: Int) throws -> FeedForwardWeights {
            guard let count = a.expertCount else {
                return .dense(DenseFeedForward(
                    w1: a.gatedFeedForward ? try weight(.gate, l) : nil, w2: try weight(.down, l), w3: try weight(.up, l),
                    upBias: try optionalVector(.upBias, l), downBias: try optionalVector(.downBias, l)))
            }
            let k = a.expertsPerToken
            guard count > 0, k > 0, k <= count, a.gatedFeedForward else {
                throw ModelError.invalidConfig(path: path, message: "\(k) experts per token of \(count) experts")
            }
            let experts = try (0..<count).map { e in
                DenseFeedForward(w1: try expertWeight(.expertGate, l, e), w2: try expertWeight(.expertDown, l, e),
                                 w3: try expertWeight(.expertUp, l, e), upBias: nil, downBias: nil)
            }
            return .experts(router: try weight(.router, l), experts: experts, perToken: k)
        }
        embedding = try weight(.tokenEmbedding)
        positionEmbedding = a.learnedPositions ? try weight(.positionEmbedding) : nil
        var ls: [LayerWeights] = []
        for l in 0..<c.layerCount {
            ls.append(LayerWeights(
                attentionNorm: try norm(.attentionNorm, bias: .attentionNormBias, l),
                wq: try weight(.wq, l), wk: try weight(.wk, l), wv: try weight(.wv, l), wo: try weight(.wo, l),
                bq: try optionalVector(.wqBias, l), bk: try optionalVector(.wkBias, l), bv: try optionalVector(.wvBias, l),
                bo: try optionalVector(.woBias, l),
                postAttentionNorm: try optionalNorm(.postAttentionNorm, l),
                ffnNorm: try norm(.ffnNorm, bias: .ffnNormBias, l),
                feedForward: try feedForward(l),
                postFfnNorm: try optionalNorm(.postFfnNorm, l)))
        }
        layers = ls
        finalNorm = try norm(.finalNorm, bias: .finalNormBias)
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
        var next = caches.map(\.count)
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

        let a = c.architecture
        let dim = c.dim, qDim = c.queryDim, kvDim = c.kvDim, headDim = c.headDim, half = headDim / 2
        let x = state.x, xb = state.xb
        let allRows = Array(0..<n)
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

        for (l, w) in layers.enumerated() {
            // Attention block.
            normRows(x, w.attentionNorm, xb, rows: allRows)
            observer?.observe(.attentionNorm, layer: l, values: xb, rows: n, width: dim)
            matmul([(w.wq, state.q), (w.wk, state.k), (w.wv, state.v)], xb, tokens: n, parallel: parallel)
            addBias(w.bq, to: state.q, rows: n)
            addBias(w.bk, to: state.k, rows: n)
            addBias(w.bv, to: state.v, rows: n)
            for (i, r) in rows.enumerated() {
                if positionEmbedding == nil {
                    rope(state.q + i * qDim, heads: c.headCount, row: i, state: state)
                    rope(state.k + i * kvDim, heads: c.kvHeadCount, row: i, state: state)
                }
                let cache = caches[r.sequence]
                cache.store(layer: l, position: r.position, key: state.k + i * kvDim, value: state.v + i * kvDim)
            }
            if let observer {
                observer.observe(.query, layer: l, values: state.q, rows: n, width: qDim)
                observer.observe(.key, layer: l, values: state.k, rows: n, width: kvDim)
                observer.observe(.value, layer: l, values: state.v, rows: n, width: kvDim)
            }
            attention(layer: l, rows: rows, caches: caches, state: state, observer: observer)
            observer?.observe(.attentionOutput, layer: l, values: state.xb2, rows: n, width: qDim)
            matmul(w.wo, state.xb2, tokens: n, xb, parallel: parallel)
            // Row-parallel wo: each rank's heads give a partial sum (before the bias, added once).
            if communicator.size > 1 { communicator.allreduceSum(xb, count: n * dim) }
            addBias(w.bo, to: xb, rows: n)
            if let pn = w.postAttentionNorm { normRows(xb, pn, xb, rows: allRows) }
            observer?.observe(.attentionProjection, layer: l, values: xb, rows: n, width: dim)
            addInPlace(x, xb, count: n * dim)
            observer?.observe(.attentionResidual, layer: l, values: x, rows: n, width: dim)

            // Feed-forward block.
            normRows(x, w.ffnNorm, xb, rows: allRows)
            observer?.observe(.ffnNorm, layer: l, values: xb, rows: n, width: dim)
            switch w.feedForward {
            case let .dense(f):
                feedForward(f, state.xb, rows: n, into: state.xb, state: state, layer: l, observer: observer)
            case let .experts(router, experts, k):
                mixtureOfExperts(router: router, experts: experts, perToken: k, rows: n, state: state, layer: l, observer: observer)
            }
            if let pn = w.postFfnNorm { normRows(xb, pn, xb, rows: allRows) }
            addInPlace(x, xb, count: n * dim)
            observer?.observe(.residual, layer: l, values: x, rows: n, width: dim)
        }
        for (s, cache) in caches.enumerated() { cache.count = next[s] }

        // Final norm and output projection, only for the rows whose logits are wanted.
        guard !logitRows.isEmpty else { return }
        normRows(x, finalNorm, xb, rows: logitRows)
        observer?.observe(.finalNorm, layer: c.layerCount, values: xb, rows: logitRows.count, width: dim)
        if shards.splitsOutput(output) {
            shards.logits(output, xb, rows: logitRows.count, into: state.logits, parallel: parallel)
        } else {
            matmul(output, xb, tokens: logitRows.count, state.logits, parallel: parallel)
        }
        if let cap = a.logitSoftCap { softCap(state.logits, count: logitRows.count * c.vocabSize, cap: cap) }
        observer?.observe(.logits, layer: c.layerCount, values: state.logits, rows: logitRows.count, width: c.vocabSize)
    }

    /// The feed-forward of `n` rows of `xb` into `out` (which may be `xb`), through
    /// `state.hb`/`hb2`: gated (act(w1·x) ⊙ w3·x, SwiGLU or GeGLU) or plain (act(w3·x + b)),
    /// then w2 (+ b). `observer` (nil for a mixture's experts) sees gate, up, activation, down.
    func feedForward(_ w: DenseFeedForward, _ xb: UnsafePointer<Float>, rows n: Int, into out: UnsafeMutablePointer<Float>,
                     state: RunState, layer l: Int, observer: (any ForwardObserver)?) {
        let hidden = config.hiddenDim, activation = config.architecture.activation
        let hb = state.hb, hb2 = state.hb2
        if let w1 = w.w1 {
            matmul([(w1, hb), (w.w3, hb2)], xb, tokens: n, parallel: parallel)
            if let observer {
                observer.observe(.gate, layer: l, values: hb, rows: n, width: hidden)
                observer.observe(.up, layer: l, values: hb2, rows: n, width: hidden)
            }
            // The gate in place, vectorized and split across cores: at a 512-token prompt of
            // a 1B model this is 4 M exponentials per layer.
            parallel.runChunked(n * hidden, chunk: 16_384) { _, range in
                let o = range.lowerBound
                switch activation {
                case .silu: swiglu(hb + o, hb2 + o, hb + o, count: range.count)
                case .geluTanh: geglu(hb + o, hb2 + o, hb + o, count: range.count)
                }
            }
        } else {
            matmul(w.w3, xb, tokens: n, hb, parallel: parallel)
            addBias(w.upBias, to: hb, rows: n)
            observer?.observe(.up, layer: l, values: hb, rows: n, width: hidden)
            parallel.runChunked(n * hidden, chunk: 16_384) { _, range in
                let o = range.lowerBound
                switch activation {
                case .silu: for i in range { hb[i] = silu(hb[i]) }
                case .geluTanh: geluTanhInPlace(hb + o, count: range.count)
                }
            }
        }
        observer?.observe(.activation, layer: l, values: hb, rows: n, width: hidden)
        matmul(w.w2, hb, tokens: n, out, parallel: parallel)
        // Row-parallel w2: each rank's feed-forward rows give a partial sum.
        if communicator.size > 1 { communicator.allreduceSum(out, count: n * config.dim) }
        addBias(w.downBias, to: out, rows: n)
        observer?.observe(.down, layer: l, values: out, rows: n, width: config.dim)
    }

    /// Mixture of experts on the normalized rows `state.xb`, into `state.xb`: each row goes
    /// to the `k` experts with the largest router logits, weighted by a softmax over those k
    /// logits (transformers' Mixtral). Rows are grouped by expert, so a prompt still runs each
    /// chosen expert as one GEMM, and an expert no row chose is never read.
    ///
    /// The observer sees only `.down`: the weighted sum of the chosen experts' outputs,
    /// [rows × D] (what is added to the residual). Gate, up and activation exist per expert
    /// for a subset of rows, so they are not shown.
    func mixtureOfExperts(router: MatrixView, experts: [DenseFeedForward], perToken k: Int, rows n: Int, state: RunState,
                          layer l: Int, observer: (any ForwardObserver)?) {
        let count = experts.count, dim = config.dim
        let logits = state.routerLogits, choice = state.expertChoice, weight = state.expertWeight
        matmul(router, state.xb, tokens: n, logits, parallel: parallel)
        for i in 0..<n {
            let row = logits + i * count
            // Top k by selection (k and the expert count are small), then softmax over them.
            for j in 0..<k {
                var best = -1
                for e in 0..<count where !(0..<j).contains(where: { choice[i * k + $0] == Int32(e) }) {
                    if best < 0 || row[e] > row[best] { best = e }
                }
                choice[i * k + j] = Int32(best)
                weight[i * k + j] = row[best]
            }
            let top = weight[i * k]  // the largest, chosen first
            var sum: Float = 0
            for j in 0..<k { weight[i * k + j] = expf(weight[i * k + j] - top); sum += weight[i * k + j] }
            for j in 0..<k { weight[i * k + j] /= sum }
        }
        let input = state.expertInput, output = state.expertOutput, mixed = state.expertMixed
        let members = state.expertRows, memberWeight = state.expertRowWeight
        mixed.update(repeating: 0, count: n * dim)
        for e in 0..<count {
            var m = 0
            for i in 0..<n {
                for j in 0..<k where choice[i * k + j] == Int32(e) {
                    members[m] = Int32(i)
                    memberWeight[m] = weight[i * k + j]
                    (input + m * dim).update(from: state.xb + i * dim, count: dim)
                    m += 1
                }
            }
            guard m > 0 else { continue }
            feedForward(experts[e], input, rows: m, into: output, state: state, layer: l, observer: nil)
            for r in 0..<m {
                let x = mixed + Int(members[r]) * dim, y = output + r * dim, g = memberWeight[r]
                for d in 0..<dim { x[d] += g * y[d] }
            }
        }
        state.xb.update(from: mixed, count: n * dim)
        observer?.observe(.down, layer: l, values: state.xb, rows: n, width: dim)
    }

    /// RoPE of `heads` heads at `x`, with row `row`'s angles, in the architecture's pairing.
    @inline(__always)
    func rope(_ x: UnsafeMutablePointer<Float>, heads: Int, row i: Int, state: RunState) {
        let half = config.headDim / 2
        let cs = state.ropeCos + i * half, sn = state.ropeSin + i * half
        switch config.architecture.ropeLayout {
        case .interleaved: applyRope(x, heads: heads, headDim: config.headDim, cos: cs, sin: sn)
        case .rotateHalf: applyRopeRotateHalf(x, heads: heads, headDim: config.headDim, cos: cs, sin: sn)
        }
    }

    /// `bias` added to each of `rows` rows of `x` (no-op without a bias).
    @inline(__always)
    func addBias(_ bias: [Float]?, to x: UnsafeMutablePointer<Float>, rows: Int) {
        guard let bias else { return }
        bias.withUnsafeBufferPointer { b in
            guard let bp = b.baseAddress else { return }
            for r in 0..<rows { addInPlace(x + r * b.count, bp, count: b.count) }
        }
    }

    /// The architecture's norm of rows `rows` of `x` into consecutive rows of `out` (which
    /// may be `x` itself when `rows` are 0..<n).
    func normRows(_ x: UnsafePointer<Float>, _ norm: NormWeights, _ out: UnsafeMutablePointer<Float>, rows: [Int]) {
        let dim = config.dim, eps = config.normEps
        norm.weight.withUnsafeBufferPointer { g in
            guard let gp = g.baseAddress else { return }
            switch config.architecture.norm {
            case .rms, .rmsOnePlusWeight:
                // (1 + w) is already in the weights (see `NormKind.rmsOnePlusWeight`).
                for (j, i) in rows.enumerated() { rmsnorm(x + i * dim, gp, out + j * dim, count: dim, eps: eps) }
            case .layerNorm:
                (norm.bias ?? []).withUnsafeBufferPointer { b in
                    for (j, i) in rows.enumerated() { layerNorm(x + i * dim, gp, b.baseAddress, out + j * dim, count: dim, eps: eps) }
                }
            }
        }
    }

    /// Causal grouped-query attention of every row over its sequence's cache (positions
    /// 0...row's position), into `state.xb2`. Query head h reads key/value head
    /// h / (heads / kvHeads).
    func attention(layer l: Int, rows: [BatchRow], caches: [KVCache], state: RunState, observer: (any ForwardObserver)? = nil) {
        let c = config
        let headDim = c.headDim, qDim = c.queryDim
        let kvMul = c.headCount / c.kvHeadCount
        let scale = c.architecture.attentionScale ?? 1 / Float(headDim).squareRoot()
        let softCapValue = c.architecture.attentionSoftCap
        // Positions a query sees back from itself (itself included); nil: all of them.
        let window = c.architecture.window(layer: l)
        let maxLength = (rows.map(\.position).max() ?? 0) + 1
        let q = state.q, out = state.xb2
        // One item is a row and a group of query heads that read the same key/value head:
        // each cached key and value is loaded once for the group. When that leaves too few
        // items for the threads (one decode row, few kv heads), a group is one head; a
        // query's scores and output are the same either way (Attention.h). Items come in
        // chunks from a shared counter: under the causal mask later rows attend to more
        // positions, so equal static halves would leave one core waiting.
        let group = rows.count * c.kvHeadCount >= 2 * parallel.workers ? kvMul : 1
        let groupsPerRow = c.headCount / group
        let scratchCount = group * maxLength + 8 * headDim
        parallel.runChunked(rows.count * groupsPerRow, chunk: group == 1 ? 4 : 1) { _, range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: scratchCount) { scratch in
                guard let att = scratch.baseAddress else { return }
                let widened = att + group * maxLength
                for item in range {
                    let i = item / groupsPerRow, h0 = (item % groupsPerRow) * group
                    let row = rows[i]
                    let cache = caches[row.sequence]
                    let kvOffset = (h0 / kvMul) * headDim
                    let first = window.map { max(0, row.position + 1 - $0) } ?? 0
                    let length = row.position + 1 - first
                    swiftllama_attention_scores(q + i * qDim + h0 * headDim, headDim, Int32(group),
                                                cache.key(layer: l, position: first, offset: kvOffset), cache.type.kernelCode, c.kvDim,
                                                Int32(length), Int32(headDim), scale, att, maxLength, widened)
                    for j in 0..<group {
                        let scores = att + j * maxLength
                        if let softCapValue { softCap(scores, count: length, cap: softCapValue) }
                        observer?.observeAttention(.scores, layer: l, row: i, head: h0 + j, values: scores, first: first, count: length)
                        softmax(scores, count: length)
                        observer?.observeAttention(.probabilities, layer: l, row: i, head: h0 + j, values: scores, first: first, count: length)
                    }
                    swiftllama_attention_values(att, maxLength, Int32(group), cache.value(layer: l, position: first, offset: kvOffset),
                                                cache.type.kernelCode, c.kvDim, Int32(length), Int32(headDim),
                                                out + i * qDim + h0 * headDim, headDim, widened)
                }
            }
        }
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
