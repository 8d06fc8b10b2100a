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
///
/// Replies run through an `Engine` with one slot: the same prefill, sampling, stop and
/// streaming code as `llama generate` and `llama serve`, and the slot's prompt cache is the
/// conversation's KV cache.
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

    let engine: Engine

    /// A session over `model`; `options.context` is the KV cache size (the model's maximum
    /// when nil). Throws when that cache cannot fit in memory.
    public init(model: LlamaModel, tokenizer: any Tokenizer, template: ChatTemplate,
                specialTokens: [String: String], options: GenerationOptions) throws {
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
        self.specialTokens = specialTokens
        self.options = options
        var stops = tokenizer.endOfGenerationIDs.union(options.stopIDs)
        var texts: [String] = []
        for marker in template.endOfTurnMarkers {
            if let id = tokenizer.specialTokens[marker] { stops.insert(id) } else { texts.append(marker) }
        }
        stopIDs = stops
        stopTexts = texts
        engine = try Engine(model: model, tokenizer: tokenizer, slots: 1, context: options.context,
                            prefillChunk: max(1, options.prefillBatch), maxQueue: 1, stopIDs: stops, cacheType: options.cacheType)
    }

    deinit { engine.shutdown() }

    public var contextSize: Int { engine.context }

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
    /// `onToken`, which returns false to stop; the held-back text at the end comes with id
    /// -1), and adds the reply to the conversation.
    public func reply(to userText: String, onToken: (TokenID, String) throws -> Bool) async throws -> (text: String, stats: ChatTurnStats) {
        var stats = ChatTurnStats()
        messages.append(Self.message("user", userText))
        // Drop the oldest turns (after the system prompt) until the prompt and some room for
        // the reply fit the context.
        let capacity = engine.context
        let reserve = min(max(1, options.maxTokens), capacity / 4)
        var prompt = try promptTokens(for: messages)
        while prompt.count + reserve > capacity {
            let start = messages.first.map { Self.role($0) == "system" ? 1 : 0 } ?? 0
            guard messages.count - start > 1 else {
                messages.removeLast()
                throw ChatError.turnTooLong(tokens: prompt.count, context: capacity)
            }
            messages.remove(at: start)
            stats.droppedMessages += 1
            prompt = try promptTokens(for: messages)
        }
        stats.promptTokens = prompt.count

        let stop = EngineStop()
        let request = EngineRequest(prompt: prompt, maxTokens: max(0, options.maxTokens), sampling: options.sampling,
                                    stopStrings: stopTexts, stopIDs: stopIDs, stop: stop)
        var text = ""
        var shown = 0
        var completion: EngineCompletion? = nil
        do {
            for try await event in try engine.submit(request) {
                switch event {
                case let .piece(piece):
                    // After a stop, the engine may still send the step it was running: dropped.
                    guard !stop.isRequested else { continue }
                    text += piece.text
                    guard let id = piece.id else {
                        if !piece.text.isEmpty { _ = try onToken(-1, piece.text) }
                        continue
                    }
                    shown += 1
                    if try !onToken(id, piece.text) { stop.request() }
                case let .finished(c): completion = c
                }
            }
        } catch {
            messages.removeLast()
            throw error
        }
        if let completion {
            stats.promptTokensEvaluated = completion.promptTokens - completion.cachedTokens
            stats.promptSeconds = completion.promptSeconds
            stats.generationSeconds = completion.generationSeconds
            stats.finishReason = completion.finishReason
        }
        stats.generatedTokens = shown
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
