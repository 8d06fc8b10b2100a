import Foundation
import Llama
import Testing

/// Phi-3 (fused qkv and gate_up, rotate-half RoPE) against transformers' `Phi3ForCausalLM`.
@Suite struct Phi3Tests {
    let fixture: ArchitectureFixture
    init() throws { fixture = try ArchitectureFixture("phi3") }

    @Test(arguments: ["hf", "model.gguf"])
    func unquantizedMatchesTransformers(_ file: String) throws {
        try fixture.checkCLI(file, tolerance: [1e-4, 1e-4], exactIDs: true)
    }

    @Test func q8_0LandsNoFartherThanLlamaCpp() throws {
        try fixture.checkCLI("model-q8_0.gguf", tolerance: [try fixture.q8Tolerance("short"), try fixture.q8Tolerance("long")], exactIDs: false)
    }

    @Test func quantizeAndExportKeepTheModel() throws { try fixture.checkQuantizeAndExport() }

    /// q, k, v (and gate, up) are row ranges of the fused tensor, sharing the file's memory.
    @Test func fusedTensorsAreZeroCopyRowRanges() throws {
        let gguf = try GGUFCheckpoint(path: try fixture.path("model.gguf"))
        #expect(ArchitectureTests.names(gguf.config, .gguf) == Set(gguf.file.tensors.map(\.name)))
        let dir = try fixture.path("hf")
        #expect(ArchitectureTests.names(try HuggingFaceCheckpoint(path: dir).config, .huggingFace) == (try ArchitectureTests.safetensorsNames(dir)))
        let qkv = try #require(gguf.file.tensors.first { $0.name == "blk.0.attn_qkv.weight" })
        let base = try #require(gguf.file.data(of: qkv).baseAddress)
        let row = 64 * 4
        #expect(try gguf.tensor(TensorName.wq(0)).data.baseAddress == base)
        #expect(try gguf.tensor(TensorName.wk(0)).data.baseAddress == base + 64 * row)
        #expect(try gguf.tensor(TensorName.wv(0)).data.baseAddress == base + 128 * row)
        #expect(try gguf.tensor(TensorName.w3(0)).shape == [160, 64])
    }
}
