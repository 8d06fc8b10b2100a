import CZlib
import Foundation
import Testing
import Llama

/// A PNG taken apart independently of the encoder: chunks with CRCs checked by a bitwise
/// CRC-32 (not zlib's table), IHDR read field by field, and the IDAT stream inflated by
/// zlib's own `uncompress`, which also checks the zlib header and the Adler-32.
///
/// A real decoder agrees: scripts/check_png.py (Pillow 13.0.0: `Image.verify()`, a full
/// decode, the series colours present) passed on `llama plot` output of this suite's
/// synthetic log at 800×500 (8413 bytes) and 300×200 (2124 bytes).
struct DecodedPNG {
    var width = 0, height = 0
    var bitDepth = 0, colourType = 0
    var chunkTypes: [String] = []
    var idatBytes = 0
    var rgb: [UInt8] = []

    struct Failure: Error, CustomStringConvertible { let description: String }

    init(_ b: [UInt8]) throws {
        func be32(_ i: Int) throws -> UInt32 {
            guard i + 4 <= b.count else { throw Failure(description: "truncated at \(i)") }
            return b[i..<(i + 4)].reduce(0) { $0 << 8 | UInt32($1) }
        }
        guard Array(b.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else {
            throw Failure(description: "bad signature")
        }
        var i = 8
        var idat: [UInt8] = []
        while i < b.count {
            let len = Int(try be32(i))
            guard i + 12 + len <= b.count else { throw Failure(description: "chunk overruns the file") }
            let typeAndData = Array(b[(i + 4)..<(i + 8 + len)])
            let type = String(decoding: typeAndData.prefix(4), as: UTF8.self)
            guard try be32(i + 8 + len) == DecodedPNG.crc32(typeAndData) else { throw Failure(description: "\(type): CRC mismatch") }
            chunkTypes.append(type)
            let data = Array(typeAndData.dropFirst(4))
            switch type {
            case "IHDR":
                guard data.count == 13 else { throw Failure(description: "IHDR length \(data.count)") }
                width = Int(data[0..<4].reduce(0) { $0 << 8 | UInt32($1) })
                height = Int(data[4..<8].reduce(0) { $0 << 8 | UInt32($1) })
                bitDepth = Int(data[8]); colourType = Int(data[9])
                guard data[10] == 0, data[11] == 0, data[12] == 0 else { throw Failure(description: "IHDR methods") }
            case "IDAT": idat += data
            default: break
            }
            i += 12 + len
        }
        idatBytes = idat.count
        let row = width * 3
        var raw = [UInt8](repeating: 0, count: height * (row + 1))
        var rawCount = uLongf(raw.count)
        // One byte more than the image needs: uncompress then fails with Z_BUF_ERROR if the
        // stream holds more data than the header's size implies.
        raw.append(0)
        rawCount += 1
        let code = raw.withUnsafeMutableBufferPointer { dst in
            idat.withUnsafeBufferPointer { uncompress(dst.baseAddress, &rawCount, $0.baseAddress, uLong($0.count)) }
        }
        guard code == Z_OK else { throw Failure(description: "zlib uncompress returned \(code)") }
        guard Int(rawCount) == height * (row + 1) else { throw Failure(description: "image data is \(rawCount) bytes") }
        for y in 0..<height {
            guard raw[y * (row + 1)] == 0 else { throw Failure(description: "row \(y) filter \(raw[y * (row + 1)])") }
            rgb += raw[(y * (row + 1) + 1)..<((y + 1) * (row + 1))]
        }
    }

    func pixel(_ x: Int, _ y: Int) -> RGB {
        let i = (y * width + x) * 3
        return RGB(rgb[i], rgb[i + 1], rgb[i + 2])
    }

    /// Bitwise CRC-32, deliberately not the encoder's table, so the two check each other.
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        }
        return ~c
    }
}

@Suite struct LossPlotTests {
    static func syntheticLog(steps: Int = 300, evalEvery: Int = 50) -> String {
        var s = "step,train_loss,val_loss,lr,tokens_per_s,train_s,kind\n"
        for step in 1...steps {
            let train = 2.0 + 3.5 * exp(-Double(step) / 60) + 0.05 * sin(Double(step))
            let val = step % evalEvery == 0 ? String(format: "%.6f", 2.1 + 3.4 * exp(-Double(step) / 60)) : ""
            s += "\(step),\(String(format: "%.6f", train)),\(val),1.000000e-03,30000.0,\(Double(step) * 0.01),step\n"
        }
        s += "\(steps),2.050000,2.150000,1.000000e-04,30000.0,3.000,final\n"
        return s
    }

    @Test func chunkCRCsAreTheStandardOnes() throws {
        // The CRC of an empty IEND chunk is a constant every PNG ends with; and the bitwise
        // CRC that checks the encoder gives the published check value of CRC-32.
        let png = try PNG.encode(width: 1, height: 1, rgb: [0, 0, 0])
        #expect(Array(png.suffix(12)) == [0, 0, 0, 0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82])
        #expect(DecodedPNG.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
    }

