import Foundation

// `llama quantize`: any readable checkpoint to a GGUF whose 2-D weight matrices are stored
// as one type (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0 or Q5_1) and whose 1-D tensors (norms, rope divisors) stay
// F32, as llama.cpp's quantizer does with --pure. Row rounding follows llama.cpp's
// reference quantizers (ggml-quants.c, quantize_row_*_ref) so that the same fp32 input
// gives the same blocks:
//   Q8_0  d = max|x| / 127, q = round-half-away(x · (1/d)), d stored as f16
//   Q4_0  m = the element of largest magnitude (with its sign), d = m / −8,
//         q = min(15, trunc(x · (1/d) + 8.5)); element j and j+16 share byte j
//   Q4_1  d = (max − min) / 15, m = min, q = min(15, trunc((x − min) · (1/d) + 0.5)),
//         d and m stored as f16, nibbles as Q4_0
//   Q5_0  as Q4_0 with d = m / −16, q = min(31, trunc(x · (1/d) + 16.5)); bit 4 of element e
//         goes to bit e of the 32-bit qh
//   Q5_1  as Q4_1 with d = (max − min) / 31, q = trunc((x − min) · (1/d) + 0.5), qh as Q5_0

/// Why a checkpoint cannot be quantized.
public enum QuantizeError: Error, CustomStringConvertible {
    case unsupportedTarget(String)
    case badTensor(path: String, tensor: String, message: String)

    public var description: String {
        switch self {
        case let .unsupportedTarget(t): return "cannot quantize to \(t) (supported: \(Quantizer.targetNames.joined(separator: ", ")))"
        case let .badTensor(path, tensor, message): return "\(path): tensor \(tensor): \(message)"
        }
    }
}

/// Builds quantized GGUF files from checkpoints.
public enum Quantizer {
    /// Target types `llama quantize --type` accepts, by their lower-case name.
    public static let targets: [String: GGMLType] = ["f32": .f32, "f16": .f16, "bf16": .bf16, "q8_0": .q8_0, "q4_0": .q4_0, "q4_1": .q4_1, "q5_0": .q5_0, "q5_1": .q5_1]
    /// The names of `targets`, in the order help texts list them.
    public static let targetNames = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1"]

    /// The GGUF of `checkpoint` with its weight matrices stored as `type`. Metadata (the
    /// tokenizer included) is copied from `source` when the input was a GGUF; otherwise the
    /// hyperparameters are written from the checkpoint's configuration.
    public static func gguf(_ checkpoint: any Checkpoint, as type: GGMLType, source: GGUFFile?,
                            parallel: ParallelFor = ParallelFor()) throws -> GGUFWriter {
        guard targets.values.contains(type) else { throw QuantizeError.unsupportedTarget(type.name) }
        let c = checkpoint.config
        var w = GGUFWriter()
        if let source {
            for key in source.metadataKeys where key != "general.file_type" && key != "general.quantization_version" {
                if let v = source.metadata[key] { w.set(key, .from(v, key: key)) }
            }
        } else {
            w.set("general.architecture", .string(c.architecture.ggufArchitecture))
            w.set("general.name", .string((checkpoint.path as NSString).lastPathComponent))
            w.setHyperparameters(c)
        }
        // llama.cpp's llama_ftype numbers, which readers show as the file's type.
        let fileType: UInt32 = switch type { case .f32: 0; case .f16: 1; case .q4_0: 2; case .q4_1: 3; case .q8_0: 7; case .q5_0: 8; case .q5_1: 9; default: 32 }
        w.set("general.file_type", .uint32(fileType))
        w.set("general.quantization_version", .uint32(2))

        for file in c.architecture.fileTensors(c, in: .gguf) {
            let t = try joined(file.parts.map { try checkpoint.tensor($0.spec.canonicalName(layer: $0.layer)) },
                               as: file.name, shape: file.shape)
            try add(t, as: file.name, to: &w, type: t.shape.count >= 2 ? type : .f32,
                    path: checkpoint.path, parallel: parallel)
        }
        if let divisors = try ropeDivisors(checkpoint) {
            try w.addTensor(name: "rope_freqs.weight", shape: [divisors.count], values: divisors, as: .f32)
        }
        return w
    }

