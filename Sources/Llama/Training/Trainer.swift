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
    /// Processes the run was split across (`mpirun -np`), and the seconds this one spent
    /// summing gradients and losses across them (0 alone).
    public var ranks = 1
    public var communicationSeconds = 0.0
}

/// One training run: model, optimizer, data and the run directory (checkpoint, log).
///
/// The loop (`run`) reads like nanoGPT's train.py: set the learning rate, sum the gradients
/// of `gradAccum` sampled batches, clip, step AdamW, then log, evaluate and save.
///
/// Data-parallel (`communicator.size` ranks, as nanoGPT's DDP): each rank computes the
/// gradients of its share of the step's `gradAccum` micro-batches, the ranks sum them, and
/// every rank takes the same AdamW step; rank 0 alone writes the run directory. The
/// gradient of a step is summed in one fixed grouping whatever the rank count: each
/// micro-batch's gradient alone, then pairwise, the halves of a range summed separately and
/// added (`sumGradients`). Split evenly over 2 ranks, each rank's half is one such half and
/// the all-reduce is that last addition, so 2 ranks train bit for bit as 1 process does.
public final class Trainer {
    public let model: TrainingModel
    public let hyper: TrainingHyperparameters
    public let data: TrainingData
    public let runDirectory: String
    public let optimizer: AdamW
    public let schedule: LearningRateSchedule
    public private(set) var step = 0
    public private(set) var rng: Xoshiro256
    /// The processes this run is split across (`SingleProcess` when alone).
    public let communicator: any Communicator
    /// Seconds spent in collective operations (gradient and loss all-reduces) so far.
    public private(set) var communicationSeconds = 0.0
    /// Partial gradient sums of `sumGradients`, allocated when first needed.
    private var gradientSums: [FloatPointer] = []
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
                runDirectory: String, threads: Int, precision: TrainingPrecision = .fp32,
                communicator: any Communicator = SingleProcess()) throws {
        try config.validateForTraining()
        try hyper.validate()
        try Trainer.checkSplit(hyper, ranks: communicator.size)
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
        self.communicator = communicator
        model = try TrainingModel(config: config, pool: ParallelFor(workers: threads), precision: precision)
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
                            precision: TrainingPrecision = .fp32, changes: TrainingSettings = TrainingSettings(),
                            communicator: any Communicator = SingleProcess()) throws {
        let path = runDirectory + "/checkpoint.bin"
        let ck = try TrainingCheckpoint(path: path)
        guard ck.header.dataVocabSize == data.vocabSize else {
            throw TrainingError.badData(path: data.directory, reason: "vocabulary of \(data.vocabSize) tokens, but \(path) was trained on data with \(ck.header.dataVocabSize) (another tokenizer?)")
        }
        let (hyper, applied) = try changes.resuming(ck.header, checkpoint: path)
        try self.init(config: ck.header.model, hyper: hyper, data: data, runDirectory: runDirectory, threads: threads,
                      precision: precision, communicator: communicator)
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

    deinit {
        for buffer in gradientSums { buffer.deallocate() }
    }

    /// Throws unless the global batch splits evenly across `ranks`: ranks take whole
    /// micro-batches, `gradAccum / ranks` each (nanoGPT's DDP split).
    public static func checkSplit(_ hyper: TrainingHyperparameters, ranks: Int) throws {
        let a = hyper.gradAccum
        guard a % ranks != 0 else { return }
        var l = a
        while l % ranks != 0 { l += a }  // the least common multiple of gradAccum and ranks
        let f = l / a, global = hyper.batch * a
        let advice = hyper.batch % f == 0
            ? "use --batch \(hyper.batch / f) --grad-accum \(l) (the same global batch of \(global) sequences)"
            : "use --grad-accum \(l) (a global batch of \(hyper.batch * l) sequences instead of \(global))"
        throw DistributedError.indivisible(
            what: "--grad-accum", value: a, ranks: ranks,
            advice: "ranks take whole micro-batches of --batch \(hyper.batch) sequences from the global batch of "
                + "\(global) (--batch × --grad-accum); \(advice)")
    }

    /// The micro-batches of a step this rank computes: a contiguous `gradAccum / size` of them.
    public var ownMicroBatches: Range<Int> {
        let a = hyper.gradAccum, n = communicator.size, r = communicator.rank
        return (r * a / n)..<((r + 1) * a / n)
    }

    /// One optimizer step; returns the mean training loss of its batches.
    ///
    /// Every rank draws the windows of the whole global batch (`gradAccum` micro-batches of
    /// `batch` windows, positions uniform in [0, n − context − 1) as the reference draws
    /// them), so the random stream is the single process's; it computes only its own.
    public func trainStep() -> Double {
        let lr = schedule(step)
        let T = model.config.maxContext, a = hyper.gradAccum
        var starts: [Int] = []
        starts.reserveCapacity(a * hyper.batch)
        for _ in 0..<(a * hyper.batch) { starts.append(rng.below(data.train.count - T - 1)) }

        // Each micro-batch's mean loss share, at its index; the other ranks' stay 0 here.
        var losses = [Double](repeating: 0, count: a)
        let tokens = Double(hyper.batch * T)
        func microBatch(_ i: Int) {
            model.zeroGradients()
            for b in 0..<hyper.batch {
                let s = starts[i * hyper.batch + b]
                workspace.setSequence(b, tokens: data.train[s..<(s + T)], targets: data.train[(s + 1)..<(s + 1 + T)])
            }
            losses[i] = model.forward(workspace, gradScale: 1 / Float(a)) / tokens / Double(a)
            model.backward(workspace)
        }
        sumGradients(ownMicroBatches, microBatch)

        if communicator.size > 1 {
            let t0 = Date()
            communicator.allreduceSum(model.grads, count: model.layout.count)
            // x + 0 is exact: the reduced losses are each rank's own, bit for bit.
            losses.withUnsafeMutableBufferPointer { communicator.allreduceSum($0.baseAddress!, count: a) }
            communicationSeconds += Date().timeIntervalSince(t0)
        }
        var loss = 0.0
        for l in losses { loss += l }
        // Clipping as `clipGradientNorm`, its factor applied inside the update.
        let norm = gradientNorm(model.grads, count: model.layout.count, pool: model.pool)
        optimizer.update(params: model.params, grads: model.grads, lr: lr,
                         gradScale: clipFactor(norm: norm, maxNorm: hyper.clip), pool: model.pool)
        step += 1
        return loss
    }

    /// Leaves in `model.grads` the gradient sum of the micro-batches `range`, each computed
    /// alone by `microBatch` (which leaves its gradient in `model.grads`), in a grouping fixed
    /// by the range: split at the middle, the sum of each half, then their sum.
    private func sumGradients(_ range: Range<Int>, _ microBatch: (Int) -> Void) {
        guard range.count > 1 else {
            if let i = range.first { microBatch(i) } else { model.zeroGradients() }
            return
        }
        let n = model.layout.count
        func buffer(_ level: Int) -> FloatPointer {
            while gradientSums.count <= level { gradientSums.append(.allocate(capacity: n)) }
            return gradientSums[level]
        }
        // Sums `r` into buffer(level): the left half in place, the right half one level up.
        func sum(_ r: Range<Int>, _ level: Int) {
            let dst = buffer(level)
            guard r.count > 1 else {
                microBatch(r.lowerBound)
                dst.update(from: model.grads, count: n)
                return
            }
            let mid = r.lowerBound + r.count / 2
            sum(r.lowerBound..<mid, level)
            sum(mid..<r.upperBound, level + 1)
            let right = buffer(level + 1)
            TrainingKernels.parallelRows(n, model.pool) { i0, i1 in
                for i in i0..<i1 { dst[i] += right[i] }
            }
        }
        sum(range, 0)
        model.grads.update(from: buffer(0), count: n)
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
        // Forward passes of evalBatch windows; with several ranks, pass j runs on rank
        // j mod size, and the per-pass losses are summed in order as one process sums them.
        let passes = (n + evalBatch - 1) / evalBatch
        var passLoss = [Double](repeating: 0, count: passes)
        for j in stride(from: communicator.rank, to: passes, by: communicator.size) {
            let w = j * evalBatch, count = min(evalBatch, n - w)
            for b in 0..<count {
                let i = (w + b) * all / n * T
                ws.setSequence(b, tokens: tokens[i..<(i + T)], targets: tokens[(i + 1)..<(i + 1 + T)])
            }
            passLoss[j] = model.forward(ws, sequences: count)
        }
        if communicator.size > 1 {
            let t0 = Date()
            passLoss.withUnsafeMutableBufferPointer { communicator.allreduceSum($0.baseAddress!, count: passes) }
            communicationSeconds += Date().timeIntervalSince(t0)
        }
        var total = 0.0
        for l in passLoss { total += l }
        return (total / Double(n * T), n)
    }

    /// Throws `DistributedError.ranksDisagree` on every rank when the ranks were not started
    /// alike: another model state, other settings or other data than rank 0's.
    public func checkRanksAgree() throws {
        guard communicator.size > 1 else { return }
        var settings = Fingerprint()
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        settings.add(String(decoding: (try? encoder.encode(hyper)) ?? Data(), as: UTF8.self))
        settings.add(String(decoding: (try? encoder.encode(TrainingCheckpoint.Header.ModelJSON(model.config))) ?? Data(), as: UTF8.self))
        settings.add("\(step) \(optimizer.step) \(rng.stateWords)")
        try communicator.checkAgreement(settings.value, "training settings or step (flags, --config, --resume)")
        var tokens = Fingerprint()
        for split in [data.train, data.val] {
            split.withUnsafeBytes { tokens.add($0) }
        }
        try communicator.checkAgreement(tokens.value, "training data (--data)")
        var state = Fingerprint()
        let n = model.layout.count
        for buffer in [model.params, optimizer.m, optimizer.v] {
            state.add(UnsafeRawBufferPointer(start: buffer, count: n * 4))
        }
        try communicator.checkAgreement(state.value, "model and optimizer state (checkpoint.bin)")
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
    /// With several ranks, only rank 0 touches the directory (the others return nil).
    @discardableResult
    public func prepareRunDirectory(replacing: Bool = false) throws -> Int32? {
        guard communicator.isRoot else { return nil }
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

    /// Saves model, optimizer, RNG and step atomically to `checkpointPath` (on rank 0; every
    /// rank holds the same state).
    public func saveCheckpoint() throws {
        guard communicator.isRoot else { return }
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
        try checkRanksAgree()
        if lock == nil { _ = try prepareRunDirectory() }
        defer {
            lock?.release()
            lock = nil
        }
        let log = communicator.isRoot ? try TrainingLog(path: logPath, resumingAt: step) : nil
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
            log?.append(step: step, trainLoss: loss, valLoss: valLoss, lr: lr, tokensPerSecond: rate, seconds: trainSeconds)
            progress(TrainingProgress(step: step, steps: hyper.steps, loss: loss, valLoss: valLoss, lr: lr,
                                      tokensPerSecond: rate,
                                      secondsLeft: Double(hyper.steps - step) * tokensPerStep / max(rate, 1e-9)))
            if hyper.saveEvery > 0 && step % hyper.saveEvery == 0 && step < hyper.steps {
                try log?.flush()
                try saveCheckpoint()
            }
            // The ranks stop together: when any of them was asked to.
            let stop = communicator.size > 1 ? communicator.sum(shouldStop() ? 1 : 0) > 0 : shouldStop()
            if stop && step < hyper.steps {
                interrupted = true
                break
            }
        }
        try log?.flush()
        try saveCheckpoint()
        var summary = TrainingSummary(step: step, finished: !interrupted, trainLoss: nil, valLoss: nil,
                                      trainSeconds: trainSeconds,
                                      tokensPerSecond: Double(step) * tokensPerStep / max(trainSeconds, 1e-9),
                                      parameterCount: model.layout.count)
        summary.ranks = communicator.size
        if !interrupted {
            (summary.trainLoss, summary.trainLossWindows) = evaluateCounting(data.train, maxWindows: estimateWindows)
            (summary.valLoss, summary.valLossWindows) = evaluateCounting(data.val)
            log?.append(step: step, trainLoss: summary.trainLoss ?? .nan, valLoss: summary.valLoss, lr: schedule(step - 1),
                       tokensPerSecond: summary.tokensPerSecond, seconds: trainSeconds, final: true)
            try log?.flush()
        }
        summary.communicationSeconds = communicationSeconds
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
