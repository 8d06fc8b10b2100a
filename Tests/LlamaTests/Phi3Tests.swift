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

extension Phi3Tests {
    /// llama.cpp's converter writes `phi3.rope.scaling.original_context_length` and
    /// `phi3.attention.sliding_window` (0 for none); `llama export` writes the same keys.
    @Test func ggufExportWritesTheConvertersKeys() throws {
        let out = ArchitectureFixtureTests.tempPath("phi3-export.gguf"), windowed = ArchitectureFixtureTests.tempPath("phi3-window")
        let out2 = ArchitectureFixtureTests.tempPath("phi3-window.gguf")
        defer { unlink(out); unlink(out2); try? FileManager.default.removeItem(atPath: windowed) }
        try GGUFExport.write(try CheckpointLoader.load(path: try fixture.path("hf")), to: out, type: .f32)
        try ArchitectureFixtureTests.expectSameTensors(out, try fixture.path("model.gguf"), hyperparameters: "phi3")
        // Phi-3-mini-4k's window (transformers applies it on every layer).
        try ArchitectureFixtureTests.editedHuggingFace(try fixture.path("hf"), to: windowed, set: ["sliding_window": 2047])
        let hf = try HuggingFaceCheckpoint(path: windowed)
        #expect(hf.config.architecture.slidingWindow == [2047, 2047])
        try GGUFExport.write(hf, to: out2, type: .f32)
        let f = try GGUFFile(path: out2)
        #expect(try f.optionalInt("phi3.attention.sliding_window") == 2047)
        #expect(try f.optionalInt("phi3.rope.scaling.original_context_length") == 4096)
        #expect(try GGUFCheckpoint(path: out2).config == hf.config)
    }

    /// Phi-3 128k's LongRoPE (short/long factors): a clear error, not plain RoPE.
    @Test func longRopeIsRefusedClearly() throws {
        let dir = ArchitectureFixtureTests.tempPath("phi3-longrope")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let factors = [Double](repeating: 1.5, count: 8)
        let rope: [String: Any] = ["rope_type": "longrope", "short_factor": factors, "long_factor": factors, "rope_theta": 10000.0,
                                   "original_max_position_embeddings": 4096]
        try ArchitectureFixtureTests.editedHuggingFace(try fixture.path("hf"), to: dir,
                                                       set: ["rope_parameters": rope, "rope_scaling": rope, "max_position_embeddings": 131072])
        let e = try ArchitectureFixtureTests.generateError(dir)
        #expect(e.contains("config.json") && e.contains("longrope") && e.contains("Phi-3 128k"), "\(e)")
    }
}
