import CZlib
import Foundation

/// Why an image could not be encoded.
public enum PNGError: Error, CustomStringConvertible, Equatable {
    /// The size is outside 1...maxSide, or the pixel buffer does not hold width × height RGB triples.
    case badSize(width: Int, height: Int, bytes: Int)
    /// zlib's `compress2` returned `code` (Z_MEM_ERROR -4, Z_BUF_ERROR -5) for `bytes` bytes of scanlines.
    case deflateFailed(code: Int32, bytes: Int)

    public var description: String {
        switch self {
        case let .badSize(w, h, n):
            return "cannot encode a \(w)×\(h) PNG from \(n) bytes of RGB (sides must be 1...\(PNG.maxSide))"
        case let .deflateFailed(code, n):
            return "zlib could not deflate \(n) bytes of PNG image data (compress2 returned \(code))"
        }
    }
}

/// A minimal PNG encoder: 8-bit RGB, no interlace, every row with filter 0, the image data
/// deflated by the system's zlib. Charts are mostly runs of one colour, which deflate
/// shrinks well without PNG's per-row prediction filters.
public enum PNG {
    /// Largest width or height accepted; keeps width × height × 3 far from overflow.
    public static let maxSide = 16384

    /// The 8-byte signature every PNG starts with.
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Encodes `rgb` (row-major, 3 bytes per pixel, top row first) as a PNG file.
    public static func encode(width: Int, height: Int, rgb: [UInt8]) throws -> [UInt8] {
        guard (1...maxSide).contains(width), (1...maxSide).contains(height), rgb.count == width * height * 3 else {
            throw PNGError.badSize(width: width, height: height, bytes: rgb.count)
        }
        var out = signature
        var ihdr: [UInt8] = []
        appendBE32(UInt32(width), to: &ihdr)
        appendBE32(UInt32(height), to: &ihdr)
        ihdr += [8, 2, 0, 0, 0]  // bit depth 8, colour type 2 (RGB), deflate, filter method 0, no interlace
        appendChunk("IHDR", ihdr, to: &out)

        // Scanlines: a filter-type byte (0, none) before each row's pixels.
        let rowBytes = width * 3
        var raw = [UInt8]()
        raw.reserveCapacity(height * (rowBytes + 1))
        for y in 0..<height {
            raw.append(0)
            raw += rgb[(y * rowBytes)..<((y + 1) * rowBytes)]
        }
        appendChunk("IDAT", try zlibDeflate(raw), to: &out)
        appendChunk("IEND", [], to: &out)
        return out
    }

    /// A zlib stream (RFC 1950: header, deflate data, Adler-32), which is what IDAT holds.
    private static func zlibDeflate(_ data: [UInt8]) throws -> [UInt8] {
        var size = compressBound(uLong(data.count))
        var out = [UInt8](repeating: 0, count: Int(size))
        // Level 9: plots are small, so the slowest, smallest setting costs milliseconds.
        let code = out.withUnsafeMutableBufferPointer { dst in
            data.withUnsafeBufferPointer { src in
                compress2(dst.baseAddress, &size, src.baseAddress, uLong(src.count), 9)
            }
        }
        guard code == Z_OK else { throw PNGError.deflateFailed(code: code, bytes: data.count) }
        out.removeLast(out.count - Int(size))
        return out
    }

    private static func appendBE32(_ v: UInt32, to out: inout [UInt8]) {
        out += [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    private static func appendChunk(_ type: String, _ data: [UInt8], to out: inout [UInt8]) {
        let typeAndData = Array(type.utf8) + data
        appendBE32(UInt32(data.count), to: &out)
        out += typeAndData
        // The CRC (zlib's CRC-32, the one PNG specifies) covers the type and the data, not the length.
        let crc = typeAndData.withUnsafeBufferPointer { CZlib.crc32(0, $0.baseAddress, uInt($0.count)) }
        appendBE32(UInt32(truncatingIfNeeded: crc), to: &out)
    }
}

/// An 8-bit RGB colour.
public struct RGB: Sendable, Equatable {
    public var r: UInt8, g: UInt8, b: UInt8
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }

    public static let white = RGB(255, 255, 255)
    public static let black = RGB(0, 0, 0)
}

/// A small RGB raster for drawing charts: pixels, lines, rectangles and 5×7 bitmap text.
/// Drawing outside the canvas is clipped silently, so callers need not bounds-check.
public struct Canvas: Sendable {
    public let width: Int
    public let height: Int
    /// Row-major RGB triples, top row first.
    public private(set) var pixels: [UInt8]