    @Test func encodedPNGDecodesStructurally() throws {
        var c = Canvas(width: 300, height: 250)  // 300×250×3 + rows > 65535: several stored blocks
        c.fillRect(x: 10, y: 20, width: 5, height: 5, RGB(255, 0, 0))
        c.drawLine(0, 249, 299, 0, RGB(0, 0, 255))
        let png = try c.png()
        let d = try DecodedPNG(png)
        #expect(d.width == 300 && d.height == 250 && d.bitDepth == 8 && d.colourType == 2)
        #expect(d.chunkTypes == ["IHDR", "IDAT", "IEND"])
        #expect(d.rgb == c.pixels)
        #expect(d.pixel(12, 22) == RGB(255, 0, 0))
        #expect(d.pixel(0, 249) == RGB(0, 0, 255) && d.pixel(299, 0) == RGB(0, 0, 255))
        #expect(d.pixel(150, 5) == .white)
        // Deflated, not stored: the 225 KB of scanlines of this mostly white image shrink
        // to a few KB (stored blocks would make the IDAT larger than the scanlines).
        #expect(d.idatBytes < 10_000, "IDAT is \(d.idatBytes) bytes")
    }

    @Test func tinyAndEmptyInputs() throws {
        let one = try DecodedPNG(try PNG.encode(width: 1, height: 1, rgb: [1, 2, 3]))
        #expect(one.rgb == [1, 2, 3])
        #expect(throws: PNGError.self) { try PNG.encode(width: 2, height: 2, rgb: [0, 0, 0]) }
        #expect(throws: PNGError.self) { try PNG.encode(width: 0, height: 5, rgb: []) }
    }

    @Test func textUsesTheFontAndMarksMissingGlyphs() {
        var c = Canvas(width: 40, height: 10)
        c.drawText("1", x: 0, y: 0, .black)
        #expect(c.pixel(2, 0) == .black && c.pixel(0, 0) == .white)  // the "1" stem, not its left
        c.drawText("é", x: 10, y: 0, .black)  // not in the font (ASCII only): a hollow box
        #expect(c.pixel(10, 0) == .black && c.pixel(12, 3) == .white)
        #expect(Canvas.textWidth("step", scale: 2) == 46)
    }

    @Test func descendersAreDrawnBelowTheBaseline() {
        // A 5×7 cell has no room below the baseline; "p" and "g" need two more rows, and the
        // line height says so, so layouts leave room and nothing is cut.
        #expect(Canvas.textHeight(scale: 1) == 9 && Canvas.capHeight(scale: 1) == 7)
        var c = Canvas(width: 20, height: 12)
        c.drawText("pg", x: 0, y: 0, .black)
        #expect(c.pixel(0, 8) == .black)  // the stem of "p"
        #expect(c.pixel(7, 8) == .black)  // the tail of "g"
        // Every printable ASCII character has a glyph of its own, not the missing-glyph box.
        let box = Canvas.rendered("\u{e9}")
        for code in 32...126 {
            let ch = String(UnicodeScalar(UInt8(code)))
            #expect(Canvas.rendered(ch) != box, "\(ch) has no glyph")
        }
    }

    @Test func titleAndAxisTitlesAreDrawnAndLongTitlesFit() throws {
        let csv = Self.syntheticLog()
        let plain = try DecodedPNG(try LossPlot.render(csv, width: 800, height: 500))
        let titled = try DecodedPNG(try LossPlot.render(csv, title: "shakespeare", width: 800, height: 500))
        // The title is the only pure black text, centred in the top band.
        func blackIn(_ d: DecodedPNG, x: Range<Int>, y: Range<Int>) -> Int {
            y.reduce(0) { n, yy in n + x.filter { d.pixel($0, yy) == .black }.count }
        }
        #expect(blackIn(titled, x: 300..<500, y: 10..<28) > 50)
        #expect(blackIn(plain, x: 0..<800, y: 0..<500) == 0)
        // A title far wider than the image is shortened in the middle, never cut at an edge.
        let long = try DecodedPNG(try LossPlot.render(csv, title: String(repeating: "run-name_", count: 30), width: 300, height: 200))
        #expect(blackIn(long, x: 0..<10, y: 0..<30) == 0 && blackIn(long, x: 290..<300, y: 0..<30) == 0)
        #expect(blackIn(long, x: 10..<290, y: 0..<30) > 100)
        #expect(LossPlot.lossAxisTitle == "loss (nats/token)" && LossPlot.stepAxisTitle == "step")
    }

    @Test func syntheticLogRenders() throws {
        let csv = Self.syntheticLog()
        let rows = try LossPlot.parse(csv)
        #expect(rows.count == 301)
        #expect(rows.filter { $0.valLoss != nil }.count == 7)
        #expect(rows.last?.isFinal == true)
        let d = try DecodedPNG(try LossPlot.render(csv, width: 640, height: 400))
        #expect(d.width == 640 && d.height == 400)
        let colours = Set(stride(from: 0, to: d.rgb.count, by: 3).map { RGB(d.rgb[$0], d.rgb[$0 + 1], d.rgb[$0 + 2]) }.map { "\($0.r),\($0.g),\($0.b)" })
        #expect(colours.contains("31,119,180"))  // train
        #expect(colours.contains("230,110,20"))  // val
    }

