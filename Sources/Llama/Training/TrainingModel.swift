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

/// Architectures `llama train` can train: Llama, and Qwen2 (Llama plus q/k/v biases and
/// rotate-half RoPE, `--qkv-bias`).
public let trainableArchitectures: [Architecture] = [.llama, .qwen2]

extension ModelConfig {
    /// A model to train: no RoPE scaling, head size dim / heads, `maxContext` the sequence
    /// length trained on (and the RoPE table length).
    public static func training(vocabSize: Int, dim: Int, layerCount: Int, headCount: Int, kvHeadCount: Int,
                                hiddenDim: Int, context: Int, tiedEmbeddings: Bool = false,
                                architecture: Architecture = .llama,
                                normEps: Float = 1e-5, ropeTheta: Float = 10000) -> ModelConfig {
        ModelConfig(dim: dim, layerCount: layerCount, headCount: headCount, kvHeadCount: kvHeadCount, hiddenDim: hiddenDim,
                    vocabSize: vocabSize, normEps: normEps, ropeTheta: ropeTheta, ropeScaling: nil, maxContext: context,
                    tiedEmbeddings: tiedEmbeddings, architecture: architecture)
    }

    /// Throws naming the first field that makes the shape impossible to train (the names
    /// are the checkpoint's JSON keys, which are `llama train`'s flags).
    public func validateForTraining() throws {
        func check(_ ok: Bool, _ field: String, _ reason: String) throws {
            if !ok { throw TrainingError.invalidConfig(field: field, reason: reason) }
        }
        try check(trainableArchitectures.contains(architecture), "architecture",
                  "cannot train \(architecture.name); trainable: \(trainableArchitectures.map(\.name).joined(separator: ", "))")
        try check(vocabSize > 0, "vocab_size", "must be positive, got \(vocabSize)")
        try check(dim > 0, "dim", "must be positive, got \(dim)")
        try check(layerCount > 0, "layers", "must be positive, got \(layerCount)")
        try check(headCount > 0, "heads", "must be positive, got \(headCount)")
        try check(dim % headCount == 0 && headDim == dim / headCount, "dim", "\(dim) is not divisible by heads (\(headCount))")
        try check(headDim % 2 == 0, "dim", "head size \(headDim) (dim / heads) must be even for RoPE")
        try check(kvHeadCount > 0 && kvHeadCount <= headCount && headCount % kvHeadCount == 0, "kv_heads",
                  "must divide heads (\(headCount)), got \(kvHeadCount)")
        try check(hiddenDim > 0, "hidden", "must be positive, got \(hiddenDim)")
        try check(maxContext > 0, "context", "must be positive, got \(maxContext)")
        try check(normEps > 0, "norm_eps", "must be positive")
        try check(ropeTheta > 0, "rope_theta", "must be positive")
        try check(ropeScaling == nil, "rope_scaling", "training does not scale RoPE")
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
        public let role: TensorRole
        public var count: Int { shape.reduce(1, *) }
        /// Matrices get weight decay; norm weights do not (as the reference's groups).
        public var isMatrix: Bool { shape.count == 2 }
    }

    public struct Layer: Sendable {
        public let attentionNorm, wq, wk, wv, wo, ffnNorm, w1, w2, w3: Int
        /// q/k/v biases (`--qkv-bias`); nil without.
        public let bq, bk, bv: Int?
    }

    public let tensors: [Tensor]
    /// Index into `tensors` of each layer's tensors by role, and of the model's own.
    private let perLayer: [[TensorRole: Int]]
    private let global: [TensorRole: Int]
    public let count: Int
    public let embedding: Int
    public let layers: [Layer]
    public let finalNorm: Int
    /// Offset of the output projection (the embedding's when tied).
    public let output: Int

