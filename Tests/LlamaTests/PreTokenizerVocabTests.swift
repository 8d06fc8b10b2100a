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
