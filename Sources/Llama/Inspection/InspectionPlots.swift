import Foundation

/// `llama inspect --plots DIR`: PNG heatmaps of an inspection, axes labelled with the tokens.
public enum InspectionPlots {
    /// One named image.
    public struct Plot: Sendable {
        /// File name (`layer0-head1-softmax.png`).
        public let name: String
        /// What it shows, one sentence (the HTML report's caption).
        public let caption: String
        public let canvas: Canvas
    }

    /// Every plot of the inspection, in walk-through order: the RoPE angles; for each traced
    /// layer and kept head the raw scores, the masked scores and the softmax, then all heads'
    /// softmax side by side; the residual norms; the logit lens.
    /// `include` picks plots by file name before they are drawn.
    public static func plots(_ s: Inspection, include: (String) -> Bool = { _ in true }) -> [Plot] {
        var out: [Plot] = []
        func add(_ name: String, _ caption: String, _ draw: () -> Canvas) {
            if include(name) { out.append(Plot(name: name, caption: caption, canvas: draw())) }
        }
        let t = s.tokenCount, c = s.config
        let labels = s.pieces.enumerated().map { "\($0.offset) " + Heatmap.label($0.element) }

        let half = s.ropeFrequencies.count
        var angles = [Float](repeating: 0, count: t * half)
        for p in 0..<t {
            for i in 0..<half {
                // The angle the engine turns pair i by at position p, brought into (-π, π].
                let a = Double(Float(p) * s.ropeFrequencies[i])
                angles[p * half + i] = Float(remainder(a, 2 * Double.pi))
            }
        }
        add("rope-angles.png", "RoPE: the angle p·f_i (mod 2π, radians) that turns pair i of every query and key head at position p.") {
                        Heatmap(title: "RoPE angle p*f_i mod 2pi", rows: t, columns: half, values: angles,
                                        rowLabels: labels, columnLabels: (0..<half).map(String.init),
                                        rowAxis: "position", columnAxis: "pair i", scale: .diverging,
                                        range: Float(-Double.pi)...Float(Double.pi)).render()
        }

        for trace in s.layers {
            let l = trace.layer
            var grid: [Canvas] = []
            for (hi, h) in trace.heads.enumerated() {
                let block = (hi * t * t)..<((hi + 1) * t * t)
                let scores = Array(trace.scores[block])
                var masked = scores
                var probs = Array(trace.probabilities[block])
                for i in 0..<t { for j in 0..<t where trace.isMasked(query: i, key: j) { masked[i * t + j] = -.infinity; probs[i * t + j] = .nan } }
                let kv = h / (c.headCount / c.kvHeadCount)
                func map(_ title: String, _ values: [Float], _ scale: ColourScale, _ range: ClosedRange<Float>? = nil) -> Canvas {
                    Heatmap(title: title, rows: t, columns: t, values: values, rowLabels: labels, columnLabels: labels,
                            rowAxis: "query", columnAxis: "key", scale: scale, range: range).render()
                }
                let name = "layer\(l)-head\(h)"
                add(name + "-scores.png", "Layer \(l), head \(h) (key/value head \(kv)): the scores q·kᵀ/√\(c.headDim) of every query (row) and key (column), future included.") {
                    map("L\(l) H\(h) scores q.k/sqrt(\(c.headDim))", scores, .diverging)
                }
                add(name + "-masked.png", "Layer \(l), head \(h): the scores after the causal mask (hatched: −∞, a query never sees a later key).") {
                    map("L\(l) H\(h) masked scores", masked, .diverging)
                }
                let wantGrid = trace.heads.count > 1 && include("layer\(l)-heads.png")
                if wantGrid || include(name + "-softmax.png") {
                    let softmax = map("L\(l) H\(h) softmax", probs, .sequential, 0...1)
                    add(name + "-softmax.png", "Layer \(l), head \(h): the softmax of each row, the weights of the values (each row sums to 1).") { softmax }
                    if wantGrid { grid.append(softmax) }
                }
            }
            if trace.heads.count > 1 {
                let perRow = Int(Double(trace.heads.count).squareRoot().rounded(.up))
                add("layer\(l)-heads.png", "Layer \(l): the attention weights (softmax) of all \(trace.heads.count) heads side by side.") {
                    Heatmap.grid(grid, columns: perRow)
                }
            }
        }

        let norms = s.residual.flatMap(\.rowNorms)
        let layerLabels = ["embedding"] + (0..<c.layerCount).map { "after \($0)" }
        add("residual-norms.png", "The norm ‖x‖ of the residual stream at each position, after the embedding and after each layer.") {
            Heatmap(title: "residual stream norm", rows: s.residual.count, columns: t, values: norms,
                    rowLabels: layerLabels, columnLabels: labels, rowAxis: "layer", columnAxis: "position").render()
        }

        // A table of at most 64 positions (the last ones) stays a readable image.
        let shown = max(0, t - 64)..<t
        let lensText = s.logitLens.flatMap { row in shown.map { Heatmap.label(row[$0].piece, limit: 8) } }
        let lensProb = s.logitLens.flatMap { row in shown.map { Float(row[$0].probability) } }
        let lensTitle = shown.count < t ? "logit lens, positions \(shown.lowerBound)-\(t - 1) (colour: probability)" : "logit lens (colour: probability)"
        add("logit-lens.png", "Logit lens: the most likely next token when the residual stream after each layer goes through the final norm and the output projection; colour: its probability.") {
            Heatmap(title: lensTitle, rows: s.logitLens.count, columns: shown.count, values: lensProb,
                                        rowLabels: (0..<c.layerCount).map { "after \($0)" }, columnLabels: Array(labels[shown]),
                                        rowAxis: "layer", columnAxis: "input position", scale: .sequential, range: 0...1,
                                        cellText: lensText, cellSize: 18).render()
        }
        return out
    }

    /// Writes every plot into `directory` (created if needed), each file atomically; returns
    /// the paths written.
    public static func write(_ s: Inspection, to directory: String) throws -> [String] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var paths: [String] = []
        for plot in plots(s) {
            let path = (directory as NSString).appendingPathComponent(plot.name)
            try AtomicFile.write(Data(try plot.canvas.png()), to: path)
            paths.append(path)
        }
        return paths
    }
}
