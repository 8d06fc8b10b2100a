import Foundation
import Llama
import Testing

/// Files that claim an architecture they do not hold: one error naming the file and the
/// tensor or key.
@Suite struct ArchitectureErrorTests {
    /// A copy of the GGUF at `source` with metadata `set` and without the tensors `drop`.
    static func rewrite(_ source: String, set: [String: GGUFWriter.Value] = [:], drop: Set<String> = []) throws -> String {
        let f = try GGUFFile(path: source)
        var w = GGUFWriter()
        for key in f.metadataKeys { if let v = f.metadata[key] { w.set(key, .from(v, key: key)) } }
        for (k, v) in set { w.set(k, v) }
        for t in f.tensors where !drop.contains(t.name) {
            guard let type = t.type else { continue }
            try w.addTensor(name: t.name, shape: t.dimensions.reversed(), type: type, data: Array(f.data(of: t)))
        }
        let out = try FormatTestSupport.tempDirectory() + "/model.gguf"
        try w.write(to: out)
        return out
    }

    /// A Hugging Face directory with the fixture's weights and `change` applied to its config.
    static func huggingFace(_ arch: String, drop: String? = nil, _ change: (inout [String: Any]) -> Void) throws -> String {
        let source = try Fixtures.shared("arch/\(arch)/hf")
        let dir = try FormatTestSupport.tempDirectory()
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: source + "/config.json"))) as? [String: Any])
        change(&config)
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: dir + "/config.json"))
        guard let drop else {
            try FileManager.default.createSymbolicLink(atPath: dir + "/model.safetensors", withDestinationPath: source + "/model.safetensors")
            return dir
        }
        // The same data without one tensor's header entry (its bytes stay, unreferenced).
        let bytes = try FormatTestSupport.read(source + "/model.safetensors")
        let n = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        var header = try #require(try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as? [String: Any])
        #expect(header.removeValue(forKey: drop) != nil)
        var json = try JSONSerialization.data(withJSONObject: header)
        while json.count % 8 != 0 { json.append(0x20) }
        var out = withUnsafeBytes(of: UInt64(json.count).littleEndian) { Array($0) }
        out += Array(json) + Array(bytes[(8 + n)...])
        try FormatTestSupport.write(out, to: dir + "/model.safetensors")
        return dir
    }

    static func message(_ body: () throws -> Any) -> String {
        do { _ = try body(); return "no error" } catch { return "\(error)" }
    }

    @Test func unknownArchitectureListsTheSupportedOnes() throws {
        let gguf = try Self.rewrite(try Fixtures.shared("arch/qwen2/model.gguf"), set: ["general.architecture": .string("qwen9")])
        let g = Self.message { try GGUFCheckpoint(path: gguf) }
        #expect(g.contains(gguf) && g.contains("qwen9") && ["llama", "qwen2", "phi3", "gpt2"].allSatisfy { g.contains($0) }, "\(g)")
        let hf = try Self.huggingFace("qwen2") { $0["model_type"] = "qwen9" }
        let h = Self.message { try HuggingFaceCheckpoint(path: hf) }
        #expect(h.contains(hf) && h.contains("qwen9") && ["llama", "qwen2", "mistral", "mixtral", "phi3", "gemma2"].allSatisfy { h.contains($0) }, "\(h)")
    }

    @Test func missingExpertTensorIsNamed() throws {
        let gguf = try Self.rewrite(try Fixtures.shared("arch/mixtral/model.gguf"), drop: ["blk.1.ffn_down_exps.weight"])
        let g = Self.message { try GGUFCheckpoint(path: gguf) }
        #expect(g.contains(gguf) && g.contains("blk.1.ffn_down_exps.weight"), "\(g)")
        let hf = try Self.huggingFace("mixtral", drop: "model.layers.1.block_sparse_moe.experts.2.w2.weight") { _ in }
        let h = Self.message { try HuggingFaceCheckpoint(path: hf) }
        #expect(h.contains(hf) && h.contains("model.layers.1.block_sparse_moe.experts.2.w2.weight"), "\(h)")
    }

    @Test func expertCountNotMatchingTheTensorsIsNamed() throws {
        let gguf = try Self.rewrite(try Fixtures.shared("arch/mixtral/model.gguf"), set: ["llama.expert_count": .uint32(2)])
        let g = Self.message { try GGUFCheckpoint(path: gguf) }
        #expect(g.contains(gguf) && g.contains("blk.0.ffn_gate_exps.weight") && g.contains("llama.expert_count"), "\(g)")
        let hf = try Self.huggingFace("mixtral") { $0["num_local_experts"] = 2; $0["num_experts_per_tok"] = 1 }
        let h = Self.message { try HuggingFaceCheckpoint(path: hf) }
        #expect(h.contains("experts.2.") && h.contains("num_local_experts is 2") && h.contains("model.safetensors"), "\(h)")
    }

    @Test func fusedTensorOfTheWrongSizeIsNamed() throws {
        let gguf = try Self.rewrite(try Fixtures.shared("arch/phi3/model.gguf"), set: ["phi3.attention.head_count_kv": .uint32(2)])
        let g = Self.message { try GGUFCheckpoint(path: gguf) }
        #expect(g.contains(gguf) && g.contains("blk.0.attn_qkv.weight") && g.contains("[192, 64]") && g.contains("[128, 64]"), "\(g)")
        let hf = try Self.huggingFace("phi3") { $0["intermediate_size"] = 128 }
        let h = Self.message { try HuggingFaceCheckpoint(path: hf) }
        #expect(h.contains("model.safetensors") && h.contains("mlp.gate_up_proj.weight") && h.contains("[320, 64]"), "\(h)")
    }

    @Test func unsupportedRopeVariantsAreRefused() throws {
        let hf = try Self.huggingFace("phi3") { c in
            c["rope_parameters"] = ["rope_theta": 10000.0, "rope_type": "default", "partial_rotary_factor": 0.5]
        }
        let h = Self.message { try HuggingFaceCheckpoint(path: hf) }
        #expect(h.contains("partial_rotary_factor"), "\(h)")
        let longrope = try Self.huggingFace("phi3") { c in
            c["rope_scaling"] = ["type": "longrope", "long_factor": [1.0], "short_factor": [1.0]]
        }
        // LongRoPE runs (Phi3Tests); factors that do not fit the head are named.
        let l = Self.message { try HuggingFaceCheckpoint(path: longrope) }
        #expect(l.contains("config.json") && l.contains("rope_scaling.short_factor") && l.contains("expected 8"), "\(l)")
        let yarn = try Self.rewrite(try Fixtures.shared("arch/phi3/model.gguf"),
                                    set: ["phi3.rope.scaling.type": .string("yarn"), "phi3.rope.scaling.factor": .float32(4)])
        let y = Self.message { try GGUFCheckpoint(path: yarn) }
        #expect(y.contains(yarn) && y.contains("phi3.rope.scaling.type") && y.contains("yarn"), "\(y)")
        let gguf = try Self.rewrite(try Fixtures.shared("arch/phi3/model.gguf"), set: ["phi3.rope.dimension_count": .uint32(8)])
        let g = Self.message { try GGUFCheckpoint(path: gguf) }
        #expect(g.contains("phi3.rope.dimension_count") && g.contains("partial rotary"), "\(g)")
    }
}