    /// The roles one file tensor holds (fused q/k/v, stacked experts) as one tensor of
    /// `shape`, their rows one after the other: the stored bytes when every part has the same
    /// type, fp32 otherwise. A single part is returned as it is.
    public static func joined(_ parts: [WeightTensor], as name: String, shape: [Int]) throws -> WeightTensor {
        guard parts.count > 1 || parts.first?.shape != shape else {
            guard let only = parts.first else { throw QuantizeError.badTensor(path: name, tensor: name, message: "no parts") }
            return only
        }
        let type = parts.allSatisfy({ $0.type == parts[0].type }) ? parts[0].type : .f32
        var bytes = 0
        for p in parts {
            guard let cols = p.shape.last, cols > 0, cols % p.type.blockLayout.elements == 0, p.shape.count == 2 else {
                throw QuantizeError.badTensor(path: name, tensor: p.name, message: "cannot join shape \(p.shape) stored as \(p.type.name)")
            }
            bytes += p.shape[0] * type.rowBytes(columns: cols)
        }
        let buffer = OwnedBuffer(byteCount: bytes)
        guard let dst = buffer.bytes.baseAddress else { throw QuantizeError.badTensor(path: name, tensor: name, message: "empty") }
        var at = 0
        for p in parts {
            let cols = p.shape[1], rows = p.shape[0]
            let inRow = p.type.rowBytes(columns: cols), outRow = type.rowBytes(columns: cols)
            guard let src = p.data.baseAddress, p.data.count >= rows * inRow else {
                throw QuantizeError.badTensor(path: name, tensor: p.name, message: "\(p.data.count) bytes of data, needs \(rows * inRow)")
            }
            if p.type == type {
                (dst + at).copyMemory(from: src, byteCount: rows * inRow)
            } else {
                for r in 0..<rows {
                    dequantizeRow(p.type, src + r * inRow, (dst + at + r * outRow).assumingMemoryBound(to: Float.self), count: cols)
                }
            }
            at += rows * outRow
        }
        return WeightTensor(name: name, type: type, shape: shape, data: buffer.readOnly, owner: buffer)
    }

    /// Llama 3.1 scaling as llama.cpp carries it: one divisor per frequency pair.
    static func ropeDivisors(_ checkpoint: any Checkpoint) throws -> [Float]? {
        if let d = try checkpoint.ropeFrequencyFactors() { return d }
        let c = checkpoint.config
        guard let scaling = c.ropeScaling else { return nil }
        let plain = ropeFrequencies(headDim: c.headDim, theta: c.ropeTheta, scaling: nil, divisors: nil)
        let scaled = ropeFrequencies(headDim: c.headDim, theta: c.ropeTheta, scaling: scaling, divisors: nil)
        return zip(plain, scaled).map { $0 / $1 }
    }

    /// Adds one tensor converted row by row to `type` (stored bytes copied when the type
    /// already matches, so F16 → F16 and Q8_0 → Q8_0 are exact).
    static func add(_ t: WeightTensor, as name: String, to w: inout GGUFWriter, type: GGMLType, path: String,
                    parallel: ParallelFor) throws {
        guard let cols = t.shape.last, cols > 0, t.elementCount > 0 else {
            throw QuantizeError.badTensor(path: path, tensor: t.name, message: "empty shape \(t.shape)")
        }
        let rows = t.elementCount / cols
        guard t.type.isSupportedByKernels, cols % t.type.blockLayout.elements == 0 else {
            throw QuantizeError.badTensor(path: path, tensor: t.name, message: "stored as \(t.type.name), which cannot be read row by row")
        }
        guard cols % type.blockLayout.elements == 0 else {
            throw QuantizeError.badTensor(path: path, tensor: t.name,
                                          message: "\(cols) columns are not a multiple of the \(type.name) block size \(type.blockLayout.elements)")
        }
        let inRow = t.type.rowBytes(columns: cols), outRow = type.rowBytes(columns: cols)
        guard let src = t.data.baseAddress, t.data.count >= rows * inRow else {
            throw QuantizeError.badTensor(path: path, tensor: t.name, message: "\(t.data.count) bytes of data, needs \(rows * inRow)")
        }
        var out = [UInt8](repeating: 0, count: rows * outRow)
        if t.type == type {
            out.withUnsafeMutableBytes { $0.baseAddress?.copyMemory(from: src, byteCount: rows * outRow) }
        } else {
            out.withUnsafeMutableBytes { raw in
                guard let dst = raw.baseAddress else { return }
                parallel.run(rows, minimumPerWorker: 4) { _, range in
                    withUnsafeTemporaryAllocation(of: Float.self, capacity: cols) { scratch in
                        guard let row = scratch.baseAddress else { return }
                        for r in range {
                            dequantizeRow(t.type, src + r * inRow, row, count: cols)
                            quantizeRow(row, count: cols, as: type, into: dst + r * outRow)
                        }
                    }
                }
            }
        }
        try w.addTensor(name: name, shape: t.shape, type: type, data: out)
    }
}

