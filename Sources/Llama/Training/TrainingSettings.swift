import Foundation

/// The settings of `llama train` as the user gave them (flags, or keys of a `--config` JSON
/// file named like the flags), each nil when not given.
///
/// A new run fills what is missing with the defaults (the PyTorch reference recipe). A
/// resumed run keeps its shape and its random stream: a setting that contradicts them is
/// refused, and the ones a run may change midway (length, learning-rate schedule, batch,
/// optimizer constants, evaluation and checkpoint cadence) are applied and reported.
public struct TrainingSettings: Sendable, Equatable {
    public var dim: Int?
    public var layers: Int?
    public var heads: Int?
    public var kvHeads: Int?
    public var hidden: Int?
    public var context: Int?
    public var tied: Bool?
    /// Qwen2-style q/k/v biases (architecture qwen2: also rotate-half RoPE).
    public var qkvBias: Bool?
    public var batch: Int?
    public var gradAccum: Int?
    public var steps: Int?
    public var lr: Double?
    public var minLR: Double?
    public var warmup: Int?
    public var weightDecay: Double?
    public var beta1: Double?
    public var beta2: Double?
    public var clip: Double?
    public var evalEvery: Int?
    public var evalSteps: Int?
    public var saveEvery: Int?
    public var seed: UInt64?

    public init() {}

