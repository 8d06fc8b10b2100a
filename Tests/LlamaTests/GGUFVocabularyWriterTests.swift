import Foundation
import Testing
import Llama

@Suite struct GGUFVocabularyWriterTests {
    /// Texts beyond the fixture cases: long, mixed-script, whitespace runs, special-token text.
    static let extraTexts: [String] = [
        String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 40),
        "Ünïcödé 日本語のテキスト 한국어 Ελληνικά русский текст 🦙🦙 emoji\u{200D}joiners",
        "   leading spaces\n\n\n\ttabs\t\tand   runs    of spaces   \r\n",
        "<|begin_of_text|>Hello<|end_of_text|> <s> </s> <unk> <|eot_id|>text",
        "x = [1, 22, 333, 4444, 55555]; // code-ish: foo_bar(baz) -> qux != 0x1F",
        String(repeating: "a", count: 3000) + String(repeating: "ab", count: 300),
        "I'm you're we'll they've she'd DON'T Can'T",
    ]

    static func texts() throws -> [String] {
        try TokenizerCase.load().map(\.text) + extraTexts
    }

    /// Writes the vocabulary alone to a GGUF file and loads it back with `TokenizerLoader`.
    static func roundTrip(_ tokenizer: any Tokenizer) throws -> (any Tokenizer, [(String, GGUFWriter.Value)]) {
        let meta = try GGUFVocabularyWriter.metadata(for: tokenizer)
        var writer = GGUFWriter()
        writer.set("general.architecture", .string("llama"))
        for (k, v) in meta { writer.set(k, v) }
        let loaded = try withTempFile([], name: "vocab.gguf") { path in
            try writer.write(to: path)
            return try TokenizerLoader.load(path: path)
        }
        return (loaded, meta)
    }

    static func expectSameEncoding(_ a: any Tokenizer, _ b: any Tokenizer, _ texts: [String]) {
        #expect(a.vocabularySize == b.vocabularySize)
        #expect(a.bosID == b.bosID && a.eosID == b.eosID)
        #expect(a.addsBOSByDefault == b.addsBOSByDefault)
        #expect(a.specialTokens == b.specialTokens)
        for text in texts {
            for allow in [false, true] {
                #expect(a.encode(text, allowSpecial: allow) == b.encode(text, allowSpecial: allow),
                        "allowSpecial \(allow): \(text.prefix(80).debugDescription)")
            }
        }
    }

    static func strings(_ meta: [(String, GGUFWriter.Value)], _ key: String) -> [String] {
        guard let (_, v) = meta.first(where: { $0.0 == key }), case let .array(_, items) = v else { return [] }
        return items.compactMap { if case let .string(s) = $0 { return s } else { return nil } }
    }

    @Test func llama3TiktokenRoundTripsAndMergesMatchLlamaCpp() throws {
        let source = try SharedTokenizers.requireLlama3()
        // Speed is not asserted here (tests are not benchmarks); the time is printed.
        let clock = ContinuousClock()
        var meta: [(String, GGUFWriter.Value)] = []
        let elapsed = try clock.measure { meta = try GGUFVocabularyWriter.metadata(for: source) }
        print("llama3 metadata (merge derivation included): \(elapsed)")

        let (loaded, _) = try Self.roundTrip(source)
        #expect(loaded is ByteLevelBPETokenizer)
        #expect(loaded.endOfGenerationIDs == source.endOfGenerationIDs)
        Self.expectSameEncoding(source, loaded, try Self.texts())

        // The derived merges against the list llama.cpp ships. That list (from Hugging Face's
        // conversion) names every split of every token into two tokens, 280 147 in all; the
        // derivation keeps the one split tiktoken's merging can reach, so its list must be a
        // subsequence of llama.cpp's, and agree on the first listed split of most tokens.
        let refFile = try GGUFFile(path: try Fixtures.shared("vocab/ggml-vocab-llama-bpe.gguf"))
        let derived = Self.strings(meta, "tokenizer.ggml.merges")
        let reference = try refFile.stringArray("tokenizer.ggml.merges")
        let referenceSet = Set(reference)
        let inReference = derived.filter { referenceSet.contains($0) }.count
        var j = 0
        var subsequence = 0
        for m in derived {
            while j < reference.count && reference[j] != m { j += 1 }
            if j < reference.count { subsequence += 1; j += 1 }
        }
        var firstSplit: [String: String] = [:]
        for m in reference {
            let whole = m.replacingOccurrences(of: " ", with: "")
            if firstSplit[whole] == nil { firstSplit[whole] = m }
        }
        let sameFirstSplit = derived.filter { firstSplit[$0.replacingOccurrences(of: " ", with: "")] == $0 }.count
        print("llama3 merges: derived \(derived.count) (for \(128_000 - 256) merged tokens), llama.cpp \(reference.count) covering \(firstSplit.count) tokens; derived in llama.cpp's list \(inReference), in the same order \(subsequence), equal to its first split \(sameFirstSplit)")
        #expect(inReference == derived.count)
        #expect(subsequence == derived.count)

        // Ordinary tokens are the strings llama.cpp stores (its file has older special-token names).
        let refTokens = try refFile.stringArray("tokenizer.ggml.tokens")
        #expect(Array(Self.strings(meta, "tokenizer.ggml.tokens").prefix(128_000)) == Array(refTokens.prefix(128_000)))

        // The export with one merge per token encodes as llama.cpp's full list does.
        let reference3 = try ByteLevelBPETokenizer.fromGGUF(refFile)
        for text in try Self.texts() + VocabVectors.load("ggml-vocab-llama-bpe.gguf").inputs {
            #expect(loaded.encode(text, allowSpecial: false) == reference3.encode(text, allowSpecial: false), "\(text.prefix(80).debugDescription)")
        }
    }

    @Test func llama2SentencePieceRoundTrips() throws {
        let source = try TokenizerLoader.load(path: try Fixtures.shared("tokenizers/llama2/tokenizer.model"))
        let (loaded, meta) = try Self.roundTrip(source)
        #expect(loaded is SentencePieceTokenizer)
        #expect(Self.strings(meta, "tokenizer.ggml.tokens") == (try GGUFFile(path: try Fixtures.shared("vocab/ggml-vocab-llama-spm.gguf")).stringArray("tokenizer.ggml.tokens")))
        Self.expectSameEncoding(source, loaded, try Self.texts())
        let cases = try TokenizerCase.load()
        for c in cases { #expect(loaded.encode(c.text, allowSpecial: false) == c.llama2, "\(c.text.debugDescription)") }
    }

    @Test func trainedTokenizerRoundTrips() throws {
        let corpus = try String(contentsOfFile: try Fixtures.shared("data/tinyshakespeare.txt"), encoding: .utf8)
        let text = String(corpus.prefix(50_000))
        let result = try BPETrainer(vocabularySize: 600).train(text)
        let source = try withTempFile([], name: "trained.tiktoken") { path in
            try BPETrainer.writeTiktoken(result.tokens, to: path)
            return try TokenizerLoader.load(path: path)
        }
        #expect(source.vocabularySize == 602)
        let (loaded, meta) = try Self.roundTrip(source)
        let merges = Self.strings(meta, "tokenizer.ggml.merges")
        print("trained 600: \(merges.count) merges for \(600 - 256) merged tokens")
        #expect(merges.count == 600 - 256)
        Self.expectSameEncoding(source, loaded, try Self.texts() + [text, String(corpus.dropFirst(50_000).prefix(20_000))])
    }

    /// A GGUF "gpt2" vocabulary written back out keeps its merge list and its behaviour.
    @Test(arguments: ["ggml-vocab-llama-bpe.gguf", "ggml-vocab-qwen2.gguf"])
    func ggufByteLevelVocabularyRoundTrips(name: String) throws {
        let path = try Fixtures.shared("vocab/\(name)")
        let file = try GGUFFile(path: path)
        let source = try TokenizerLoader.load(gguf: file)
        let (loaded, meta) = try Self.roundTrip(source)
        #expect(Self.strings(meta, "tokenizer.ggml.merges") == (try file.stringArray("tokenizer.ggml.merges")))
        #expect(Self.strings(meta, "tokenizer.ggml.tokens") == (try file.stringArray("tokenizer.ggml.tokens")))
        Self.expectSameEncoding(source, loaded, try Self.texts() + VocabVectors.load(name).inputs)
    }

    @Test func otherTokenizersAreRefusedByName() throws {
        struct Fake: Tokenizer {
            var vocabularySize: Int { 1 }
            var bosID: TokenID? { nil }
            var eosID: TokenID? { nil }
            var endOfGenerationIDs: Set<TokenID> { [] }
            var specialTokens: [String: TokenID] { [:] }
            func encode(_ text: String, allowSpecial: Bool) -> [TokenID] { [] }
            func decodedBytes(of id: TokenID, atStart: Bool) -> [UInt8]? { nil }
            func pieceDescription(of id: TokenID) -> String? { nil }
        }
        #expect(throws: GGUFVocabularyWriter.ExportError.unsupportedTokenizer(typeName: "Fake")) {
            try GGUFVocabularyWriter.metadata(for: Fake())
        }
        let message = "\(GGUFVocabularyWriter.ExportError.unsupportedTokenizer(typeName: "Fake"))"
        #expect(message.contains("byte-level BPE") && message.contains("SentencePiece"))
    }
}
