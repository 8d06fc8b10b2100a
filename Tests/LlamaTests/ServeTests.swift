import Foundation
import Testing

/// `llama serve` end to end: the real server binary on a free loopback port, driven by the
/// real `openai` Python package (Tests/ServeClient/openai_client.py) from the venv that
/// scripts/test.sh makes.
@Suite(.serialized) struct ServeTests {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The venv's python: `$SWIFTLLAMA_VENV/bin/python`, or the default venv's.
    static func python() throws -> String {
        let env = ProcessInfo.processInfo.environment
        let venv = env["SWIFTLLAMA_VENV"] ?? (NSHomeDirectory() + "/.cache/swiftllama/venv")
        let p = venv + "/bin/python"
        guard FileManager.default.isExecutableFile(atPath: p) else {
            throw Failure(description: "\(p) not found: the serve tests need the venv with the openai package; run scripts/test.sh (it makes the venv and runs the tests)")
        }
        return p
    }

    static let clientScript: String = {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return repo.appendingPathComponent("Tests/ServeClient/openai_client.py").path
    }()

    /// A running `llama serve --port 0`; `stop()` sends SIGTERM and returns the exit status.
    final class Server {
        let process = Process()
        let base: String
        let errPath: String
        private var stopped = false

        init(_ arguments: [String]) throws {
            process.executableURL = URL(fileURLWithPath: try GenerateCommandTests.executable())
            process.arguments = ["serve", "--port", "0"] + arguments
            let out = Pipe()
            errPath = NSTemporaryDirectory() + "llama-serve-\(UUID().uuidString).log"
            FileManager.default.createFile(atPath: errPath, contents: nil)
            process.standardOutput = out
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
            try process.run()
            // The first stdout line says where it listens.
            var line = Data()
            let reader = out.fileHandleForReading
            while true {
                let byte = reader.readData(ofLength: 1)
                if byte.isEmpty || byte == Data("\n".utf8) { break }
                line += byte
            }
            let text = String(decoding: line, as: UTF8.self)
            guard let r = text.range(of: "http://") else {
                process.terminate()
                throw Failure(description: "llama serve did not start: stdout \"\(text)\", stderr: \((try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "")")
            }
            base = String(text[r.lowerBound...].prefix { $0 != " " })
        }

        var log: String { (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? "" }

        func stop() -> Int32 {
            if !stopped {
                stopped = true
                kill(process.processIdentifier, SIGTERM)
                process.waitUntilExit()
            }
            return process.terminationStatus
        }

        deinit {
            if process.isRunning { process.terminate(); process.waitUntilExit() }
            try? FileManager.default.removeItem(atPath: errPath)
        }
    }

