import Foundation

/// Errors of the training code, each naming the file or field at fault.
public enum TrainingError: Error, CustomStringConvertible {
    case invalidConfig(field: String, reason: String)
    case badData(path: String, reason: String)
    case badCheckpoint(path: String, reason: String)
    /// A setting given on resume differs from what the run saved in `path` and cannot change;
    /// `run` says what the run has (`--dim 16`, `reached step 8`).
    case contradictsRun(path: String, flag: String, given: String, run: String)
    /// A new run would replace the run in `directory` (`file` is what exists).
    case runExists(directory: String, file: String, step: Int?)
    /// The run directory is a data directory (`llama prepare`'s, or the run's own input).
    case runIsDataDirectory(directory: String, meta: String)
    /// Another live process holds the run's lock.
    case runInUse(directory: String, lockFile: String, pid: Int32?)
    case lockFailed(path: String, reason: String)
    /// Training needs more memory than the machine has; `advice` names the flag to lower.
    case notEnoughMemory(bytes: Double, available: Int, advice: String)

    public var description: String {
        switch self {
        case let .invalidConfig(field, reason): return "invalid training config: \(field): \(reason)"
        case let .badData(path, reason): return "\(path): \(reason)"
        case let .badCheckpoint(path, reason): return "\(path): not a usable training checkpoint: \(reason)"
        case let .contradictsRun(path, flag, given, run):
            return "\(flag) \(given) contradicts the run being resumed: \(path) has \(run); drop \(flag), or start a new run with --out"
        case let .runExists(directory, file, step):
            let what = step.map { "a training run (at step \($0))" } ?? "a training run"
            return "\(file): \(what) is already here; continue it with --resume \(directory), "
                + "or pass --force to start a new run over it (replaces checkpoint.bin and log.csv, removes loss.png)"
        case let .runIsDataDirectory(directory, meta):
            return "--out \(directory) is a data directory (\(meta)); write the run to another directory"
        case let .runInUse(directory, lockFile, pid):
            let who = pid.map { "process \($0)" } ?? "another process"
            return "\(directory) is in use: \(who) is training there (\(lockFile)); wait for it to finish or stop it"
        case let .lockFailed(path, reason): return "\(path): cannot lock: \(reason)"
        case let .notEnoughMemory(bytes, available, advice):
            let gib = { (b: Double) in String(format: "%.1f GiB", b / 1_073_741_824) }
            return "training needs \(gib(bytes)) of memory, more than the \(gib(Double(available))) this machine has: \(advice)"
        }
    }
}

/// The shape of a Llama model being trained (the JSON keys are the `llama train` flag names).
public struct TrainingModelConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var dim: Int
    public var layers: Int
    public var heads: Int
    public var kvHeads: Int
    /// Feed-forward inner size (rows of w1 and w3).
    public var hidden: Int
    /// Sequence length trained on (and the RoPE table length).
    public var context: Int
    /// True when the output projection shares the token embedding.
    public var tiedEmbeddings: Bool
    public var normEps: Float
    public var ropeTheta: Float

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", dim, layers, heads, kvHeads = "kv_heads", hidden, context
        case tiedEmbeddings = "tied_embeddings", normEps = "norm_eps", ropeTheta = "rope_theta"
    }

    public init(vocabSize: Int, dim: Int, layers: Int, heads: Int, kvHeads: Int, hidden: Int, context: Int,
                tiedEmbeddings: Bool = false, normEps: Float = 1e-5, ropeTheta: Float = 10000) {
        self.vocabSize = vocabSize
        self.dim = dim
        self.layers = layers
        self.heads = heads
        self.kvHeads = kvHeads
        self.hidden = hidden
        self.context = context
        self.tiedEmbeddings = tiedEmbeddings
        self.normEps = normEps
        self.ropeTheta = ropeTheta
    }

    public var headDim: Int { dim / heads }
    public var kvDim: Int { kvHeads * headDim }

    /// The same model in the vocabulary the loaders and the inference model use (no rope
    /// scaling; the context trained on is the longest it was made for).
    public var modelConfig: ModelConfig {
        ModelConfig(dim: dim, layerCount: layers, headCount: heads, kvHeadCount: kvHeads, hiddenDim: hidden,
                    vocabSize: vocabSize, normEps: normEps, ropeTheta: ropeTheta, ropeScaling: nil, maxContext: context,
                    tiedEmbeddings: tiedEmbeddings)
    }

    /// Throws naming the first field that makes the shape impossible.
    public func validate() throws {
        func check(_ ok: Bool, _ field: String, _ reason: String) throws {
            if !ok { throw TrainingError.invalidConfig(field: field, reason: reason) }
        }
        try check(vocabSize > 0, "vocab_size", "must be positive, got \(vocabSize)")
        try check(dim > 0, "dim", "must be positive, got \(dim)")
        try check(layers > 0, "layers", "must be positive, got \(layers)")
        try check(heads > 0, "heads", "must be positive, got \(heads)")
        try check(dim % heads == 0, "dim", "\(dim) is not divisible by heads (\(heads))")
        try check(headDim % 2 == 0, "dim", "head size \(headDim) (dim / heads) must be even for RoPE")
        try check(kvHeads > 0 && kvHeads <= heads && heads % kvHeads == 0, "kv_heads",
                  "must divide heads (\(heads)), got \(kvHeads)")
        try check(hidden > 0, "hidden", "must be positive, got \(hidden)")
        try check(context > 0, "context", "must be positive, got \(context)")
        try check(normEps > 0, "norm_eps", "must be positive")
        try check(ropeTheta > 0, "rope_theta", "must be positive")
    }
}

