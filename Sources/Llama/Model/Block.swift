import Foundation
import CKernels

// One decoder layer, the block, defined once: the inference model (`LlamaModel`, rows of
// several sequences over their KV caches) and the training model (`TrainingModel`, whole
// sequences, keeping what its backward reads) both run `TransformerBlock.forward`. As in
// nanoGPT's `Block` and llm.c's layer forward, the training forward is the inference forward
// plus saved activations; the backward (Training/) reads those activations.

/// A weight vector (a norm's scale, a bias): `count` fp32 values at `base`. The inference
/// model's are fp32 copies made at load (`storage` keeps them alive); the training model's
/// point into its parameter buffer, so a block reads what the optimizer last wrote.
struct WeightVector {
    let base: UnsafePointer<Float>
    let count: Int
    let storage: AnyObject?
}

/// A norm's scale and, for LayerNorm, its bias.
struct NormWeights {
    let weight: WeightVector
    let bias: WeightVector?
}

/// The weights of one decoder layer. Optional fields are the architecture's variations
/// (nil when it has no such tensor).
struct LayerWeights {
    let attentionNorm: NormWeights
    let wq, wk, wv, wo: MatrixView
    let bq, bk, bv, bo: WeightVector?
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
    let upBias, downBias: WeightVector?
}

/// A layer's feed-forward: one network, or a router over experts (Mixtral).
enum FeedForwardWeights {
    case dense(DenseFeedForward)
    /// `router` has one row per expert; each token goes to the top `perToken` experts.
    case experts(router: MatrixView, experts: [DenseFeedForward], perToken: Int)
}

extension LayerWeights {
    /// Layer `l`'s weights for architecture `a`, by role: `matrix` for the matrices it has,
    /// `vector` for norms and biases (nil: the architecture has no such tensor), `expert` for
    /// expert e's matrices. The one list of what a layer holds, for the checkpoint's views
    /// (`LlamaModel`) and for the training model's parameter buffer alike.
    init(layer l: Int, architecture a: Architecture, path: String,
         matrix: (TensorRole) throws -> MatrixView, vector: (TensorRole) throws -> WeightVector?,
         expert: (TensorRole, Int) throws -> MatrixView) throws {
        func optionalNorm(_ role: TensorRole, bias: TensorRole? = nil) throws -> NormWeights? {
            guard let w = try vector(role) else { return nil }
            return NormWeights(weight: w, bias: try bias.flatMap { try vector($0) })
        }
        func norm(_ role: TensorRole, bias: TensorRole) throws -> NormWeights {
            guard let n = try optionalNorm(role, bias: bias) else {
                throw ModelError.invalidConfig(path: path, message: "architecture \(a.name) has no \(role)")
            }
            return n
        }
        func feedForward() throws -> FeedForwardWeights {
            guard let count = a.expertCount else {
                return .dense(DenseFeedForward(
                    w1: a.gatedFeedForward ? try matrix(.gate) : nil, w2: try matrix(.down), w3: try matrix(.up),
                    upBias: try vector(.upBias), downBias: try vector(.downBias)))
            }
            let k = a.expertsPerToken
            guard count > 0, k > 0, k <= count, a.gatedFeedForward else {
                throw ModelError.invalidConfig(path: path, message: "\(k) experts per token of \(count) experts")
            }
            let experts = try (0..<count).map { e in
                DenseFeedForward(w1: try expert(.expertGate, e), w2: try expert(.expertDown, e), w3: try expert(.expertUp, e),
                                 upBias: nil, downBias: nil)
            }
            return .experts(router: try matrix(.router), experts: experts, perToken: k)
        }
        self.init(attentionNorm: try norm(.attentionNorm, bias: .attentionNormBias),
                  wq: try matrix(.wq), wk: try matrix(.wk), wv: try matrix(.wv), wo: try matrix(.wo),
                  bq: try vector(.wqBias), bk: try vector(.wkBias), bv: try vector(.wvBias), bo: try vector(.woBias),
                  postAttentionNorm: try optionalNorm(.postAttentionNorm),
                  ffnNorm: try norm(.ffnNorm, bias: .ffnNormBias),
                  feedForward: try feedForward(),
                  postFfnNorm: try optionalNorm(.postFfnNorm))
    }
}

