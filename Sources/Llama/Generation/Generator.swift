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
    /// How the KV cache stores keys and values.
    public var cacheType: KVCacheType = .f32

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

/// Runs prompts through a model and samples continuations, blocking until every prompt is
/// done: the `Engine` of `llama generate`, `llama chat` and `llama serve`, run on the
/// calling thread with one slot per prompt.
///
/// Several prompts form a real batch: each step is one forward call over the prompt
/// positions still to read (up to `prefillBatch` of them, across prompts) and the next token
/// of every sequence already generating, so they share the weight matmuls. Each sequence has
/// its own KV cache and its own sampler seeded with the same seed, so a prompt gives the same
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
        for p in prompts {
            if let bad = p.first(where: { $0 < 0 || $0 >= config.vocabSize }) {
                throw ModelError.tokenOutOfRange(id: bad, vocabularySize: config.vocabSize)
            }
        }
        let capacities = try prompts.map { try cacheCapacity(promptLength: $0.count, options: options) }
        // Refuse caches that cannot fit in memory up front, rather than failing to allocate them.
        let cacheBytes = capacities.reduce(0) { total, positions in
            guard let bytes = KVCache.bytes(config: config, positions: positions, type: options.cacheType) else { return Int.max }
            let (sum, overflow) = total.addingReportingOverflow(bytes)
            return overflow ? Int.max : sum
        }
        let memory = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        guard cacheBytes <= memory else {
            throw ModelError.cacheTooLarge(positions: capacities.reduce(0, +), bytes: cacheBytes, available: memory)
        }
        guard !prompts.isEmpty else { return ([], GenerationStats()) }
        let engine = try Engine(model: model, tokenizer: nil, slots: prompts.count, context: capacities.max() ?? 1,
                                prefillChunk: max(1, options.prefillBatch), maxQueue: prompts.count, stopIDs: options.stopIDs,
                                cacheType: options.cacheType)

        var results = prompts.map { _ in GenerationResult() }
        var stats = GenerationStats()
        stats.promptTokens = prompts.reduce(0) { $0 + $1.count }
        var failure: Error? = nil
        let clock = ContinuousClock()
        let start = clock.now
        var lastFirstToken = start
        withoutActuallyEscaping(onToken) { onToken in
            let stops = prompts.map { _ in EngineStop() }
            for (i, prompt) in prompts.enumerated() {
                let request = EngineRequest(prompt: prompt, maxTokens: max(0, options.maxTokens), sampling: options.sampling,
                                            stopIDs: options.stopIDs, keepPromptLogits: options.keepPromptLogits, stop: stops[i])
                // Events arrive on this thread, from `runUntilIdle` below.
                let job = Job(request: request, emit: { event in
                    switch event {
                    case let .piece(piece):
                        guard let id = piece.id, !stops[i].isRequested, failure == nil else { return }
                        if results[i].tokens.isEmpty { lastFirstToken = max(lastFirstToken, clock.now) }
                        results[i].tokens.append(id)
                        stats.generatedTokens += 1
                        do {
                            if try !onToken(i, id) { stops[i].request() }
                        } catch {
                            failure = error
                            stops.forEach { $0.request() }
                        }
                    case let .finished(c):
                        results[i].finishReason = c.finishReason
                        results[i].promptLogits = c.promptLogits
                    }
                }, end: { error in
                    if let error, failure == nil {
                        failure = error
                        stops.forEach { $0.request() }
                    }
                })
                do { try engine.enqueue(job, startThread: false) } catch {
                    failure = failure ?? error
                    stops.forEach { $0.request() }
                }
            }
            // Also after a failure: the queued requests end (stopped) and let go of `onToken`.
            engine.runUntilIdle()
        }
        engine.shutdown()
        if let failure { throw failure }
        let end = clock.now
        stats.promptSeconds = (lastFirstToken - start).seconds
        stats.generationSeconds = (end - lastFirstToken).seconds
        return (results, stats)
    }
}

extension Duration {
    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) * 1e-18
    }
}
