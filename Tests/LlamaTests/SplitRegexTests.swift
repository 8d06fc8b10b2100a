import Foundation
import Llama
import Testing

/// The regex engine behind the pre-tokenizers, through `PreTokenizer(steps:)`.
@Suite struct SplitRegexTests {
    func split(_ text: String, _ patterns: [String], _ behavior: PreTokenizer.SplitBehavior = .isolated, invert: Bool = false) throws -> [String] {
        try PreTokenizer(steps: patterns.map { .init(try SplitRegex($0), behavior: behavior, invert: invert) }).split(text)
    }

    @Test func classesAlternationLookaheadAndCase() throws {
        let gpt2 = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"#
        #expect(try split("Hello  world's 123!!\n", [gpt2]) == ["Hello", " ", " world", "'s", " 123", "!!", "\n"])
        #expect(try split("IT'S it'\u{17F}", [#"(?i:'s)|\p{L}+"#]) == ["IT", "'S", " ", "it", "'\u{17F}"])
        #expect(try split("ab12c", [#"\p{N}"#]) == ["ab", "1", "2", "c"])
        #expect(try split("a1234567", [#"\p{N}{1,3}"#]) == ["a", "123", "456", "7"])
        // Each step splits the pieces of the one before; a lookahead sees only its piece.
        #expect(try split("ab cd", [" ", #"\p{L}(?!\S)"#]) == ["a", "b", " ", "c", "d"])
        #expect(try split("ÉCOLE école", [#"[\p{Lu}]+|[\p{Ll}]+"#]) == ["ÉCOLE", " ", "école"])
        #expect(try split("x\u{4E2D}\u{6587}y", [#"[\x{4E00}-\x{9FA5}]+"#]) == ["x", "\u{4E2D}\u{6587}", "y"])
    }

    @Test func behaviors() throws {
        #expect(try split("a▁b▁c", ["▁"], .mergedWithNext) == ["a", "▁b", "▁c"])
        #expect(try split("a▁b▁c", ["▁"], .mergedWithPrevious) == ["a▁", "b▁", "c"])
        #expect(try split("a  b", [#"\s+"#], .removed) == ["a", "b"])
        #expect(try split("a, b!", [#"\w+|[^\w\s]+"#], .removed, invert: true) == ["a", ",", "b", "!"])
        #expect(try split("a!!b", ["!"], .contiguous) == ["a", "!!", "b"])
    }

    /// Split patterns as real tokenizer.json files write them.
    @Test func realPatternsCompile() throws {
        for p in [
            #"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
            #"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"#,
            #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+"#,
            #"\d{1,3}(?=(?:\d{3})*\b)"#,
        ] {
            _ = try SplitRegex(p)
        }
        #expect(throws: SplitRegexError.self) { try SplitRegex(#"(a*)*"#) }
        #expect(throws: SplitRegexError.self) { try SplitRegex(#"\p{Nope}"#) }
        #expect(throws: SplitRegexError.self) { try SplitRegex("(ab") }
        #expect(throws: SplitRegexError.self) { try SplitRegex("((a{1000}){1000}){1000}") }
        #expect(throws: SplitRegexError.self) { try SplitRegex(String(repeating: "(", count: 5000) + "a" + String(repeating: ")", count: 5000)) }
    }
}
