import Foundation
import Llama
import Testing

/// llama.cpp makes end-of-turn and fill-in-the-middle tokens CONTROL by their text, whatever
/// type the GGUF gives them (Qwen2's plain `</s>`, DeepSeek-Coder's user-defined FIM tokens),
/// and ends generation at them. `Fixtures/control-tokens/llamacpp.json` holds what llama.cpp
/// (llama-cpp-python 0.3.36) reports for each byte-level vocabulary of `../shared/vocab`:
/// its end-of-generation ids, its CONTROL and USER_DEFINED ids, and the ids of probe texts
/// with and without special-token parsing (scripts/make_control_token_fixture.py).
@Suite struct ControlTokenPromotionTests {
    struct File: Decodable {
        struct Case: Decodable { let text: String; let ids: [Int]; let ids_special: [Int] }
        struct Vocabulary: Decodable { let eog: [Int]; let control: [Int]; let user_defined: [Int]; let cases: [Case] }
        let vocabularies: [String: Vocabulary]
    }

    static func fixture() throws -> File {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/control-tokens/llamacpp.json")
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: path))
    }

    @Test(arguments: PreTokenizerVocabTests.byteLevel)
    func matchesLlamaCpp(name: String) throws {
        let v = try #require(try Self.fixture().vocabularies[name], "\(name) missing from the fixture")
        let t = try TokenizerLoader.load(gguf: GGUFFile(path: Fixtures.shared("vocab/ggml-vocab-\(name).gguf")))
        #expect(t.endOfGenerationIDs == Set(v.eog), "\(name): end of generation")
        // Every token llama.cpp splits out of text (control or user-defined) is a special here.
        #expect(Set(t.specialTokens.values) == Set(v.control).union(v.user_defined), "\(name): special tokens")
        #expect(v.cases.count >= 10)
        for c in v.cases {
            #expect(t.encode(c.text, allowSpecial: false) == c.ids, "\(name): \(c.text.debugDescription)")
            #expect(t.encode(c.text, allowSpecial: true) == c.ids_special, "\(name): \(c.text.debugDescription) with specials")
        }
    }

    /// The promotions that change something on these vocabularies, spelled out.
    @Test func qwen2PlainEndOfSentenceAndDeepSeekFillInTheMiddle() throws {
        let qwen = try TokenizerLoader.load(gguf: GGUFFile(path: Fixtures.shared("vocab/ggml-vocab-qwen2.gguf")))
        #expect(qwen.endOfGenerationIDs.contains(128_247))  // "</s>", NORMAL in the file
        #expect(qwen.encode("a</s>", allowSpecial: true).last == 128_247)
        let coder = try TokenizerLoader.load(gguf: GGUFFile(path: Fixtures.shared("vocab/ggml-vocab-deepseek-coder.gguf")))
        // "<｜fim▁begin｜>" is USER_DEFINED in the file: llama.cpp splits it only with specials.
        #expect(coder.encode("<｜fim▁begin｜>", allowSpecial: true) == [32016])
        #expect(!coder.encode("<｜fim▁begin｜>", allowSpecial: false).contains(32016))
    }

    /// A vocabulary written back keeps the file's types (the promotion happens on loading).
    @Test func writingBackKeepsTheFileTypes() throws {
        let source = try GGUFFile(path: Fixtures.shared("vocab/ggml-vocab-deepseek-coder.gguf"))
        let t = try TokenizerLoader.load(gguf: source)
        var w = GGUFWriter()
        try GGUFVocabularyWriter.write(t, into: &w, vocabularySize: t.vocabularySize)
        let out = ArchitectureFixtureTests.tempPath("deepseek-coder-vocab-\(UUID().uuidString).gguf")
        defer { unlink(out) }
        try w.write(to: out)
        let back = try GGUFFile(path: out)
        #expect(try back.optionalIntArray("tokenizer.ggml.token_type") == (try source.optionalIntArray("tokenizer.ggml.token_type")))
    }
}
