import Foundation
import Testing
@testable import Llama

/// A PNG taken apart by hand, independently of the encoder: chunks with verified CRCs, and
/// the IDAT zlib stream inflated (stored blocks only) with its Adler-32 verified.
struct DecodedPNG {
    var width = 0, height = 0
    var bitDepth = 0, colourType = 0
    var chunkTypes: [String] = []
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
        // zlib header: deflate with a window ≤ 32 KiB, no preset dictionary, check bits.
        guard idat.count >= 6, idat[0] & 0x0F == 8, idat[0] >> 4 <= 7, idat[1] & 0x20 == 0,
              (Int(idat[0]) << 8 | Int(idat[1])) % 31 == 0 else { throw Failure(description: "bad zlib header") }
        var p = 2
        var raw: [UInt8] = []
        while true {
            guard p + 5 <= idat.count else { throw Failure(description: "truncated deflate block") }
            let hdr = idat[p]
            guard (hdr >> 1) & 3 == 0 else { throw Failure(description: "not a stored block") }
            let len = Int(idat[p + 1]) | Int(idat[p + 2]) << 8
            let nlen = Int(idat[p + 3]) | Int(idat[p + 4]) << 8
            guard len ^ nlen == 0xFFFF, p + 5 + len <= idat.count else { throw Failure(description: "bad LEN/NLEN") }
            raw += idat[(p + 5)..<(p + 5 + len)]
            p += 5 + len
            if hdr & 1 == 1 { break }
        }
        guard p + 4 == idat.count else { throw Failure(description: "trailing bytes after the Adler-32") }
        var a: UInt32 = 1, s: UInt32 = 0
        for x in raw { a = (a + UInt32(x)) % 65521; s = (s + a) % 65521 }
        let stored = idat[p..<(p + 4)].reduce(0) { $0 << 8 | UInt32($1) }
        guard stored == s << 16 | a else { throw Failure(description: "Adler-32 mismatch") }
        let row = width * 3
        guard raw.count == height * (row + 1) else { throw Failure(description: "image data is \(raw.count) bytes") }
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

    @Test func checksumsMatchKnownValues() {
        #expect(PNG.crc32(Array("IEND".utf8)) == 0xAE42_6082)
        #expect(PNG.crc32(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(PNG.adler32(Array("Wikipedia".utf8)) == 0x11E6_0398)
        let big = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        var a: UInt32 = 1, b: UInt32 = 0
        for x in big { a = (a + UInt32(x)) % 65521; b = (b + a) % 65521 }
        #expect(PNG.adler32(big) == b << 16 | a)
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
        c.drawText("Z", x: 10, y: 0, .black)  // not in the font: a hollow box
        #expect(c.pixel(10, 0) == .black && c.pixel(12, 3) == .white)
        #expect(Canvas.textWidth("step", scale: 2) == 46)
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
}
