import Foundation
import Llama
import Testing

/// A Hugging Face folder with only `tokenizer.json` exported to GGUF: the vocabulary written
/// (`GGUFVocabularyWriter`) must tokenize as the `tokenizers` library does on the folder's
/// `cases.json` (byte-level files), and as llama.cpp does on the vocabulary the folder was made
/// from (SentencePiece-style files, whose GGUF form follows llama.cpp's rules).
@Suite struct TokenizerJSONToGGUFTests {
    /// Writes the tokenizer's vocabulary alone to a GGUF file and loads it back.
    static func exported(_ name: String, vocabularySize: Int? = nil) throws -> (HuggingFaceTokenizer, any Tokenizer, [(String, GGUFWriter.Value)]) {
        let source = try HuggingFaceTokenizer.load(path: Fixtures.shared("tokenizers/hf/\(name)/tokenizer.json"))
        let meta = try GGUFVocabularyWriter.metadata(for: source, vocabularySize: vocabularySize)
        var writer = GGUFWriter()
        writer.set("general.architecture", .string("llama"))
        // As `llama export` names a model: its folder (llama.cpp sets Phi-3's rstrip tokens by name).
        writer.set("general.name", .string(name))
        for (k, v) in meta { writer.set(k, v) }
        let loaded = try withTempFile([], name: "vocab-\(name).gguf") { path in
            try writer.write(to: path)
            return try TokenizerLoader.load(path: path)
        }
        return (source, loaded, meta)
    }

    static func string(_ meta: [(String, GGUFWriter.Value)], _ key: String) -> String? {
        guard let (_, v) = meta.first(where: { $0.0 == key }), case let .string(s) = v else { return nil }
        return s
    }

    @Test(arguments: [("gpt-2", "gpt-2"), ("llama-bpe", "smaug-bpe"), ("qwen2", "qwen2")])
    func byteLevelExportTokenizesAsTokenizersLibrary(name: String, pre: String) throws {
        let (source, loaded, meta) = try Self.exported(name)
        #expect(Self.string(meta, "tokenizer.ggml.model") == "gpt2")
        // llama-bpe's tokenizer.json (made by transformers) has ignore_merges false: llama.cpp's
        // name for Llama 3's regex without the whole-piece shortcut is smaug-bpe.
        #expect(Self.string(meta, "tokenizer.ggml.pre") == pre)
        #expect(loaded.vocabularySize == source.vocabularySize)
        #expect(loaded.bosID == source.bosID && loaded.eosID == source.eosID)
        #expect(loaded.addsBOSByDefault == source.addsBOSByDefault)
        let cases = try HFTokenizerCase.load(name)
        // llama.cpp makes a plain token with an end-of-turn name (qwen2's "</s>") CONTROL
        // (ControlTokenPromotionTests): in GGUF form it is split out when specials are allowed,
        // where `tokenizers` keeps it as text. Such a case gives what llama.cpp's own
        // vocabulary file, which the folder was made from, gives.
        let vocabulary = try TokenizerLoader.load(gguf: GGUFFile(path: Fixtures.shared("vocab/ggml-vocab-\(name).gguf")))
        let promoted = ["</s>"].filter { text in
            vocabulary.encode(text, allowSpecial: true).count == 1 && vocabulary.encode(text, allowSpecial: false).count > 1
        }
        var failures = 0
        for var c in cases {
            if promoted.contains(where: { c.text.contains($0) }) {
                let ids = vocabulary.encode(c.text, allowSpecial: true)
                #expect(ids != c.ids, "\(name): \(c.text.debugDescription) is not changed by the promotion")
                // The post-processor adds nothing for these vocabularies (qwen2).
                #expect(c.ids_with_specials == c.ids)
                c = HFTokenizerCase(text: c.text, ids: ids, ids_with_specials: ids)
            }
            // Added tokens in the text are matched by `tokenizers` always; in GGUF the special
            // ones are control tokens, matched when the caller allows it.
            let plain = loaded.encode(c.text, allowSpecial: true)
            let full = loaded.encode(c.text, addBOS: loaded.addsBOSByDefault, allowSpecial: true)
            if plain != c.ids || full != c.ids_with_specials { failures += 1 }
            #expect(plain == c.ids, "\(name): \(c.text.debugDescription)")
            #expect(full == c.ids_with_specials, "\(name) with specials: \(c.text.debugDescription)")
        }
        #expect(failures == 0, "\(name): \(failures) of \(cases.count) cases differ")
    }

