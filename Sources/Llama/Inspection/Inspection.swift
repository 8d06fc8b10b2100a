import Foundation

/// Why an inspection cannot run.
public enum InspectionError: Error, CustomStringConvertible, Equatable {
    case emptyPrompt
    case layerOutOfRange(layer: Int, layers: Int)
    case headOutOfRange(head: Int, heads: Int)
    case positionOutOfRange(position: Int, tokens: Int)
    case badTopK(Int)
    case traceTooLarge(bytes: Int, available: Int)

    public var description: String {
        switch self {
        case .emptyPrompt: return "nothing to inspect: the prompt has no tokens"
        case let .layerOutOfRange(l, n): return "--layer \(l) is out of range: the model has \(n) layers (0...\(n - 1))"
        case let .headOutOfRange(h, n): return "--head \(h) is out of range: the model has \(n) attention heads (0...\(n - 1))"
        case let .positionOutOfRange(p, n): return "--position \(p) is out of range: the prompt has \(n) tokens (0...\(n - 1))"
        case let .badTopK(k): return "--top-k \(k) must be at least 1"
        case let .traceTooLarge(bytes, available):
            return "tracing this prompt needs \(bytes >> 20) MiB (every layer's activations and T × T attention maps), more than half the \(available >> 20) MiB of memory: trace one layer with --layer, one head with --head, or use a shorter prompt"
        }
    }
}

/// What to trace and show.
public struct InspectionOptions: Sendable, Equatable {
    /// One layer to trace step by step (nil: every layer). The residual stream and the logit
    /// lens always cover every layer.
    public var layer: Int?
    /// One attention head to keep (nil: every head). The report shows this head's score
    /// matrices (head 0 when nil).
    public var head: Int?
    /// The position whose values the report prints (nil: the last).
    public var position: Int?
    /// Next-token candidates to list.
    public var topK: Int
    /// Prompt positions per forward call, as `llama generate` prefills (so the last logits are
    /// bit for bit the same).
    public var maxBatch: Int

    public init(layer: Int? = nil, head: Int? = nil, position: Int? = nil, topK: Int = 10, maxBatch: Int = 512) {
        self.layer = layer
        self.head = head
        self.position = position
        self.topK = topK
        self.maxBatch = maxBatch
    }
}

/// A `rows × width` block of activations as the forward pass computed them, row-major.
public struct TensorTrace: Sendable, Equatable {
    public let rows: Int
    public let width: Int
    public var values: [Float]

    public init(rows: Int, width: Int, values: [Float]) {
        self.rows = rows
        self.width = width
        self.values = values
    }

    public func row(_ i: Int) -> ArraySlice<Float> { values[(i * width)..<((i + 1) * width)] }

    /// Euclidean norm of each row.
    public var rowNorms: [Float] {
        (0..<rows).map { i in Float(row(i).reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()) }
    }
}

/// One next-token candidate.
public struct TokenCandidate: Sendable, Equatable {
    public let id: TokenID
    public let piece: String
    public let probability: Double
    public let logit: Float
}

/// Everything one layer computed, as the engine computed it.
public struct LayerTrace: Sendable {
    public let layer: Int
    /// The activations at each step of `ForwardStep` that belongs to a layer.
    public let steps: [ForwardStep: TensorTrace]
    /// The heads kept (all, or the one asked for), in order.
    public let heads: [Int]
    /// The layer's sliding window (positions a query sees back from itself, itself
    /// included), nil when it sees every earlier position.
    public let window: Int?
    /// q·k/√(head dim) of every kept head, `[heads.count][T][T]`, future positions included:
    /// the causal part (key ≤ query) is the engine's own scores; the future part, which the
    /// engine masks and never computes, is computed here with the same kernel from the
    /// engine's q and k.
    public let scores: [Float]
    /// The softmax probabilities of every kept head, `[heads.count][T][T]`, zeros above the
    /// diagonal (and outside a sliding window): the engine's own.
    public let probabilities: [Float]

    /// Whether the mask hides key position `key` from query position `query`: a later key,
    /// or one outside the sliding window.
    public static func isMasked(query: Int, key: Int, window: Int?) -> Bool {
        key > query || (window.map { key <= query - $0 } ?? false)
    }

    public func isMasked(query: Int, key: Int) -> Bool { Self.isMasked(query: query, key: key, window: window) }
}

