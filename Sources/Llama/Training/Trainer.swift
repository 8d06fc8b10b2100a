import Foundation

/// How to train (the JSON keys are the `llama train` flag names).
public struct TrainingHyperparameters: Codable, Sendable, Equatable {
    /// Sequences per micro-batch.
    public var batch = 12
    /// Micro-batches whose gradients are summed (averaged) per optimizer step.
    public var gradAccum = 1
    public var steps = 2000
    public var lr = 1e-3
    public var minLR = 1e-4
    public var warmup = 100
    public var weightDecay = 0.1
    public var beta1 = 0.9
    public var beta2 = 0.99
    /// Largest global gradient norm (0: no clipping).
    public var clip = 1.0
    /// Evaluate the validation split every this many steps (0: only at the end).
    public var evalEvery = 0
    /// Loss estimates (periodic validation, the final train loss) use this many batches of
    /// `batch` windows, spread evenly over the split (0: every window, exact but slow). The
    /// final validation loss always covers the whole split. 20 batches cost about as much as
    /// 7 training steps, so evaluating every 100 steps adds some 7%, as nanoGPT's defaults do.
    public var evalSteps = 20
    /// Save a checkpoint every this many steps (0: only at the end).
    public var saveEvery = 0
    public var seed: UInt64 = 1337

    enum CodingKeys: String, CodingKey {
        case batch, gradAccum = "grad_accum", steps, lr, minLR = "min_lr", warmup, weightDecay = "weight_decay"
        case beta1, beta2, clip, evalEvery = "eval_every", evalSteps = "eval_steps", saveEvery = "save_every", seed
    }

    public init() {}

    public func validate() throws {
        func check(_ ok: Bool, _ field: String, _ reason: String) throws {
            if !ok { throw TrainingError.invalidConfig(field: field, reason: reason) }
        }
        try check(batch > 0, "batch", "must be positive")
        try check(gradAccum > 0, "grad_accum", "must be positive")
        try check(steps > 0, "steps", "must be positive")
        try check(lr > 0 && lr.isFinite, "lr", "must be positive")
        try check(minLR >= 0 && minLR <= lr, "min_lr", "must be in [0, lr]")
        try check(warmup >= 0, "warmup", "must not be negative")
        try check(weightDecay >= 0, "weight_decay", "must not be negative")
        try check(beta1 >= 0 && beta1 < 1, "beta1", "must be in [0, 1)")
        try check(beta2 >= 0 && beta2 < 1, "beta2", "must be in [0, 1)")
        try check(clip >= 0, "clip", "must not be negative")
        try check(evalEvery >= 0 && evalSteps >= 0 && saveEvery >= 0, "eval_every/eval_steps/save_every", "must not be negative")
    }
}

/// What a finished (or interrupted) run reports.
public struct TrainingSummary: Sendable {
    public var step: Int
    public var finished: Bool
    /// Mean loss (nats per token) over `trainLossWindows` non-overlapping `context` windows
    /// spread over the train split (all of them when `evalSteps` is 0).
    public var trainLoss: Double?
    /// Mean loss over every non-overlapping `context` window of the validation split.
    public var valLoss: Double?
    public var trainLossWindows = 0
    public var valLossWindows = 0
    /// Seconds spent in training steps (evaluation and checkpointing excluded, as the
    /// PyTorch reference times it).
    public var trainSeconds: Double
    public var tokensPerSecond: Double
    public var parameterCount: Int
}

