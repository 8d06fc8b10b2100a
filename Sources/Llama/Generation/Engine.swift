import Foundation

/// Why the engine refused a request.
public enum EngineError: Error, CustomStringConvertible, Equatable {
    case emptyPrompt
    case promptTooLong(tokens: Int, context: Int)
    case tokenOutOfRange(id: TokenID, vocabularySize: Int)
    case queueFull(waiting: Int, limit: Int)
    case shutDown

    public var description: String {
        switch self {
        case .emptyPrompt: return "the prompt has no tokens"
        case let .promptTooLong(tokens, context):
            return "the prompt has \(tokens) tokens, more than the context of \(context) tokens"
        case let .tokenOutOfRange(id, size): return "prompt token id \(id) is outside the vocabulary of \(size) ids"
        case let .queueFull(waiting, limit):
            return "the server is busy: \(waiting) requests are already waiting for a slot (limit \(limit)); retry later"
        case .shutDown: return "the engine is shutting down and takes no new requests"
        }
    }
}

/// One generation: a prompt (ids, BOS included when wanted) and when to stop.
public struct EngineRequest: Sendable {
    public var prompt: [TokenID]
    /// Tokens to generate at most; nil: until the context is full.
    public var maxTokens: Int?
    public var sampling: SamplingParameters
    /// Texts that end the generation; the text from a stop string on is never shown.
    public var stopStrings: [String]
    /// Ids that end the generation (not shown); nil: the engine's `defaultStopIDs`.
    public var stopIDs: Set<TokenID>?
    /// With a value n: each token carries its log-probability and the n most likely ids'.
    public var logprobs: Int?
    /// Report the logits of the prompt's last position in the final event.
    public var keepPromptLogits: Bool
    /// Set it to end the request before the engine's next step, with its final event
    /// (finish reason `.stoppedByCaller`); ending the iteration instead cancels the request
    /// without one.
    public var stop: EngineStop?

    public init(prompt: [TokenID], maxTokens: Int? = nil, sampling: SamplingParameters = SamplingParameters(),
                stopStrings: [String] = [], stopIDs: Set<TokenID>? = nil, logprobs: Int? = nil,
                keepPromptLogits: Bool = false, stop: EngineStop? = nil) {
        self.stop = stop
        self.prompt = prompt
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stopStrings = stopStrings
        self.stopIDs = stopIDs
        self.logprobs = logprobs
        self.keepPromptLogits = keepPromptLogits
    }
}

/// A flag that ends a request at the engine's next step (for example on Ctrl-C in a chat).
public final class EngineStop: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    public init() {}

    public func request() { lock.lock(); value = true; lock.unlock() }

    public var isRequested: Bool { lock.lock(); defer { lock.unlock() }; return value }
}

/// Log-probability of a chosen id, and of the most likely ids at that step.
public struct TokenLogprob: Sendable, Equatable {
    public var id: TokenID
    public var logprob: Float
    public var top: [Alternative]

    public struct Alternative: Sendable, Equatable {
        public var id: TokenID
        public var logprob: Float
    }
}

/// A generated token and the text that became complete with it.
public struct EnginePiece: Sendable {
    /// The id generated, or nil for the final flush of held-back text.
    public var id: TokenID?
    /// Text now safe to show: never a split UTF-8 character, never part of a stop string.
    /// Possibly empty (held back until the next token).
    public var text: String
    public var logprob: TokenLogprob?
}

/// The end of a generation.
public struct EngineCompletion: Sendable {
    /// `.endOfGeneration` also when a stop string ended it.
    public var finishReason: FinishReason
    public var promptTokens: Int
    /// Prompt tokens whose keys and values were already in the slot (not evaluated again).
    public var cachedTokens: Int
    public var generatedTokens: Int
    /// From the start of the request's prefill to its first token, and from there to the end.
    public var promptSeconds: Double
    public var generationSeconds: Double
    /// Seconds the request waited for a free slot.
    public var queueSeconds: Double
    /// The longest time between two of this request's consecutive tokens, measured in the
    /// engine (0 with fewer than two tokens): how long other requests' prompts held it up.
    public var longestTokenGapSeconds: Double
    /// Logits at the prompt's last position, when asked for.
    public var promptLogits: [Float]?
}