    /// A canvas filled with `background`. Sides are clamped to 1...PNG.maxSide.
    public init(width: Int, height: Int, background: RGB = .white) {
        self.width = max(1, min(width, PNG.maxSide))
        self.height = max(1, min(height, PNG.maxSide))
        pixels = [UInt8](repeating: 0, count: self.width * self.height * 3)
        fill(background)
    }

    /// Paints every pixel.
    public mutating func fill(_ c: RGB) {
        fillRect(x: 0, y: 0, width: width, height: height, c)
    }

    /// The colour at (x, y), or nil outside the canvas.
    public func pixel(_ x: Int, _ y: Int) -> RGB? {
        guard x >= 0, y >= 0, x < width, y < height else { return nil }
        let i = (y * width + x) * 3
        return RGB(pixels[i], pixels[i + 1], pixels[i + 2])
    }

    /// Paints one pixel; ignored outside the canvas.
    public mutating func set(_ x: Int, _ y: Int, _ c: RGB) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        pixels[i] = c.r; pixels[i + 1] = c.g; pixels[i + 2] = c.b
    }

    /// Fills the rectangle with corner (x, y) and the given size (clipped to the canvas).
    public mutating func fillRect(x: Int, y: Int, width w: Int, height h: Int, _ c: RGB) {
        let x0 = max(0, x), x1 = min(width, x + w), y0 = max(0, y), y1 = min(height, y + h)
        guard x0 < x1, y0 < y1 else { return }
        let stride = width * 3
        pixels.withUnsafeMutableBufferPointer { p in
            for yy in y0..<y1 {
                var i = yy * stride + x0 * 3
                for _ in x0..<x1 {
                    p[i] = c.r; p[i + 1] = c.g; p[i + 2] = c.b
                    i += 3
                }
            }
        }
    }

    /// Outlines the rectangle with corner (x, y) and the given size, one pixel wide.
    public mutating func drawRect(x: Int, y: Int, width w: Int, height h: Int, _ c: RGB) {
        guard w > 0, h > 0 else { return }
        drawLine(x, y, x + w - 1, y, c)
        drawLine(x, y + h - 1, x + w - 1, y + h - 1, c)
        drawLine(x, y, x, y + h - 1, c)
        drawLine(x + w - 1, y, x + w - 1, y + h - 1, c)
    }

    /// Bresenham line from (x0, y0) to (x1, y1), both ends included. `thickness` > 1 stamps
    /// a square pen at each point, which is enough for 1–3 px chart lines.
    public mutating func drawLine(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ c: RGB, thickness: Int = 1) {
        let t = max(1, thickness)
        let lo = -(t - 1) / 2, hi = t / 2
        var x = x0, y = y0
        let dx = abs(x1 - x0), dy = -abs(y1 - y0)
        let sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var err = dx + dy
        while true {
            if t == 1 {
                set(x, y, c)
            } else {
                for oy in lo...hi { for ox in lo...hi { set(x + ox, y + oy, c) } }
            }
            if x == x1 && y == y1 { break }
            let e2 = 2 * err
            if e2 >= dy { err += dy; x += sx }
            if e2 <= dx { err += dx; y += sy }
        }
    }

    /// Pixel width of `text` drawn at `scale`: 6 columns per character (5 + 1 gap), minus the
    /// trailing gap.
    public static func textWidth(_ text: String, scale: Int = 1) -> Int {
        let n = text.count
        return n == 0 ? 0 : (n * 6 - 1) * max(1, scale)
    }