    /// Runs the client script in `mode` with JSON arguments; returns its JSON output.
    func client(_ server: Server, _ mode: String, _ arguments: Any = [String: Any]()) throws -> [String: Any] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try ServeTests.python())
        let json = String(decoding: try JSONSerialization.data(withJSONObject: arguments), as: UTF8.self)
        p.arguments = [ServeTests.clientScript, server.base, mode, json]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0, let obj = try? JSONSerialization.jsonObject(with: o) as? [String: Any] else {
            throw Failure(description: "client \(mode) \(json) failed (\(p.terminationStatus)): \(String(decoding: o, as: UTF8.self)) \(String(decoding: e, as: UTF8.self))\nserver log:\n\(server.log)")
        }
        return obj
    }

    static func model() throws -> String { try Fixtures.repository("models/shakespeare.gguf") }

    /// Starts the client script in `mode` on a request that generates for minutes on any
    /// machine (unless cancelled): the process and its stdout, for a test to kill it.
    func endlessClient(_ server: Server, _ mode: String) throws -> (Process, Pipe) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try ServeTests.python())
        let args = ["model": "m", "prompt": "count", "max_tokens": 60000, "temperature": 0, "ignore_eos": true] as [String: Any]
        p.arguments = [ServeTests.clientScript, server.base, mode,
                       String(decoding: try JSONSerialization.data(withJSONObject: args), as: UTF8.self)]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        return (p, out)
    }

    func usage(_ r: [String: Any]) -> [String: Any] { r["usage"] as? [String: Any] ?? [:] }

    @Test func completionsAndChatStreamingAndNot() throws {
        let server = try Server(["--model", try ServeTests.model(), "--parallel", "2"])
        let plain = try client(server, "complete", ["model": "anything", "prompt": "ROMEO:", "max_tokens": 12, "temperature": 0])
        #expect(plain["object"] as? String == "text_completion")
        #expect(plain["model"] as? String == "anything")  // echoed back, whatever it is
        #expect(plain["finish_reason"] as? String == "length")
        #expect(usage(plain)["completion_tokens"] as? Int == 12)
        let text = try #require(plain["text"] as? String)
        #expect(!text.isEmpty)
        // llama-server's `timings` beside the usage, with the engine-timed longest gap.
        let raw = try client(server, "raw", ["method": "POST", "path": "/v1/completions",
                                             "body": "{\"prompt\": \"ROMEO:\", \"max_tokens\": 5, \"temperature\": 0}"])
        let timings = try #require((raw["json"] as? [String: Any])?["timings"] as? [String: Any])
        let rawUsage = try #require((raw["json"] as? [String: Any])?["usage"] as? [String: Any])
        #expect(timings["predicted_n"] as? Int == 5)
        #expect(timings["prompt_n"] as? Int == (rawUsage["prompt_tokens"] as? Int ?? -1) - (timings["cache_n"] as? Int ?? -1))
        #expect((timings["max_token_gap_ms"] as? Double ?? -1) > 0)
        #expect((timings["max_token_gap_ms"] as? Double ?? .infinity) <= (timings["predicted_ms"] as? Double ?? 0))

        let streamed = try client(server, "complete", ["model": "m", "prompt": "ROMEO:", "max_tokens": 12, "temperature": 0,
                                                       "stream": true, "stream_options": ["include_usage": true]])
        #expect(streamed["text"] as? String == text)
        #expect((streamed["chunks"] as? Int ?? 0) > 2)
        #expect(streamed["finish_reason"] as? String == "length")
        #expect(usage(streamed)["completion_tokens"] as? Int == 12)

        let messages: [[String: Any]] = [["role": "system", "content": "Speak as a king."], ["role": "user", "content": "Who goes there?"]]
        let chat = try client(server, "chat", ["model": "m", "messages": messages, "max_tokens": 10, "temperature": 0,
                                               "logprobs": true, "top_logprobs": 2])
        #expect(chat["object"] as? String == "chat.completion")
        let chatText = try #require(chat["text"] as? String)
        let logprobs = chat["logprobs"] as? [[String: Any]] ?? []
        #expect(logprobs.count == usage(chat)["completion_tokens"] as? Int)
        #expect(logprobs.allSatisfy { ($0["top_logprobs"] as? [Any])?.count == 2 && ($0["logprob"] as? Double ?? 1) <= 0 })
        let chatStream = try client(server, "chat", ["model": "m", "messages": messages, "max_tokens": 10, "temperature": 0, "stream": true])
        #expect(chatStream["text"] as? String == chatText)
        #expect(chatStream["finish_reason"] as? String == chat["finish_reason"] as? String)

        let models = try client(server, "models")
        #expect(models["ids"] as? [String] == ["shakespeare.gguf"])
        let health = try client(server, "raw", ["method": "GET", "path": "/health"])
        #expect(health["status"] as? Int == 200)
        let tokenized = try client(server, "raw", ["method": "POST", "path": "/tokenize", "body": "{\"content\": \"ROMEO:\"}"])
        let ids = try #require((tokenized["json"] as? [String: Any])?["tokens"] as? [Int])
        let detok = try client(server, "raw", ["method": "POST", "path": "/detokenize", "body": "{\"tokens\": \(ids)}"])
        #expect(((detok["json"] as? [String: Any])?["content"] as? String)?.hasSuffix("ROMEO:") == true)
        #expect(server.stop() == 0)
        // One log line per request: method, route, status, tokens, ms.
        #expect(server.log.contains("POST /v1/completions 200 prompt="))
        #expect(server.log.contains("GET /health 200"))
    }

    @Test func stopStringsMaxTokensAndSeeds() throws {
        let server = try Server(["--model", try ServeTests.model()])
        let base = try client(server, "complete", ["model": "m", "prompt": "KING:", "max_tokens": 24, "temperature": 0])
        let text = try #require(base["text"] as? String)
        // A stop string from the middle of the greedy text: the reply ends just before it.
        let chars = Array(text)
        try #require(chars.count > 12)
        let stop = String(chars[8..<11])
        let expected = String(text[..<text.range(of: stop)!.lowerBound])
        for stream in [false, true] {
            let r = try client(server, "complete", ["model": "m", "prompt": "KING:", "max_tokens": 24, "temperature": 0,
                                                    "stop": ["zzzz", stop], "stream": stream])
            #expect(r["text"] as? String == expected, "stream \(stream)")
            #expect(r["finish_reason"] as? String == "stop")
        }
        let short = try client(server, "complete", ["model": "m", "prompt": "KING:", "max_tokens": 3, "temperature": 0])
        #expect(usage(short)["completion_tokens"] as? Int == 3)
        #expect(short["finish_reason"] as? String == "length")

        // The same seed gives the same sample; another seed another one.
        func sample(_ seed: Int) throws -> String? {
            try client(server, "complete", ["model": "m", "prompt": "KING:", "max_tokens": 24, "temperature": 1, "seed": seed])["text"] as? String
        }
        let a = try sample(42), b = try sample(42), c = try sample(43)
        #expect(a == b)
        #expect(a != c)
        #expect(server.stop() == 0)
    }

    @Test func errorsAreOpenAIShaped() throws {
        let server = try Server(["--model", try ServeTests.model(), "--max-body", "4096"])
        func error(_ r: [String: Any]) -> [String: Any] {
            ((r["json"] as? [String: Any]) ?? (r["body"] as? [String: Any]))?["error"] as? [String: Any] ?? (r["body"] as? [String: Any]) ?? [:]
        }
        let malformed = try client(server, "raw", ["method": "POST", "path": "/v1/completions", "body": "{\"prompt\": \"x\", "])
        #expect(malformed["status"] as? Int == 400)
        #expect(error(malformed)["type"] as? String == "invalid_request_error")
        #expect((error(malformed)["message"] as? String)?.contains("not valid JSON") == true)

        let wrongType = try client(server, "error", ["_kind": "complete", "model": "m", "prompt": "x", "temperature": "hot"])
        #expect(wrongType["status"] as? Int == 400)
        #expect(error(wrongType)["param"] as? String == "temperature")
        let n2 = try client(server, "error", ["_kind": "chat", "model": "m", "messages": [["role": "user", "content": "hi"]], "n": 2])
        #expect(n2["status"] as? Int == 400)
        #expect(error(n2)["param"] as? String == "n")
        let noMessages = try client(server, "error", ["_kind": "chat", "model": "m", "messages": []])
        #expect(noMessages["status"] as? Int == 400)
        let long = String(repeating: "word ", count: 400)  // far more than the context of 128
        let tooLong = try client(server, "error", ["_kind": "complete", "model": "m", "prompt": long])
        #expect(tooLong["status"] as? Int == 400)
        #expect(error(tooLong)["code"] as? String == "context_length_exceeded")

        let notFound = try client(server, "raw", ["method": "GET", "path": "/v1/nothing"])
        #expect(notFound["status"] as? Int == 404)
        #expect(error(notFound)["type"] as? String == "not_found_error")
        let huge = try client(server, "raw", ["method": "POST", "path": "/v1/completions", "body_repeat": ["x", 100_000]])
        #expect(huge["status"] as? Int == 413)
        #expect(error(huge)["code"] as? String == "request_too_large")
        // The server still answers after all that.
        let ok = try client(server, "complete", ["model": "m", "prompt": "x", "max_tokens": 2])
        #expect(usage(ok)["completion_tokens"] as? Int == 2)
        #expect(server.stop() == 0)
    }

    @Test func apiKey() throws {
        let server = try Server(["--model", try ServeTests.model(), "--api-key", "sekrit"])
        let wrong = try client(server, "error", ["_kind": "complete", "_api_key": "nope", "model": "m", "prompt": "x", "max_tokens": 2])
        #expect(wrong["status"] as? Int == 401)
        let missing = try client(server, "raw", ["method": "POST", "path": "/v1/completions", "body": "{\"prompt\": \"x\"}"])
        #expect(missing["status"] as? Int == 401)
        let right = try client(server, "complete", ["_api_key": "sekrit", "model": "m", "prompt": "x", "max_tokens": 2])
        #expect(usage(right)["completion_tokens"] as? Int == 2)
        let health = try client(server, "raw", ["method": "GET", "path": "/health"])
        #expect(health["status"] as? Int == 200)
        #expect(server.stop() == 0)
    }

    /// Greedy output through the server equals `llama generate --temperature 0`, for one
    /// client and for 4 concurrent clients with different prompts. Tolerance: none on the
    /// text (so the greedy ids are equal); the batched logits may differ from the unbatched
    /// ones by float reassociation only, which did not change any argmax here.
    @Test func greedyEqualsGenerate() throws {
        let model = try ServeTests.model()
        let prompts = ["ROMEO:", "First Citizen:\nBefore we proceed", "KING RICHARD III:\nNow is", "O, what a"]
        var expected: [String] = []
        for p in prompts {
            let r = try GenerateCommandTests().run(["generate", "--model", model, "--temperature", "0", "--max-tokens", "20", p])
            try #require(r.status == 0, "\(r.err)")
            expected.append(String(r.out.dropLast()))  // generate ends with a newline
        }
        let server = try Server(["--model", model, "--parallel", "4"])
        for (i, p) in prompts.enumerated() {
            let r = try client(server, "complete", ["model": "m", "prompt": p, "max_tokens": 20, "temperature": 0])
            #expect(r["text"] as? String == expected[i], "one client, prompt \(i)")
        }
        for stream in [false, true] {
            let requests = prompts.map { ["model": "m", "prompt": $0, "max_tokens": 20, "temperature": 0, "stream": stream] as [String: Any] }
            let r = try client(server, "concurrent", ["requests": requests])
            let results = r["results"] as? [[String: Any]] ?? []
            #expect(results.count == 4)
            for (i, res) in results.enumerated() {
                #expect(res["text"] as? String == expected[i], "4 concurrent clients (stream \(stream)), prompt \(i): \(res)")
            }
        }
        #expect(server.stop() == 0)
    }

    /// A 10-turn chat: each turn's prompt starts with the previous turn's, which the slot
    /// still holds, so only the new tokens are evaluated and the rest is reported as cached.
    @Test func multiTurnChatReusesTheCache() throws {
        let model = try Fixtures.shared("fixtures/dev-llama3/model.gguf")
        let server = try Server(["--model", model, "--parallel", "2", "--context", "2048"])
        let r = try client(server, "multiturn", ["turns": 10, "max_tokens": 6])
        let turns = r["turns"] as? [[String: Any]] ?? []
        #expect(turns.count == 10)
        var previous = 0
        for (i, t) in turns.enumerated() {
            let prompt = t["prompt_tokens"] as? Int ?? 0
            let cached = t["cached_tokens"] as? Int ?? -1
            if i == 0 {
                #expect(cached == 0)
            } else {
                // The previous prompt is reused (up to the few tokens at the boundary with the
                // reply, which the template may tokenize differently).
                #expect(cached >= previous - 3, "turn \(i): \(cached) cached of \(prompt), previous prompt \(previous)")
                #expect(prompt - cached < 60, "turn \(i) evaluated \(prompt - cached) tokens")
            }
            previous = prompt
        }
        #expect(server.stop() == 0)
    }

    /// A client killed mid-stream frees its slot; a full queue answers 503 with Retry-After;
    /// other requests still complete.
    @Test func killedClientFreesItsSlotAndFullQueueIs503() throws {
        let model = try Fixtures.shared("fixtures/dev-llama3/model.gguf")
        let server = try Server(["--model", model, "--parallel", "1", "--max-queue", "0", "--context", "65536"])
        let (p, out) = try endlessClient(server, "stream-until-killed")
        let first = out.fileHandleForReading.readData(ofLength: 10)
        #expect(String(decoding: first, as: UTF8.self) == "streaming\n")

        let busy = try client(server, "raw", ["method": "POST", "path": "/v1/completions", "body": "{\"prompt\": \"x\", \"max_tokens\": 2}"])
        #expect(busy["status"] as? Int == 503)
        #expect(busy["retry_after"] as? String == "1")

        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        var freed = false
        for _ in 0..<100 {
            let h = try client(server, "raw", ["method": "GET", "path": "/health"])
            if (h["json"] as? [String: Any])?["slots_processing"] as? Int == 0 { freed = true; break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(freed, "the killed client's slot was not freed: \(server.log)")
        let ok = try client(server, "complete", ["model": "m", "prompt": "x", "max_tokens": 2, "ignore_eos": true])
        #expect(usage(ok)["completion_tokens"] as? Int == 2)
        #expect(server.stop() == 0)
        #expect(server.log.contains("499"))
    }

    /// A client killed while waiting for a non-streaming reply (nothing has been written to
    /// it yet) cancels its generation: the slot is free long before the generation could have
    /// ended, and the next request runs at once.
    @Test func killedNonStreamingClientCancelsItsGeneration() throws {
        let model = try Fixtures.shared("fixtures/dev-llama3/model.gguf")
        let server = try Server(["--model", model, "--parallel", "1", "--context", "65536"])
        func processing() throws -> Int? {
            let h = try client(server, "raw", ["method": "GET", "path": "/health"])
            return (h["json"] as? [String: Any])?["slots_processing"] as? Int
        }
        let (p, out) = try endlessClient(server, "complete-until-killed")
        #expect(String(decoding: out.fileHandleForReading.readData(ofLength: 11), as: UTF8.self) == "requesting\n")
        var busy = false
        for _ in 0..<300 {
            if try processing() == 1 { busy = true; break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        try #require(busy, "the request never reached a slot: \(server.log)")
        Thread.sleep(forTimeInterval: 0.5)  // generating for a while
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let killed = ContinuousClock.now
        var freed = false
        for _ in 0..<100 {
            if try processing() == 0 { freed = true; break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        guard freed else {
            // Still generating: a graceful stop would wait for all 60000 tokens.
            Issue.record("the killed client's generation still runs: \(server.log)")
            kill(server.process.processIdentifier, SIGKILL)
            return
        }
        #expect(ContinuousClock.now - killed < .seconds(10))
        let ok = try client(server, "complete", ["model": "m", "prompt": "x", "max_tokens": 2, "ignore_eos": true])
        #expect(usage(ok)["completion_tokens"] as? Int == 2)
        #expect(server.stop() == 0)
        #expect(server.log.contains("POST /v1/completions 499"), "\(server.log)")
    }

    /// Resident memory of a process, from /proc (Linux).
    static func residentBytes(_ pid: Int32) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kb = Int(line.split(separator: " ").dropFirst().first ?? "") else { return -1 }
        return kb * 1024
    }

    /// 64 concurrent connections on 4 slots, a client sending its request a byte at a time
    /// meanwhile: every request completes, and resident memory after the load is within
    /// 64 MiB of what it was before.
    @Test func manyConnectionsAndASlowClient() throws {
        let server = try Server(["--model", try ServeTests.model(), "--parallel", "4", "--max-queue", "64"])
        let warm = try client(server, "complete", ["model": "m", "prompt": "ROMEO:", "max_tokens": 8])
        #expect(usage(warm)["completion_tokens"] as? Int == 8)
        let before = ServeTests.residentBytes(server.process.processIdentifier)

        let slow = Process()
        slow.executableURL = URL(fileURLWithPath: try ServeTests.python())
        let slowRequest = ["request": ["prompt": "KING:", "max_tokens": 4, "temperature": 0], "step": 1, "delay": 0.01] as [String: Any]
        slow.arguments = [ServeTests.clientScript, server.base, "slow", String(decoding: try JSONSerialization.data(withJSONObject: slowRequest), as: UTF8.self)]
        let slowOut = Pipe(), slowErr = Pipe()
        slow.standardOutput = slowOut
        slow.standardError = slowErr
        try slow.run()

        let requests = (0..<64).map { i in
            ["model": "m", "prompt": ["ROMEO:", "KING:", "JULIET:", "First Citizen:"][i % 4], "max_tokens": 8, "stream": i % 2 == 0] as [String: Any]
        }
        let r = try client(server, "concurrent", ["requests": requests])
        let results = r["results"] as? [[String: Any]] ?? []
        #expect(results.count == 64)
        #expect(results.allSatisfy { $0["error"] == nil && $0["finish_reason"] != nil }, "\(results.filter { $0["error"] != nil }.prefix(3))")

        let slowData = slowOut.fileHandleForReading.readDataToEndOfFile()
        let slowError = slowErr.fileHandleForReading.readDataToEndOfFile()
        slow.waitUntilExit()
        let slowResult = (try? JSONSerialization.jsonObject(with: slowData)) as? [String: Any]
        #expect(slowResult?["status"] as? Int == 200,
                "slow client: \(String(decoding: slowData, as: UTF8.self)) \(String(decoding: slowError, as: UTF8.self))")

        let after = ServeTests.residentBytes(server.process.processIdentifier)
        #expect(before > 0 && after - before < 64 << 20, "resident memory \(before >> 20) MiB before the load, \(after >> 20) MiB after")
        #expect(server.stop() == 0)
    }

    /// SIGTERM while a stream runs: the stream finishes, new connections are refused, and
    /// the server exits 0.
    @Test func shutdownFinishesTheRequestsInFlight() throws {
        let model = try Fixtures.shared("fixtures/dev-llama3/model.gguf")
        let server = try Server(["--model", model, "--parallel", "2", "--context", "1024"])
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try ServeTests.python())
        // Long enough that it is still running when the signal arrives, on any machine.
        let args = ["model": "m", "prompt": "count", "max_tokens": 1000, "temperature": 0, "ignore_eos": true, "stream": true] as [String: Any]
        p.arguments = [ServeTests.clientScript, server.base, "complete-announced", String(decoding: try JSONSerialization.data(withJSONObject: args), as: UTF8.self)]
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        // The client says when the first chunk arrived; then ask the server to stop.
        let first = out.fileHandleForReading.readData(ofLength: 10)
        #expect(String(decoding: first, as: UTF8.self) == "streaming\n")
        kill(server.process.processIdentifier, SIGTERM)
        Thread.sleep(forTimeInterval: 0.3)
        let refused = try? client(server, "raw", ["method": "GET", "path": "/health"])
        #expect(refused == nil || server.process.isRunning == false, "a new request was served during shutdown: \(refused ?? [:])")
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let result = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        #expect(result?["finish_reason"] as? String == "length", "\(String(decoding: data, as: UTF8.self))")
        #expect(server.stop() == 0)
    }
}
