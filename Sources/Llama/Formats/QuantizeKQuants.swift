// The K-quant row quantizers, following llama.cpp's reference rules (ggml-quants.c,
// quantize_row_q4_K_ref / q5_K_ref / q6_K_ref, which llama-quantize uses when no importance
// matrix is given) operation for operation in fp32, so that the same input gives the same
// blocks byte for byte:
//
//   Q4_K / Q5_K  per sub-block of 32: weights w = √(mean x²) + |x|; a scale and a min from
//                `bestScaleMin` (make_qkx2_quants: a least-squares fit of x ≈ scale·q + min
//                over nmax + rmin + rdelta·k levels, k = 0…nstep, kept when its weighted
//                error is lower; nmax 15 / rmin −1 / 20 steps for Q4_K, 31 / −0.5 / 15 for
//                Q5_K). The 8 scales and mins are quantized to 6 bits against their maxima
//                (d = max/63, stored as f16), then every value is re-rounded against the
//                stored d·scale and dmin·min.
//   Q6_K         per sub-block of 16: `bestSymmetricScale` (make_qx_quants with weights x²:
//                the scale for ±32 levels among 19 candidates maximizing (Σ w·x·q)²/Σ w·q²);
//                the 16 scales become int8 against the largest one (d = −max/128), and the
//                values are re-rounded against d·scale into −32…31.

/// llama.cpp's `nearest_int`: round half to even through the float adder (|x| < 2²²).
@inline(__always)
func nearestInt(_ x: Float) -> Int {
    Int((x + 12582912).bitPattern & 0x007F_FFFF) - 0x0040_0000
}

/// make_qkx2_quants for `n` values: fills `levels` with 0…nmax and returns (scale, −min).
func bestScaleMin(_ x: UnsafePointer<Float>, _ weights: UnsafePointer<Float>, n: Int, nmax: Int,
                  levels: UnsafeMutablePointer<UInt8>, rmin: Float, rdelta: Float, steps: Int) -> (scale: Float, negMin: Float) {
    var lo = x[0], hi = x[0]
    var sumW = weights[0], sumX = sumW * x[0]
    for i in 1..<n {
        if x[i] < lo { lo = x[i] }
        if x[i] > hi { hi = x[i] }
        let w = weights[i]
        sumW += w
        sumX += w * x[i]
    }
    if lo > 0 { lo = 0 }
    if hi == lo {
        for i in 0..<n { levels[i] = 0 }
        return (0, -lo)
    }
    let top = Float(nmax)
    var iscale = top / (hi - lo)
    var scale = 1 / iscale
    var bestError: Float = 0
    for i in 0..<n {
        let l = nearestInt(iscale * (x[i] - lo))
        levels[i] = UInt8(max(0, min(nmax, l)))
        var diff = scale * Float(levels[i]) + lo - x[i]
        diff = diff * diff
        bestError += weights[i] * diff
    }
    var trial = [UInt8](repeating: 0, count: n)
    for step in 0...steps {
        iscale = (rmin + rdelta * Float(step) + top) / (hi - lo)
        var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
        for i in 0..<n {
            let l = max(0, min(nmax, nearestInt(iscale * (x[i] - lo))))
            trial[i] = UInt8(l)
            let w = weights[i], fl = Float(l)
            sumL += w * fl
            sumL2 += w * fl * fl
            sumXL += w * fl * x[i]
        }
        let det = sumW * sumL2 - sumL * sumL
        guard det > 0 else { continue }
        var thisScale = (sumW * sumXL - sumX * sumL) / det
        var thisMin = (sumL2 * sumX - sumL * sumXL) / det
        if thisMin > 0 {
            thisMin = 0
            thisScale = sumXL / sumL2
        }
        var error: Float = 0
        for i in 0..<n {
            var diff = thisScale * Float(trial[i]) + thisMin - x[i]
            diff = diff * diff
            error += weights[i] * diff
        }
        if error < bestError {
            for i in 0..<n { levels[i] = trial[i] }
            bestError = error
            scale = thisScale
            lo = thisMin
        }
    }
    return (scale, -lo)
}

