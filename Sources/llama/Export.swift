import ArgumentParser
import Foundation
import Llama

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint (a training run or any readable model) as GGUF or as a Hugging Face directory.",
        discussion: """
        GGUF output carries the tokenizer, so llama.cpp runs it as is; Hugging Face output is \
        config.json + model.safetensors, which transformers' LlamaForCausalLM loads.

        Examples:
          llama export runs/shakespeare --to shakespeare.gguf --type f16
          llama export runs/shakespeare --to shakespeare-hf --format hf
        """)

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case gguf, hf
    }

    @Argument(help: "Checkpoint: a training run directory, or any model `llama generate` reads.")
    var model: String

    @Option(name: .long, help: "Output: a .gguf file, or a directory with --format hf.")
    var to: String

    @Option(name: .long, help: "gguf or hf (default: gguf).")
    var format: Format = .gguf

    @Option(name: .long, help: "Weight type: f32, f16 or bf16 (default f32).")
    var type: String = "f32"

    func run() throws {
        let types: [String: GGMLType] = ["f32": .f32, "f16": .f16, "bf16": .bf16]
        guard let t = types[type.lowercased()] else {
            throw ValidationError("--type must be f32, f16 or bf16, not \(type)")
        }
        let checkpoint = try CheckpointLoader.load(path: model)
        switch format {
        case .hf:
            try HuggingFaceExport.write(checkpoint, to: to, type: t)
            print("wrote \(to)/config.json and \(to)/model.safetensors (\(t.name))")
        case .gguf:
            try GGUFExport.write(checkpoint, to: to, type: t)
            print("wrote \(to) (\(t.name), tokenizer \(checkpoint.tokenizer == nil ? "absent" : "included"))")
        }
    }
}
