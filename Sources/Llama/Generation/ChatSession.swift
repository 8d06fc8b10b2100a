import Foundation

/// Why a chat turn could not run.
public enum ChatError: Error, CustomStringConvertible {
    case turnTooLong(tokens: Int, context: Int)
    case badMessages(String)

    public var description: String {
        switch self {
        case let .turnTooLong(tokens, context):
            return "the conversation needs \(tokens) prompt tokens even with only the system prompt and the last message, more than the context of \(context)"
        case let .badMessages(why): return "messages: \(why)"
        }
    }
}

/// What one turn cost.
public struct ChatTurnStats: Sendable {
    /// Prompt tokens of this turn's rendering, and how many of them were evaluated (the rest
    /// were already in the KV cache from earlier turns).
    public var promptTokens = 0
    public var promptTokensEvaluated = 0
    public var promptSeconds = 0.0
    public var generatedTokens = 0
    public var generationSeconds = 0.0
    /// Old turns dropped so that the conversation fits the context.
    public var droppedMessages = 0
    public var finishReason: FinishReason = .maxTokens
    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokensEvaluated) / promptSeconds : 0 }
    public var generationTokensPerSecond: Double { generationSeconds > 0 ? Double(generatedTokens) / generationSeconds : 0 }
}

/// A conversation with a model: it keeps the messages and one KV cache across turns. Each
/// turn renders the whole conversation with the chat template (the prompt is always exactly
/// what the template gives), and evaluates only the tokens after the longest prefix the cache
/// already holds, so turn N costs its new tokens, not the whole history.
public final class ChatSession {
    public let model: LlamaModel
    public let tokenizer: any Tokenizer
    public let template: ChatTemplate
    /// Special-token texts passed to the template (`bos_token`, `eos_token`, …).
    public var specialTokens: [String: String]
    /// Sampling and the reply length limit (`maxTokens`); `context` is fixed at creation.
    public var options: GenerationOptions
    /// The conversation so far: OpenAI-style message dicts.
    public private(set) var messages: [JinjaValue] = []
    /// Ids that end a reply: the tokenizer's end ids and the template's end-of-turn tokens.
    public let stopIDs: Set<TokenID>
    /// End-of-turn markers the vocabulary has no single token for: a reply also ends when
    /// its text spells one (a base model under a fallback format writes `<|im_end|>` as text).
    public let stopTexts: [String]

    let memory: PromptCache
    var cache: KVCache { memory.cache }
    let state: RunState

    /// A session over `model`; `context` is the KV cache size (the model's maximum when nil).
    public init(model: LlamaModel, tokenizer: any Tokenizer, template: ChatTemplate,
                specialTokens: [String: String], options: GenerationOptions) {
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
        self.specialTokens = specialTokens
        self.options = options
        let capacity = min(model.config.maxContext, max(1, options.context ?? model.config.maxContext))
        memory = PromptCache(cache: KVCache(config: model.config, capacity: capacity))
        state = RunState(config: model.config, maxRows: max(1, options.prefillBatch), maxLogitRows: 1)
        var stops = tokenizer.endOfGenerationIDs.union(options.stopIDs)
        var texts: [String] = []
        for marker in template.endOfTurnMarkers {
            if let id = tokenizer.specialTokens[marker] { stops.insert(id) } else { texts.append(marker) }
        }
        stopIDs = stops
        stopTexts = texts
    }

    public var contextSize: Int { cache.capacity }

    /// Forgets the conversation (keeping the system prompt when `keepSystem`).
    public func reset(keepSystem: Bool = true) {
        messages = keepSystem ? messages.filter { Self.role($0) == "system" }.prefix(1).map { $0 } : []
    }

    /// Sets (or with nil removes) the system prompt, the first message.
    public func setSystem(_ text: String?) {
        if let first = messages.first, Self.role(first) == "system" { messages.removeFirst() }
        if let text { messages.insert(Self.message("system", text), at: 0) }
    }

    /// Replaces the conversation (for example one read back from a saved file).
    public func load(messages: JinjaValue) throws {
        guard case let .list(items) = messages else { throw ChatError.badMessages("expected a JSON list of messages") }
        for m in items {
            guard case let .dict(d) = m, d["role"]?.stringValue != nil else { throw ChatError.badMessages("each message needs a \"role\"") }
        }
        self.messages = items
    }