    public init(_ c: ModelConfig) {
        // The architecture's table gives the tensors, their shapes and their order (which is
        // also the order of checkpoint.bin).
        var tensors: [Tensor] = []
        var perLayer: [[TensorRole: Int]] = Array(repeating: [:], count: c.layerCount)
        var global: [TensorRole: Int] = [:]
        var next = 0
        for (spec, layer) in c.tensorLayout {
            let t = Tensor(name: spec.canonicalName(layer: layer), shape: spec.shape(c), offset: next, role: spec.role)
            if spec.role.isPerLayer { perLayer[layer][spec.role] = tensors.count } else { global[spec.role] = tensors.count }
            tensors.append(t)
            next += t.count
        }
        func offset(_ role: TensorRole, _ l: Int) -> Int? { perLayer[l][role].map { tensors[$0].offset } }
        func at(_ role: TensorRole, _ l: Int) -> Int { offset(role, l) ?? 0 }
        layers = (0..<c.layerCount).map { l in
            Layer(attentionNorm: at(.attentionNorm, l), wq: at(.wq, l), wk: at(.wk, l), wv: at(.wv, l), wo: at(.wo, l),
                  ffnNorm: at(.ffnNorm, l), w1: at(.gate, l), w2: at(.down, l), w3: at(.up, l),
                  bq: offset(.wqBias, l), bk: offset(.wkBias, l), bv: offset(.wvBias, l))
        }
        func globalOffset(_ role: TensorRole) -> Int { global[role].map { tensors[$0].offset } ?? 0 }
        embedding = globalOffset(.tokenEmbedding)
        finalNorm = globalOffset(.finalNorm)
        output = c.tiedEmbeddings ? embedding : globalOffset(.output)
        self.tensors = tensors
        self.perLayer = perLayer
        self.global = global
        count = next
    }

    /// The tensor of `role`: layer `layer`'s for a per-layer role, the model's own otherwise
    /// (the output projection: the embedding when tied). Nil when the architecture has none.
    public func tensor(_ role: TensorRole, layer: Int = 0) -> Tensor? {
        if role.isPerLayer { return perLayer[layer][role].map { tensors[$0] } }
        return (global[role] ?? (role == .output ? global[.tokenEmbedding] : nil)).map { tensors[$0] }
    }

