import Foundation

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

/// The weights of one decoder layer.
struct LayerWeights {
    let attentionNorm: [Float]
    let wq, wk, wv, wo: MatrixView
    /// Added after the q, k, v projections (Qwen2); nil without biases.
    let qkvBias: (q: [Float], k: [Float], v: [Float])?
    let ffnNorm: [Float]
    let feedForward: FeedForwardWeights
}

/// SwiGLU: w2(silu(w1·x) ⊙ w3·x).
struct SwiGLUWeights {
    let w1, w2, w3: MatrixView
}

/// A layer's feed-forward: one SwiGLU, or a router over experts (Mixtral).
enum FeedForwardWeights {
    case dense(SwiGLUWeights)
    /// `router` has one row per expert; each token goes to the top `perToken` experts.
    case experts(router: MatrixView, experts: [SwiGLUWeights], perToken: Int)
}

/// A Llama decoder: pre-norm blocks of grouped-query attention with RoPE and a SwiGLU
/// feed-forward, then a final RMSNorm and the output projection (tied or not).
///
/// Weights stay in the checkpoint's memory (memory-mapped for GGUF) in their stored type;
/// kernels convert them to fp32 as they go. The model itself is immutable: the per-request
/// state lives in a `RunState` and one `KVCache` per sequence, both passed in.
public final class LlamaModel: @unchecked Sendable {
    public let config: ModelConfig
    public let checkpoint: any Checkpoint
    let embedding: MatrixView
    let layers: [LayerWeights]
    let finalNorm: [Float]
    let output: MatrixView
    /// Rotation frequency of each pair within a head.
    public let ropeFrequencies: [Float]
    /// RoPE pairs (i, i + headDim/2) rather than (2i, 2i+1) (`RopeLayout.rotateHalf`).
    let ropeRotatesHalves: Bool
    public var parallel: ParallelFor