/// Stores `count` floats as `type` (F32, F16, BF16, Q8_0 or Q4_0) at `dst`;
/// `count` is a multiple of the type's block size.
public func quantizeRow(_ x: UnsafePointer<Float>, count: Int, as type: GGMLType, into dst: UnsafeMutableRawPointer) {
    switch type {
    case .f32:
        dst.copyMemory(from: x, byteCount: 4 * count)
    case .f16:
        for i in 0..<count { dst.storeBytes(of: floatToHalf(x[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
    case .bf16:
        for i in 0..<count { dst.storeBytes(of: floatToBFloat16(x[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
    case .q8_0:
        for b in 0..<(count / 32) {
            let v = x + 32 * b, block = dst + 34 * b
            var amax: Float = 0
            for j in 0..<32 { amax = max(amax, abs(v[j])) }
            let d = amax / 127
            let id: Float = d != 0 ? 1 / d : 0
            block.storeBytes(of: floatToHalf(d).littleEndian, as: UInt16.self)
            for j in 0..<32 {
                block.storeBytes(of: Int8(clampedInt((v[j] * id).rounded(.toNearestOrAwayFromZero), -127, 127)),
                                 toByteOffset: 2 + j, as: Int8.self)
            }
        }
    case .q4_0:
        for b in 0..<(count / 32) {
            let v = x + 32 * b, block = dst + 18 * b
            var amax: Float = 0, m: Float = 0
            for j in 0..<32 where abs(v[j]) > amax {
                amax = abs(v[j])
                m = v[j]
            }
            let d = m / -8
            let id: Float = d != 0 ? 1 / d : 0
            block.storeBytes(of: floatToHalf(d).littleEndian, as: UInt16.self)
            for j in 0..<16 {
                // Truncation toward zero after +8.5 is llama.cpp's rounding; min keeps +8 in range.
                let lo = clampedInt(v[j] * id + 8.5, 0, 15)
                let hi = clampedInt(v[j + 16] * id + 8.5, 0, 15)
                block.storeBytes(of: UInt8(lo | (hi << 4)), toByteOffset: 2 + j, as: UInt8.self)
            }
        }
    case .q4_1:
        for b in 0..<(count / 32) {
            let v = x + 32 * b, block = dst + 20 * b
            var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
            for j in 0..<32 {
                lo = min(lo, v[j])
                hi = max(hi, v[j])
            }
            let d = (hi - lo) / 15
            let id: Float = d != 0 ? 1 / d : 0
            block.storeBytes(of: floatToHalf(d).littleEndian, as: UInt16.self)
            block.storeBytes(of: floatToHalf(lo).littleEndian, toByteOffset: 2, as: UInt16.self)
            for j in 0..<16 {
                // llama.cpp's rounding: +0.5 then truncation, capped at 15.
                let q0 = clampedInt((v[j] - lo) * id + 0.5, 0, 15)
                let q1 = clampedInt((v[j + 16] - lo) * id + 0.5, 0, 15)
                block.storeBytes(of: UInt8(q0 | (q1 << 4)), toByteOffset: 4 + j, as: UInt8.self)
            }
        }
    case .q5_0, .q5_1:
        let hasMin = type == .q5_1
        let size = hasMin ? 24 : 22, qhAt = hasMin ? 4 : 2
        for b in 0..<(count / 32) {
            let v = x + 32 * b, block = dst + size * b
            var d: Float, lo: Float = 0
            if hasMin {
                var hi = -Float.greatestFiniteMagnitude
                lo = Float.greatestFiniteMagnitude
                for j in 0..<32 { lo = min(lo, v[j]); hi = max(hi, v[j]) }
                d = (hi - lo) / 31
            } else {
                var amax: Float = 0, m: Float = 0
                for j in 0..<32 where abs(v[j]) > amax { amax = abs(v[j]); m = v[j] }
                d = m / -16
            }
            let id: Float = d != 0 ? 1 / d : 0
            block.storeBytes(of: floatToHalf(d).littleEndian, as: UInt16.self)
            if hasMin { block.storeBytes(of: floatToHalf(lo).littleEndian, toByteOffset: 2, as: UInt16.self) }
            var qh: UInt32 = 0
            for j in 0..<16 {
                let q0 = hasMin ? clampedInt((v[j] - lo) * id + 0.5, 0, 31) : clampedInt(v[j] * id + 16.5, 0, 31)
                let q1 = hasMin ? clampedInt((v[j + 16] - lo) * id + 0.5, 0, 31) : clampedInt(v[j + 16] * id + 16.5, 0, 31)
                block.storeBytes(of: UInt8((q0 & 0x0F) | ((q1 & 0x0F) << 4)), toByteOffset: qhAt + 4 + j, as: UInt8.self)
                qh |= UInt32(q0 >> 4) << UInt32(j) | UInt32(q1 >> 4) << UInt32(j + 16)
            }
            block.storeBytes(of: qh.littleEndian, toByteOffset: qhAt, as: UInt32.self)
        }
    default:
        dst.initializeMemory(as: UInt8.self, repeating: 0, count: type.rowBytes(columns: count))
    }
}

/// `x` truncated toward zero and clamped to `lo...hi`; NaN (a corrupt input row) gives
/// the middle of the range instead of trapping.
@inline(__always)
func clampedInt(_ x: Float, _ lo: Int, _ hi: Int) -> Int {
    guard x.isFinite else { return x.isNaN ? (lo + hi) / 2 : (x > 0 ? hi : lo) }
    return min(hi, max(lo, Int(x.rounded(.towardZero))))
}
