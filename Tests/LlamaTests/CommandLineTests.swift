import Foundation
import Testing
import Llama

/// What a new user meets first on the command line: defaults that work, notices that say
/// what happened (on stderr, so `--json` output stays pure), errors with the right usage.
@Suite struct CommandLineTests {
    let cli = GenerateCommandTests()

    func shakespeare() throws -> String { try Fixtures.repository("models/shakespeare.gguf") }

    /// `--ids` prints the decoded text when the model has a tokenizer, and ids (saying so on
    /// stderr) when it has none — never an empty line.
    @Test func idsPromptPrintsTextOrSaysWhyNot() throws {
        let model = try shakespeare()
        let common = ["generate", "--model", model, "--ids", "1 45 96", "--max-tokens", "6", "--temperature", "0"]
        let text = try cli.run(common)
        let ids = try cli.run(common + ["--print-ids"])
        #expect(text.status == 0 && ids.status == 0, "\(text.err) \(ids.err)")
        let decoded = try cli.run(["tokenize", "--tokenizer", model, "--decode", ids.out.trimmingCharacters(in: .whitespacesAndNewlines)])
        #expect(!text.out.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
        #expect(text.out == decoded.out, "generate --ids printed \(text.out.debugDescription), the ids decode to \(decoded.out.debugDescription)")

        // The same weights with no tokenizer in the file.
        let bare = NSTemporaryDirectory() + "swiftllama-no-tokenizer-\(UUID().uuidString).gguf"
        defer { unlink(bare) }
        try Quantizer.gguf(try GGUFCheckpoint(path: model), as: .f16, source: nil).write(to: bare)
        let r = try cli.run(["generate", "--model", bare, "--ids", "1 45 96", "--max-tokens", "6", "--temperature", "0"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.contains("no tokenizer") && r.err.contains("printing token ids"))
        #expect(r.out.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ==
                ids.out.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
    }

    /// `llama bench` on a 128-token model with its defaults: pp512 is skipped with a notice on
    /// stderr, tg runs, exit 0, stdout of --json is pure JSON; small sizes in MiB and K.
    @Test func benchSkipsTestsLongerThanTheContext() throws {
        let model = try shakespeare()
        let json = try cli.run(["bench", "--model", model, "-n", "4", "-r", "1", "--json"])
        #expect(json.status == 0, "\(json.err)")
        #expect(json.err.contains("pp512 skipped: the model's context is 128; use -p 128"))
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [[String: Any]])
        #expect(parsed.map { $0["test"] as? String } == ["tg4"])
        let table = try cli.run(["bench", "--model", model, "-p", "16", "-n", "4", "-r", "1"])
        #expect(table.status == 0, "\(table.err)")
        #expect(table.out.contains(" MiB |") && table.out.contains(" K |") && !table.out.contains("0.00 GiB"))
    }

    /// `-d` (llama-bench's depth): tests named ppN@dD / tgN@dD with `n_depth` in the JSON; a
    /// test that does not fit beside the depth is skipped with a notice naming the room left.
    @Test func benchAtDepth() throws {
        let model = try shakespeare()
        let r = try cli.run(["bench", "--model", model, "-d", "100", "-p", "16", "-n", "4", "-r", "1", "--json"])
        #expect(r.status == 0, "\(r.err)")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [[String: Any]])
        #expect(parsed.map { $0["test"] as? String } == ["pp16@d100", "tg4@d100"])
        #expect(parsed.allSatisfy { $0["n_depth"] as? Int == 100 && ($0["tokens_per_s"] as? Double ?? 0) > 0 })
        let deep = try cli.run(["bench", "--model", model, "-d", "120", "-p", "16", "-n", "4", "-r", "1", "--json"])
        #expect(deep.status == 0, "\(deep.err)")
        #expect(deep.err.contains("pp16@d120 skipped: the model's context is 128 and the depth 120; use -p 8"))
        let only = try #require(try JSONSerialization.jsonObject(with: Data(deep.out.utf8)) as? [[String: Any]])
        #expect(only.map { $0["test"] as? String } == ["tg4@d120"])
    }

    /// `--parallel P` (llama-batched-bench's -npl): tgN for one sequence, then tgNxP with P
    /// sequences decoding together, its aggregate speed (P·N tokens per run) and the ratio to
    /// tgN; bad values are refused naming the option.
    @Test func benchParallelSequences() throws {
        let model = try shakespeare()
        let r = try cli.run(["bench", "--model", model, "-p", "0", "-n", "4", "-r", "1", "--parallel", "3", "--json"])
        #expect(r.status == 0, "\(r.err)")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [[String: Any]])
        #expect(parsed.map { $0["test"] as? String } == ["tg4", "tg4x3"])
        #expect(parsed.map { $0["n_parallel"] as? Int } == [1, 3])
        #expect(parsed[0]["ratio_to_one_sequence"] is NSNull)
        let one = try #require(parsed[0]["tokens_per_s"] as? Double), three = try #require(parsed[1]["tokens_per_s"] as? Double)
        let ratio = try #require(parsed[1]["ratio_to_one_sequence"] as? Double)
        #expect(one > 0 && three > 0 && abs(ratio - three / one) < 1e-9 * ratio)
        let table = try cli.run(["bench", "--model", model, "-p", "0", "-n", "4", "-r", "1", "--parallel", "2", "-d", "8"])
        #expect(table.status == 0 && table.out.contains("| tg4x2@d8 |") && table.out.contains("tg4x2@d8: 2 sequences"), "\(table.out) \(table.err)")
        let zero = try cli.run(["bench", "--model", model, "--parallel", "0"])
        #expect(zero.status != 0 && zero.err.contains("--parallel must be at least 1"), "\(zero.err)")
        let none = try cli.run(["bench", "--model", model, "-p", "8", "-n", "0", "--parallel", "2"])
        #expect(none.status != 0 && none.err.contains("-n is 0"), "\(none.err)")
    }