/// Where each tensor lives in the flat parameter buffer; gradients and optimizer moments use
/// the same layout. Tensors are in Meta's canonical names (`TensorName`) and order:
/// embedding, then per layer attention norm, wq, wk, wv, wo, ffn norm, w1, w2, w3, then the
/// final norm and (when untied) the output projection.
public struct ParameterLayout: Sendable {
    public struct Tensor: Sendable {
        public let name: String
        /// `[rows, columns]` for matrices, `[n]` for vectors.
        public let shape: [Int]
        public let offset: Int
        public var count: Int { shape.reduce(1, *) }
        /// Matrices get weight decay; norm weights do not (as the reference's groups).
        public var isMatrix: Bool { shape.count == 2 }
    }

    public struct Layer: Sendable {
        public let attentionNorm, wq, wk, wv, wo, ffnNorm, w1, w2, w3: Int
    }

    public let tensors: [Tensor]
    public let count: Int
    public let embedding: Int
    public let layers: [Layer]
    public let finalNorm: Int
    /// Offset of the output projection (the embedding's when tied).
    public let output: Int

    public init(_ c: TrainingModelConfig) {
        // The architecture's table gives the tensors, their shapes and their order (which is
        // also the order of checkpoint.bin).
        let m = c.modelConfig
        var tensors: [Tensor] = []
        var offsets: [[TensorRole: Int]] = Array(repeating: [:], count: c.layers)
        var global: [TensorRole: Int] = [:]
        var next = 0
        for (spec, layer) in m.tensorLayout {
            let t = Tensor(name: spec.canonicalName(layer: layer), shape: spec.shape(m), offset: next)
            tensors.append(t)
            next += t.count
            if spec.role.isPerLayer { offsets[layer][spec.role] = t.offset } else { global[spec.role] = t.offset }
        }
        func at(_ role: TensorRole, _ l: Int) -> Int { offsets[l][role] ?? 0 }
        layers = (0..<c.layers).map { l in
            Layer(attentionNorm: at(.attentionNorm, l), wq: at(.wq, l), wk: at(.wk, l), wv: at(.wv, l), wo: at(.wo, l),
                  ffnNorm: at(.ffnNorm, l), w1: at(.gate, l), w2: at(.down, l), w3: at(.up, l))
        }
        embedding = global[.tokenEmbedding] ?? 0
        finalNorm = global[.finalNorm] ?? 0
        output = c.tiedEmbeddings ? embedding : global[.output] ?? 0
        self.tensors = tensors
        count = next
    }

    /// The parameter count of `c` in floating point: the sum `init` makes, for sizing a
    /// shape before building it (an absurd one would overflow `Int`).
    public static func estimatedCount(_ c: TrainingModelConfig) -> Double {
        let (dim, kvDim, hidden) = (Double(c.dim), Double(c.kvDim), Double(c.hidden))
        let perLayer = 2 * dim + 2 * dim * dim + 2 * kvDim * dim + 3 * hidden * dim
        return Double(c.vocabSize) * dim * (c.tiedEmbeddings ? 1 : 2) + Double(c.layers) * perLayer + dim
    }
}

