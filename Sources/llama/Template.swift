import ArgumentParser
import Foundation
import Llama

struct Template: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render a chat template over a conversation and print the prompt, byte for byte.",
        discussion: """
        The output is what HF transformers' apply_chat_template(..., tokenize=False) gives with \
        Python's jinja2: nothing is added, not even a final newline. A template error exits 1 \
        with jinja2's message and the template line. A model without a chat template gets a \
        built-in format matching its vocabulary (Llama 3, Llama 2 [INST] or ChatML), with a \
        note on stderr.

        Messages are OpenAI-style: a JSON list of {"role", "content"} objects (optionally \
        "tool_calls" with "function": {"name", "arguments"}, "tool_call_id", "name"), or an \
        object with that list under "messages".

        Examples:
          llama template --model model.gguf --messages chat.json --add-generation-prompt
          llama template --template chat.jinja --messages chat.json --tools tools.json \\
              --bos-token '<s>' --now 2026-12-01T09:30:00 --var enable_thinking=false
        """)

    @Option(name: .long, help: ArgumentHelp("A Jinja template file to render.", valueName: "file"))
    var template: String?

    @Option(name: .long, help: ArgumentHelp("A model whose own chat template to render: a GGUF file (tokenizer.chat_template) or a Hugging Face folder (chat_template.jinja or tokenizer_config.json). Its bos/eos/unk/pad token texts are passed to the template.", valueName: "path"))
    var model: String?

    @Option(name: .long, help: ArgumentHelp("With --model: which of the model's named templates to use (as GGUF tokenizer.chat_template.NAME or HF's named templates); by default 'tool_use' when --tools is given and the model has one, else the default template.", valueName: "name"))
    var templateName: String?

    @Option(name: .long, help: ArgumentHelp("The conversation: a JSON file with a list of messages.", valueName: "file"))
    var messages: String

    @Option(name: .long, help: ArgumentHelp("A JSON file with a list of tool schemas, passed as the `tools` variable (undefined without it).", valueName: "file"))
    var tools: String?

    @Flag(name: .long, help: "Set add_generation_prompt: end the prompt with the opening of the assistant's turn.")
    var addGenerationPrompt = false

    @Option(name: .long, help: ArgumentHelp("The local time strftime_now() sees, as YYYY-MM-DDTHH:MM:SS (default: now).", valueName: "time"))
    var now: String?

    @Option(name: .customLong("var"), help: ArgumentHelp("Set another variable the template reads, as NAME=JSON (e.g. enable_thinking=false, date_string='\"26 Jul 2024\"'). A value that is not valid JSON is taken as a plain string. Repeatable.", valueName: "name=json"))
    var variables: [String] = []

    @Option(name: .long, help: ArgumentHelp("The bos_token text (overrides the model's).", valueName: "text"))
    var bosToken: String?

    @Option(name: .long, help: ArgumentHelp("The eos_token text (overrides the model's).", valueName: "text"))
    var eosToken: String?

    func validate() throws {
        guard (template == nil) != (model == nil) else { throw ValidationError("give exactly one of --template FILE and --model PATH") }
        if templateName != nil && model == nil { throw ValidationError("--template-name picks among a model's templates; it needs --model") }
        if let now, JinjaDateTime(iso: now) == nil {
            throw ValidationError("--now '\(now)' is not a time of the form 2026-12-01T09:30:00")
        }
        for v in variables where !v.contains("=") {
            throw ValidationError("--var '\(v)' should be NAME=JSON")
        }
    }

    func run() throws {
        let toolsValue = try tools.map { try readJSON($0, what: "--tools") }
        var source: String
        var special: [String: String] = [:]
        if let model {
            let found = try ModelChatTemplates.load(model: model)
            let chosen = try found.selectOrFallback(name: templateName, hasTools: toolsValue != nil)
            if let fallback = chosen.fallback {
                FileHandle.standardError.write(Data("note: \(model) has no chat template; using the built-in \(fallback.displayName) format\n".utf8))
            }
            source = chosen.source
            special = found.specialTokens
        } else {
            source = try readText(template ?? "", what: "--template")
        }
        if let bosToken { special["bos_token"] = bosToken }
        if let eosToken { special["eos_token"] = eosToken }

        var conversation = try readJSON(messages, what: "--messages")
        if case let .dict(d) = conversation, let m = d["messages"] { conversation = m }
        guard case .list = conversation else {
            throw CLIError("\(messages): expected a JSON list of messages (or an object with \"messages\")")
        }
        var extra: [String: JinjaValue] = [:]
        for v in variables {
            guard let eq = v.firstIndex(of: "=") else { throw CLIError("--var '\(v)' should be NAME=JSON") }
            let name = String(v[..<eq]), text = String(v[v.index(after: eq)...])
            extra[name] = (try? JinjaValue.parseJSON(text)) ?? .string(text)
        }
        let chat = try ChatTemplate(source: source)
        let text = try chat.render(messages: conversation, addGenerationPrompt: addGenerationPrompt, tools: toolsValue,
                                   specialTokens: special, extra: extra, now: now.flatMap(JinjaDateTime.init(iso:)))
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    private func readText(_ path: String, what: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIError("\(what) \(path): cannot read the file") }
        guard let s = String(data: data, encoding: .utf8) else { throw CLIError("\(what) \(path): not valid UTF-8") }
        return s
    }

    private func readJSON(_ path: String, what: String) throws -> JinjaValue {
        do { return try JinjaValue.parseJSON(try readText(path, what: what)) } catch let e as JSONSyntaxError {
            throw CLIError("\(what) \(path): \(e)")
        }
    }
}
