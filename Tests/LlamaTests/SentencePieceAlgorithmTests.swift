import Foundation
import Testing
import Llama

/// Small hand-made vocabularies that pin down SentencePiece's rules one at a time.
@Suite struct SentencePieceAlgorithmTests {
    /// ids: 0 <unk>, 1 <s>, 2 </s>, then the given pieces from 3 on.
    static func make(_ pieces: [(String, Float, SentencePieceType)], configure: (inout SentencePieceTokenizer.Configuration) -> Void = { _ in }) throws -> SentencePieceTokenizer {
        var entries = [SentencePieceEntry("<unk>", score: 0, type: .unknown),
                       SentencePieceEntry("<s>", score: 0, type: .control),
                       SentencePieceEntry("</s>", score: 0, type: .control)]
        entries += pieces.map { SentencePieceEntry($0.0, score: $0.1, type: $0.2) }
        var cfg = SentencePieceTokenizer.Configuration()
        cfg.byteFallback = false
        configure(&cfg)
        return try SentencePieceTokenizer(entries: entries, configuration: cfg)
    }

    func pieces(_ t: SentencePieceTokenizer, _ text: String, allowSpecial: Bool = false) -> [String] {
        t.encode(text, allowSpecial: allowSpecial).map { t.pieceDescription(of: $0) ?? "?" }
    }

    @Test func highestScoreMergesFirstAndTiesGoLeft() throws {
        let base: [(String, Float, SentencePieceType)] = [("a", -1, .normal), ("b", -1, .normal)]
        let tie = try Self.make(base + [("ab", -5, .normal), ("ba", -5, .normal)]) { $0.addDummyPrefix = false }
        #expect(pieces(tie, "aba") == ["ab", "a"])
        #expect(pieces(tie, "bab") == ["ba", "b"])
        let baWins = try Self.make(base + [("ab", -5, .normal), ("ba", -4, .normal)]) { $0.addDummyPrefix = false }
        #expect(pieces(baWins, "aba") == ["a", "ba"])
    }

    @Test func reservedPiecesAreNeverMergeResults() throws {
        // "ab" exists only as a CONTROL piece: BPE must not produce it.
        let t = try Self.make([("a", -1, .normal), ("b", -1, .normal), ("ab", 0, .control)]) { $0.addDummyPrefix = false }
        #expect(pieces(t, "ab") == ["a", "b"])
        #expect(t.encode("ab", allowSpecial: true) == [5])
    }

    @Test func unusedPiecesAreSplitBack() throws {
        // "abc" is UNUSED: it may be formed, then is resegmented into the pair that formed it.
        let t = try Self.make([("a", -1, .normal), ("b", -1, .normal), ("c", -1, .normal),
                               ("ab", -2, .normal), ("abc", -1.5, .unused), ("bc", -3, .normal)]) { $0.addDummyPrefix = false }
        #expect(pieces(t, "abc") == ["ab", "c"])
    }

    @Test func userDefinedPiecesAreWholeSymbols() throws {
        let vocab: [(String, Float, SentencePieceType)] = [("▁", -1, .normal), ("x", -1, .normal), ("y", -1, .normal),
                                                          ("▁x", -2, .normal), ("▁y", -2, .normal), ("<ud>", 0, .userDefined),
                                                          ("<", -1, .normal), ("u", -1, .normal), ("d", -1, .normal), (">", -1, .normal),
                                                          ("<u", -1, .normal)]
        // SentencePiece: matched inside the text, never merged with neighbours, no new prefix.
        let spm = try Self.make(vocab)
        #expect(pieces(spm, "x<ud>y") == ["▁x", "<ud>", "y"])
        #expect(pieces(spm, "<ud>") == ["▁", "<ud>"])
        // llama.cpp: split out first; the text after it gets its own dummy prefix.
        let cpp = try Self.make(vocab) { $0.specialTextRule = .llamaCpp }
        #expect(pieces(cpp, "x<ud>y") == ["▁x", "<ud>", "▁y"])
        #expect(pieces(cpp, "<ud>") == ["<ud>"])
    }

    @Test func unknownRunsCollapseWithoutByteFallback() throws {
        let t = try Self.make([("▁", -1, .normal), ("a", -1, .normal), ("b", -1, .normal)])
        #expect(t.encode("a☃☃b", allowSpecial: false) == [3, 4, 0, 5])
        #expect(t.encode("☃a☃", allowSpecial: false) == [3, 0, 4, 0])
        #expect(try t.decode([4, 0, 5]) == "a ⁇ b")
    }

    @Test func byteFallbackWithMissingBytePieceUsesUnknown() throws {
        let t = try Self.make([("▁", -1, .normal), ("<0xE2>", 0, .byte)]) { $0.byteFallback = true }
        // "☃" is E2 98 83: only the first byte has a piece.
        #expect(t.encode("☃", allowSpecial: false) == [3, 4, 0, 0])
    }

    @Test func removeExtraWhitespaces() throws {
        let t = try Self.make([("▁", -1, .normal), ("a", -1, .normal), ("b", -1, .normal), ("▁a", -2, .normal), ("▁b", -2, .normal)]) {
            $0.removeExtraWhitespaces = true
        }
        #expect(pieces(t, "  a   b  ") == ["▁a", "▁b"])
        #expect(t.encode("   ", allowSpecial: false) == [])
        #expect(try t.decode(t.encode("  a   b  ", allowSpecial: false)) == "a b")
    }

