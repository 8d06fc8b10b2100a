import Foundation
import Llama
import Testing

/// What Hub GGUF files carry beyond the model: metadata this engine does not need (it must
/// load them all the same). Split models (`llama-gguf-split`): SplitGGUFTests.
@Suite struct GGUFRealFileMetadataTests {
    /// Keys seen in real files (llama.cpp's converter, `llama-quantize --imatrix`, gguf-py):
    /// none changes the model.
    static let harmless: [String: GGUFWriter.Value] = [
        "general.name": .string("Qwen2.5 0.5B Instruct"),
        "general.basename": .string("Qwen2.5"),
        "general.finetune": .string("Instruct"),
        "general.size_label": .string("0.5B"),
        "general.license": .string("apache-2.0"),
        "general.license.link": .string("https://example.invalid/LICENSE"),
        "general.tags": .strings(["chat", "text-generation"]),
        "general.languages": .strings(["en", "zh"]),
        "general.base_model.count": .uint32(1),
        "general.base_model.0.name": .string("Qwen2.5 0.5B"),
        "general.base_model.0.repo_url": .string("https://huggingface.co/Qwen/Qwen2.5-0.5B"),
        "general.quantized_by": .string("Unsloth"),
        "general.url": .string("https://example.invalid"),
        "general.file_type": .uint32(7),
        "general.quantization_version": .uint32(2),
        "quantize.imatrix.file": .string("imatrix.dat"),
        "quantize.imatrix.dataset": .string("calibration_datav3.txt"),
        "quantize.imatrix.entries_count": .int32(168),
        "quantize.imatrix.chunks_count": .int32(128),
        "tokenizer.ggml.padding_token_id": .uint32(0),
        "tokenizer.ggml.add_eos_token": .bool(false),
        "tokenizer.ggml.add_sep_token": .bool(false),
        "tokenizer.chat_template.tool_use": .string("{{ messages }}"),
        "split.count": .uint16(1),
        "split.no": .uint16(0),
        "split.tensors.count": .int32(15),
    ]

    @Test func harmlessKeysOfHubFilesChangeNothing() throws {
        let source = try Fixtures.shared("arch/qwen2/model.gguf")
        let out = ArchitectureFixtureTests.tempPath("qwen2-hub-metadata.gguf")
        defer { unlink(out) }
        try ArchitectureFixtureTests.editedGGUF(source, to: out, set: Self.harmless)
        #expect(try GGUFCheckpoint(path: out).config == GGUFCheckpoint(path: source).config)
        let fixture = try ArchitectureFixture("qwen2")
        let input = try fixture.inputs()[0]
        let got = try ArchitectureFixture.generate(out, ids: input.ids, count: input.next.count)
        #expect(got.logits.count == input.logits.count && maxAbsDifference(got.logits, input.logits) <= 1e-4)
        #expect(got.next == input.next)
    }
}