/// make_qx_quants with rmse_type 1 (weights x²) for `n` values and levels −nmax…nmax−1,
/// stored in `levels` offset by nmax; returns the scale.
func bestSymmetricScale(_ x: UnsafePointer<Float>, n: Int, nmax: Int, levels: UnsafeMutablePointer<Int8>) -> Float {
    var peak: Float = 0, amax: Float = 0
    for i in 0..<n where abs(x[i]) > amax {
        amax = abs(x[i])
        peak = x[i]
    }
    if amax < 1e-15 {
        for i in 0..<n { levels[i] = 0 }
        return 0
    }
    @inline(__always) func sums(_ iscale: Float) -> (Float, Float) {
        var sumLX: Float = 0, sumL2: Float = 0
        for i in 0..<n {
            let l = Float(max(-nmax, min(nmax - 1, nearestInt(iscale * x[i]))))
            let w = x[i] * x[i]
            sumLX += w * x[i] * l
            sumL2 += w * l * l
        }
        return (sumLX, sumL2)
    }
    @inline(__always) func fill(_ iscale: Float) {
        for i in 0..<n { levels[i] = Int8(nmax + max(-nmax, min(nmax - 1, nearestInt(iscale * x[i])))) }
    }
    var iscale = Float(-nmax) / peak
    fill(iscale)
    var (sumLX, sumL2) = sums(iscale)
    var scale: Float = sumL2 != 0 ? sumLX / sumL2 : 0
    var best = scale * sumLX
    for step in -9...9 where step != 0 {
        iscale = -(Float(nmax) + 0.1 * Float(step)) / peak
        (sumLX, sumL2) = sums(iscale)
        if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
            fill(iscale)
            scale = sumLX / sumL2
            best = scale * sumLX
        }
    }
    return scale
}

/// One super-block of 256 values as Q4_K (144 bytes) or Q5_K (176 bytes) at `dst`.
func quantizeQ4KQ5K(_ x: UnsafePointer<Float>, five: Bool, into dst: UnsafeMutableRawPointer) {
    let nmax = five ? 31 : 15
    var levels = [UInt8](repeating: 0, count: 256)
    var weights = [Float](repeating: 0, count: 32)
    var scales = [Float](repeating: 0, count: 8), mins = [Float](repeating: 0, count: 8)
    var maxScale: Float = 0, maxMin: Float = 0
    levels.withUnsafeMutableBufferPointer { L in
        weights.withUnsafeMutableBufferPointer { w in
            for j in 0..<8 {
                let v = x + 32 * j
                var sumX2: Float = 0
                for l in 0..<32 { sumX2 += v[l] * v[l] }
                let av = (sumX2 / 32).squareRoot()
                for l in 0..<32 { w[l] = av + abs(v[l]) }
                let (s, m) = bestScaleMin(v, w.baseAddress!, n: 32, nmax: nmax, levels: L.baseAddress! + 32 * j,
                                          rmin: five ? -0.5 : -1, rdelta: 0.1, steps: five ? 15 : 20)
                scales[j] = s
                mins[j] = m
                if s > maxScale { maxScale = s }
                if m > maxMin { maxMin = m }
            }
        }
    }
    let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
    let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
    var packed = [UInt8](repeating: 0, count: 12)
    for j in 0..<8 {
        let ls = UInt8(truncatingIfNeeded: min(63, UInt8(truncatingIfNeeded: nearestInt(invScale * scales[j]))))
        let lm = UInt8(truncatingIfNeeded: min(63, UInt8(truncatingIfNeeded: nearestInt(invMin * mins[j]))))
        if j < 4 {
            packed[j] = ls
            packed[j + 4] = lm
        } else {
            packed[j + 4] = (ls & 0x0F) | ((lm & 0x0F) << 4)
            packed[j - 4] |= (ls >> 4) << 6
            packed[j] |= (lm >> 4) << 6
        }
    }
    let dBits = floatToHalf(maxScale / 63), mBits = floatToHalf(maxMin / 63)
    let d = halfToFloat(dBits), dmin = halfToFloat(mBits)
    packed.withUnsafeBufferPointer { p in
        for j in 0..<8 {
            let (sc, m) = kQuantScaleMin(j, p.baseAddress!)
            let ds = d * Float(sc)
            if ds == 0 { continue }
            let dm = dmin * Float(m)
            for i in 0..<32 { levels[32 * j + i] = UInt8(max(0, min(nmax, nearestInt((x[32 * j + i] + dm) / ds)))) }
        }
    }
    dst.storeBytes(of: dBits.littleEndian, as: UInt16.self)
    dst.storeBytes(of: mBits.littleEndian, toByteOffset: 2, as: UInt16.self)
    for j in 0..<12 { dst.storeBytes(of: packed[j], toByteOffset: 4 + j, as: UInt8.self) }
    let qsAt = five ? 48 : 16
    var qh = [UInt8](repeating: 0, count: 32)
    for g in 0..<4 {
        for l in 0..<32 {
            var lo = levels[64 * g + l], hi = levels[64 * g + l + 32]
            if lo > 15 { lo -= 16; qh[l] |= 1 << UInt8(2 * g) }
            if hi > 15 { hi -= 16; qh[l] |= 1 << UInt8(2 * g + 1) }
            dst.storeBytes(of: lo | (hi << 4), toByteOffset: qsAt + 32 * g + l, as: UInt8.self)
        }
    }
    if five { for l in 0..<32 { dst.storeBytes(of: qh[l], toByteOffset: 16 + l, as: UInt8.self) } }
}

