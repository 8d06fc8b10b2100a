import Foundation
import Llama
import Testing

/// llama.cpp's test vectors for every vocabulary in `../shared/vocab`: each input must give
/// the ids in its `.out` file (made by the `tokenizers` library on the original tokenizer).
@Suite struct PreTokenizerVocabTests {
    static let byteLevel = ["command-r", "deepseek-coder", "deepseek-llm", "falcon", "gpt-2", "llama-bpe", "mpt",
                            "qwen2", "qwen35", "refact", "starcoder"]

    @Test(arguments: byteLevel)
    func llamaCppVectors(name: String) throws {
        let file = "ggml-vocab-\(name).gguf"
        let t = try TokenizerLoader.load(gguf: GGUFFile(path: Fixtures.shared("vocab/\(file)")))
        let v = try VocabVectors.load(file)
        #expect(v.inputs.count == v.outputs.count && v.inputs.count > 40)
        var failures = 0
        for (text, expected) in zip(v.inputs, v.outputs) {
            let ids = t.encode(text, allowSpecial: false)
            if ids != expected { failures += 1 }
            #expect(ids == expected, "\(name): \(text.debugDescription)")
            #expect(try t.decode(ids) == text, "\(name): decode")
        }
        #expect(failures == 0, "\(name): \(failures) of \(v.inputs.count) inputs differ")
    }

    /// Names without llama.cpp vectors: their regex lists on GPT-2's vocabulary, against the
    /// `tokenizers` library running the same lists (`scripts/make_pretokenizer_vectors.py`).
    @Test(arguments: ["default", "deepseek-v3", "smollm", "poro-chat", "viking", "chatglm-bpe", "tekken", "gpt-4o",
                      "bailingmoe", "seed-coder", "chameleon"])
    func namedListsMatchTokenizersLibrary(name: String) throws {
        struct File: Decodable {
            struct Case: Decodable { let text: String; let ids: [Int] }
            struct Entry: Decodable { let cases: [Case] }
            let names: [String: Entry]
        }
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/pretokenizers/vectors.json")
        let file = try JSONDecoder().decode(File.self, from: Data(contentsOf: path))
        let entry = try #require(file.names[name])
        let t = try ByteLevelBPETokenizer.fromGGUF(GGUFFile(path: Fixtures.shared("vocab/ggml-vocab-gpt-2.gguf")), preTokenizerOverride: name)
        #expect(entry.cases.count > 10)
        for c in entry.cases {
            let ids = t.encode(c.text, allowSpecial: false)
            #expect(ids == c.ids, "\(name): \(c.text.debugDescription)")
            #expect(try t.decode(ids) == c.text)
        }
    }

    @Test func everyNamedPreTokenizerCompiles() throws {
        #expect(PreTokenizer.llamaCppNames.count > 60)
        for name in PreTokenizer.llamaCppNames {
            #expect(PreTokenizer.llamaCpp(named: name) != nil, "\(name)")
        }
    }

    @Test func unknownNameListsTheSupportedOnes() throws {
        let f = try GGUFFile(path: Fixtures.shared("vocab/ggml-vocab-gpt-2.gguf"))
        do {
            _ = try ByteLevelBPETokenizer.fromGGUF(f, preTokenizerOverride: "no-such-pre")
            Issue.record("expected an error")
        } catch let e as TokenizerLoadError {
            let text = "\(e)"
            #expect(text.contains("\"no-such-pre\"") && text.contains("smollm") && text.contains("deepseek-v3"))
        }
    }
}
