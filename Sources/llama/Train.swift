import ArgumentParser
import Foundation
import Llama
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Set by SIGINT; the training loop polls it after every step and saves before exiting.
private let interruptRequested = Atomic<Bool>(false)

struct Train: ParsableCommand, DistributedCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a Llama model from scratch on token shards made by `llama prepare`.",
        discussion: """
        Settings come from defaults (the PyTorch reference recipe), then --config FILE (a JSON \
        object whose keys are the flag names, e.g. {"dim": 128, "kv_heads": 4, "min_lr": 1e-4}), \
        then flags. Writes RUN/checkpoint.bin (every --save-every steps, at the end, and on \
        Ctrl-C) and RUN/log.csv. --resume RUN continues a run exactly where it stopped. --out \
        refuses a directory that holds a run (use --resume, or --force to start over) or data; \
        RUN/train.lock keeps a second trainer out of a run in progress.

        Example: llama train --data data/shakespeare --out runs/shakespeare --steps 2000

        Data-parallel on an MPI build (swift build --traits MPI): mpirun -np N llama train … \
        gives each rank --grad-accum / N of the micro-batches of every step (--grad-accum must \
        be a multiple of N), sums the gradients across ranks and trains exactly as one process \
        would; rank 0 alone writes the run directory and prints.
        """)

    @Option(name: .long, help: "Directory written by `llama prepare` (default on --resume: the one the run used).")
    var data: String?
    @Option(name: .long, help: "Run directory (checkpoint, log).")
    var out: String?
    @Option(name: .long, help: "JSON file of settings (keys: the flag names).")
    var config: String?
    @Option(name: .long, help: "Continue the run in this directory. Shape flags must match the run; length, learning rate, batch, optimizer and cadence flags change it.")
    var resume: String?

    @Option(name: .long, parsing: .unconditional, help: "Model width (default 128).") var dim: Int?
    @Option(name: .long, parsing: .unconditional, help: "Transformer blocks (default 4).") var layers: Int?
    @Option(name: .long, parsing: .unconditional, help: "Attention heads (default 4).") var heads: Int?
    @Option(name: .customLong("kv-heads"), parsing: .unconditional, help: "Key/value heads, dividing --heads (default: --heads).") var kvHeads: Int?
    @Option(name: .long, parsing: .unconditional, help: "Feed-forward inner size (default 352).") var hidden: Int?
    @Option(name: .long, parsing: .unconditional, help: "Tokens per training sequence (default 64).") var context: Int?
    @Flag(name: .long, help: "Share the token embedding with the output projection.") var tied = false
    @Flag(name: .customLong("qkv-bias"), help: "Qwen2-style model: biases on the q, k and v projections, rotate-half RoPE (architecture qwen2).")
    var qkvBias = false
    @Option(name: .long, parsing: .unconditional, help: "Sequences per micro-batch (default 12).") var batch: Int?
    @Option(name: .customLong("grad-accum"), parsing: .unconditional, help: "Micro-batches per optimizer step (default 1).") var gradAccum: Int?
    @Option(name: .long, parsing: .unconditional, help: "Optimizer steps (default 2000; on --resume, may extend the run).") var steps: Int?
    @Option(name: .long, parsing: .unconditional, help: "Peak learning rate (default 1e-3).") var lr: Double?
    @Option(name: .customLong("min-lr"), parsing: .unconditional, help: "Learning rate at the end of the cosine decay (default 1e-4).") var minLR: Double?
    @Option(name: .long, parsing: .unconditional, help: "Linear warmup steps (default 100).") var warmup: Int?
    @Option(name: .customLong("weight-decay"), parsing: .unconditional, help: "AdamW decoupled weight decay on matrices (default 0.1).") var weightDecay: Double?
    @Option(name: .long, parsing: .unconditional, help: "AdamW beta1 (default 0.9).") var beta1: Double?
    @Option(name: .long, parsing: .unconditional, help: "AdamW beta2 (default 0.99).") var beta2: Double?
    @Option(name: .long, parsing: .unconditional, help: "Clip the global gradient norm to this (0: off; default 1.0).") var clip: Double?
    @Option(name: .customLong("eval-every"), parsing: .unconditional, help: "Validation loss every N steps (0: only at the end; default 0).") var evalEvery: Int?
    @Option(name: .customLong("eval-steps"), parsing: .unconditional, help: """
        Batches of --batch windows, spread over the split, per loss estimate: periodic validation and the final \
        train loss (default 20; 0: whole splits, exact but slow). The final validation loss always uses the whole split.
        """) var evalSteps: Int?
    @Option(name: .customLong("save-every"), parsing: .unconditional, help: "Checkpoint every N steps (0: only at the end).") var saveEvery: Int?
    @Option(name: .long, parsing: .unconditional, help: "Random seed (initialisation and batch sampling; default 1337).") var seed: UInt64?
    @Option(name: .long, parsing: .unconditional, help: "Threads (default 2). Results are identical for any count.") var threads: Int = 2
    @Option(name: .long, parsing: .unconditional, help: """
        Matrix products: fp32 (default), or bf16 (operands rounded to bfloat16, sums in fp32, as PyTorch's CPU \
        autocast; CPUs with AVX-512 BF16 only). Parameters, gradients and optimizer state stay fp32 either way.
        """) var precision: String = "fp32"
    @Flag(name: .long, help: "Print one final JSON summary line on stdout.") var json = false
    @Flag(name: .long, help: "Start a new run in --out even if it holds one (replaces its checkpoint and log, removes loss.png).")
    var force = false

    func validate() throws {
        if resume == nil && (data == nil || out == nil) { throw ValidationError("--data and --out are required (or --resume RUN)") }
        if resume != nil && force { throw ValidationError("--force starts a new run; it cannot be combined with --resume") }
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
        guard let p = TrainingPrecision(rawValue: precision) else {
            throw ValidationError("--precision \(precision): expected one of \(TrainingPrecision.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if p == .bf16 && !TrainingPrecision.bf16IsAvailable {
            throw ValidationError("--precision bf16 needs a CPU with AVX-512 BF16 (vdpbf16ps), which this one lacks; use fp32")
        }
    }

    /// The settings given as flags (nil: not given).
    private var flags: TrainingSettings {
        var s = TrainingSettings()
        s.dim = dim; s.layers = layers; s.heads = heads; s.kvHeads = kvHeads; s.hidden = hidden
        s.context = context; s.tied = tied ? true : nil; s.qkvBias = qkvBias ? true : nil
        s.batch = batch; s.gradAccum = gradAccum; s.steps = steps; s.lr = lr; s.minLR = minLR; s.warmup = warmup
        s.weightDecay = weightDecay; s.beta1 = beta1; s.beta2 = beta2; s.clip = clip
        s.evalEvery = evalEvery; s.evalSteps = evalSteps; s.saveEvery = saveEvery; s.seed = seed
        return s
    }

    func run() throws {
        let threads = clampedThreads(self.threads, flag: "--threads")
        let precision = TrainingPrecision(rawValue: self.precision) ?? .fp32
        let settings = try (config.map(TrainingSettings.init(configFile:)) ?? TrainingSettings()).overriding(with: flags)
        let trainer: Trainer
        if let resume {
            if let out, !FileIdentity.same(out, resume) {
                throw CLIError("--out \(out) contradicts --resume \(resume): a resumed run stays in its own directory; drop --out")
            }
            let header = try TrainingCheckpoint.readHeader(path: resume + "/checkpoint.bin")
            let dataset = try TrainingData(directory: data ?? header.dataDirectory)
            trainer = try Trainer(resuming: resume, data: dataset, threads: threads, precision: precision, changes: settings,
                                  communicator: Job.communicator)
            var applied = trainer.appliedChanges
            if dataset.directory != header.dataDirectory { applied.append("--data \(dataset.directory) (was \(header.dataDirectory))") }
            writeStderr("resuming \(resume) at step \(trainer.step)/\(trainer.hyper.steps)"
                        + (applied.isEmpty ? "" : "; applied " + applied.joined(separator: ", ")) + "\n")
        } else {
            guard let data, let out else { throw ValidationError("--data and --out are required (or --resume RUN)") }
            let dataset = try TrainingData(directory: data)
            let (model, hp) = settings.newRun(vocabSize: dataset.vocabSize)
            trainer = try Trainer(config: model, hyper: hp, data: dataset, runDirectory: out, threads: threads,
                                  precision: precision, communicator: Job.communicator)
        }
        if let stale = try trainer.prepareRunDirectory(replacing: force) {
            writeStderr("took over \(trainer.runDirectory)/\(TrainingRunLock.fileName) from process \(stale), which is no longer running\n")
        }
        let startStep = trainer.step
        if resume == nil {
            writeStderr("\(trainer.model.layout.count) parameters, \(trainer.data.train.count) train / \(trainer.data.val.count) val tokens\n")
        }

        // First Ctrl-C: finish the step, save, exit. A second one kills at once.
        signal(SIGINT) { _ in
            interruptRequested.store(true, ordering: .relaxed)
            signal(SIGINT, SIG_DFL)
        }
        if trainer.communicator.size > 1 {
            // Under mpirun, Ctrl-C reaches mpirun, which sends SIGTERM to every rank (then
            // SIGKILL after a few seconds); SIGUSR1 sent to mpirun is forwarded as is. Either
            // stops the ranks together after the step, and rank 0 saves.
            for sig in [SIGTERM, SIGUSR1] {
                signal(sig) { s in
                    interruptRequested.store(true, ordering: .relaxed)
                    signal(s, SIG_DFL)
                }
            }
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
            "steps": summary.step, "params": summary.parameterCount, "threads": threads, "precision": precision.rawValue,
            "ranks": summary.ranks, "allreduce_s": (summary.communicationSeconds * 1000).rounded() / 1000,
        ]
        if summary.ranks > 1 {
            // What the ranks exchanged: every parameter's gradient, as 4-byte floats, per step.
            let megabytes = Double(summary.parameterCount * 4) / 1_048_576
            writeStderr(String(format: "%d ranks: %.1f ms per step in all-reduce (%.2f MB of gradients per step), %.1f s in all\n",
                               summary.ranks, 1000 * summary.communicationSeconds / Double(max(1, summary.step - startStep)),
                               megabytes, summary.communicationSeconds))
        }
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
