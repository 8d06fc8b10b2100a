import Foundation

/// Why a training log could not be plotted.
public enum LossPlotError: Error, CustomStringConvertible, Equatable {
    /// A row (1-based `line`, the header being line 1) that does not parse.
    case malformed(file: String, line: Int, reason: String)
    /// The log has a header but no losses to draw.
    case empty(file: String)
    /// The requested image size is too small to hold the axes or too large to encode.
    case badSize(width: Int, height: Int)

    public var description: String {
        switch self {
        case let .malformed(file, line, reason): return "\(file):\(line): \(reason)"
        case let .empty(file): return "\(file): no losses to plot"
        case let .badSize(w, h):
            return "plot size \(w)×\(h) is out of range (width \(LossPlot.minWidth)...\(PNG.maxSide), height \(LossPlot.minHeight)...\(PNG.maxSide))"
        }
    }
}

/// One row of RUN/log.csv, as far as plotting cares.
public struct LossLogRow: Sendable, Equatable {
    public var step: Int
    /// Nil when the log holds no finite value (e.g. `nan`).
    public var trainLoss: Double?
    /// Present on evaluation steps and on the final row.
    public var valLoss: Double?
    /// The `final` row: full-split evaluations after the last step, not a per-batch loss.
    public var isFinal: Bool
}

/// Renders RUN/log.csv (written by `Trainer`) as a PNG loss curve: per-step train loss as a
/// line, periodic validation loss as a line with dots, and the final full-split evaluations
/// as hollow squares at the last step, each in its series' colour.
public enum LossPlot {
    public static let minWidth = 240
    public static let minHeight = 160

    static let trainColour = RGB(31, 119, 180)
    static let valColour = RGB(230, 110, 20)
    static let axisColour = RGB(40, 40, 40)
    static let gridColour = RGB(225, 225, 225)

    /// Parses the log. Columns are found by name in the header so that added columns do not
    /// break old plots; `step`, `train_loss` and `val_loss` are required, `kind` optional.
    /// Errors name `file` and the 1-based line.
    public static func parse(_ csv: String, file: String = "log.csv") throws -> [LossLogRow] {
        // Split on any newline: Swift treats "\r\n" as one Character, so splitting on "\n"
        // alone would leave CRLF logs as a single line.
        let lines = csv.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        guard let headerLine = lines.first, !headerLine.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw LossPlotError.malformed(file: file, line: 1, reason: "missing the header line")
        }
        let header = headerLine.split(separator: ",", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        func column(_ name: String) throws -> Int {
            guard let i = header.firstIndex(of: name) else {
                throw LossPlotError.malformed(file: file, line: 1, reason: "header has no `\(name)` column")
            }
            return i
        }
        let stepCol = try column("step"), trainCol = try column("train_loss"), valCol = try column("val_loss")
        let kindCol = header.firstIndex(of: "kind")

        var rows: [LossLogRow] = []
        for (index, rawLine) in lines.enumerated().dropFirst() {
            let lineNo = index + 1
            // Tolerate CRLF and the newline after the last row.
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count == header.count else {
                throw LossPlotError.malformed(file: file, line: lineNo,
                                              reason: "expected \(header.count) fields, found \(fields.count)")
            }
            guard let step = Int(fields[stepCol]), step >= 0 else {
                throw LossPlotError.malformed(file: file, line: lineNo, reason: "step `\(fields[stepCol])` is not a whole number ≥ 0")
            }
            func loss(_ col: Int, _ name: String, optional: Bool) throws -> Double? {
                let text = fields[col]
                if text.isEmpty {
                    if optional { return nil }
                    throw LossPlotError.malformed(file: file, line: lineNo, reason: "\(name) is empty")
                }
                guard let v = Double(text) else {
                    throw LossPlotError.malformed(file: file, line: lineNo, reason: "\(name) `\(text)` is not a number")
                }
                // A diverged step logs nan/inf; it is a real row, just not a drawable point.
                return v.isFinite ? v : nil
            }
            let train = try loss(trainCol, "train_loss", optional: false)
            let val = try loss(valCol, "val_loss", optional: true)
            var isFinal = false
            if let kindCol {
                switch fields[kindCol] {
                case "step": isFinal = false
                case "final": isFinal = true
                default:
                    throw LossPlotError.malformed(file: file, line: lineNo,
                                                  reason: "kind `\(fields[kindCol])` is neither `step` nor `final`")
                }
            }
            rows.append(LossLogRow(step: step, trainLoss: train, valLoss: val, isFinal: isFinal))
        }
        return rows
    }

