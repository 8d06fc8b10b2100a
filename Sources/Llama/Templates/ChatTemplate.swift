import Foundation

/// Where a model's chat template could not be read.
public enum ChatTemplateError: Error, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case badField(path: String, field: String, expected: String)
    case noTemplate(path: String)
    case unknownName(path: String, name: String, available: [String])
    case noDefault(path: String, available: [String])

    public var description: String {
        switch self {
        case let .unreadable(path, reason): return "\(path): \(reason)"
        case let .badField(path, field, expected): return "\(path): \(field) should be \(expected)"
        case let .noTemplate(path): return "\(path): the model has no chat template (no tokenizer.chat_template, chat_template.jinja or tokenizer_config.json chat_template)"
        case let .unknownName(path, name, available):
            return "\(path): no chat template named '\(name)' (the model has: \(available.sorted().joined(separator: ", ")))"
        case let .noDefault(path, available):
            return "\(path): the model has several chat templates and none is named 'default' (\(available.sorted().joined(separator: ", "))); pick one by name"
        }
    }
}

/// A model's chat template: turns a conversation into the prompt text the model was trained
/// on, exactly as HF transformers' `apply_chat_template(..., tokenize=False)` does.
public struct ChatTemplate: Sendable {
    /// The Jinja source.
    public let source: String
    let template: JinjaTemplate

    /// Parses a template's source; throws `JinjaError.syntax` when it is not valid Jinja.
    public init(source: String) throws {
        self.source = source
        template = try JinjaTemplate(source)
    }

    /// Renders a conversation. `messages` is a list of OpenAI-style message dicts (`role`,
    /// `content`, optional `tool_calls`, `tool_call_id`, `name`); `tools` a list of tool
    /// schemas, or nil to leave the `tools` variable undefined; `specialTokens` the model's
    /// special-token texts by HF name (`bos_token`, `eos_token`, `pad_token`, `unk_token`);
    /// `extra` any other variable the template reads (it can override the others).
    /// `now` is what `strftime_now` sees (local time when nil).
    public func render(messages: JinjaValue, addGenerationPrompt: Bool, tools: JinjaValue? = nil,
                       specialTokens: [String: String] = [:], extra: [String: JinjaValue] = [:],
                       now: JinjaDateTime? = nil) throws -> String {
        var vars: [String: JinjaValue] = [:]
        for (k, v) in specialTokens { vars[k] = .string(v) }
        vars["messages"] = messages
        vars["add_generation_prompt"] = .bool(addGenerationPrompt)
        if let tools { vars["tools"] = tools }
        for (k, v) in extra { vars[k] = v }
        return try template.render(vars, now: now)
    }
}

/// The chat templates a model carries, by name ("default" for the unnamed one), and its
/// special tokens' texts, as HF passes them to the template.
public struct ModelChatTemplates: Sendable {
    public var templates: [String: String]
    public var specialTokens: [String: String]
    /// The file or folder they came from, for messages.
    public var path: String
    /// Chat-format tokens the vocabulary has (`<|start_header_id|>`, `<|eot_id|>`,
    /// `<|im_start|>`), read only when the model has no template: they pick the fallback.
    public var vocabularyHint: [String]
    /// A SentencePiece Llama vocabulary (Llama 2's `[INST]` format is the fallback).
    public var sentencePieceLlama: Bool

    static let hintTokens = ["<|start_header_id|>", "<|eot_id|>", "<|im_start|>"]

    public init(templates: [String: String], specialTokens: [String: String], path: String,
                vocabularyHint: [String] = [], sentencePieceLlama: Bool = false) {
        self.templates = templates
        self.specialTokens = specialTokens
        self.path = path
        self.vocabularyHint = vocabularyHint
        self.sentencePieceLlama = sentencePieceLlama
    }

