import ArgumentParser
import Foundation
import Llama

struct TrainTokenizer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-tokenizer",
        abstract: "Train a byte-level BPE tokenizer (Llama 3 pre-tokenizer) on a text corpus.",
        discussion: """
        The vocabulary size counts the 256 byte tokens plus the merges; BOS and EOS come right \
        after (so --vocab-size 256 means plain bytes, with BOS 256 and EOS 257). The output is \
        in tiktoken format, the same format as Meta's Llama 3 tokenizer.model, so every command \
        that takes --tokenizer reads it.

        Example: llama train-tokenizer tinyshakespeare.txt --vocab-size 4096 --out shakespeare.tiktoken
        """)

    @Argument(help: "Text corpus (UTF-8).")
    var corpus: String

    @Option(name: .long, parsing: .unconditional, help: "Vocabulary size: 256 byte tokens plus merges (BOS/EOS not counted).")
    var vocabSize: Int

    @Option(name: .long, help: "Output tokenizer file (tiktoken format), written atomically.")
    var out: String

    @Flag(name: .long, help: "Print one JSON summary line.")
    var json = false

    func run() throws {
        let text = try readText(corpus, lossy: false)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let trainer = try BPETrainer(vocabularySize: vocabSize)
        let result = trainer.train(text)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        try BPETrainer.writeTiktoken(result.tokens, to: out)
        let tokenizer = try TiktokenFile.load(path: out)
        let tokens = tokenizer.encode(text, allowSpecial: false).count
        let bytes = text.utf8.count
        let bpt = Double(bytes) / Double(max(tokens, 1))
        if json {
            print("{\"seconds\": \(seconds), \"vocab\": \(result.tokens.count), \"merges\": \(result.mergeCount), \"tokens\": \(tokens), \"bytes_per_token\": \(bpt)}")
        } else {
            print("trained \(result.tokens.count) tokens (\(result.mergeCount) merges) from \(result.distinctPieces) distinct pieces in \(String(format: "%.3f", seconds)) s")
            print("wrote \(out): BOS \(result.tokens.count), EOS \(result.tokens.count + 1)")
            print("corpus: \(bytes) bytes → \(tokens) tokens (\(String(format: "%.3f", bpt)) bytes per token)")
        }
    }
}
