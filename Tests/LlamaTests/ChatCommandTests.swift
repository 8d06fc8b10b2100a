import Foundation
import Testing
import Llama

/// `llama chat` through a pipe, on the shipped model (a base model: it has no chat template,
/// so chat uses the built-in ChatML format). The replies must be exactly what `llama generate
/// --temperature 0 --ids` gives on the ids of the prompt `llama template` renders for the same
/// conversation, and the second turn must reuse the first turn's cache.
@Suite struct ChatCommandTests {
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let model = repo.appendingPathComponent("models/shakespeare.gguf").path

    /// Runs the command with `input` on stdin.
    func run(_ arguments: [String], input: String) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try GenerateCommandTests.executable())
        p.arguments = arguments
        let inPipe = Pipe(), out = Pipe(), err = Pipe()
        p.standardInput = inPipe
        p.standardOutput = out
        p.standardError = err
        try p.run()
        inPipe.fileHandleForWriting.write(Data(input.utf8))
        try inPipe.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    @Test func twoTurnsMatchGenerateOnTheRenderedPromptAndReuseTheCache() throws {
        let dir = NSTemporaryDirectory() + "llama-chat-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let saved = dir + "/saved.json"
        let chat = try run(["chat", "--model", Self.model, "--temperature", "0", "--max-tokens", "12", "--verbose"],
                           input: "ROMEO:\nWhat say you?\n/save \(saved)\n")
        #expect(chat.status == 0, "\(chat.err)")
        #expect(chat.err.contains("built-in ChatML"))
        guard case let .list(messages) = try JinjaValue.parseJSON(String(contentsOfFile: saved, encoding: .utf8)) else {
            Issue.record("no saved messages"); return
        }
        try #require(messages.count == 4)

        // Each reply equals generate's on the rendered prompt of the conversation before it.
        for turn in [1, 3] {
            let before = JinjaValue.list(Array(messages[0..<turn]))
            try before.jsonText().write(toFile: dir + "/m.json", atomically: true, encoding: .utf8)
            let prompt = try GenerateCommandTests().run(["template", "--model", Self.model, "--messages", dir + "/m.json", "--add-generation-prompt"])
            #expect(prompt.status == 0, "\(prompt.err)")
            try prompt.out.write(toFile: dir + "/prompt.txt", atomically: true, encoding: .utf8)
            let ids = try GenerateCommandTests().run(["tokenize", "--tokenizer", Self.model, "--special", "--no-bos", "--file", dir + "/prompt.txt"])
            #expect(ids.status == 0, "\(ids.err)")
            let generated = try GenerateCommandTests().run(["generate", "--model", Self.model, "--ids", ids.out.trimmingCharacters(in: .whitespacesAndNewlines),
                                                            "--temperature", "0", "--max-tokens", "12"])
            #expect(generated.status == 0, "\(generated.err)")
            guard case let .dict(reply) = messages[turn], case let .string(text)? = reply["content"] else {
                Issue.record("message \(turn) has no content"); continue
            }
            #expect(generated.out == text + "\n", "turn \(turn)")
        }
        // The second turn evaluated only what the first did not leave in the cache.
        let stats = chat.err.split(separator: "\n").filter { $0.hasPrefix("prompt:") }
        try #require(stats.count == 2)
        #expect(stats[0].contains("(0 reused"))
        let reused = stats[1].split(separator: "(").dropFirst().first.flatMap { Int($0.split(separator: " ")[0]) } ?? 0
        #expect(reused > 30, "\(stats[1])")
    }

    @Test func commandsAndContextOverflow() throws {
        let dir = NSTemporaryDirectory() + "llama-chat-cmd-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let saved = dir + "/saved.json"
        // A small context: the third turn no longer fits and the oldest turns are dropped.
        let r = try run(["chat", "--model", Self.model, "--temperature", "0", "--max-tokens", "8", "--context", "72",
                         "--system", "Speak."],
                        input: "/help\nOne\nTwo\nThree\n/save \(saved)\n/reset\n/bogus\n/exit\nnot read\n")
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.contains("/reset") && r.err.contains("unknown command /bogus"))
        #expect(r.err.contains("dropped"), "\(r.err)")
        guard case let .list(messages) = try JinjaValue.parseJSON(String(contentsOfFile: saved, encoding: .utf8)) else {
            Issue.record("no saved messages"); return
        }
        // The system prompt stays first; the last user turn and its reply are kept.
        guard case let .dict(first) = messages.first, case let .dict(secondLast) = messages[messages.count - 2] else {
            Issue.record("unexpected messages"); return
        }
        #expect(try first["content"]?.jsonText() == "\"Speak.\"")
        #expect(try secondLast["content"]?.jsonText() == "\"Three\"")
        #expect(messages.count < 7)
    }

    @Test func ctrlCStopsTheReplyNotTheProgram() throws {
        let dir = NSTemporaryDirectory() + "llama-chat-int-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let saved = dir + "/saved.json"
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try GenerateCommandTests.executable())
        p.arguments = ["chat", "--model", Self.model, "--temperature", "0", "--max-tokens", "2000", "--context", "2048"]
        let inPipe = Pipe(), out = Pipe(), err = Pipe()
        p.standardInput = inPipe
        p.standardOutput = out
        p.standardError = err
        try p.run()
        inPipe.fileHandleForWriting.write(Data("KING:\n".utf8))
        // Wait for the reply to start, then press Ctrl-C.
        var first = Data()
        while first.isEmpty && p.isRunning { first = out.fileHandleForReading.availableData }
        try #require(!first.isEmpty, "chat printed nothing before exiting")
        p.interrupt()
        inPipe.fileHandleForWriting.write(Data("/save \(saved)\n/exit\n".utf8))
        try inPipe.fileHandleForWriting.close()
        _ = out.fileHandleForReading.readDataToEndOfFile()
        _ = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        #expect(p.terminationStatus == 0)
        guard case let .list(messages) = try JinjaValue.parseJSON(String(contentsOfFile: saved, encoding: .utf8)),
              messages.count == 2, case let .dict(reply) = messages[1], case let .string(text)? = reply["content"] else {
            Issue.record("the conversation was not saved after Ctrl-C"); return
        }
        // Stopped early: far fewer than the 2000 tokens allowed (about 4 characters each).
        #expect(text.count < 2000)
    }
}