    /// Threads beyond the cores are clamped with a notice; generate takes --threads.
    @Test func threadCountsAreClamped() throws {
        let model = try shakespeare()
        let cores = ProcessInfo.processInfo.activeProcessorCount
        let r = try cli.run(["bench", "--model", model, "-p", "0", "-n", "2", "-r", "1", "-t", "256", "--json"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.contains("-t 256 is more than the \(cores) cores available; using \(cores)"))
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [[String: Any]])
        #expect(parsed.first?["threads"] as? Int == cores)
        let one = try cli.run(["generate", "--model", model, "--threads", "1", "--ids", "1 45", "--max-tokens", "2", "--print-ids", "--temperature", "0"])
        let all = try cli.run(["generate", "--model", model, "--ids", "1 45", "--max-tokens", "2", "--print-ids", "--temperature", "0"])
        #expect(one.status == 0 && one.out == all.out, "\(one.err)")
        let many = try cli.run(["generate", "--model", model, "--threads", "999", "--ids", "1", "--max-tokens", "1"])
        #expect(many.status == 0 && many.err.contains("--threads 999 is more than"))
    }

    /// Negative numbers reach the range checks instead of "Missing value".
    @Test func negativeNumbersParse() throws {
        let model = try shakespeare()
        let t = try cli.run(["generate", "--model", model, "--temperature", "-1", "x"])
        #expect(t.status != 0 && t.err.contains("--temperature must be 0 or more"), "\(t.err)")
        let b = try cli.run(["bench", "--model", model, "-t", "-2"])
        #expect(b.status != 0 && b.err.contains("-t must be at least 1"), "\(b.err)")
        let m = try cli.run(["generate", "--model", model, "--max-tokens", "-5", "x"])
        #expect(m.status != 0 && m.err.contains("--max-tokens must be 0 or more"), "\(m.err)")
    }

    /// Errors show the failing subcommand's usage (never the top-level one); `help` of an
    /// unknown subcommand is an error; `--version` says the build flags.
    @Test func usageAndHelpAndVersion() throws {
        let plot = try cli.run(["plot", "/nonexistent-run"])
        #expect(plot.status != 0 && plot.err.contains("/nonexistent-run"))
        #expect(!plot.err.contains("llama <subcommand>"), "\(plot.err)")
        let bench = try cli.run(["bench", "--model", try shakespeare(), "-p", "0", "-n", "0"])
        #expect(bench.status != 0 && !bench.err.contains("llama <subcommand>") && bench.err.contains("llama bench"), "\(bench.err)")
        let help = try cli.run(["help", "nonexistent"])
        #expect(help.status != 0 && help.err.contains("nonexistent"))
        #expect(try cli.run(["help", "bench", "model"]).status == 0)
        let version = try cli.run(["--version"])
        #expect(version.status == 0 && version.out.contains("SwiftLlama \(BuildInfo.version)") && version.out.contains("int8 prompt kernels: ") && version.out.contains("BF16 prompt products: "))
        let tokenize = try cli.run(["tokenize", "--tokenizer", try shakespeare()])
        #expect(tokenize.status != 0 && tokenize.err.contains("no text") && !tokenize.err.contains("not both"), "\(tokenize.err)")
    }

    /// `--file -` reads standard input, so `llama template … | llama tokenize --file -` works.
    @Test func tokenizeReadsStandardInput() throws {
        let model = try shakespeare()
        let exe = try GenerateCommandTests.executable()
        let piped = try cli.run(["-c", "printf 'ROMEO:\\nWhat, ho!' | \"$0\" tokenize --tokenizer \"$1\" --file -", exe, model], executable: "/bin/sh")
        let direct = try cli.run(["tokenize", "--tokenizer", model, "ROMEO:\nWhat, ho!"])
        #expect(piped.status == 0 && direct.status == 0, "\(piped.err)")
        #expect(piped.out == direct.out && !piped.out.isEmpty)
    }

    /// Context limits are said once, with the numbers.
    @Test func contextLimitsAreSaid() throws {
        let model = try shakespeare()
        let full = try cli.run(["generate", "--model", model, "--ids", "1 45 96", "--max-tokens", "500", "--temperature", "0", "--print-ids"])
        #expect(full.status == 0, "\(full.err)")
        let generated = full.out.split(whereSeparator: { $0 == " " || $0 == "\n" }).count
        #expect(full.err.contains("stopped after \(generated) of --max-tokens 500 tokens: the context of 128 tokens is full"), "\(full.err)")
        let capped = try cli.run(["generate", "--model", model, "--ids", "1", "--max-tokens", "1", "--context", "100000"])
        #expect(capped.err.contains("--context 100000 is more than the model's maximum of 128 tokens"), "\(capped.err)")
        let small = try cli.run(["generate", "--model", model, "--ids", Array(repeating: "5", count: 20).joined(separator: " "), "--context", "10"])
        #expect(small.status != 0 && small.err.contains("up to the model's maximum of 128"), "\(small.err)")
    }
}
