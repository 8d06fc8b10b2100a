import Foundation
import Llama
import Testing

/// Qwen2 (q/k/v biases, rotate-half RoPE, θ 1e6, GQA) against transformers' `Qwen2ForCausalLM`.
@Suite struct Qwen2Tests {
    let fixture: ArchitectureFixture
    init() throws { fixture = try ArchitectureFixture("qwen2") }

    @Test(arguments: ["hf", "model.gguf"])
    func unquantizedMatchesTransformers(_ file: String) throws {
        try fixture.checkCLI(file, tolerance: [1e-4, 1e-4], exactIDs: true)
    }

    @Test func q8_0LandsNoFartherThanLlamaCpp() throws {
        try fixture.checkCLI("model-q8_0.gguf", tolerance: [try fixture.q8Tolerance("short"), try fixture.q8Tolerance("long")], exactIDs: false)
    }

    @Test func quantizeAndExportKeepTheModel() throws { try fixture.checkQuantizeAndExport() }

    @Test func readsTheArchitecture() throws {
        let gguf = try GGUFCheckpoint(path: try fixture.path("model.gguf")).config
        let hf = try HuggingFaceCheckpoint(path: try fixture.path("hf")).config
        for c in [gguf, hf] {
            #expect(c.architecture.name == "qwen2" && c.architecture.ropeLayout == .rotateHalf)
            #expect(c.ropeTheta == 1_000_000 && c.kvHeadCount == 2 && !c.tiedEmbeddings)
        }
    }
}

extension Qwen2Tests {
    /// The table's names are the converters' names: llama.cpp's GGUF and transformers' state dict.
    @Test func tableNamesAreTheFilesNames() throws {
        let gguf = try GGUFCheckpoint(path: try fixture.path("model.gguf"))
        #expect(ArchitectureTests.names(gguf.config, .gguf) == Set(gguf.file.tensors.map(\.name)))
        let dir = try fixture.path("hf")
        #expect(ArchitectureTests.names(try HuggingFaceCheckpoint(path: dir).config, .huggingFace) == (try ArchitectureTests.safetensorsNames(dir)))
    }
}