/// Activations of one forward pass over `batch` sequences of `context` tokens, allocated once
/// and reused every step; with `backward`, also the gradient buffers of the backward pass.
public final class TrainingWorkspace {
    public let batch: Int
    public let context: Int
    public let hasBackward: Bool
    let rows: Int
    private let storage: FloatPointer
    private let storageCount: Int

    // Saved for backward, per layer.
    var x: [FloatPointer] = []       // residual stream entering layer l (index L: final)
    var h1: [FloatPointer] = []      // attention norm output
    var rstd1: [FloatPointer] = []
    var q: [FloatPointer] = []       // after RoPE
    var k: [FloatPointer] = []       // after RoPE
    var v: [FloatPointer] = []
    var probs: [FloatPointer] = []   // batch × heads × T × T
    var att: [FloatPointer] = []     // attention output, before wo
    var xMid: [FloatPointer] = []    // residual after attention
    var h2: [FloatPointer] = []
    var rstd2: [FloatPointer] = []
    var a1: [FloatPointer] = []      // w1 h2
    var a3: [FloatPointer] = []      // w3 h2
    var g: [FloatPointer] = []       // silu(a1) ⊙ a3
    var hFinal: FloatPointer
    var rstdFinal: FloatPointer
    var logits: FloatPointer         // overwritten by dLogits in backward
    var rowLoss: FloatPointer
    var tmp: FloatPointer            // rows × dim
    // Backward only.
    var dx: FloatPointer, dh: FloatPointer, dAtt: FloatPointer, dq: FloatPointer
    var dk: FloatPointer, dv: FloatPointer, dg: FloatPointer, da1: FloatPointer, da3: FloatPointer
    var tokens: [Int32]
    var targets: [Int32]

    public init(config c: TrainingModelConfig, batch: Int, backward: Bool) {
        self.batch = batch
        context = c.context
        hasBackward = backward
        rows = batch * c.context
        let n = rows
        storageCount = Int(TrainingWorkspace.floatCount(config: c, batch: batch, backward: backward).total)
        storage = .allocate(capacity: storageCount)
        storage.initialize(repeating: 0, count: storageCount)
        var next = storage
        func take(_ count: Int) -> FloatPointer { defer { next += count }; return next }
        for _ in 0..<c.layers {
            x.append(take(n * c.dim)); h1.append(take(n * c.dim)); rstd1.append(take(n))
            q.append(take(n * c.dim)); k.append(take(n * c.kvDim)); v.append(take(n * c.kvDim))
            probs.append(take(batch * c.heads * c.context * c.context)); att.append(take(n * c.dim))
            xMid.append(take(n * c.dim)); h2.append(take(n * c.dim)); rstd2.append(take(n))
            a1.append(take(n * c.hidden)); a3.append(take(n * c.hidden)); g.append(take(n * c.hidden))
        }
        x.append(take(n * c.dim))
        hFinal = take(n * c.dim); rstdFinal = take(n); logits = take(n * c.vocabSize)
        rowLoss = take(n); tmp = take(n * c.dim)
        if backward {
            dx = take(n * c.dim); dh = take(n * c.dim); dAtt = take(n * c.dim); dq = take(n * c.dim)
            dk = take(n * c.kvDim); dv = take(n * c.kvDim)
            dg = take(n * c.hidden); da1 = take(n * c.hidden); da3 = take(n * c.hidden)
        } else {
            // Forward-only (evaluation): the gradient buffers are never touched.
            dx = tmp; dh = tmp; dAtt = tmp; dq = tmp; dk = tmp; dv = tmp; dg = tmp; da1 = tmp; da3 = tmp
        }
        precondition(next == storage + storageCount, "workspace layout out of step with its size")
        tokens = [Int32](repeating: 0, count: n)
        targets = [Int32](repeating: 0, count: n)
    }

    deinit { storage.deallocate() }

