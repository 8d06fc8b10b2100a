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

    /// Phi-3 128k's LongRoPE within its original context: the short factors and the attention
    /// factor, against transformers' `Phi3ForCausalLM` on the same weights with a longrope
    /// config (Tests/LlamaTests/Fixtures/phi3-longrope, from scripts/make_phi3_longrope_fixture.py);
    /// the GGUF export carries it as llama.cpp's converter writes it and gives the same logits.
    @Test func longRopeWithinTheOriginalContextMatchesTransformers() throws {
        let dir = ArchitectureFixtureTests.tempPath("phi3-longrope-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let hf = dir + "/hf", gguf = dir + "/model.gguf"
        try FileManager.default.createDirectory(atPath: hf, withIntermediateDirectories: true)
        for name in ["model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(atPath: try fixture.path("hf/\(name)"), toPath: hf + "/" + name)
        }
        let ref = try ArchitectureFixture("phi3", reference: try Fixtures.repository("Tests/LlamaTests/Fixtures/phi3-longrope/ref.json"))
        try FileManager.default.copyItem(atPath: try Fixtures.repository("Tests/LlamaTests/Fixtures/phi3-longrope/config.json"), toPath: hf + "/config.json")
        let source = try HuggingFaceCheckpoint(path: hf)
        #expect(source.config.maxContext == 4096 && source.longRope?.context == 131072)
        try GGUFExport.write(source, to: gguf, type: .f32)
        let f = try GGUFFile(path: gguf)
        #expect(Set(f.tensors.map(\.name)).isSuperset(of: ["rope_factors_long.weight", "rope_factors_short.weight"]))
        #expect(try f.optionalInt("phi3.context_length") == 131072 && f.optionalInt("phi3.rope.scaling.original_context_length") == 4096)
        #expect(f.metadata["phi3.attention.scale"] == nil && f.metadata["rope_freqs.weight"] == nil)
        #expect(try GGUFCheckpoint(path: gguf).config == source.config)
        // and back to config.json (rope_scaling longrope, max_position_embeddings 131072).
        try HuggingFaceExport.write(try GGUFCheckpoint(path: gguf), to: dir + "/hf2", type: .f32)
        let back = try HuggingFaceCheckpoint(path: dir + "/hf2")
        #expect(back.config == source.config && back.longRope == source.longRope)
        for model in [hf, gguf] {
            for input in try ref.inputs() {
                let got = try ArchitectureFixture.generate(model, ids: input.ids, count: input.next.count)
                #expect(got.logits.count == input.logits.count && maxAbsDifference(got.logits, input.logits) <= 1e-4, "\(model) \(input.ids.count) ids")
                #expect(got.next == input.next, "\(model) \(input.ids.count) ids")
            }
        }
        // Beyond the original context without --context: the context error.
        let long = [Int](repeating: 5, count: 4097).map(String.init).joined(separator: " ")
        let r = try GenerateCommandTests().run(["generate", "--model", hf, "--ids", long, "--max-tokens", "1"])
        #expect(r.status != 0 && r.err.contains("4096"), "\(r.err)")
    }

    /// With a context beyond the original one (`--context`), the long factors at every
    /// position: transformers' logits on 4100 ids (where it runs the long factors), from the
    /// Hugging Face folder and from its GGUF export.
    @Test func longRopeBeyondTheOriginalContextMatchesTransformers() throws {
        let dir = ArchitectureFixtureTests.tempPath("phi3-longrope-beyond-\(UUID().uuidString)")
        let hf = dir + "/hf", gguf = dir + "/model.gguf"
        try FileManager.default.createDirectory(atPath: hf, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for name in ["model.safetensors", "tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.copyItem(atPath: try fixture.path("hf/\(name)"), toPath: hf + "/" + name)
        }
        try FileManager.default.copyItem(atPath: try Fixtures.repository("Tests/LlamaTests/Fixtures/phi3-longrope/config.json"), toPath: hf + "/config.json")
        let ref = try ArchitectureFixture("phi3", reference: try Fixtures.repository("Tests/LlamaTests/Fixtures/phi3-longrope/ref.json"))
        let ids = try ref.ints("beyond_ids"), logits = try ref.floats("beyond_last_logits"), next = try ref.ints("beyond_greedy_next")
        #expect(ids.count == 4100)
        let source = try HuggingFaceCheckpoint(path: hf)
        try GGUFExport.write(source, to: gguf, type: .f32)
        let wide = LongRopeScaling.withContext(source, 4200)
        let wideFactors = try wide.ropeFrequencyFactors()
        #expect(wide.config.maxContext == 131072 && wideFactors == source.longRope?.longFactors)
        #expect(LongRopeScaling.withContext(source, 4096).config.maxContext == 4096)
        for model in [hf, gguf] {
            let got = try ArchitectureFixture.generate(model, ids: ids, count: next.count, extra: ["--context", "4200"])
            #expect(got.logits.count == logits.count && maxAbsDifference(got.logits, logits) <= 1e-4, "\(model)")
            #expect(got.next == next, "\(model)")
        }
    }
}
