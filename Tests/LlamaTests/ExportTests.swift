import Foundation
import Testing
import Llama

@Suite struct HuggingFaceExportTests {
    /// GGUF → HF directory → our HF reader: every tensor comes back equal (the fixture's
    /// weights are bf16-representable, so F32 and BF16 exports are exact), q/k included, which
    /// checks the rotate-half permutation against the reader's inverse.
    @Test(arguments: [GGMLType.f32, .bf16])
    func roundTripsThroughTheReader(type: GGMLType) throws {
        let source = try GGUFCheckpoint(path: Fixtures.shared("fixtures/dev-odd/model-bf16.gguf"))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftllama-hf-export-\(getpid())-\(type.name)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try HuggingFaceExport.write(source, to: dir, type: type)
        let back = try HuggingFaceCheckpoint(path: dir)
        #expect(back.config.dim == source.config.dim && back.config.kvHeadCount == source.config.kvHeadCount)
        #expect(back.config.hiddenDim == source.config.hiddenDim && back.config.tiedEmbeddings == source.config.tiedEmbeddings)
        let c = source.config
        var names = [TensorName.embedding, TensorName.finalNorm, TensorName.output]
        for l in 0..<c.layerCount {
            names += [TensorName.attentionNorm(l), TensorName.wq(l), TensorName.wk(l), TensorName.wv(l), TensorName.wo(l),
                      TensorName.ffnNorm(l), TensorName.w1(l), TensorName.w2(l), TensorName.w3(l)]
        }
        for n in names {
            let a = HuggingFaceExport.dequantized(try source.tensor(n))
            let b = HuggingFaceExport.dequantized(try back.tensor(n))
            #expect(a == b, "\(n)")
        }
    }
}
