import Foundation
import Testing
import Llama

/// The continuous-batching engine against the fixed-batch `Generator` on the shipped model.
@Suite struct EngineTests {
    static func load() throws -> (LlamaModel, any Tokenizer) {
        let checkpoint = try CheckpointLoader.load(path: try Fixtures.repository("models/shakespeare.gguf"), tokenizerPath: nil)
        let tok = try #require(checkpoint.tokenizer)
        return (try LlamaModel(checkpoint: checkpoint), tok)
    }

    /// Runs one request to the end: the generated ids, the text, the final event.
    static func collect(_ engine: Engine, _ request: EngineRequest) async throws -> ([TokenID], String, EngineCompletion?) {
        var ids: [TokenID] = []
        var text = ""
        var done: EngineCompletion? = nil
        for try await event in engine.generate(request) {
            switch event {
            case let .piece(p):
                if let id = p.id { ids.append(id) }
                text += p.text
            case let .finished(c): done = c
            }
        }
        return (ids, text, done)
    }

    /// Five prompts through 2 slots with a prefill chunk of 3 positions: requests wait, join
    /// mid-stream and prefill in pieces between decode steps, and each one's greedy ids equal
    /// what the fixed-batch generator gives for it alone.
    @Test func interleavedBatchesGiveTheSameGreedyIDsAsAlone() async throws {
        let (model, tok) = try EngineTests.load()
        let texts = ["ROMEO:", "KING RICHARD III:\nNow is the winter", "O", "First Citizen:\nBefore we proceed any further, hear me speak.", "JULIET:"]
        let prompts = texts.map { tok.encode($0, addBOS: tok.addsBOSByDefault, allowSpecial: true) }
        var expected: [[TokenID]] = []
        for p in prompts {
            let options = GenerationOptions(maxTokens: 20, sampling: .greedy, stopIDs: tok.endOfGenerationIDs)
            expected.append(try Generator(model: model).generate(prompts: [p], options: options) { _, _ in true }.results[0].tokens)
        }
        let engine = try Engine(model: model, tokenizer: tok, slots: 2, prefillChunk: 3)
        let results = try await withThrowingTaskGroup(of: (Int, [TokenID], EngineCompletion?).self) { group in
            for (i, p) in prompts.enumerated() {
                group.addTask {
                    let (ids, _, done) = try await EngineTests.collect(engine, EngineRequest(prompt: p, maxTokens: 20, sampling: .greedy))
                    return (i, ids, done)
                }
            }
            var out: [(Int, [TokenID], EngineCompletion?)] = []
            for try await r in group { out.append(r) }
            return out.sorted { $0.0 < $1.0 }
        }
        for (i, ids, done) in results {
            #expect(ids == expected[i], "prompt \(i)")
            #expect(done?.generatedTokens == ids.count)
            #expect(done?.promptTokens == prompts[i].count)
        }
        await engine.drain()
        #expect(engine.load.active == 0)
    }

    /// A request that repeats a finished one's prompt evaluates only its last position; one
    /// that extends it evaluates only the new tokens. Same tokens as without the cache.
    @Test func promptCacheReusesTheLongestPrefix() async throws {
        let (model, tok) = try EngineTests.load()
        let engine = try Engine(model: model, tokenizer: tok, slots: 1)
        let prompt = tok.encode("KING RICHARD III:\nNow is the winter of our discontent", addBOS: tok.addsBOSByDefault, allowSpecial: true)
        let first = try await EngineTests.collect(engine, EngineRequest(prompt: prompt, maxTokens: 8, sampling: .greedy, stopIDs: []))
        #expect(first.2?.cachedTokens == 0)
        let again = try await EngineTests.collect(engine, EngineRequest(prompt: prompt, maxTokens: 8, sampling: .greedy, stopIDs: []))
        #expect(again.2?.cachedTokens == prompt.count - 1)
        #expect(again.0 == first.0)
        let longer = prompt + first.0 + tok.encode(" made glorious", allowSpecial: false)
        let third = try await EngineTests.collect(engine, EngineRequest(prompt: longer, maxTokens: 8, sampling: .greedy, stopIDs: []))
        // The slot holds the prompt and all generated ids but the last (never fed back).
        #expect(third.2?.cachedTokens == prompt.count + first.0.count - 1)
        let fresh = try Engine(model: model, tokenizer: tok, slots: 1)
        let uncached = try await EngineTests.collect(fresh, EngineRequest(prompt: longer, maxTokens: 8, sampling: .greedy, stopIDs: []))
        #expect(third.0 == uncached.0)
    }

