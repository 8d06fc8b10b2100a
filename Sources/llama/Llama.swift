import ArgumentParser

@main
struct LlamaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llama",
        abstract: "A LLaMA-family language-model engine: tokenize, run, inspect and train small LLMs on the CPU.",
        subcommands: [Tokenize.self, Generate.self, Bench.self, TrainTokenizer.self, Prepare.self, Train.self, Plot.self, MakeRandomModel.self]
    )
}
