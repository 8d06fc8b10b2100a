import Foundation

// Rotary position embedding in Meta's interleaved layout: within each head, elements
// (2i, 2i+1) are one pair rotated by angle pos·freq[i], freq[i] = theta^(−2i/headDim).
// (Hugging Face files of Llama store q/k rows permuted for "rotate half"; their readers undo
// that.) Architectures whose every format keeps the rotate-half order (Qwen2, Phi-3: HF and
// llama.cpp's NEOX style) use `applyRopeRotateHalf`, pairs (i, i + headDim/2), same angles.

/// The rotation frequency of each pair in a head (`headDim / 2` values).
///
/// Computed in fp32 as the reference implementations do, so positions in the thousands
/// give the same angles they give. Llama 3.1 scaling follows Meta's `apply_scaling`:
/// wavelengths shorter than `originalContext / highFreqFactor` keep their frequency, longer
/// than `originalContext / lowFreqFactor` are divided by `factor`, and the band between is
/// interpolated. `divisors` (GGUF's `rope_freqs.weight`) divide the frequencies instead.
public func ropeFrequencies(headDim: Int, theta: Float, scaling: RopeScaling?, divisors: [Float]?) -> [Float] {
    let half = headDim / 2
    var freqs = [Float](repeating: 0, count: half)
    for i in 0..<half {
        let exponent = Float(2 * i) / Float(headDim)
        freqs[i] = 1 / powf(theta, exponent)
    }
    if let divisors {
        for i in 0..<min(half, divisors.count) { freqs[i] /= divisors[i] }
    } else if let s = scaling {
        let lowWavelen = Float(s.originalContext) / s.lowFreqFactor
        let highWavelen = Float(s.originalContext) / s.highFreqFactor
        for i in 0..<half {
            let f = freqs[i]
            let wavelen = 2 * Float.pi / f
            if wavelen < highWavelen { continue }
            if wavelen > lowWavelen {
                freqs[i] = f / s.factor
            } else {
                let smooth = (Float(s.originalContext) / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor)
                freqs[i] = (1 - smooth) * f / s.factor + smooth * f
            }
        }
    }
    return freqs
}

/// Fills `cos`/`sin` (`freqs.count` each) with the rotation of every pair at `position`.
/// The angle is rounded to fp32 before cos/sin, as the reference does.
public func ropeAngles(position: Int, freqs: [Float], cos c: UnsafeMutablePointer<Float>, sin s: UnsafeMutablePointer<Float>) {
    for i in 0..<freqs.count {
        let angle = Double(Float(position) * freqs[i])
        c[i] = Float(Foundation.cos(angle))
        s[i] = Float(Foundation.sin(angle))
    }
}

/// Rotates `heads` consecutive heads of `headDim` values in place, pair by pair.
public func applyRope(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int,
                      cos c: UnsafePointer<Float>, sin s: UnsafePointer<Float>) {
    let half = headDim / 2
    for h in 0..<heads {
        let v = x + h * headDim
        for i in 0..<half {
            let a = v[2 * i], b = v[2 * i + 1]
            v[2 * i] = a * c[i] - b * s[i]
            v[2 * i + 1] = a * s[i] + b * c[i]
        }
    }
}

/// Rotates `heads` consecutive heads in the rotate-half layout (transformers, and llama.cpp's
/// NEOX style for Gemma, Qwen2, Phi-3): element i pairs with i + headDim/2.
public func applyRopeRotateHalf(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int,
                                cos c: UnsafePointer<Float>, sin s: UnsafePointer<Float>) {
    let half = headDim / 2
    for h in 0..<heads {
        let v = x + h * headDim
        for i in 0..<half {
            let a = v[i], b = v[i + half]
            v[i] = a * c[i] - b * s[i]
            v[i + half] = b * c[i] + a * s[i]
        }
    }
}
