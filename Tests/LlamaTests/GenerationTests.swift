import Foundation
import Testing
import Llama

@Suite struct GenerationTests {
    func devOdd() throws -> LlamaModel {
        try LlamaModel(checkpoint: GGUFCheckpoint(path: Fixtures.shared("fixtures/dev-odd/model-f16.gguf")))
    }

    @Test func greedyGenerationGivesTheReferenceIDs() throws {
        let ref = try ModelReference.load("fixtures/dev-odd")
        let gen = Generator(model: try devOdd())
        var streamed: [Int] = []
        let (results, stats) = try gen.generate(prompts: [ref.ids], options: GenerationOptions(maxTokens: 8, sampling: .greedy, keepPromptLogits: true)) { _, id in
            streamed.append(id)
            return true
        }
        #expect(results[0].tokens == ref.greedyNext)
        #expect(streamed == ref.greedyNext)
        #expect(results[0].finishReason == .maxTokens)
        #expect(maxAbsDifference(results[0].promptLogits ?? [], ref.lastLogits) < 1e-4)
        #expect(stats.promptTokens == ref.ids.count && stats.generatedTokens == 8)
    }

    @Test func aBatchGivesEachPromptItsOwnResult() throws {
        let ref = try ModelReference.load("fixtures/dev-odd")
        let gen = Generator(model: try devOdd())
        let prompts = [ref.ids, Array(ref.ids.prefix(7)), Array(ref.longIDs.prefix(40))]
        let sampling = SamplingParameters(temperature: 0.9, topK: 20, topP: 0.9, minP: 0.01, seed: 5)
        let options = GenerationOptions(maxTokens: 6, sampling: sampling)
        let batch = try gen.generate(prompts: prompts, options: options) { _, _ in true }.results
        for (i, p) in prompts.enumerated() {
            let alone = try gen.generate(prompts: [p], options: options) { _, _ in true }.results[0]
            #expect(batch[i].tokens == alone.tokens)
        }
        // Prompt chunks that split prompts (and hold the ends of several) change nothing.
        var small = options
        small.prefillBatch = 10
        let chunked = try gen.generate(prompts: prompts, options: small) { _, _ in true }.results
        #expect(chunked.map(\.tokens) == batch.map(\.tokens))
        // The greedy batch reproduces the reference continuation of the first prompt.
        let greedy = try gen.generate(prompts: prompts, options: GenerationOptions(maxTokens: 8, sampling: .greedy)) { _, _ in true }.results
        #expect(greedy[0].tokens == ref.greedyNext)
    }

    @Test func stopsAtEndIDsAndWhenTheCallerSaysSo() throws {
        let ref = try ModelReference.load("fixtures/dev-odd")
        let gen = Generator(model: try devOdd())
        let stopAt = ref.greedyNext[2]
        let r = try gen.generate(prompts: [ref.ids], options: GenerationOptions(maxTokens: 8, sampling: .greedy, stopIDs: [stopAt])) { _, _ in true }.results[0]
        #expect(r.tokens == Array(ref.greedyNext.prefix(2)))
        #expect(r.finishReason == .endOfGeneration)
        var seen = 0
        let c = try gen.generate(prompts: [ref.ids], options: GenerationOptions(maxTokens: 8, sampling: .greedy)) { _, _ in
            seen += 1
            return seen < 3
        }.results[0]
        #expect(c.tokens.count == 3 && c.finishReason == .stoppedByCaller)
    }

    @Test func aPromptLongerThanTheContextIsAnError() throws {
        let gen = Generator(model: try devOdd())
        #expect(throws: ModelError.promptTooLong(tokens: 10, context: 8)) {
            _ = try gen.generate(prompts: [Array(repeating: 5, count: 10)], options: GenerationOptions(maxTokens: 4, context: 8)) { _, _ in true }
        }
        // The model's own maximum (2048) caps --context.
        #expect(throws: ModelError.promptTooLong(tokens: 2049, context: 2048)) {
            _ = try gen.generate(prompts: [Array(repeating: 5, count: 2049)], options: GenerationOptions(maxTokens: 1, context: 100000)) { _, _ in true }
        }
        // A full cache ends generation rather than failing.
        let r = try gen.generate(prompts: [[1, 2, 3]], options: GenerationOptions(maxTokens: 10, context: 5, sampling: .greedy)) { _, _ in true }.results[0]
        #expect(r.finishReason == .contextFull)
        #expect(r.tokens.count == 3)
    }

    @Test func outOfRangeTokenIsAnError() throws {
        let gen = Generator(model: try devOdd())
        #expect(throws: ModelError.tokenOutOfRange(id: 32000, vocabularySize: 32000)) {
            _ = try gen.generate(prompts: [[1, 32000]], options: GenerationOptions(maxTokens: 1)) { _, _ in true }
        }
    }
}