    /// The SentencePiece-style folders were made from llama.cpp's vocabulary GGUFs; the exported
    /// vocabulary must tokenize as those do (llama.cpp's rules: the vocabulary tests' ids).
    @Test(arguments: [("llama-spm", "llama-spm"), ("phi-3", "phi-3")])
    func sentencePieceExportTokenizesAsLlamaCppVocabulary(name: String, vocab: String) throws {
        let (source, loaded, meta) = try Self.exported(name)
        #expect(Self.string(meta, "tokenizer.ggml.model") == "llama")
        #expect(loaded.vocabularySize == source.vocabularySize)
        #expect(loaded.bosID == source.bosID && loaded.eosID == source.eosID)
        #expect(loaded.addsBOSByDefault)
        let original = try TokenizerLoader.load(path: Fixtures.shared("vocab/ggml-vocab-\(vocab).gguf"))
        let vectors = try VocabVectors.load("ggml-vocab-\(vocab).gguf")
        var failures = 0
        for (text, ids) in zip(vectors.inputs, vectors.outputs) {
            let got = loaded.encode(text, allowSpecial: false)
            if got != ids { failures += 1 }
            #expect(got == ids, "\(name): \(text.debugDescription)")
        }
        #expect(failures == 0, "\(name): \(failures) of \(vectors.inputs.count) llama.cpp vectors differ")
        for c in try HFTokenizerCase.load(name) {
            for allow in [false, true] {
                #expect(loaded.encode(c.text, allowSpecial: allow) == original.encode(c.text, allowSpecial: allow),
                        "\(name) allowSpecial \(allow): \(c.text.debugDescription)")
            }
        }
    }

    /// A model with more embedding rows than tokens gets unused "[PAD<i>]" entries, as
    /// llama.cpp's converter writes them (llama.cpp refuses a vocabulary shorter than the model).
    @Test func paddedToTheModelsVocabularySize() throws {
        let (source, loaded, meta) = try Self.exported("gpt-2", vocabularySize: 50304)
        #expect(loaded.vocabularySize == 50304)
        guard let (_, v) = meta.first(where: { $0.0 == "tokenizer.ggml.token_type" }), case let .array(_, items) = v else {
            Issue.record("no token_type")
            return
        }
        #expect(items.count == 50304)
        if case let .int32(t)? = items.last { #expect(t == 5) } else { Issue.record("token_type is not i32") }
        #expect(loaded.encode("Hello world", allowSpecial: false) == source.encode("Hello world", allowSpecial: false))
    }

    /// llama.cpp's converter wrote `../shared/arch/*/model.gguf` from the `hf/` folders beside
    /// them (a tokenizer.json each): `llama export` of those folders writes the same vocabulary.
    @Test(arguments: ["qwen2", "mistral", "mixtral", "phi3", "gemma", "gemma2", "gpt2"])
    func exportWritesTheConvertersVocabulary(_ arch: String) throws {
        let (w, notes) = try GGUFExport.writer(try CheckpointLoader.load(path: Fixtures.shared("arch/\(arch)/hf")), type: .f32)
        #expect(notes.isEmpty, "\(notes)")
        let out = ArchitectureFixtureTests.tempPath("\(arch)-vocab.gguf")
        defer { unlink(out) }
        try w.write(to: out)
        let ours = try GGUFFile(path: out), theirs = try GGUFFile(path: Fixtures.shared("arch/\(arch)/model.gguf"))
        for key in theirs.metadataKeys where key.hasPrefix("tokenizer.ggml.") && key != "tokenizer.ggml.add_space_prefix" {
            #expect(ours.metadata[key] == theirs.metadata[key], "\(arch): \(key)")
        }
    }
}