/// One training run: model, optimizer, data and the run directory (checkpoint, log).
///
/// The loop (`run`) reads like nanoGPT's train.py: set the learning rate, sum the gradients
/// of `gradAccum` sampled batches, clip, step AdamW, then log, evaluate and save.
public final class Trainer {
    public let model: TrainingModel
    public let hyper: TrainingHyperparameters
    public let data: TrainingData
    public let runDirectory: String
    public let optimizer: AdamW
    public let schedule: LearningRateSchedule
    public private(set) var step = 0
    public private(set) var rng: Xoshiro256
    /// On resume, the settings changed from the saved run's (`--lr 0.0005 (was 0.001)`).
    public private(set) var appliedChanges: [String] = []
    private var trainSeconds = 0.0
    /// True when this trainer continues a saved run (it must not refuse its own directory).
    private var resumed = false
    private var lock: TrainingRunLock?
    private let workspace: TrainingWorkspace
    private lazy var evalWorkspace = TrainingWorkspace(config: model.config, batch: evalBatch, backward: false)
    /// Windows per evaluation forward pass: about 2048 positions, so the products are large
    /// enough for the kernels while the saved attention weights (context² per head) stay small.
    private var evalBatch: Int { Trainer.evalBatch(context: model.config.maxContext) }
    private static func evalBatch(context: Int) -> Int { max(1, min(32, 2048 / context)) }

    public var checkpointPath: String { runDirectory + "/checkpoint.bin" }
    public var logPath: String { runDirectory + "/log.csv" }

    /// A new run from random initialisation.
    public init(config: ModelConfig, hyper: TrainingHyperparameters, data: TrainingData,
                runDirectory: String, threads: Int) throws {
        try config.validateForTraining()
        try hyper.validate()
        // Refuse a shape that cannot fit in memory up front, rather than failing to allocate it.
        try Trainer.checkMemory(config: config, hyper: hyper)
        guard config.vocabSize >= data.vocabSize else {
            throw TrainingError.invalidConfig(field: "vocab_size", reason: "\(config.vocabSize) is smaller than the data's vocabulary (\(data.vocabSize))")
        }
        guard data.train.count > config.maxContext + 1 else {
            throw TrainingError.badData(path: data.directory, reason: "the train split has \(data.train.count) tokens, not more than context + 1 (\(config.maxContext + 1))")
        }
        self.hyper = hyper
        self.data = data
        self.runDirectory = runDirectory
        model = try TrainingModel(config: config, pool: ParallelFor(workers: threads))
        optimizer = AdamW(layout: model.layout, beta1: Float(hyper.beta1), beta2: Float(hyper.beta2),
                          weightDecay: Float(hyper.weightDecay))
        schedule = LearningRateSchedule(peak: hyper.lr, minimum: hyper.minLR, warmup: hyper.warmup, steps: hyper.steps)
        workspace = TrainingWorkspace(config: config, batch: hyper.batch, backward: true)
        rng = Xoshiro256(seed: hyper.seed)
        model.initialize(rng: &rng)
    }

    /// Continues the run saved in `runDirectory/checkpoint.bin`. `changes` may change what a
    /// run may change midway (see `TrainingSettings.resuming`); `appliedChanges` then says
    /// what changed. A setting that contradicts the run throws `TrainingError.contradictsRun`.
    public convenience init(resuming runDirectory: String, data: TrainingData, threads: Int,
                            changes: TrainingSettings = TrainingSettings()) throws {
        let path = runDirectory + "/checkpoint.bin"
        let ck = try TrainingCheckpoint(path: path)
        guard ck.header.dataVocabSize == data.vocabSize else {
            throw TrainingError.badData(path: data.directory, reason: "vocabulary of \(data.vocabSize) tokens, but \(path) was trained on data with \(ck.header.dataVocabSize) (another tokenizer?)")
        }
        let (hyper, applied) = try changes.resuming(ck.header, checkpoint: path)
        try self.init(config: ck.header.model, hyper: hyper, data: data, runDirectory: runDirectory, threads: threads)
        appliedChanges = applied
        resumed = true
        ck.params.withUnsafeBufferPointer { model.params.update(from: $0.baseAddress!, count: $0.count) }
        ck.m.withUnsafeBufferPointer { optimizer.m.update(from: $0.baseAddress!, count: $0.count) }
        ck.v.withUnsafeBufferPointer { optimizer.v.update(from: $0.baseAddress!, count: $0.count) }
        optimizer.step = ck.header.adamStep
        step = ck.header.step
        let words = ck.header.rng.compactMap { UInt64($0, radix: 16) }
        guard words.count == ck.header.rng.count, let saved = Xoshiro256(stateWords: words) else {
            throw TrainingError.badCheckpoint(path: path, reason: "the random generator state \(ck.header.rng) is not four non-zero hexadecimal words")
        }
        rng = saved
        trainSeconds = ck.header.trainSeconds
    }

