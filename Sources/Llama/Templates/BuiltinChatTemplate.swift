import Foundation

/// Chat formats to fall back on when a model carries no template of its own (a base model,
/// an old conversion). They are used only then, and the caller should say so.
public enum BuiltinChatTemplate: String, CaseIterable, Sendable {
    /// Meta's Llama 3 format: `<|start_header_id|>role<|end_header_id|>\n\ntext<|eot_id|>`.
    case llama3
    /// Meta's Llama 2 format: `<s>[INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] answer </s>`.
    case llama2
    /// ChatML (`<|im_start|>role\ntext<|im_end|>\n`), the common default.
    case chatml

    /// A readable name for notices.
    public var displayName: String {
        switch self {
        case .llama3: return "Llama 3"
        case .llama2: return "Llama 2 [INST]"
        case .chatml: return "ChatML"
        }
    }

    /// The Jinja source, written in the style of the models' own templates.
    public var source: String {
        switch self {
        case .llama3:
            return """
            {{- bos_token }}
            {%- for message in messages %}
            {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}
            {%- endfor %}
            {%- if add_generation_prompt %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
            {%- endif %}
            """
        case .llama2:
            return """
            {%- if messages and messages[0]['role'] == 'system' %}
            {%- set system_message = messages[0]['content'] | trim %}
            {%- set conversation = messages[1:] %}
            {%- else %}
            {%- set system_message = '' %}
            {%- set conversation = messages %}
            {%- endif %}
            {%- for message in conversation %}
            {%- if message['role'] == 'user' %}
            {%- set text = message['content'] | trim %}
            {%- if loop.first and system_message %}
            {%- set text = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + text %}
            {%- endif %}
            {{- bos_token + '[INST] ' + text + ' [/INST]' }}
            {%- elif message['role'] == 'assistant' %}
            {{- ' ' + message['content'] | trim + ' ' + eos_token }}
            {%- endif %}
            {%- endfor %}
            """
        case .chatml:
            return """
            {%- for message in messages %}
            {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}
            {%- endfor %}
            {%- if add_generation_prompt %}
            {{- '<|im_start|>assistant\\n' }}
            {%- endif %}
            """
        }
    }

    /// The format a vocabulary was made for: Llama 3's header tokens, ChatML's `<|im_start|>`,
    /// a SentencePiece Llama vocabulary for `[INST]`, and ChatML otherwise.
    public static func matching(tokens: some Sequence<String>, sentencePieceLlama: Bool) -> BuiltinChatTemplate {
        let set = Set(tokens)
        if set.contains("<|start_header_id|>") && set.contains("<|eot_id|>") { return .llama3 }
        if set.contains("<|im_start|>") { return .chatml }
        if sentencePieceLlama { return .llama2 }
        return .chatml
    }
}

extension ChatTemplate {
    /// Turn-ending tokens that appear in the template's text, in the order listed here:
    /// generation of a reply should stop at them even when the file's EOS is another token
    /// (Llama 3 ends turns with `<|eot_id|>` and the file with `<|end_of_text|>`).
    public var endOfTurnMarkers: [String] {
        ChatTemplate.knownEndOfTurnMarkers.filter { source.contains($0) }
    }

    /// End-of-turn tokens of the common chat formats.
    public static let knownEndOfTurnMarkers = [
        "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<end_of_turn>", "<|end|>", "<|END_OF_TURN_TOKEN|>",
        "<|endoftext|>", "<|end_of_text|>", "<｜end▁of▁sentence｜>", "<|return|>", "<turn|>", "</s>",
    ]
}

extension ModelChatTemplates {
    /// The template to render: the model's own (`select`), or, only when the model has none,
    /// the built-in format its vocabulary suggests, returned as `fallback` so that the caller
    /// can say it is being used.
    public func selectOrFallback(name: String? = nil, hasTools: Bool = false) throws -> (source: String, fallback: BuiltinChatTemplate?) {
        if templates.isEmpty && name == nil {
            let builtin = BuiltinChatTemplate.matching(tokens: vocabularyHint, sentencePieceLlama: sentencePieceLlama)
            return (builtin.source, builtin)
        }
        return (try select(name: name, hasTools: hasTools), nil)
    }
}

/// The chat template a model is served with, and what ends one of its replies: the one
/// choice `llama chat` and `llama serve` share.
public struct ModelChat: Sendable {
    public let template: ChatTemplate
    /// Special-token texts passed to the template (`bos_token`, `eos_token`, …).
    public let specialTokens: [String: String]
    /// The built-in format used because the model has no template of its own.
    public let fallback: BuiltinChatTemplate?
    /// Ids that end a reply: the tokenizer's end ids and the template's end-of-turn tokens.
    public let stopIDs: Set<TokenID>
    /// End-of-turn markers the vocabulary has no single token for (ended on as text).
    public let stopTexts: [String]

    /// `templateFile` (a Jinja file) when given, else the model's own template, else the
    /// built-in format its vocabulary suggests.
    public init(model path: String, tokenizer tok: any Tokenizer, templateFile: String? = nil) throws {
        var found = (try? ModelChatTemplates.load(model: path))
            ?? ModelChatTemplates(templates: [:], specialTokens: [:], path: path)
        let byID = Dictionary(tok.specialTokens.map { ($0.value, $0.key) }, uniquingKeysWith: { a, _ in a })
        if found.specialTokens["bos_token"] == nil, let id = tok.bosID, let text = byID[id] { found.specialTokens["bos_token"] = text }
        if found.specialTokens["eos_token"] == nil, let id = tok.eosID, let text = byID[id] { found.specialTokens["eos_token"] = text }
        if let templateFile {
            let source: String
            do { source = try String(contentsOfFile: templateFile, encoding: .utf8) } catch {
                throw ChatTemplateError.unreadable(path: templateFile, reason: error.localizedDescription)
            }
            template = try ChatTemplate(source: source)
            fallback = nil
        } else {
            if found.templates.isEmpty && found.vocabularyHint.isEmpty {
                found.vocabularyHint = Array(tok.specialTokens.keys)
            }
            let chosen = try found.selectOrFallback()
            template = try ChatTemplate(source: chosen.source)
            fallback = chosen.fallback
        }
        specialTokens = found.specialTokens
        var stops = tok.endOfGenerationIDs
        var texts: [String] = []
        for marker in template.endOfTurnMarkers {
            if let id = tok.specialTokens[marker] { stops.insert(id) } else { texts.append(marker) }
        }
        stopIDs = stops
        stopTexts = texts
    }

    /// The prompt ids of a conversation (OpenAI-style message dicts) with the assistant's
    /// turn opened. The template writes BOS itself when the model wants one.
    public func promptTokens(messages: JinjaValue, tokenizer: any Tokenizer) throws -> [TokenID] {
        let text = try template.render(messages: messages, addGenerationPrompt: true, specialTokens: specialTokens)
        return tokenizer.encode(text, addBOS: false, allowSpecial: true)
    }
}