    /// Pixel height of one line of text at `scale`: the 7 rows of capitals and digits plus
    /// 2 rows for descenders (g, j, p, q, y, comma, underscore).
    public static func textHeight(scale: Int = 1) -> Int { (capRows + descenderRows) * max(1, scale) }

    /// Pixel height of capitals and digits at `scale`; centre labels on this, not on
    /// `textHeight`, so numbers sit level with their tick marks.
    public static func capHeight(scale: Int = 1) -> Int { capRows * max(1, scale) }

    static let capRows = 7, descenderRows = 2

    /// Draws `text` with its top-left corner at (x, y) in the built-in 5×7 font (printable
    /// ASCII), each font pixel a `scale`×`scale` block. Other characters are drawn as a
    /// hollow box so a missing glyph is visible rather than silently dropped.
    public mutating func drawText(_ text: String, x: Int, y: Int, _ c: RGB, scale: Int = 1) {
        let s = max(1, scale)
        var cx = x
        for ch in text {
            let rows = Canvas.glyphs[ch] ?? Canvas.missingGlyph
            for (r, bits) in rows.enumerated() {
                for col in 0..<5 where bits & (0x10 >> col) != 0 {
                    fillRect(x: cx + col * s, y: y + r * s, width: s, height: s, c)
                }
            }
            cx += 6 * s
        }
    }

    /// Draws `text` turned a quarter turn anticlockwise (reading upwards, as a chart's
    /// vertical labels do), the baseline's start at (x, y): characters go up from y, the tops
    /// of the letters face left.
    public mutating func drawTextUp(_ text: String, x: Int, y: Int, _ c: RGB, scale: Int = 1) {
        let s = max(1, scale)
        var along = 0
        for ch in text {
            let rows = Canvas.glyphs[ch] ?? Canvas.missingGlyph
            for (r, bits) in rows.enumerated() {
                for col in 0..<5 where bits & (0x10 >> col) != 0 {
                    fillRect(x: x + r * s, y: y - (along + col + 1) * s, width: s, height: s, c)
                }
            }
            along += 6
        }
    }

    /// Copies `other` with its top-left corner at (x, y), clipped to this canvas.
    public mutating func draw(_ other: Canvas, x: Int, y: Int) {
        let x0 = max(0, x), x1 = min(width, x + other.width)
        guard x0 < x1 else { return }
        let count = (x1 - x0) * 3
        for yy in max(0, y)..<max(max(0, y), min(height, y + other.height)) {
            let src = ((yy - y) * other.width + (x0 - x)) * 3, dst = (yy * width + x0) * 3
            pixels.replaceSubrange(dst..<(dst + count), with: other.pixels[src..<(src + count)])
        }
    }

    /// `text` as it fits in `width` pixels at `scale`: whole, or with its middle replaced by
    /// ".." so both ends of a long label stay readable and no glyph is cut at the edge.
    public static func fitted(_ text: String, width: Int, scale: Int) -> String {
        guard Canvas.textWidth(text, scale: scale) > width else { return text }
        let keep = max(0, (width / (6 * max(1, scale)) - 2))
        guard keep > 1 else { return "" }
        let chars = Array(text)
        return String(chars.prefix((keep + 1) / 2)) + ".." + String(chars.suffix(keep / 2))
    }

    /// Encodes the canvas as PNG bytes.
    public func png() throws -> [UInt8] { try PNG.encode(width: width, height: height, rgb: pixels) }

    static let missingGlyph: [UInt8] = [0b11111, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b11111]