/// One engine step as the engine timed it: the rows it evaluated and how long the forward
/// call and the sampling took. A step with `prefillRows > 0` is the delay a prompt being
/// read adds to the running streams (at most `Engine.prefillChunk` rows).
public struct EngineStepReport: Sendable {
    /// One row per generating sequence (its next token).
    public var decodeRows: Int
    /// Prompt positions evaluated in this step.
    public var prefillRows: Int
    public var seconds: Double
}

/// What `Engine.generate` yields.
public enum EngineEvent: Sendable {
    case piece(EnginePiece)
    case finished(EngineCompletion)
}

/// Continuous batching: a fixed number of slots, each with its own KV cache, and one
/// thread that runs the model.
///
/// Every step is one forward call over every active sequence: the next token of each
/// generating slot, plus at most `prefillChunk` prompt positions of slots still reading
/// their prompt, so a long prompt delays the running streams by at most one chunk.
/// Requests join free slots and leave between steps. A slot keeps the keys and values of
/// its last sequence: a new request reuses the longest common prefix (a chat's earlier
/// turns, a shared system prompt) and evaluates only the rest.
///
/// Each request has its own sampler seeded with its seed, so a prompt gives the same
/// tokens in a batch as alone (greedy ids match; logits differ at most by float
/// reassociation in the batched matmuls).
public final class Engine: @unchecked Sendable {
    public let model: LlamaModel
    public let tokenizer: (any Tokenizer)?
    public let slotCount: Int
    /// KV cache positions per slot (prompt + generated tokens).
    public let context: Int
    public let prefillChunk: Int
    /// Rows a forward call takes on the few-token path (each weight row read once and dotted
    /// with every row: `interleavedMaxTokens` when every layer matrix is row-interleaved),
    /// 0 when the model has no such path worth keeping to. Beyond it every product goes
    /// through `gemm`, which packs all of its weights again on each call: on the 1B Q4_0 file
    /// (2 threads, Zen 4, loaded machine) a 12-row step took ~850 ms and a 24-row one ~990 ms,
    /// against 135–160 ms for an 8-row step (`llama bench -p 12` / `-p 8`). So while no slot
    /// has `Engine.batchedPrefillRows` prompt positions left to read, a step takes at most
    /// this many rows in all (prompt positions after the decode rows), and short prompts
    /// arriving together are read over a few cheap steps instead of one costly one.
    public let fewRowLimit: Int
    /// A slot with at least this many prompt positions still to read gets a chunk of up to
    /// `prefillChunk` positions per step (through `gemm`, whose packing the rows then repay).
    public static let batchedPrefillRows = 128
    /// Requests that may wait for a slot; more are refused with `EngineError.queueFull`.
    public let maxQueue: Int
    /// Ids that end a generation unless a request gives its own.
    public let defaultStopIDs: Set<TokenID>
    /// Called on the engine thread after every step (keep it short).
    private let onStep: (@Sendable (EngineStepReport) -> Void)?

    private let lock = NSCondition()
    // Guarded by `lock`:
    private var waiting: [Job] = []
    private var activeCount = 0
    private var stopping = false
    private var running = false

    // Owned by the engine thread:
    private let slots: [Slot]
    private let state: RunState
    private var caches: [KVCache]
    private var useCounter = 0
    // A step's batch, kept between steps (emptied, capacity kept): no arrays per step.
    private var rows: [BatchRow] = []
    private var logitRows: [Int] = []
    private var owners: [Slot] = []
    private var stepped: [Slot] = []

