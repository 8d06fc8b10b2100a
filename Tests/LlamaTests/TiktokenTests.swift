import Foundation
import Testing
import Llama

/// The cases of `fixtures/tokenizer-cases.json`, produced by tiktoken and SentencePiece.
struct TokenizerCase: Decodable {
    let text: String
    let llama3: [Int]
    let llama3_plain: [Int]
    let llama2: [Int]

    static func load() throws -> [TokenizerCase] {
        struct File: Decodable { let cases: [TokenizerCase] }
        let data = try Data(contentsOf: URL(fileURLWithPath: try Fixtures.shared("fixtures/tokenizer-cases.json")))
        return try JSONDecoder().decode(File.self, from: data).cases
    }
}

/// llama.cpp's tokenizer test vectors: inputs separated by `__ggml_vocab_test__` lines, one
/// line of ids per input.
struct VocabVectors {
    let inputs: [String]
    let outputs: [[Int]]

    static func load(_ name: String) throws -> VocabVectors {
        let inp = try String(contentsOfFile: try Fixtures.shared("vocab/\(name).inp"), encoding: .utf8)
        let out = try String(contentsOfFile: try Fixtures.shared("vocab/\(name).out"), encoding: .utf8)
        var inputs = inp.components(separatedBy: "\n__ggml_vocab_test__\n")
        if let last = inputs.last, last.isEmpty { inputs.removeLast() }
        let outputs = out.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { line in
            line.split(separator: " ").compactMap { Int($0) }
        }
        return VocabVectors(inputs: inputs, outputs: Array(outputs))
    }
}

enum SharedTokenizers {
    static let llama3: ByteLevelBPETokenizer? = try? TiktokenFile.load(path: Fixtures.shared("tokenizers/llama3/tokenizer.model"))
    static func requireLlama3() throws -> ByteLevelBPETokenizer {
        if let t = llama3 { return t }
        return try TiktokenFile.load(path: Fixtures.shared("tokenizers/llama3/tokenizer.model"))
    }
}

@Suite struct TiktokenTests {
    @Test func classicWalkthroughExample() throws {
        let t = try SharedTokenizers.requireLlama3()
        let ids = t.encode("the answer to the ultimate question of life, the universe, and everything is ", addBOS: true)
        #expect(ids == [128000, 1820, 4320, 311, 279, 17139, 3488, 315, 2324, 11, 279, 15861, 11, 323, 4395, 374, 220])
    }

    @Test func fixtureCasesMatchTiktoken() throws {
        let t = try SharedTokenizers.requireLlama3()
        let cases = try TokenizerCase.load()
        #expect(cases.count > 10)
        for c in cases {
            #expect(t.encode(c.text, allowSpecial: true) == c.llama3, "allowed specials: \(c.text.debugDescription)")
            #expect(t.encode(c.text, allowSpecial: false) == c.llama3_plain, "plain: \(c.text.debugDescription)")
            #expect(try t.decode(c.llama3) == c.text)
            #expect(try t.decode(c.llama3_plain) == c.text)
        }
    }

    @Test func specialTokensAreMetasCurrentNames() throws {
        let t = try SharedTokenizers.requireLlama3()
        #expect(t.vocabularySize == 128256)
        #expect(t.specialTokens["<|finetune_right_pad_id|>"] == 128004)
        #expect(t.specialTokens["<|image|>"] == 128011)
        #expect(t.specialTokens["<|reserved_special_token_245|>"] == 128255)
        #expect(t.bosID == 128000 && t.eosID == 128001)
        #expect(t.endOfGenerationIDs.contains(128009))
    }

    @Test(arguments: ["ggml-vocab-llama-bpe.gguf", "ggml-vocab-qwen2.gguf"])
    func llamaCppVectors(name: String) throws {
        let f = try GGUFFile(path: try Fixtures.shared("vocab/\(name)"))
        let t = try ByteLevelBPETokenizer.fromGGUF(f)
        let v = try VocabVectors.load(name)
        #expect(v.inputs.count == v.outputs.count && v.inputs.count > 40)
        for (text, expected) in zip(v.inputs, v.outputs) {
            let ids = t.encode(text, allowSpecial: false)
            #expect(ids == expected, "\(name): \(text.debugDescription)")
            #expect(try t.decode(ids) == text)
        }
    }

    /// Pieces up to 128 bytes and longer ones take different merge loops (a scan and a heap);
    /// both must give what tiktoken's rule gives: repeatedly merge the adjacent pair whose
    /// concatenation is the lowest-ranked token (rank = id), leftmost on ties, unless the
    /// whole piece is a token. Here that rule runs naively over the vocabulary's own bytes.
    @Test func longAndShortPiecesFollowTheMergeRule() throws {
        let t = try SharedTokenizers.requireLlama3()
        var rank: [[UInt8]: Int] = [:]
        for id in 0..<128_000 { if let b = t.decodedBytes(of: id, atStart: false) { rank[b] = id } }
        func naive(_ piece: [UInt8]) -> [Int] {
            if let id = rank[piece] { return [id] }
            var parts = piece.map { [$0] }
            while parts.count > 1 {
                var best: (rank: Int, at: Int)?
                for i in 0..<(parts.count - 1) {
                    if let r = rank[parts[i] + parts[i + 1]], r < (best?.rank ?? .max) { best = (r, i) }
                }
                guard let (_, i) = best else { break }
                parts[i] += parts[i + 1]
                parts.remove(at: i + 1)
            }
            return parts.map { rank[$0] ?? -1 }
        }
        var rng = Xoshiro256(seed: 1)
        // Letters only: the Llama 3 pre-tokenizer keeps the whole string as one piece, so
        // lengths past 128 bytes reach the long-piece loop.
        let alphabet = Array("aab\u{e9}\u{4e2d}ba")
        var long = 0
        for _ in 0..<200 {
            let n = Int(rng.next() % 150) + 1
            let s = String((0..<n).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
            #expect(PreTokenizer(.llama3).split(s) == [s])
            if s.utf8.count > 128 { long += 1 }
            #expect(t.encode(s, allowSpecial: false) == naive(Array(s.utf8)), "\(s)")
        }
        #expect(long > 50)
    }

    @Test func longRunOfOneCharacter() throws {
        let t = try SharedTokenizers.requireLlama3()
        let text = String(repeating: "a", count: 100_000)
        let ids = t.encode(text, allowSpecial: false)
        #expect(try t.decode(ids) == text)
        #expect(ids.count < 100_000 / 4)
    }
}

