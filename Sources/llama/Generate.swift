import ArgumentParser
import Llama

struct Generate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate text from a model checkpoint.")
    func run() async throws {}
}
