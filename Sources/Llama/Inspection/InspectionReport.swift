import Foundation

/// `llama inspect`'s terminal report: the "Llama from scratch" walk-through in the order the
/// forward pass runs, with shapes and a few numbers of each step (never whole tensors).
public enum InspectionReport {
    /// Most rows and columns of a matrix printed in full.
    public static let matrixLimit = 12

    /// The report. `model` names the checkpoint in the heading. The first traced layer is
    /// shown in full (RoPE angles, score matrices); later layers one line per step.
    public static func text(_ s: Inspection, model: String) -> String {
        var out = ""
        func line(_ l: String = "") { out += l + "\n" }
        let c = s.config, t = s.tokenCount, p = s.position
        let head = s.options.head ?? 0
        line("llama inspect: \(model)")
        let positions = c.architecture.learnedPositions ? "learned positions" : "RoPE theta \(c.ropeTheta)"
        line("  \(c.architecture.name): dim \(c.dim), \(c.layerCount) layers, \(c.headCount) heads of \(c.headDim) (\(c.kvHeadCount) key/value heads), feed-forward \(c.hiddenDim), vocab \(c.vocabSize), \(normName(c)) eps \(c.normEps), \(positions)")
        line("  Every number is the engine's own: a tap on its forward pass. Values are shown for position \(p) \(quoted(s.pieces[p])).")
        line()
        line("Tokens: T = \(t)")
        for i in Array(0..<t).prefix(limit(t)) {
            line("  \(pad("\(i)", 4)) id \(pad("\(s.tokens[i])", 7)) \(quoted(s.pieces[i]))")
        }
        if t > limit(t) { line("  … \(t - limit(t)) more") }
        line()
        line("Embedding: x = tok_embeddings[tokens]")
        line("  " + describe(s.residual[0], position: p))
        for (index, trace) in s.layers.enumerated() {
            line()
            if index == 0 {
                layerInFull(trace, s, head: head, into: &out)
            } else {
                layerInBrief(trace, s, into: &out)
            }
        }
        if s.layers.count > 1 {
            line("  (layers \(s.layers.dropFirst().map { String($0.layer) }.joined(separator: ", ")) in brief; --layer L shows one layer in full)")
        }
        line()
        line("Final norm: \(normFormula(c, "g"))  (x after layer \(c.layerCount - 1))")
        line("  " + describe(s.finalNorm, position: p))
        line("Logits at the last position: final norm · outputᵀ  [1 × \(c.vocabSize)]")
        line("  " + stats(s.lastLogits[...]))
        line()
        line("Top \(s.topK.count) next tokens after \(quoted(s.pieces[t - 1])) (softmax of the logits):")
        for (i, k) in s.topK.enumerated() {
            line("  \(pad("\(i + 1).", 4)) \(pad(String(format: "%.4f", k.probability), 7))  logit \(pad(num(k.logit), 9))  id \(pad("\(k.id)", 7)) \(quoted(k.piece))")
        }
        line()
        line("Logit lens: the top token when the residual stream after layer l goes through the final norm and the output projection")
        let cols = lensColumns(t, position: p)
        var header = pad("position", 10)
        for i in cols { header += " " + pad("\(i)", 10, right: false) }
        line(header)
        var inputs = pad("input", 10)
        for i in cols { inputs += " " + pad(clip(quoted(s.pieces[i]), 10), 10, right: false) }
        line(inputs)
        for (l, row) in s.logitLens.enumerated() {
            var text = pad("after \(l)", 10)
            for i in cols { text += " " + pad(clip(quoted(row[i].piece), 10), 10, right: false) }
            line(text)
        }
        if cols.count < t { line("  (positions \(cols.first ?? 0)...\(cols.last ?? 0) of \(t); --json has all)") }
        return out
    }