/// The trace of one prompt through the engine's forward pass (`LlamaModel.forward` with a
/// `ForwardObserver`), with what `llama inspect` derives from it: the logit lens and the
/// top next tokens.
public struct Inspection: Sendable {
    public let config: ModelConfig
    public let options: InspectionOptions
    public let tokens: [TokenID]
    /// The text of each token (control tokens by name), or `#id` without a tokenizer.
    public let pieces: [String]
    /// The position the report focuses on.
    public let position: Int
    /// RoPE frequency of each pair in a head: pair i at position p turns by p·f[i] radians.
    public let ropeFrequencies: [Float]
    /// `[L+1]` blocks of `[T × D]`: 0 the embeddings, i the residual stream after layer i
    /// (before the final norm).
    public let residual: [TensorTrace]
    /// The final RMSNorm of every position, `[T × D]`.
    public let finalNorm: TensorTrace
    /// The traced layers (every layer, or `options.layer`).
    public let layers: [LayerTrace]
    /// The logits at the last position: the same numbers `llama generate --logits-out` writes.
    public let lastLogits: [Float]
    /// The `options.topK` most likely next tokens.
    public let topK: [TokenCandidate]
    /// `[L][T]`: the most likely token when the residual stream after layer l+1 goes
    /// through the final norm and the output projection (the last row is the model's own
    /// prediction at each position).
    public let logitLens: [[TokenCandidate]]

    public var tokenCount: Int { tokens.count }

    /// The trace of a layer, if it was traced.
    public func trace(layer: Int) -> LayerTrace? { layers.first { $0.layer == layer } }

    /// Runs `tokens` through `model` (in batches of `options.maxBatch`, as generation
    /// prefills) and records every step.
    public static func run(model: LlamaModel, tokens: [TokenID], tokenizer: (any Tokenizer)?,
                           options: InspectionOptions = InspectionOptions()) throws -> Inspection {
        let c = model.config
        let n = tokens.count
        guard n > 0 else { throw InspectionError.emptyPrompt }
        if let l = options.layer, !(0..<c.layerCount).contains(l) { throw InspectionError.layerOutOfRange(layer: l, layers: c.layerCount) }
        if let h = options.head, !(0..<c.headCount).contains(h) { throw InspectionError.headOutOfRange(head: h, heads: c.headCount) }
        if let p = options.position, !(0..<n).contains(p) { throw InspectionError.positionOutOfRange(position: p, tokens: n) }
        guard options.topK >= 1 else { throw InspectionError.badTopK(options.topK) }
        if let bad = tokens.first(where: { $0 < 0 || $0 >= c.vocabSize }) {
            throw ModelError.tokenOutOfRange(id: bad, vocabularySize: c.vocabSize)
        }
        guard n <= c.maxContext else { throw ModelError.promptTooLong(tokens: n, context: c.maxContext) }

        let tracedLayers = options.layer.map { [$0] } ?? Array(0..<c.layerCount)
        let heads = options.head.map { [$0] } ?? Array(0..<c.headCount)
        // What the trace holds: the residual stream, each traced layer's steps (9 of width D,
        // 2 of K, 3 of F) and two T × T maps per kept head, in fp32.
        let perLayer = n * (9 * c.dim + 2 * c.kvDim + 3 * c.hiddenDim) + 2 * heads.count * n * n
        let floats = (c.layerCount + 2) * n * c.dim + tracedLayers.count * perLayer
        let (bytes, overflow) = floats.multipliedReportingOverflow(by: MemoryLayout<Float>.size)
        let memory = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        if overflow || bytes > memory / 2 {
            throw InspectionError.traceTooLarge(bytes: overflow ? Int.max : bytes, available: memory)
        }
        let recorder = TraceRecorder(config: c, tokens: n, layers: tracedLayers, heads: heads)
        let cache = KVCache(config: c, capacity: n)
        let batch = max(1, min(n, options.maxBatch))
        let state = RunState(config: c, maxRows: batch, maxLogitRows: 1)
        var lastLogits: [Float] = []
        var start = 0
        while start < n {
            let end = min(n, start + batch)
            let rows = (start..<end).map { BatchRow(token: tokens[$0], position: $0) }
            recorder.base = start
            let isLast = end == n
            try model.forward(rows, caches: [cache], state: state, logitRows: isLast ? [rows.count - 1] : [], observer: recorder)
            if isLast { lastLogits = Array(state.logits(row: 0)) }
            start = end
        }

        let residual = recorder.residualStream()
        // The final norm and the lens at every position, with the engine's own norm and
        // output projection (the forward pass computes them only for the last position).
        let finalNorm = TensorTrace(rows: n, width: c.dim, values: model.finalNormRows(residual[c.layerCount].values, rows: n))
        var lens: [[TokenCandidate]] = []
        for l in 1...c.layerCount {
            let logits = model.outputLogits(normalized: model.finalNormRows(residual[l].values, rows: n), rows: n)
            lens.append((0..<n).map { t in
                let row = logits[(t * c.vocabSize)..<((t + 1) * c.vocabSize)]
                return topCandidates(row, k: 1, pieces: { piece(of: $0, tokenizer: tokenizer) })[0]
            })
        }

        var traces: [LayerTrace] = []
        for l in tracedLayers {
            traces.append(recorder.layerTrace(l, model: model))
        }
        return Inspection(
            config: c, options: options, tokens: tokens,
            pieces: tokens.map { piece(of: $0, tokenizer: tokenizer) },
            position: options.position ?? n - 1,
            ropeFrequencies: model.ropeFrequencies,
            residual: residual, finalNorm: finalNorm, layers: traces, lastLogits: lastLogits,
            topK: topCandidates(lastLogits[...], k: options.topK, pieces: { piece(of: $0, tokenizer: tokenizer) }),
            logitLens: lens)
    }