    /// Floats a workspace holds (`total`), and how many of them are attention weights
    /// (batch × heads × context² per layer, the part that grows with the square of the
    /// context). In floating point, so that absurd shapes are sized without overflow before
    /// anything is allocated.
    public static func floatCount(config c: TrainingModelConfig, batch: Int, backward: Bool)
        -> (total: Double, attention: Double) {
        let n = Double(batch) * Double(c.context)
        let (dim, kvDim, hidden) = (Double(c.dim), Double(c.kvDim), Double(c.hidden))
        let attention = Double(batch) * Double(c.heads) * Double(c.context) * Double(c.context) * Double(c.layers)
        let perLayer = n * (dim * 6 + kvDim * 2 + hidden * 3 + 2)
        let tail = n * (dim * 3 + Double(c.vocabSize) + 2)
        let back = backward ? n * (dim * 4 + kvDim * 2 + hidden * 3) : 0
        return (perLayer * Double(c.layers) + attention + tail + back, attention)
    }

    /// Sets sequence `b` of the batch: `context` input tokens and the next-token targets.
    public func setSequence(_ b: Int, tokens t: ArraySlice<Int32>, targets y: ArraySlice<Int32>) {
        for (i, id) in t.enumerated() { tokens[b * context + i] = id }
        for (i, id) in y.enumerated() { targets[b * context + i] = id }
    }
}

/// A Llama decoder being trained: fp32 parameters and gradients in flat buffers (layout in
/// `ParameterLayout`), with forward and backward passes written out op by op.
public final class TrainingModel {
    public let config: TrainingModelConfig
    public let layout: ParameterLayout
    /// Parameters, `layout.count` floats.
    public let params: FloatPointer
    /// Gradients, same layout; accumulated by `backward` until `zeroGradients`.
    public let grads: FloatPointer
    public let pool: ParallelFor
    let gemm: TrainingGEMM
    let ropeCos: [Float]
    let ropeSin: [Float]

    public init(config: TrainingModelConfig, pool: ParallelFor) throws {
        try config.validate()
        self.config = config
        layout = ParameterLayout(config)
        params = .allocate(capacity: layout.count)
        params.initialize(repeating: 0, count: layout.count)
        grads = .allocate(capacity: layout.count)
        grads.initialize(repeating: 0, count: layout.count)
        self.pool = pool
        gemm = TrainingGEMM(pool: pool)
        (ropeCos, ropeSin) = TrainingKernels.ropeTables(context: config.context, headDim: config.headDim,
                                                        theta: config.ropeTheta)
    }

    deinit {
        params.deallocate()
        grads.deallocate()
    }

    /// The reference initialisation: matrices N(0, 0.02), wo and w2 N(0, 0.02/√(2L)), norms 1;
    /// drawn tensor by tensor in layout order.
    public func initialize(rng: inout Xoshiro256) {
        let residualStd = 0.02 / (2 * Double(config.layers)).squareRoot()
        for t in layout.tensors {
            let p = params + t.offset
            if !t.isMatrix {
                p.update(repeating: 1, count: t.count)
                continue
            }
            let std = (t.name.hasSuffix("wo.weight") || t.name.hasSuffix("w2.weight")) ? residualStd : 0.02
            for i in 0..<t.count { p[i] = Float(rng.nextNormal() * std) }
        }
    }

    public func zeroGradients() { grads.update(repeating: 0, count: layout.count) }

