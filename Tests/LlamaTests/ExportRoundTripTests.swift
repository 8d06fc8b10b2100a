import Foundation
import Testing
import Llama

/// `llama export` and `llama quantize` end to end: every type they list is written, the result
/// is read back by `llama generate` with the same logits and by `llama tokenize` with the same
/// ids, and nothing the model needs (tokenizer, special ids, chat template) is dropped on the way.
@Suite struct ExportRoundTripTests {
    let cli = GenerateCommandTests()
    static let ids = "1 450 99 173 298 13"
    static let text = "Hello world, it's 2026!\n  Two spaces"

    func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "swiftllama-export-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// Logits of the last position for `ids` through `llama generate --logits-out`.
    func logits(_ model: String, ids: String = ExportRoundTripTests.ids, extra: [String] = []) throws -> [Float] {
        let out = NSTemporaryDirectory() + "swiftllama-export-logits-\(UUID().uuidString).json"
        defer { unlink(out) }
        let r = try cli.run(["generate", "--model", model, "--ids", ids, "--max-tokens", "1", "--temperature", "0",
                             "--print-ids", "--logits-out", out] + extra)
        #expect(r.status == 0, "\(model): \(r.err)")
        return try cli.readLogits(out)
    }

    func tokenize(_ tokenizer: String, _ text: String) throws -> String {
        let r = try cli.run(["tokenize", "--tokenizer", tokenizer, "--special", text])
        #expect(r.status == 0, "\(tokenizer): \(r.err)")
        return r.out
    }

    func tokenizerMetadata(_ path: String) throws -> [String: GGUFValue] {
        try GGUFFile(path: path).metadata.filter { $0.key.hasPrefix("tokenizer.") }
    }

    /// Item 1: the documented default (`--type f32`) and every other listed type work, for
    /// export and quantize alike, and the GGUF keeps its tokenizer metadata unchanged (item 2).
    @Test(arguments: ["f32", "f16", "bf16", "q8_0", "q4_0"])
    func everyListedTypeIsWrittenWithTheTokenizer(type: String) throws {
        let source = try Fixtures.shared("fixtures/dev-odd/model-f16.gguf")
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (command, out) in [(["export", source, "--to", dir + "/e.gguf", "--type", type], dir + "/e.gguf"),
                               (["quantize", source, dir + "/q.gguf", "--type", type], dir + "/q.gguf")] {
            let r = try cli.run(command)
            #expect(r.status == 0, "\(command): \(r.err)")
            let file = try GGUFFile(path: out)
            let wq = try #require(file.tensors.first { $0.name == "blk.0.attn_q.weight" })
            #expect(wq.type?.name.lowercased() == type)
            #expect(try tokenizerMetadata(out) == tokenizerMetadata(source))
        }
        let defaulted = try cli.run(["export", source, "--to", dir + "/d.gguf"])
        #expect(defaulted.status == 0, "\(defaulted.err)")
        #expect(try GGUFFile(path: dir + "/d.gguf").tensors.first { $0.name == "blk.0.attn_q.weight" }?.type == .f32)
    }

    /// GGUF → GGUF keeps the logits (F32 of F16 weights is exact) and the tokenizer's ids,
    /// BOS/EOS and end-of-generation behaviour included.
    @Test(arguments: ["fixtures/dev-llama3/model.gguf", "fixtures/dev-odd/model-f16.gguf"])
    func ggufExportKeepsLogitsAndTokenizer(_ fixture: String) throws {
        let source = try Fixtures.shared(fixture)
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let out = dir + "/x.gguf"
        let r = try cli.run(["export", source, "--to", out, "--type", "f32"])
        #expect(r.status == 0, "\(r.err)")
        #expect(!r.err.contains("note: no"), "\(r.err)")
        let a = try logits(source), b = try logits(out)
        #expect(a.count == b.count && maxAbsDifference(a, b) <= 1e-4)
        #expect(try tokenize(source, Self.text) == tokenize(out, Self.text))
        #expect(try tokenizerMetadata(out) == tokenizerMetadata(source))
    }