    /// The parameter count of `c` in floating point: the sum `init` makes, for sizing a
    /// shape before building it (an absurd one would overflow `Int`).
    public static func estimatedCount(_ c: ModelConfig) -> Double {
        let (dim, kvDim, hidden) = (Double(c.dim), Double(c.kvDim), Double(c.hiddenDim))
        let biases = c.architecture.attentionBias ? dim + 2 * kvDim : 0
        let perLayer = 2 * dim + 2 * dim * dim + 2 * kvDim * dim + 3 * hidden * dim + biases
        return Double(c.vocabSize) * dim * (c.tiedEmbeddings ? 1 : 2) + Double(c.layerCount) * perLayer + dim
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
    let logitsCount: Int
    var rowLoss: FloatPointer
    var tmp: FloatPointer            // rows × dim
    // Backward only.
    var dx: FloatPointer, dh: FloatPointer, dAtt: FloatPointer, dq: FloatPointer
    var dk: FloatPointer, dv: FloatPointer, dg: FloatPointer, da1: FloatPointer, da3: FloatPointer
    var tokens: [Int32]
    var targets: [Int32]

    public init(config c: ModelConfig, batch: Int, backward: Bool) {
        self.batch = batch
        context = c.maxContext
        hasBackward = backward
        rows = batch * c.maxContext
        let n = rows
        storageCount = Int(TrainingWorkspace.floatCount(config: c, batch: batch, backward: backward).total)
        storage = .allocate(capacity: storageCount)
        storage.initialize(repeating: 0, count: storageCount)
        var next = storage
        func take(_ count: Int) -> FloatPointer { defer { next += count }; return next }
        for _ in 0..<c.layerCount {
            x.append(take(n * c.dim)); h1.append(take(n * c.dim)); rstd1.append(take(n))
            q.append(take(n * c.dim)); k.append(take(n * c.kvDim)); v.append(take(n * c.kvDim))
            probs.append(take(batch * c.headCount * c.maxContext * c.maxContext)); att.append(take(n * c.dim))
            xMid.append(take(n * c.dim)); h2.append(take(n * c.dim)); rstd2.append(take(n))
            a1.append(take(n * c.hiddenDim)); a3.append(take(n * c.hiddenDim)); g.append(take(n * c.hiddenDim))
        }
        x.append(take(n * c.dim))
        hFinal = take(n * c.dim); rstdFinal = take(n); logits = take(n * c.vocabSize); logitsCount = n * c.vocabSize
        rowLoss = take(n); tmp = take(n * c.dim)
        if backward {
            dx = take(n * c.dim); dh = take(n * c.dim); dAtt = take(n * c.dim); dq = take(n * c.dim)
            dk = take(n * c.kvDim); dv = take(n * c.kvDim)
            dg = take(n * c.hiddenDim); da1 = take(n * c.hiddenDim); da3 = take(n * c.hiddenDim)
        } else {
            // Forward-only (evaluation): the gradient buffers are never touched.
            dx = tmp; dh = tmp; dAtt = tmp; dq = tmp; dk = tmp; dv = tmp; dg = tmp; da1 = tmp; da3 = tmp
        }
        precondition(next == storage + storageCount, "workspace layout out of step with its size")
        tokens = [Int32](repeating: 0, count: n)
        targets = [Int32](repeating: 0, count: n)
    }

    deinit { storage.deallocate() }

    /// Layer `l`'s activations as the block writes them (`projection`, wo·att and the
    /// feed-forward's output, is scratch shared by the layers: the backward does not read it).
    func layer(_ l: Int) -> BlockActivations {
        BlockActivations(h1: h1[l], rstd1: rstd1[l], q: q[l], k: k[l], v: v[l], att: att[l], xMid: xMid[l],
                         h2: h2[l], rstd2: rstd2[l], a1: a1[l], a3: a3[l], g: g[l], projection: tmp, experts: nil)
    }

    /// Floats a workspace holds (`total`), and how many of them are attention weights
    /// (batch × heads × context² per layer, the part that grows with the square of the
    /// context). In floating point, so that absurd shapes are sized without overflow before
    /// anything is allocated.
    public static func floatCount(config c: ModelConfig, batch: Int, backward: Bool)
        -> (total: Double, attention: Double) {
        let n = Double(batch) * Double(c.maxContext)
        let (dim, kvDim, hidden) = (Double(c.dim), Double(c.kvDim), Double(c.hiddenDim))
        let attention = Double(batch) * Double(c.headCount) * Double(c.maxContext) * Double(c.maxContext) * Double(c.layerCount)
        let perLayer = n * (dim * 6 + kvDim * 2 + hidden * 3 + 2)
        let tail = n * (dim * 3 + Double(c.vocabSize) + 2)
        let back = backward ? n * (dim * 4 + kvDim * 2 + hidden * 3) : 0
        return (perLayer * Double(c.layerCount) + attention + tail + back, attention)
    }

    /// Sets sequence `b` of the batch: `context` input tokens and the next-token targets.
    public func setSequence(_ b: Int, tokens t: ArraySlice<Int32>, targets y: ArraySlice<Int32>) {
        for (i, id) in t.enumerated() { tokens[b * context + i] = id }
        for (i, id) in y.enumerated() { targets[b * context + i] = id }
    }

    /// The logits at `position` of sequence `b` after a `forward` without `gradScale` (with
    /// one, the buffer holds their gradient instead).
    public func logits(sequence b: Int, position: Int) -> [Float] {
        precondition(b >= 0 && b < batch && position >= 0 && position < context, "no such row in the workspace")
        let vocab = logitsCount / rows
        return Array(UnsafeBufferPointer(start: logits + (b * context + position) * vocab, count: vocab))
    }
}

/// A Llama decoder being trained: fp32 parameters and gradients in flat buffers (layout in
/// `ParameterLayout`). The forward is the inference model's block (`TransformerBlock`) over
/// views of the parameters, keeping each layer's activations in the workspace; the backward
/// is written out op by op over them.
public final class TrainingModel {
    public let config: ModelConfig
    public let layout: ParameterLayout
    /// Parameters, `layout.count` floats.
    public let params: FloatPointer
    /// Gradients, same layout; accumulated by `backward` until `zeroGradients`.
    public let grads: FloatPointer
    public let pool: ParallelFor
    /// The precision of the matrix products (the parameters are fp32 either way).
    public var precision: TrainingPrecision { gemm.precision }
    let gemm: StridedGEMM
    /// The decoder block, the inference model's, with products over fp32 parameters.
    let block: TransformerBlock
    /// The block with fp32 products, for evaluation (`forward` without `gradScale`): with
    /// `--precision bf16` the losses reported are those of the fp32 master weights. `block`
    /// itself when the products are fp32.
    let evaluationBlock: TransformerBlock
    /// Each layer's weights, views of `params` (what the optimizer writes, the block reads).
    let layers: [LayerWeights]
    let finalNorm: NormWeights
    let outputWeights: MatrixView
    /// RoPE rotation of each position (context × headDim/2 cos, then sin, then −sin: the
    /// inverse rotation of the backward pass), as the inference model's.
    let ropeTable: FloatPointer
    let rope: RopeRows
    let inverseRope: RopeRows
    /// Per-worker scratch of `TrainingKernels.attentionBackward`, allocated once.
    let attentionScratch: FloatPointer