    /// Glyphs for printable ASCII (space to tilde), one byte per row, top row first, bit 4
    /// the leftmost column: 7 rows from the cap line to the baseline, then up to 2 rows of
    /// descender.
    static let glyphs: [Character: [UInt8]] = [
        " ": [0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000],
        "!": [0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00000, 0b00100],
        "\"": [0b01010, 0b01010, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000],
        "#": [0b01010, 0b01010, 0b11111, 0b01010, 0b11111, 0b01010, 0b01010],
        "$": [0b00100, 0b01111, 0b10100, 0b01110, 0b00101, 0b11110, 0b00100],
        "%": [0b11000, 0b11001, 0b00010, 0b00100, 0b01000, 0b10011, 0b00011],
        "&": [0b01100, 0b10010, 0b10100, 0b01000, 0b10101, 0b10010, 0b01101],
        "'": [0b00100, 0b00100, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000],
        "(": [0b00010, 0b00100, 0b01000, 0b01000, 0b01000, 0b00100, 0b00010],
        ")": [0b01000, 0b00100, 0b00010, 0b00010, 0b00010, 0b00100, 0b01000],
        "*": [0b00000, 0b00100, 0b10101, 0b01110, 0b10101, 0b00100, 0b00000],
        "+": [0b00000, 0b00100, 0b00100, 0b11111, 0b00100, 0b00100, 0b00000],
        ",": [0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b01100, 0b00100, 0b01000],
        "-": [0b00000, 0b00000, 0b00000, 0b11111, 0b00000, 0b00000, 0b00000],
        ".": [0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b01100, 0b01100],
        "/": [0b00000, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b00000],
        "0": [0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110],
        "1": [0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110],
        "2": [0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111],
        "3": [0b11111, 0b00010, 0b00100, 0b00010, 0b00001, 0b10001, 0b01110],
        "4": [0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010],
        "5": [0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110],
        "6": [0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110],
        "7": [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000],
        "8": [0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110],
        "9": [0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100],
        ":": [0b00000, 0b01100, 0b01100, 0b00000, 0b01100, 0b01100, 0b00000],
        ";": [0b00000, 0b01100, 0b01100, 0b00000, 0b01100, 0b00100, 0b01000],
        "<": [0b00010, 0b00100, 0b01000, 0b10000, 0b01000, 0b00100, 0b00010],
        "=": [0b00000, 0b00000, 0b11111, 0b00000, 0b11111, 0b00000, 0b00000],
        ">": [0b01000, 0b00100, 0b00010, 0b00001, 0b00010, 0b00100, 0b01000],
        "?": [0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b00000, 0b00100],
        "@": [0b01110, 0b10001, 0b00001, 0b01101, 0b10101, 0b10101, 0b01110],
        "A": [0b01110, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001],
        "B": [0b11110, 0b10001, 0b10001, 0b11110, 0b10001, 0b10001, 0b11110],
        "C": [0b01110, 0b10001, 0b10000, 0b10000, 0b10000, 0b10001, 0b01110],
        "D": [0b11110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b11110],
        "E": [0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111],
        "F": [0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b10000],
        "G": [0b01110, 0b10001, 0b10000, 0b10111, 0b10001, 0b10001, 0b01111],
        "H": [0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001],
        "I": [0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110],
        "J": [0b00111, 0b00010, 0b00010, 0b00010, 0b00010, 0b10010, 0b01100],
        "K": [0b10001, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010, 0b10001],
        "L": [0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b11111],
        "M": [0b10001, 0b11011, 0b10101, 0b10101, 0b10001, 0b10001, 0b10001],
        "N": [0b10001, 0b10001, 0b11001, 0b10101, 0b10011, 0b10001, 0b10001],
        "O": [0b01110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110],
        "P": [0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000, 0b10000],
        "Q": [0b01110, 0b10001, 0b10001, 0b10001, 0b10101, 0b10010, 0b01101],
        "R": [0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001],
        "S": [0b01111, 0b10000, 0b10000, 0b01110, 0b00001, 0b00001, 0b11110],
        "T": [0b11111, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100],
        "U": [0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110],
        "V": [0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100],
        "W": [0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010],
        "X": [0b10001, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0b10001],
        "Y": [0b10001, 0b10001, 0b01010, 0b00100, 0b00100, 0b00100, 0b00100],
        "Z": [0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b11111],
        "[": [0b01110, 0b01000, 0b01000, 0b01000, 0b01000, 0b01000, 0b01110],
        "\\": [0b00000, 0b10000, 0b01000, 0b00100, 0b00010, 0b00001, 0b00000],
        "]": [0b01110, 0b00010, 0b00010, 0b00010, 0b00010, 0b00010, 0b01110],
        "^": [0b00100, 0b01010, 0b10001, 0b00000, 0b00000, 0b00000, 0b00000],
        "_": [0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b11111],
        "`": [0b01000, 0b00100, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000],
        "a": [0b00000, 0b00000, 0b01110, 0b00001, 0b01111, 0b10001, 0b01111],
        "b": [0b10000, 0b10000, 0b10110, 0b11001, 0b10001, 0b10001, 0b11110],
        "c": [0b00000, 0b00000, 0b01110, 0b10000, 0b10000, 0b10001, 0b01110],
        "d": [0b00001, 0b00001, 0b01101, 0b10011, 0b10001, 0b10001, 0b01111],
        "e": [0b00000, 0b00000, 0b01110, 0b10001, 0b11111, 0b10000, 0b01110],
        "f": [0b00110, 0b01001, 0b01000, 0b11100, 0b01000, 0b01000, 0b01000],
        "g": [0b00000, 0b00000, 0b01111, 0b10001, 0b10001, 0b10001, 0b01111, 0b00001, 0b01110],
        "h": [0b10000, 0b10000, 0b10110, 0b11001, 0b10001, 0b10001, 0b10001],
        "i": [0b00100, 0b00000, 0b01100, 0b00100, 0b00100, 0b00100, 0b01110],
        "j": [0b00010, 0b00000, 0b00110, 0b00010, 0b00010, 0b00010, 0b00010, 0b10010, 0b01100],
        "k": [0b10000, 0b10000, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010],
        "l": [0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110],
        "m": [0b00000, 0b00000, 0b11010, 0b10101, 0b10101, 0b10101, 0b10101],
        "n": [0b00000, 0b00000, 0b10110, 0b11001, 0b10001, 0b10001, 0b10001],
        "o": [0b00000, 0b00000, 0b01110, 0b10001, 0b10001, 0b10001, 0b01110],
        "p": [0b00000, 0b00000, 0b11110, 0b10001, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000],
        "q": [0b00000, 0b00000, 0b01111, 0b10001, 0b10001, 0b10001, 0b01111, 0b00001, 0b00001],
        "r": [0b00000, 0b00000, 0b10110, 0b11001, 0b10000, 0b10000, 0b10000],
        "s": [0b00000, 0b00000, 0b01111, 0b10000, 0b01110, 0b00001, 0b11110],
        "t": [0b01000, 0b01000, 0b11100, 0b01000, 0b01000, 0b01001, 0b00110],
        "u": [0b00000, 0b00000, 0b10001, 0b10001, 0b10001, 0b10011, 0b01101],
        "v": [0b00000, 0b00000, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100],
        "w": [0b00000, 0b00000, 0b10001, 0b10001, 0b10101, 0b10101, 0b01010],
        "x": [0b00000, 0b00000, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001],
        "y": [0b00000, 0b00000, 0b10001, 0b10001, 0b10001, 0b10001, 0b01111, 0b00001, 0b01110],
        "z": [0b00000, 0b00000, 0b11111, 0b00010, 0b00100, 0b01000, 0b11111],
        "{": [0b00010, 0b00100, 0b00100, 0b01000, 0b00100, 0b00100, 0b00010],
        "|": [0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100],
        "}": [0b01000, 0b00100, 0b00100, 0b00010, 0b00100, 0b00100, 0b01000],
        "~": [0b00000, 0b00000, 0b01000, 0b10101, 0b00010, 0b00000, 0b00000],
    ]
}