/// How a block multiplies rows by a weight matrix: `out[t, r] = Σ_c W[r, c] · x[t, c]`.
/// Both end in the same `gemmTile` micro-kernel with the same 256-column blocks, so fp32
/// weights give the same bits either way (`TrainingInferenceAgreementTests`).
enum MatrixProducts {
    /// `matmul`: W in its stored type; `matvec` for a few rows, `gemm` (W's blocks of 128
    /// rows split over the cores) for more. The inference model.
    case stored(ParallelFor)
    /// `StridedGEMM.linear` on fp32 W: all of W packed once per product and the token rows
    /// split over the cores. The training model, whose matrices have few rows (dim 128: one
    /// block of `gemm`, one core) and whose batches have many.
    case strided(StridedGEMM)

    @inline(__always)
    func callAsFunction(_ w: MatrixView, _ x: UnsafePointer<Float>, rows n: Int, _ out: FloatPointer, role: ProductRole? = nil) {
        switch self {
        case let .stored(parallel):
            matmul(w, x, tokens: n, out, parallel: parallel, role: role)
        case let .strided(gemm):
            // Only the training model makes these, over its own fp32 parameters.
            precondition(w.type == .f32 && w.layout == .plain, "strided products take plain fp32 weights")
            gemm.linear(x, w.base.assumingMemoryBound(to: Float.self), out, rows: n, inDim: w.columns, outDim: w.rows)
        }
    }

    /// Several matrices with the same input (a layer's wq, wk, wv; its gate and up), each
    /// into its own output: the stored products quantize the input once and run them in one
    /// parallel loop (`matmul(_ products:…)`); the outputs are what each product gives alone.
    /// Two or three products, passed to `matmul` from the stack: no array per layer.
    @inline(__always)
    func shared(_ p0: (w: MatrixView, out: FloatPointer), _ p1: (w: MatrixView, out: FloatPointer),
                _ x: UnsafePointer<Float>, rows n: Int, role: ProductRole? = nil) {
        shared(p0, p1, nil, x, rows: n, role: role)
    }

    @inline(__always)
    func shared(_ p0: (w: MatrixView, out: FloatPointer), _ p1: (w: MatrixView, out: FloatPointer),
                _ p2: (w: MatrixView, out: FloatPointer)?, _ x: UnsafePointer<Float>, rows n: Int, role: ProductRole? = nil) {
        switch self {
        case let .stored(parallel):
            withUnsafeTemporaryAllocation(of: (w: MatrixView, out: FloatPointer).self, capacity: 3) { list in
                list.initializeElement(at: 0, to: p0)
                list.initializeElement(at: 1, to: p1)
                var count = 2
                if let p2 {
                    list.initializeElement(at: 2, to: p2)
                    count = 3
                }
                let used = UnsafeMutableBufferPointer(rebasing: list[..<count])
                matmul(UnsafeBufferPointer(used), x, tokens: n, parallel: parallel, role: role)
                _ = used.deinitialize()
            }
        case let .strided(gemm):
            // Only the training model makes these, over its own fp32 parameters: one
            // `multiplyGroup` (with bf16 products, x rounded once and two pool wake-ups).
            func product(_ p: (w: MatrixView, out: FloatPointer)) -> StridedGEMM.Product {
                precondition(p.w.type == .f32 && p.w.layout == .plain, "strided products take plain fp32 weights")
                return StridedGEMM.linearProduct(x, p.w.base.assumingMemoryBound(to: Float.self), p.out,
                                                 rows: n, inDim: p.w.columns, outDim: p.w.rows)
            }
            gemm.multiplyGroup(product(p0), product(p1), p2.map(product), sharedA: true)
        }
    }
}

/// Where a block's attention finds its keys and values.
enum AttentionSource {
    /// Inference: row i is `rows[i]`; its key and value are stored in its sequence's cache
    /// at its position, and it attends over that cache (positions 0...its position).
    case caches(rows: [BatchRow], caches: [KVCache])
    /// Training: the rows are `batch` sequences of `context` consecutive positions, and each
    /// row attends causally over its own sequence's rows of k and v. The softmax weights are
    /// kept in `probs` (batch × heads × context × context, zero above the diagonal) for the
    /// backward.
    case sequences(batch: Int, context: Int, probs: FloatPointer)
}