    /// The text a token stands for: control tokens by name, others as the text they decode
    /// to (their piece's description when that is not whole UTF-8), `#id` without a tokenizer.
    public static func piece(of id: TokenID, tokenizer: (any Tokenizer)?) -> String {
        guard let tokenizer else { return "#\(id)" }
        if tokenizer.isControl(id) { return tokenizer.pieceDescription(of: id) ?? "#\(id)" }
        if let bytes = tokenizer.decodedBytes(of: id, atStart: false), let s = String(validating: bytes, as: UTF8.self) { return s }
        return tokenizer.pieceDescription(of: id) ?? "#\(id)"
    }

    /// The `k` largest logits with their softmax probabilities (over all of `logits`), the
    /// lower id first on ties.
    static func topCandidates(_ logits: ArraySlice<Float>, k: Int, pieces: (TokenID) -> String) -> [TokenCandidate] {
        guard let maxLogit = logits.max() else { return [] }
        var sum = 0.0
        for v in logits { sum += exp(Double(v - maxLogit)) }
        var best: [(Float, Int)] = []
        for (i, v) in logits.enumerated() {
            if best.count == k, let last = best.last, !(v > last.0) { continue }
            var j = best.count
            while j > 0 && v > best[j - 1].0 { j -= 1 }
            best.insert((v, i), at: j)
            if best.count > k { best.removeLast() }
        }
        return best.map { v, i in
            TokenCandidate(id: i, piece: pieces(i), probability: exp(Double(v - maxLogit)) / sum, logit: v)
        }
    }
}

extension LlamaModel {
    /// The final RMSNorm of `rows` rows of width dim, by the engine's own code.
    func finalNormRows(_ x: [Float], rows: Int) -> [Float] {
        var out = [Float](repeating: 0, count: rows * config.dim)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                guard let xb = xp.baseAddress, let ob = op.baseAddress else { return }
                block.normRows(xb, finalNorm, ob, rows: 0..<rows)
            }
        }
        return out
    }

    /// The output projection of `rows` normalized rows, by the engine's own matmul.
    func outputLogits(normalized x: [Float], rows: Int) -> [Float] {
        var out = [Float](repeating: 0, count: rows * config.vocabSize)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                guard let xb = xp.baseAddress, let ob = op.baseAddress else { return }
                matmul(output, xb, tokens: rows, ob, parallel: parallel)
                if let cap = config.architecture.logitSoftCap { softCap(ob, count: rows * config.vocabSize, cap: cap) }
            }
        }
        return out
    }
}

/// Copies what the forward pass shows into whole-prompt buffers. Attention values arrive
/// from worker threads, each (row, head) into its own cells of buffers allocated up front.
final class TraceRecorder: ForwardObserver {
    let config: ModelConfig
    let tokens: Int
    let layers: [Int]
    let heads: [Int]
    /// Position of the first row of the current forward call.
    var base = 0
    private var residual: [[Float]]
    private struct StepKey: Hashable { let layer: Int; let step: ForwardStep }
    private var steps: [StepKey: [Float]] = [:]
    private let slot: [Int: Int]      // layer -> index into the attention buffers
    private let headSlot: [Int]       // head -> index among kept heads, or -1
    private let scores: UnsafeMutablePointer<Float>
    private let probabilities: UnsafeMutablePointer<Float>
    private let attentionCount: Int

