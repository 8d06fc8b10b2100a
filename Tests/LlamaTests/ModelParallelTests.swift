import Foundation
import Testing
import Llama

/// Model-parallel inference without MPI: ranks as threads of this process (`ThreadRank`, as in
/// DataParallelTrainingTests), each with its own slice of the model, so the default build
/// checks what `mpirun -np N llama generate` runs (scripts/test-mpi.sh runs it under MPI).
@Suite struct ModelParallelTests {
    /// What one rank (or the single process) computed.
    struct Outcome: Sendable {
        var logits: [[Float]]
        var greedy: [[TokenID]]
        var config: ModelConfig
        var openedFiles: [String]?
    }

    /// `key` of fixtures/dev-odd/ref.json (HF transformers' numbers for the model).
    static func ref(_ key: String) throws -> [NSNumber] {
        let path = try Fixtures.shared("fixtures/dev-odd/ref.json")
        let data = try #require(FileManager.default.contents(atPath: path))
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try #require(json[key] as? [NSNumber], "\(path) has no \(key)")
    }

    static func refIDs() throws -> [TokenID] { try ref("ids").map(\.intValue) }

    /// Logits at two positions and 8 greedy tokens for two prompts in one batch (the engine's
    /// path: rank 0 samples and broadcasts).
    static func run(_ checkpoint: any Checkpoint, communicator: any Communicator, ids given: [TokenID]? = nil) throws -> Outcome {
        let model = try LlamaModel(checkpoint: checkpoint, parallel: ParallelFor(workers: 1), communicator: communicator)
        let ids = try given ?? refIDs()
        let logits = try model.logits(of: ids, at: [ids.count / 2, ids.count - 1])
        let options = GenerationOptions(maxTokens: 8, sampling: SamplingParameters(temperature: 0))
        let (results, _) = try Generator(model: model).generate(prompts: [ids, Array(ids.prefix(9))], options: options) { _, _ in true }
        return Outcome(logits: logits, greedy: results.map(\.tokens), config: model.config,
                       openedFiles: (checkpoint as? MetaCheckpoint)?.openedFiles)
    }

    /// `body(rank)` on `ranks` threads at once; each rank's outcome or error.
    static func onRanks(_ ranks: Int, _ body: @escaping @Sendable (ThreadRank) throws -> Outcome) -> [Result<Outcome, any Error>] {
        let group = ThreadGroup(size: ranks)
        let box = OutcomeBox(count: ranks)
        let done = DispatchGroup()
        for r in 0..<ranks {
            done.enter()
            let thread = Thread {
                defer { done.leave() }
                box.set(r, Result { try body(ThreadRank(rank: r, group: group)) })
            }
            thread.stackSize = 8 << 20
            thread.start()
        }
        done.wait()
        return box.values.map { $0 ?? .failure(Fixtures.Missing(path: "no result")) }
    }

    static func maxDifference(_ a: [[Float]], _ b: [[Float]]) -> Float {
        guard a.count == b.count, zip(a, b).allSatisfy({ $0.count == $1.count }) else { return .infinity }
        return zip(a, b).map { x, y in zip(x, y).map { abs($0 - $1) }.max() ?? 0 }.max() ?? 0
    }

    /// Runs `path` as one process and on 2 thread-ranks; every rank's logits within 1e-5 of
    /// the single process's and the same greedy ids.
    static func checkTwoRanks(_ path: String, shardMeta: Bool = false, ids: [TokenID]? = nil) throws -> [Outcome] {
        let one = try run(try CheckpointLoader.load(path: path), communicator: SingleProcess(), ids: ids)
        let ranks = onRanks(2) { rank in
            let checkpoint = try CheckpointLoader.load(path: path, shard: shardMeta ? TensorParallel(rank) : nil)
            return try run(checkpoint, communicator: rank, ids: ids)
        }
        var outcomes: [Outcome] = []
        for (r, result) in ranks.enumerated() {
            let o = try result.get()
            let diff = maxDifference(o.logits, one.logits)
            #expect(diff <= 1e-5, "\(path): rank \(r) logits differ from one process's by \(diff)")
            #expect(o.greedy == one.greedy, "\(path): rank \(r) greedy ids \(o.greedy) vs \(one.greedy)")
            outcomes.append(o)
        }
        return outcomes
    }

    @Test func metaShardsOneOnEachRankGiveOneProcessLogits() throws {
        let dir = try Fixtures.shared("fixtures/dev-odd/meta")
        let ranks = try Self.checkTwoRanks(dir, shardMeta: true)
        for (r, o) in ranks.enumerated() {
            // Rank r opened consolidated.0r.pth and nothing else.
            #expect(o.openedFiles == [dir + "/consolidated.0\(r).pth"], "rank \(r) opened \(o.openedFiles ?? [])")
            // 4 query heads → 2 per rank; the one key/value head on both; 160 hidden → 80.
            #expect(o.config.headCount == 2 && o.config.kvHeadCount == 1 && o.config.hiddenDim == 80 && o.config.headDim == 16)
        }
        // And the truth HF transformers gave for this model.
        let truth = try Self.ref("last_logits").map(\.floatValue)
        let diff = Self.maxDifference([ranks[0].logits[1]], [truth])
        #expect(diff <= 1e-4, "rank 0's last logits differ from ref.json by \(diff)")
        let next = try Self.ref("greedy_next").map(\.intValue)
        #expect(ranks[0].greedy[0] == next)
    }

