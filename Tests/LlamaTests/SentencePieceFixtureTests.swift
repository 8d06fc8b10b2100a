import Foundation
import Testing
import Llama

/// Loads the shared SentencePiece vocabularies and the peers' expected ids.
enum SentencePieceFixtures {
    static func model() throws -> SentencePieceTokenizer {
        try SentencePieceTokenizer.load(modelPath: Fixtures.shared("tokenizers/llama2/tokenizer.model"))
    }
    static func llama2c() throws -> SentencePieceTokenizer {
        try SentencePieceTokenizer.load(llama2cPath: Fixtures.shared("tokenizers/llama2/tokenizer.bin"))
    }
    static func gguf(_ name: String) throws -> SentencePieceTokenizer {
        try SentencePieceTokenizer.load(ggufPath: Fixtures.shared("vocab/ggml-vocab-\(name).gguf"))
    }

    /// The three files that hold the Llama 2 vocabulary.
    static func allLlama2() throws -> [(String, SentencePieceTokenizer)] {
        [("tokenizer.model", try model()), ("tokenizer.bin", try llama2c()), ("llama-spm.gguf", try gguf("llama-spm"))]
    }

    struct Case { let text: String; let ids: [Int] }

    /// `fixtures/tokenizer-cases.json`: text and the `llama2` ids SentencePiece produced (no BOS).
    static func tokenizerCases() throws -> [Case] {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.shared("fixtures/tokenizer-cases.json")))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let cases = try #require(root["cases"] as? [[String: Any]])
        return try cases.map { c in
            Case(text: try #require(c["text"] as? String), ids: try #require(c["llama2"] as? [Int]))
        }
    }

    /// llama.cpp's vectors: the `.inp` file is each input followed by "\n__ggml_vocab_test__\n"
    /// (so the file ends with the marker too); the `.out` file has one line per input of
    /// space-separated ids, each id preceded by a space, no BOS.
    static func llamaCppVectors(_ name: String) throws -> [Case] {
        let inp = try String(contentsOfFile: Fixtures.shared("vocab/ggml-vocab-\(name).gguf.inp"), encoding: .utf8)
        let out = try String(contentsOfFile: Fixtures.shared("vocab/ggml-vocab-\(name).gguf.out"), encoding: .utf8)
        var inputs = inp.components(separatedBy: "\n__ggml_vocab_test__\n")
        #expect(inputs.last == "", "the .inp file should end with the marker")
        inputs.removeLast()
        var lines = out.components(separatedBy: "\n")
        #expect(lines.last == "")
        lines.removeLast()
        try #require(inputs.count == lines.count, "\(inputs.count) inputs, \(lines.count) output lines")
        return try zip(inputs, lines).map { text, line in
            let ids = try line.split(separator: " ").map { try #require(Int($0)) }
            return Case(text: text, ids: ids)
        }
    }
}

@Suite struct SentencePieceFixtureTests {
    @Test func loadsLlama2Vocabulary() throws {
        for (name, t) in try SentencePieceFixtures.allLlama2() {
            #expect(t.vocabularySize == 32000, "\(name)")
            #expect(t.bosID == 1 && t.eosID == 2 && t.unknownID == 0, "\(name)")
            #expect(t.endOfGenerationIDs == [2], "\(name)")
            #expect(t.specialTokens == ["<unk>": 0, "<s>": 1, "</s>": 2], "\(name)")
            #expect(t.configuration.byteFallback, "\(name)")
            #expect(t.configuration.addDummyPrefix, "\(name)")
            #expect(!t.configuration.removeExtraWhitespaces, "\(name)")
            #expect(t.pieceDescription(of: 15043) == "▁Hello", "\(name)")
            #expect(t.pieceDescription(of: 13) == "<0x0A>", "\(name)")
        }
    }

    @Test func allLlama2FilesHoldTheSameVocabulary() throws {
        let all = try SentencePieceFixtures.allLlama2()
        let reference = all[0].1
        for (name, t) in all.dropFirst() {
            for id in 0..<reference.vocabularySize {
                #expect(t.entry(of: id) == reference.entry(of: id), "\(name) id \(id)")
            }
        }
    }

