import ArgumentParser
import Llama

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Turn text into token ids, or ids back into text.")
    func run() throws {}
}
