import Foundation

/// What to generate and when to stop.
public struct GenerationOptions: Sendable {
    /// Tokens to generate per prompt at most.
    public var maxTokens: Int = 128
    /// Cap on the KV cache (prompt + generated tokens), below the model's own maximum.
    public var context: Int? = nil
    public var sampling: SamplingParameters = SamplingParameters()
    /// Ids that end a sequence (not reported to the caller as text).
    public var stopIDs: Set<TokenID> = []
    /// Keep the logits of each prompt's last position in the result.
    public var keepPromptLogits = false
    /// Prompt positions processed per forward call (bounds activation memory).
    public var prefillBatch = 512

    public init(maxTokens: Int = 128, context: Int? = nil, sampling: SamplingParameters = SamplingParameters(),
                stopIDs: Set<TokenID> = [], keepPromptLogits: Bool = false) {
        self.maxTokens = maxTokens
        self.context = context
        self.sampling = sampling
        self.stopIDs = stopIDs
        self.keepPromptLogits = keepPromptLogits
    }
}

/// Why a sequence stopped.
public enum FinishReason: String, Sendable {
    case endOfGeneration, maxTokens, contextFull, stoppedByCaller
}

/// One prompt's outcome.
public struct GenerationResult: Sendable {
    public var tokens: [TokenID] = []
    public var finishReason: FinishReason = .maxTokens
    /// Logits at the prompt's last position, when `keepPromptLogits` was set.
    public var promptLogits: [Float]? = nil
}

/// Token counts and wall-clock times, for tokens/s.
public struct GenerationStats: Sendable {
    public var promptTokens = 0
    public var promptSeconds = 0.0
    public var generatedTokens = 0
    public var generationSeconds = 0.0
    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokens) / promptSeconds : 0 }
    public var generationTokensPerSecond: Double { generationSeconds > 0 ? Double(generatedTokens) / generationSeconds : 0 }
}

/// Runs prompts through a model and samples continuations.
///
/// Several prompts form a real batch: their prompt positions go through the model
/// together in batched passes (matrix-matrix), then every step feeds the last token of all
/// unfinished sequences through one forward call, so they share the weight matmuls. Each sequence has its own
/// KV cache and its own sampler seeded with the same seed, so a prompt gives the same
/// tokens in a batch as alone.
public struct Generator {
    public let model: LlamaModel

    /// A generator over `model` (which it only reads: several generators may share it).
    public init(model: LlamaModel) {
        self.model = model
    }

    /// The KV cache size for a prompt: prompt + max tokens, capped by `context` and by the
    /// model's maximum. Throws when the prompt alone does not fit.
    public func cacheCapacity(promptLength: Int, options: GenerationOptions) throws -> Int {
        var cap = model.config.maxContext
        if let c = options.context { cap = min(cap, max(1, c)) }
        guard promptLength <= cap else { throw ModelError.promptTooLong(tokens: promptLength, context: cap) }
        let (wanted, overflow) = promptLength.addingReportingOverflow(max(0, options.maxTokens))
        return overflow ? cap : min(cap, wanted)
    }

    /// Generates for every prompt. `onToken(promptIndex, id)` sees each generated id (end
    /// ids excluded) as soon as it is chosen and returns false to stop that sequence.
    public func generate(prompts: [[TokenID]], options: GenerationOptions,
                         onToken: (Int, TokenID) throws -> Bool) throws -> (results: [GenerationResult], stats: GenerationStats) {
        let config = model.config
        for p in prompts where p.isEmpty { throw ModelError.invalidBatch("a prompt has no tokens") }
        let capacities = try prompts.map { try cacheCapacity(promptLength: $0.count, options: options) }
        // Refuse a cache that cannot fit in memory up front, rather than failing to allocate it.
        let bytesPerPosition = config.layerCount * config.kvDim * 2 * MemoryLayout<Float>.size
        let cacheBytes = capacities.reduce(0) { total, positions in
            let (bytes, o1) = positions.multipliedReportingOverflow(by: bytesPerPosition)
            let (sum, o2) = total.addingReportingOverflow(bytes)
            return o1 || o2 ? Int.max : sum
        }
        let memory = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        guard cacheBytes <= memory else {
            throw ModelError.cacheTooLarge(positions: capacities.reduce(0, +), bytes: cacheBytes, available: memory)
        }
        let caches = capacities.map { KVCache(config: config, capacity: $0) }
        let total = prompts.reduce(0) { $0 + $1.count }
        let state = RunState(config: config, maxRows: max(prompts.count, min(total, max(1, options.prefillBatch))),
                             maxLogitRows: prompts.count)
        var samplers = prompts.map { _ in Sampler(options.sampling) }
        var histories = prompts
        var results = prompts.map { _ in GenerationResult() }
        var stats = GenerationStats()
        let clock = ContinuousClock()

        // Prompts: every prompt position of every prompt in forward calls of up to
        // `maxRows` rows, so short prompts share the weight matmuls too. Only each prompt's
        // last position gets logits: its first generated token comes from there.
        var pending: [TokenID?] = Array(repeating: nil, count: prompts.count)
        var start = clock.now
        var firstLogits: [[Float]] = Array(repeating: [], count: prompts.count)
        var allRows: [BatchRow] = []
        for (i, prompt) in prompts.enumerated() {
            for (p, token) in prompt.enumerated() { allRows.append(BatchRow(token: token, position: p, sequence: i)) }
            stats.promptTokens += prompt.count
        }
        var chunkStart = 0
        while chunkStart < allRows.count {
            let chunk = Array(allRows[chunkStart..<min(allRows.count, chunkStart + state.maxRows)])
            let lastRows = chunk.indices.filter { chunk[$0].position == prompts[chunk[$0].sequence].count - 1 }
            try model.forward(chunk, caches: caches, state: state, logitRows: lastRows)
            for (j, r) in lastRows.enumerated() { firstLogits[chunk[r].sequence] = Array(state.logits(row: j)) }
            chunkStart += chunk.count
        }
        stats.promptSeconds = (clock.now - start).seconds

        start = clock.now
        var active: [Int] = []
        func accept(_ i: Int, _ id: TokenID) throws {
            if options.stopIDs.contains(id) {
                results[i].finishReason = .endOfGeneration
                return
            }
            results[i].tokens.append(id)
            histories[i].append(id)
            stats.generatedTokens += 1
            if try !onToken(i, id) {
                results[i].finishReason = .stoppedByCaller
            } else if results[i].tokens.count >= options.maxTokens {
                results[i].finishReason = .maxTokens
            } else if caches[i].count >= caches[i].capacity {
                results[i].finishReason = .contextFull
            } else {
                pending[i] = id
                active.append(i)
            }
        }
        for i in prompts.indices {
            if options.keepPromptLogits { results[i].promptLogits = firstLogits[i] }
            guard options.maxTokens > 0 else { continue }
            let id = firstLogits[i].withUnsafeBufferPointer { samplers[i].sample($0, history: histories[i]) }
            try accept(i, id)
        }
        firstLogits = []

        // Generation: one row per unfinished sequence, all in one forward call.
        while !active.isEmpty {
            let step = active.filter { pending[$0] != nil }
            active = []
            let rows = step.map { BatchRow(token: pending[$0] ?? 0, position: caches[$0].count, sequence: $0) }
            try model.forward(rows, caches: caches, state: state, logitRows: Array(rows.indices))
            for (j, i) in step.enumerated() {
                let id = samplers[i].sample(state.logits(row: j), history: histories[i])
                try accept(i, id)
            }
        }
        stats.generationSeconds = (clock.now - start).seconds
        return (results, stats)
    }
}

extension Duration {
    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }
}
