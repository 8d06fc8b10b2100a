import Foundation
import Llama
import Testing

/// `llama tokenize` and `llama generate` with a Hugging Face tokenizer.json, run as the built
/// executable.
@Suite struct TokenizerJSONCommandTests {
    func run(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        try GenerateCommandTests().run(arguments)
    }

    static func ids(_ s: String) -> [Int] {
        s.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int($0) }
    }

    @Test(arguments: HFTokenizerJSONTests.names)
    func tokenizePrintsTheLibrarysIDs(name: String) throws {
        let path = try Fixtures.shared("tokenizers/hf/\(name)/tokenizer.json")
        let cases = try HFTokenizerCase.load(name)
        // A case with added-token text in it, and an ordinary one.
        let picked = [cases.first { $0.text.contains("<") && $0.text.contains(">") }, cases.first { $0.text.contains(" ") }].compactMap { $0 }
        #expect(!picked.isEmpty)
        for c in picked {
            let plain = try run(["tokenize", "--tokenizer", path, "--no-bos", c.text])
            #expect(plain.status == 0, "\(plain.err)")
            #expect(Self.ids(plain.out) == c.ids, "\(name) --no-bos: \(c.text.debugDescription)")
            let full = try run(["tokenize", "--tokenizer", path, c.text])
            #expect(full.status == 0, "\(full.err)")
            #expect(Self.ids(full.out) == c.ids_with_specials, "\(name): \(c.text.debugDescription)")
        }
    }

    /// A Hugging Face folder whose only tokenizer is tokenizer.json: the text prompt is encoded
    /// with it, and the greedy tokens equal those for the same ids given with --ids.
    @Test func generateOnHFFolderWithOnlyTokenizerJSON() throws {
        let dir = NSTemporaryDirectory() + "hf-tokjson-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let hf = try Fixtures.shared("fixtures/dev-odd/hf")
        for f in try FileManager.default.contentsOfDirectory(atPath: hf) {
            try FileManager.default.createSymbolicLink(atPath: dir + "/" + f, withDestinationPath: hf + "/" + f)
        }
        // dev-odd's vocabulary is Llama 2's, as in the llama-spm tokenizer.json.
        for f in ["tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.createSymbolicLink(atPath: dir + "/" + f, withDestinationPath: try Fixtures.shared("tokenizers/hf/llama-spm/" + f))
        }
        let text = "The capital of France is"
        let expected = try #require(try HFTokenizerCase.load("llama-spm").first { $0.text == text }?.ids_with_specials
            ?? (try TokenizerLoader.load(path: dir + "/tokenizer.json").encode(text, addBOS: true)))
        let byText = try run(["generate", "--model", dir, text, "--temperature", "0", "--print-ids", "--max-tokens", "4"])
        #expect(byText.status == 0, "\(byText.err)")
        let byIDs = try run(["generate", "--model", dir, "--ids", expected.map(String.init).joined(separator: " "),
                             "--temperature", "0", "--print-ids", "--max-tokens", "4"])
        #expect(byIDs.status == 0, "\(byIDs.err)")
        #expect(Self.ids(byText.out).count == 4)
        #expect(Self.ids(byText.out) == Self.ids(byIDs.out))
    }
}
