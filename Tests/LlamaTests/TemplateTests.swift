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
                                                  addGenerationPrompt: conv["add_generation_prompt"].map { if case .bool(true) = $0 { true } else { false } } ?? false,
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
        let cases = try items.map { item -> EngineCase in
            let c = try #require(dict(item))
            let err = dict(c["error"])
            var line: Int? = nil
            if case let .int(l)? = err?["line"] { line = l }
            return EngineCase(name: try #require(string(c["name"])), template: try #require(string(c["template"])),
                              variables: dict(c["vars"]) ?? [:], text: string(c["text"]),
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
                case let .runtime(kind, message, _):
                    #expect(kind == c.errorType, "\(c.name): \(e)")
                    #expect(message == c.errorMessage, "\(c.name): \(e)")
                }
            }
        }
    }
}