    @Test func tokenizerCasesMatchSentencePiece() throws {
        let cases = try SentencePieceFixtures.tokenizerCases()
        #expect(cases.count == 17)
        for (name, t) in try SentencePieceFixtures.allLlama2() {
            for c in cases {
                #expect(t.encode(c.text, allowSpecial: false) == c.ids, "\(name): \(c.text.debugDescription)")
                // None of these texts contains Llama 2's special-token text, so allowing special
                // tokens must change nothing.
                #expect(t.encode(c.text, allowSpecial: true) == c.ids, "\(name) allowSpecial: \(c.text.debugDescription)")
            }
        }
    }

    @Test func llamaCppVectorsLlamaSPM() throws {
        let cases = try SentencePieceFixtures.llamaCppVectors("llama-spm")
        #expect(cases.count == 46)
        // The Llama 2 vocabulary gives the same ids from any of its three files.
        for (name, t) in try SentencePieceFixtures.allLlama2() {
            for c in cases {
                #expect(t.encode(c.text, allowSpecial: false) == c.ids, "\(name): \(c.text.debugDescription)")
            }
        }
    }

    @Test func llamaCppVectorsPhi3() throws {
        let cases = try SentencePieceFixtures.llamaCppVectors("phi-3")
        #expect(cases.count == 46)
        let t = try SentencePieceFixtures.gguf("phi-3")
        for c in cases {
            #expect(t.encode(c.text, allowSpecial: false) == c.ids, "\(c.text.debugDescription)")
            #expect(t.encode(c.text, allowSpecial: true) == c.ids, "allowSpecial: \(c.text.debugDescription)")
        }
    }

    @Test func roundTrips() throws {
        var texts = try SentencePieceFixtures.tokenizerCases().map(\.text)
        texts += try SentencePieceFixtures.llamaCppVectors("llama-spm").map(\.text)
        var tokenizers = try SentencePieceFixtures.allLlama2()
        tokenizers.append(("phi-3.gguf", try SentencePieceFixtures.gguf("phi-3")))
        for (name, t) in tokenizers {
            for text in texts {
                let ids = t.encode(text, allowSpecial: false)
                #expect(try t.decode(ids) == text, "\(name): \(text.debugDescription)")
                // The streaming decoder must agree with the one-shot decode.
                var stream = StreamingDecoder(tokenizer: t)
                var streamed = ""
                for id in ids { streamed += try stream.append(id) }
                streamed += stream.flush()
                #expect(streamed == text, "\(name) streamed: \(text.debugDescription)")
            }
        }
    }

    @Test func phi3Specials() throws {
        let t = try SentencePieceFixtures.gguf("phi-3")
        #expect(t.vocabularySize == 32064)
        #expect(t.bosID == 1)
        #expect(t.eosID == 32000)
        // EOS <|endoftext|>, <|end|>, and </s> (llama.cpp lists it among end-of-generation texts).
        #expect(t.endOfGenerationIDs == [32000, 32007, 2])
        #expect(t.specialTokens["<|user|>"] == 32010)
        #expect(t.specialTokens["<|assistant|>"] == 32001)
        #expect(t.specialTokens["<|end|>"] == 32007)
    }

    @Test func decodesSpecialAndByteTokens() throws {
        let t = try SentencePieceFixtures.model()
        #expect(try t.decode([1, 15043, 2]) == "Hello", "as SentencePiece: the dummy-prefix space goes from the first visible piece")
        #expect(try t.decode([15043, 3186]) == "Hello world")
        #expect(try t.decode([29871, 13]) == "\n")
        #expect(try t.decode([243, 162, 169, 156]) == "🦙")
        #expect(t.decodedBytes(of: 1, atStart: false) == [])
        #expect(t.decodedBytes(of: 0, atStart: false) == Array(" \u{2047} ".utf8))
        #expect(t.decodedBytes(of: 32000, atStart: false) == nil)
        #expect(t.decodedBytes(of: -1, atStart: false) == nil)
        #expect(throws: TokenizerError.self) { try t.decode([32000]) }
    }
}