    static func layerInFull(_ trace: LayerTrace, _ s: Inspection, head: Int, into out: inout String) {
        func line(_ l: String = "") { out += l + "\n" }
        let c = s.config, p = s.position, l = trace.layer
        let kvMul = c.headCount / c.kvHeadCount
        line("Layer \(l) of \(c.layerCount)")
        line("  Attention norm: xb = \(normFormula(c, "g_attn"))")
        step(trace, .attentionNorm, p, &out)
        line("  Projections: q = xb · Wqᵀ, k = xb · Wkᵀ, v = xb · Wvᵀ")
        line("    q [\(s.tokenCount) × \(c.dim)] = \(c.headCount) heads × [\(s.tokenCount) × \(c.headDim)]; k, v [\(s.tokenCount) × \(c.kvDim)] = \(c.kvHeadCount) key/value heads × [\(s.tokenCount) × \(c.headDim)]")
        let groups = (0..<c.kvHeadCount).map { g in "kv \(g) ← q " + ((g * kvMul)..<((g + 1) * kvMul)).map(String.init).joined(separator: ",") }
        line("    GQA: \(kvMul) query head\(kvMul == 1 ? "" : "s") per key/value head: " + groups.prefix(8).joined(separator: "; ") + (groups.count > 8 ? "; …" : ""))
        if c.architecture.learnedPositions {
            line("  Positions: learned position embeddings were added to x before the first layer (no RoPE)")
        } else {
        line("  RoPE: pair i of each head (\(c.architecture.ropeLayout == .interleaved ? "elements 2i, 2i+1" : "elements i, i + \(c.headDim / 2)")) at position p turns by the angle p · f_i (radians)")
        let half = s.ropeFrequencies.count
        let pairs = Array(Set([0, 1, 2, half / 2, half - 2, half - 1].filter { $0 >= 0 && $0 < half })).sorted()
        line("    f_i: " + pairs.map { "f_\($0) = \(num(s.ropeFrequencies[$0]))" }.joined(separator: ", "))
        let positions = Array(Set([0, 1, 2, p].filter { $0 < s.tokenCount })).sorted()
        var header = "    " + pad("angle", 9)
        for i in pairs { header += " " + pad("pair \(i)", 10, right: false) }
        line(header)
        for pos in positions {
            var text = "    " + pad("pos \(pos)", 9)
            for i in pairs { text += " " + pad(String(format: "%.4f", Float(pos) * s.ropeFrequencies[i]), 10, right: false) }
            line(text)
        }
        }
        let rope = c.architecture.learnedPositions ? "" : " after RoPE"
        step(trace, .query, p, &out, label: "q" + rope)
        step(trace, .key, p, &out, label: "k" + rope)
        step(trace, .value, p, &out, label: "v")
        if let hi = trace.heads.firstIndex(of: head) {
            let t = s.tokenCount
            let scores = Array(trace.scores[(hi * t * t)..<((hi + 1) * t * t)])
            let probs = Array(trace.probabilities[(hi * t * t)..<((hi + 1) * t * t)])
            let g = head / kvMul
            line("  Scores of head \(head) (key/value head \(g)): S = \(scoreFormula(c))  [\(t) × \(t)], rows = query positions, columns = key positions")
            matrix(scores, t, s.pieces, &out) { _, _, v in num3(v) }
            line("  Causal mask: a position sees only itself and the past" + (trace.window.map { ", at most \($0) positions back" } ?? "") + " (masked → −∞)")
            matrix(scores, t, s.pieces, &out) { i, j, v in trace.isMasked(query: i, key: j) ? "-inf" : num3(v) }
            line("  Softmax of each row: the attention weights (each row sums to 1)")
            matrix(probs, t, s.pieces, &out) { i, j, v in trace.isMasked(query: i, key: j) ? "0" : String(format: "%.3f", v) }
        }
        line("  Attention output: each head's weights · v, heads concatenated")
        step(trace, .attentionOutput, p, &out)
        line("  Output projection: attn · Woᵀ")
        step(trace, .attentionProjection, p, &out)
        line("  Residual: x = x + attn · Woᵀ")
        step(trace, .attentionResidual, p, &out)
        line("  Feed-forward norm: xb = \(normFormula(c, "g_ffn"))")
        step(trace, .ffnNorm, p, &out)
        let act = activationName(c)
        if c.architecture.gatedFeedForward {
            line("  Gated feed-forward: down = (\(act)(xb · W1ᵀ) ⊙ (xb · W3ᵀ)) · W2ᵀ")
            step(trace, .gate, p, &out, label: "gate = xb · W1ᵀ")
            step(trace, .up, p, &out, label: "up = xb · W3ᵀ")
            step(trace, .activation, p, &out, label: "\(act)(gate) ⊙ up")
        } else {
            line("  Feed-forward: down = \(act)(xb · W1ᵀ) · W2ᵀ")
            step(trace, .up, p, &out, label: "up = xb · W1ᵀ")
            step(trace, .activation, p, &out, label: "\(act)(up)")
        }
        step(trace, .down, p, &out, label: "down")
        line("  Residual: x = x + down  (the input of layer \(l + 1 < c.layerCount ? "\(l + 1)" : "the final norm"))")
        step(trace, .residual, p, &out)
    }

    static func layerInBrief(_ trace: LayerTrace, _ s: Inspection, into out: inout String) {
        out += "Layer \(trace.layer) of \(s.config.layerCount)\n"
        for (st, label) in [(ForwardStep.attentionNorm, "attention norm"), (.query, "q after RoPE"), (.key, "k after RoPE"), (.value, "v"),
                            (.attentionOutput, "attention output"), (.attentionProjection, "attn · Woᵀ"), (.attentionResidual, "residual"),
                            (.ffnNorm, "ffn norm"), (.activation, "activation"), (.down, "down"), (.residual, "residual")] {
            if let a = trace.steps[st] { out += "  " + pad(label, 18) + " " + stats(a.values[...], shape: a) + "\n" }
        }
    }

    static func normName(_ c: ModelConfig) -> String {
        switch c.architecture.norm {
        case .rms: return "RMSNorm"
        case .rmsOnePlusWeight: return "RMSNorm (1 + w)"
        case .layerNorm: return "LayerNorm"
        }
    }

