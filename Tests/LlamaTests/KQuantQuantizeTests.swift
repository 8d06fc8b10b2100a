import Foundation
import Testing
import Llama

/// `llama quantize --type q4_k_m | q5_k_m | q6_k …`: the K-quant blocks against llama.cpp's
/// own reference quantizers, and the per-tensor types against llama-quantize's choice.
@Suite struct KQuantQuantizeTests {
    func fixture(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/kquant/\(name)").path
    }

    /// 8 rows × 512 of varied fp32 data (normal, uniform, heavy tails, all positive, tiny,
    /// zero sub-blocks, outliers, constant), quantized by llama.cpp's quantize_row_q*_K_ref
    /// (`scripts/make_kquant_quantize_fixture.sh`): our blocks are the same bytes.
    @Test(arguments: [GGMLType.q4_K, .q5_K, .q6_K])
    func blocksEqualLlamaCppReference(_ type: GGMLType) throws {
        let input = try Data(contentsOf: URL(fileURLWithPath: fixture("quantize/input.f32")))
        let expected = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture("quantize/\(type.name).bin"))))
        let cols = 512, rows = input.count / 4 / cols
        try #require(rows == 8 && expected.count == rows * type.rowBytes(columns: cols))
        let values = input.withUnsafeBytes { raw in (0..<(rows * cols)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) } }
        var got = [UInt8](repeating: 0, count: expected.count)
        values.withUnsafeBufferPointer { x in
            got.withUnsafeMutableBytes { out in
                for r in 0..<rows {
                    quantizeRow(x.baseAddress! + r * cols, count: cols, as: type, into: out.baseAddress! + r * type.rowBytes(columns: cols))
                }
            }
        }
        let blockBytes = type.blockLayout.bytes
        for b in 0..<(expected.count / blockBytes) {
            let range = (b * blockBytes)..<((b + 1) * blockBytes)
            #expect(Array(got[range]) == Array(expected[range]), "\(type.name) row \(b / 2) super-block \(b % 2)")
        }
    }

    /// llama-quantize's q4_k_m choice on the 2-layer fixture model (Fixtures/kquant, made by
    /// llama.cpp): quantizing it again with our q4_k_m mix gives every tensor the same type.
    @Test func q4KMMixMatchesLlamaQuantize() throws {
        let input = fixture("model-q4_k_m.gguf")
        let reference = try GGUFFile(path: input)
        let out = NSTemporaryDirectory() + "kquant-mix-\(getpid()).gguf"
        defer { unlink(out) }
        try GGUFExport.write(try GGUFCheckpoint(path: input), to: out, scheme: .mix(.q4_K_M))
        let ours = try GGUFFile(path: out)
        let ourTypes = Dictionary(uniqueKeysWithValues: ours.tensors.map { ($0.name, $0.rawType) })
        #expect(ours.tensors.count == reference.tensors.count)
        for t in reference.tensors {
            #expect(ourTypes[t.name] == t.rawType, "\(t.name): ours \(ourTypes[t.name].map(String.init) ?? "missing"), llama-quantize \(t.rawType)")
        }
        #expect(ours.metadata["general.file_type"]?.int == 15)
    }

    /// The mixes' rules on a 32-layer model, as llama.cpp's llama_tensor_get_type writes them.
    @Test func mixRulesFollowLlamaCpp() {
        let moreBits = (0..<32).filter { KQuantMix.usesMoreBits(layer: $0, of: 32) }
        // n/8 = 4, 7n/8 = 28: layers 0–3, 28–31, and 6, 9, … (i − 4) % 3 == 2 between.
        #expect(moreBits == [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31])
        let m = KQuantMix.q4_K_M
        #expect(m.type(forTensor: "blk.6.attn_v.weight", columns: 2048, layer: 6, layers: 32, tiedOutput: false) == .q6_K)
        #expect(m.type(forTensor: "blk.7.attn_v.weight", columns: 2048, layer: 7, layers: 32, tiedOutput: false) == .q4_K)
        #expect(m.type(forTensor: "blk.7.ffn_down.weight", columns: 8192, layer: 7, layers: 32, tiedOutput: false) == .q4_K)
        #expect(m.type(forTensor: "blk.9.ffn_down.weight", columns: 8192, layer: 9, layers: 32, tiedOutput: false) == .q6_K)
        #expect(m.type(forTensor: "output.weight", columns: 2048, layer: 0, layers: 32, tiedOutput: false) == .q6_K)
        #expect(m.type(forTensor: "token_embd.weight", columns: 2048, layer: 0, layers: 32, tiedOutput: false) == .q4_K)
        #expect(m.type(forTensor: "token_embd.weight", columns: 2048, layer: 0, layers: 32, tiedOutput: true) == .q6_K)
        #expect(m.type(forTensor: "blk.7.ffn_down.weight", columns: 5632 + 32, layer: 7, layers: 32, tiedOutput: false) == .q5_0)
        #expect(KQuantMix.q5_K_M.type(forTensor: "blk.7.attn_q.weight", columns: 2000, layer: 7, layers: 32, tiedOutput: false) == .f16)
        #expect(KQuantMix.q5_K_S.type(forTensor: "blk.0.ffn_down.weight", columns: 8192, layer: 0, layers: 32, tiedOutput: false) == .q5_K)
        #expect(KQuantMix.q4_K_S.type(forTensor: "blk.3.attn_v.weight", columns: 2048, layer: 3, layers: 32, tiedOutput: false) == .q5_K)
        #expect(KQuantMix.q4_K_S.type(forTensor: "blk.4.attn_v.weight", columns: 2048, layer: 4, layers: 32, tiedOutput: false) == .q4_K)
        #expect(KQuantMix.q4_K_S.type(forTensor: "blk.3.ffn_down.weight", columns: 8192, layer: 3, layers: 32, tiedOutput: false) == .q5_K)
        #expect(KQuantMix.q6_K.type(forTensor: "blk.3.ffn_down.weight", columns: 8192, layer: 3, layers: 32, tiedOutput: false) == .q6_K)
    }

    /// `llama quantize --type q5_k_m` end to end on the ktypes Q5_K model (rows of 256 and 768,
    /// 2 layers: use_more_bits picks layer 1, tied output): attn_v and ffn_down of layer 1 and
    /// the embedding (which is also the output) get Q6_K, the rest Q5_K, norms F32.
    @Test func quantizeCommandWritesTheMix() throws {
        let cli = GenerateCommandTests()
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/ktypes/model-q5_K.gguf").path
        let out = NSTemporaryDirectory() + "kquant-cli-\(getpid()).gguf"
        defer { unlink(out) }
        let r = try cli.run(["quantize", source, out, "--type", "q5_k_m"])
        #expect(r.status == 0, "\(r.err)")
        let file = try GGUFFile(path: out)
        let types = Dictionary(uniqueKeysWithValues: file.tensors.map { ($0.name, $0.type) })
        #expect(types["blk.1.attn_v.weight"] == .q6_K && types["blk.1.ffn_down.weight"] == .q6_K)
        #expect(types["blk.0.attn_v.weight"] == .q5_K && types["blk.0.ffn_down.weight"] == .q5_K)
        #expect(types["blk.0.attn_q.weight"] == .q5_K && types["blk.1.ffn_up.weight"] == .q5_K)
        #expect(types["token_embd.weight"] == .q6_K && types["output.weight"] == nil && types["blk.0.attn_norm.weight"] == .f32)
        #expect(file.metadata["general.file_type"]?.int == 17)
        #expect(r.err.contains("Q5_K_M"))
    }
}