    /// Renders the log text as PNG bytes of `width` × `height` pixels, with `title` (the run's
    /// name, say) above the chart.
    public static func render(_ csv: String, file: String = "log.csv", title: String? = nil,
                              width: Int = 800, height: Int = 500) throws -> [UInt8] {
        let rows = try parse(csv, file: file)
        return try render(rows: rows, file: file, title: title, width: width, height: height)
    }

    /// The y axis' title: `Trainer` logs the mean cross-entropy per token, natural log.
    public static let lossAxisTitle = "loss (nats/token)"
    /// The x axis' title: optimizer steps.
    public static let stepAxisTitle = "step"

    /// Renders parsed rows as PNG bytes.
    public static func render(rows: [LossLogRow], file: String = "log.csv", title: String? = nil,
                              width: Int = 800, height: Int = 500) throws -> [UInt8] {
        guard (minWidth...PNG.maxSide).contains(width), (minHeight...PNG.maxSide).contains(height) else {
            throw LossPlotError.badSize(width: width, height: height)
        }
        let steps = rows.filter { !$0.isFinal }
        let finals = rows.filter(\.isFinal)
        let train = steps.compactMap { r in r.trainLoss.map { (r.step, $0) } }
        let val = steps.compactMap { r in r.valLoss.map { (r.step, $0) } }
        let finalTrain = finals.compactMap { r in r.trainLoss.map { (r.step, $0) } }
        let finalVal = finals.compactMap { r in r.valLoss.map { (r.step, $0) } }
        let allLosses = train.map(\.1) + val.map(\.1) + finalTrain.map(\.1) + finalVal.map(\.1)
        let allSteps = rows.map(\.step)
        guard let lossMin = allLosses.min(), let lossMax = allLosses.max(), let stepMax = allSteps.max() else {
            throw LossPlotError.empty(file: file)
        }

        let yAxis = NiceAxis(lo: lossMin, hi: lossMax, targetTicks: max(3, height / 50))
        let xAxis = NiceAxis(lo: 0, hi: Double(max(stepMax, 1)), targetTicks: max(3, width / 110), minSpacing: 1)

        // Text scale 2 (10×14 px glyphs) reads comfortably at the default 800×500; small
        // images fall back to 1 so the labels still fit.
        let scale = width >= 480 && height >= 300 ? 2 : 1
        let lineH = Canvas.textHeight(scale: scale), capH = Canvas.capHeight(scale: scale)
        let titleText = title.map { Canvas.fitted($0, width: width - 24, scale: scale) } ?? ""
        let yLabels = yAxis.ticks.map { yAxis.label($0) }
        let yLabelWidth = yLabels.map { Canvas.textWidth($0, scale: scale) }.max() ?? 0
        let left = 12 + yLabelWidth + 8
        let right = 20 + Canvas.textWidth(String(Int(xAxis.hi)), scale: scale) / 2
        let titleRow = titleText.isEmpty ? 0 : lineH + 8
        let top = 10 + titleRow + lineH + 8  // the title, then the y axis' title above the plot
        let bottom = 10 + lineH + 8 + lineH + 6  // tick labels, then the x axis' title
        let plotW = width - left - right, plotH = height - top - bottom
        guard plotW >= 40, plotH >= 40 else { throw LossPlotError.badSize(width: width, height: height) }

        func px(_ step: Double) -> Int { left + Int(((step - xAxis.lo) / (xAxis.hi - xAxis.lo) * Double(plotW - 1)).rounded()) }
        func py(_ loss: Double) -> Int { top + plotH - 1 - Int(((loss - yAxis.lo) / (yAxis.hi - yAxis.lo) * Double(plotH - 1)).rounded()) }

        var c = Canvas(width: width, height: height)

        // Grid and tick labels first so the data is drawn over them.
        for (t, label) in zip(yAxis.ticks, yLabels) {
            let y = py(t)
            c.drawLine(left, y, left + plotW - 1, y, gridColour)
            c.drawLine(left - 5, y, left - 1, y, axisColour)
            c.drawText(label, x: left - 8 - Canvas.textWidth(label, scale: scale), y: y - capH / 2, axisColour, scale: scale)
        }
        for t in xAxis.ticks {
            let x = px(t)
            c.drawLine(x, top, x, top + plotH - 1, gridColour)
            c.drawLine(x, top + plotH, x, top + plotH + 4, axisColour)
            let label = xAxis.label(t)
            c.drawText(label, x: x - Canvas.textWidth(label, scale: scale) / 2, y: top + plotH + 10, axisColour, scale: scale)
        }
        c.drawRect(x: left - 1, y: top - 1, width: plotW + 2, height: plotH + 2, axisColour)
        if !titleText.isEmpty {
            c.drawText(titleText, x: (width - Canvas.textWidth(titleText, scale: scale)) / 2, y: 10, .black, scale: scale)
        }
        let yTitle = Canvas.fitted(lossAxisTitle, width: width - 24, scale: scale)
        c.drawText(yTitle, x: 12, y: 10 + titleRow, axisColour, scale: scale)
        c.drawText(stepAxisTitle, x: left + plotW / 2 - Canvas.textWidth(stepAxisTitle, scale: scale) / 2,
                   y: top + plotH + 10 + lineH + 8, axisColour, scale: scale)

        // Data: train as a 1 px line (it is noisy per batch; thicker lines turn to a smear),
        // validation as a 2 px line with dots on the evaluation steps, the final full-split
        // evaluations as hollow squares in their series' colour.
        polyline(&c, train.map { (px(Double($0.0)), py($0.1)) }, trainColour, thickness: 1)
        let valPixels = val.map { (px(Double($0.0)), py($0.1)) }
        polyline(&c, valPixels, valColour, thickness: 2)
        for (x, y) in valPixels { mark(&c, .dot, x, y, valColour) }
        for (points, colour) in [(finalTrain, trainColour), (finalVal, valColour)] {
            for (step, loss) in points { mark(&c, .hollowSquare, px(Double(step)), py(loss), colour) }
        }

        // Legend in the top-right corner of the plot, over a white box so grid lines do not
        // run through the words. Each entry is drawn with the same strokes as its series.
        var entries: [(String, RGB, LegendSwatch)] = []
        if !train.isEmpty { entries.append(("train", trainColour, .line(thickness: 1, marker: nil))) }
        if !val.isEmpty { entries.append(("val", valColour, .line(thickness: 2, marker: .dot))) }
        if !finalTrain.isEmpty { entries.append(("final train", trainColour, .marker(.hollowSquare))) }
        if !finalVal.isEmpty { entries.append(("final val", valColour, .marker(.hollowSquare))) }
        let swatch = 16 * scale
        let rowH = lineH + 4 * scale
        let boxW = 8 + swatch + 6 + (entries.map { Canvas.textWidth($0.0, scale: scale) }.max() ?? 0) + 8
        let boxH = 6 + entries.count * rowH
        let boxX = left + plotW - boxW - 8, boxY = top + 8
        c.fillRect(x: boxX, y: boxY, width: boxW, height: boxH, .white)
        c.drawRect(x: boxX, y: boxY, width: boxW, height: boxH, RGB(160, 160, 160))
        for (i, (name, colour, swatchKind)) in entries.enumerated() {
            let y = boxY + 6 + i * rowH
            let midY = y + capH / 2, sx = boxX + 8
            switch swatchKind {
            case let .line(thickness, marker):
                c.drawLine(sx, midY, sx + swatch, midY, colour, thickness: thickness)
                if let marker { mark(&c, marker, sx + swatch / 2, midY, colour) }
            case let .marker(marker): mark(&c, marker, sx + swatch / 2, midY, colour)
            }
            c.drawText(name, x: sx + swatch + 6, y: y, axisColour, scale: scale)
        }
        return try c.png()
    }

