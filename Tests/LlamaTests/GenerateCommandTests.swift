import Foundation
import Testing
import Llama

/// `llama generate` end to end: the built executable, run on the fixtures.
@Suite struct GenerateCommandTests {
    struct NotBuilt: Error, CustomStringConvertible {
        var description: String { "the llama executable was not found beside the test bundle; build it (swift build --build-tests builds it)" }
    }

    static func executable() throws -> String {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("llama").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for config in ["release", "debug"] {
            let p = repo.appendingPathComponent(".build/\(config)/llama").path
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        throw NotBuilt()
    }

    /// Runs the command; returns exit status, stdout and stderr.
    /// `environment`: variables added to this process's for the child.
    func run(_ arguments: [String], executable: String? = nil, environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try executable ?? GenerateCommandTests.executable())
        p.arguments = arguments
        if !environment.isEmpty {
            p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    func readLogits(_ path: String) throws -> [Float] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [NSNumber]).map(\.floatValue)
    }

    @Test(arguments: [
        ("fixtures/dev-odd", "model-f16.gguf", false, Float(1e-4)),
        ("fixtures/dev-odd", "model-bf16.gguf", false, Float(1e-4)),
        ("fixtures/dev-odd", "model-q8_0.gguf", true, quantizedActivationTolerance),
        ("fixtures/dev-odd", "model-q4_0.gguf", true, quantizedActivationTolerance),
        ("fixtures/dev-llama3", "model.gguf", false, Float(1e-4)),
    ])
    func logitsOutAndGreedyIDsMatchTheReference(_ fixture: String, _ file: String, _ dequant: Bool, _ tolerance: Float) throws {
        let ref = try ModelReference.load(fixture, dequantFile: dequant ? file : nil)
        let model = try Fixtures.shared(fixture + "/" + file)
        let logitsPath = NSTemporaryDirectory() + "logits-\(getpid())-\(file).json"
        defer { unlink(logitsPath) }
        for (ids, logits, next) in [(ref.ids, ref.lastLogits, ref.greedyNext), (ref.longIDs, ref.longLastLogits, ref.longGreedyNext)] {
            let r = try run(["generate", "--model", model, "--ids", ids.map(String.init).joined(separator: " "),
                             "--temperature", "0", "--print-ids", "--max-tokens", "\(next.count)", "--logits-out", logitsPath])
            #expect(r.status == 0, "\(r.err)")
            let ids = r.out.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
            expectGreedy(ids, next, referenceLogits: logits, exact: !dequant, tolerance: tolerance)
            let got = try readLogits(logitsPath)
            #expect(got.count == logits.count)
            if got.count == logits.count { #expect(maxAbsDifference(got, logits) <= tolerance) }
        }
    }

    @Test func badInputGivesOneLineAndNonZeroExit() throws {
        let model = try Fixtures.shared("fixtures/dev-odd/model-f16.gguf")
        let long = try run(["generate", "--model", model, "--ids", "1 2 3 4 5", "--context", "4"])
        #expect(long.status != 0)
        #expect(long.err.contains("5 tokens") && long.err.contains("context of 4"))
        #expect(long.err.split(separator: "\n").count == 1)
        let missing = try run(["generate", "--model", "/nonexistent/model.gguf", "--ids", "1"])
        #expect(missing.status != 0 && missing.err.contains("/nonexistent/model.gguf"))
        let badIDs = try run(["generate", "--model", model, "--ids", "1 x 3"])
        #expect(badIDs.status != 0 && badIDs.err.contains("--ids"))
    }

    @Test func sameSeedSameTokens() throws {
        let model = try Fixtures.shared("fixtures/dev-odd/model-f16.gguf")
        let args = ["generate", "--model", model, "--ids", "1 450 4996", "--print-ids", "--max-tokens", "12", "--seed", "9", "--temperature", "1"]
        let a = try run(args), b = try run(args)
        #expect(a.status == 0 && a.out == b.out)
        let c = try run(args.dropLast(4) + ["--seed", "10", "--temperature", "1"])
        #expect(c.out != a.out)
    }
}
