import Foundation
import Llama
import Testing

/// `../shared/tokenizers/hf/*/cases.json`: what the `tokenizers` library gives for each text,
/// without (`ids`) and with (`ids_with_specials`) the post-processor.
struct HFTokenizerCase: Decodable {
    let text: String
    let ids: [Int]
    let ids_with_specials: [Int]

    static func load(_ name: String) throws -> [HFTokenizerCase] {
        struct File: Decodable { let cases: [HFTokenizerCase] }
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.shared("tokenizers/hf/\(name)/cases.json")))
        return try JSONDecoder().decode(File.self, from: data).cases
    }
}

@Suite struct HFTokenizerJSONTests {
    static let names = ["gpt-2", "llama-bpe", "llama-spm", "phi-3", "qwen2"]

    @Test(arguments: names)
    func casesMatchTokenizersLibrary(name: String) throws {
        let t = try TokenizerLoader.load(path: Fixtures.shared("tokenizers/hf/\(name)/tokenizer.json"))
        #expect(t is HuggingFaceTokenizer)
        let cases = try HFTokenizerCase.load(name)
        #expect(cases.count > 40)
        var failures = 0
        for c in cases {
            let plain = t.encode(c.text, allowSpecial: false)
            let full = t.encode(c.text, addBOS: true)
            if plain != c.ids || full != c.ids_with_specials { failures += 1 }
            #expect(plain == c.ids, "\(name): \(c.text.debugDescription)")
            #expect(full == c.ids_with_specials, "\(name) with specials: \(c.text.debugDescription)")
        }
        #expect(failures == 0, "\(name): \(failures) of \(cases.count) cases differ")
    }

    /// Byte-level BPE loses nothing: decoding gives the text back.
    @Test(arguments: ["gpt-2", "llama-bpe", "qwen2"])
    func byteLevelRoundTrips(name: String) throws {
        let t = try TokenizerLoader.load(path: Fixtures.shared("tokenizers/hf/\(name)/tokenizer.json"))
        for c in try HFTokenizerCase.load(name) {
            #expect(try t.decode(t.encode(c.text, allowSpecial: false)) == c.text, "\(name): \(c.text.debugDescription)")
        }
    }

    @Test func folderLoadsTokenizerJSON() throws {
        let dir = try Fixtures.shared("tokenizers/hf/llama-spm")
        let t = try TokenizerLoader.load(path: dir)
        #expect(t.bosID == 1 && t.eosID == 2 && t.addsBOSByDefault)
        let q = try TokenizerLoader.load(path: Fixtures.shared("tokenizers/hf/qwen2"))
        #expect(!q.addsBOSByDefault)
        #expect((q as? HuggingFaceTokenizer)?.chatTemplate?.contains("im_start") == true)
    }
}