    @Test func noDummyPrefixAndNoEscaping() throws {
        let t = try Self.make([(" ", -1, .normal), ("a", -1, .normal), (" a", -2, .normal)]) {
            $0.addDummyPrefix = false
            $0.escapeWhitespaces = false
        }
        #expect(pieces(t, "a a") == ["a", " a"])
    }

    @Test func emptyAndSpecialOnlyText() throws {
        let t = try SentencePieceFixtures.model()
        #expect(t.encode("", allowSpecial: false) == [])
        #expect(t.encode("", allowSpecial: true) == [])
        #expect(t.encode("", addBOS: true) == [1])
        #expect(t.encode("<s>", allowSpecial: true) == [1])
    }

    @Test func llama2SpecialText() throws {
        for (name, t) in try SentencePieceFixtures.allLlama2() {
            // llama.cpp: each text fragment between special tokens gets its own dummy prefix.
            #expect(t.encode("<s>Hello</s>", allowSpecial: true) == [1, 15043, 2], "\(name)")
            #expect(t.encode("Hello<unk>world", allowSpecial: true) == [15043, 0, 3186], "\(name)")
            // As text, "<s>" is ordinary characters.
            #expect(!t.encode("<s>Hello</s>", allowSpecial: false).contains(1), "\(name)")
        }
    }

    @Test func phi3ChatFollowsLlamaCpp() throws {
        let t = try SentencePieceFixtures.gguf("phi-3")
        // llama.cpp marks Phi-3's special tokens RSTRIP (except <s>, <unk>, <|endoftext|>): the
        // newline after <|user|> and <|end|> is swallowed, and "Hello" gets a dummy prefix.
        #expect(t.encode("<|user|>\nHello<|end|>\n<|assistant|>", allowSpecial: true) == [32010, 15043, 32007, 32001])
        #expect(t.encode("<s><|user|>", allowSpecial: true) == [1, 32010])
        // <s> is not RSTRIP: the newline after it stays.
        #expect(t.encode("<s>\nHi", allowSpecial: true) == [1] + t.encode("\nHi", allowSpecial: false))
        #expect(t.encode("<s>\nHi", allowSpecial: true).prefix(3) == [1, 29871, 13])
        // Not allowed: plain text, no special ids.
        let plain = t.encode("<|user|>\nHello<|end|>", allowSpecial: false)
        #expect(!plain.contains { $0 >= 32000 })
        // As SentencePiece: the dummy-prefix space goes from the first non-control piece.
        #expect(try t.decode([32010, 15043, 32007]) == "Hello")
    }

    @Test func literalSpaceSymbolDoesNotRoundTrip() throws {
        // SentencePiece itself cannot round-trip U+2581 in the input: it is its own escape for
        // spaces, so it comes back as a space. Ours does the same (same ids, same text).
        let t: any Tokenizer = try SentencePieceFixtures.model()
        let ids = t.encode("a\u{2581}b", allowSpecial: false)
        #expect(ids == t.encode("a b", allowSpecial: false))
        #expect(try t.decode(ids) == "a b")
    }

    @Test func partitionPrefersLongerSpecialPieces() throws {
        // Longer special pieces are split out first, as in llama.cpp.
        let t = try Self.make([("▁", -1, .normal), ("a", -1, .normal), ("<x>", 0, .control), ("<x><x>", 0, .control)])
        #expect(t.encode("<x><x><x>", allowSpecial: true) == [6, 5])
    }

    @Test func rejectsBadVocabularies() throws {
        #expect(throws: SentencePieceLoadError.self) { try Self.make([("a", 0, .normal), ("a", 0, .normal)]) }
        #expect(throws: SentencePieceLoadError.self) { try Self.make([("", 0, .normal)]) }
        #expect(throws: SentencePieceLoadError.self) { try Self.make([]) { $0.eosID = 99 } }
        #expect(throws: SentencePieceLoadError.self) { try SentencePieceTokenizer(entries: [], configuration: .init()) }
    }
}

/// Encoding splits text where no merge can cross and runs BPE per segment; this must give the
/// ids of one BPE run over the whole text.
@Suite struct SentencePieceSegmentationTests {
    @Test func segmentedEqualsWholeText() throws {
        let shakespeare = try String(contentsOfFile: Fixtures.shared("data/tinyshakespeare.txt"), encoding: .utf8)
        var texts = [String(shakespeare.prefix(100_000))]
        texts += try SentencePieceFixtures.tokenizerCases().map(\.text)
        texts += try SentencePieceFixtures.llamaCppVectors("llama-spm").map(\.text)
        for t in [try SentencePieceFixtures.model(), try SentencePieceFixtures.gguf("phi-3")] {
            let whole = try SentencePieceTokenizer(entries: t.entries, configuration: t.configuration, source: "", splitsIntoSegments: false)
            // Random concatenations of vocabulary pieces, spaces and odd characters: they make
            // adjacent pairs that ordinary text rarely has.
            var rng = Xoshiro256(seed: 42)
            var random: [String] = []
            for _ in 0..<300 {
                var s = ""
                for _ in 0..<rng.below(12) {
                    switch rng.below(6) {
                    case 0: s += " "
                    case 1: s += ["\n", "\t", "é", "日本", "🦙", "  ", "▁"][rng.below(7)]
                    default:
                        let piece = t.pieceDescription(of: 259 + rng.below(t.vocabularySize - 259)) ?? ""
                        s += piece.replacingOccurrences(of: "▁", with: " ")
                    }
                }
                random.append(s)
            }
            for text in texts + random {
                #expect(t.encode(text, allowSpecial: false) == whole.encode(text, allowSpecial: false), "\(text.prefix(80).debugDescription)")
            }
        }
    }
}
