import ArgumentParser
import Foundation
import Llama

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a checkpoint (any readable format) to GGUF with quantized weight matrices.",
        discussion: """
        2-D weight matrices become --type; norms stay F32, as llama.cpp's quantizer keeps them. \
        A GGUF input keeps its metadata and tokenizer. The output is written atomically, \
        and never over the input (however either path is spelled).
        Example: llama quantize model-f16.gguf model-q8_0.gguf --type q8_0
        """)

    @Argument(help: "Input checkpoint (GGUF, safetensors/HF directory, Meta, llama2.c).")
    var input: String

    @Argument(help: "Output GGUF file.")
    var output: String

    @Option(name: .long, help: "Weight type: \(Quantizer.targetNames.joined(separator: ", ")).")
    var type: String

    func validate() throws {
        guard Quantizer.targets[type.lowercased()] != nil else {
            throw ValidationError("--type \(type): expected one of \(Quantizer.targetNames.joined(separator: ", "))")
        }
    }

    func run() throws {
        guard let target = Quantizer.targets[type.lowercased()] else { throw QuantizeError.unsupportedTarget(type) }
        try FileIdentity.checkOutput(output, isNotAnyOf: [input])
        let checkpoint = try CheckpointLoader.load(path: input)
        for n in try GGUFExport.write(checkpoint, to: output, type: target) { printError("note: \(n)") }
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        printError("wrote \(output): \(target.name), \(String(format: "%.1f MiB", Double(size) / 1048576))")
    }
}