/// RoPE's cos and sin for the rows of a block call, headDim/2 of each per row: row i's at
/// `(i % period) · headDim/2`. The inference model computes them per call, one row per batch
/// row (period: the row count); the training model keeps one table of its context's
/// positions (period: the context), shared by every sequence.
struct RopeRows {
    let cos: UnsafePointer<Float>
    let sin: UnsafePointer<Float>
    let period: Int
}

/// The buffers a block writes, each rows × width. The inference model points them at its
/// `RunState` scratch, where the next layer overwrites them (`init(scratch:)`); the training
/// model gives every layer its own (`TrainingWorkspace.layer`), which its backward reads.
struct BlockActivations {
    /// The attention norm's output (rows × dim); `rstd1` its 1/rms per row (nil: not kept).
    let h1: FloatPointer
    let rstd1: FloatPointer?
    /// Queries (rows × queryDim), keys and values (rows × kvDim), q and k after RoPE.
    let q, k, v: FloatPointer
    /// Attention output before wo (rows × queryDim).
    let att: FloatPointer
    /// The residual stream after attention (rows × dim).
    let xMid: FloatPointer
    /// The feed-forward norm's output (rows × dim) and its 1/rms per row.
    let h2: FloatPointer
    let rstd2: FloatPointer?
    /// Gate w1·h2, up w3·h2 and act(gate) ⊙ up (rows × hidden each); a plain feed-forward
    /// writes act(up + b) to `g` only.
    let a1, a3, g: FloatPointer
    /// wo·att, then the feed-forward's output, before each is added to the residual (rows × dim).
    let projection: FloatPointer
    /// The mixture-of-experts scratch (router logits, gathered rows): the inference state's
    /// (the training model has no experts).
    let experts: RunState?
}

extension BlockActivations {
    /// Every buffer in the inference scratch: one layer's intermediates last until the next
    /// layer. `xMid` is the residual stream itself (attention's output added in place).
    init(scratch s: RunState) {
        self.init(h1: s.xb, rstd1: nil, q: s.q, k: s.k, v: s.v, att: s.xb2, xMid: s.x, h2: s.xb, rstd2: nil,
                  a1: s.hb, a3: s.hb2, g: s.hb, projection: s.xb, experts: s)
    }
}

/// The decoder block of the Llama family and its relatives: a pre-norm grouped-query
/// attention and a feed-forward, each added to the residual stream. What varies between
/// architectures (`config.architecture`: norm kind, activation, gated or plain feed-forward,
/// biases, RoPE layout or none, post-norms, soft-caps, sliding windows, experts) is each one
/// small step below, chosen once per call, not per element.
///
/// Both models hold one: the inference model with `.stored` products and its communicator
/// (an all-reduce after wo and w2 in a model-parallel job), the training model with
/// `.strided` products over its fp32 parameters.
extension LlamaModel {
    /// Rows that attend over at least this many cache positions take the flash kernel
    /// (FlashAttention.h: online softmax over blocks of 32 keys, a tile of queries sharing
    /// each block, decode split over positions when heads alone leave cores idle); shorter
    /// ones, and every row when an observer wants the scores, take the two-pass kernels
    /// (Attention.h: a score row, softmax, weighted values), whose row of scores stays in L1
    /// and which training's forward shares to the bit. The rule depends on the row alone, so
    /// a position's result does not depend on how its prompt was split into batches.
    public static let flashAttentionMinimumLength = 512
}

struct TransformerBlock {
    let config: ModelConfig
    let parallel: ParallelFor
    let products: MatrixProducts
    let communicator: any Communicator