    /// An engine over `model` with `slots` parallel sequences of `context` positions each
    /// (the model's maximum when nil).
    public init(model: LlamaModel, tokenizer: (any Tokenizer)?, slots: Int = 4, context: Int? = nil,
                prefillChunk: Int = 256, maxQueue: Int = 64, stopIDs: Set<TokenID>? = nil, cacheType: KVCacheType = .f32,
                onStep: (@Sendable (EngineStepReport) -> Void)? = nil) throws {
        self.model = model
        self.onStep = onStep
        self.tokenizer = tokenizer
        slotCount = max(1, slots)
        let cap = model.config.maxContext
        self.context = min(cap, max(1, context ?? cap))
        self.prefillChunk = max(1, prefillChunk)
        fewRowLimit = Engine.fewRowLimit(of: model)
        self.maxQueue = max(0, maxQueue)
        defaultStopIDs = stopIDs ?? tokenizer?.endOfGenerationIDs ?? []
        let c = model.config
        try cacheType.check(headDim: c.headDim)
        var total = KVCache.bytes(config: c, positions: self.context, type: cacheType)
        if let perSlot = total {
            let (all, overflow) = perSlot.multipliedReportingOverflow(by: slotCount)
            total = overflow ? nil : all
        }
        let memory = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        guard let total, total <= memory else {
            throw ModelError.cacheTooLarge(positions: self.context &* slotCount, bytes: total ?? Int.max, available: memory)
        }
        let positions = self.context
        let made = try (0..<slotCount).map { _ in Slot(cache: try KVCache(config: c, capacity: positions, type: cacheType)) }
        self.slots = made
        caches = made.map(\.cache)
        // Every slot's keys and values on real pages now, not in the first steps that use the
        // slot: with the head-major layout a slot's first token touches every (layer, head)
        // run, i.e. the whole cache, and a fresh huge page may wait for the kernel to compact
        // memory (the first step of each new slot took 0.4-0.5 s on the loaded 2-core host,
        // against 0.13 s warm; llama.cpp clears its KV buffer at load for the same reason).
        for cache in caches { cache.touchPages(parallel: model.parallel) }
        state = RunState(config: c, maxRows: slotCount + self.prefillChunk, maxLogitRows: slotCount)
    }

    /// The prompt ids of a text: BOS first when the tokenizer's model wants one (the one
    /// policy of `llama generate`, `llama tokenize` and the server), special-token text as
    /// special ids.
    public func encode(_ text: String, addBOS: Bool = true) -> [TokenID] {
        guard let tokenizer else { return [] }
        return tokenizer.encode(text, addBOS: addBOS && tokenizer.addsBOSByDefault, allowSpecial: true)
    }

    /// Requests waiting for a slot and requests in a slot.
    public var load: (waiting: Int, active: Int) {
        lock.lock(); defer { lock.unlock() }
        return (waiting.count, activeCount)
    }

    /// Starts a request; throws at once when it cannot run (prompt too long, queue full).
    /// Ending the iteration early (or cancelling the consuming task) cancels the request
    /// and frees its slot before the next step.
    public func submit(_ request: EngineRequest) throws -> AsyncThrowingStream<EngineEvent, Error> {
        let (stream, continuation) = AsyncThrowingStream<EngineEvent, Error>.makeStream()
        let job = Job(request: request, emit: { continuation.yield($0) }, end: { continuation.finish(throwing: $0) })
        try enqueue(job, startThread: true) {
            continuation.onTermination = { [weak self, job] termination in
                if case .cancelled = termination { self?.cancel(job) }
            }
        }
        return stream
    }

