import Foundation
import Testing
import Llama

/// Ids from the real SentencePiece (see scripts/make_spm_variant_vectors.py) for random texts,
/// with the Llama 2 model and variants that reach UNUSED resegmentation, USER_DEFINED pieces,
/// removal of extra whitespace, collapsed unknown runs and a model without dummy prefix.
@Suite struct SentencePieceVariantTests {
    /// The same variants the generator builds, derived from the parsed shared model.
    static func variant(_ name: String) throws -> SentencePieceTokenizer {
        let path = try Fixtures.shared("tokenizers/llama2/tokenizer.model")
        let file = try MappedFile(path: path)
        var m = try SentencePieceModelProto.parse(file.bytes, path: path)
        func chars(_ e: SentencePieceEntry) -> Int { String(decoding: e.bytes, as: UTF8.self).count }
        switch name {
        case "B":
            for i in m.pieces.indices where m.pieces[i].type == .normal && chars(m.pieces[i]) >= 2 && i % 53 == 0 {
                m.pieces[i].type = .unused
            }
            for i in m.pieces.indices where m.pieces[i].type == .normal && chars(m.pieces[i]) >= 2 && i % 211 == 7
                && !m.pieces[i].bytes.starts(with: SentencePieceTokenizer.spaceSymbol) {
                m.pieces[i].type = .userDefined
            }
            m.removeExtraWhitespaces = true
        case "C":
            for i in m.pieces.indices where m.pieces[i].type == .byte { m.pieces[i].type = .unused }
            m.byteFallback = false
        case "D":
            m.addDummyPrefix = false
        default: break
        }
        return try SentencePieceTokenizer.fromModelProto(m, path: path + " (variant \(name))")
    }

    @Test(arguments: ["A", "B", "C", "D"])
    func matchesSentencePiece(variant name: String) throws {
        let t = try Self.variant(name)
        let data = Data(SentencePieceVariantVectors.json.utf8)
        let cases = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        #expect(cases.count == 240)
        for c in cases {
            let text = try #require(c["text"] as? String)
            let ids = try #require(c[name] as? [Int])
            #expect(t.encode(text, allowSpecial: false) == ids, "\(name): \(text.debugDescription)")
        }
    }

    @Test func variantsReallyDiffer() throws {
        let b = try Self.variant("B")
        #expect(b.entries.contains { $0.type == .unused } && b.entries.contains { $0.type == .userDefined })
        #expect(b.configuration.removeExtraWhitespaces)
        let c = try Self.variant("C")
        #expect(!c.configuration.byteFallback)
        #expect(!(try Self.variant("D")).configuration.addDummyPrefix)
    }
}