@Suite struct GGUFCheckpointTests {
    @Test func configFromMetadata() throws {
        let odd = try GGUFCheckpoint(path: Fixtures.shared("fixtures/dev-odd/model-q4_0.gguf"))
        let c = odd.config
        #expect(c.dim == 64 && c.layerCount == 3 && c.headCount == 4 && c.kvHeadCount == 1 && c.hiddenDim == 160)
        #expect(c.vocabSize == 32000 && !c.tiedEmbeddings && c.maxContext == 2048 && c.ropeTheta == 10000)
        #expect(try odd.tensor(TensorName.wq(0)).shape == [64, 64])
        #expect(try odd.tensor(TensorName.w2(2)).shape == [64, 160])
        #expect(try odd.tensor(TensorName.wq(0)).type == .q4_0)
        #expect(try odd.ropeFrequencyFactors() == nil)
        let l3 = try GGUFCheckpoint(path: Fixtures.shared("fixtures/dev-llama3/model.gguf"))
        #expect(l3.config.tiedEmbeddings && l3.config.vocabSize == 128256 && l3.config.kvHeadCount == 2 && l3.config.ropeTheta == 500000)
        #expect(try l3.ropeFrequencyFactors()?.count == 4)
        #expect(throws: GGUFCheckpointError.self) { try l3.tensor(TensorName.output) }
    }

    /// A GGUF by hand: version 3, one metadata string, one tensor of ggml type 99.
    func ggufWithUnknownType() -> [UInt8] {
        var b: [UInt8] = Array("GGUF".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { b.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { b.append(contentsOf: $0) } }
        func str(_ s: String) { u64(UInt64(s.utf8.count)); b.append(contentsOf: s.utf8) }
        u32(3); u64(1); u64(1)
        str("general.architecture"); u32(8); str("llama")
        str("token_embd.weight"); u32(2); u64(32); u64(4); u32(99); u64(0)
        while b.count % 32 != 0 { b.append(0) }
        b.append(contentsOf: [UInt8](repeating: 0, count: 64))
        return b
    }

    @Test func unknownTensorTypeIsAnErrorNamingIt() throws {
        let path = NSTemporaryDirectory() + "unknown-type-\(getpid()).gguf"
        try writeAtomically(ggufWithUnknownType(), to: path)
        defer { unlink(path) }
        do {
            _ = try GGUFCheckpoint(path: path)
            Issue.record("expected an error")
        } catch let e as GGUFCheckpointError {
            #expect("\(e)".contains("token_embd.weight"))
            #expect("\(e)".contains("99"))
        }
    }

    @Test func writerRoundTripsTheRandomModel() throws {
        let vocab = try GGUFFile(path: Fixtures.shared("vocab/ggml-vocab-llama-spm.gguf"))
        var spec = RandomModelSpec()
        spec.dim = 32
        spec.hiddenDim = 40
        spec.layerCount = 1
        let path = NSTemporaryDirectory() + "random-\(getpid()).gguf"
        try spec.makeGGUF(vocabulary: vocab).write(to: path)
        defer { unlink(path) }
        let ck = try GGUFCheckpoint(path: path)
        #expect(ck.config == ModelConfig(dim: 32, layerCount: 1, headCount: 4, kvHeadCount: 2, hiddenDim: 40, vocabSize: 32000,
                                         normEps: 1e-5, ropeTheta: 10000, ropeScaling: nil, maxContext: 2048, tiedEmbeddings: true))
        #expect(try ck.file.stringArray("tokenizer.ggml.tokens") == vocab.stringArray("tokenizer.ggml.tokens"))
        #expect(ck.file.metadata["tokenizer.ggml.scores"] == vocab.metadata["tokenizer.ggml.scores"])
        #expect(ck.file.metadata["tokenizer.ggml.token_type"] == vocab.metadata["tokenizer.ggml.token_type"])
        #expect(ck.file.metadata["tokenizer.ggml.bos_token_id"] == vocab.metadata["tokenizer.ggml.bos_token_id"])
        #expect(ck.file.dataOffset % 32 == 0 && ck.file.tensors.allSatisfy { $0.fileOffset % 32 == 0 })
        let model = try LlamaModel(checkpoint: ck)
        let logits = try model.prefill([1, 2, 3], cache: KVCache(config: model.config, capacity: 3), state: RunState(config: model.config, maxRows: 3))
        #expect(logits.count == 32000 && logits.allSatisfy(\.isFinite))
    }

    @Test func theShippedModelRuns() throws {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let model = try LlamaModel(checkpoint: GGUFCheckpoint(path: repo.appendingPathComponent("models/tiny-random.gguf").path))
        let r = try Generator(model: model).generate(prompts: [[1, 450]], options: GenerationOptions(maxTokens: 5, sampling: .greedy)) { _, _ in true }
        #expect(r.results[0].tokens.count == 5)
    }
}

/// A checkpoint claiming an enormous context, to exercise the cache-size check.
final class HugeContext: Checkpoint, @unchecked Sendable {
    let base: GGUFCheckpoint
    init(_ base: GGUFCheckpoint) { self.base = base }
    var path: String { base.path }
    var config: ModelConfig { var c = base.config; c.maxContext = 1 << 40; return c }
    var tokenizer: (any Tokenizer)? { nil }
    func tensor(_ name: String) throws -> WeightTensor { try base.tensor(name) }
    func ropeFrequencyFactors() throws -> [Float]? { nil }
}

@Suite struct CacheSizeTests {
    @Test func aCacheLargerThanMemoryIsAnErrorNotACrash() throws {
        let model = try LlamaModel(checkpoint: HugeContext(GGUFCheckpoint(path: Fixtures.shared("fixtures/dev-odd/model-f16.gguf"))))
        do {
            _ = try Generator(model: model).generate(prompts: [[1, 2]], options: GenerationOptions(maxTokens: 1 << 38)) { _, _ in true }
            Issue.record("expected an error")
        } catch let e as ModelError {
            guard case .cacheTooLarge = e else { Issue.record("unexpected \(e)"); return }
            #expect("\(e)".contains("--context"))
        }
    }
}