    /// The prompt ids for the conversation as it stands, with the assistant's turn opened.
    public func promptTokens(for conversation: [JinjaValue]) throws -> [TokenID] {
        let text = try template.render(messages: .list(conversation), addGenerationPrompt: true, specialTokens: specialTokens)
        // The template writes BOS itself when the model wants one; special-token text is special.
        return tokenizer.encode(text, addBOS: false, allowSpecial: true)
    }

    /// Adds the user's message, generates the reply (streaming each id and its text to
    /// `onToken`, which returns false to stop), and adds the reply to the conversation.
    public func reply(to userText: String, onToken: (TokenID, String) throws -> Bool) throws -> (text: String, stats: ChatTurnStats) {
        var stats = ChatTurnStats()
        messages.append(Self.message("user", userText))
        // Drop the oldest turns (after the system prompt) until the prompt and some room for
        // the reply fit the context.
        let reserve = min(max(1, options.maxTokens), cache.capacity / 4)
        var prompt = try promptTokens(for: messages)
        while prompt.count + reserve > cache.capacity {
            let start = messages.first.map { Self.role($0) == "system" ? 1 : 0 } ?? 0
            guard messages.count - start > 1 else {
                messages.removeLast()
                throw ChatError.turnTooLong(tokens: prompt.count, context: cache.capacity)
            }
            messages.remove(at: start)
            stats.droppedMessages += 1
            prompt = try promptTokens(for: messages)
        }
        stats.promptTokens = prompt.count

        // Reuse the cached prefix; at least the last prompt token is evaluated for its logits.
        let reuse = memory.reuse(for: prompt)
        let clock = ContinuousClock()
        var start = clock.now
        var logits: [Float] = []
        var p = reuse
        while p < prompt.count {
            let end = min(prompt.count, p + state.maxRows)
            let rows = (p..<end).map { BatchRow(token: prompt[$0], position: $0) }
            try model.forward(rows, caches: [cache], state: state, logitRows: end == prompt.count ? [rows.count - 1] : [])
            if end == prompt.count { logits = Array(state.logits(row: 0)) }
            memory.append(prompt[p..<end])
            p = end
        }
        stats.promptTokensEvaluated = prompt.count - reuse
        stats.promptSeconds = (clock.now - start).seconds

        // Generation, as Generator does it for one sequence.
        start = clock.now
        var sampler = Sampler(options.sampling)
        var history = prompt
        var generated: [TokenID] = []
        var decoder = StreamingDecoder(tokenizer: tokenizer)
        var matcher = StopStringMatcher(stopTexts)
        var text = ""
        while options.maxTokens > 0 {
            let id = logits.withUnsafeBufferPointer { sampler.sample($0, history: history) }
            if stopIDs.contains(id) { stats.finishReason = .endOfGeneration; break }
            generated.append(id)
            history.append(id)
            let piece = matcher.feed(try decoder.append(id))
            text += piece
            if matcher.stopped {
                if !piece.isEmpty { _ = try onToken(id, piece) }
                stats.finishReason = .endOfGeneration
                break
            }
            if try !onToken(id, piece) { stats.finishReason = .stoppedByCaller; break }
            if generated.count >= options.maxTokens { stats.finishReason = .maxTokens; break }
            if cache.count >= cache.capacity { stats.finishReason = .contextFull; break }
            try model.forward([BatchRow(token: id, position: cache.count)], caches: [cache], state: state, logitRows: [0])
            memory.append([id])
            logits = Array(state.logits(row: 0))
        }
        let tail = matcher.stopped ? "" : matcher.feed(decoder.flush()) + matcher.flush()
        if !tail.isEmpty { text += tail; _ = try onToken(-1, tail) }
        stats.generatedTokens = generated.count
        stats.generationSeconds = (clock.now - start).seconds
        messages.append(Self.message("assistant", text))
        return (text, stats)
    }

    static func message(_ role: String, _ content: String) -> JinjaValue {
        var d = JinjaDict()
        d["role"] = .string(role)
        d["content"] = .string(content)
        return .dict(d)
    }

    static func role(_ m: JinjaValue) -> String? {
        if case let .dict(d) = m { return d["role"]?.stringValue }
        return nil
    }
}
