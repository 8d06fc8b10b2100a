import Testing
import Llama

/// K-quant blocks packed here element by element from the layout's description, then
/// dequantized by the kernel: the two directions are written independently.
@Suite struct KQuantTests {
    func half(_ x: Float) -> (UInt16, Float) {
        let bits = floatToHalf(x)
        return (bits, Float(Float16(bitPattern: bits)))
    }

    func dequantized(_ type: GGMLType, _ bytes: [UInt8]) -> [Float] {
        var out = [Float](repeating: .nan, count: 256)
        bytes.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { o in dequantizeRow(type, raw.baseAddress!, o.baseAddress!, count: 256) }
        }
        return out
    }

    @Test(arguments: [GGMLType.q4_K, .q5_K])
    func q4KAndQ5K(_ type: GGMLType) {
        var rng = Xoshiro256(seed: 17)
        let five = type == .q5_K
        let scales = (0..<8).map { _ in UInt8(rng.next() % 64) }
        let mins = (0..<8).map { _ in UInt8(rng.next() % 64) }
        let quants = (0..<256).map { _ in Int(rng.next() % (five ? 32 : 16)) }
        let (dBits, d) = half(0.0123), (mBits, dmin) = half(0.0071)

        var packed = [UInt8](repeating: 0, count: 12)
        for j in 0..<8 {
            if j < 4 {
                packed[j] |= scales[j] & 63
                packed[j + 4] |= mins[j] & 63
            } else {
                packed[j + 4] = (scales[j] & 0x0F) | ((mins[j] & 0x0F) << 4)
                packed[j - 4] |= (scales[j] >> 4) << 6
                packed[j] |= (mins[j] >> 4) << 6
            }
        }
        var qh = [UInt8](repeating: 0, count: 32)
        var qs = [UInt8](repeating: 0, count: 128)
        var expected = [Float](repeating: 0, count: 256)
        for e in 0..<256 {
            let g = e / 64, within = e % 64
            let sub = within < 32 ? 2 * g : 2 * g + 1
            let byte = 32 * g + within % 32
            let q = quants[e]
            qs[byte] |= within < 32 ? UInt8(q & 0x0F) : UInt8(q & 0x0F) << 4
            if q >= 16 { qh[within % 32] |= 1 << sub }
            expected[e] = d * Float(scales[sub]) * Float(q) - dmin * Float(mins[sub])
        }
        var bytes: [UInt8] = [UInt8(dBits & 0xFF), UInt8(dBits >> 8), UInt8(mBits & 0xFF), UInt8(mBits >> 8)] + packed
        if five { bytes += qh }
        bytes += qs
        #expect(bytes.count == type.blockLayout.bytes)
        let got = dequantized(type, bytes)
        for i in 0..<256 { #expect(abs(got[i] - expected[i]) <= 1e-6 * max(1, abs(expected[i])), "element \(i)") }
    }

    @Test func q6K() {
        var rng = Xoshiro256(seed: 23)
        let scales = (0..<16).map { _ in Int8(truncatingIfNeeded: Int(rng.next() % 256) - 128) }
        let quants = (0..<256).map { _ in Int(rng.next() % 64) }
        let (dBits, d) = half(0.0031)
        var ql = [UInt8](repeating: 0, count: 128)
        var qh = [UInt8](repeating: 0, count: 64)
        var expected = [Float](repeating: 0, count: 256)
        for e in 0..<256 {
            let h = e / 128, r = e % 128, k = r / 32, l = r % 32
            let q = quants[e]
            let lowIndex = h * 64 + (k % 2 == 1 ? 32 : 0) + l
            ql[lowIndex] |= k < 2 ? UInt8(q & 0x0F) : UInt8(q & 0x0F) << 4
            qh[h * 32 + l] |= UInt8(q >> 4) << (2 * k)
            let s = scales[h * 8 + l / 16 + 2 * k]
            expected[e] = d * Float(s) * Float(q - 32)
        }
        let bytes = ql + qh + scales.map { UInt8(bitPattern: $0) } + [UInt8(dBits & 0xFF), UInt8(dBits >> 8)]
        #expect(bytes.count == 210)
        let got = dequantized(.q6_K, bytes)
        for i in 0..<256 { #expect(abs(got[i] - expected[i]) <= 1e-6 * max(1, abs(expected[i])), "element \(i)") }
    }
}

@Suite struct LegacyQuantTests {
    @Test(arguments: [GGMLType.q4_1, .q5_0, .q5_1])
    func blocksOf32(_ type: GGMLType) {
        var rng = Xoshiro256(seed: 31)
        let five = type != .q4_1, hasMin = type != .q5_0
        let dBits = floatToHalf(0.037), mBits = floatToHalf(-0.41)
        let d = Float(Float16(bitPattern: dBits)), m = hasMin ? Float(Float16(bitPattern: mBits)) : 0
        let quants = (0..<32).map { _ in Int(rng.next() % (five ? 32 : 16)) }
        var bytes: [UInt8] = [UInt8(dBits & 0xFF), UInt8(dBits >> 8)]
        if hasMin { bytes += [UInt8(mBits & 0xFF), UInt8(mBits >> 8)] }
        if five {
            var qh: UInt32 = 0
            for (e, q) in quants.enumerated() where q >= 16 { qh |= 1 << UInt32(e) }
            withUnsafeBytes(of: qh.littleEndian) { bytes += $0 }
        }
        for j in 0..<16 { bytes.append(UInt8(quants[j] & 0x0F) | UInt8(quants[j + 16] & 0x0F) << 4) }
        #expect(bytes.count == type.blockLayout.bytes)
        let expected = quants.map { d * Float($0 - (type == .q5_0 ? 16 : 0)) + m }
        var out = [Float](repeating: .nan, count: 32)
        bytes.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { o in dequantizeRow(type, raw.baseAddress!, o.baseAddress!, count: 32) }
        }
        #expect(out == expected)
    }
}
