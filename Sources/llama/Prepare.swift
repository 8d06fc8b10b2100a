import ArgumentParser
import Foundation
import Llama

struct Prepare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tokenize a corpus into token shards with a train/validation split.",
        discussion: """
        Writes DIR/train-NNNNN.tokens and DIR/val-NNNNN.tokens (uint16 ids when the vocabulary \
        fits, else uint32, after a 32-byte header), a copy of the tokenizer, and DIR/meta.json \
        with the summary. The first (1 - val-fraction) of the tokens train, the rest validate.

        Example: llama prepare tinyshakespeare.txt --tokenizer shakespeare.tiktoken --out data/shakespeare
        """)

    @Argument(help: "Text corpus (UTF-8).")
    var corpus: String

    @Option(name: .long, help: "Tokenizer file (any kind `llama tokenize` reads).")
    var tokenizer: String

    @Option(name: .long, help: "Output directory.")
    var out: String

    @Option(name: .long, parsing: .unconditional, help: "Fraction of the tokens, at the end, kept for validation.")
    var valFraction: Double = 0.1

    @Option(name: .long, parsing: .unconditional, help: "Most tokens per shard file.")
    var shardTokens: Int = 50_000_000

    @Flag(name: .long, help: "Replace invalid UTF-8 in the corpus with U+FFFD instead of failing.")
    var lossy = false

    func validate() throws {
        guard valFraction >= 0 && valFraction < 1 else { throw ValidationError("--val-fraction must be in [0, 1)") }
        guard shardTokens > 0 else { throw ValidationError("--shard-tokens must be positive") }
    }

    func run() throws {
        let tok = try TokenizerLoader.load(path: tokenizer)
        let text = try readText(corpus, lossy: lossy)
        let ids = tok.encode(text, allowSpecial: false)
        let trainCount = Int(Double(ids.count) * (1 - valFraction))
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var files: [String: [String]] = ["train": [], "val": []]
        for (split, range) in [("train", 0..<trainCount), ("val", trainCount..<ids.count)] {
            var start = range.lowerBound
            var index = 0
            repeat {
                let end = min(start + shardTokens, range.upperBound)
                let name = "\(split)-\(String(index).leftPad(5)).tokens"
                try AtomicFile.write(TokenShard.encode(ids[start..<end], vocabularySize: tok.vocabularySize), to: out + "/" + name)
                files[split, default: []].append(name)
                start = end
                index += 1
            } while start < range.upperBound
        }
        let tokCopy = "tokenizer" + (URL(fileURLWithPath: tokenizer).pathExtension.isEmpty ? "" : "." + URL(fileURLWithPath: tokenizer).pathExtension)
        try AtomicFile.write(try Data(contentsOf: URL(fileURLWithPath: tokenizer)), to: out + "/" + tokCopy)
        let bytes = text.utf8.count
        let meta: [String: Any] = [
            "corpus": corpus, "tokenizer": tokCopy, "vocab_size": tok.vocabularySize,
            "bos_id": tok.bosID as Any, "eos_id": tok.eosID as Any,
            "bytes": bytes, "tokens": ids.count, "bytes_per_token": Double(bytes) / Double(max(ids.count, 1)),
            "train_tokens": trainCount, "val_tokens": ids.count - trainCount, "val_fraction": valFraction,
            "train_files": files["train"] ?? [], "val_files": files["val"] ?? [],
        ]
        let json = try JSONSerialization.data(withJSONObject: meta, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(json, to: out + "/meta.json")
        print("\(corpus): \(bytes) bytes → \(ids.count) tokens (\(String(format: "%.3f", Double(bytes) / Double(max(ids.count, 1)))) bytes per token)")
        print("train: \(trainCount) tokens, val: \(ids.count - trainCount) tokens → \(out)")
    }
}

extension String {
    func leftPad(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
