import ArgumentParser
import Foundation
import Llama
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Set by SIGINT; the training loop polls it after every step and saves before exiting.
private let interruptRequested = Atomic<Bool>(false)

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a Llama model from scratch on token shards made by `llama prepare`.",
        discussion: """
        Settings come from defaults (the PyTorch reference recipe), then --config FILE (a JSON \
        object whose keys are the flag names, e.g. {"dim": 128, "kv_heads": 4, "min_lr": 1e-4}), \
        then flags. Writes RUN/checkpoint.bin (every --save-every steps, at the end, and on \
        Ctrl-C) and RUN/log.csv. --resume RUN continues a run exactly where it stopped.

        Example: llama train --data data/shakespeare --out runs/shakespeare --steps 2000
        """)

    @Option(name: .long, help: "Directory written by `llama prepare` (default on --resume: the one the run used).")
    var data: String?
    @Option(name: .long, help: "Run directory (checkpoint, log).")
    var out: String?
    @Option(name: .long, help: "JSON file of settings (keys: the flag names).")
    var config: String?
    @Option(name: .long, help: "Continue the run in this directory.")
    var resume: String?

    @Option(name: .long, help: "Model width (default 128).") var dim: Int?
    @Option(name: .long, help: "Transformer blocks (default 4).") var layers: Int?
    @Option(name: .long, help: "Attention heads (default 4).") var heads: Int?
    @Option(name: .customLong("kv-heads"), help: "Key/value heads, dividing --heads (default: --heads).") var kvHeads: Int?
    @Option(name: .long, help: "Feed-forward inner size (default 352).") var hidden: Int?
    @Option(name: .long, help: "Tokens per training sequence (default 64).") var context: Int?
    @Flag(name: .long, help: "Share the token embedding with the output projection.") var tied = false
    @Option(name: .long, help: "Sequences per micro-batch (default 12).") var batch: Int?
    @Option(name: .customLong("grad-accum"), help: "Micro-batches per optimizer step (default 1).") var gradAccum: Int?
    @Option(name: .long, help: "Optimizer steps (default 2000; on --resume, may extend the run).") var steps: Int?
    @Option(name: .long, help: "Peak learning rate (default 1e-3).") var lr: Double?
    @Option(name: .customLong("min-lr"), help: "Learning rate at the end of the cosine decay (default 1e-4).") var minLR: Double?
    @Option(name: .long, help: "Linear warmup steps (default 100).") var warmup: Int?
    @Option(name: .customLong("weight-decay"), help: "AdamW decoupled weight decay on matrices (default 0.1).") var weightDecay: Double?
    @Option(name: .long, help: "AdamW beta1 (default 0.9).") var beta1: Double?
    @Option(name: .long, help: "AdamW beta2 (default 0.99).") var beta2: Double?
    @Option(name: .long, help: "Clip the global gradient norm to this (0: off; default 1.0).") var clip: Double?
    @Option(name: .customLong("eval-every"), help: "Validation loss every N steps (0: only at the end; default 0).") var evalEvery: Int?
    @Option(name: .customLong("eval-steps"), help: "Batches of windows per periodic evaluation (0: whole split).") var evalSteps: Int?
    @Option(name: .customLong("save-every"), help: "Checkpoint every N steps (0: only at the end).") var saveEvery: Int?
    @Option(name: .long, help: "Random seed (initialisation and batch sampling; default 1337).") var seed: UInt64?
    @Option(name: .long, help: "Threads (default 2). Results are identical for any count.") var threads: Int = 2
    @Flag(name: .long, help: "Print one final JSON summary line on stdout.") var json = false

    func validate() throws {
        if resume == nil && (data == nil || out == nil) { throw ValidationError("--data and --out are required (or --resume RUN)") }
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let trainer: Trainer
        if let resume {
            let header = try TrainingCheckpoint(path: resume + "/checkpoint.bin").header
            let dataset = try TrainingData(directory: data ?? header.dataDirectory)
            trainer = try Trainer(resuming: resume, data: dataset, threads: threads, steps: steps)
            writeStderr("resuming \(resume) at step \(trainer.step)/\(trainer.hyper.steps)\n")
        } else {
            guard let data, let out else { throw ValidationError("--data and --out are required (or --resume RUN)") }
            let dataset = try TrainingData(directory: data)
            var file: [String: Any] = [:]
            if let config {
                guard let d = FileManager.default.contents(atPath: config),
                      let obj = (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] else {
                    throw ValidationError("\(config): not a readable JSON object")
                }
                for (k, v) in obj { file[k.replacingOccurrences(of: "-", with: "_")] = v }
            }
            func setting<T>(_ flag: T?, _ key: String, _ fallback: T) throws -> T {
                if let flag { return flag }
                guard let v = file.removeValue(forKey: key) else { return fallback }
                // JSON numbers arrive as NSNumber; accept the ones that fit T exactly.
                let converted: Any?
                switch (T.self, v) {
                case (is Double.Type, let n as NSNumber): converted = n.doubleValue
                case (is Int.Type, let n as NSNumber) where n.doubleValue == n.doubleValue.rounded(): converted = n.intValue
                case (is UInt64.Type, let n as NSNumber) where n.int64Value >= 0: converted = UInt64(n.int64Value)
                case (is Bool.Type, let b as Bool): converted = b
                default: converted = nil
                }
                if let value = converted as? T { return value }
                throw ValidationError("\(config ?? ""): \"\(key)\" has the wrong type (expected \(T.self))")
            }
            let h = try setting(heads, "heads", 4)
            let model = TrainingModelConfig(
                vocabSize: dataset.vocabSize, dim: try setting(dim, "dim", 128), layers: try setting(layers, "layers", 4),
                heads: h, kvHeads: try setting(kvHeads, "kv_heads", h), hidden: try setting(hidden, "hidden", 352),
                context: try setting(context, "context", 64), tiedEmbeddings: try setting(tied ? true : nil, "tied", false))
            var hp = TrainingHyperparameters()
            hp.batch = try setting(batch, "batch", hp.batch)
            hp.gradAccum = try setting(gradAccum, "grad_accum", hp.gradAccum)
            hp.steps = try setting(steps, "steps", hp.steps)
            hp.lr = try setting(lr, "lr", hp.lr)
            hp.minLR = try setting(minLR, "min_lr", hp.minLR)
            hp.warmup = try setting(warmup, "warmup", hp.warmup)
            hp.weightDecay = try setting(weightDecay, "weight_decay", hp.weightDecay)
            hp.beta1 = try setting(beta1, "beta1", hp.beta1)
            hp.beta2 = try setting(beta2, "beta2", hp.beta2)
            hp.clip = try setting(clip, "clip", hp.clip)
            hp.evalEvery = try setting(evalEvery, "eval_every", hp.evalEvery)
            hp.evalSteps = try setting(evalSteps, "eval_steps", hp.evalSteps)
            hp.saveEvery = try setting(saveEvery, "save_every", hp.saveEvery)
            hp.seed = try setting(seed, "seed", hp.seed)
            if let unknown = file.keys.sorted().first {
                throw ValidationError("\(config ?? ""): unknown setting \"\(unknown)\"")
            }
            trainer = try Trainer(config: model, hyper: hp, data: dataset, runDirectory: out, threads: threads)
            writeStderr("\(trainer.model.layout.count) parameters, \(dataset.train.count) train / \(dataset.val.count) val tokens\n")
        }

        // First Ctrl-C: finish the step, save, exit. A second one kills at once.
        signal(SIGINT) { _ in
            interruptRequested.store(true, ordering: .relaxed)
            signal(SIGINT, SIG_DFL)
        }
        var lastPrint = Date.distantPast
        let summary = try trainer.run(shouldStop: { interruptRequested.load(ordering: .relaxed) }) { p in
            let now = Date()
            guard p.valLoss != nil || p.step == p.steps || now.timeIntervalSince(lastPrint) > 0.25 else { return }
            lastPrint = now
            let left = Int(p.secondsLeft.rounded())
            var line = String(format: "\rstep %d/%d  loss %.4f  lr %.2e  %.0f tok/s  %dm%02ds left ",
                              p.step, p.steps, p.loss, p.lr, p.tokensPerSecond, left / 60, left % 60)
            if let v = p.valLoss { line += String(format: " val %.4f\n", v) }
            writeStderr(line)
        }
        writeStderr("\n")
        if !summary.finished {
            writeStderr("interrupted at step \(summary.step): saved \(trainer.checkpointPath); continue with --resume \(trainer.runDirectory)\n")
            throw ExitCode(130)
        }
        let result: [String: Any] = [
            "train_loss": round4(summary.trainLoss), "val_loss": round4(summary.valLoss),
            "wall_s": (summary.trainSeconds * 100).rounded() / 100,
            "tokens_per_s": (summary.tokensPerSecond * 10).rounded() / 10,
            "steps": summary.step, "params": summary.parameterCount, "threads": threads,
        ]
        if json {
            let d = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
            print(String(decoding: d, as: UTF8.self))
        } else {
            print(String(format: "step %d: train loss %@, val loss %@, %.1f s, %.0f tokens/s → %@", summary.step,
                         "\(round4(summary.trainLoss))", "\(round4(summary.valLoss))",
                         summary.trainSeconds, summary.tokensPerSecond, trainer.checkpointPath))
        }
    }

    private func round4(_ x: Double?) -> Any {
        guard let x, x.isFinite else { return NSNull() }
        return (x * 10000).rounded() / 10000
    }
}

/// Progress and notices go to stderr, so stdout stays clean for --json.
/// Writes to stderr as is (the progress line rewrites itself with "\r").
private func writeStderr(_ s: String) {
    FileHandle.standardError.write(Data(s.utf8))
}