    /// Fills the workspace with `batch` random windows of the train split (targets shifted
    /// by one), positions drawn as the reference draws them: uniform in [0, n − context − 1).
    func sampleBatch() {
        let T = model.config.maxContext
        for b in 0..<hyper.batch {
            let i = rng.below(data.train.count - T - 1)
            workspace.setSequence(b, tokens: data.train[i..<(i + T)], targets: data.train[(i + 1)..<(i + 1 + T)])
        }
    }

    /// One optimizer step; returns the mean training loss of its batches.
    public func trainStep() -> Double {
        let lr = schedule(step)
        model.zeroGradients()
        var loss = 0.0
        let tokens = Double(hyper.batch * model.config.maxContext)
        for _ in 0..<hyper.gradAccum {
            sampleBatch()
            loss += model.forward(workspace, gradScale: 1 / Float(hyper.gradAccum)) / tokens / Double(hyper.gradAccum)
            model.backward(workspace)
        }
        clipGradientNorm(model.grads, count: model.layout.count, maxNorm: hyper.clip)
        optimizer.update(params: model.params, grads: model.grads, lr: lr, pool: model.pool)
        step += 1
        return loss
    }

    /// Mean loss over the non-overlapping `context` windows of `tokens`, exactly as the
    /// reference's `evaluate`; with `maxWindows` (> 0), over that many of them spread evenly
    /// from the first to the last, so an estimate sees the whole split, not its beginning.
    public func evaluate(_ tokens: [Int32], maxWindows: Int? = nil) -> Double? {
        evaluateCounting(tokens, maxWindows: maxWindows).loss
    }

    /// `evaluate`, with the number of windows it averaged.
    public func evaluateCounting(_ tokens: [Int32], maxWindows: Int? = nil) -> (loss: Double?, windows: Int) {
        let T = model.config.maxContext
        let all = (tokens.count - 1) / T
        var n = all
        if let maxWindows, maxWindows > 0 { n = min(n, maxWindows) }
        guard n > 0 else { return (nil, 0) }
        let ws = evalWorkspace
        var total = 0.0
        var w = 0
        while w < n {
            let count = min(evalBatch, n - w)
            for b in 0..<count {
                let i = (w + b) * all / n * T
                ws.setSequence(b, tokens: tokens[i..<(i + T)], targets: tokens[(i + 1)..<(i + 1 + T)])
            }
            total += model.forward(ws, sequences: count)
            w += count
        }
        return (total / Double(n * T), n)
    }

    /// Windows per loss estimate (`evalSteps` batches; nil: all).
    private var estimateWindows: Int? { hyper.evalSteps > 0 ? hyper.evalSteps * hyper.batch : nil }

    /// Files of a run that a new run started over it with `replacing` removes: what the old
    /// run wrote and the new one may not rewrite (its plot, its copy of another tokenizer).
    private static let runFiles = ["checkpoint.bin", "log.csv", "loss.png", "tokenizer.tiktoken", "tokenizer.model", "tokenizer.bin"]

    /// Makes the run directory ready and takes its lock (`TrainingRunLock`, held until `run`
    /// ends); `run` does this itself when it was not done. A new run refuses a data
    /// directory, and refuses a directory holding another run unless `replacing` (then the
    /// old run's files go). Returns the pid of a killed trainer whose lock was taken over.
    @discardableResult
    public func prepareRunDirectory(replacing: Bool = false) throws -> Int32? {
        let fm = FileManager.default
        if !resumed {
            let meta = (runDirectory as NSString).appendingPathComponent("meta.json")
            if FileIdentity.same(runDirectory, data.directory) || fm.fileExists(atPath: meta) {
                throw TrainingError.runIsDataDirectory(directory: runDirectory, meta: meta)
            }
        }
        try fm.createDirectory(atPath: runDirectory, withIntermediateDirectories: true)
        let lock = try TrainingRunLock(directory: runDirectory)
        if !resumed, let existing = [checkpointPath, logPath].first(where: { fm.fileExists(atPath: $0) }) {
            guard replacing else {
                throw TrainingError.runExists(directory: runDirectory, file: existing,
                                              step: try? TrainingCheckpoint.readHeader(path: checkpointPath).step)
            }
            for name in Trainer.runFiles { unlink(runDirectory + "/" + name) }
        }
        // The run keeps its tokenizer, so `llama generate RUN` and `llama export RUN` need
        // nothing else. A new run never takes a file of that name it did not write for one.
        if let tok = data.tokenizerFile, let bytes = fm.contents(atPath: tok) {
            let target = runDirectory + "/" + (tok as NSString).lastPathComponent
            if let present = fm.contents(atPath: target) {
                if !resumed && present != bytes {
                    throw TrainingError.badData(path: target, reason: "exists and is not the tokenizer of \(data.directory); write the run to another directory")
                }
            } else {
                try AtomicFile.write(bytes, to: target)
            }
        }
        self.lock = lock
        return lock.staleOwner
    }

