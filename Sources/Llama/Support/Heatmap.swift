import Foundation

/// How values become colours.
public enum ColourScale: Sendable, Equatable {
    /// Low to high through viridis (dark purple, blue, green, yellow): probabilities, norms.
    case sequential
    /// Blue below zero, light grey at zero, red above, symmetric around 0: scores, angles.
    case diverging

    /// The colour of `f` in 0...1 (sequential) or -1...1 (diverging).
    func colour(_ f: Double) -> RGB {
        switch self {
        case .sequential:
            return Self.interpolate(Self.viridis, max(0, min(1, f)))
        case .diverging:
            return Self.interpolate(Self.coolwarm, (max(-1, min(1, f)) + 1) / 2)
        }
    }

    static let viridis: [RGB] = [RGB(68, 1, 84), RGB(59, 82, 139), RGB(33, 145, 140), RGB(94, 201, 98), RGB(253, 231, 37)]
    static let coolwarm: [RGB] = [RGB(59, 76, 192), RGB(141, 176, 254), RGB(221, 221, 221), RGB(244, 154, 123), RGB(180, 4, 38)]

    static func interpolate(_ stops: [RGB], _ f: Double) -> RGB {
        let x = f * Double(stops.count - 1)
        let i = min(stops.count - 2, max(0, Int(x)))
        let t = x - Double(i)
        func mix(_ a: UInt8, _ b: UInt8) -> UInt8 { UInt8(max(0, min(255, (Double(a) * (1 - t) + Double(b) * t).rounded()))) }
        let a = stops[i], b = stops[i + 1]
        return RGB(mix(a.r, b.r), mix(a.g, b.g), mix(a.b, b.b))
    }
}

/// A labelled heatmap (or a table of coloured cells with text): a matrix drawn as cells,
/// row labels on the left, column labels upright under the cells, a title, and a colour bar.
/// Non-finite values (a masked score, say) are drawn hatched grey.
public struct Heatmap: Sendable {
    public var title: String
    public var rows: Int
    public var columns: Int
    /// Row-major, `rows × columns`.
    public var values: [Float]
    public var rowLabels: [String]
    public var columnLabels: [String]
    /// What the rows and the columns are ("query position", "key position").
    public var rowAxis: String
    public var columnAxis: String
    public var scale: ColourScale
    /// The value range the colours span (default: the finite values' range; symmetric
    /// around 0 for `.diverging`).
    public var range: ClosedRange<Float>?
    /// Text drawn in each cell (a table), row-major; nil for a plain heatmap.
    public var cellText: [String]?
    /// Cell side in pixels (default: from the matrix size); a table's cells widen to fit
    /// their text.
    public var cellSize: Int?

    public static let maskedColour = RGB(200, 200, 200)
    public static let textColour = RGB(40, 40, 40)

    public init(title: String, rows: Int, columns: Int, values: [Float], rowLabels: [String], columnLabels: [String],
                rowAxis: String = "", columnAxis: String = "", scale: ColourScale = .sequential,
                range: ClosedRange<Float>? = nil, cellText: [String]? = nil, cellSize: Int? = nil) {
        self.title = title
        self.rows = rows
        self.columns = columns
        self.values = values
        self.rowLabels = rowLabels
        self.columnLabels = columnLabels
        self.rowAxis = rowAxis
        self.columnAxis = columnAxis
        self.scale = scale
        self.range = range
        self.cellText = cellText
        self.cellSize = cellSize
    }

    /// A chart label made of printable ASCII (the font's characters): spaces as `_`, a
    /// newline as `\n`, other characters as `?`, at most `limit` characters.
    public static func label(_ text: String, limit: Int = 12) -> String {
        var s = ""
        for u in text.unicodeScalars {
            switch u {
            case " ": s += "_"
            case "\n": s += "\\n"
            case "\t": s += "\\t"
            default: s += (u.value >= 0x21 && u.value <= 0x7E) ? String(u) : "?"
            }
        }
        return s.count <= limit ? s : String(s.prefix(limit - 2)) + ".."
    }

    /// The colours' range: `range`, or the finite values' (symmetric for diverging scales).
    public var colourRange: ClosedRange<Float> {
        if let range { return range }
        let finite = values.filter(\.isFinite)
        guard var lo = finite.min(), var hi = finite.max() else { return 0...1 }
        if scale == .diverging {
            let m = max(abs(lo), abs(hi), 1e-12)
            lo = -m; hi = m
        }
        if hi - lo < 1e-12 { hi = lo + 1 }
        return lo...hi
    }

    func colour(_ v: Float, in r: ClosedRange<Float>) -> RGB {
        switch scale {
        case .sequential: return scale.colour(Double((v - r.lowerBound) / (r.upperBound - r.lowerBound)))
        case .diverging: return scale.colour(Double(v / max(abs(r.lowerBound), abs(r.upperBound))))
        }
    }

