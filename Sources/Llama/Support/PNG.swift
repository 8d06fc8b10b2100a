import Foundation

/// Why an image could not be encoded.
public enum PNGError: Error, CustomStringConvertible, Equatable {
    /// The size is outside 1...maxSide, or the pixel buffer does not hold width × height RGB triples.
    case badSize(width: Int, height: Int, bytes: Int)

    public var description: String {
        switch self {
        case let .badSize(w, h, n):
            return "cannot encode a \(w)×\(h) PNG from \(n) bytes of RGB (sides must be 1...\(PNG.maxSide))"
        }
    }
}

/// A minimal PNG encoder: 8-bit RGB, no interlace, every row with filter 0, and the image
/// data in a zlib stream of stored (uncompressed) deflate blocks. Stored blocks keep the
/// encoder trivially correct; plots are small enough that the size does not matter.
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
        appendChunk("IDAT", zlibStored(raw), to: &out)
        appendChunk("IEND", [], to: &out)
        return out
    }

    /// A zlib stream (RFC 1950) wrapping `data` in stored deflate blocks (RFC 1951 §3.2.4).
    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        // CMF 0x78: deflate, 32 KiB window. FLG 0x01: no dictionary, level "fastest", and
        // (0x78 << 8 | 0x01) is a multiple of 31 as the header check requires.
        var out: [UInt8] = [0x78, 0x01]
        out.reserveCapacity(data.count + data.count / 65535 * 5 + 16)
        var start = 0
        repeat {
            let len = min(65535, data.count - start)
            let last = start + len == data.count
            // The 3 header bits (BFINAL, BTYPE=00) are padded to a byte boundary, so a
            // stored block's header is one whole byte.
            out.append(last ? 1 : 0)
            out += [UInt8(len & 0xFF), UInt8(len >> 8), UInt8(~len & 0xFF), UInt8((~len >> 8) & 0xFF)]
            out += data[start..<(start + len)]
            start += len
        } while start < data.count
        appendBE32(adler32(data), to: &out)
        return out
    }

    /// Adler-32 checksum (RFC 1950 §8).
    static func adler32(_ data: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        // 5552 bytes is the longest run for which the sums cannot overflow 32 bits before
        // the modulo, so the costly `%` runs once per block instead of per byte.
        var i = 0
        while i < data.count {
            let end = min(i + 5552, data.count)
            while i < end {
                a &+= UInt32(data[i])
                b &+= a
                i += 1
            }
            a %= 65521
            b %= 65521
        }
        return b << 16 | a
    }

    /// CRC-32 as PNG and zlib use it (reflected polynomial 0xEDB88320).
    static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32<S: Sequence>(_ bytes: S, seed: UInt32 = 0) -> UInt32 where S.Element == UInt8 {
        var c = ~seed
        for byte in bytes { c = crcTable[Int((c ^ UInt32(byte)) & 0xFF)] ^ (c >> 8) }
        return ~c
    }

    private static func appendBE32(_ v: UInt32, to out: inout [UInt8]) {
        out += [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
    }

    private static func appendChunk(_ type: String, _ data: [UInt8], to out: inout [UInt8]) {
        appendBE32(UInt32(data.count), to: &out)
        let typeBytes = Array(type.utf8)
        out += typeBytes
        out += data
        // The CRC covers the type and the data, not the length.
        appendBE32(crc32(data, seed: crc32(typeBytes)), to: &out)
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
        for i in stride(from: 0, to: pixels.count, by: 3) {
            pixels[i] = c.r; pixels[i + 1] = c.g; pixels[i + 2] = c.b
        }
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

    /// Fills the rectangle with corner (x, y) and the given size.
    public mutating func fillRect(x: Int, y: Int, width w: Int, height h: Int, _ c: RGB) {
        for yy in max(0, y)..<max(max(0, y), min(height, y + h)) {
            for xx in max(0, x)..<max(max(0, x), min(width, x + w)) { set(xx, yy, c) }
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

    /// Pixel height of one line of text at `scale`.
    public static func textHeight(scale: Int = 1) -> Int { 7 * max(1, scale) }

    /// Draws `text` with its top-left corner at (x, y) in the built-in 5×7 font, each font
    /// pixel a `scale`×`scale` block. Characters the font lacks are drawn as a hollow box so
    /// a missing glyph is visible rather than silently dropped.
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

    /// Encodes the canvas as PNG bytes.
    public func png() throws -> [UInt8] { try PNG.encode(width: width, height: height, rgb: pixels) }

    static let missingGlyph: [UInt8] = [0b11111, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b11111]

    /// 5×7 glyphs, one byte per row, top row first, bit 4 the leftmost column. Only what
    /// chart labels need: digits, number punctuation and the letters of the axis and legend
    /// words.
    static let glyphs: [Character: [UInt8]] = [
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
        ".": [0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b01100, 0b01100],
        "-": [0b00000, 0b00000, 0b00000, 0b11111, 0b00000, 0b00000, 0b00000],
        "+": [0b00000, 0b00100, 0b00100, 0b11111, 0b00100, 0b00100, 0b00000],
        " ": [0, 0, 0, 0, 0, 0, 0],
        "a": [0b00000, 0b00000, 0b01110, 0b00001, 0b01111, 0b10001, 0b01111],
        "e": [0b00000, 0b00000, 0b01110, 0b10001, 0b11111, 0b10000, 0b01110],
        "f": [0b00110, 0b01001, 0b01000, 0b11100, 0b01000, 0b01000, 0b01000],
        "i": [0b00100, 0b00000, 0b01100, 0b00100, 0b00100, 0b00100, 0b01110],
        "l": [0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110],
        "n": [0b00000, 0b00000, 0b10110, 0b11001, 0b10001, 0b10001, 0b10001],
        "o": [0b00000, 0b00000, 0b01110, 0b10001, 0b10001, 0b10001, 0b01110],
        "p": [0b00000, 0b00000, 0b11110, 0b10001, 0b11110, 0b10000, 0b10000],
        "r": [0b00000, 0b00000, 0b10110, 0b11001, 0b10000, 0b10000, 0b10000],
        "s": [0b00000, 0b00000, 0b01111, 0b10000, 0b01110, 0b00001, 0b11110],
        "t": [0b01000, 0b01000, 0b11100, 0b01000, 0b01000, 0b01001, 0b00110],
        "v": [0b00000, 0b00000, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100],
    ]
}