    private enum Marker { case dot, hollowSquare }
    private enum LegendSwatch { case line(thickness: Int, marker: Marker?), marker(Marker) }

    private static func mark(_ c: inout Canvas, _ m: Marker, _ x: Int, _ y: Int, _ colour: RGB) {
        switch m {
        case .dot: c.fillRect(x: x - 3, y: y - 3, width: 7, height: 7, colour)
        case .hollowSquare:
            c.drawRect(x: x - 5, y: y - 5, width: 11, height: 11, colour)
            c.drawRect(x: x - 4, y: y - 4, width: 9, height: 9, colour)
        }
    }

    private static func polyline(_ c: inout Canvas, _ points: [(Int, Int)], _ colour: RGB, thickness: Int) {
        guard let first = points.first else { return }
        if points.count == 1 { c.fillRect(x: first.0 - 1, y: first.1 - 1, width: 3, height: 3, colour) }
        for (a, b) in zip(points, points.dropFirst()) { c.drawLine(a.0, a.1, b.0, b.1, colour, thickness: thickness) }
    }
}

/// An axis range widened to "nice" tick values (1, 2 or 5 × 10^k apart) that cover the data.
public struct NiceAxis: Sendable {
    /// The axis' ends (tick values) and the distance between ticks.
    public let lo: Double, hi: Double, spacing: Double
    /// Every tick from `lo` to `hi`.
    public let ticks: [Double]
    /// Digits after the decimal point that the tick spacing needs.
    public let decimals: Int