    /// Stop strings end the text before them; max tokens and a full context end with their
    /// reasons; a refused request throws at once.
    @Test func stopsAndLimits() async throws {
        let (model, tok) = try EngineTests.load()
        let engine = try Engine(model: model, tokenizer: tok, slots: 2, context: 40, maxQueue: 1)
        let prompt = tok.encode("ROMEO:", addBOS: tok.addsBOSByDefault, allowSpecial: true)
        let full = try await EngineTests.collect(engine, EngineRequest(prompt: prompt, maxTokens: 16, sampling: .greedy, stopIDs: []))
        #expect(full.2?.finishReason == .maxTokens)
        let chars = Array(full.1)
        try #require(chars.count > 8)
        let stop = String(chars[4..<7])
        let stopped = try await EngineTests.collect(engine, EngineRequest(prompt: prompt, maxTokens: 16, sampling: .greedy, stopStrings: [stop], stopIDs: []))
        #expect(stopped.1 == String(full.1[..<full.1.range(of: stop)!.lowerBound]))
        #expect(stopped.2?.finishReason == .endOfGeneration)
        let toTheEnd = try await EngineTests.collect(engine, EngineRequest(prompt: prompt, maxTokens: nil, sampling: .greedy, stopIDs: []))
        #expect(toTheEnd.2?.finishReason == .contextFull)
        #expect(toTheEnd.0.count == 40 - prompt.count + 1)
        #expect(throws: EngineError.promptTooLong(tokens: 41, context: 40)) {
            _ = try engine.submit(EngineRequest(prompt: Array(repeating: prompt[0], count: 41)))
        }
    }

    /// A prompt arriving beside a running stream is read in chunks of at most
    /// `prefillChunk` positions, each in one step with the stream's next token (the engine's
    /// own step reports say so), and the stream's longest wait is reported.
    @Test func longPromptIsReadInChunksBesideTheRunningStream() async throws {
        let (model, tok) = try EngineTests.load()
        let reports = Reports()
        let engine = try Engine(model: model, tokenizer: tok, slots: 2, prefillChunk: 8, onStep: { reports.add($0) })
        let first = tok.encode("ROMEO:", addBOS: tok.addsBOSByDefault, allowSpecial: true)
        let long = tok.encode("First Citizen:\nBefore we proceed any further, hear me speak. All: Speak, speak. You are all resolved rather to die than to famish?",
                              addBOS: tok.addsBOSByDefault, allowSpecial: true)
        try #require(long.count > 24 && first.count < 8)
        // Submitted together: the stream has 100 tokens to go while the long prompt needs a
        // handful of steps.
        let streaming = try engine.submit(EngineRequest(prompt: first, maxTokens: 100, sampling: .greedy, stopIDs: []))
        let reading = try engine.submit(EngineRequest(prompt: long, maxTokens: 1, sampling: .greedy, stopIDs: []))
        func finish(_ s: AsyncThrowingStream<EngineEvent, Error>) async throws -> EngineCompletion? {
            for try await e in s { if case let .finished(c) = e { return c } }
            return nil
        }
        let longDone = try #require(try await finish(reading))
        let c = try #require(try await finish(streaming))
        #expect(longDone.promptTokens == long.count && longDone.cachedTokens == 0 && longDone.generatedTokens == 1)
        let steps = reports.all
        let prefill = steps.filter { $0.prefillRows > 0 }
        #expect(prefill.allSatisfy { $0.prefillRows <= 8 })
        #expect(prefill.reduce(0) { $0 + $1.prefillRows } == first.count + long.count)
        // The long prompt's chunks ran while the stream generated (one decode row each).
        #expect(prefill.filter { $0.decodeRows == 1 }.count >= (long.count - 8) / 8)
        #expect(steps.allSatisfy { $0.decodeRows <= 2 && $0.seconds >= 0 })
        #expect(c.generatedTokens == 100)
        #expect(c.longestTokenGapSeconds > 0 && c.longestTokenGapSeconds <= c.generationSeconds)
    }

    final class Reports: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [EngineStepReport] = []
        func add(_ r: EngineStepReport) { lock.lock(); items.append(r); lock.unlock() }
        var all: [EngineStepReport] { lock.lock(); defer { lock.unlock() }; return items }
    }

    /// On a row-interleaved model (the dev-odd Q4_0 GGUF), four short prompts arriving
    /// together are read over steps of at most `interleavedMaxTokens` rows (the few-token
    /// kernels), not in one step of all their positions (`gemm`, which packs every weight
    /// again on each call); each prompt's last-position logits and greedy ids are then
    /// those it gets alone, bit for bit. A prompt of `Engine.batchedPrefillRows` positions
    /// or more is still read in `prefillChunk`-sized steps.
    @Test func shortPromptsArrivingTogetherStayOnTheFewTokenPath() async throws {
        let checkpoint = try CheckpointLoader.load(path: try Fixtures.shared("fixtures/dev-odd/model-q4_0.gguf"), tokenizerPath: nil)
        let tok = try #require(checkpoint.tokenizer)
        let model = try LlamaModel(checkpoint: checkpoint)
        let texts = ["Once upon a time", "The king said to", "In the morning the old", "It was a dark and stormy"]
        let prompts = texts.map { tok.encode($0, addBOS: tok.addsBOSByDefault, allowSpecial: true) }
        try #require(prompts.allSatisfy { $0.count >= 4 && $0.count <= 8 } && prompts.reduce(0) { $0 + $1.count } > 16)
        func request(_ p: [TokenID]) -> EngineRequest {
            EngineRequest(prompt: p, maxTokens: 12, sampling: .greedy, stopIDs: [], keepPromptLogits: true)
        }
        func run(_ s: AsyncThrowingStream<EngineEvent, Error>) async throws -> ([TokenID], EngineCompletion?) {
            var ids: [TokenID] = []
            for try await e in s {
                switch e {
                case let .piece(p): if let id = p.id { ids.append(id) }
                case let .finished(c): return (ids, c)
                }
            }
            return (ids, nil)
        }
        var alone: [([TokenID], [Float]?)] = []
        for p in prompts {
            let one = try Engine(model: model, tokenizer: tok, slots: 1)
            let (ids, done) = try await run(one.generate(request(p)))
            alone.append((ids, done?.promptLogits))
        }
        let reports = Reports()
        let engine = try Engine(model: model, tokenizer: tok, slots: 4, onStep: { reports.add($0) })
        // The generic kernel set has no row-interleaved layout: no limit there.
        #expect(engine.fewRowLimit == (KernelSet.selected.name == "generic" ? 0 : interleavedMaxTokens))
        let limit = try #require(engine.fewRowLimit > 0 ? engine.fewRowLimit : nil, "the model was not row-interleaved")
        let streams = try engine.submit(batch: prompts.map(request))
        for (i, s) in streams.enumerated() {
            let (ids, done) = try await run(s)
            #expect(ids == alone[i].0, "prompt \(i)")
            let logits = try #require(done?.promptLogits), reference = try #require(alone[i].1)
            let differing = zip(logits, reference).filter { $0 != $1 }.count
            #expect(logits.count == reference.count && differing == 0, "prompt \(i): \(differing) prompt logits differ from alone")
        }
        let steps = reports.all
        #expect(steps.allSatisfy { $0.decodeRows + $0.prefillRows <= limit })
        #expect(steps.reduce(0) { $0 + $1.prefillRows } == prompts.reduce(0) { $0 + $1.count })
        // A long prompt: its first step reads a whole chunk.
        let long = Array(repeating: prompts[0][prompts[0].count - 1], count: Engine.batchedPrefillRows + 20)
        let before = reports.all.count
        _ = try await run(engine.generate(EngineRequest(prompt: long, maxTokens: 1, sampling: .greedy, stopIDs: [])))
        // A step reports after its tokens are out: wait for the report.
        var longSteps: [EngineStepReport] = []
        for _ in 0..<500 where longSteps.isEmpty {
            longSteps = reports.all.dropFirst(before).filter { $0.prefillRows > 0 }
            if longSteps.isEmpty { try await Task.sleep(nanoseconds: 10_000_000) }
        }
        #expect(longSteps.first?.prefillRows == min(engine.prefillChunk, long.count))
    }

    /// Every slot's KV cache is on real pages once the engine exists (not at the slot's
    /// first step): the process's resident memory grows by the caches' bytes at init.
    @Test func slotCachesAreFaultedInAtInit() throws {
        let checkpoint = try CheckpointLoader.load(path: try Fixtures.shared("fixtures/dev-odd/model-q4_0.gguf"), tokenizerPath: nil)
        let model = try LlamaModel(checkpoint: checkpoint)
        let c = model.config, slots = 256, context = min(2048, c.maxContext)
        let cacheBytes = slots * 2 * c.layerCount * context * c.kvDim * MemoryLayout<Float>.size
        try #require(cacheBytes >= 64 << 20, "too small to tell from other tests' allocations")
        func resident() throws -> Int {
            let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
            let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
            return try #require(Int(line.split(separator: " ").dropFirst().first ?? "")) * 1024
        }
        let before = try resident()
        let engine = try Engine(model: model, tokenizer: nil, slots: slots, context: context)
        let grown = try resident() - before
        #expect(grown >= cacheBytes * 9 / 10, "resident memory grew \(grown) bytes for \(cacheBytes) bytes of caches")
        withExtendedLifetime(engine) {}
    }

    /// Ending the iteration early cancels the request and frees its slot.
    @Test func cancellationFreesTheSlot() async throws {
        let (model, tok) = try EngineTests.load()
        let engine = try Engine(model: model, tokenizer: tok, slots: 1)
        let prompt = tok.encode("ROMEO:", addBOS: tok.addsBOSByDefault, allowSpecial: true)
        var seen = 0
        for try await event in engine.generate(EngineRequest(prompt: prompt, maxTokens: nil, sampling: .greedy, stopIDs: [])) {
            if case .piece = event { seen += 1 }
            if seen == 3 { break }
        }
        await engine.drain()
        #expect(engine.load.active == 0)
        let after = try await EngineTests.collect(engine, EngineRequest(prompt: prompt, maxTokens: 4, sampling: .greedy, stopIDs: []))
        #expect(after.0.count == 4)
    }
}

/// `llama generate --prompts-file` runs its batch through the engine: each prompt's greedy
/// text equals what `llama generate` gives for it alone.
@Suite struct GenerateBatchTests {
    @Test func promptsFileEqualsEachPromptAlone() throws {
        let model = try Fixtures.repository("models/shakespeare.gguf")
        let prompts = ["ROMEO:", "O", "First Citizen: Before we proceed"]
        let cli = GenerateCommandTests()
        var alone: [String] = []
        for p in prompts {
            let r = try cli.run(["generate", "--model", model, "--temperature", "0", "--max-tokens", "16", p])
            try #require(r.status == 0, "\(r.err)")
            alone.append(String(r.out.dropLast()))
        }
        let file = NSTemporaryDirectory() + "swiftllama-prompts-\(UUID().uuidString).txt"
        defer { unlink(file) }
        try (prompts.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let batch = try cli.run(["generate", "--model", model, "--temperature", "0", "--max-tokens", "16", "--prompts-file", file])
        #expect(batch.status == 0, "\(batch.err)")
        #expect(batch.out == "[1] \(alone[0])\n[2] \(alone[1])\n[3] \(alone[2])\n")
    }
}
