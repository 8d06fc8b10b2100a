import ArgumentParser
import Foundation
import Llama

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint (a training run or any readable model) as GGUF or as a Hugging Face directory.",
        discussion: """
        GGUF output carries the tokenizer and the chat template (a GGUF input keeps all its \
        metadata), so llama.cpp runs it as is. Hugging Face output is config.json + \
        model.safetensors, which transformers' LlamaForCausalLM loads, plus tokenizer.model, \
        tokenizer_config.json and generation_config.json, which `llama generate --model DIR` reads.

        Examples:
          llama export runs/shakespeare --to shakespeare.gguf --type f16
          llama export model.gguf --to model-q8_0.gguf --type q8_0
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

    @Option(name: .long, help: "Weight type: \(Quantizer.targetNames.joined(separator: ", ")) (Hugging Face: f32, f16 or bf16).")
    var type: String = "f32"

    @Option(name: .long, help: "Tokenizer to write with the model instead of the checkpoint's own.")
    var tokenizer: String?

    func validate() throws {
        guard let t = Quantizer.targets[type.lowercased()] else {
            throw ValidationError("--type must be one of \(Quantizer.targetNames.joined(separator: ", ")), not \(type)")
        }
        if format == .hf && ![GGMLType.f32, .f16, .bf16].contains(t) {
            throw ValidationError("--format hf writes f32, f16 or bf16 safetensors, not \(type); quantized types need --format gguf")
        }
    }

    func run() throws {
        guard let t = Quantizer.targets[type.lowercased()] else { throw QuantizeError.unsupportedTarget(type) }
        let inputs = [model] + (tokenizer.map { [$0] } ?? [])
        switch format {
        case .gguf: try FileIdentity.checkOutput(to, isNotAnyOf: inputs)
        case .hf:
            for name in HuggingFaceExport.fileNames {
                try FileIdentity.checkOutput(to + "/" + name, isNotAnyOf: inputs)
            }
        }
        let checkpoint = try CheckpointLoader.load(path: model, tokenizerPath: tokenizer)
        switch format {
        case .hf:
            let notes = try HuggingFaceExport.write(checkpoint, to: to, type: t)
            for n in notes { printError("note: \(n)") }
            print("wrote \(to) (\(t.name) safetensors\(checkpoint.tokenizer == nil ? ", no tokenizer" : " with its tokenizer"))")
        case .gguf:
            for n in try GGUFExport.write(checkpoint, to: to, type: t) { printError("note: \(n)") }
            print("wrote \(to) (\(t.name))")
        }
    }
}
