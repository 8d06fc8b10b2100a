import Foundation
import Testing
import Llama

/// `llama inspect` end to end through the built executable: its JSON against HF transformers
/// (Tests/LlamaTests/Fixtures/inspect/, made by scripts/make_inspect_reference.py), its last
/// logits against `llama generate --logits-out`, its report and errors.
@Suite struct InspectCommandTests {
    struct BadJSON: Error, CustomStringConvertible {
        let what: String
        var description: String { "inspect JSON: \(what)" }
    }

    func run(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        try GenerateCommandTests().run(arguments)
    }

    static func referenceIDs(_ fixture: String) throws -> [Int] {
        let data = try Data(contentsOf: URL(fileURLWithPath: try Fixtures.shared("fixtures/\(fixture)/ref.json")))
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try #require(object["ids"] as? [Int])
    }

    static func loadJSON(_ path: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw BadJSON(what: "\(path) is not an object") }
        return object
    }

    /// A nested array of numbers as its shape and its values in order.
    static func flatten(_ value: Any?, _ key: String) throws -> (shape: [Int], values: [Double]) {
        guard let value else { throw BadJSON(what: "no key \(key)") }
        if let n = value as? NSNumber { return ([], [n.doubleValue]) }
        guard let items = value as? [Any] else { throw BadJSON(what: "\(key) holds \(type(of: value))") }
        var shape: [Int]? = nil
        var values: [Double] = []
        for item in items {
            let (s, v) = try flatten(item, key)
            if let shape, shape != s { throw BadJSON(what: "\(key) is ragged: \(shape) and \(s)") }
            shape = s
            values += v
        }
        return ([items.count] + (shape ?? []), values)
    }

    static func maxDifference(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    static let unquantized: [(String, String)] = [
        ("dev-llama3", "model.gguf"), ("dev-llama3", "hf"), ("dev-llama3", "meta"),
        ("dev-odd", "model-f16.gguf"), ("dev-odd", "model-bf16.gguf"), ("dev-odd", "hf"), ("dev-odd", "meta"), ("dev-odd", "llama2c.bin"),
    ]

    @Test(arguments: unquantized)
    func matchesTransformersAndGenerate(_ fixture: String, _ file: String) throws {
        let ref = try Self.loadJSON(try Fixtures.repository("Tests/LlamaTests/Fixtures/inspect/\(fixture).json"))
        let ids = try Self.referenceIDs(fixture)
        let model = try Fixtures.shared("fixtures/\(fixture)/\(file)")
        let tmp = NSTemporaryDirectory() + "inspect-\(getpid())-\(fixture)-\(file)"
        defer { unlink(tmp + ".json"); unlink(tmp + ".logits") }
        let idText = ids.map(String.init).joined(separator: " ")
        let r = try run(["inspect", "--model", model, "--ids", idText, "--json", tmp + ".json"])
        #expect(r.status == 0, "\(r.err)")
        let got = try Self.loadJSON(tmp + ".json")
        #expect(got["tokens"] as? [Int] == ids)
        #expect((got["pieces"] as? [String])?.count == ids.count)

        // The residual stream, the final norm and every head's attention: HF's within 1e-4.
        for key in ["residual", "final_norm", "attention"] {
            let want = try Self.flatten(ref[key], key), have = try Self.flatten(got[key], key)
            #expect(have.shape == want.shape, "\(key)")
            if have.shape == want.shape {
                let d = Self.maxDifference(have.values, want.values)
                #expect(d <= 1e-4, "\(fixture)/\(file): \(key) differs from transformers by \(d)")
            }
        }
        // Attention rows are probabilities with nothing above the diagonal.
        let attention = try Self.flatten(got["attention"], "attention")
        let t = ids.count
        for block in 0..<(attention.values.count / (t * t)) {
            for i in 0..<t {
                let row = attention.values[(block * t + i) * t..<(block * t + i + 1) * t]
                #expect(row.dropFirst(i + 1).allSatisfy { $0 == 0 })
                #expect(abs(row.reduce(0, +) - 1) < 1e-5)
            }
        }
        // The logit lens: HF's top ids (every reference margin is above 1e-4, far beyond the
        // engine's differences).
        let lensMargins = try Self.flatten(ref["logit_lens_margin"], "logit_lens_margin").values
        #expect(lensMargins.allSatisfy { $0 > 1e-4 })
        #expect(got["logit_lens"] as? [[Int]] == ref["logit_lens"] as? [[Int]])
        let topRef = try #require(ref["top_k"] as? [[String: Any]]).compactMap { $0["id"] as? Int }
        let topGot = try #require(got["top_k"] as? [[String: Any]]).compactMap { $0["id"] as? Int }
        #expect(topGot == topRef)

        // The last logits: `llama generate --logits-out`'s, bit for bit.
        let g = try run(["generate", "--model", model, "--ids", idText, "--temperature", "0", "--max-tokens", "1",
                         "--print-ids", "--logits-out", tmp + ".logits"])
        #expect(g.status == 0, "\(g.err)")
        let generated = try GenerateCommandTests().readLogits(tmp + ".logits")
        let inspected = try Self.flatten(got["last_logits"], "last_logits").values.map { Float($0) }
        #expect(inspected.count == generated.count && !inspected.isEmpty)
        #expect(inspected == generated, "\(fixture)/\(file): inspect's last logits are not generate's")
    }

    /// `--layer` and `--head` keep only that layer and head, which are HF's numbers for it.
    @Test func layerAndHeadSelectOneAttentionMap() throws {
        let ref = try Self.loadJSON(try Fixtures.repository("Tests/LlamaTests/Fixtures/inspect/dev-odd.json"))
        let ids = try Self.referenceIDs("dev-odd")
        let path = NSTemporaryDirectory() + "inspect-\(getpid())-select.json"
        defer { unlink(path) }
        let r = try run(["inspect", "--model", try Fixtures.shared("fixtures/dev-odd/model-f16.gguf"),
                         "--ids", ids.map(String.init).joined(separator: " "), "--layer", "2", "--head", "3",
                         "--position", "7", "--json", path])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("Layer 2 of 3"))
        #expect(r.out.contains("Scores of head 3 (key/value head 0)"))
        #expect(r.out.contains("pos 7: ["))
        let got = try Self.loadJSON(path)
        #expect(got["attention_layers"] as? [Int] == [2])
        #expect(got["attention_heads"] as? [Int] == [3])
        let have = try Self.flatten(got["attention"], "attention")
        let all = try Self.flatten(ref["attention"], "attention")
        let t = ids.count, heads = 4
        #expect(have.shape == [1, 1, t, t])
        let start = (2 * heads + 3) * t * t
        let want = Array(all.values[start..<(start + t * t)])
        #expect(have.values.count == want.count && Self.maxDifference(have.values, want) <= 1e-4)
        #expect(try Self.flatten(got["residual"], "residual").shape == [4, t, 64])
    }

    /// The shipped model with a text prompt: the report walks every step, the pieces are the
    /// tokenizer's, the top-k probabilities are sorted and the lens ends at the prediction.
    @Test func reportOnTheShippedModel() throws {
        let path = NSTemporaryDirectory() + "inspect-\(getpid())-shipped.json"
        defer { unlink(path) }
        let r = try run(["inspect", "--model", try Fixtures.repository("models/shakespeare.gguf"), "ROMEO: But soft",
                         "--top-k", "5", "--json", path])
        #expect(r.status == 0, "\(r.err)")
        for heading in ["Tokens: T = ", "Embedding: x = tok_embeddings[tokens]", "Attention norm", "GQA: 2 query heads per key/value head",
                        "RoPE: pair i", "Scores of head 0", "Causal mask", "Softmax of each row", "Attention output",
                        "Output projection", "Feed-forward norm", "Gated feed-forward", "silu(gate) ⊙ up", "Final norm",
                        "Logits at the last position", "Top 5 next tokens", "Logit lens"] {
            #expect(r.out.contains(heading), "missing: \(heading)")
        }
        let got = try Self.loadJSON(path)
        let pieces = try #require(got["pieces"] as? [String])
        #expect(pieces.first == "<|begin_of_text|>")
        #expect(pieces.dropFirst().joined() == "ROMEO: But soft")
        let top = try #require(got["top_k"] as? [[String: Any]])
        let probs = top.compactMap { $0["probability"] as? Double }
        #expect(probs.count == 5 && probs == probs.sorted(by: >) && probs[0] > 0 && probs.reduce(0, +) <= 1)
        let lens = try #require(got["logit_lens"] as? [[Int]])
        #expect(lens.count == 4 && lens.allSatisfy { $0.count == pieces.count })
        #expect(lens.last?.last == top.first?["id"] as? Int)
    }

    @Test func badArgumentsFailWithTheReason() throws {
        let model = try Fixtures.shared("fixtures/dev-odd/model-f16.gguf")
        let cases: [([String], String)] = [
            (["--ids", "1 2 3", "--layer", "3"], "--layer 3 is out of range: the model has 3 layers"),
            (["--ids", "1 2 3", "--head", "9"], "--head 9 is out of range: the model has 4 attention heads"),
            (["--ids", "1 2 3", "--position", "3"], "--position 3 is out of range: the prompt has 3 tokens"),
            (["--ids", "1 x"], "--ids: \"1 x\" is not a list"),
            (["--ids", "1 99999"], "token id 99999 is outside the model's vocabulary"),
            (["--ids", "1", "--top-k", "0"], "--top-k must be at least 1"),
            ([], "no prompt"),
        ]
        for (args, message) in cases {
            let r = try run(["inspect", "--model", model] + args)
            #expect(r.status != 0, "\(args)")
            #expect(r.err.contains(message), "\(args): \(r.err)")
        }
    }

    struct NoVenv: Error, CustomStringConvertible {
        let path: String
        var description: String { "\(path) is missing: run scripts/test.sh, which makes the test venv with Pillow (or set SWIFTLLAMA_VENV)" }
    }

    /// The Python of the test venv that scripts/test.sh makes (Pillow for PNG checks).
    static func venvPython() throws -> String {
        let venv = ProcessInfo.processInfo.environment["SWIFTLLAMA_VENV"] ?? NSHomeDirectory() + "/.cache/swiftllama/venv"
        let python = venv + "/bin/python"
        guard FileManager.default.isExecutableFile(atPath: python) else { throw NoVenv(path: python) }
        return python
    }

    /// `--plots`: every heatmap the issue lists, as real compressed PNGs that Pillow decodes.
    @Test func plotsArePNGsThatPillowDecodes() throws {
        let python = try Self.venvPython()
        let dir = NSTemporaryDirectory() + "inspect-\(getpid())-plots"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try run(["inspect", "--model", try Fixtures.shared("fixtures/dev-odd/model-f16.gguf"),
                         "--ids", "1 15043 3186 29991 306 626 263", "--plots", dir])
        #expect(r.status == 0, "\(r.err)")
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: dir))
        var expected: Set<String> = ["rope-angles.png", "residual-norms.png", "logit-lens.png"]
        for l in 0..<3 {
            expected.insert("layer\(l)-heads.png")
            for h in 0..<4 { for kind in ["scores", "masked", "softmax"] { expected.insert("layer\(l)-head\(h)-\(kind).png") } }
        }
        #expect(files == expected)
        for name in files {
            let size = try #require(try FileManager.default.attributesOfItem(atPath: dir + "/" + name)[.size] as? Int)
            #expect(size > 500 && size < 200_000, "\(name): \(size) bytes")
        }
        let checker = try Fixtures.repository("scripts/check_png.py")
        // Every heatmap's softmax reaches 1 at position 0 (viridis' yellow end); every file decodes.
        let softmax = files.filter { $0.hasSuffix("softmax.png") }.sorted().map { dir + "/" + $0 }
        let others = files.filter { !$0.hasSuffix("softmax.png") }.sorted().map { dir + "/" + $0 }
        for (args, list) in [(["--colour", "253,231,37"], softmax), ([], others)] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: python)
            p.arguments = [checker] + args + list
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            try p.run()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            #expect(p.terminationStatus == 0, "\(text)")
            #expect(text.components(separatedBy: ": ok,").count - 1 == list.count, "\(text)")
        }
    }

    /// `--html`: one self-contained page that headless Chromium loads without a console error,
    /// every embedded image decoded, and whose screenshot shows the heatmaps
    /// (scripts/check_inspect_html.py).
    @Test func htmlLoadsInChromiumWithItsHeatmaps() throws {
        let python = try Self.venvPython()
        let page = NSTemporaryDirectory() + "inspect-\(getpid())-page.html"
        defer { unlink(page) }
        let r = try run(["inspect", "--model", try Fixtures.repository("models/shakespeare.gguf"), "ROMEO: But soft, what light",
                         "--html", page])
        #expect(r.status == 0, "\(r.err)")
        let html = try String(contentsOfFile: page, encoding: .utf8)
        for text in ["1. Tokens", "2. Embedding", "Layer 0 of 4", "RoPE", "Attention scores of head 0", "Feed-forward norm",
                     "Gated activation", "Final norm and logits", "Logit lens", "data:image/png;base64,"] {
            #expect(html.contains(text), "missing: \(text)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [try Fixtures.repository("scripts/check_inspect_html.py"), page]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(text)")
        #expect(text.contains(": ok: loaded in Chromium"), "\(text)")
    }
}

