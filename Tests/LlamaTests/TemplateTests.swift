import Foundation
import Testing
import Llama

/// The Jinja engine and chat templates against Python's jinja2 3.1.6, set up as HF
/// transformers' `apply_chat_template` sets it up.
@Suite struct TemplateTests {
    struct Reference {
        let now: JinjaDateTime
        let context: [String: String]
        let conversations: [String: [String: JinjaValue]]
        let templates: [(name: String, cases: [(conversation: String, text: String?, error: String?)])]
    }

    static func dict(_ v: JinjaValue?) -> [String: JinjaValue]? {
        guard case let .dict(d)? = v else { return nil }
        var out: [String: JinjaValue] = [:]
        for (k, v) in zip(d.keys, d.values) { if case let .string(s) = k { out[s] = v } }
        return out
    }

    static func isTrue(_ v: JinjaValue?) -> Bool {
        if case .bool(true)? = v { return true }
        return false
    }

    static func string(_ v: JinjaValue?) -> String? {
        if case let .string(s)? = v { return s }
        return nil
    }

    /// `../shared/templates/refs.json`: 24 real templates × 5 conversations, rendered by jinja2.
    static func loadReference() throws -> Reference {
        let path = try Fixtures.shared("templates/refs.json")
        let root = try #require(dict(try JinjaValue.parseJSON(String(contentsOfFile: path, encoding: .utf8))))
        let now = try #require(string(root["now"]).flatMap(JinjaDateTime.init(iso:)))
        let context = try #require(dict(root["context"])).compactMapValues { string($0) }
        let conversations = try #require(dict(root["conversations"])).compactMapValues { dict($0) }
        var templates: [(String, [(String, String?, String?)])] = []
        for (name, cases) in try #require(dict(root["templates"])).sorted(by: { $0.key < $1.key }) {
            let c = try #require(dict(cases)).sorted { $0.key < $1.key }.map { conv, result in
                (conv, string(dict(result)?["text"]), string(dict(result)?["error"]))
            }
            templates.append((name, c))
        }
        return Reference(now: now, context: context, conversations: conversations, templates: templates)
    }

    @Test func realTemplatesRenderAsJinja2Does() throws {
        let ref = try Self.loadReference()
        #expect(ref.templates.count == 24)
        var passed = 0, total = 0
        for (name, cases) in ref.templates {
            let source = try String(contentsOfFile: try Fixtures.shared("templates/" + name), encoding: .utf8)
            let template = try ChatTemplate(source: source)
            for (conversation, text, error) in cases {
                total += 1
                let conv = try #require(ref.conversations[conversation])
                var special = ref.context
                // bos/eos as the model's special tokens; pad/unk as extra variables, as the CLI's --var.
                let extra: [String: JinjaValue] = ["pad_token": .string(special.removeValue(forKey: "pad_token") ?? ""),
                                                   "unk_token": .string(special.removeValue(forKey: "unk_token") ?? "")]
                do {
                    let got = try template.render(messages: try #require(conv["messages"]),
                                                  addGenerationPrompt: TemplateTests.isTrue(conv["add_generation_prompt"]),
                                                  tools: conv["tools"], specialTokens: special, extra: extra, now: ref.now)
                    if let text {
                        #expect(got == text, "\(name) / \(conversation)")
                        if got == text { passed += 1 }
                    } else {
                        Issue.record("\(name) / \(conversation): jinja2 raised \(error ?? "?"), we rendered")
                    }
                } catch let e as JinjaError {
                    if let error {
                        #expect(e.pythonText == error, "\(name) / \(conversation)")
                        passed += 1
                    } else {
                        Issue.record("\(name) / \(conversation): \(e)")
                    }
                }
            }
        }
        #expect(total == 120)
        #expect(passed == total)
    }

    // MARK: Engine features, each against jinja2's own output

    struct EngineCase: CustomTestStringConvertible {
        let name: String
        let template: String
        let variables: [String: JinjaValue]
        let text: String?
        let errorType: String?
        let errorMessage: String?
        let errorLine: Int?
        var testDescription: String { name }
    }

    /// `Fixtures/jinja/cases.json`, recorded from jinja2 3.1.6 by `scripts/make_jinja_cases.py`.
    static func engineCases() throws -> (JinjaDateTime, [EngineCase]) {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/jinja/cases.json").path
        let root = try #require(dict(try JinjaValue.parseJSON(String(contentsOfFile: path, encoding: .utf8))))
        let now = try #require(string(root["now"]).flatMap(JinjaDateTime.init(iso:)))
        guard case let .list(items)? = root["cases"] else { throw Fixtures.Missing(path: path + " (cases)") }
        let variables = dict(root["vars"]) ?? [:]
        let cases = try items.map { item -> EngineCase in
            let c = try #require(dict(item))
            let err = dict(c["error"])
            var line: Int? = nil
            if case let .int(l)? = err?["line"] { line = l }
            return EngineCase(name: try #require(string(c["name"])), template: try #require(string(c["template"])),
                              variables: variables, text: string(c["text"]),
                              errorType: string(err?["type"]), errorMessage: string(err?["message"]), errorLine: line)
        }
        return (now, cases)
    }

    @Test func engineFeaturesMatchJinja2() throws {
        let (now, cases) = try Self.engineCases()
        #expect(cases.count > 80)
        for c in cases where c.text != nil {
            do {
                let got = try JinjaTemplate(c.template).render(c.variables, now: now)
                #expect(got == c.text, "\(c.name)")
            } catch {
                Issue.record("\(c.name): \(error)")
            }
        }
    }

    @Test func errorsNameWhatJinja2NamesAndWhere() throws {
        let (now, cases) = try Self.engineCases()
        for c in cases where c.errorType != nil {
            do {
                let out = try JinjaTemplate(c.template).render(c.variables, now: now)
                Issue.record("\(c.name): rendered \(out.debugDescription), jinja2 raised \(c.errorType ?? "")")
            } catch let e as JinjaError {
                switch e {
                case let .syntax(message, line, column):
                    #expect(c.errorType == "TemplateSyntaxError", "\(c.name): \(e)")
                    #expect(line == c.errorLine, "\(c.name): \(e)")
                    #expect(column >= 1 && !message.isEmpty)
                    #expect(e.description.contains("line \(line)"))
                case let .assertion(message, line):
                    #expect(c.errorType == "TemplateAssertionError", "\(c.name): \(e)")
                    #expect(line == c.errorLine && message == c.errorMessage, "\(c.name): \(e)")
                case let .runtime(kind, message, _):
                    #expect(kind == c.errorType, "\(c.name): \(e)")
                    #expect(message == c.errorMessage, "\(c.name): \(e)")
                }
            }
        }
    }
}