    /// Reads a GGUF file (`tokenizer.chat_template`, named `tokenizer.chat_template.NAME`,
    /// token texts from `tokenizer.ggml.tokens`) or an HF folder (`chat_template.jinja`,
    /// `additional_chat_templates/NAME.jinja`, `tokenizer_config.json`'s `chat_template` as a
    /// string or a list of `{name, template}`, and its `bos_token`/`eos_token`/… fields).
    public static func load(model path: String) throws -> ModelChatTemplates {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ChatTemplateError.unreadable(path: path, reason: "no such file or directory")
        }
        if isDirectory.boolValue { return try fromHuggingFace(directory: path) }
        return try fromGGUF(GGUFFile(path: path))
    }

    public static func fromGGUF(_ file: GGUFFile) throws -> ModelChatTemplates {
        var templates: [String: String] = [:]
        let prefix = "tokenizer.chat_template"
        for (key, value) in file.metadata where key == prefix || key.hasPrefix(prefix + ".") {
            guard let s = value.string else { throw ChatTemplateError.badField(path: file.path, field: key, expected: "a string") }
            templates[key == prefix ? "default" : String(key.dropFirst(prefix.count + 1))] = s
        }
        var special: [String: String] = [:]
        if let tokens = file.metadata["tokenizer.ggml.tokens"]?.array {
            for (field, name) in [("bos_token_id", "bos_token"), ("eos_token_id", "eos_token"),
                                  ("unknown_token_id", "unk_token"), ("padding_token_id", "pad_token")] {
                if let id = file.metadata["tokenizer.ggml." + field]?.int, id >= 0, id < tokens.count, let text = tokens[id].string {
                    special[name] = text
                }
            }
        }
        var hint: [String] = []
        if templates.isEmpty, let tokens = file.metadata["tokenizer.ggml.tokens"]?.array {
            let wanted = Set(hintTokens)
            hint = tokens.compactMap { $0.string }.filter { wanted.contains($0) }
        }
        return ModelChatTemplates(templates: templates, specialTokens: special, path: file.path, vocabularyHint: hint,
                                  sentencePieceLlama: file.metadata["tokenizer.ggml.model"]?.string == "llama")
    }

    public static func fromHuggingFace(directory: String) throws -> ModelChatTemplates {
        let dir = URL(fileURLWithPath: directory)
        var templates: [String: String] = [:]
        var special: [String: String] = [:]
        let configPath = dir.appendingPathComponent("tokenizer_config.json").path
        if FileManager.default.fileExists(atPath: configPath) {
            let text = try readText(configPath)
            let config: JinjaValue
            do { config = try JinjaValue.parseJSON(text) } catch {
                throw ChatTemplateError.unreadable(path: configPath, reason: "\(error)")
            }
            guard case let .dict(d) = config else { throw ChatTemplateError.badField(path: configPath, field: "top level", expected: "an object") }
            switch d["chat_template"] {
            case nil, .none?: break
            case let .string(s)?: templates["default"] = s
            case let .list(items)?:
                for item in items {
                    guard case let .dict(entry) = item, case let .string(name)? = entry["name"], case let .string(t)? = entry["template"] else {
                        throw ChatTemplateError.badField(path: configPath, field: "chat_template", expected: "a string or a list of {\"name\", \"template\"}")
                    }
                    templates[name] = t
                }
            default:
                throw ChatTemplateError.badField(path: configPath, field: "chat_template", expected: "a string or a list of {\"name\", \"template\"}")
            }
            for name in ["bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"] {
                switch d[name] {
                case let .string(s)?: special[name] = s
                case let .dict(t)?:
                    // An AddedToken written out: its text is "content".
                    if case let .string(s)? = t["content"] { special[name] = s }
                default: break
                }
            }
        }
        // transformers prefers the separate files over the config's field.
        let jinjaPath = dir.appendingPathComponent("chat_template.jinja").path
        if FileManager.default.fileExists(atPath: jinjaPath) { templates["default"] = try readText(jinjaPath) }
        let extraDir = dir.appendingPathComponent("additional_chat_templates")
        if let names = try? FileManager.default.contentsOfDirectory(atPath: extraDir.path) {
            for f in names.sorted() where f.hasSuffix(".jinja") {
                templates[String(f.dropLast(6))] = try readText(extraDir.appendingPathComponent(f).path)
            }
        }
        var hint: [String] = []
        var sentencePiece = false
        if templates.isEmpty {
            // Which chat tokens the vocabulary has, from tokenizer.json's added tokens.
            let tokenizerPath = dir.appendingPathComponent("tokenizer.json").path
            if FileManager.default.fileExists(atPath: tokenizerPath),
               case let .dict(tokenizer)? = try? JinjaValue.parseJSON(try readText(tokenizerPath)) {
                if case let .list(added)? = tokenizer["added_tokens"] {
                    for case let .dict(token) in added {
                        if case let .string(s)? = token["content"], hintTokens.contains(s) { hint.append(s) }
                    }
                }
                if case let .dict(model)? = tokenizer["model"], case .bool(true)? = model["byte_fallback"] { sentencePiece = true }
            }
        }
        return ModelChatTemplates(templates: templates, specialTokens: special, path: directory,
                                  vocabularyHint: hint, sentencePieceLlama: sentencePiece)
    }

    /// HF's choice: the template named `name`; else "tool_use" when tools are given and
    /// the model has one; else "default".
    public func select(name: String? = nil, hasTools: Bool = false) throws -> String {
        if templates.isEmpty { throw ChatTemplateError.noTemplate(path: path) }
        if let name {
            guard let t = templates[name] else { throw ChatTemplateError.unknownName(path: path, name: name, available: Array(templates.keys)) }
            return t
        }
        if hasTools, let t = templates["tool_use"] { return t }
        if let t = templates["default"] { return t }
        throw ChatTemplateError.noDefault(path: path, available: Array(templates.keys))
    }

    private static func readText(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ChatTemplateError.unreadable(path: path, reason: "cannot read the file")
        }
        guard let s = String(data: data, encoding: .utf8) else {
            throw ChatTemplateError.unreadable(path: path, reason: "not valid UTF-8")
        }
        return s
    }
}
