import Foundation
import Llama
import Testing

/// One of `../shared/arch/<arch>/`: a random-weight model made by transformers' own class
/// (`hf/`), llama.cpp's conversions of it (`model.gguf`, `model-q8_0.gguf`) and `ref.json`,
/// transformers' fp32 logits and greedy ids with what llama.cpp gives on the same files.
struct ArchitectureFixture {
    let name: String
    let json: [String: Any]

    /// `reference`: another ref.json for the same files (default: the fixture's own).
    init(_ arch: String, reference: String? = nil) throws {
        name = arch
        let path = try reference ?? Fixtures.shared("arch/\(arch)/ref.json")
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func path(_ file: String) throws -> String { try Fixtures.shared("arch/\(name)/\(file)") }

    func ints(_ key: String) throws -> [Int] { try #require(json[key] as? [NSNumber], "ref.json has no \(key)").map(\.intValue) }
    func floats(_ key: String) throws -> [Float] { try #require(json[key] as? [NSNumber], "ref.json has no \(key)").map(\.floatValue) }

    /// `llamacpp_q8_0_max_abs_diff[key]`: how far llama.cpp lands from the reference on `model-q8_0.gguf`.
    func llamaCppQ8(_ key: String) throws -> Float {
        let d = try #require(json["llamacpp_q8_0_max_abs_diff"] as? [String: Any])
        return try #require(d[key] as? NSNumber, "no llamacpp_q8_0_max_abs_diff.\(key)").floatValue
    }

    /// The bar for a Q8_0 file: weight quantization dominates, so no farther than llama.cpp
    /// lands on the same file, with 25% and 0.01 to spare (a router may flip a choice).
    func q8Tolerance(_ key: String) throws -> Float { 1.25 * (try llamaCppQ8(key)) + 0.01 }

    /// The short and the long input: ids, reference logits at the last position, greedy ids.
    func inputs(longLogits: String = "long_last_logits") throws -> [(ids: [Int], logits: [Float], next: [Int])] {
        [(try ints("ids"), try floats("last_logits"), try ints("greedy_next")),
         (try ints("long_ids"), try floats(longLogits), try ints("long_greedy_next"))]
    }

    /// `llama generate --ids … --logits-out` on `model`: the last prompt position's logits
    /// and `count` greedy ids.
    static func generate(_ model: String, ids: [Int], count: Int, extra: [String] = []) throws -> (logits: [Float], next: [Int], err: String) {
        let cli = GenerateCommandTests()
        let logitsPath = NSTemporaryDirectory() + "arch-logits-\(getpid())-\(UUID().uuidString).json"
        defer { unlink(logitsPath) }
        let r = try cli.run(["generate", "--model", model, "--ids", ids.map(String.init).joined(separator: " "),
                             "--temperature", "0", "--print-ids", "--max-tokens", "\(count)", "--logits-out", logitsPath] + extra)
        #expect(r.status == 0, "\(r.err)")
        let next = r.out.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        return (try cli.readLogits(logitsPath), next, r.err)
    }

    /// Runs both inputs through the CLI on `file` and checks the logits within `tolerance`
    /// (per input) and, when `exactIDs`, the greedy ids.
    func checkCLI(_ file: String, tolerance: [Float], exactIDs: Bool, longLogits: String = "long_last_logits",
                  sourceLocation: SourceLocation = #_sourceLocation) throws {
        let model = try path(file)
        for (i, input) in try inputs(longLogits: longLogits).enumerated() {
            let got = try Self.generate(model, ids: input.ids, count: input.next.count)
            #expect(got.logits.count == input.logits.count, sourceLocation: sourceLocation)
            guard got.logits.count == input.logits.count else { continue }
            let err = maxAbsDifference(got.logits, input.logits)
            #expect(err <= tolerance[i], "\(name)/\(file) input \(i): max abs error \(err), bar \(tolerance[i])", sourceLocation: sourceLocation)
            if exactIDs { #expect(got.next == input.next, "\(name)/\(file) input \(i)", sourceLocation: sourceLocation) }
        }
    }

    /// In process: the checkpoint's last-position logits on both inputs within `tolerance`.
    func checkModel(_ checkpoint: any Checkpoint, tolerance: Float, longLogits: String = "long_last_logits",
                    sourceLocation: SourceLocation = #_sourceLocation) throws {
        let model = try LlamaModel(checkpoint: checkpoint)
        for input in try inputs(longLogits: longLogits) {
            let got = try model.logits(of: input.ids.map { TokenID($0) }, at: [input.ids.count - 1])[0]
            let err = maxAbsDifference(got, input.logits)
            #expect(err <= tolerance, "\(name) \(checkpoint.path): max abs error \(err), bar \(tolerance)", sourceLocation: sourceLocation)
        }
    }

    /// `llama quantize` (Q8_0, from the HF directory) and `llama export` (GGUF → HF
    /// directory → GGUF) keep the model: the exports give the reference's logits, the
    /// quantized file lands within the Q8_0 bar.
    func checkQuantizeAndExport(longLogits: String = "long_last_logits", q8LongKey: String = "long", q8ShortBar: Float? = nil,
                                sourceLocation: SourceLocation = #_sourceLocation) throws {
        let dir = NSTemporaryDirectory() + "arch-\(name)-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cli = GenerateCommandTests()
        let q8 = dir + "/q8.gguf", hf = dir + "/hf", back = dir + "/back.gguf"
        for args in [["quantize", try path("hf"), q8, "--type", "q8_0"],
                     ["export", try path("model.gguf"), "--to", hf, "--format", "hf"],
                     ["export", hf, "--to", back]] {
            let r = try cli.run(args)
            #expect(r.status == 0, "\(args): \(r.err)", sourceLocation: sourceLocation)
        }
        try checkModel(try HuggingFaceCheckpoint(path: hf), tolerance: 1e-4, longLogits: longLogits, sourceLocation: sourceLocation)
        try checkModel(try GGUFCheckpoint(path: back), tolerance: 1e-4, longLogits: longLogits, sourceLocation: sourceLocation)
        let model = try LlamaModel(checkpoint: try GGUFCheckpoint(path: q8))
        for (input, key) in zip(try inputs(longLogits: longLogits), ["short", q8LongKey]) {
            let got = try model.logits(of: input.ids.map { TokenID($0) }, at: [input.ids.count - 1])[0]
            let err = maxAbsDifference(got, input.logits), bar = key == "short" ? try q8ShortBar ?? q8Tolerance(key) : try q8Tolerance(key)
            #expect(err <= bar, "\(name) quantized from hf/: max abs error \(err), bar \(bar)", sourceLocation: sourceLocation)
        }
    }
}