    /// Throws `TrainingError.notEnoughMemory` when the parameters, gradients, AdamW moments
    /// and the training and evaluation workspaces of this shape exceed the machine's memory,
    /// naming the setting that weighs most.
    public static func checkMemory(config: ModelConfig, hyper: TrainingHyperparameters) throws {
        let params = 4 * ParameterLayout.estimatedCount(config)  // weights, gradients, m, v
        let train = TrainingWorkspace.floatCount(config: config, batch: hyper.batch, backward: true)
        let eval = TrainingWorkspace.floatCount(config: config, batch: evalBatch(context: config.maxContext), backward: false)
        let bytes = 4 * (params + train.total + eval.total)
        let memory = Int(clamping: ProcessInfo.processInfo.physicalMemory)
        guard bytes > Double(memory) else { return }
        let attention = train.attention + eval.attention
        let activations = train.total + eval.total - attention
        let advice: String
        if attention >= max(params, activations) {
            advice = "attention weights grow with the square of the context; lower --context (\(config.maxContext)) or --batch (\(hyper.batch))"
        } else if activations >= params {
            advice = "lower --batch (\(hyper.batch)) or --context (\(config.maxContext))"
        } else {
            advice = "the model is too large; lower --dim (\(config.dim)), --layers (\(config.layerCount)) or --hidden (\(config.hiddenDim))"
        }
        throw TrainingError.notEnoughMemory(bytes: bytes, available: memory, advice: advice)
    }

    /// Saves model, optimizer, RNG and step atomically to `checkpointPath`.
    public func saveCheckpoint() throws {
        let n = model.layout.count
        let header = TrainingCheckpoint.Header(
            model: model.config, hyper: hyper, step: step, rng: rng.stateWords.map { String($0, radix: 16) },
            adamStep: optimizer.step, trainSeconds: trainSeconds, dataDirectory: data.directory,
            dataVocabSize: data.vocabSize, paramCount: n,
            tensors: model.layout.tensors.map { .init(name: $0.name, shape: $0.shape, offset: $0.offset) })
        let ck = TrainingCheckpoint(header: header,
                                    params: Array(UnsafeBufferPointer(start: model.params, count: n)),
                                    m: Array(UnsafeBufferPointer(start: optimizer.m, count: n)),
                                    v: Array(UnsafeBufferPointer(start: optimizer.v, count: n)))
        try ck.write(to: checkpointPath)
    }

