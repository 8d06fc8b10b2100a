import Testing
import Llama

@Suite struct GGUFMetadataTests {
    @Test func readsVocabularyFile() throws {
        let f = try GGUFFile(path: Fixtures.shared("vocab/ggml-vocab-llama-bpe.gguf"))
        #expect(f.version == 3)
        #expect(try f.string("tokenizer.ggml.model") == "gpt2")
        #expect(try f.stringArray("tokenizer.ggml.tokens").count == 128256)
    }
}
