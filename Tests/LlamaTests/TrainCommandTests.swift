import Foundation
import Llama
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `llama train` and `llama quantize` end to end, on a tiny model: what they refuse to
/// overwrite, the run lock, the memory check, and what `--resume` accepts.
@Suite struct TrainCommandTests {
    /// A model small enough that a step takes milliseconds.
    static let tiny = ["--dim", "16", "--layers", "1", "--heads", "2", "--hidden", "32", "--context", "16", "--batch", "4"]

    func llama(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        try GenerateCommandTests().run(arguments)
    }

    func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "swiftllama-traincmd-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// `llama train-tokenizer` and `llama prepare` on the start of tinyshakespeare: a data
    /// directory as a user makes one.
    func makeData(in dir: String, corpusBytes: Int = 20_000, vocabSize: Int = 300) throws -> String {
        let text = try Data(contentsOf: URL(fileURLWithPath: try Fixtures.shared("data/tinyshakespeare.txt"))).prefix(corpusBytes)
        try text.write(to: URL(fileURLWithPath: dir + "/corpus.txt"))
        let tok = try llama(["train-tokenizer", dir + "/corpus.txt", "--vocab-size", "\(vocabSize)", "--out", dir + "/t.tiktoken"])
        try #require(tok.status == 0, "\(tok.err)")
        let prep = try llama(["prepare", dir + "/corpus.txt", "--tokenizer", dir + "/t.tiktoken", "--out", dir + "/data"])
        try #require(prep.status == 0, "\(prep.err)")
        return dir + "/data"
    }

    func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    /// A temporary directory with data (`DIR/data`) and a run of `steps` steps (`DIR/run`).
    func trainedRun(steps: Int) throws -> (dir: String, data: String, run: String) {
        let dir = try tempDir()
        let data = try makeData(in: dir)
        let r = try llama(["train", "--data", data, "--out", dir + "/run", "--steps", "\(steps)"] + Self.tiny)
        try #require(r.status == 0, "\(r.err)")
        return (dir, data, dir + "/run")
    }