    /// Starts several requests together: all are queued before the engine thread takes any,
    /// so they form the same batches on every run (what the ranks of a model-parallel job
    /// need: every rank must make the same forward calls). Throws, queueing none, when one
    /// cannot run.
    public func submit(batch requests: [EngineRequest]) throws -> [AsyncThrowingStream<EngineEvent, Error>] {
        var jobs: [Job] = []
        var streams: [AsyncThrowingStream<EngineEvent, Error>] = []
        for request in requests {
            let (stream, continuation) = AsyncThrowingStream<EngineEvent, Error>.makeStream()
            let job = Job(request: request, emit: { continuation.yield($0) }, end: { continuation.finish(throwing: $0) })
            do {
                try enqueue(job, startThread: jobs.count == requests.count - 1) {
                    continuation.onTermination = { [weak self, job] termination in
                        if case .cancelled = termination { self?.cancel(job) }
                    }
                }
            } catch {
                for queued in jobs { cancel(queued) }
                throw error
            }
            jobs.append(job)
            streams.append(stream)
        }
        return streams
    }

    /// Checks a request and queues it; `beforeQueueing` runs under the lock once it is
    /// accepted. With `startThread`, starts the engine thread if none runs.
    func enqueue(_ job: Job, startThread: Bool, beforeQueueing: () -> Void = {}) throws {
        let request = job.request
        guard !request.prompt.isEmpty else { throw EngineError.emptyPrompt }
        guard request.prompt.count <= context else { throw EngineError.promptTooLong(tokens: request.prompt.count, context: context) }
        let vocab = model.config.vocabSize
        if let bad = request.prompt.first(where: { $0 < 0 || $0 >= vocab }) {
            throw EngineError.tokenOutOfRange(id: bad, vocabularySize: vocab)
        }
        lock.lock()
        defer { lock.unlock() }
        guard !stopping else { throw EngineError.shutDown }
        let busy = waiting.count + activeCount - slotCount
        guard busy < maxQueue else { throw EngineError.queueFull(waiting: max(0, busy), limit: maxQueue) }
        beforeQueueing()
        waiting.append(job)
        if startThread && !running {
            running = true
            let thread = Thread { [self] in loop(untilIdle: false) }
            thread.name = "llama-engine"
            thread.stackSize = 8 << 20
            thread.start()
        }
        lock.signal()
    }

    /// Runs the queued requests on the calling thread until none is left (`Generator`'s
    /// blocking API): their events are delivered on this thread, between steps.
    func runUntilIdle() {
        lock.lock()
        let busy = running
        if !busy { running = true }
        lock.unlock()
        guard !busy else { return }
        loop(untilIdle: true)
    }

    /// `submit`, with a refusal delivered as the stream's error.
    public func generate(_ request: EngineRequest) -> AsyncThrowingStream<EngineEvent, Error> {
        do { return try submit(request) } catch {
            return AsyncThrowingStream { $0.finish(throwing: error) }
        }
    }

    /// Takes no new requests; the running and waiting ones finish. The engine thread ends
    /// when the last one is done.
    public func shutdown() {
        lock.lock()
        stopping = true
        lock.signal()
        lock.unlock()
    }

    /// Waits until no request is waiting or running.
    public func drain() async {
        while true {
            let (w, a) = load
            if w == 0 && a == 0 { return }
            try? await Task.sleep(nanoseconds: 5_000_000)
        }
    }

    private func cancel(_ job: Job) {
        lock.lock()
        job.cancelled = true
        if let i = waiting.firstIndex(where: { $0 === job }) { waiting.remove(at: i) }
        lock.signal()
        lock.unlock()
    }

    // MARK: The engine thread

    private func loop(untilIdle: Bool) {
        while true {
            // Admit waiting requests into free slots; sleep when there is nothing to do.
            lock.lock()
            for slot in slots where slot.job != nil {
                if slot.job?.cancelled == true {
                    release(slot)
                    activeCount -= 1
                } else if slot.job?.request.stop?.isRequested == true {
                    slot.finish(.stoppedByCaller)
                    release(slot)
                    activeCount -= 1
                }
            }
            while !waiting.isEmpty, slots.contains(where: { $0.job == nil }) {
                let job = waiting.removeFirst()
                if admit(job) { activeCount += 1 }
            }
            if activeCount == 0 {
                if (stopping || untilIdle) && waiting.isEmpty {
                    running = false
                    lock.unlock()
                    return
                }
                lock.wait()
                lock.unlock()
                continue
            }
            lock.unlock()
            step()
        }
    }

