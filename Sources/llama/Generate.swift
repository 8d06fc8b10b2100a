import ArgumentParser
import Foundation
import Llama

/// Errors of the generate command that are about its input, not the model.
enum GenerateError: Error, CustomStringConvertible {
    case noPrompt
    case noTokenizer(model: String, reason: String)
    case badIDs(String)
    case emptyPromptsFile(String)
    case cannotRead(path: String, reason: String)
    case promptTooLong(tokens: Int, context: Int, maximum: Int)

    var description: String {
        switch self {
        case .noPrompt: return "no prompt: give a prompt, --ids or --prompts-file"
        case let .noTokenizer(model, reason):
            return "\(model): no tokenizer to encode the prompt (\(reason)); give --tokenizer, or token ids with --ids"
        case let .badIDs(s): return "--ids: \"\(s)\" is not a list of non-negative integers separated by spaces"
        case let .emptyPromptsFile(p): return "\(p): no prompts (one prompt per non-empty line)"
        case let .cannotRead(path, reason): return "\(path): cannot read: \(reason)"
        case let .promptTooLong(tokens, context, maximum):
            if context >= maximum {
                return "the prompt has \(tokens) tokens, more than the model's maximum context of \(maximum) tokens"
            }
            return "the prompt has \(tokens) tokens, more than the context of \(context) tokens (raise --context, up to the model's maximum of \(maximum))"
        }
    }
}