/// Templates read from model files (GGUF metadata, HF folders) and the `llama template`
/// command, against jinja2 3.1.6's renderings (`Fixtures/jinja/model-template-refs.json`,
/// made by `scripts/make_model_template_refs.py` from the shared vocabulary GGUFs and HF folders).
@Suite struct ModelTemplateTests {
    static func modelPath(_ name: String) throws -> String {
        try Fixtures.shared(name.hasSuffix(".gguf") ? "vocab/" + name : "tokenizers/hf/" + name)
    }

    static func load() throws -> (files: [(String, [String: String], [String: [String: JinjaValue]])], conversations: [String: [String: JinjaValue]], now: JinjaDateTime) {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/jinja/model-template-refs.json").path
        let root = try #require(TemplateTests.dict(try JinjaValue.parseJSON(String(contentsOfFile: path, encoding: .utf8))))
        var files: [(String, [String: String], [String: [String: JinjaValue]])] = []
        for (name, entry) in try #require(TemplateTests.dict(root["files"])).sorted(by: { $0.key < $1.key }) {
            let e = try #require(TemplateTests.dict(entry))
            let special = try #require(TemplateTests.dict(e["special"])).compactMapValues { TemplateTests.string($0) }
            let templates = try #require(TemplateTests.dict(e["templates"])).compactMapValues { TemplateTests.dict($0) }
            files.append((name, special, templates))
        }
        let ref = try TemplateTests.loadReference()
        return (files, ref.conversations, ref.now)
    }

    @Test func templatesAndSpecialTokensComeFromTheModelFile() throws {
        let (files, conversations, now) = try Self.load()
        #expect(files.count == 8)
        for (name, special, templates) in files {
            let found = try ModelChatTemplates.load(model: try Self.modelPath(name))
            #expect(Set(found.templates.keys) == Set(templates.keys), "\(name)")
            for (k, v) in special { #expect(found.specialTokens[k] == v, "\(name) \(k)") }
            if templates.isEmpty {
                #expect(throws: ChatTemplateError.self) { try found.select() }
            }
            for (templateName, cases) in templates {
                let chat = try ChatTemplate(source: try found.select(name: templateName))
                for (conversation, result) in cases {
                    let conv = try #require(conversations[conversation])
                    let expected = TemplateTests.dict(result)
                    do {
                        let got = try chat.render(messages: try #require(conv["messages"]),
                                                  addGenerationPrompt: TemplateTests.isTrue(conv["add_generation_prompt"]),
                                                  tools: conv["tools"], specialTokens: found.specialTokens, now: now)
                        #expect(got == TemplateTests.string(expected?["text"]), "\(name) \(templateName) \(conversation)")
                    } catch let e as JinjaError {
                        #expect(e.pythonText == TemplateTests.string(expected?["error"]), "\(name) \(templateName) \(conversation)")
                    }
                }
            }
        }
    }

    @Test func namedTemplateChoiceFollowsTransformers() throws {
        let found = try ModelChatTemplates.load(model: try Self.modelPath("ggml-vocab-command-r.gguf"))
        #expect(try found.select() == found.templates["default"])
        #expect(try found.select(hasTools: true) == found.templates["tool_use"])
        #expect(try found.select(name: "rag") == found.templates["rag"])
        #expect(throws: ChatTemplateError.self) { try found.select(name: "nope") }
        let onlyNamed = ModelChatTemplates(templates: ["a": "x", "b": "y"], specialTokens: [:], path: "m")
        #expect(throws: ChatTemplateError.self) { try onlyNamed.select() }
    }

    @Test func templateCommandPrintsExactlyTheRendering() throws {
        let (files, conversations, now) = try Self.load()
        _ = now
        let dir = NSTemporaryDirectory() + "llama-template-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tools = try #require(conversations["tools"])
        try (try #require(tools["messages"])).jsonText().write(toFile: dir + "/messages.json", atomically: true, encoding: .utf8)
        try (try #require(tools["tools"])).jsonText().write(toFile: dir + "/tools.json", atomically: true, encoding: .utf8)
        let run = { (args: [String]) throws -> (status: Int32, out: String, err: String) in
            try GenerateCommandTests().run(["template"] + args + ["--messages", dir + "/messages.json", "--now", "2026-12-01T09:30:00"])
        }
        // A GGUF's own template (tool_use chosen because tools are given) and an HF folder's.
        let commandR = try #require(files.first { $0.0 == "ggml-vocab-command-r.gguf" })
        let rag = try #require(TemplateTests.dict(commandR.2["rag"]?["tools"]))
        let r1 = try run(["--model", try Self.modelPath("ggml-vocab-command-r.gguf"), "--template-name", "rag",
                          "--tools", dir + "/tools.json", "--add-generation-prompt"])
        #expect(r1.status == 0, "\(r1.err)")
        #expect(r1.out == TemplateStrings.expect(TemplateTests.string(rag["text"])))
        let qwen = try #require(files.first { $0.0 == "qwen2" })
        let q = try #require(TemplateTests.dict(qwen.2["default"]?["tools"]))
        let r2 = try run(["--model", try Self.modelPath("qwen2"), "--tools", dir + "/tools.json", "--add-generation-prompt"])
        #expect(r2.status == 0, "\(r2.err)")
        #expect(r2.out == TemplateStrings.expect(TemplateTests.string(q["text"])))
        // Where jinja2 raised, the command exits 1 with jinja2's text.
        let toolUse = try #require(TemplateTests.dict(commandR.2["tool_use"]?["tools"]))
        let failing = try run(["--model", try Self.modelPath("ggml-vocab-command-r.gguf"), "--tools", dir + "/tools.json", "--add-generation-prompt"])
        #expect(failing.status == 1)
        #expect(failing.out.isEmpty)
        #expect(failing.err.contains(try #require(TemplateTests.string(toolUse["error"]))), "\(failing.err)")
        // A template file, variables and special tokens from flags.
        try "{{ bos_token }}{{ messages[0].content }}|{{ strftime_now('%d %b %Y') }}|{{ enable_thinking }}|{{ date_string }}{{ eos_token }}"
            .write(toFile: dir + "/t.jinja", atomically: true, encoding: .utf8)
        let r3 = try run(["--template", dir + "/t.jinja", "--bos-token", "<s>", "--eos-token", "</s>",
                          "--var", "enable_thinking=false", "--var", "date_string=\"26 Jul 2024\""])
        #expect(r3.status == 0, "\(r3.err)")
        #expect(r3.out == "<s>You can call tools.|01 Dec 2026|False|26 Jul 2024</s>")
        // A syntax error names the line.
        try "ok\n{% if %}".write(toFile: dir + "/bad.jinja", atomically: true, encoding: .utf8)
        let r4 = try run(["--template", dir + "/bad.jinja"])
        #expect(r4.status == 1)
        #expect(r4.err.contains("TemplateSyntaxError") && r4.err.contains("line 2"), "\(r4.err)")
    }
}

enum TemplateStrings {
    static func expect(_ s: String?) -> String { s ?? "<missing reference>" }
}

/// Models without a chat template get a built-in format chosen from their vocabulary.
@Suite struct BuiltinChatTemplateTests {
    static func conversation() throws -> JinjaValue {
        try JinjaValue.parseJSON("""
        [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hi"},
         {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}]
        """)
    }

    @Test(arguments: [
        ("tokenizers/hf/llama-bpe", BuiltinChatTemplate.llama3),
        ("fixtures/dev-llama3/model.gguf", .llama3),
        ("fixtures/dev-odd/model-f16.gguf", .llama2),
        ("vocab/ggml-vocab-gpt-2.gguf", .chatml),
    ])
    func fallbackFollowsTheVocabulary(_ model: String, _ expected: BuiltinChatTemplate) throws {
        let found = try ModelChatTemplates.load(model: try Fixtures.shared(model))
        #expect(found.templates.isEmpty)
        let chosen = try found.selectOrFallback()
        #expect(chosen.fallback == expected)
        #expect(chosen.source == expected.source)
        // A model's own template always wins over the fallback.
        let own = try ModelChatTemplates.load(model: try Fixtures.shared("vocab/ggml-vocab-qwen2.gguf")).selectOrFallback()
        #expect(own.fallback == nil)
    }

    /// The layouts of Meta's Llama 3 and Llama 2 chat formats and of ChatML; the Llama 2 text
    /// is what HF's legacy LlamaTokenizer default template gives for this conversation.
    @Test func builtinFormatsRenderTheirLayouts() throws {
        let messages = try Self.conversation()
        let tokens = ["bos_token": "<s>", "eos_token": "</s>"]
        func render(_ t: BuiltinChatTemplate, _ tokens: [String: String]) throws -> String {
            try ChatTemplate(source: t.source).render(messages: messages, addGenerationPrompt: true, specialTokens: tokens)
        }
        #expect(try render(.llama3, ["bos_token": "<|begin_of_text|>"]) == "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe kind.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nBye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
        #expect(try render(.llama2, tokens) == "<s>[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Bye [/INST]")
        #expect(try render(.chatml, tokens) == "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\n")
    }

    @Test func endOfTurnMarkersComeFromTheTemplate() throws {
        let llama31 = try ChatTemplate(source: String(contentsOfFile: try Fixtures.shared("templates/meta-llama-Llama-3.1-8B-Instruct.jinja"), encoding: .utf8))
        #expect(llama31.endOfTurnMarkers.first == "<|eot_id|>")
        let qwen = try ChatTemplate(source: String(contentsOfFile: try Fixtures.shared("templates/Qwen-Qwen2.5-7B-Instruct.jinja"), encoding: .utf8))
        #expect(qwen.endOfTurnMarkers.first == "<|im_end|>")
        let gemma = try ChatTemplate(source: String(contentsOfFile: try Fixtures.shared("templates/google-gemma-2-2b-it.jinja"), encoding: .utf8))
        #expect(gemma.endOfTurnMarkers.first == "<end_of_turn>")
    }
}

/// Python's own compile errors that jinja2 passes on: `break`/`continue` outside a loop of the
/// same macro (jinja2 3.1.6 raises SyntaxError "'break' outside loop" when it compiles these).
@Suite struct LoopControlPlacementTests {
    @Test(arguments: [
        ("a\n{% break %}", "'break' outside loop", 2),
        ("{% for x in [1] %}{% macro m() %}\n\n{% continue %}{% endmacro %}{% endfor %}", "'continue' not properly in loop", 3),
        ("{% for x in [1] %}{% else %}{% break %}{% endfor %}", "'break' outside loop", 1),
    ])
    func breakAndContinueNeedAnEnclosingLoop(_ source: String, _ message: String, _ line: Int) throws {
        #expect(throws: JinjaError.syntax(message: message, line: line, column: 1)) { try JinjaTemplate(source) }
        #expect(throws: Never.self) { try JinjaTemplate("{% for x in [1] %}{% if x %}{% break %}{% endif %}{% endfor %}") }
    }
}
