import Foundation

/// How the next token is chosen from the logits. Defaults are llama.cpp's.
public struct SamplingParameters: Sendable, Equatable {
    /// 0 means greedy (argmax); otherwise logits are divided by it before sampling.
    public var temperature: Float = 0.8
    /// Keep the k most likely tokens (0 = all).
    public var topK: Int = 40
    /// Keep the smallest set of most likely tokens whose probabilities sum to at least p (1 = all).
    public var topP: Float = 0.95
    /// Drop tokens less likely than `minP` × the most likely one's probability (0 = off).
    public var minP: Float = 0.05
    /// Penalty for tokens among the last `repeatLastN` (1 = off), applied as llama.cpp does:
    /// a positive logit is divided by it, a negative one multiplied.
    public var repeatPenalty: Float = 1.0
    public var repeatLastN: Int = 64
    public var seed: UInt64 = 0

    public init(temperature: Float = 0.8, topK: Int = 40, topP: Float = 0.95, minP: Float = 0.05,
                repeatPenalty: Float = 1.0, repeatLastN: Int = 64, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repeatPenalty = repeatPenalty
        self.repeatLastN = repeatLastN
        self.seed = seed
    }

    /// Always the most likely token.
    public static let greedy = SamplingParameters(temperature: 0)
}

/// Picks tokens from logits: repetition penalty, then top-k, top-p and min-p on the
/// softmax of the logits, then temperature and a draw from the seeded generator (the order
/// llama.cpp's default sampler chain uses). Ties go to the lower id, as argmax does.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var rng: Xoshiro256
    /// Candidate buffer reused across calls (`(logit, id)`).
    private var candidates: [(logit: Float, id: Int)] = []

    /// A sampler whose random generator starts from `parameters.seed`.
    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        rng = Xoshiro256(seed: parameters.seed)
    }

    /// The next token given the logits and the tokens so far (prompt and generated).
    public mutating func sample(_ logits: UnsafeBufferPointer<Float>, history: [TokenID]) -> TokenID {
        let p = parameters
        let n = logits.count
        guard n > 0 else { return 0 }

        // Penalized logits only differ at a few ids: keep them aside instead of copying all.
        var penalized: [Int: Float] = [:]
        if p.repeatPenalty != 1, p.repeatLastN != 0 {
            let recent = p.repeatLastN < 0 ? history[...] : history.suffix(p.repeatLastN)
            for id in recent where id >= 0 && id < n && penalized[id] == nil {
                let l = logits[id]
                penalized[id] = l > 0 ? l / p.repeatPenalty : l * p.repeatPenalty
            }
        }
        // A constant for the local function to capture: a captured var would be boxed on the heap.
        let penalties = penalized
        @inline(__always) func logit(_ i: Int) -> Float { penalties.isEmpty ? logits[i] : penalties[i] ?? logits[i] }

        if p.temperature <= 0 {
            var best = 0
            var bestLogit = logit(0)
            for i in 1..<n {
                let l = logit(i)
                if l > bestLogit { best = i; bestLogit = l }
            }
            return best
        }

        // Top-k: a full sort is O(n log n) per token; keeping a sorted window of k is
        // cheaper for the usual small k.
        candidates.removeAll(keepingCapacity: true)
        let k = p.topK > 0 ? min(p.topK, n) : n
        func before(_ a: (logit: Float, id: Int), _ b: (logit: Float, id: Int)) -> Bool {
            a.logit > b.logit || (a.logit == b.logit && a.id < b.id)
        }
        if k < n && k <= 256 {
            for i in 0..<n {
                let c = (logit: logit(i), id: i)
                if candidates.count == k {
                    guard let last = candidates.last, before(c, last) else { continue }
                    candidates.removeLast()
                }
                var pos = candidates.count
                while pos > 0 && before(c, candidates[pos - 1]) { pos -= 1 }
                candidates.insert(c, at: pos)
            }
        } else {
            for i in 0..<n { candidates.append((logit(i), i)) }
            candidates.sort(by: before)
            if k < n { candidates.removeLast(n - k) }
        }

        // Probabilities of the remaining candidates at temperature 1.
        var probs = softmaxProbabilities(candidates.map(\.logit), temperature: 1)

        // Top-p: the shortest prefix reaching p (at least one token).
        if p.topP < 1 {
            var sum: Double = 0
            var keep = candidates.count
            for (i, q) in probs.enumerated() {
                sum += q
                if sum >= Double(p.topP) { keep = i + 1; break }
            }
            keep = max(1, keep)
            candidates.removeLast(candidates.count - keep)
            probs.removeLast(probs.count - keep)
        }
        // Min-p: relative to the most likely candidate (the first).
        if p.minP > 0, let top = probs.first {
            let threshold = Double(p.minP) * top
            var keep = 1
            while keep < probs.count && probs[keep] >= threshold { keep += 1 }
            candidates.removeLast(candidates.count - keep)
        }

        let final = softmaxProbabilities(candidates.map(\.logit), temperature: p.temperature)
        let u = rng.nextUnit()
        var cumulative: Double = 0
        for (i, q) in final.enumerated() {
            cumulative += q
            if u < cumulative { return candidates[i].id }
        }
        return candidates[candidates.count - 1].id
    }

    /// Convenience for arrays.
    public mutating func sample(_ logits: [Float], history: [TokenID]) -> TokenID {
        logits.withUnsafeBufferPointer { sample($0, history: history) }
    }

    /// Softmax of `logits / temperature` in Double (these sums decide which token is drawn).
    func softmaxProbabilities(_ logits: [Float], temperature: Float) -> [Double] {
        guard let m = logits.max() else { return [] }
        let t = Double(temperature)
        var out = logits.map { exp((Double($0) - Double(m)) / t) }
        let sum = out.reduce(0, +)
        for i in out.indices { out[i] /= sum }
        return out
    }
}
