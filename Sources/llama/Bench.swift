import ArgumentParser
import Llama

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure speed: tokenizer throughput, prompt processing and generation.")
    func run() throws {}
}
