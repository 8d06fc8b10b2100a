import ArgumentParser
import Foundation
import Llama
import LlamaServer

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve a model over an OpenAI-compatible HTTP API, with continuous batching.",
        discussion: """
        Routes: GET /health, GET /v1/models, POST /v1/completions, POST /v1/chat/completions \
        (the model's chat template), POST /tokenize, POST /detokenize. Up to --parallel requests \
        generate at once, sharing every forward pass; more wait (up to --max-queue, then 503). \
        Each slot keeps its last sequence's KV cache: a request that starts with the same tokens \
        (the earlier turns of a chat) evaluates only the rest. SIGINT/SIGTERM: stop accepting, \
        finish the requests in flight, exit 0. One log line per request on stderr.

        Example:
          llama serve --model model.gguf --port 8080 --parallel 4
          curl http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \\
            -d '{"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 32}'
        """)

    @Option(help: "Model checkpoint: a GGUF or llama2.c file, or a Hugging Face or Meta directory.")
    var model: String

    @Option(help: "Tokenizer file, overriding the one inside or beside the checkpoint.")
    var tokenizer: String?

    @Option(help: "Address to listen on (loopback by default).")
    var host = "127.0.0.1"

    @Option(parsing: .unconditional, help: "Port to listen on (0: any free port; the one chosen is printed).")
    var port = 8080

    @Option(parsing: .unconditional, help: "Requests generated at once (slots, each with its own KV cache).")
    var parallel = 4

    @Option(parsing: .unconditional, help: "Context of each slot (prompt + generated tokens), at most the model's maximum.")
    var context: Int?

    @Option(help: "Require 'Authorization: Bearer KEY' on every route but /health.")
    var apiKey: String?

    @Option(help: "A Jinja chat template file to use instead of the model's own.")
    var chatTemplate: String?

    @Option(parsing: .unconditional, help: "Requests that may wait for a slot; more get 503 with Retry-After.")
    var maxQueue = 64

    @Option(parsing: .unconditional, help: "Largest request body in bytes; larger ones get 413.")
    var maxBody = 1 << 20

    @Option(parsing: .unconditional, help: "Prompt positions evaluated per step beside the running streams.")
    var prefillChunk = 256

    @Option(help: "How the KV cache stores keys and values: f32 (exact), f16 (half the memory, as llama.cpp's default) or q8_0 (llama.cpp's Q8_0 blocks: about a quarter; head size a multiple of 32).")
    var cacheType: KVCacheType = .f32

    @Flag(help: "Log every step that reads prompt positions (rows and milliseconds): the delay a prompt adds to the running streams.")
    var logSteps = false

    @Option(name: [.customShort("t"), .long], parsing: .unconditional, help: "Threads (default: every core).")
    var threads: Int?

    @Option(help: "The model name /v1/models lists (default: the file name).")
    var alias: String?

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard parallel >= 1 else { throw ValidationError("--parallel must be at least 1") }
        guard maxQueue >= 0 else { throw ValidationError("--max-queue must be 0 or more") }
        guard maxBody >= 1 else { throw ValidationError("--max-body must be positive") }
        guard prefillChunk >= 1 else { throw ValidationError("--prefill-chunk must be positive") }
        if let context { guard context > 0 else { throw ValidationError("--context must be positive") } }
        if let threads { guard threads >= 1 else { throw ValidationError("--threads must be at least 1") } }
    }

    func run() async throws {
        var checkpoint = try CheckpointLoader.load(path: model, tokenizerPath: tokenizer)
        // Phi-3's LongRoPE: a context beyond the original one runs the long factors.
        if let context { checkpoint = LongRopeScaling.withContext(checkpoint, context) }
        guard let tok = checkpoint.tokenizer else { throw CLIError("\(model): no tokenizer (give --tokenizer)") }
        let chat = try ModelChat(model: model, tokenizer: tok, templateFile: chatTemplate)
        if let fallback = chat.fallback {
            printError("note: \(model) has no chat template; /v1/chat/completions uses the built-in \(fallback.displayName) format")
        }
        let llama = try LlamaModel(checkpoint: checkpoint, parallel: ParallelFor(workers: clampedThreads(threads, flag: "--threads")))
        if let context, context > llama.config.maxContext {
            printError("note: --context \(context) is more than the model's maximum of \(llama.config.maxContext) tokens; using \(llama.config.maxContext)")
        }
        var stepLog: (@Sendable (EngineStepReport) -> Void)? = nil
        if logSteps {
            stepLog = { step in
                guard step.prefillRows > 0 else { return }
                printError(String(format: "step: %d decode + %d prompt rows, %.0fms", step.decodeRows, step.prefillRows, step.seconds * 1000))
            }
        }
        let engine = try Engine(model: llama, tokenizer: tok, slots: parallel, context: context,
                                prefillChunk: prefillChunk, maxQueue: maxQueue, cacheType: cacheType, onStep: stepLog)
        var options = ServerOptions()
        options.host = host
        options.port = port
        options.apiKey = apiKey
        options.maxBody = maxBody
        options.modelName = alias ?? URL(fileURLWithPath: model).lastPathComponent
        let server = OpenAIServer(engine: engine, tokenizer: tok, chat: chat, options: options)
        let (host, slots, ctx) = (host, parallel, engine.context)
        try await server.run { port in
            // Tests and scripts wait for this line (with --port 0 it tells the port chosen).
            FileHandle.standardOutput.write(Data("llama serve: listening on http://\(host):\(port) (\(slots) slots, context \(ctx))\n".utf8))
        }
        printError("llama serve: stopped")
    }
}
