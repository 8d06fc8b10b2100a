import Foundation

/// `llama inspect --html FILE`: one self-contained page (images embedded as base64 PNG data
/// URLs, no script or style from elsewhere) that tells the walk-through step by step.
public enum InspectionHTML {
    /// The page. Plots shown: the RoPE angles, the three score maps of the report's head in
    /// the first traced layer, every traced layer's grid of heads, the residual norms and
    /// the logit lens.
    public static func page(_ s: Inspection, model: String) throws -> String {
        let c = s.config, t = s.tokenCount, p = s.position
        let head = s.options.head ?? 0
        let first = s.layers.first?.layer
        let wanted: Set<String> = Set(["rope-angles.png", "residual-norms.png", "logit-lens.png"]
            + (first.map { l in ["scores", "masked", "softmax"].map { "layer\(l)-head\(head)-\($0).png" } } ?? [])
            + s.layers.map { "layer\($0.layer)-heads.png" })
        var images: [String: (caption: String, src: String)] = [:]
        for plot in InspectionPlots.plots(s, include: { wanted.contains($0) }) {
            images[plot.name] = (plot.caption, "data:image/png;base64," + Data(try plot.canvas.png()).base64EncodedString())
        }
        var h = ""
        func add(_ html: String) { h += html + "\n" }
        func figure(_ name: String) {
            guard let image = images[name] else { return }
            add("<figure><img src=\"\(image.src)\" alt=\"\(esc(name))\"><figcaption>\(esc(image.caption))</figcaption></figure>")
        }
        func stepBlock(_ title: String, _ formula: String, _ a: TensorTrace?) {
            guard let a else { return }
            add("<h3>\(esc(title))</h3><p class=\"formula\">\(esc(formula))</p>")
            add("<p><span class=\"shape\">[\(a.rows) × \(a.width)]</span> \(esc(InspectionReport.stats(a.values[...])))</p>")
            add("<pre>position \(p) \(esc(InspectionReport.quoted(s.pieces[p]))): \(esc(InspectionReport.preview(a.row(p))))</pre>")
        }

        add("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>llama inspect: \(esc(model))</title>")
        add("<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45;color:#222}"
            + "h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}pre{background:#f6f6f6;padding:.5em;overflow-x:auto}"
            + "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:2px 8px;text-align:right;font-family:monospace}"
            + ".formula{font-family:monospace;color:#444}.shape{font-family:monospace;font-weight:bold}"
            + "figure{margin:1em 0}img{max-width:100%;image-rendering:pixelated;border:1px solid #eee}figcaption{color:#555;font-size:.9em}</style></head><body>")
        add("<h1>llama inspect</h1>")
        add("<p>Model <code>\(esc(model))</code>: \(esc(c.architecture.name)), dim \(c.dim), \(c.layerCount) layers, \(c.headCount) attention heads of \(c.headDim) (\(c.kvHeadCount) key/value heads), feed-forward \(c.hiddenDim), vocabulary \(c.vocabSize), \(InspectionReport.normName(c)) eps \(c.normEps), \(c.architecture.learnedPositions ? "learned positions" : "RoPE θ \(c.ropeTheta)").</p>")
        add("<p>Every number on this page is the engine's own: <code>llama inspect</code> runs the engine's forward pass with a tap at each step (its last logits are bit for bit those of <code>llama generate --logits-out</code>). Values are shown for position \(p), \(esc(InspectionReport.quoted(s.pieces[p]))).</p>")

        add("<h2>1. Tokens</h2><p>The prompt is \(t) token\(t == 1 ? "" : "s"), each an id in the vocabulary:</p>")
        add("<table><tr><th>position</th><th>id</th><th>piece</th></tr>")
        for i in 0..<t { add("<tr><td>\(i)</td><td>\(s.tokens[i])</td><td>\(esc(InspectionReport.quoted(s.pieces[i])))</td></tr>") }
        add("</table>")

        add("<h2>2. Embedding</h2><p>Each id selects a row of the embedding matrix [\(c.vocabSize) × \(c.dim)]: the residual stream x starts as these rows.</p>")
        stepBlock("x = tok_embeddings[tokens]", "x: [T × D]", s.residual[0])

        for (index, trace) in s.layers.enumerated() {
            let l = trace.layer
            add("<h2>\(index + 3). Layer \(l) of \(c.layerCount)</h2>")
            if index > 0 {
                add("<p>The same steps as layer \(first ?? 0), with this layer's weights:</p><table><tr><th>step</th><th>shape</th><th>statistics</th></tr>")
                for (st, label) in [(ForwardStep.attentionNorm, "attention norm"), (.query, "q after RoPE"), (.key, "k after RoPE"), (.value, "v"),
                                    (.attentionOutput, "attention output"), (.attentionProjection, "attn · Woᵀ"), (.attentionResidual, "residual"),
                                    (.ffnNorm, "ffn norm"), (.activation, "silu(gate) ⊙ up"), (.down, "down"), (.residual, "residual")] {
                    if let a = trace.steps[st] { add("<tr><td style=\"text-align:left\">\(esc(label))</td><td>[\(a.rows) × \(a.width)]</td><td>\(esc(InspectionReport.stats(a.values[...])))</td></tr>") }
                }
                add("</table>")
                figure("layer\(l)-heads.png")
                continue
            }
            let kvMul = c.headCount / c.kvHeadCount
            stepBlock("Attention norm", "xb = " + InspectionReport.normFormula(c, "g_attn"), trace.steps[.attentionNorm])
            add("<h3>Queries, keys and values</h3><p class=\"formula\">q = xb · Wqᵀ, k = xb · Wkᵀ, v = xb · Wvᵀ</p>")
            add("<p>q is [\(t) × \(c.dim)]: \(c.headCount) heads of [\(t) × \(c.headDim)]. k and v are [\(t) × \(c.kvDim)]: \(c.kvHeadCount) key/value heads. Grouped-query attention: \(kvMul) query head\(kvMul == 1 ? "" : "s") share each key/value head.</p>")
            add("<table><tr><th>key/value head</th><th>query heads</th></tr>")
            for g in 0..<min(c.kvHeadCount, 16) {
                add("<tr><td>\(g)</td><td>\(((g * kvMul)..<((g + 1) * kvMul)).map(String.init).joined(separator: ", "))</td></tr>")
            }
            add("</table>")
            if !c.architecture.learnedPositions {
            add("<h3>RoPE</h3><p>Within each head, elements (2i, 2i+1) form pair i, turned by the angle p · f_i at position p: a complex multiplication by e<sup>i·p·f_i</sup>. Relative positions then show up in q·k.</p>")
            add("<table><tr><th>pair i</th>" + [0, 1, 2, s.ropeFrequencies.count - 1].map { "<th>\($0)</th>" }.joined() + "</tr>")
            add("<tr><td>f_i</td>" + [0, 1, 2, s.ropeFrequencies.count - 1].map { "<td>\(InspectionReport.num(s.ropeFrequencies[max(0, min($0, s.ropeFrequencies.count - 1))]))</td>" }.joined() + "</tr></table>")
            figure("rope-angles.png")
            }
            stepBlock("q after RoPE", "q[:, h·\(c.headDim) ..< (h+1)·\(c.headDim)] is head h", trace.steps[.query])
            stepBlock("k after RoPE", "k: [T × \(c.kvDim)]", trace.steps[.key])
            stepBlock("v", "v: [T × \(c.kvDim)]", trace.steps[.value])
            add("<h3>Attention scores of head \(head)</h3><p class=\"formula\">S = \(esc(InspectionReport.scoreFormula(c)))   (key/value head \(head / kvMul))</p>")
            add("<p>Rows are query positions, columns key positions. The causal mask sets every score of a later key to −∞, so after the softmax each position attends only to itself and the past.</p>")
            figure("layer\(l)-head\(head)-scores.png")
            figure("layer\(l)-head\(head)-masked.png")
            figure("layer\(l)-head\(head)-softmax.png")
            figure("layer\(l)-heads.png")
            stepBlock("Attention output", "out_h = softmax(S_h) · v_g, heads concatenated", trace.steps[.attentionOutput])
            stepBlock("Output projection", "attn · Woᵀ", trace.steps[.attentionProjection])
            stepBlock("Residual", "x = x + attn · Woᵀ", trace.steps[.attentionResidual])
            stepBlock("Feed-forward norm", "xb = " + InspectionReport.normFormula(c, "g_ffn"), trace.steps[.ffnNorm])
            let act = InspectionReport.activationName(c)
            if c.architecture.gatedFeedForward {
                stepBlock("Gate", "gate = xb · W1ᵀ", trace.steps[.gate])
                stepBlock("Up", "up = xb · W3ᵀ", trace.steps[.up])
                stepBlock("Gated activation", "a = \(act)(gate) ⊙ up", trace.steps[.activation])
            } else {
                stepBlock("Up", "up = xb · W1ᵀ", trace.steps[.up])
                stepBlock("Activation", "a = \(act)(up)", trace.steps[.activation])
            }
            stepBlock("Down", "down = a · W2ᵀ", trace.steps[.down])
            stepBlock("Residual", "x = x + down: the input of the next layer", trace.steps[.residual])
        }

        let n = s.layers.count + 3
        add("<h2>\(n). Final norm and logits</h2>")
        stepBlock("Final norm", InspectionReport.normFormula(c, "g") + ", after the last layer", s.finalNorm)
        add("<p>The logits at the last position are the final norm times the output matrix: [1 × \(c.vocabSize)], \(esc(InspectionReport.stats(s.lastLogits[...]))). Their softmax gives the next token:</p>")
        add("<table><tr><th>rank</th><th>probability</th><th>logit</th><th>id</th><th>piece</th></tr>")
        for (i, k) in s.topK.enumerated() {
            add("<tr><td>\(i + 1)</td><td>\(String(format: "%.4f", k.probability))</td><td>\(InspectionReport.num(k.logit))</td><td>\(k.id)</td><td>\(esc(InspectionReport.quoted(k.piece)))</td></tr>")
        }
        add("</table>")

        add("<h2>\(n + 1). Logit lens</h2><p>The residual stream after each layer, put through the final norm and the output projection as if it were the last layer: what the model would predict at each position so far.</p>")
        add("<table><tr><th>layer</th>" + (0..<t).map { "<th>\($0) \(esc(InspectionReport.quoted(s.pieces[$0])))</th>" }.joined() + "</tr>")
        for (l, row) in s.logitLens.enumerated() {
            add("<tr><td>after \(l)</td>" + row.map { "<td title=\"p = \(String(format: "%.3f", $0.probability))\">\(esc(InspectionReport.quoted($0.piece)))</td>" }.joined() + "</tr>")
        }
        add("</table>")
        figure("logit-lens.png")
        add("<h2>\(n + 2). The residual stream</h2>")
        figure("residual-norms.png")
        // A self-check a headless browser can read from the DOM: every embedded image decoded.
        add("<p id=\"images\" data-images=\"pending\"></p>")
        add("<script>window.addEventListener('load',function(){var i=Array.prototype.slice.call(document.images);var bad=i.filter(function(x){return !x.complete||x.naturalWidth===0;});var e=document.getElementById('images');e.dataset.images=bad.length?('broken '+bad.length):('ok '+i.length);e.textContent=i.length+' images';});</script>")
        add("</body></html>")
        return h
    }

    static func esc(_ s: String) -> String {
        var out = ""
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(ch)
            }
        }
        return out
    }
}