    /// Draws the chart.
    public func render() -> Canvas {
        let valueRange = colourRange
        func colour(_ v: Float) -> RGB { self.colour(v, in: valueRange) }
        let lineH = Canvas.textHeight(), capH = Canvas.capHeight()
        let longest = max(rows, columns, 1)
        // Cells of 10 to 36 px; long sequences shrink them (to 1 px) so the image stays
        // within about 2000 pixels, and then only every k-th label is drawn.
        var cellW = cellSize ?? max(min(10, max(1, 2000 / longest)), min(36, 560 / longest))
        let cellH = cellW
        if let cellText {
            cellW = max(cellW, (cellText.map { Canvas.textWidth($0) }.max() ?? 0) + 6)
        }
        // Labels: every row/column when the cells are tall enough for the font, else every k-th.
        let rowStep = max(1, (lineH + 1 + cellH - 1) / cellH)
        let colStep = max(1, (lineH + 1 + cellW - 1) / cellW)
        let rowLabelW = rowLabels.map { Canvas.textWidth($0) }.max() ?? 0
        let colLabelH = columnLabels.map { Canvas.textWidth($0) }.max() ?? 0
        let left = 10 + (rowAxis.isEmpty ? 0 : lineH + 6) + rowLabelW + 6
        let titleScale = 2
        let top = 10 + Canvas.textHeight(scale: titleScale) + 10
        let plotW = cellW * columns, plotH = cellH * rows
        let barW = 14, barGap = 16
        let barLabels = [valueRange.upperBound, (valueRange.lowerBound + valueRange.upperBound) / 2, valueRange.lowerBound].map(Self.format)
        let barLabelW = barLabels.map { Canvas.textWidth($0) }.max() ?? 0
        let right = cellText == nil ? barGap + barW + 6 + barLabelW + 10 : 10
        let bottom = 6 + colLabelH + 8 + (columnAxis.isEmpty ? 0 : lineH + 6) + 4
        let titleW = Canvas.textWidth(title, scale: titleScale) + 20
        let width = max(left + plotW + right, titleW, 120)
        let height = max(top + plotH + bottom, top + 60)
        var c = Canvas(width: width, height: height)

        c.drawText(Canvas.fitted(title, width: width - 20, scale: titleScale), x: 10, y: 10, .black, scale: titleScale)
        for i in 0..<rows {
            for j in 0..<columns {
                let v = values[i * columns + j]
                let x = left + j * cellW, y = top + i * cellH
                if v.isFinite {
                    c.fillRect(x: x, y: y, width: cellW, height: cellH, colour(v))
                } else {
                    c.fillRect(x: x, y: y, width: cellW, height: cellH, Self.maskedColour)
                    for d in stride(from: 0, to: cellW + cellH, by: 4) {
                        c.drawLine(x + max(0, d - cellH + 1), y + min(cellH - 1, d), x + min(cellW - 1, d), y + max(0, d - cellW + 1), RGB(170, 170, 170))
                    }
                }
                if let cellText {
                    let text = cellText[i * columns + j]
                    let bg = v.isFinite ? colour(v) : Self.maskedColour
                    let luminance = 0.299 * Double(bg.r) + 0.587 * Double(bg.g) + 0.114 * Double(bg.b)
                    c.drawText(text, x: x + (cellW - Canvas.textWidth(text)) / 2, y: y + (cellH - capH) / 2,
                               luminance < 128 ? .white : .black)
                }
            }
        }
        if cellText != nil {
            for i in 0...rows { c.drawLine(left, top + i * cellH, left + plotW, top + i * cellH, .white) }
            for j in 0...columns { c.drawLine(left + j * cellW, top, left + j * cellW, top + plotH, .white) }
        }
        c.drawRect(x: left - 1, y: top - 1, width: plotW + 2, height: plotH + 2, Self.textColour)
        for i in stride(from: 0, to: min(rows, rowLabels.count), by: rowStep) {
            let label = rowLabels[i]
            c.drawText(label, x: left - 6 - Canvas.textWidth(label), y: top + i * cellH + (cellH - capH) / 2, Self.textColour)
        }
        for j in stride(from: 0, to: min(columns, columnLabels.count), by: colStep) {
            let label = columnLabels[j]
            // Upright text reading upwards, ending just below the cells.
            c.drawTextUp(label, x: left + j * cellW + (cellW - capH) / 2, y: top + plotH + 6 + Canvas.textWidth(label), Self.textColour)
        }
        if !rowAxis.isEmpty {
            c.drawTextUp(rowAxis, x: 10, y: top + plotH / 2 + Canvas.textWidth(rowAxis) / 2, Self.textColour)
        }
        if !columnAxis.isEmpty {
            c.drawText(columnAxis, x: left + plotW / 2 - Canvas.textWidth(columnAxis) / 2, y: top + plotH + 6 + colLabelH + 8, Self.textColour)
        }
        if cellText == nil {
            // Colour bar: top = high.
            let bx = left + plotW + barGap, barH = max(40, plotH)
            for y in 0..<barH {
                let f = 1 - Double(y) / Double(max(1, barH - 1))
                let r = valueRange
                let v = r.lowerBound + Float(f) * (r.upperBound - r.lowerBound)
                c.drawLine(bx, top + y, bx + barW - 1, top + y, colour(v))
            }
            c.drawRect(x: bx - 1, y: top - 1, width: barW + 2, height: barH + 2, Self.textColour)
            for (k, label) in barLabels.enumerated() {
                let y = top + k * (barH - 1) / 2
                c.drawText(label, x: bx + barW + 6, y: y - capH / 2, Self.textColour)
            }
        }
        return c
    }

    static func format(_ v: Float) -> String {
        let a = abs(v)
        if a == 0 { return "0" }
        if a >= 0.01 && a < 1000 { return String(format: "%.2f", v) }
        return String(format: "%.1e", v)
    }

    /// Charts side by side, `columns` per row, on one canvas.
    public static func grid(_ charts: [Canvas], columns: Int, gap: Int = 8) -> Canvas {
        guard !charts.isEmpty else { return Canvas(width: 1, height: 1) }
        let perRow = max(1, columns)
        let cw = charts.map(\.width).max() ?? 1, ch = charts.map(\.height).max() ?? 1
        let rowCount = (charts.count + perRow - 1) / perRow
        var c = Canvas(width: perRow * (cw + gap) + gap, height: rowCount * (ch + gap) + gap)
        for (k, chart) in charts.enumerated() {
            c.draw(chart, x: gap + (k % perRow) * (cw + gap), y: gap + (k / perRow) * (ch + gap))
        }
        return c
    }
}