struct Generate: AsyncParsableCommand, DistributedCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a model checkpoint.",
        discussion: """
        Examples:
          llama generate --model models/tiny-random.gguf "Once upon a time"
          llama generate --model M --temperature 0 --ids "1 15043 3186" --print-ids --max-tokens 8
        Special-token text in the prompt (such as <|begin_of_text|>) becomes special ids. \
        Generation stops at an end-of-generation token, a --stop text, --max-tokens, or when the \
        context is full (said on stderr).
        Under `mpirun -np N` (a build with the MPI trait) the model is split across the N ranks \
        as Meta's model-parallel code splits it: a Meta directory needs N shards (rank r reads \
        consolidated.0r.pth); other formats are sliced on load. Rank 0 samples and prints.
          mpirun -np 2 llama generate --model llama-2-13b/ --threads 1 "Once upon a time"
        """)

    @Option(help: "Model checkpoint: a GGUF or llama2.c file, or a Hugging Face or Meta directory.")
    var model: String

    @Option(help: "Tokenizer file (tokenizer.model, tokenizer.json, GGUF), overriding the one inside or beside the checkpoint.")
    var tokenizer: String?

    @Option(help: "How the KV cache stores keys and values: f32 (exact), f16 (half the memory, as llama.cpp's default) or q8_0 (llama.cpp's Q8_0 blocks: about a quarter; head size a multiple of 32).")
    var cacheType: KVCacheType = .f32

    @Option(name: [.customShort("t"), .long], parsing: .unconditional, help: "Threads (default: every core; more than the cores available are clamped).")
    var threads: Int?

    @Option(parsing: .unconditional, help: "Sampling temperature; 0 picks the most likely token every time.")
    var temperature: Float = 0.8

    @Option(parsing: .unconditional, help: "Sample from the k most likely tokens only (0 = all).")
    var topK: Int = 40

    @Option(parsing: .unconditional, help: "Sample from the smallest set of tokens whose probabilities reach p (1 = off).")
    var topP: Float = 0.95

    @Option(parsing: .unconditional, help: "Drop tokens less likely than min-p times the most likely one (0 = off).")
    var minP: Float = 0.05

    @Option(parsing: .unconditional, help: "Penalty for tokens among the last 64 (1 = off).")
    var repeatPenalty: Float = 1.0

    @Option(parsing: .unconditional, help: "Seed of the sampler's random generator (default: a random seed, shown with --verbose).")
    var seed: UInt64?

    @Option(parsing: .unconditional, help: "Maximum number of tokens to generate per prompt.")
    var maxTokens: Int = 128

    @Option(parsing: .unconditional, help: "Context size (prompt + generated tokens), at most the model's maximum.")
    var context: Int?

    @Option(help: "Stop when this text is generated (not printed). Repeatable.")
    var stop: [String] = []

    @Flag(help: "Print prompt and generation speed (tokens/s) on stderr.")
    var verbose = false

    @Option(help: "File with one prompt per line, generated as one batch.")
    var promptsFile: String?

    @Option(help: "Prompt as token ids separated by spaces, used exactly as given (no BOS added, no tokenizer needed).")
    var ids: String?

    @Flag(help: "Print the generated token ids instead of text.")
    var printIds = false

    @Option(help: "Write the logits of the last prompt position (of the first prompt) to this file as a JSON array of floats.")
    var logitsOut: String?

    @Flag(help: "Do not add the beginning-of-sequence token to a text prompt.")
    var noBos = false

    @Argument(help: "The prompt text.")
    var prompt: String?

    func validate() throws {
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be 0 or more") }
        guard temperature >= 0 else { throw ValidationError("--temperature must be 0 or more") }
        guard topK >= 0 else { throw ValidationError("--top-k must be 0 or more") }
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        guard minP >= 0, minP <= 1 else { throw ValidationError("--min-p must be in [0, 1]") }
        guard repeatPenalty > 0 else { throw ValidationError("--repeat-penalty must be positive") }
        if let context { guard context > 0 else { throw ValidationError("--context must be positive") } }
        if let threads { guard threads >= 1 else { throw ValidationError("--threads must be at least 1") } }
        let sources = [prompt != nil, ids != nil, promptsFile != nil].filter { $0 }.count
        guard sources <= 1 else { throw ValidationError("give only one of: a prompt, --ids, --prompts-file") }
    }

    func run() async throws {
        // Model-parallel under mpirun: each rank its slice of every layer (see TensorParallel).
        let ranks = Job.communicator.size
        let communicator = TimedCommunicator(Job.communicator)
        var checkpoint = try CheckpointLoader.load(path: model, tokenizerPath: tokenizer,
                                                   shard: ranks > 1 ? TensorParallel(communicator) : nil)
        // Phi-3's LongRoPE: a context beyond the original one runs the long factors.
        if let context { checkpoint = LongRopeScaling.withContext(checkpoint, context) }
        let tok = checkpoint.tokenizer

        let prompts = try promptIDs(tokenizer: tok, checkpoint: checkpoint)
        let workers = clampedThreads(threads, flag: "--threads")
        let llama = try LlamaModel(checkpoint: checkpoint, parallel: ParallelFor(workers: workers), communicator: communicator)
        if ranks > 1 {
            // Every rank must run the same steps: the same prompts, limits and stop rules.
            var f = Fingerprint()
            f.add("\(prompts) \(maxTokens) \(context ?? -1) \(stop) \(temperature) \(topK) \(topP) \(minP) \(repeatPenalty) \(seed ?? 0) \(logitsOut != nil) \(cacheType)")
            try communicator.checkAgreement(f.value, "generation settings (prompt, --max-tokens, --context, --stop, sampling, --cache-type)")
        }
        let setupCalls = communicator.calls, setupSeconds = communicator.seconds
        let maximum = llama.config.maxContext
        if let context, context > maximum {
            printError("note: --context \(context) is more than the model's maximum of \(maximum) tokens; using \(maximum)")
        }
        let contextUsed = min(context ?? maximum, maximum)
        // Without a tokenizer there is no text to show: say so, and show the ids.
        let showIDs = printIds || tok == nil
        if tok == nil && !printIds {
            let reason = (checkpoint as? TokenizerLoadReporting)?.tokenizerError.map { "\($0)" } ?? "none found"
            printError("note: no tokenizer (\(reason)): printing token ids instead of text")
        }

        // Rank 0's seed when none is given (rank 0 samples; the others follow its tokens).
        let chosenSeed = ranks > 1 ? communicator.broadcast(seed ?? UInt64.random(in: 0...UInt64(UInt32.max)))
            : seed ?? UInt64.random(in: 0...UInt64(UInt32.max))
        let sampling = SamplingParameters(temperature: temperature, topK: topK, topP: topP, minP: minP,
                                          repeatPenalty: repeatPenalty, seed: chosenSeed)
        if verbose {
            let c = checkpoint.config
            printError("model: \(checkpoint.path): \(c.architecture.name), dim \(c.dim), \(c.layerCount) layers, \(c.headCount) heads (\(c.kvHeadCount) kv), vocab \(c.vocabSize), seed \(chosenSeed)")
            if ranks > 1 {
                let l = llama.config
                printError("model-parallel: \(ranks) ranks, each \(l.headCount) heads (\(l.kvHeadCount) kv), feed-forward \(l.hiddenDim) of \(c.hiddenDim)")
            }
            printError("attention: \(c.architecture.attentionSummary)")
        }
        if let longest = prompts.map(\.count).max(), longest > contextUsed {
            throw GenerateError.promptTooLong(tokens: longest, context: contextUsed, maximum: maximum)
        }

        // The engine `llama serve` runs: one slot per prompt (all prompts form one batch),
        // each slot's cache sized for its prompt and --max-tokens, within the context.
        let longest = prompts.map(\.count).max() ?? 1
        let (wanted, overflow) = longest.addingReportingOverflow(maxTokens)
        let engine = try Engine(model: llama, tokenizer: tok, slots: prompts.count,
                                context: overflow ? contextUsed : min(contextUsed, wanted),
                                prefillChunk: 512, maxQueue: prompts.count,
                                stopIDs: endIDs(tokenizer: tok, checkpoint: checkpoint), cacheType: cacheType)
        // All at once, so the batches (and the ranks' forward calls) are the same on every run.
        let streams = try engine.submit(batch: prompts.enumerated().map { i, p in
            EngineRequest(prompt: p, maxTokens: maxTokens, sampling: sampling, stopStrings: stop,
                          keepPromptLogits: logitsOut != nil && i == 0)
        })

        // One prompt streams; a batch prints each completion when it is done.
        let streaming = prompts.count == 1
        let stdout = FileHandle.standardOutput
        let clock = ContinuousClock()
        let start = clock.now
        let completions = try await withThrowingTaskGroup(of: (Int, String, EngineCompletion?).self) { group in
            for (i, stream) in streams.enumerated() {
                group.addTask {
                    var output = ""
                    var done: EngineCompletion? = nil
                    for try await event in stream {
                        switch event {
                        case let .piece(piece):
                            var shown = piece.text
                            if showIDs { shown = piece.id.map { "\($0) " } ?? "" }
                            if streaming { stdout.write(Data(shown.utf8)) } else { output += shown }
                        case let .finished(c): done = c
                        }
                    }
                    return (i, output, done)
                }
            }
            var all: [(Int, String, EngineCompletion?)] = []
            for try await r in group { all.append(r) }
            return all.sorted { $0.0 < $1.0 }
        }
        let wall = (clock.now - start)
        for (i, output, _) in completions {
            if streaming {
                stdout.write(Data("\n".utf8))
            } else {
                stdout.write(Data("[\(i + 1)] \(output)\n".utf8))
            }
        }

        for (i, _, c) in completions {
            guard let c, c.finishReason == .contextFull else { continue }
            let which = prompts.count > 1 ? "prompt \(i + 1): " : ""
            let limit = contextUsed < maximum ? "raise --context, up to the model's maximum of \(maximum)" : "that is the model's maximum"
            printError("note: \(which)stopped after \(c.generatedTokens) of --max-tokens \(maxTokens) tokens: the context of \(contextUsed) tokens is full (prompt: \(prompts[i].count) tokens); \(limit)")
        }

        if let logitsOut, communicator.isRoot, let logits = completions.first?.2?.promptLogits {
            try writeAtomically(Array(jsonArray(logits).utf8), to: logitsOut)
        }
        if verbose {
            // Prompts are read together, then generated together: the batch's times.
            let done = completions.compactMap(\.2)
            let promptTokens = done.reduce(0) { $0 + $1.promptTokens }
            let generated = done.reduce(0) { $0 + $1.generatedTokens }
            let promptSeconds = done.map(\.promptSeconds).max() ?? 0
            let total = Double(wall.components.seconds) + Double(wall.components.attoseconds) * 1e-18
            let generationSeconds = max(0, total - promptSeconds)
            printError(String(format: "prompt: %d tokens in %.3f s, %.1f tokens/s", promptTokens, promptSeconds, promptSeconds > 0 ? Double(promptTokens) / promptSeconds : 0))
            printError(String(format: "generation: %d tokens in %.3f s, %.1f tokens/s", generated, generationSeconds, generationSeconds > 0 ? Double(generated) / generationSeconds : 0))
            if ranks > 1 {
                // Rank 0's time in collectives (all-reduces, gathers, the token's broadcast),
                // waiting for the other ranks included, per forward step.
                let steps = max(1, generated + (promptTokens > 0 ? 1 : 0))
                let seconds = communicator.seconds - setupSeconds
                printError(String(format: "model-parallel: %d ranks, %d collectives, %.3f s communicating (%.2f ms per token)",
                                  ranks, communicator.calls - setupCalls, seconds, 1000 * seconds / Double(steps)))
            }
        }
    }

    /// Ids that end generation: the tokenizer's, or without one, a GGUF's recorded EOS (so
    /// `--ids` on a file whose vocabulary cannot be loaded still stops where it should).
    func endIDs(tokenizer tok: (any Tokenizer)?, checkpoint: any Checkpoint) -> Set<TokenID> {
        if let tok { return tok.endOfGenerationIDs }
        if let gguf = checkpoint as? GGUFCheckpoint, let eos = try? gguf.file.int("tokenizer.ggml.eos_token_id") { return [eos] }
        return []
    }

    /// The prompts as ids: `--ids` as given, or text encoded with BOS unless `--no-bos`.
    func promptIDs(tokenizer tok: (any Tokenizer)?, checkpoint: any Checkpoint) throws -> [[TokenID]] {
        if let ids {
            guard let parsed = parseTokenIDs(ids) else { throw GenerateError.badIDs(ids) }
            return [parsed]
        }
        var texts: [String]
        if let promptsFile {
            let data: Data
            do { data = try Data(contentsOf: URL(fileURLWithPath: promptsFile)) } catch {
                throw GenerateError.cannotRead(path: promptsFile, reason: error.localizedDescription)
            }
            texts = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).map(String.init)
                .filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            guard !texts.isEmpty else { throw GenerateError.emptyPromptsFile(promptsFile) }
        } else if let prompt {
            texts = [prompt]
        } else {
            throw GenerateError.noPrompt
        }
        guard let tok else {
            let reason = (checkpoint as? TokenizerLoadReporting)?.tokenizerError.map { "\($0)" } ?? "none found"
            throw GenerateError.noTokenizer(model: checkpoint.path, reason: reason)
        }
        return texts.map { tok.encode($0, addBOS: !noBos && tok.addsBOSByDefault, allowSpecial: true) }
    }
}

/// Floats as a JSON array; Swift prints the shortest text that reads back as the same Float.
func jsonArray(_ values: [Float]) -> String {
    "[" + values.map { $0.isFinite ? "\($0)" : "null" }.joined(separator: ",") + "]\n"
}