    /// `precision` is that of the matrix products (`.bf16` throws where the CPU lacks
    /// AVX-512 BF16); everything else is fp32 either way.
    public init(config: ModelConfig, pool: ParallelFor, precision: TrainingPrecision = .fp32) throws {
        try config.validateForTraining()
        if precision == .bf16 && !TrainingPrecision.bf16IsAvailable {
            throw TrainingError.invalidConfig(field: "precision",
                                              reason: "bf16 needs a CPU with AVX-512 BF16 (vdpbf16ps), which this one lacks; use fp32")
        }
        self.config = config
        let layout = ParameterLayout(config)
        self.layout = layout
        let params = FloatPointer.allocate(capacity: layout.count)
        params.initialize(repeating: 0, count: layout.count)
        self.params = params
        grads = .allocate(capacity: layout.count)
        grads.initialize(repeating: 0, count: layout.count)
        self.pool = pool
        gemm = StridedGEMM(pool: pool, precision: precision)
        block = TransformerBlock(config: config, parallel: pool, products: .strided(gemm), communicator: SingleProcess())
        evaluationBlock = precision == .fp32 ? block
            : TransformerBlock(config: config, parallel: pool, products: .strided(StridedGEMM(pool: pool)), communicator: SingleProcess())
        // The architecture's tensors (the table that gives the inference model its weights)
        // as views of the parameter buffer.
        let a = config.architecture
        func missing(_ role: TensorRole) -> TrainingError {
            TrainingError.invalidConfig(field: "architecture", reason: "\(a.name) has no \(role) to train")
        }
        func matrix(_ role: TensorRole, _ l: Int) throws -> MatrixView {
            guard let t = layout.tensor(role, layer: l), t.shape.count == 2 else { throw missing(role) }
            return MatrixView(type: .f32, rows: t.shape[0], columns: t.shape[1], base: UnsafeRawPointer(params + t.offset))
        }
        func vector(_ role: TensorRole, _ l: Int) -> WeightVector? {
            layout.tensor(role, layer: l).map { WeightVector(base: params + $0.offset, count: $0.count, storage: nil) }
        }
        layers = try (0..<config.layerCount).map { l in
            try LayerWeights(layer: l, architecture: a, path: "training model", matrix: { try matrix($0, l) },
                             vector: { vector($0, l) }, expert: { role, _ in throw missing(role) })
        }
        guard let finalScale = vector(.finalNorm, 0) else { throw missing(.finalNorm) }
        finalNorm = NormWeights(weight: finalScale, bias: nil)
        outputWeights = try matrix(.output, 0)
        let scratchCount = pool.workers
            * TrainingKernels.attentionBackwardScratchCount(context: config.maxContext, headDim: config.headDim)
        attentionScratch = .allocate(capacity: scratchCount)
        attentionScratch.initialize(repeating: 0, count: scratchCount)
        let freqs = ropeFrequencies(headDim: config.headDim, theta: config.ropeTheta, scaling: nil, divisors: nil)
        let table = config.maxContext * freqs.count
        ropeTable = .allocate(capacity: 3 * table)
        let cos = ropeTable, sin = ropeTable + table, sinInverse = ropeTable + 2 * table
        for t in 0..<config.maxContext {
            ropeAngles(position: t, freqs: freqs, cos: cos + t * freqs.count, sin: sin + t * freqs.count)
        }
        for i in 0..<table { sinInverse[i] = -sin[i] }
        rope = RopeRows(cos: cos, sin: sin, period: config.maxContext)
        inverseRope = RopeRows(cos: cos, sin: sinInverse, period: config.maxContext)
    }

    deinit {
        params.deallocate()
        grads.deallocate()
        attentionScratch.deallocate()
        ropeTable.deallocate()
    }