    init(config: ModelConfig, tokens: Int, layers: [Int], heads: [Int]) {
        self.config = config
        self.tokens = tokens
        self.layers = layers
        self.heads = heads
        residual = Array(repeating: [Float](repeating: 0, count: tokens * config.dim), count: config.layerCount + 1)
        var s: [Int: Int] = [:]
        for (i, l) in layers.enumerated() { s[l] = i }
        slot = s
        var hs = [Int](repeating: -1, count: config.headCount)
        for (i, h) in heads.enumerated() { hs[h] = i }
        headSlot = hs
        attentionCount = layers.count * heads.count * tokens * tokens
        scores = .allocate(capacity: max(1, attentionCount))
        scores.initialize(repeating: 0, count: max(1, attentionCount))
        probabilities = .allocate(capacity: max(1, attentionCount))
        probabilities.initialize(repeating: 0, count: max(1, attentionCount))
    }

    deinit {
        scores.deallocate()
        probabilities.deallocate()
    }

    func observe(_ step: ForwardStep, layer: Int, values: UnsafePointer<Float>, rows: Int, width: Int) {
        let count = rows * width, offset = base * width
        func copy(into dst: inout [Float]) {
            dst.withUnsafeMutableBufferPointer { d in
                guard let p = d.baseAddress, offset + count <= d.count else { return }
                (p + offset).update(from: values, count: count)
            }
        }
        switch step {
        case .finalNorm, .logits:
            return  // the last position only: the inspection computes every position itself
        case .embedding:
            copy(into: &residual[0])
        case .residual:
            copy(into: &residual[layer + 1])
        default:
            guard slot[layer] != nil else { return }
            copy(into: &steps[StepKey(layer: layer, step: step), default: [Float](repeating: 0, count: tokens * width)])
        }
    }

    func observeAttention(_ stage: AttentionStage, layer: Int, row: Int, head: Int, values: UnsafePointer<Float>, first: Int, count: Int) {
        guard let s = slot[layer], headSlot[head] >= 0, first < tokens else { return }
        let t = tokens
        let position = base + row
        let offset = ((s * heads.count + headSlot[head]) * t + position) * t + first
        let dst = (stage == .scores ? scores : probabilities) + offset
        dst.update(from: values, count: min(count, t - first))
    }

    func residualStream() -> [TensorTrace] {
        residual.map { TensorTrace(rows: tokens, width: config.dim, values: $0) }
    }

    func layerTrace(_ l: Int, model: LlamaModel) -> LayerTrace {
        let t = tokens, hd = config.headDim
        var acts: [ForwardStep: TensorTrace] = [:]
        for (key, values) in steps where key.layer == l {
            acts[key.step] = TensorTrace(rows: t, width: values.count / max(1, t), values: values)
        }
        acts[.residual] = TensorTrace(rows: t, width: config.dim, values: residual[l + 1])
        guard let s = slot[l] else { return LayerTrace(layer: l, steps: acts, heads: heads, window: nil, scores: [], probabilities: []) }
        let per = heads.count * t * t
        var sc = Array(UnsafeBufferPointer(start: scores + s * per, count: per))
        let pr = Array(UnsafeBufferPointer(start: probabilities + s * per, count: per))
        // The masked part of the score matrix (future keys, and keys outside a sliding
        // window), which the engine never computes: the same dot product, scale and soft cap
        // over the engine's q and k.
        let window = config.architecture.slidingWindow?[l]
        if let q = steps[StepKey(layer: l, step: .query)], let k = steps[StepKey(layer: l, step: .key)] {
            let kvMul = config.headCount / config.kvHeadCount
            let scale = config.architecture.attentionScale ?? 1 / Float(hd).squareRoot()
            let cap = config.architecture.attentionSoftCap
            let qDim = config.queryDim
            q.withUnsafeBufferPointer { qp in
                k.withUnsafeBufferPointer { kp in
                    guard let qb = qp.baseAddress, let kb = kp.baseAddress else { return }
                    var one: Float = 0
                    for (hi, h) in heads.enumerated() {
                        for i in 0..<t {
                            for j in 0..<t where LayerTrace.isMasked(query: i, key: j, window: window) {
                                let qh = qb + i * qDim + h * hd
                                let kh = kb + j * config.kvDim + (h / kvMul) * hd
                                one = dot(qh, kh, hd) * scale
                                if let cap { softCap(&one, count: 1, cap: cap) }
                                sc[(hi * t + i) * t + j] = one
                            }
                        }
                    }
                }
            }
        }
        return LayerTrace(layer: l, steps: acts, heads: heads, window: window, scores: sc, probabilities: pr)
    }
}