    /// Puts a job in the free slot that already holds the longest prefix of its prompt;
    /// false when it was done at once (no tokens to generate).
    private func admit(_ job: Job) -> Bool {
        let prompt = job.request.prompt
        var best: Slot? = nil
        var bestShared = -1
        for slot in slots where slot.job == nil {
            let shared = slot.memory.sharedPrefix(with: prompt)
            // Ties: the least recently used slot, so popular prefixes survive longer.
            if shared > bestShared || (shared == bestShared && slot.lastUse < (best?.lastUse ?? Int.max)) {
                best = slot
                bestShared = shared
            }
        }
        guard let slot = best else { return false }
        // At least the last prompt position is evaluated: its logits give the first token.
        let reuse = slot.memory.reuse(for: prompt)
        useCounter += 1
        slot.lastUse = useCounter
        if slot.start(job: job, reused: reuse, tokenizer: tokenizer, stopIDs: job.request.stopIDs ?? defaultStopIDs, context: context) {
            release(slot)
            return false
        }
        return true
    }

    private func release(_ slot: Slot) {
        slot.job = nil
        slot.pending = nil
    }

    /// One forward call over every active slot, then one sampled token per slot that has
    /// logits.
    private func step() {
        rows.removeAll(keepingCapacity: true)
        logitRows.removeAll(keepingCapacity: true)
        owners.removeAll(keepingCapacity: true)
        stepped.removeAll(keepingCapacity: true)
        for (i, slot) in slots.enumerated() {
            guard slot.job != nil, let token = slot.pending else { continue }
            rows.append(BatchRow(token: token, position: slot.cache.count, sequence: i))
            logitRows.append(rows.count - 1)
            owners.append(slot)
            stepped.append(slot)
        }
        let decodeRows = rows.count
        var budget = prefillChunk
        func prefills(_ slot: Slot) -> Bool { slot.job != nil && slot.pending == nil && slot.prefilled < slot.prompt.count }
        // Sorting the prefilling slots makes an array: only when there are some.
        let prefilling = slots.contains(where: prefills)
            ? slots.enumerated().filter { prefills($0.element) }.sorted { $0.element.lastUse < $1.element.lastUse } : []
        // Short prompts: the step stays on the few-token path (see `fewRowLimit`).
        if decodeRows < fewRowLimit,
           !prefilling.contains(where: { $0.element.prompt.count - $0.element.prefilled >= Engine.batchedPrefillRows }) {
            budget = min(budget, fewRowLimit - decodeRows)
        }
        for (i, slot) in prefilling where budget > 0 {
            let start = slot.prefilled
            let end = min(slot.prompt.count, start + budget)
            for p in start..<end { rows.append(BatchRow(token: slot.prompt[p], position: p, sequence: i)) }
            budget -= end - start
            slot.chunkEnd = end
            stepped.append(slot)
            if end == slot.prompt.count {
                logitRows.append(rows.count - 1)
                owners.append(slot)
            }
        }
        guard !rows.isEmpty else { return }
        let started = ContinuousClock.now
        defer {
            onStep?(EngineStepReport(decodeRows: decodeRows, prefillRows: rows.count - decodeRows,
                                     seconds: (ContinuousClock.now - started).seconds))
        }
        do {
            try model.forward(rows, caches: caches, state: state, logitRows: logitRows)
        } catch {
            for slot in stepped {
                slot.job?.end(error)
                slot.memory.clear()
                finishSlot(slot)
            }
            return
        }
        for slot in stepped {
            if let token = slot.pending {
                slot.memory.append(CollectionOfOne(token))
            } else {
                slot.memory.append(slot.prompt[slot.prefilled..<slot.chunkEnd])
                slot.prefilled = slot.chunkEnd
            }
        }
        for (j, slot) in owners.enumerated() {
            let logits = state.logits(row: j)
            if slot.pending == nil && slot.job?.request.keepPromptLogits == true { slot.promptLogits = Array(logits) }
            if slot.accept(logits: logits, context: context, communicator: model.communicator) { finishSlot(slot) }
        }
    }