    /// Layer `l` on `n` rows of the residual stream `x`, into `output` (which may be `x`):
    /// `xMid = x + attention(norm(x))`, `output = xMid + feedForward(norm(xMid))`, every
    /// intermediate written to `buffers`. `rope` is nil for learned positions (GPT-2).
    /// `observer` (nil: no cost) is shown the activations at each `ForwardStep`.
    func forward(layer l: Int, _ w: LayerWeights, x: UnsafePointer<Float>, output: FloatPointer, rows n: Int,
                 buffers a: BlockActivations, attention source: AttentionSource, rope: RopeRows?,
                 observer: (any ForwardObserver)?) {
        let c = config
        let dim = c.dim, qDim = c.queryDim, kvDim = c.kvDim
        // Attention: h1 = norm(x); q, k, v = h1·Wᵀ (+ b); RoPE; attention; xMid = x + wo·att.
        normRows(x, w.attentionNorm, a.h1, rows: 0..<n, rstd: a.rstd1)
        observer?.observe(.attentionNorm, layer: l, values: a.h1, rows: n, width: dim)
        products.shared((w.wq, a.q), (w.wk, a.k), (w.wv, a.v), a.h1, rows: n, role: .qkv)
        addBias(w.bq, to: a.q, rows: n)
        addBias(w.bk, to: a.k, rows: n)
        addBias(w.bv, to: a.v, rows: n)
        if let rope { self.rope(a.q, heads: c.headCount, a.k, heads: c.kvHeadCount, rows: n, angles: rope) }
        if let observer {
            observer.observe(.query, layer: l, values: a.q, rows: n, width: qDim)
            observer.observe(.key, layer: l, values: a.k, rows: n, width: kvDim)
            observer.observe(.value, layer: l, values: a.v, rows: n, width: kvDim)
        }
        switch source {
        case let .caches(rows, caches):
            for (i, r) in rows.enumerated() {
                caches[r.sequence].store(layer: l, position: r.position, key: a.k + i * kvDim, value: a.v + i * kvDim)
            }
            cacheAttention(layer: l, q: a.q, out: a.att, rows: rows, caches: caches, observer: observer)
        case let .sequences(batch, context, probs):
            sequenceAttention(layer: l, q: a.q, k: a.k, v: a.v, out: a.att, probs: probs, batch: batch, context: context,
                              observer: observer)
        }
        observer?.observe(.attentionOutput, layer: l, values: a.att, rows: n, width: qDim)
        products(w.wo, a.att, rows: n, a.projection, role: .attentionOutput)
        // Row-parallel wo: each rank's heads give a partial sum (before the bias, added once).
        if communicator.size > 1 { communicator.allreduceSum(a.projection, count: n * dim) }
        addBias(w.bo, to: a.projection, rows: n)
        if let pn = w.postAttentionNorm { normRows(a.projection, pn, a.projection, rows: 0..<n) }
        observer?.observe(.attentionProjection, layer: l, values: a.projection, rows: n, width: dim)
        add(x, a.projection, into: a.xMid, count: n * dim)
        observer?.observe(.attentionResidual, layer: l, values: a.xMid, rows: n, width: dim)

        // Feed-forward: h2 = norm(xMid); output = xMid + ffn(h2).
        normRows(a.xMid, w.ffnNorm, a.h2, rows: 0..<n, rstd: a.rstd2)
        observer?.observe(.ffnNorm, layer: l, values: a.h2, rows: n, width: dim)
        switch w.feedForward {
        case let .dense(f):
            feedForward(f, a.h2, rows: n, buffers: a, into: a.projection, layer: l, observer: observer)
        case let .experts(router, experts, k):
            mixtureOfExperts(router: router, experts: experts, perToken: k, a.h2, rows: n, buffers: a,
                             into: a.projection, layer: l, observer: observer)
        }
        if let pn = w.postFfnNorm { normRows(a.projection, pn, a.projection, rows: 0..<n) }
        add(a.xMid, a.projection, into: output, count: n * dim)
        observer?.observe(.residual, layer: l, values: output, rows: n, width: dim)
    }

    /// The architecture's norm of rows `rows` of `x` into consecutive rows of `out` (which
    /// may be `x` itself when `rows` are 0..<n). With `rstd`, an RMSNorm also keeps each
    /// row's 1/rms there (the training backward reads it).
    func normRows(_ x: UnsafePointer<Float>, _ norm: NormWeights, _ out: FloatPointer,
                  rows: some RandomAccessCollection<Int>, rstd: FloatPointer? = nil) {
        let dim = config.dim, eps = config.normEps, kind = config.architecture.norm
        let g = norm.weight.base, bias = norm.bias?.base
        parallel.runChunked(rows.count, chunk: 16) { _, range in
            for j in range {
                let i = rows[rows.index(rows.startIndex, offsetBy: j)]
                switch kind {
                case .rms, .rmsOnePlusWeight:
                    // (1 + w) is already in the weights (see `NormKind.rmsOnePlusWeight`).
                    let s = rmsnorm(x + i * dim, g, out + j * dim, count: dim, eps: eps)
                    rstd?[j] = s
                case .layerNorm:
                    layerNorm(x + i * dim, g, bias, out + j * dim, count: dim, eps: eps)
                }
            }
        }
    }