    @Test func awkwardButValidLogsRender() throws {
        let header = "step,train_loss,val_loss,lr,tokens_per_s,train_s,kind\n"
        // One step; a flat series; a nan step; CRLF; no kind column.
        _ = try LossPlot.render(header + "1,3.0,,1e-3,1,1,step\n")
        _ = try LossPlot.render(header + "1,3.0,,1e-3,1,1,step\n2,3.0,3.0,1e-3,1,1,step\n")
        _ = try LossPlot.render(header + "1,nan,,1e-3,1,1,step\r\n2,2.5,,1e-3,1,1,step\r\n")
        _ = try LossPlot.render("step,train_loss,val_loss\n0,5.5,5.6\n10,4,\n", width: 240, height: 160)
    }

    @Test func malformedLogsNameFileAndLine() {
        let header = "step,train_loss,val_loss,lr,tokens_per_s,train_s,kind\n"
        let cases: [(String, Int)] = [
            (header + "1,3.0,,1e-3,1,1,step\n2,abc,,1e-3,1,1,step\n", 3),
            (header + "1,3.0,,1e-3,1,1,step\n2,3.0,,1e-3,1,step\n", 3),
            (header + "x,3.0,,1e-3,1,1,step\n", 2),
            (header + "1,3.0,,1e-3,1,1,step\n\n4,3.0,,1e-3,1,1,bogus\n", 4),
            (header + "1,,,1e-3,1,1,step\n", 2),
            ("step,loss\n1,2\n", 1),
            ("", 1),
        ]
        for (csv, line) in cases {
            #expect(throws: LossPlotError.self) { try LossPlot.parse(csv, file: "run/log.csv") }
            do {
                _ = try LossPlot.parse(csv, file: "run/log.csv")
            } catch let LossPlotError.malformed(file, l, _) {
                #expect(file == "run/log.csv" && l == line, "\(csv)")
            } catch {
                Issue.record("unexpected \(error)")
            }
        }
        #expect(throws: LossPlotError.empty(file: "log.csv")) { try LossPlot.render(header) }
        #expect(throws: LossPlotError.self) { try LossPlot.render(Self.syntheticLog(), width: 10, height: 10) }
        let message = "\(LossPlotError.malformed(file: "run/log.csv", line: 3, reason: "x"))"
        #expect(message.hasPrefix("run/log.csv:3:"))
    }

    @Test func niceTicks() {
        let a = NiceAxis(lo: 2.37, hi: 5.61, targetTicks: 8)
        #expect(a.lo <= 2.37 && a.hi >= 5.61 && a.spacing == 0.5)
        #expect(a.ticks.map { a.label($0) } == ["2.0", "2.5", "3.0", "3.5", "4.0", "4.5", "5.0", "5.5", "6.0"])
        let x = NiceAxis(lo: 0, hi: 3, targetTicks: 7, minSpacing: 1)
        #expect(x.spacing == 1 && x.ticks.map { x.label($0) } == ["0", "1", "2", "3"])
    }

    @Test func plotsThroughATempFile() throws {
        try withTempFile(Array(Self.syntheticLog().utf8), name: "log.csv") { path in
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let png = try LossPlot.render(text, file: path)
            let out = path + ".png"
            try AtomicFile.write(Data(png), to: out)
            defer { try? FileManager.default.removeItem(atPath: out) }
            #expect(try DecodedPNG(Array(FileManager.default.contents(atPath: out) ?? Data())).width == 800)
        }
    }

    @Test func plotCommandWritesACompressedTitledPNG() throws {
        let dir = NSTemporaryDirectory() + "plot-run-\(getpid())/shakespeare"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: (dir as NSString).deletingLastPathComponent) }
        try Data(Self.syntheticLog().utf8).write(to: URL(fileURLWithPath: dir + "/log.csv"))
        let r = try GenerateCommandTests().run(["plot", dir + "/"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == dir + "/loss.png\n")
        let bytes = try #require(FileManager.default.contents(atPath: dir + "/loss.png"))
        // 1.2 MB when it was stored uncompressed; about 8 KB deflated.
        #expect(bytes.count < 40_000, "loss.png is \(bytes.count) bytes")
        let d = try DecodedPNG(Array(bytes))
        #expect(d.width == 800 && d.height == 500)
        // Titled with the run directory's name (a trailing slash does not make it empty),
        // the same pixels the library draws for that title.
        let expected = try DecodedPNG(try LossPlot.render(Self.syntheticLog(), title: "shakespeare"))
        #expect(d.rgb == expected.rgb)
    }
}

extension Canvas {
    /// The pixels of `text` drawn alone in black on a one-cell canvas.
    static func rendered(_ text: String) -> [UInt8] {
        var c = Canvas(width: 6, height: 9)
        c.drawText(text, x: 0, y: 0, .black)
        return c.pixels
    }
}