    /// `interleavedMaxTokens` when every layer's matrices are row-interleaved (one matrix-vector
    /// kernel call for up to that many rows); 0 otherwise (no limit on a step's rows).
    static func fewRowLimit(of model: LlamaModel) -> Int {
        var matrices: [MatrixView] = []
        for layer in model.layers {
            matrices += [layer.wq, layer.wk, layer.wv, layer.wo]
            guard case let .dense(ffn) = layer.feedForward else { return 0 }
            matrices += [ffn.w2, ffn.w3]
            if let w1 = ffn.w1 { matrices.append(w1) }
        }
        return !matrices.isEmpty && matrices.allSatisfy({ $0.layout == .rowInterleaved8 }) ? interleavedMaxTokens : 0
    }

    private func finishSlot(_ slot: Slot) {
        lock.lock()
        if slot.job != nil {
            release(slot)
            activeCount -= 1
        }
        lock.unlock()
    }
}

extension KVCache {
    /// Writes zeros over the keys and values (they are zero already), so that every page is
    /// faulted in before the engine's steps use the cache.
    func touchPages(parallel: ParallelFor) {
        let bytes = type.bytes(elements: layerCount * capacity * kvDim)
        let piece = 2 << 20
        for base in [keys, values] {
            parallel.runChunked((bytes + piece - 1) / piece, chunk: 1) { _, range in
                for i in range {
                    let start = i * piece
                    memset(base + start, 0, min(piece, bytes - start))
                }
            }
        }
    }
}

/// A request being served.
final class Job: @unchecked Sendable {
    let request: EngineRequest
    /// Where the request's events go (an `AsyncThrowingStream`'s continuation, or
    /// `Generator`'s callback), and the end of them (with the error, if one ended it).
    let emit: (EngineEvent) -> Void
    let end: (Error?) -> Void
    /// Set under the engine's lock.
    var cancelled = false
    let submitted = ContinuousClock.now

    init(request: EngineRequest, emit: @escaping (EngineEvent) -> Void, end: @escaping (Error?) -> Void) {
        self.request = request
        self.emit = emit
        self.end = end
    }
}

/// One sequence's KV cache and the state of the request using it.
final class Slot {
    /// The slot's KV cache and the tokens it holds (kept after the request ends).
    let memory: PromptCache
    var cache: KVCache { memory.cache }
    var lastUse = 0

    var job: Job?
    var prompt: [TokenID] = []
    var prefilled = 0
    var chunkEnd = 0
    /// The last sampled token, to feed at the next step.
    var pending: TokenID?
    var sampler = Sampler(SamplingParameters())
    var history: [TokenID] = []
    var decoder: StreamingDecoder?
    var matcher = StopStringMatcher([])
    var stopIDs: Set<TokenID> = []
    var maxTokens = 0
    var generated = 0
    var reused = 0
    var promptLogits: [Float]?
    var started = ContinuousClock.now
    var firstToken: ContinuousClock.Instant?
    var lastToken: ContinuousClock.Instant?
    var longestGap = Duration.zero

    init(cache: KVCache) { memory = PromptCache(cache: cache) }

    /// Takes a request; true when it is done at once (nothing to generate or evaluate).
    func start(job: Job, reused: Int, tokenizer: (any Tokenizer)?, stopIDs: Set<TokenID>, context: Int) -> Bool {
        let r = job.request
        self.job = job
        prompt = r.prompt
        prefilled = reused
        self.reused = reused
        chunkEnd = reused
        pending = nil
        sampler = Sampler(r.sampling)
        history = r.prompt
        decoder = tokenizer.map { StreamingDecoder(tokenizer: $0) }
        matcher = StopStringMatcher(r.stopStrings)
        self.stopIDs = stopIDs
        maxTokens = max(0, r.maxTokens ?? context)
        generated = 0
        promptLogits = nil
        started = .now
        firstToken = nil
        lastToken = nil
        longestGap = .zero
        if maxTokens == 0 && !r.keepPromptLogits {
            finish(.maxTokens)
            return true
        }
        return false
    }