    /// RoPE of `heads` heads in each of `n` rows at `p` (q) and of `heads2` heads in each row
    /// at `p2` (k), row i with `angles`' row i, in the architecture's pairing, in one parallel
    /// loop. The training backward rotates gradients back with −sin.
    func rope(_ p: FloatPointer, heads: Int, _ p2: FloatPointer, heads heads2: Int, rows n: Int, angles: RopeRows) {
        let headDim = config.headDim, half = headDim / 2
        let layout = config.architecture.ropeLayout
        @inline(__always) func rotate(_ x: FloatPointer, heads: Int, _ o: Int) {
            switch layout {
            case .interleaved: applyRope(x, heads: heads, headDim: headDim, cos: angles.cos + o, sin: angles.sin + o)
            case .rotateHalf: applyRopeRotateHalf(x, heads: heads, headDim: headDim, cos: angles.cos + o, sin: angles.sin + o)
            }
        }
        parallel.runChunked(n, chunk: 16) { _, range in
            for i in range {
                let o = (i % angles.period) * half
                rotate(p + i * heads * headDim, heads: heads, o)
                rotate(p2 + i * heads2 * headDim, heads: heads2, o)
            }
        }
    }

    /// `bias` added to each of `rows` rows of `x` (no-op without a bias).
    func addBias(_ bias: WeightVector?, to x: FloatPointer, rows: Int) {
        guard let bias else { return }
        let b = bias.base, width = bias.count
        parallel.runChunked(rows, chunk: 64) { _, range in
            for r in range { addInPlace(x + r * width, b, count: width) }
        }
    }

