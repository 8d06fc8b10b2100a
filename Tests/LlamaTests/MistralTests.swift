import Foundation
import Llama
import Testing

/// Mistral (sliding-window attention, GQA with one kv head) against transformers'
/// `MistralForCausalLM`. The window (24) is shorter than the long input (100), so the long
/// logits differ by up to 4.5 with and without it.
@Suite struct MistralTests {
    let fixture: ArchitectureFixture
    init() throws { fixture = try ArchitectureFixture("mistral") }

    @Test func huggingFaceMatchesTransformersWithItsWindow() throws {
        try fixture.checkCLI("hf", tolerance: [1e-4, 1e-4], exactIDs: true)
    }

    /// llama.cpp's converter drops the window: its GGUF is `llama` and runs with full
    /// attention (as llama.cpp does), which `--verbose` says.
    @Test func ggufWithoutAWindowRunsFullAttention() throws {
        let c = try GGUFCheckpoint(path: try fixture.path("model.gguf")).config
        #expect(c.architecture.name == "llama" && c.architecture.slidingWindow == nil)
        let inputs = try fixture.inputs(longLogits: "long_last_logits_full_attention")
        let model = try fixture.path("model.gguf")
        // Short: within the window, so the reference holds, and so does the first greedy id.
        let short = try ArchitectureFixture.generate(model, ids: inputs[0].ids, count: 1, extra: ["--verbose"])
        #expect(maxAbsDifference(short.logits, inputs[0].logits) <= 1e-4)
        #expect(short.next == [inputs[0].next[0]])
        #expect(short.err.contains("attention: full attention (the file records no sliding window)"), "\(short.err)")
        let long = try ArchitectureFixture.generate(model, ids: inputs[1].ids, count: 1)
        #expect(maxAbsDifference(long.logits, inputs[1].logits) <= 1e-4)
    }

    @Test func q8_0LandsNoFartherThanLlamaCpp() throws {
        let model = try LlamaModel(checkpoint: try GGUFCheckpoint(path: try fixture.path("model-q8_0.gguf")))
        let inputs = try fixture.inputs(longLogits: "long_last_logits_full_attention")
        for (input, key) in zip(inputs, ["short", "long_vs_hf_full_attention"]) {
            let got = try model.logits(of: input.ids.map { TokenID($0) }, at: [input.ids.count - 1])[0]
            #expect(maxAbsDifference(got, input.logits) <= (try fixture.q8Tolerance(key)))
        }
    }

    /// A GGUF that records the window (`llama.attention.sliding_window`, as our exporter
    /// writes it) keeps it: HF → GGUF → HF all give transformers' windowed logits.
    @Test func quantizeAndExportKeepTheWindow() throws {
        let dir = NSTemporaryDirectory() + "arch-mistral-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cli = GenerateCommandTests()
        let gguf = dir + "/m.gguf", hf = dir + "/hf", q8 = dir + "/q8.gguf"
        for args in [["export", try fixture.path("hf"), "--to", gguf], ["export", gguf, "--to", hf, "--format", "hf"],
                     ["quantize", hf, q8, "--type", "q8_0"]] {
            let r = try cli.run(args)
            #expect(r.status == 0, "\(args): \(r.err)")
        }
        let exported = try GGUFCheckpoint(path: gguf)
        #expect(exported.config.architecture.slidingWindow == [24, 24])
        try fixture.checkModel(exported, tolerance: 1e-4)
        try fixture.checkModel(try HuggingFaceCheckpoint(path: hf), tolerance: 1e-4)
        try fixture.checkModel(try GGUFCheckpoint(path: q8), tolerance: try fixture.q8Tolerance("long"))
    }

    @Test func tableNamesAreTheFilesNames() throws {
        let gguf = try GGUFCheckpoint(path: try fixture.path("model.gguf"))
        #expect(ArchitectureTests.names(gguf.config, .gguf) == Set(gguf.file.tensors.map(\.name)))
        let dir = try fixture.path("hf")
        let hf = try HuggingFaceCheckpoint(path: dir).config
        #expect(hf.architecture.name == "mistral" && hf.architecture.slidingWindow == [24, 24])
        #expect(ArchitectureTests.names(hf, .huggingFace) == (try ArchitectureTests.safetensorsNames(dir)))
    }
}