    @Test func newRunRefusesAnExistingRunAndDataDirectories() throws {
        let (dir, data, run) = try trainedRun(steps: 3)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let checkpoint = try #require(bytes(run + "/checkpoint.bin"))
        let log = try #require(bytes(run + "/log.csv"))
        try Data("old plot".utf8).write(to: URL(fileURLWithPath: run + "/loss.png"))

        let again = try llama(["train", "--data", data, "--out", run, "--steps", "2"] + Self.tiny)
        #expect(again.status == 1)
        #expect(again.err.contains(run + "/checkpoint.bin") && again.err.contains("--resume \(run)") && again.err.contains("--force"), "\(again.err)")
        #expect(bytes(run + "/checkpoint.bin") == checkpoint && bytes(run + "/log.csv") == log, "the refused run wrote over the old one")

        let forced = try llama(["train", "--data", data, "--out", run, "--steps", "2", "--force"] + Self.tiny)
        #expect(forced.status == 0, "\(forced.err)")
        #expect(try TrainingCheckpoint.readHeader(path: run + "/checkpoint.bin").step == 2)
        #expect(!FileManager.default.fileExists(atPath: run + "/loss.png"), "the old run's plot survived --force")

        // The data directory, however it is spelled, and with --force too.
        let before = try FileManager.default.contentsOfDirectory(atPath: data).sorted()
        for out in [data, data + "/.", dir + "/run/../data/"] {
            for extra in [[], ["--force"]] {
                let r = try llama(["train", "--data", data, "--out", out, "--steps", "1"] + Self.tiny + extra)
                #expect(r.status == 1 && r.err.contains("meta.json") && r.err.contains("data directory"), "--out \(out): \(r.err)")
            }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: data).sorted() == before, "something was written into the data directory")
    }

    @Test func quantizeRefusesToWriteOverItsInput() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let model = dir + "/m.gguf"
        try FileManager.default.copyItem(atPath: repo.appendingPathComponent("models/tiny-random.gguf").path, toPath: model)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link.gguf", withDestinationPath: model)
        try FileManager.default.linkItem(atPath: model, toPath: dir + "/hard.gguf")
        let original = try #require(bytes(model))
        for out in [model, dir + "/./m.gguf", dir + "/link.gguf", dir + "/hard.gguf"] {
            let r = try llama(["quantize", model, out, "--type", "f16"])
            #expect(r.status == 1 && r.err.contains(out) && r.err.contains("input"), "quantize into \(out): \(r.err)")
        }
        // A directory input: nothing inside it may be the output either.
        let inDir = try llama(["quantize", dir, dir + "/m.gguf", "--type", "f16"])
        #expect(inDir.status != 0 && inDir.err.contains("m.gguf"), "\(inDir.err)")
        #expect(bytes(model) == original, "the input changed")
        let fine = try llama(["quantize", model, dir + "/f16.gguf", "--type", "f16"])
        #expect(fine.status == 0, "\(fine.err)")
    }

    @Test func secondTrainerIsRefusedAndAKilledOnesLockIsTakenOver() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let data = try makeData(in: dir)
        let run = dir + "/run"
        let first = Process()
        first.executableURL = URL(fileURLWithPath: try GenerateCommandTests.executable())
        first.arguments = ["train", "--data", data, "--out", run, "--steps", "1000000", "--save-every", "2"] + Self.tiny
        first.standardError = FileHandle.nullDevice
        first.standardOutput = FileHandle.nullDevice
        try first.run()
        let pid = first.processIdentifier
        defer { if first.isRunning { kill(pid, SIGKILL); first.waitUntilExit() } }

        // Wait until it holds the lock and has saved a checkpoint.
        let deadline = Date().addingTimeInterval(60)
        func lockPID() -> String? { bytes(run + "/" + TrainingRunLock.fileName).map { String(decoding: $0, as: UTF8.self) } }
        while Date() < deadline && !(lockPID() == "\(pid)\n" && FileManager.default.fileExists(atPath: run + "/checkpoint.bin")) {
            usleep(50_000)
        }
        try #require(first.isRunning && lockPID() == "\(pid)\n", "the first trainer did not start")

        for args in [["train", "--resume", run], ["train", "--data", data, "--out", run, "--force"] + Self.tiny] {
            let second = try llama(args)
            #expect(second.status == 1 && second.err.contains("process \(pid)") && second.err.contains("in use"), "\(args): \(second.err)")
        }
        #expect(first.isRunning, "the second trainer stopped the first")

        kill(pid, SIGKILL)
        first.waitUntilExit()
        let reached = try TrainingCheckpoint.readHeader(path: run + "/checkpoint.bin").step
        let resumed = try llama(["train", "--resume", run, "--steps", "\(reached + 1)"])
        #expect(resumed.status == 0, "\(resumed.err)")
        #expect(resumed.err.contains("took over") && resumed.err.contains("\(pid)"), "\(resumed.err)")
        #expect(lockPID() == "", "a clean exit leaves an empty lock file")
    }

    @Test func trainingRefusesAContextThatCannotFitInMemory() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Bytes, so the train split (180 000 tokens) is longer than the context: the old code
        // went on to allocate 7.7 TB and died.
        let data = try makeData(in: dir, corpusBytes: 200_000, vocabSize: 256)
        let r = try llama(["train", "--data", data, "--out", dir + "/run", "--context", "100000"])
        #expect(r.status == 1, "\(r.err)")
        #expect(r.err.contains("GiB") && r.err.contains("--context (100000)") && !r.err.contains("Fatal error"), "\(r.err)")
        #expect(r.err.split(separator: "\n").count == 1, "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/run"))
    }

    @Test func resumeRefusesFlagsThatContradictTheRunAndReportsChanges() throws {
        let (dir, _, run) = try trainedRun(steps: 3)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let saved = try #require(bytes(run + "/checkpoint.bin"))
        try Data(#"{"hidden": 64}"#.utf8).write(to: URL(fileURLWithPath: dir + "/config.json"))

        for (args, flag, has) in [(["--dim", "32"], "--dim 32", "--dim 16"), (["--context", "32"], "--context 32", "--context 16"),
                                  (["--tied"], "--tied true", "--tied false"), (["--qkv-bias"], "--qkv-bias true", "--qkv-bias false"),
                                  (["--seed", "5"], "--seed 5", "--seed 1337"),
                                  (["--steps", "2"], "--steps 2", "reached step 3"), (["--config", dir + "/config.json"], "--hidden 64", "--hidden 32"),
                                  (["--out", dir + "/elsewhere"], "--out \(dir)/elsewhere", "--resume \(run)")] {
            let r = try llama(["train", "--resume", run] + args)
            #expect(r.status == 1 && r.err.contains(flag) && r.err.contains(has), "\(args): \(r.err)")
        }
        #expect(bytes(run + "/checkpoint.bin") == saved, "a refused resume changed the run")

        // Flags that agree with the run, or that a run may change, are taken and reported.
        let ok = try llama(["train", "--resume", run, "--out", run + "/.", "--dim", "16", "--steps", "5", "--lr", "0.002", "--eval-every", "2"])
        #expect(ok.status == 0, "\(ok.err)")
        #expect(ok.err.contains("--steps 5 (was 3)") && ok.err.contains("--lr 0.002 (was 0.001)") && ok.err.contains("--eval-every 2 (was 0)"), "\(ok.err)")
        #expect(!ok.err.contains("--dim"), "\(ok.err)")
        let header = try TrainingCheckpoint.readHeader(path: run + "/checkpoint.bin")
        #expect(header.step == 5 && header.hyper.lr == 0.002 && header.hyper.evalEvery == 2 && header.model.dim == 16)
    }
}