    /// The norm as a formula with weight `g`.
    static func normFormula(_ c: ModelConfig, _ g: String) -> String {
        switch c.architecture.norm {
        case .rms: return "x / rms(x) · \(g)"
        case .rmsOnePlusWeight: return "x / rms(x) · (1 + \(g))"
        case .layerNorm: return "(x − mean(x)) / std(x) · \(g) + b"
        }
    }

    static func activationName(_ c: ModelConfig) -> String {
        switch c.architecture.activation {
        case .silu: return "silu"
        case .geluTanh: return "gelu"
        }
    }

    static func scoreFormula(_ c: ModelConfig) -> String {
        let scale = c.architecture.attentionScale.map { "· \(num($0))" } ?? "/ √\(c.headDim)"
        let raw = "q · kᵀ \(scale)"
        return c.architecture.attentionSoftCap.map { "\(num($0)) · tanh(\(raw) / \(num($0)))" } ?? raw
    }

    static func step(_ trace: LayerTrace, _ st: ForwardStep, _ p: Int, _ out: inout String, label: String? = nil) {
        guard let a = trace.steps[st] else { return }
        out += "    " + (label.map { $0 + ": " } ?? "") + describe(a, position: p) + "\n"
    }

    /// Shape and statistics of a block, then the values of row `position` (a few of them).
    public static func describe(_ a: TensorTrace, position: Int) -> String {
        stats(a.values[...], shape: a) + "\n      pos \(position): " + preview(a.row(position))
    }

    static func stats(_ v: ArraySlice<Float>, shape: TensorTrace? = nil) -> String {
        let n = Double(max(1, v.count))
        var sum = 0.0, sq = 0.0, maxAbs: Float = 0
        for x in v { sum += Double(x); sq += Double(x) * Double(x); maxAbs = max(maxAbs, abs(x)) }
        let mean = sum / n
        let std = max(0, sq / n - mean * mean).squareRoot()
        let dims = shape.map { "[\($0.rows) × \($0.width)]  " } ?? ""
        return dims + "mean \(num(Float(mean)))  std \(num(Float(std)))  max|·| \(num(maxAbs))"
    }

    /// The first four and the last two values of a row, and its norm.
    public static func preview(_ row: ArraySlice<Float>) -> String {
        let values = Array(row)
        let shown = values.count <= 6 ? values.map(num) : values.prefix(4).map(num) + ["…"] + values.suffix(2).map(num)
        let norm = values.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        return "[" + shown.joined(separator: ", ") + "]  ‖·‖ \(num(Float(norm)))"
    }

    static func matrix(_ m: [Float], _ t: Int, _ pieces: [String], _ out: inout String, cell: (Int, Int, Float) -> String) {
        let n = limit(t)
        var header = "    " + pad("", 12)
        for j in 0..<n { header += " " + pad(clip(quoted(pieces[j]), 7), 7, right: false) }
        out += header + (n < t ? " …" : "") + "\n"
        for i in 0..<n {
            var text = "    " + pad(clip("\(i) " + quoted(pieces[i]), 12), 12)
            for j in 0..<n { text += " " + pad(cell(i, j, m[i * t + j]), 7, right: false) }
            out += text + "\n"
        }
        if n < t { out += "    … \(t - n) more rows and columns (--plots and --json have them all)\n" }
    }

    static func limit(_ t: Int) -> Int { min(t, matrixLimit) }

    static func lensColumns(_ t: Int, position: Int) -> [Int] {
        let n = min(t, 8)
        let end = max(n, min(t, position + 1))
        return Array((end - n)..<end)
    }

    /// A number in at most about nine characters.
    static func num(_ v: Float) -> String {
        if v == 0 { return "0" }
        if !v.isFinite { return "\(v)" }
        let a = abs(v)
        if a >= 1e-3 && a < 1e4 { return String(format: "%.4f", v) }
        return String(format: "%.2e", v)
    }

    static func num3(_ v: Float) -> String {
        let a = abs(v)
        if a >= 100 { return String(format: "%.0f", v) }
        return String(format: "%.3f", v)
    }

    /// A piece in quotes with newlines, tabs and other control characters escaped.
    public static func quoted(_ piece: String) -> String {
        var s = "\""
        for u in piece.unicodeScalars {
            switch u {
            case "\n": s += "\\n"
            case "\t": s += "\\t"
            case "\r": s += "\\r"
            case "\"": s += "\\\""
            default: s += u.value < 0x20 ? String(format: "\\x%02x", u.value) : String(u)
            }
        }
        return s + "\""
    }

    static func clip(_ s: String, _ width: Int) -> String {
        s.count <= width ? s : String(s.prefix(max(1, width - 1))) + "…"
    }

    static func pad(_ s: String, _ width: Int, right: Bool = true) -> String {
        let fill = String(repeating: " ", count: max(0, width - s.count))
        return right ? s + fill : fill + s
    }
}
