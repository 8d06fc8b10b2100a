import Foundation
import Llama
import Testing

/// Qwen2 (q/k/v biases, rotate-half RoPE, θ 1e6, GQA) against transformers' `Qwen2ForCausalLM`.
@Suite struct Qwen2Tests {
    let fixture: ArchitectureFixture
    init() throws { fixture = try ArchitectureFixture("qwen2") }

    // The logits of hf/, model.gguf and model-q8_0.gguf are checked with the other
    // architectures in ArchitectureFixtureTests.

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

extension Qwen2Tests {
    /// transformers' Qwen2Config: no window unless `use_sliding_window` (default false), and then
    /// only on layers i >= `max_window_layers` (default 28) unless `layer_types` says otherwise.
    /// The expected lists are what `Qwen2Config(num_hidden_layers=2, …).layer_types` gives.
    @Test func slidingWindowOnTheLayersTransformersPicks() throws {
        let null = NSNull()
        let cases: [([String: Any], [Int?]?)] = [
            (["use_sliding_window": true, "sliding_window": 16, "max_window_layers": 1, "layer_types": null], [nil, 16]),
            (["use_sliding_window": null, "sliding_window": 16, "max_window_layers": 1, "layer_types": null], nil),
            (["use_sliding_window": false, "sliding_window": 16, "max_window_layers": 0, "layer_types": null], nil),
            (["use_sliding_window": true, "sliding_window": 16, "max_window_layers": null, "layer_types": null], nil),
            (["use_sliding_window": true, "sliding_window": 16, "max_window_layers": 0, "layer_types": null], [16, 16]),
            (["use_sliding_window": true, "sliding_window": 16, "layer_types": ["sliding_attention", "full_attention"]], [16, nil]),
        ]
        for (i, (set, want)) in cases.enumerated() {
            let dir = ArchitectureFixtureTests.tempPath("qwen2-window-\(i)")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try ArchitectureFixtureTests.editedHuggingFace(try fixture.path("hf"), to: dir, set: set)
            let got = try HuggingFaceCheckpoint(path: dir).config.architecture.slidingWindow
            #expect(got == want, "case \(i): \(set)")
        }
    }
}
