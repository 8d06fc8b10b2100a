import Foundation
import Testing
import Llama

@Suite struct FormatsHuggingFaceTests {
    @Test func devOddConfigMatchesTheFixtureReadme() throws {
        let c = try HuggingFaceCheckpoint(path: Fixtures.shared("fixtures/dev-odd/hf"))
        #expect(c.config == ModelConfig(dim: 64, layerCount: 3, headCount: 4, kvHeadCount: 1, hiddenDim: 160, vocabSize: 32000,
                                        normEps: 1e-5, ropeTheta: 10000, ropeScaling: nil, maxContext: 2048,
                                        tiedEmbeddings: false))
    }

    @Test func devLlama3ConfigMatchesTheFixtureReadme() throws {
        let c = try HuggingFaceCheckpoint(path: Fixtures.shared("fixtures/dev-llama3/hf"))
        #expect(c.config == ModelConfig(dim: 32, layerCount: 2, headCount: 4, kvHeadCount: 2, hiddenDim: 96, vocabSize: 128256,
                                        normEps: 1e-6, ropeTheta: 500000, ropeScaling: .llama31, maxContext: 131072,
                                        tiedEmbeddings: true))
        #expect(throws: CheckpointTensorError.self) { try c.tensor(TensorName.output) }
    }

    /// Equal to the GGUF (Meta layout) proves the q/k un-permute and the shard index.
    @Test func devOddTensorsEqualTheGGUF() throws {
        let c = try HuggingFaceCheckpoint(path: Fixtures.shared("fixtures/dev-odd/hf"))
        try FormatTestSupport.expectSameTensors(c, gguf: Fixtures.shared("fixtures/dev-odd/model-bf16.gguf"))
    }

    @Test func devLlama3TensorsEqualTheGGUF() throws {
        let c = try HuggingFaceCheckpoint(path: Fixtures.shared("fixtures/dev-llama3/hf"))
        try FormatTestSupport.expectSameTensors(c, gguf: Fixtures.shared("fixtures/dev-llama3/model.gguf"))
    }

    /// Control: the raw HF q/k rows differ from the GGUF's, so the equality above is not vacuous.
    @Test func rawHFQueryRowsAreInRotateHalfOrder() throws {
        let f = try SafetensorsFile(path: Fixtures.shared("fixtures/dev-llama3/hf/model.safetensors"))
        let raw = FormatTestSupport.floats(try f.weight("model.layers.0.self_attn.q_proj.weight", as: "raw"))
        let gguf = try GGUFFile(path: Fixtures.shared("fixtures/dev-llama3/model.gguf"))
        let (_, meta) = try FormatTestSupport.ggufTensor(gguf, "blk.0.attn_q.weight")
        #expect(raw.count == meta.count && raw != meta)
        // Row h*hd + hd/2 (HF) is row h*hd + 1 (Meta): head 0, hd 8, 32 columns.
        #expect(Array(raw[(4 * 32)..<(5 * 32)]) == Array(meta[32..<64]))
    }

    @Test func unpermutedTensorsAreOwnedOthersAreMapped() throws {
        let c = try HuggingFaceCheckpoint(path: Fixtures.shared("fixtures/dev-odd/hf"))
        #expect(try c.tensor(TensorName.wq(0)).owner is OwnedBuffer)
        #expect(try c.tensor(TensorName.wk(2)).owner is OwnedBuffer)
        #expect(try c.tensor(TensorName.wv(0)).owner is SafetensorsFile)
        #expect(try c.tensor(TensorName.embedding).owner is SafetensorsFile)
    }

    // MARK: bad input

    static var goodConfig: [String: Any] { [
        "hidden_size": 64, "num_hidden_layers": 3, "num_attention_heads": 4, "num_key_value_heads": 1,
        "intermediate_size": 160, "vocab_size": 32000, "rms_norm_eps": 1e-5, "max_position_embeddings": 2048,
    ] }

    func parse(_ dict: [String: Any]) throws -> ModelConfig {
        let data = try JSONSerialization.data(withJSONObject: dict)
        return try HuggingFaceCheckpoint.parseConfig(data, path: "/x/config.json").config
    }

    @Test func configDefaults() throws {
        let c = try parse(Self.goodConfig)
        #expect(c.ropeTheta == 10000 && c.ropeScaling == nil && !c.tiedEmbeddings && c.kvHeadCount == 1)
        var d = Self.goodConfig
        d["num_key_value_heads"] = nil
        #expect(try parse(d).kvHeadCount == 4)
    }

    @Test func missingConfigKeyNamesFileAndKey() throws {
        let dir = try FormatTestSupport.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var d = Self.goodConfig
        d["hidden_size"] = nil
        try JSONSerialization.data(withJSONObject: d).write(to: URL(fileURLWithPath: dir + "/config.json"))
        let error = #expect(throws: HuggingFaceError.self) { try HuggingFaceCheckpoint(path: dir) }
        #expect(error == .missingKey(path: dir + "/config.json", key: "hidden_size"))
        #expect(error?.description.contains("config.json") == true)
        #expect(error?.description.contains("hidden_size") == true)
    }

    @Test func badConfigValuesAreRefused() throws {
        var d = Self.goodConfig
        d["head_dim"] = 32
        #expect(throws: HuggingFaceError.self) { try parse(d) }
        d = Self.goodConfig
        d["rope_scaling"] = ["rope_type": "yarn", "factor": 4.0]
        let e = #expect(throws: HuggingFaceError.self) { try parse(d) }
        #expect(e?.description.contains("yarn") == true)
        d["rope_scaling"] = ["type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0]
        let e2 = #expect(throws: HuggingFaceError.self) { try parse(d) }
        #expect(e2 == .missingKey(path: "/x/config.json", key: "rope_scaling.original_max_position_embeddings"))
        d["rope_scaling"] = ["type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 8192]
        #expect(try parse(d).ropeScaling == .llama31)
        d = Self.goodConfig
        d["rope_parameters"] = ["rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                                "high_freq_factor": 4.0, "original_max_position_embeddings": 8192]
        let c = try parse(d)
        #expect(c.ropeTheta == 500000 && c.ropeScaling == .llama31)
        d["rope_parameters"] = ["rope_type": "default", "rope_theta": 1000.0]
        #expect(try parse(d).ropeTheta == 1000 && parse(d).ropeScaling == nil)
        d = Self.goodConfig
        d["vocab_size"] = "many"
        #expect(throws: HuggingFaceError.self) { try parse(d) }
        d = Self.goodConfig
        d["model_type"] = "qwen9"
        let e3 = #expect(throws: HuggingFaceError.self) { try parse(d) }
        #expect(e3?.description.contains("qwen9") == true && Architecture.all.allSatisfy { e3?.description.contains($0.name) == true })
    }

    @Test func truncatedSafetensorsNamesTheFile() throws {
        let dir = try FormatTestSupport.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let bytes = try FormatTestSupport.read(Fixtures.shared("fixtures/dev-llama3/hf/model.safetensors"))
        let path = dir + "/model.safetensors"
        try FormatTestSupport.write(Array(bytes.prefix(bytes.count - 100)), to: path)
        let e = #expect(throws: SafetensorsError.self) { try SafetensorsFile(path: path) }
        #expect(e?.description.contains(path) == true)
        // Cut inside the header too.
        try FormatTestSupport.write(Array(bytes.prefix(200)), to: path)
        let e2 = #expect(throws: SafetensorsError.self) { try SafetensorsFile(path: path) }
        #expect(e2?.description.contains(path) == true)
        // And the whole directory fails the same way.
        try FileManager.default.copyItem(atPath: Fixtures.shared("fixtures/dev-llama3/hf/config.json"), toPath: dir + "/config.json")
        #expect(throws: SafetensorsError.self) { try HuggingFaceCheckpoint(path: dir) }
    }

    @Test func lyingOffsetsAreRefused() throws {
        let data = [UInt8](repeating: 0, count: 16)
        func open(_ header: String) throws -> SafetensorsFile {
            let bytes = FormatTestSupport.safetensors(header: header, data: data)
            return try bytes.withUnsafeBytes { try SafetensorsFile(bytes: $0, owner: FormatsKeepAlive(), path: "/x/lie.safetensors") }
        }
        let ok = try open(#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#)
        #expect(ok.tensors.count == 1 && ok.info("a")?.shape == [2, 2])
        for header in [#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,32]}}"#,     // past the end
                       #"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[8,4]}}"#,      // backwards
                       #"{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}}"#,     // size ≠ dtype × shape
                       #"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[-4,12]}}"#,    // negative
                       #"{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}}"#] {  // overflow
            let e = #expect(throws: SafetensorsError.self) { try open(header) }
            #expect(e?.description.contains("/x/lie.safetensors") == true)
            #expect(e?.description.contains("\"a\"") == true)
        }
        let f = try open(#"{"a":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}"#)
        let e = #expect(throws: SafetensorsError.self) { try f.weight("a", as: "x") }
        #expect(e == .unsupportedDType(path: "/x/lie.safetensors", tensor: "a", dtype: "I32"))
    }
}