    /// Reads a JSON object whose keys are flag names (`kv_heads` or `kv-heads`); an unknown
    /// key or a value of the wrong type is an error naming the file and the key.
    public init(configFile path: String) throws {
        guard let data = FileManager.default.contents(atPath: path),
              let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw TrainingError.invalidConfig(field: path, reason: "not a readable JSON object")
        }
        for (rawKey, value) in object.sorted(by: { $0.key < $1.key }) {
            let key = rawKey.replacingOccurrences(of: "-", with: "_")
            func fail(_ expected: String) -> TrainingError {
                .invalidConfig(field: "\(path): \"\(rawKey)\"", reason: "expected \(expected), got \(value)")
            }
            // JSON numbers arrive as NSNumber; accept those that fit the field exactly.
            func int() throws -> Int {
                guard !(value is Bool), let n = value as? NSNumber, n.doubleValue == n.doubleValue.rounded(),
                      abs(n.doubleValue) < 1e15 else { throw fail("an integer") }
                return n.intValue
            }
            func double() throws -> Double {
                guard !(value is Bool), let n = value as? NSNumber else { throw fail("a number") }
                return n.doubleValue
            }
            switch key {
            case "dim": dim = try int()
            case "layers": layers = try int()
            case "heads": heads = try int()
            case "kv_heads": kvHeads = try int()
            case "hidden": hidden = try int()
            case "context": context = try int()
            case "tied":
                guard let b = value as? Bool else { throw fail("true or false") }
                tied = b
            case "qkv_bias":
                guard let b = value as? Bool else { throw fail("true or false") }
                qkvBias = b
            case "batch": batch = try int()
            case "grad_accum": gradAccum = try int()
            case "steps": steps = try int()
            case "lr": lr = try double()
            case "min_lr": minLR = try double()
            case "warmup": warmup = try int()
            case "weight_decay": weightDecay = try double()
            case "beta1": beta1 = try double()
            case "beta2": beta2 = try double()
            case "clip": clip = try double()
            case "eval_every": evalEvery = try int()
            case "eval_steps": evalSteps = try int()
            case "save_every": saveEvery = try int()
            case "seed":
                let s = try int()
                guard s >= 0 else { throw fail("a non-negative integer") }
                seed = UInt64(s)
            default:
                throw TrainingError.invalidConfig(field: "\(path): \"\(rawKey)\"", reason: "unknown setting")
            }
        }
    }

    /// These settings with every setting `other` gives replacing this one's (flags over a
    /// config file).
    public func overriding(with other: TrainingSettings) -> TrainingSettings {
        var s = self
        s.dim = other.dim ?? dim
        s.layers = other.layers ?? layers
        s.heads = other.heads ?? heads
        s.kvHeads = other.kvHeads ?? kvHeads
        s.hidden = other.hidden ?? hidden
        s.context = other.context ?? context
        s.tied = other.tied ?? tied
        s.qkvBias = other.qkvBias ?? qkvBias
        s.batch = other.batch ?? batch
        s.gradAccum = other.gradAccum ?? gradAccum
        s.steps = other.steps ?? steps
        s.lr = other.lr ?? lr
        s.minLR = other.minLR ?? minLR
        s.warmup = other.warmup ?? warmup
        s.weightDecay = other.weightDecay ?? weightDecay
        s.beta1 = other.beta1 ?? beta1
        s.beta2 = other.beta2 ?? beta2
        s.clip = other.clip ?? clip
        s.evalEvery = other.evalEvery ?? evalEvery
        s.evalSteps = other.evalSteps ?? evalSteps
        s.saveEvery = other.saveEvery ?? saveEvery
        s.seed = other.seed ?? seed
        return s
    }

    /// The model and hyperparameters of a new run on data of `vocabSize` tokens: the given
    /// settings, defaults for the rest (dim 128, 4 layers, 4 heads, kv heads = heads, hidden
    /// 352, context 64, untied; `TrainingHyperparameters()`).
    public func newRun(vocabSize: Int) -> (model: ModelConfig, hyper: TrainingHyperparameters) {
        let h = heads ?? 4
        let model = ModelConfig.training(vocabSize: vocabSize, dim: dim ?? 128, layerCount: layers ?? 4, headCount: h,
                                         kvHeadCount: kvHeads ?? h, hiddenDim: hidden ?? 352, context: context ?? 64,
                                         tiedEmbeddings: tied ?? false, architecture: qkvBias == true ? .qwen2 : .llama)
        var hp = TrainingHyperparameters()
        _ = apply(to: &hp)
        if let seed { hp.seed = seed }
        return (model, hp)
    }

    /// The hyperparameters a run saved in `checkpoint` (with `header`) continues with, and a
    /// line for each setting changed (`--lr 0.0005 (was 0.001)`). Throws, naming the flag,
    /// the value given and the run's, when a setting contradicts the run: its shape, its
    /// seed (the random stream continues from the checkpoint), or a `steps` it has passed.
    public func resuming(_ header: TrainingCheckpoint.Header, checkpoint: String) throws
        -> (hyper: TrainingHyperparameters, applied: [String]) {
        func keep<T: Equatable>(_ given: T?, _ run: T, _ flag: String) throws {
            if let given, given != run {
                throw TrainingError.contradictsRun(path: checkpoint, flag: flag, given: "\(given)", run: "\(flag) \(run)")
            }
        }
        let m = header.model
        try keep(dim, m.dim, "--dim"); try keep(layers, m.layerCount, "--layers"); try keep(hidden, m.hiddenDim, "--hidden")
        try keep(heads, m.headCount, "--heads"); try keep(kvHeads, m.kvHeadCount, "--kv-heads")
        try keep(context, m.maxContext, "--context"); try keep(tied, m.tiedEmbeddings, "--tied")
        try keep(qkvBias, m.architecture.attentionBias, "--qkv-bias")
        try keep(seed, header.hyper.seed, "--seed")
        if let steps, steps < header.step {
            throw TrainingError.contradictsRun(path: checkpoint, flag: "--steps", given: "\(steps)",
                                               run: "reached step \(header.step)")
        }
        var hp = header.hyper
        let applied = apply(to: &hp)
        return (hp, applied)
    }

    /// Sets the given hyperparameters (seed aside) on `hp`; returns a line per value changed.
    private func apply(to hp: inout TrainingHyperparameters) -> [String] {
        var applied: [String] = []
        func set<T: Equatable>(_ given: T?, _ value: inout T, _ flag: String) {
            guard let given, given != value else { return }
            applied.append("\(flag) \(given) (was \(value))")
            value = given
        }
        // Length and batch; the learning-rate schedule; AdamW and clipping; cadence.
        set(steps, &hp.steps, "--steps"); set(batch, &hp.batch, "--batch"); set(gradAccum, &hp.gradAccum, "--grad-accum")
        set(lr, &hp.lr, "--lr"); set(minLR, &hp.minLR, "--min-lr"); set(warmup, &hp.warmup, "--warmup")
        set(weightDecay, &hp.weightDecay, "--weight-decay"); set(beta1, &hp.beta1, "--beta1"); set(beta2, &hp.beta2, "--beta2")
        set(clip, &hp.clip, "--clip")
        set(evalEvery, &hp.evalEvery, "--eval-every"); set(evalSteps, &hp.evalSteps, "--eval-steps"); set(saveEvery, &hp.saveEvery, "--save-every")
        return applied
    }
}