    public init(checkpoint: any Checkpoint, parallel: ParallelFor = ParallelFor()) throws {
        self.checkpoint = checkpoint
        self.parallel = parallel
        let c = checkpoint.config
        config = c
        let path = checkpoint.path
        guard c.dim > 0, c.layerCount > 0, c.headCount > 0, c.kvHeadCount > 0, c.hiddenDim > 0, c.vocabSize > 0 else {
            throw ModelError.invalidConfig(path: path, message: "sizes must be positive (\(c))")
        }
        guard c.dim % c.headCount == 0, c.headDim % 2 == 0 else {
            throw ModelError.invalidConfig(path: path, message: "\(c.headCount) heads do not split dim \(c.dim) into heads of even size")
        }
        guard c.headCount % c.kvHeadCount == 0 else {
            throw ModelError.invalidConfig(path: path, message: "\(c.kvHeadCount) key/value heads do not divide \(c.headCount) heads")
        }
        guard c.maxContext > 0, c.normEps > 0, c.ropeTheta > 0 else {
            throw ModelError.invalidConfig(path: path, message: "context, eps and rope theta must be positive")
        }

        func matrix(_ name: String, _ rows: Int, _ cols: Int) throws -> MatrixView {
            let t = try checkpoint.tensor(name)
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
            return MatrixView(type: t.type, rows: rows, columns: cols, base: base)
        }
        func normVector(_ name: String, count: Int) throws -> [Float] {
            let t = try checkpoint.tensor(name)
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

        // Shapes come from the architecture's table; the fields are what the forward pass reads.
        func weight(_ role: TensorRole, _ l: Int = 0) throws -> MatrixView {
            guard let shape = c.architecture.spec(role)?.shape(c), shape.count == 2 else {
                throw ModelError.invalidConfig(path: path, message: "architecture \(c.architecture.name) has no \(role) matrix")
            }
            return try matrix(role.canonicalName(layer: l), shape[0], shape[1])
        }
        func norm(_ role: TensorRole, _ l: Int = 0) throws -> [Float] { try normVector(role.canonicalName(layer: l), count: c.dim) }
        /// A vector of the architecture's table (a bias), nil when the architecture has none.
        func vector(_ role: TensorRole, _ l: Int) throws -> [Float]? {
            guard let shape = c.architecture.spec(role)?.shape(c), shape.count == 1 else { return nil }
            return try normVector(role.canonicalName(layer: l), count: shape[0])
        }
        func qkvBias(_ l: Int) throws -> (q: [Float], k: [Float], v: [Float])? {
            guard let q = try vector(.wqBias, l), let k = try vector(.wkBias, l), let v = try vector(.wvBias, l) else { return nil }
            return (q, k, v)
        }
        func expertWeight(_ role: TensorRole, _ l: Int, _ e: Int) throws -> MatrixView {
            guard var spec = c.architecture.spec(role), spec.shape.count == 2 else {
                throw ModelError.invalidConfig(path: path, message: "architecture \(c.architecture.name) has no \(role) matrix")
            }
            spec.expert = e
            let shape = spec.shape(c)
            return try matrix(spec.canonicalName(layer: l), shape[0], shape[1])
        }
        func feedForward(_ l: Int) throws -> FeedForwardWeights {
            guard let count = c.architecture.expertCount else {
                return .dense(SwiGLUWeights(w1: try weight(.gate, l), w2: try weight(.down, l), w3: try weight(.up, l)))
            }
            let k = c.architecture.expertsPerToken
            guard count > 0, k > 0, k <= count else {
                throw ModelError.invalidConfig(path: path, message: "\(k) experts per token of \(count) experts")
            }
            let experts = try (0..<count).map { e in
                SwiGLUWeights(w1: try expertWeight(.expertGate, l, e), w2: try expertWeight(.expertDown, l, e),
                              w3: try expertWeight(.expertUp, l, e))
            }
            return .experts(router: try weight(.router, l), experts: experts, perToken: k)
        }
        embedding = try weight(.tokenEmbedding)
        var ls: [LayerWeights] = []
        for l in 0..<c.layerCount {
            ls.append(LayerWeights(
                attentionNorm: try norm(.attentionNorm, l),
                wq: try weight(.wq, l), wk: try weight(.wk, l), wv: try weight(.wv, l), wo: try weight(.wo, l),
                qkvBias: try qkvBias(l),
                ffnNorm: try norm(.ffnNorm, l),
                feedForward: try feedForward(l)))
        }
        layers = ls
        finalNorm = try norm(.finalNorm)
        output = c.tiedEmbeddings ? embedding : try weight(.output)
        let divisors = try checkpoint.ropeFrequencyFactors()
        if let divisors {
            guard divisors.count == c.headDim / 2, divisors.allSatisfy({ $0 > 0 && $0.isFinite }) else {
                throw ModelError.invalidConfig(path: path, message: "rope frequency factors: \(divisors.count) values, expected \(c.headDim / 2) positive numbers")
            }
        }
        ropeFrequencies = LlamaModel.frequencies(config: c, divisors: divisors)
        ropeRotatesHalves = c.architecture.ropeLayout == .rotateHalf
    }

    static func frequencies(config c: ModelConfig, divisors: [Float]?) -> [Float] {
        Llama.ropeFrequencies(headDim: c.headDim, theta: c.ropeTheta, scaling: c.ropeScaling, divisors: divisors)
    }

    /// Runs `rows` through the model, appending their keys and values to the caches, and
    /// writes the logits of the rows listed in `logitRows` (indices into `rows`) to
    /// `state.logits`, in that order. Logits of other rows are never computed.
    ///
    /// Each sequence's rows must continue its cache: positions `cache.count`, `+1`, … in
    /// order. Rows of different sequences share every weight matmul.
    public func forward(_ rows: [BatchRow], caches: [KVCache], state: RunState, logitRows: [Int]) throws {
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
            next[r.sequence] += 1
        }

        let dim = c.dim, kvDim = c.kvDim, headDim = c.headDim, half = headDim / 2
        let x = state.x, xb = state.xb
        for (i, r) in rows.enumerated() {
            embedding.dequantize(row: r.token, into: x + i * dim)
            ropeAngles(position: r.position, freqs: ropeFrequencies, cos: state.ropeCos + i * half, sin: state.ropeSin + i * half)
        }

        for (l, w) in layers.enumerated() {
            // Attention block.
            normRows(x, w.attentionNorm, xb, rows: Array(0..<n))
            matmul(w.wq, xb, tokens: n, state.q, parallel: parallel)
            matmul(w.wk, xb, tokens: n, state.k, parallel: parallel)
            matmul(w.wv, xb, tokens: n, state.v, parallel: parallel)
            if let bias = w.qkvBias { addAttentionBiases(bias, rows: n, state: state) }
            for (i, r) in rows.enumerated() {
                let cs = state.ropeCos + i * half, sn = state.ropeSin + i * half
                if ropeRotatesHalves {
                    applyRopeHalf(state.q + i * dim, heads: c.headCount, headDim: headDim, cos: cs, sin: sn)
                    applyRopeHalf(state.k + i * kvDim, heads: c.kvHeadCount, headDim: headDim, cos: cs, sin: sn)
                } else {
                    applyRope(state.q + i * dim, heads: c.headCount, headDim: headDim, cos: cs, sin: sn)
                    applyRope(state.k + i * kvDim, heads: c.kvHeadCount, headDim: headDim, cos: cs, sin: sn)
                }
                let cache = caches[r.sequence]
                cache.key(layer: l, position: r.position).update(from: state.k + i * kvDim, count: kvDim)
                cache.value(layer: l, position: r.position).update(from: state.v + i * kvDim, count: kvDim)
            }
            attention(layer: l, rows: rows, caches: caches, state: state)
            matmul(w.wo, state.xb2, tokens: n, xb, parallel: parallel)
            addInPlace(x, xb, count: n * dim)

            // Feed-forward block.
            normRows(x, w.ffnNorm, xb, rows: Array(0..<n))
            switch w.feedForward {
            case let .dense(f):
                swiglu(f, xb, tokens: n, into: xb, state: state)
                addInPlace(x, xb, count: n * dim)
            case let .experts(router, experts, k):
                mixtureOfExperts(router: router, experts: experts, perToken: k, rows: n, state: state)
            }
        }
        for (s, cache) in caches.enumerated() { cache.count = next[s] }

        // Final norm and output projection, only for the rows whose logits are wanted.
        guard !logitRows.isEmpty else { return }
        normRows(x, finalNorm, xb, rows: logitRows)
        matmul(output, xb, tokens: logitRows.count, state.logits, parallel: parallel)
    }

