import ArgumentParser
import Foundation
import Llama

struct Chat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Chat with a model in the terminal, with its own chat template.",
        discussion: """
        Each line you type is a user turn; the reply streams as it is generated. The KV cache \
        is kept across turns, so a turn evaluates only its new tokens. When the conversation \
        no longer fits the context, the oldest turns after the system prompt are dropped.

        Commands: /reset, /system TEXT, /save FILE, /load FILE, /help, /exit (or Ctrl-D).
        Ctrl-C stops the reply being generated. Reading from a pipe works too: each line is a \
        user turn and each reply is printed on its own line.

        Example:
          llama chat --model model.gguf --system "You are terse." --temperature 0.7
        """)

    @Option(help: "Model checkpoint: a GGUF or llama2.c file, or a Hugging Face or Meta directory.")
    var model: String

    @Option(help: "Tokenizer file, overriding the one inside or beside the checkpoint.")
    var tokenizer: String?

    @Option(help: "A Jinja chat template file to use instead of the model's own.")
    var chatTemplate: String?

    @Option(help: "The system prompt.")
    var system: String?

    @Option(help: "Sampling temperature; 0 picks the most likely token every time.")
    var temperature: Float = 0.8

    @Option(help: "Sample from the k most likely tokens only (0 = all).")
    var topK: Int = 40

    @Option(help: "Sample from the smallest set of tokens whose probabilities reach p (1 = off).")
    var topP: Float = 0.95

    @Option(help: "Drop tokens less likely than min-p times the most likely one (0 = off).")
    var minP: Float = 0.05

    @Option(help: "Penalty for tokens among the last 64 (1 = off).")
    var repeatPenalty: Float = 1.0

    @Option(help: "Seed of the sampler's random generator (default: a random seed).")
    var seed: UInt64?

    @Option(help: "Maximum number of tokens of one reply.")
    var maxTokens: Int = 512

    @Option(help: "Context size (the whole conversation), at most the model's maximum.")
    var context: Int?

    @Option(help: "How the KV cache stores keys and values: f32 (exact), f16 (half the memory, as llama.cpp's default) or q8_0 (llama.cpp's Q8_0 blocks: about a quarter; head size a multiple of 32).")
    var cacheType: KVCacheType = .f32

    @Flag(help: "After each reply, print on stderr the prompt tokens evaluated (and reused from the cache) and the speeds.")
    var verbose = false

    func validate() throws {
        guard maxTokens > 0 else { throw ValidationError("--max-tokens must be positive") }
        guard temperature >= 0 else { throw ValidationError("--temperature must be 0 or more") }
        if let context { guard context > 0 else { throw ValidationError("--context must be positive") } }
    }

    func run() async throws {
        let checkpoint = try CheckpointLoader.load(path: model, tokenizerPath: tokenizer)
        guard let tok = checkpoint.tokenizer else {
            throw CLIError("\(model): no tokenizer (give --tokenizer)")
        }
        let (template, special) = try chooseTemplate(tokenizer: tok)
        let llama = try LlamaModel(checkpoint: checkpoint)
        var options = GenerationOptions(
            maxTokens: maxTokens, context: context,
            sampling: SamplingParameters(temperature: temperature, topK: topK, topP: topP, minP: minP,
                                         repeatPenalty: repeatPenalty, seed: seed ?? UInt64.random(in: 0...UInt64(UInt32.max))),
            stopIDs: tok.endOfGenerationIDs)
        options.cacheType = cacheType
        let session = try ChatSession(model: llama, tokenizer: tok, template: template, specialTokens: special, options: options)
        if let system { session.setSystem(system) }

        let interactive = isatty(STDIN_FILENO) == 1
        let interrupt = InterruptFlag()
        // Ctrl-C stops a reply; the handler runs on a dispatch queue, the loop polls the flag.
        signal(SIGINT, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { interrupt.set(true) }
        source.resume()
        defer { source.cancel() }

        let out = FileHandle.standardOutput
        if interactive { printError("Chat with \(model). /help for commands, Ctrl-D to quit.") }
        while true {
            if interactive { FileHandle.standardError.write(Data("> ".utf8)) }
            guard let line = readLine(strippingNewline: true) else { break }
            if line.hasPrefix("/") {
                if try command(line, session) { break }
                continue
            }
            if line.isEmpty && interactive { continue }
            interrupt.set(false)
            let (_, stats) = try await session.reply(to: line) { _, piece in
                out.write(Data(piece.utf8))
                return !interrupt.get()
            }
            out.write(Data("\n".utf8))
            if stats.droppedMessages > 0 {
                printError("note: dropped the \(stats.droppedMessages) oldest message(s) to fit the context of \(session.contextSize)")
            }
            if verbose {
                printError(String(format: "prompt: %d tokens evaluated (%d reused from the cache) in %.3f s, %.1f tokens/s; reply: %d tokens in %.3f s, %.1f tokens/s",
                                  stats.promptTokensEvaluated, stats.promptTokens - stats.promptTokensEvaluated, stats.promptSeconds,
                                  stats.promptTokensPerSecond, stats.generatedTokens, stats.generationSeconds, stats.generationTokensPerSecond))
            }
        }
    }

    /// Runs a `/command`; returns true to quit.
    private func command(_ line: String, _ session: ChatSession) throws -> Bool {
        let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
        let argument = parts.count > 1 ? parts[1] : ""
        switch parts[0] {
        case "/exit", "/quit": return true
        case "/reset":
            session.reset()
            printError("(conversation cleared)")
        case "/system":
            session.setSystem(argument.isEmpty ? nil : argument)
            session.reset()
            printError(argument.isEmpty ? "(system prompt removed)" : "(system prompt set; conversation cleared)")
        case "/save":
            guard !argument.isEmpty else { printError("usage: /save FILE"); break }
            do {
                try JinjaValue.list(session.messages).jsonText().write(toFile: argument, atomically: true, encoding: .utf8)
                printError("(saved \(session.messages.count) messages to \(argument))")
            } catch { printError("cannot save: \(error)") }
        case "/load":
            guard !argument.isEmpty else { printError("usage: /load FILE"); break }
            do {
                let text = try String(contentsOfFile: argument, encoding: .utf8)
                try session.load(messages: try JinjaValue.parseJSON(text))
                printError("(loaded \(session.messages.count) messages)")
            } catch { printError("cannot load \(argument): \(error)") }
        case "/help":
            printError("/reset  clear the conversation (keeps the system prompt)\n/system TEXT  set the system prompt (and clear)\n/save FILE  write the messages as JSON\n/load FILE  read messages saved with /save\n/exit  quit (or Ctrl-D)")
        default:
            printError("unknown command \(parts[0]); /help lists them")
        }
        return false
    }

    /// The template: --chat-template, the model's own, or a built-in format with a notice
    /// (the choice `llama serve` makes too).
    private func chooseTemplate(tokenizer tok: any Tokenizer) throws -> (ChatTemplate, [String: String]) {
        let chat = try ModelChat(model: model, tokenizer: tok, templateFile: chatTemplate)
        if let fallback = chat.fallback {
            printError("note: \(model) has no chat template; using the built-in \(fallback.displayName) format")
        }
        return (chat.template, chat.specialTokens)
    }
}

/// A flag set from a signal handler's queue and read by the generation loop.
final class InterruptFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set(_ v: Bool) { lock.lock(); value = v; lock.unlock() }
    func get() -> Bool { lock.lock(); defer { lock.unlock() }; return value }
}