    @Test func ggufAndHuggingFaceAreSlicedOnLoad() throws {
        // F16 (every slice fits its blocks of 1), the HF folder (rows un-permuted, then sliced),
        // Llama 3 shapes (2 key/value heads: one per rank; tied output: each rank its
        // vocabulary rows of the embedding).
        for file in ["fixtures/dev-odd/model-f16.gguf", "fixtures/dev-odd/hf", "fixtures/dev-llama3/model.gguf"] {
            let ranks = try Self.checkTwoRanks(try Fixtures.shared(file))
            #expect(ranks.allSatisfy { $0.config.headCount == 2 })
        }
    }

    @Test func otherArchitecturesSplitTheSameWay() throws {
        // Biases (Qwen2: q/k/v), a separate head size and tied (1 + w) norms (Gemma), fused
        // qkv / gate_up (Phi-3), windows (Mistral), soft-caps and post-norms (Gemma 2),
        // GPT-2's LayerNorm, learned positions, biases after the all-reduce; Mixtral's experts
        // (each expert split like a feed-forward, the router replicated: every rank picks the
        // same experts, so their all-reduces match).
        for arch in ["qwen2", "gemma", "phi3", "mistral", "gemma2", "gpt2", "mixtral"] {
            let fixture = try ArchitectureFixture(arch)
            _ = try Self.checkTwoRanks(try fixture.path("model.gguf"), ids: try fixture.ints("ids"))
        }
        // A quantized file whose column slices fall on whole Q8_0 blocks (the others' 160-
        // column w2 does not): int8 activations, quantized per 32 on each rank as in one process.
        let gpt2 = try ArchitectureFixture("gpt2")
        _ = try Self.checkTwoRanks(try gpt2.path("model-q8_0.gguf"), ids: try gpt2.ints("ids"))
    }

    @Test func badSetupsAreRefusedWithTheNumbers() throws {
        let gguf = try Fixtures.shared("fixtures/dev-odd/model-f16.gguf")
        let meta = try Fixtures.shared("fixtures/dev-odd/meta")
        // 4 query heads on 3 ranks.
        let three = Self.onRanks(3) { rank in try Self.run(try CheckpointLoader.load(path: gguf), communicator: rank) }
        for result in three {
            #expect(throws: (any Error).self) { try result.get() }
            if case let .failure(e) = result {
                #expect("\(e)".contains("the model's query head count 4 is not divisible by the 3 MPI ranks"), "\(e)")
                #expect("\(e)".contains("use mpirun -np with one of 1, 2, 4"), "\(e)")
            }
        }
        // Two Meta shards on 3 ranks.
        #expect {
            try MetaCheckpoint(path: meta, shard: TensorParallel(rank: 0, size: 3))
        } throws: { "\($0)".contains("the checkpoint has 2 model-parallel shards (consolidated.NN.pth) but 3 MPI ranks were started") && "\($0)".contains("mpirun -np 2") }
        // Q8_0: w2's 160 columns are 80 per rank, not whole blocks of 32.
        let q8 = try Fixtures.shared("fixtures/dev-odd/model-q8_0.gguf")
        for result in Self.onRanks(2, { rank in try Self.run(try CheckpointLoader.load(path: q8), communicator: rank) }) {
            if case let .failure(e) = result {
                #expect("\(e)".contains("tensor layers.0.feed_forward.w2.weight cannot be split across the MPI ranks"), "\(e)")
                #expect("\(e)".contains("takes 80 of its 160 columns, which is not a whole number of Q8_0 blocks of 32 columns"), "\(e)")
            } else {
                Issue.record("Q8_0 split into 80-column slices was accepted")
            }
        }
        // Ranks started on different files (F16 and BF16: same shapes, other types).
        let bf16 = try Fixtures.shared("fixtures/dev-odd/model-bf16.gguf")
        for result in Self.onRanks(2, { rank in
            try Self.run(try CheckpointLoader.load(path: rank.rank == 0 ? gguf : bf16), communicator: rank)
        }) {
            if case let .failure(e) = result {
                #expect("\(e)".contains("1 of the 2 MPI ranks disagree with rank 0 on the model"), "\(e)")
            } else {
                Issue.record("ranks on different model files were accepted")
            }
        }
    }
}

/// Results of the rank threads.
final class OutcomeBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var values: [Result<ModelParallelTests.Outcome, any Error>?]
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ r: Int, _ v: Result<ModelParallelTests.Outcome, any Error>) { lock.withLock { values[r] = v } }
}