    /// w2(silu(w1·input) ⊙ w3·input) for `tokens` rows of `input` into `out` (which may be
    /// `input`), through `state.hb`/`hb2`.
    func swiglu(_ f: SwiGLUWeights, _ input: UnsafePointer<Float>, tokens n: Int, into out: UnsafeMutablePointer<Float>,
                state: RunState) {
        matmul(f.w1, input, tokens: n, state.hb, parallel: parallel)
        matmul(f.w3, input, tokens: n, state.hb2, parallel: parallel)
        // SwiGLU's gate in place, vectorized (8-lane exp) and split across cores: at a
        // 512-token prompt of a 1B model this is 4 M exponentials per layer.
        let hb = state.hb, hb2 = state.hb2
        parallel.runChunked(n * config.hiddenDim, chunk: 16_384) { _, range in
            let o = range.lowerBound
            TrainingKernels.swiglu(hb + o, hb2 + o, hb + o, count: range.count)
        }
        matmul(f.w2, state.hb, tokens: n, out, parallel: parallel)
    }

    /// Mixture of experts on the normalized rows `state.xb`, added into the residual `state.x`:
    /// each row goes to the `k` experts with the largest router logits, weighted by a softmax
    /// over those k logits (transformers' Mixtral). Rows are grouped by expert, so a prompt
    /// still runs each chosen expert as one GEMM, and an expert no row chose is never read.
    func mixtureOfExperts(router: MatrixView, experts: [SwiGLUWeights], perToken k: Int, rows n: Int, state: RunState) {
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
        let input = state.expertInput, output = state.expertOutput
        let members = state.expertRows, memberWeight = state.expertRowWeight
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
            swiglu(experts[e], input, tokens: m, into: output, state: state)
            for r in 0..<m {
                let x = state.x + Int(members[r]) * dim, y = output + r * dim, g = memberWeight[r]
                for d in 0..<dim { x[d] += g * y[d] }
            }
        }
    }

    /// Adds the q, k and v biases to every row of the projections (Qwen2).
    func addAttentionBiases(_ bias: (q: [Float], k: [Float], v: [Float]), rows n: Int, state: RunState) {
        func add(_ b: [Float], _ out: UnsafeMutablePointer<Float>) {
            b.withUnsafeBufferPointer { bp in
                guard let p = bp.baseAddress else { return }
                for i in 0..<n { addInPlace(out + i * bp.count, p, count: bp.count) }
            }
        }
        add(bias.q, state.q)
        add(bias.k, state.k)
        add(bias.v, state.v)
    }

    /// RMSNorm of rows `rows` of `x` into consecutive rows of `out`.
    func normRows(_ x: UnsafePointer<Float>, _ weight: [Float], _ out: UnsafeMutablePointer<Float>, rows: [Int]) {
        let dim = config.dim, eps = config.normEps
        weight.withUnsafeBufferPointer { g in
            guard let gp = g.baseAddress else { return }
            for (j, i) in rows.enumerated() { rmsnorm(x + i * dim, gp, out + j * dim, count: dim, eps: eps) }
        }
    }

    /// Causal grouped-query attention of every row over its sequence's cache (positions
    /// 0...row's position, or the layer's sliding window of them), into `state.xb2`. Query head h reads key/value head
    /// h / (heads / kvHeads).
    func attention(layer l: Int, rows: [BatchRow], caches: [KVCache], state: RunState) {
        let c = config
        let headDim = c.headDim, dim = c.dim
        let kvMul = c.headCount / c.kvHeadCount
        let scale = 1 / Float(headDim).squareRoot()
        let maxLength = (rows.map(\.position).max() ?? 0) + 1
        let window = c.architecture.window(layer: l) ?? Int.max
        let q = state.q, out = state.xb2
        // Chunks of a few (row, head) items from a shared counter: under the causal mask
        // later rows attend to more positions, so equal static halves would leave one core
        // waiting.
        parallel.runChunked(rows.count * c.headCount, chunk: 4) { _, range in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: maxLength) { scratch in
                guard let att = scratch.baseAddress else { return }
                for item in range {
                    let i = item / c.headCount, h = item % c.headCount
                    let row = rows[i]
                    let cache = caches[row.sequence]
                    let kvOffset = (h / kvMul) * headDim
                    let qh = q + i * dim + h * headDim
                    // Sliding window: only the last `window` positions (the cache keeps all).
                    let first = row.position >= window ? row.position + 1 - window : 0
                    let length = row.position + 1 - first
                    for t in 0..<length {
                        att[t] = dot(qh, cache.key(layer: l, position: first + t) + kvOffset, headDim) * scale
                    }
                    softmax(att, count: length)
                    let oh = out + i * dim + h * headDim
                    weightedSum(att, count: length, values: cache.value(layer: l, position: first) + kvOffset,
                                stride: c.kvDim, width: headDim, into: oh)
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
