import ArgumentParser
import Foundation
import Llama

/// Errors of the inspect command that are about its input.
enum InspectCommandError: Error, CustomStringConvertible {
    case noPrompt
    case noTokenizer(model: String, reason: String)
    case badIDs(String)

    var description: String {
        switch self {
        case .noPrompt: return "no prompt: give a prompt or --ids"
        case let .noTokenizer(model, reason):
            return "\(model): no tokenizer to encode the prompt (\(reason)); give --tokenizer, or token ids with --ids"
        case let .badIDs(s): return "--ids: \"\(s)\" is not a list of non-negative integers separated by spaces"
        }
    }
}

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Walk a prompt through the model step by step: shapes, numbers, attention, logit lens.",
        discussion: """
        Runs the engine's own forward pass with a tap at every step and prints the walk-through: \
        tokens, embedding, for each layer the attention norm, q/k/v per head (GQA grouping), RoPE \
        angles, the scores of --head before and after the causal mask and their softmax, the \
        attention output, wo, the residual, the feed-forward norm, gate/up/activation/down and \
        the residual; then the final norm, the logits, the top-k next tokens and the logit lens. \
        The last logits are bit for bit those of `llama generate --logits-out`.

        Examples:
          llama inspect --model models/shakespeare.gguf "ROMEO: But soft"
          llama inspect --model M --ids "1 15043 3186" --layer 0 --head 2 --json trace.json
        """)

    @Option(help: "Model checkpoint: a GGUF or llama2.c file, or a Hugging Face or Meta directory.")
    var model: String

    @Option(help: "Tokenizer file (tokenizer.model, tokenizer.json, GGUF), overriding the one inside or beside the checkpoint.")
    var tokenizer: String?

    @Option(help: "Prompt as token ids separated by spaces, used exactly as given (no BOS added).")
    var ids: String?

    @Flag(help: "Do not add the beginning-of-sequence token to a text prompt.")
    var noBos = false

    @Option(parsing: .unconditional, help: "Trace only this layer step by step (default: every layer; the first is shown in full).")
    var layer: Int?

    @Option(parsing: .unconditional, help: "Keep only this attention head (default: all; the report shows head 0's matrices).")
    var head: Int?

    @Option(parsing: .unconditional, help: "Position whose values are printed (default: the last).")
    var position: Int?

    @Option(parsing: .unconditional, help: "Number of next-token candidates to list.")
    var topK: Int = 10

    @Option(help: "Write the trace as JSON (tokens, pieces, residual, final_norm, attention, last_logits, top_k, logit_lens).")
    var json: String?

    @Option(help: "Write PNG heatmaps into this directory (attention per layer and head, RoPE angles, residual norms, logit lens).")
    var plots: String?

    @Option(help: "Write a self-contained HTML walk-through (images embedded) to this file.")
    var html: String?

    @Option(name: [.customShort("t"), .long], parsing: .unconditional, help: "Threads (default: every core).")
    var threads: Int?

    @Argument(help: "The prompt text.")
    var prompt: String?

    func validate() throws {
        guard topK >= 1 else { throw ValidationError("--top-k must be at least 1") }
        if let layer { guard layer >= 0 else { throw ValidationError("--layer must be 0 or more") } }
        if let head { guard head >= 0 else { throw ValidationError("--head must be 0 or more") } }
        if let position { guard position >= 0 else { throw ValidationError("--position must be 0 or more") } }
        if let threads { guard threads >= 1 else { throw ValidationError("--threads must be at least 1") } }
        guard !(prompt != nil && ids != nil) else { throw ValidationError("give a prompt or --ids, not both") }
    }

    func run() throws {
        let checkpoint = try CheckpointLoader.load(path: model, tokenizerPath: tokenizer)
        let tok = checkpoint.tokenizer
        let tokens: [TokenID]
        if let ids {
            guard let parsed = parseTokenIDs(ids) else { throw InspectCommandError.badIDs(ids) }
            tokens = parsed
        } else if let prompt {
            guard let tok else {
                let reason = (checkpoint as? TokenizerLoadReporting)?.tokenizerError.map { "\($0)" } ?? "none found"
                throw InspectCommandError.noTokenizer(model: checkpoint.path, reason: reason)
            }
            tokens = tok.encode(prompt, addBOS: !noBos && tok.addsBOSByDefault, allowSpecial: true)
        } else {
            throw InspectCommandError.noPrompt
        }
        let llama = try LlamaModel(checkpoint: checkpoint, parallel: ParallelFor(workers: clampedThreads(threads, flag: "--threads")))
        let options = InspectionOptions(layer: layer, head: head, position: position, topK: topK)
        let inspection = try Inspection.run(model: llama, tokens: tokens, tokenizer: tok, options: options)

        FileHandle.standardOutput.write(Data(InspectionReport.text(inspection, model: model).utf8))
        if let json {
            try AtomicFile.write(Data(InspectionJSON.encode(inspection)), to: json)
            printError("wrote \(json)")
        }
        if let plots {
            let written = try InspectionPlots.write(inspection, to: plots)
            printError("wrote \(written.count) PNG files to \(plots)")
        }
        if let html {
            try AtomicFile.write(Data(try InspectionHTML.page(inspection, model: model).utf8), to: html)
            printError("wrote \(html)")
        }
    }
}
