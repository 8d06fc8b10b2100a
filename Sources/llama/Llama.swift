import ArgumentParser

@main
struct LlamaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "llama",
        abstract: "A LLaMA-family language-model engine: tokenize, run, inspect and train small LLMs on the CPU.",
        subcommands: [Tokenize.self, Generate.self, Template.self, Chat.self, Bench.self, Quantize.self, TrainTokenizer.self, Prepare.self, Train.self, Export.self, Plot.self, MakeRandomModel.self]
    )
}