    /// An axis covering `dataLo...dataHi` with about `targetTicks` ticks. `minSpacing` keeps
    /// integer axes (steps) from getting fractional ticks.
    public init(lo dataLo: Double, hi dataHi: Double, targetTicks: Int, minSpacing: Double = 0) {
        var a = dataLo, b = dataHi
        if b - a < 1e-9 {
            // A flat series still needs a visible range; centre it.
            let pad = max(abs(a) * 0.05, 0.05)
            a -= pad; b += pad
        }
        let spacing = max(NiceAxis.niceStep((b - a) / Double(max(1, targetTicks))), minSpacing)
        let lo = (a / spacing).rounded(.down) * spacing
        let hi = (b / spacing).rounded(.up) * spacing
        self.lo = lo; self.hi = hi; self.spacing = spacing
        let n = Int(((hi - lo) / spacing).rounded())
        ticks = (0...n).map { lo + Double($0) * spacing }
        decimals = max(0, -Int(log10(spacing).rounded(.down)))
    }

    static func niceStep(_ raw: Double) -> Double {
        guard raw > 0, raw.isFinite else { return 1 }
        let mag = pow(10, log10(raw).rounded(.down))
        let f = raw / mag
        return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag
    }

    /// `v` printed with the digits the tick spacing needs.
    public func label(_ v: Double) -> String {
        // Snap to the tick grid so 0.30000000000000004 prints as 0.3, and avoid "-0".
        let snapped = (v / spacing).rounded() * spacing
        let s = String(format: "%.\(decimals)f", snapped == 0 ? 0 : snapped)
        return s
    }
}