    /// GGUF → Hugging Face directory → `llama generate --model DIR "text"`: same logits, same
    /// ids from the written tokenizer.model, and the configs carry BOS/EOS.
    @Test(arguments: ["fixtures/dev-odd/model-f16.gguf", "models/shakespeare.gguf"])
    func hfExportRunsWithItsOwnTokenizer(_ fixture: String) throws {
        let source = fixture.hasPrefix("models/") ? try Fixtures.repository(fixture) : try Fixtures.shared(fixture)
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let hf = dir + "/hf"
        let r = try cli.run(["export", source, "--to", hf, "--format", "hf"])
        #expect(r.status == 0, "\(r.err)")
        #expect(!r.err.contains("note: no"), "\(r.err)")
        let a = try logits(source), b = try logits(hf)
        #expect(a.count == b.count && maxAbsDifference(a, b) <= 1e-4)
        #expect(try tokenize(source, Self.text) == tokenize(hf + "/tokenizer.model", Self.text))

        let generated = try cli.run(["generate", "--model", hf, "--max-tokens", "4", "--seed", "1", "Hello"])
        #expect(generated.status == 0, "\(generated.err)")
        let config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: hf + "/config.json"))) as? [String: Any])
        let generation = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: hf + "/generation_config.json"))) as? [String: Any])
        let tokenizerConfig = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: hf + "/tokenizer_config.json"))) as? [String: Any])
        let tok = try #require(try GGUFCheckpoint(path: source).tokenizer)
        #expect(config["eos_token_id"] as? Int == tok.eosID)
        #expect(generation["bos_token_id"] as? Int == tok.bosID)
        let eos = generation["eos_token_id"] as? Int ?? (generation["eos_token_id"] as? [Int])?.first
        #expect(eos == tok.eosID)
        #expect(tokenizerConfig["add_bos_token"] as? Bool == tok.addsBOSByDefault)
    }

    /// Export never writes over its input, whatever the path's spelling or the format.
    @Test func exportRefusesToOverwriteItsInput() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let source = try Fixtures.shared("fixtures/dev-odd/model-f16.gguf")
        try FileManager.default.copyItem(atPath: source, toPath: dir + "/m.gguf")
        let before = try Data(contentsOf: URL(fileURLWithPath: dir + "/m.gguf"))
        let same = try cli.run(["export", dir + "/m.gguf", "--to", dir + "/./m.gguf", "--type", "f16"])
        #expect(same.status != 0 && same.err.contains("is the input"), "\(same.err)")
        #expect(try cli.run(["export", dir + "/m.gguf", "--to", dir + "/hf", "--format", "hf"]).status == 0)
        let hf = try cli.run(["export", dir + "/hf", "--to", dir + "/hf", "--format", "hf"])
        #expect(hf.status != 0 && hf.err.contains("model.safetensors"), "\(hf.err)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/m.gguf")) == before)
    }

    /// An HF folder whose tokenizer is a tokenizer.json: HF export copies it as it is; GGUF
    /// export writes it as a llama.cpp vocabulary, which tokenizes as the GGUF the folder's
    /// tokenizer.json was made from (llama.cpp's rules for SentencePiece).
    @Test func tokenizerJSONTravelsToHuggingFaceAndToGGUF() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let source = try Fixtures.shared("fixtures/dev-odd/model-f16.gguf")
        #expect(try cli.run(["export", source, "--to", dir + "/hf1", "--format", "hf"]).status == 0)
        try FileManager.default.removeItem(atPath: dir + "/hf1/tokenizer.model")
        let json = try Fixtures.shared("tokenizers/hf/llama-spm/tokenizer.json")
        try FileManager.default.copyItem(atPath: json, toPath: dir + "/hf1/tokenizer.json")
        let r = try cli.run(["export", dir + "/hf1", "--to", dir + "/hf2", "--format", "hf"])
        #expect(r.status == 0 && !r.err.contains("note: no"), "\(r.err)")
        #expect(FileManager.default.contents(atPath: dir + "/hf2/tokenizer.json") == FileManager.default.contents(atPath: json))
        #expect(try tokenize(dir + "/hf2/tokenizer.json", Self.text) == tokenize(json, Self.text))
        let g = try cli.run(["export", dir + "/hf1", "--to", dir + "/m.gguf"])
        #expect(g.status == 0 && !g.err.contains("note: no"), "\(g.err)")
        #expect(try tokenize(dir + "/m.gguf", Self.text + " <s>x</s>") == tokenize(source, Self.text + " <s>x</s>"))
    }

    /// Chat templates (a default and a named one) survive HF → GGUF → HF.
    @Test func chatTemplateTravelsBothWays() throws {
        let source = try Fixtures.shared("fixtures/dev-odd/model-f16.gguf")
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try cli.run(["export", source, "--to", dir + "/hf1", "--format", "hf"]).status == 0)
        let template = "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}</s>\n{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
        let configPath = dir + "/hf1/tokenizer_config.json"
        var config = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: configPath))) as? [String: Any])
        let toolUse = "{{ tools | tojson }}{% for m in messages %}{{ m.content }}{% endfor %}"
        config["chat_template"] = [["name": "default", "template": template], ["name": "tool_use", "template": toolUse]]
        try JSONSerialization.data(withJSONObject: config).write(to: URL(fileURLWithPath: configPath))

        let toGGUF = try cli.run(["export", dir + "/hf1", "--to", dir + "/m.gguf", "--type", "f16"])
        #expect(toGGUF.status == 0, "\(toGGUF.err)")
        #expect(try GGUFFile(path: dir + "/m.gguf").metadata["tokenizer.chat_template"]?.string == template)
        #expect(try GGUFFile(path: dir + "/m.gguf").metadata["tokenizer.chat_template.tool_use"]?.string == toolUse)
        #expect(try cli.run(["export", dir + "/m.gguf", "--to", dir + "/hf2", "--format", "hf"]).status == 0)
        let back = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/hf2/tokenizer_config.json"))) as? [String: Any])
        let named = (back["chat_template"] as? [[String: String]]) ?? []
        #expect(named.first { $0["name"] == "default" }?["template"] == template)
        #expect(named.first { $0["name"] == "tool_use" }?["template"] == toolUse)
        // The HF → GGUF step kept the vocabulary too.
        #expect(try tokenize(source, Self.text) == tokenize(dir + "/m.gguf", Self.text))
    }

    /// A training run → GGUF and → HF: both give the run's logits and the run's tokenizer ids;
    /// for a Llama run and a Qwen2-style one (`--qkv-bias`: written as qwen2, with its biases).
    @Test(arguments: [false, true])
    func trainingRunExportsRoundTrip(qkvBias: Bool) throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // 256 byte tokens (a tiktoken file) + BOS/EOS; the model's vocabulary matches.
        var tiktoken = ""
        for b in 0..<256 { tiktoken += Data([UInt8(b)]).base64EncodedString() + " \(b)\n" }
        let run = dir + "/run"
        try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
        var stream: [Int32] = []
        for (i, b) in Array(String(repeating: "To be, or not to be: that is the question. ", count: 40).utf8).enumerated() {
            stream.append(Int32(b))
            if i % 97 == 0 { stream.append(257) }
        }
        let data = TrainingData(train: Array(stream[..<1500]), val: Array(stream[1500...]), vocabSize: 258, directory: "synthetic")
        let config = ModelConfig.training(vocabSize: 258, dim: 32, layerCount: 2, headCount: 4, kvHeadCount: 2, hiddenDim: 64, context: 32,
                                          architecture: qkvBias ? .qwen2 : .llama)
        var hyper = TrainingHyperparameters()
        hyper.batch = 2
        hyper.steps = 6
        hyper.warmup = 2
        hyper.evalEvery = 6
        hyper.saveEvery = 6
        let trainer = try Trainer(config: config, hyper: hyper, data: data, runDirectory: run, threads: 2)
        _ = try trainer.run()
        try Data(tiktoken.utf8).write(to: URL(fileURLWithPath: run + "/tokenizer.tiktoken"))

        let ids = "256 84 111 32 98 101"
        let reference = try logits(run, ids: ids)
        for (args, model, tok) in [(["--to", dir + "/r.gguf"], dir + "/r.gguf", dir + "/r.gguf"),
                                   (["--to", dir + "/hf", "--format", "hf"], dir + "/hf", dir + "/hf/tokenizer.model")] {
            let r = try cli.run(["export", run] + args)
            #expect(r.status == 0, "\(r.err)")
            #expect(!r.err.contains("note: no"), "\(r.err)")
            let got = try logits(model, ids: ids)
            #expect(got.count == reference.count && maxAbsDifference(got, reference) <= 1e-5, "\(model)")
            #expect(try tokenize(run + "/tokenizer.tiktoken", Self.text) == tokenize(tok, Self.text))
        }
        let gguf = try GGUFFile(path: dir + "/r.gguf")
        #expect(gguf.metadata["general.architecture"] == .string(qkvBias ? "qwen2" : "llama"))
        #expect(gguf.tensors.contains { $0.name == "blk.1.attn_v.bias" } == qkvBias)
    }
}