    /// Samples from `logits` and reports the token; returns true when the request is done.
    /// In a model-parallel job rank 0's token is every rank's (broadcast), so all ranks stop
    /// at the same step and feed the same token next.
    func accept(logits: UnsafeBufferPointer<Float>, context: Int, communicator: any Communicator) -> Bool {
        guard let job else { return true }
        if firstToken == nil { firstToken = .now }
        if maxTokens == 0 {  // only the prompt's logits were wanted
            finish(.maxTokens)
            return true
        }
        var id = sampler.sample(logits, history: history)
        if communicator.size > 1 { id = TokenID(communicator.broadcast(Int32(truncatingIfNeeded: id))) }
        if stopIDs.contains(id) {
            finish(.endOfGeneration)
            return true
        }
        generated += 1
        let now = ContinuousClock.now
        if let lastToken { longestGap = max(longestGap, now - lastToken) }
        lastToken = now
        history.append(id)
        var text = ""
        if decoder != nil { text = (try? decoder?.append(id)) ?? "" }
        let shown = matcher.feed(text)
        let logprob = job.request.logprobs.map { Slot.logprob(of: id, top: $0, logits: logits) }
        job.emit(.piece(EnginePiece(id: id, text: shown, logprob: logprob)))
        if matcher.stopped { finish(.endOfGeneration); return true }
        if generated >= maxTokens { finish(.maxTokens); return true }
        if cache.count >= min(context, cache.capacity) { finish(.contextFull); return true }
        pending = id
        return false
    }

    /// Sends the held-back text and the final event.
    func finish(_ reason: FinishReason) {
        guard let job else { return }
        if !matcher.stopped {
            var tail = ""
            if let rest = decoder?.flush() { tail = matcher.feed(rest) }
            tail += matcher.flush()
            if !tail.isEmpty { job.emit(.piece(EnginePiece(id: nil, text: tail, logprob: nil))) }
        }
        let now = ContinuousClock.now
        let first = firstToken ?? now
        job.emit(.finished(EngineCompletion(
            finishReason: reason, promptTokens: prompt.count, cachedTokens: reused, generatedTokens: generated,
            promptSeconds: (first - started).seconds, generationSeconds: (now - first).seconds,
            queueSeconds: (started - job.submitted).seconds, longestTokenGapSeconds: longestGap.seconds,
            promptLogits: promptLogits)))
        job.end(nil)
        pending = nil
    }

    static func logprob(of id: TokenID, top n: Int, logits: UnsafeBufferPointer<Float>) -> TokenLogprob {
        var maxLogit = -Float.infinity
        for l in logits where l > maxLogit { maxLogit = l }
        var sum: Double = 0
        for l in logits { sum += exp(Double(l - maxLogit)) }
        let logZ = Double(maxLogit) + log(sum)
        func lp(_ i: Int) -> Float { Float(Double(logits[i]) - logZ) }
        var best: [(Int, Float)] = []
        let k = min(max(0, n), logits.count)
        if k > 0 {
            for i in 0..<logits.count {
                let l = logits[i]
                if best.count == k, let last = best.last, l <= last.1 { continue }
                var pos = best.count
                while pos > 0 && l > best[pos - 1].1 { pos -= 1 }
                best.insert((i, l), at: pos)
                if best.count > k { best.removeLast() }
            }
        }
        return TokenLogprob(id: id, logprob: lp(id), top: best.map { .init(id: $0.0, logprob: lp($0.0)) })
    }
}
