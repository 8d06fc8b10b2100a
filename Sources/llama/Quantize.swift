import ArgumentParser
import Foundation
import Llama

struct Quantize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert a checkpoint (any readable format) to GGUF with quantized weight matrices.",
        discussion: """
        2-D weight matrices become --type; norms stay F32, as llama.cpp's quantizer keeps them. \
        The K-quant mixes (q4_k_s, q4_k_m, q5_k_s, q5_k_m, q6_k) give each tensor the type \
        llama.cpp's llama-quantize gives it (more bits for output, some attn_v and ffn_down). \
        A GGUF input keeps its metadata and tokenizer. The output is written atomically, \
        and never over the input (however either path is spelled).
        Example: llama quantize model-f16.gguf model-q8_0.gguf --type q8_0
        """)

    @Argument(help: "Input checkpoint (GGUF, safetensors/HF directory, Meta, llama2.c).")
    var input: String

    @Argument(help: "Output GGUF file.")
    var output: String

    @Option(name: .long, help: "Weight type: \(Quantizer.schemeNames.joined(separator: ", ")).")
    var type: String

    func validate() throws {
        guard Quantizer.schemes[type.lowercased()] != nil else {
            throw ValidationError("--type \(type): expected one of \(Quantizer.schemeNames.joined(separator: ", "))")
        }
    }

    func run() throws {
        guard let scheme = Quantizer.schemes[type.lowercased()] else { throw QuantizeError.unsupportedTarget(type) }
        try FileIdentity.checkOutput(output, isNotAnyOf: [input])
        let checkpoint = try CheckpointLoader.load(path: input)
        for n in try GGUFExport.write(checkpoint, to: output, scheme: scheme) { printError("note: \(n)") }
        let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
        let name = switch scheme { case let .uniform(t): t.name; case let .mix(m): m.rawValue.uppercased() }
        printError("wrote \(output): \(name), \(String(format: "%.1f MiB", Double(size) / 1048576))")
    }
}