    /// Runs the model on the workspace's first `sequences` sequences and returns the summed
    /// cross-entropy over their tokens (nats). With `gradScale`, also leaves in the workspace
    /// what `backward` needs, with the loss gradient scaled by `gradScale / tokens`.
    @discardableResult
    public func forward(_ ws: TrainingWorkspace, sequences: Int? = nil, gradScale: Float? = nil) -> Double {
        let c = config
        let B = sequences ?? ws.batch, T = c.context, n = B * T
        let D = c.dim, KV = c.kvDim, H = c.hidden, V = c.vocabSize
        let w = params
        // Token embedding.
        let x0 = ws.x[0], emb = w + layout.embedding
        ws.tokens.withUnsafeBufferPointer { tokens in
            TrainingKernels.parallelRows(n, pool) { r0, r1 in
                for r in r0..<r1 { (x0 + r * D).update(from: emb + Int(tokens[r]) * D, count: D) }
            }
        }
        for l in 0..<c.layers {
            let L = layout.layers[l]
            let x = ws.x[l]
            // Attention: h = norm(x); q, k, v = h·Wᵀ; rope; causal attention; x + wo·att.
            TrainingKernels.rmsNorm(x, w + L.attentionNorm, ws.h1[l], ws.rstd1[l], rows: n, dim: D, eps: c.normEps, pool: pool)
            gemm.linear(ws.h1[l], w + L.wq, ws.q[l], rows: n, inDim: D, outDim: D)
            gemm.linear(ws.h1[l], w + L.wk, ws.k[l], rows: n, inDim: D, outDim: KV)
            gemm.linear(ws.h1[l], w + L.wv, ws.v[l], rows: n, inDim: D, outDim: KV)
            applyRope(ws.q[l], rows: n, width: D, inverse: false)
            applyRope(ws.k[l], rows: n, width: KV, inverse: false)
            TrainingKernels.attention(q: ws.q[l], k: ws.k[l], v: ws.v[l], out: ws.att[l], probs: ws.probs[l],
                                      batch: B, context: T, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim, pool: pool)
            gemm.linear(ws.att[l], w + L.wo, ws.tmp, rows: n, inDim: D, outDim: D)
            add(x, ws.tmp, into: ws.xMid[l], count: n * D)
            // Feed-forward: h = norm(x); x + w2·(silu(w1·h) ⊙ w3·h).
            TrainingKernels.rmsNorm(ws.xMid[l], w + L.ffnNorm, ws.h2[l], ws.rstd2[l], rows: n, dim: D, eps: c.normEps, pool: pool)
            gemm.linear(ws.h2[l], w + L.w1, ws.a1[l], rows: n, inDim: D, outDim: H)
            gemm.linear(ws.h2[l], w + L.w3, ws.a3[l], rows: n, inDim: D, outDim: H)
            let (a1, a3, g) = (ws.a1[l], ws.a3[l], ws.g[l])
            TrainingKernels.parallelRows(n, pool) { r0, r1 in
                swiglu(a1 + r0 * H, a3 + r0 * H, g + r0 * H, count: (r1 - r0) * H)
            }
            gemm.linear(ws.g[l], w + L.w2, ws.tmp, rows: n, inDim: H, outDim: D)
            add(ws.xMid[l], ws.tmp, into: ws.x[l + 1], count: n * D)
        }
        TrainingKernels.rmsNorm(ws.x[c.layers], w + layout.finalNorm, ws.hFinal, ws.rstdFinal, rows: n, dim: D, eps: c.normEps, pool: pool)
        gemm.linear(ws.hFinal, w + layout.output, ws.logits, rows: n, inDim: D, outDim: V)
        return ws.targets.withUnsafeBufferPointer { tp in
            TrainingKernels.crossEntropy(ws.logits, targets: tp.baseAddress!, rows: n, vocab: V,
                                         dLogits: gradScale == nil ? nil : ws.logits, gradScale: gradScale ?? 1,
                                         rowLoss: ws.rowLoss, pool: pool)
        }
    }