    /// `y = a + b` (y may be a): the residual connection.
    func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into y: FloatPointer, count: Int) {
        parallel.runChunked(count, chunk: 16_384) { _, range in
            for i in range { y[i] = a[i] + b[i] }
        }
    }

    /// The feed-forward of `n` rows of `h` into `out` (which may be `h`), through the
    /// buffers' `a1`/`a3`/`g`: gated (act(w1·h) ⊙ w3·h, SwiGLU or GeGLU) or plain
    /// (act(w3·h + b)), then w2 (+ b). `observer` (nil for a mixture's experts) sees gate,
    /// up, activation, down.
    func feedForward(_ w: DenseFeedForward, _ h: UnsafePointer<Float>, rows n: Int, buffers a: BlockActivations,
                     into out: FloatPointer, layer l: Int, observer: (any ForwardObserver)?) {
        let hidden = config.hiddenDim, activation = config.architecture.activation
        let a1 = a.a1, a3 = a.a3, g = a.g
        if let w1 = w.w1 {
            products.shared((w1, a1), (w.w3, a3), h, rows: n, role: .gateUp)
            if let observer {
                observer.observe(.gate, layer: l, values: a1, rows: n, width: hidden)
                observer.observe(.up, layer: l, values: a3, rows: n, width: hidden)
            }
            // Vectorized and split across cores: at a 512-token prompt of a 1B model this is
            // 4 M exponentials per layer. Chunks are whole 8-lane vectors, so only the last
            // elements of all take the scalar tail, whatever the split.
            parallel.runChunked(n * hidden, chunk: 16_384) { _, range in
                let o = range.lowerBound
                switch activation {
                case .silu: swiglu(a1 + o, a3 + o, g + o, count: range.count)
                case .geluTanh: geglu(a1 + o, a3 + o, g + o, count: range.count)
                }
            }
        } else {
            products(w.w3, h, rows: n, g, role: .gateUp)
            addBias(w.upBias, to: g, rows: n)
            observer?.observe(.up, layer: l, values: g, rows: n, width: hidden)
            parallel.runChunked(n * hidden, chunk: 16_384) { _, range in
                let o = range.lowerBound
                switch activation {
                case .silu: for i in range { g[i] = silu(g[i]) }
                case .geluTanh: geluTanhInPlace(g + o, count: range.count)
                }
            }
        }
        observer?.observe(.activation, layer: l, values: g, rows: n, width: hidden)
        products(w.w2, g, rows: n, out, role: .down)
        // Row-parallel w2: each rank's feed-forward rows give a partial sum.
        if communicator.size > 1 { communicator.allreduceSum(out, count: n * config.dim) }
        addBias(w.downBias, to: out, rows: n)
        observer?.observe(.down, layer: l, values: out, rows: n, width: config.dim)
    }

    /// Mixture of experts on the normalized rows `h`, into `out` (which may be `h`): each row
    /// goes to the `k` experts with the largest router logits, weighted by a softmax over
    /// those k logits (transformers' Mixtral). Rows are grouped by expert, so a prompt still
    /// runs each chosen expert as one GEMM, and an expert no row chose is never read.
    ///
    /// The observer sees only `.down`: the weighted sum of the chosen experts' outputs,
    /// [rows × D] (what is added to the residual). Gate, up and activation exist per expert
    /// for a subset of rows, so they are not shown.
    func mixtureOfExperts(router: MatrixView, experts: [DenseFeedForward], perToken k: Int, _ h: UnsafePointer<Float>,
                          rows n: Int, buffers a: BlockActivations, into out: FloatPointer, layer l: Int,
                          observer: (any ForwardObserver)?) {
        // Only the inference model has experts (`validateForTraining` refuses them).
        guard let state = a.experts else { preconditionFailure("a mixture of experts needs the inference state's scratch") }
        let count = experts.count, dim = config.dim
        let logits = state.routerLogits, choice = state.expertChoice, weight = state.expertWeight
        products(router, h, rows: n, logits)
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
                    (input + m * dim).update(from: h + i * dim, count: dim)
                    m += 1
                }
            }
            guard m > 0 else { continue }
            feedForward(experts[e], input, rows: m, buffers: a, into: output, layer: l, observer: nil)
            for r in 0..<m {
                let x = mixed + Int(members[r]) * dim, y = output + r * dim, g = memberWeight[r]
                for d in 0..<dim { x[d] += g * y[d] }
            }
        }
        out.update(from: mixed, count: n * dim)
        observer?.observe(.down, layer: l, values: out, rows: n, width: dim)
    }

    /// The attention's score scale, soft-cap and window (positions a query sees back from
    /// itself, itself included; nil: all) at layer `l`.
    private func attentionShape(layer l: Int) -> (scale: Float, softCap: Float?, window: Int?) {
        let a = config.architecture
        return (a.attentionScale ?? 1 / Float(config.headDim).squareRoot(), a.attentionSoftCap, a.window(layer: l))
    }

    /// Causal grouped-query attention of every row over its sequence's cache (positions
    /// 0...row's position), into `out`. Query head h reads key/value head h / (heads / kvHeads).
    func cacheAttention(layer l: Int, q: UnsafePointer<Float>, out: FloatPointer, rows: [BatchRow], caches: [KVCache],
                        observer: (any ForwardObserver)?) {
        let c = config
        let headDim = c.headDim, qDim = c.queryDim
        let kvMul = c.headCount / c.kvHeadCount
        let (scale, softCapValue, window) = attentionShape(layer: l)
        let maxLength = rows.reduce(0) { max($0, $1.position) } + 1
        let flashMinimum = observer == nil ? LlamaModel.flashAttentionMinimumLength : Int.max
        func length(_ row: BatchRow) -> Int { window.map { min($0, row.position + 1) } ?? row.position + 1 }
        let flashRows = rows.reduce(0) { $0 + (length($1) >= flashMinimum ? 1 : 0) }
        let twoPassRows = rows.count - flashRows
        // Two-pass items: a row and a group of query heads that read the same key/value head:
        // each cached key and value is loaded once for the group. When that leaves too few
        // items for the threads (one decode row, few kv heads), a group is one head; a
        // query's scores and output are the same either way (Attention.h). Items come in
        // chunks from a shared counter: under the causal mask later rows attend to more
        // positions, so equal static halves would leave one core waiting.
        let group = twoPassRows * c.kvHeadCount >= 2 * parallel.workers ? kvMul : 1
        let groupsPerRow = c.headCount / group
        let twoPassItems = twoPassRows > 0 ? rows.count * groupsPerRow : 0
        // Flash items: a tile of `tileRows` rows (its runs of consecutive positions of one
        // sequence each one kernel call) × a key/value head (all its query heads) × a part of
        // the positions. Parts only when tiles × kv heads leave a core idle (decode); their
        // states are merged in part order afterwards.
        let tileRows = max(1, Int(SWIFTLLAMA_FLASH_QUERIES) / kvMul)
        let tiles = flashRows > 0 ? (rows.count + tileRows - 1) / tileRows : 0
        let keyBlock = Int(SWIFTLLAMA_FLASH_KEYS)
        var parts = 1
        if tiles > 0 && tiles * c.kvHeadCount < 2 * parallel.workers {
            let wanted = (2 * parallel.workers + tiles * c.kvHeadCount - 1) / (tiles * c.kvHeadCount)
            parts = max(1, min(wanted, maxLength / (4 * keyBlock)))
        }
        let partLength = ((maxLength + parts - 1) / parts + keyBlock - 1) / keyBlock * keyBlock
        let flashItems = tiles * c.kvHeadCount * parts
        let tileQueries = tileRows * kvMul
        let partFloats = tileQueries * (headDim + 2)  // one part of one (tile, kv head): output, max, sum
        let scratchCount = max(twoPassItems > 0 ? group * maxLength + 8 * headDim : 0,
                               flashItems > 0 ? swiftllama_flash_scratch_floats(Int32(headDim)) : 0)
        let softCap = softCapValue ?? 0, windowLength = window ?? 0
        // The end of the run of flash rows from row i (below tileEnd): consecutive positions of
        // one sequence, each over flashMinimum positions. One kernel call, and one merge, each.
        func flashRunEnd(_ i: Int, _ tileEnd: Int) -> Int {
            var end = i + 1
            while end < tileEnd && rows[end].sequence == rows[i].sequence
                && rows[end].position == rows[end - 1].position + 1 && length(rows[end]) >= flashMinimum { end += 1 }
            return end
        }
        withScratch(.attentionParts, of: Float.self, capacity: parts > 1 ? flashItems * partFloats : 0) { partStates in
            parallel.runChunked(twoPassItems + flashItems, chunk: 1) { _, range in
                withScratch(.attention, of: Float.self, capacity: scratchCount) { att in
                    for item in range {
                        if item < twoPassItems {
                            let i = item / groupsPerRow
                            if length(rows[i]) >= flashMinimum { continue }
                            twoPassAttention(layer: l, row: i, heads: (item % groupsPerRow) * group, group: group, q: q, out: out,
                                             rows: rows, caches: caches, maxLength: maxLength, scratch: att, observer: observer)
                            continue
                        }
                        let f = item - twoPassItems
                        let part = f % parts, kvHead = (f / parts) % c.kvHeadCount, tile = f / (parts * c.kvHeadCount)
                        let from = part * partLength, to = parts > 1 ? min(maxLength, from + partLength) : maxLength
                        let state = partStates + f * partFloats
                        var i = tile * tileRows
                        let tileEnd = min(rows.count, i + tileRows)
                        while i < tileEnd {
                            guard length(rows[i]) >= flashMinimum else { i += 1; continue }
                            let end = flashRunEnd(i, tileEnd)
                            let cache = caches[rows[i].sequence], first = (i - tile * tileRows) * kvMul
                            let qRun = q + i * qDim + kvHead * kvMul * headDim
                            let outRun = out + i * qDim + kvHead * kvMul * headDim
                            swiftllama_flash_attention(qRun, qDim, Int32(end - i), Int32(kvMul),
                                                       cache.key(layer: l, position: 0, offset: kvHead * headDim),
                                                       cache.value(layer: l, position: 0, offset: kvHead * headDim),
                                                       cache.type.kernelCode, cache.positionStride, Int32(headDim),
                                                       rows[i].position, windowLength, from, to, scale, softCap,
                                                       parts > 1 ? state + first * headDim : outRun, qDim,
                                                       parts > 1 ? state + tileQueries * headDim + first : nil,
                                                       parts > 1 ? state + tileQueries * (headDim + 1) + first : nil, att)
                            i = end
                        }
                    }
                }
            }
            guard parts > 1 else { return }
            // Merge each run's parts in order (the same runs as above).
            for tile in 0..<tiles {
                for kvHead in 0..<c.kvHeadCount {
                    let states = partStates + (tile * c.kvHeadCount + kvHead) * parts * partFloats
                    var i = tile * tileRows
                    let tileEnd = min(rows.count, i + tileRows)
                    while i < tileEnd {
                        guard length(rows[i]) >= flashMinimum else { i += 1; continue }
                        let end = flashRunEnd(i, tileEnd)
                        let first = (i - tile * tileRows) * kvMul
                        swiftllama_flash_merge(Int32(parts), Int32((end - i) * kvMul), Int32(kvMul), Int32(headDim),
                                               states + first * headDim, states + tileQueries * headDim + first,
                                               states + tileQueries * (headDim + 1) + first, partFloats,
                                               out + i * qDim + kvHead * kvMul * headDim, qDim)
                        i = end
                    }
                }
            }
        }
    }

    /// The two-pass attention of row `i`'s query heads h0..<h0 + group (Attention.h).
    @inline(__always)
    private func twoPassAttention(layer l: Int, row i: Int, heads h0: Int, group: Int, q: UnsafePointer<Float>, out: FloatPointer,
                                  rows: [BatchRow], caches: [KVCache], maxLength: Int, scratch att: UnsafeMutablePointer<Float>,
                                  observer: (any ForwardObserver)?) {
        let c = config
        let headDim = c.headDim, qDim = c.queryDim
        let kvMul = c.headCount / c.kvHeadCount
        let (scale, softCapValue, window) = attentionShape(layer: l)
        let widened = att + group * maxLength
        let row = rows[i]
        let cache = caches[row.sequence]
        let kvOffset = (h0 / kvMul) * headDim
        let first = window.map { max(0, row.position + 1 - $0) } ?? 0
        let length = row.position + 1 - first
        swiftllama_attention_scores(q + i * qDim + h0 * headDim, headDim, Int32(group),
                                    cache.key(layer: l, position: first, offset: kvOffset), cache.type.kernelCode,
                                    cache.positionStride,
                                    Int32(length), Int32(headDim), scale, att, maxLength, widened)
        for j in 0..<group {
            let scores = att + j * maxLength
            if let softCapValue { softCap(scores, count: length, cap: softCapValue) }
            observer?.observeAttention(.scores, layer: l, row: i, head: h0 + j, values: scores, first: first, count: length)
            softmax(scores, count: length)
            observer?.observeAttention(.probabilities, layer: l, row: i, head: h0 + j, values: scores, first: first, count: length)
        }
        swiftllama_attention_values(att, maxLength, Int32(group), cache.value(layer: l, position: first, offset: kvOffset),
                                    cache.type.kernelCode, cache.positionStride, Int32(length), Int32(headDim),
                                    out + i * qDim + h0 * headDim, headDim, widened)
    }

    /// Causal grouped-query attention within each of `batch` sequences of `context` rows,
    /// over their own k and v rows, into `out`; the softmax weights kept in `probs`
    /// (batch × heads × context × context, zero outside each row's window).
    ///
    /// The same C kernels as `cacheAttention` on an fp32 cache, one head at a time, so the
    /// two agree to the bit. One task per (sequence, head).
    func sequenceAttention(layer l: Int, q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
                           out: FloatPointer, probs: FloatPointer, batch: Int, context T: Int,
                           observer: (any ForwardObserver)?) {
        let c = config
        let hd = c.headDim, heads = c.headCount, qw = c.queryDim, kw = c.kvDim, group = heads / c.kvHeadCount
        let (scale, cap, window) = attentionShape(layer: l)
        parallel.parallelFor(batch * heads) { job in
            let b = job / heads, h = job % heads, kh = h / group
            let P = probs + (b * heads + h) * T * T
            let kb = k + b * T * kw + kh * hd, vb = v + b * T * kw + kh * hd
            for t in 0..<T {
                let pt = P + t * T, row = b * T + t
                let first = window.map { max(0, t + 1 - $0) } ?? 0
                let length = t + 1 - first
                if first > 0 { pt.update(repeating: 0, count: first) }
                attentionScores(q + row * qw + h * hd, keys: kb + first * kw, stride: kw, count: length, headDim: hd,
                                scale: scale, softCap: cap, into: pt + first)
                observer?.observeAttention(.scores, layer: l, row: row, head: h, values: pt + first, first: first, count: length)
                softmax(pt + first, count: length)
                observer?.observeAttention(.probabilities, layer: l, row: row, head: h, values: pt + first, first: first, count: length)
                if t + 1 < T { (pt + t + 1).update(repeating: 0, count: T - t - 1) }
            }
            // The weighted sums 4 rows at a time, sharing each value vector's loads.
            var t = 0
            while t < T {
                let rows = min(4, T - t), row = b * T + t
                weightedSumRows(P + t * T, ldp: T, firstCount: t + 1, rows: rows, values: vb, stride: kw, width: hd,
                                into: out + row * qw + h * hd, ldo: qw)
                t += rows
            }
        }
    }
}