    /// Trains until `hyper.steps` or until `shouldStop` returns true (checked after every
    /// step; the run is then saved so `--resume` continues it). `progress` receives each
    /// step's line for the terminal. Final losses are evaluated only when the run finished.
    public func run(shouldStop: () -> Bool = { false }, progress: (TrainingProgress) -> Void = { _ in }) throws -> TrainingSummary {
        if lock == nil { _ = try prepareRunDirectory() }
        defer {
            lock?.release()
            lock = nil
        }
        let log = try TrainingLog(path: logPath, resumingAt: step)
        let tokensPerStep = Double(hyper.batch * hyper.gradAccum * model.config.maxContext)
        let segmentStart = step, segmentSeconds = trainSeconds
        var interrupted = false
        while step < hyper.steps {
            let lr = schedule(step)
            let t0 = Date()
            let loss = trainStep()
            trainSeconds += Date().timeIntervalSince(t0)

            var valLoss: Double?
            if hyper.evalEvery > 0 && step % hyper.evalEvery == 0 && step < hyper.steps {
                valLoss = evaluate(data.val, maxWindows: estimateWindows)
            }
            let rate = Double(step - segmentStart) * tokensPerStep / max(trainSeconds - segmentSeconds, 1e-9)
            log.append(step: step, trainLoss: loss, valLoss: valLoss, lr: lr, tokensPerSecond: rate, seconds: trainSeconds)
            progress(TrainingProgress(step: step, steps: hyper.steps, loss: loss, valLoss: valLoss, lr: lr,
                                      tokensPerSecond: rate,
                                      secondsLeft: Double(hyper.steps - step) * tokensPerStep / max(rate, 1e-9)))
            if hyper.saveEvery > 0 && step % hyper.saveEvery == 0 && step < hyper.steps {
                try log.flush()
                try saveCheckpoint()
            }
            if shouldStop() && step < hyper.steps {
                interrupted = true
                break
            }
        }
        try log.flush()
        try saveCheckpoint()
        var summary = TrainingSummary(step: step, finished: !interrupted, trainLoss: nil, valLoss: nil,
                                      trainSeconds: trainSeconds,
                                      tokensPerSecond: Double(step) * tokensPerStep / max(trainSeconds, 1e-9),
                                      parameterCount: model.layout.count)
        if !interrupted {
            (summary.trainLoss, summary.trainLossWindows) = evaluateCounting(data.train, maxWindows: estimateWindows)
            (summary.valLoss, summary.valLossWindows) = evaluateCounting(data.val)
            log.append(step: step, trainLoss: summary.trainLoss ?? .nan, valLoss: summary.valLoss, lr: schedule(step - 1),
                       tokensPerSecond: summary.tokensPerSecond, seconds: trainSeconds, final: true)
            try log.flush()
        }
        return summary
    }
}

/// One line of progress, for the terminal.
public struct TrainingProgress: Sendable {
    public var step: Int
    public var steps: Int
    public var loss: Double
    public var valLoss: Double?
    public var lr: Double
    public var tokensPerSecond: Double
    public var secondsLeft: Double
}

/// RUN/log.csv: `step,train_loss,val_loss,lr,tokens_per_s,train_s,kind`, one row per step
/// (`kind` = step), plus a `final` row whose losses are full-split evaluations. On resume,
/// rows after the checkpoint's step are dropped, so the log matches an uninterrupted run.
final class TrainingLog {
    let path: String
    private var pending = ""
    static let header = "step,train_loss,val_loss,lr,tokens_per_s,train_s,kind\n"

    init(path: String, resumingAt step: Int) throws {
        self.path = path
        var kept = TrainingLog.header
        if step > 0, let old = try? String(contentsOfFile: path, encoding: .utf8) {
            for line in old.split(separator: "\n").dropFirst() {
                let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                if let s = Int(fields.first ?? ""), s <= step, fields.last == "step" { kept += line + "\n" }
            }
        }
        try AtomicFile.write(Data(kept.utf8), to: path)
    }

    func append(step: Int, trainLoss: Double, valLoss: Double?, lr: Double, tokensPerSecond: Double, seconds: Double,
                final: Bool = false) {
        let val = valLoss.map { String(format: "%.6f", $0) } ?? ""
        pending += "\(step),\(String(format: "%.6f", trainLoss)),\(val),\(String(format: "%.6e", lr)),"
            + "\(String(format: "%.1f", tokensPerSecond)),\(String(format: "%.3f", seconds)),\(final ? "final" : "step")\n"
    }

    func flush() throws {
        guard !pending.isEmpty else { return }
        guard let h = FileHandle(forWritingAtPath: path) else {
            throw TrainingError.badData(path: path, reason: "cannot open the log for appending")
        }
        defer { try? h.close() }
        try h.seekToEnd()
        try h.write(contentsOf: Data(pending.utf8))
        pending = ""
    }
}