    /// The reference initialisation: matrices N(0, 0.02), wo and w2 N(0, 0.02/√(2L)), norms 1,
    /// biases 0 (as transformers' Qwen2); drawn tensor by tensor in layout order.
    public func initialize(rng: inout Xoshiro256) {
        let residualStd = 0.02 / (2 * Double(config.layerCount)).squareRoot()
        for t in layout.tensors {
            let p = params + t.offset
            if !t.isMatrix {
                p.update(repeating: t.role.isNormWeight ? 1 : 0, count: t.count)
                continue
            }
            let std = (t.name.hasSuffix("wo.weight") || t.name.hasSuffix("w2.weight")) ? residualStd : 0.02
            for i in 0..<t.count { p[i] = Float(rng.nextNormal() * std) }
        }
    }

    public func zeroGradients() { grads.update(repeating: 0, count: layout.count) }

    /// Runs the model on the workspace's first `sequences` sequences and returns the summed
    /// cross-entropy over their tokens (nats). With `gradScale`, also leaves in the workspace
    /// what `backward` needs, with the loss gradient scaled by `gradScale / tokens`. Without
    /// it (evaluation), the products are fp32 whatever `precision`.
    @discardableResult
    public func forward(_ ws: TrainingWorkspace, sequences: Int? = nil, gradScale: Float? = nil) -> Double {
        let c = config
        let B = sequences ?? ws.batch, T = c.maxContext, n = B * T
        let D = c.dim, V = c.vocabSize
        let model = gradScale == nil ? evaluationBlock : block
        // Token embedding.
        let x0 = ws.x[0], emb = params + layout.embedding
        ws.tokens.withUnsafeBufferPointer { tokens in
            TrainingKernels.parallelRows(n, pool) { r0, r1 in
                for r in r0..<r1 { (x0 + r * D).update(from: emb + Int(tokens[r]) * D, count: D) }
            }
        }
        for (l, weights) in layers.enumerated() {
            model.forward(layer: l, weights, x: ws.x[l], output: ws.x[l + 1], rows: n, buffers: ws.layer(l),
                          attention: .sequences(batch: B, context: T, probs: ws.probs[l]), rope: rope, observer: nil)
        }
        model.normRows(ws.x[c.layerCount], finalNorm, ws.hFinal, rows: 0..<n, rstd: ws.rstdFinal)
        model.products(outputWeights, ws.hFinal, rows: n, ws.logits)
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
        let B = ws.batch, T = c.maxContext, n = B * T
        let D = c.dim, KV = c.kvDim, H = c.hiddenDim, V = c.vocabSize
        let w = params, dW = grads
        // Output projection and final norm. ws.logits now holds dLogits.
        gemm.linearBackwardWeight(ws.logits, ws.hFinal, dW + layout.output, rows: n, inDim: D, outDim: V)
        gemm.linearBackwardInput(ws.logits, w + layout.output, ws.dh, rows: n, inDim: D, outDim: V, accumulate: false)
        TrainingKernels.rmsNormBackward(ws.dh, ws.x[c.layerCount], w + layout.finalNorm, ws.rstdFinal, ws.dx,
                                        dW + layout.finalNorm, rows: n, dim: D, accumulate: false, pool: pool)
        // ws.dx is the gradient of the residual stream, carried down through the layers.
        for l in stride(from: c.layerCount - 1, through: 0, by: -1) {
            let L = layout.layers[l]
            // Feed-forward: x' = xMid + w2·g.
            gemm.linearBackwardWeight(ws.dx, ws.g[l], dW + L.w2, rows: n, inDim: H, outDim: D)
            gemm.linearBackwardInput(ws.dx, w + L.w2, ws.dg, rows: n, inDim: H, outDim: D, accumulate: false)
            let (a1, a3, dg, da1, da3) = (ws.a1[l], ws.a3[l], ws.dg, ws.da1, ws.da3)
            TrainingKernels.parallelRows(n, pool) { r0, r1 in
                let o = r0 * H
                swigluBackward(dg + o, a1 + o, a3 + o, da1 + o, da3 + o, count: (r1 - r0) * H)
            }
            gemm.multiplyGroup(StridedGEMM.weightGradient(ws.da1, ws.h2[l], dW + L.w1, rows: n, inDim: D, outDim: H),
                               StridedGEMM.weightGradient(ws.da3, ws.h2[l], dW + L.w3, rows: n, inDim: D, outDim: H),
                               nil, sharedA: false)
            gemm.multiplySum(StridedGEMM.inputGradient(ws.da1, w + L.w1, ws.dh, rows: n, inDim: D, outDim: H, accumulate: false),
                             StridedGEMM.inputGradient(ws.da3, w + L.w3, ws.dh, rows: n, inDim: D, outDim: H, accumulate: true), nil)
            TrainingKernels.rmsNormBackward(ws.dh, ws.xMid[l], w + L.ffnNorm, ws.rstd2[l], ws.dx, dW + L.ffnNorm,
                                            rows: n, dim: D, accumulate: true, pool: pool)
            // Attention: xMid = x + wo·att.
            gemm.linearBackwardWeight(ws.dx, ws.att[l], dW + L.wo, rows: n, inDim: D, outDim: D)
            gemm.linearBackwardInput(ws.dx, w + L.wo, ws.dAtt, rows: n, inDim: D, outDim: D, accumulate: false)
            TrainingKernels.attentionBackward(dOut: ws.dAtt, q: ws.q[l], k: ws.k[l], v: ws.v[l], probs: ws.probs[l],
                                              dq: ws.dq, dk: ws.dk, dv: ws.dv,
                                              batch: B, context: T, heads: c.headCount, kvHeads: c.kvHeadCount,
                                              headDim: c.headDim, pool: pool, scratch: attentionScratch)
            // The gradient reaches q and k after RoPE; rotating back gives it before.
            block.rope(ws.dq, heads: c.headCount, ws.dk, heads: c.kvHeadCount, rows: n, angles: inverseRope)
            if let bq = L.bq, let bk = L.bk, let bv = L.bv {
                sumRows(ws.dq, into: dW + bq, rows: n, width: D)
                sumRows(ws.dk, into: dW + bk, rows: n, width: KV)
                sumRows(ws.dv, into: dW + bv, rows: n, width: KV)
            }
            gemm.multiplyGroup(StridedGEMM.weightGradient(ws.dq, ws.h1[l], dW + L.wq, rows: n, inDim: D, outDim: D),
                               StridedGEMM.weightGradient(ws.dk, ws.h1[l], dW + L.wk, rows: n, inDim: D, outDim: KV),
                               StridedGEMM.weightGradient(ws.dv, ws.h1[l], dW + L.wv, rows: n, inDim: D, outDim: KV),
                               sharedA: false)
            gemm.multiplySum(StridedGEMM.inputGradient(ws.dq, w + L.wq, ws.dh, rows: n, inDim: D, outDim: D, accumulate: false),
                             StridedGEMM.inputGradient(ws.dk, w + L.wk, ws.dh, rows: n, inDim: D, outDim: KV, accumulate: true),
                             StridedGEMM.inputGradient(ws.dv, w + L.wv, ws.dh, rows: n, inDim: D, outDim: KV, accumulate: true))
            TrainingKernels.rmsNormBackward(ws.dh, ws.x[l], w + L.attentionNorm, ws.rstd1[l], ws.dx, dW + L.attentionNorm,
                                            rows: n, dim: D, accumulate: true, pool: pool)
        }
        // Embedding: scatter-add each position's gradient into its token's row, positions in
        // order; each task owns a range of columns.
        let dx = ws.dx, dEmb = dW + layout.embedding
        ws.tokens.withUnsafeBufferPointer { tokens in
            TrainingKernels.parallelColumns(D, pool) { c0, c1 in
                for r in 0..<n {
                    TrainingKernels.addRow(dEmb + Int(tokens[r]) * D + c0, dx + r * D + c0, count: c1 - c0)
                }
            }
        }
    }

    /// `dst += Σ_rows x` (a bias gradient), rows in order (each task owns a range of
    /// columns) so the sum order never changes.
    private func sumRows(_ x: UnsafePointer<Float>, into dst: FloatPointer, rows: Int, width: Int) {
        TrainingKernels.parallelColumns(width, pool) { c0, c1 in
            for r in 0..<rows { TrainingKernels.addRow(dst + c0, x + r * width + c0, count: c1 - c0) }
        }
    }
}
