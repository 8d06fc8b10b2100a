import ArgumentParser
import Foundation
import Llama

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed: tokenizer throughput (and, later, prompt processing and generation).",
        subcommands: [BenchTokenizer.self])
}

struct BenchTokenizer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Encode throughput of a tokenizer over a file, one thread, best of several runs.",
        discussion: "Example: llama bench tokenizer --tokenizer tokenizer.model --file tinyshakespeare.txt --json")

    @Option(name: .long, help: "Tokenizer file (tokenizer.model, GGUF or tokenizer.bin).")
    var tokenizer: String

    @Option(name: .long, help: "Text file to encode (UTF-8).")
    var file: String

    @Option(name: [.short, .long], help: "Number of timed runs; the best is reported.")
    var runs = 5

    @Flag(name: .long, help: "Let special-token text become special ids.")
    var special = false

    @Flag(name: .long, help: "Print one JSON line instead of a table.")
    var json = false

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
    }

    func run() throws {
        let tok = try TokenizerLoader.load(path: tokenizer)
        let text = try readText(file, lossy: false)
        let bytes = text.utf8.count
        var best = Double.infinity
        var tokens = 0
        _ = tok.encode(String(text.prefix(10_000)), allowSpecial: special)  // warm up lazy tables
        for _ in 0..<runs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let ids = tok.encode(text, allowSpecial: special)
            let t1 = DispatchTime.now().uptimeNanoseconds
            tokens = ids.count
            best = min(best, Double(t1 - t0) / 1e9)
        }
        let mbps = Double(bytes) / 1e6 / best
        if json {
            print("{\"bytes\": \(bytes), \"tokens\": \(tokens), \"seconds\": \(best), \"mb_per_s\": \(mbps), \"runs\": \(runs)}")
        } else {
            print("| tokenizer | file | bytes | tokens | best s | MB/s |")
            print("| --- | --- | ---: | ---: | ---: | ---: |")
            print("| \(tokenizer) | \(file) | \(bytes) | \(tokens) | \(String(format: "%.4f", best)) | \(String(format: "%.2f", mbps)) |")
        }
    }
}