/// One super-block of 256 values as Q6_K (210 bytes) at `dst`.
func quantizeQ6K(_ x: UnsafePointer<Float>, into dst: UnsafeMutableRawPointer) {
    var levels = [Int8](repeating: 0, count: 256)
    var scales = [Float](repeating: 0, count: 16)
    var maxScale: Float = 0, maxAbs: Float = 0
    levels.withUnsafeMutableBufferPointer { L in
        for ib in 0..<16 {
            let s = bestSymmetricScale(x + 16 * ib, n: 16, nmax: 32, levels: L.baseAddress! + 16 * ib)
            scales[ib] = s
            if abs(s) > maxAbs {
                maxAbs = abs(s)
                maxScale = s
            }
        }
    }
    if maxAbs < 1e-15 {
        dst.initializeMemory(as: UInt8.self, repeating: 0, count: 210)
        return
    }
    let iscale = -128 / maxScale
    let dBits = floatToHalf(1 / iscale)
    let d = halfToFloat(dBits)
    var sc = [Int8](repeating: 0, count: 16)
    for ib in 0..<16 { sc[ib] = Int8(truncatingIfNeeded: min(127, nearestInt(iscale * scales[ib]))) }
    for j in 0..<16 {
        let ds = d * Float(sc[j])
        if ds == 0 { continue }
        for i in 0..<16 { levels[16 * j + i] = Int8(max(-32, min(31, nearestInt(x[16 * j + i] / ds))) + 32) }
    }
    for h in 0..<2 {
        for l in 0..<32 {
            let e = 128 * h + l
            let q1 = UInt8(levels[e]), q2 = UInt8(levels[e + 32]), q3 = UInt8(levels[e + 64]), q4 = UInt8(levels[e + 96])
            dst.storeBytes(of: (q1 & 0x0F) | ((q3 & 0x0F) << 4), toByteOffset: 64 * h + l, as: UInt8.self)
            dst.storeBytes(of: (q2 & 0x0F) | ((q4 & 0x0F) << 4), toByteOffset: 64 * h + l + 32, as: UInt8.self)
            dst.storeBytes(of: (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6), toByteOffset: 128 + 32 * h + l, as: UInt8.self)
        }
    }
    for ib in 0..<16 { dst.storeBytes(of: sc[ib], toByteOffset: 192 + ib, as: Int8.self) }
    dst.storeBytes(of: dBits.littleEndian, toByteOffset: 208, as: UInt16.self)
}