    /// Adds to `grads` the gradient of the last `forward(…, gradScale:)` (whole batch).
    public func backward(_ ws: TrainingWorkspace) {
        precondition(ws.hasBackward, "backward needs a workspace made with backward: true")
        let c = config
        let B = ws.batch, T = c.context, n = B * T
        let D = c.dim, KV = c.kvDim, H = c.hidden, V = c.vocabSize
        let w = params, dW = grads
        // Output projection and final norm. ws.logits now holds dLogits.
        gemm.linearBackwardWeight(ws.logits, ws.hFinal, dW + layout.output, rows: n, inDim: D, outDim: V)
        gemm.linearBackwardInput(ws.logits, w + layout.output, ws.dh, rows: n, inDim: D, outDim: V, accumulate: false)
        TrainingKernels.rmsNormBackward(ws.dh, ws.x[c.layers], w + layout.finalNorm, ws.rstdFinal, ws.dx,
                                        dW + layout.finalNorm, rows: n, dim: D, accumulate: false, pool: pool)
        // ws.dx is the gradient of the residual stream, carried down through the layers.
        for l in stride(from: c.layers - 1, through: 0, by: -1) {
            let L = layout.layers[l]
            // Feed-forward: x' = xMid + w2·g.
            gemm.linearBackwardWeight(ws.dx, ws.g[l], dW + L.w2, rows: n, inDim: H, outDim: D)
            gemm.linearBackwardInput(ws.dx, w + L.w2, ws.dg, rows: n, inDim: H, outDim: D, accumulate: false)
            let (a1, a3, dg, da1, da3) = (ws.a1[l], ws.a3[l], ws.dg, ws.da1, ws.da3)
            TrainingKernels.parallelRows(n, pool) { r0, r1 in
                let o = r0 * H
                swigluBackward(dg + o, a1 + o, a3 + o, da1 + o, da3 + o, count: (r1 - r0) * H)
            }
            gemm.linearBackwardWeight(ws.da1, ws.h2[l], dW + L.w1, rows: n, inDim: D, outDim: H)
            gemm.linearBackwardWeight(ws.da3, ws.h2[l], dW + L.w3, rows: n, inDim: D, outDim: H)
            gemm.linearBackwardInput(ws.da1, w + L.w1, ws.dh, rows: n, inDim: D, outDim: H, accumulate: false)
            gemm.linearBackwardInput(ws.da3, w + L.w3, ws.dh, rows: n, inDim: D, outDim: H, accumulate: true)
            TrainingKernels.rmsNormBackward(ws.dh, ws.xMid[l], w + L.ffnNorm, ws.rstd2[l], ws.dx, dW + L.ffnNorm,
                                            rows: n, dim: D, accumulate: true, pool: pool)
            // Attention: xMid = x + wo·att.
            gemm.linearBackwardWeight(ws.dx, ws.att[l], dW + L.wo, rows: n, inDim: D, outDim: D)
            gemm.linearBackwardInput(ws.dx, w + L.wo, ws.dAtt, rows: n, inDim: D, outDim: D, accumulate: false)
            TrainingKernels.attentionBackward(dOut: ws.dAtt, q: ws.q[l], k: ws.k[l], v: ws.v[l], probs: ws.probs[l],
                                              dq: ws.dq, dk: ws.dk, dv: ws.dv,
                                              batch: B, context: T, heads: c.heads, kvHeads: c.kvHeads,
                                              headDim: c.headDim, pool: pool)
            // The gradient reaches q and k after RoPE; rotating back gives it before.
            applyRope(ws.dq, rows: n, width: D, inverse: true)
            applyRope(ws.dk, rows: n, width: KV, inverse: true)
            gemm.linearBackwardWeight(ws.dq, ws.h1[l], dW + L.wq, rows: n, inDim: D, outDim: D)
            gemm.linearBackwardWeight(ws.dk, ws.h1[l], dW + L.wk, rows: n, inDim: D, outDim: KV)
            gemm.linearBackwardWeight(ws.dv, ws.h1[l], dW + L.wv, rows: n, inDim: D, outDim: KV)
            gemm.linearBackwardInput(ws.dq, w + L.wq, ws.dh, rows: n, inDim: D, outDim: D, accumulate: false)
            gemm.linearBackwardInput(ws.dk, w + L.wk, ws.dh, rows: n, inDim: D, outDim: KV, accumulate: true)
            gemm.linearBackwardInput(ws.dv, w + L.wv, ws.dh, rows: n, inDim: D, outDim: KV, accumulate: true)
            TrainingKernels.rmsNormBackward(ws.dh, ws.x[l], w + L.attentionNorm, ws.rstd1[l], ws.dx, dW + L.attentionNorm,
                                            rows: n, dim: D, accumulate: true, pool: pool)
        }
        // Embedding: scatter-add each position's gradient into its token's row.
        for r in 0..<n {
            let dst = dW + layout.embedding + Int(ws.tokens[r]) * D
            let src = ws.dx + r * D
            for i in 0..<D { dst[i] += src[i] }
        }
    }

    private func applyRope(_ p: FloatPointer, rows: Int, width: Int, inverse: Bool) {
        let c = config
        ropeCos.withUnsafeBufferPointer { cp in
            ropeSin.withUnsafeBufferPointer { sp in
                // One task per sequence, so positions restart at 0 at each task's start.
                pool.parallelFor(rows / c.context) { b in
                    TrainingKernels.rope(p + b * c.context * width, rows: c.context, context: c.context, width: width,
                                         headDim: c.headDim, cos: cp.baseAddress!, sin: sp.baseAddress!, inverse: inverse)
                }
            }
        }
    }

    private func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, into y: FloatPointer, count: Int) {
        TrainingKernels.parallelRows(count, pool) { i0, i1 in
            for i in i0..<i1 { y[i] = a[i] + b[i] }
        }
    }
}
