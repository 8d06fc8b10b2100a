import Foundation

// `llama quantize`: any readable checkpoint to a GGUF whose 2-D weight matrices are stored
// as one type (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0 or Q5_1, as llama.cpp's quantizer does
// with --pure), or as one of llama.cpp's K-quant mixes (Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M,
// Q6_K: `KQuantMix`, which picks each tensor's type as llama-quantize does), and whose 1-D
// tensors (norms, rope divisors) stay F32. Row rounding follows llama.cpp's
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
        case let .unsupportedTarget(t): return "cannot quantize to \(t) (supported: \(Quantizer.schemeNames.joined(separator: ", ")))"
        case let .badTensor(path, tensor, message): return "\(path): tensor \(tensor): \(message)"
        }
    }
}

/// llama.cpp's K-quant mixes (llama_ftype Q4_K_S … Q6_K): a base type, with some tensors
/// given more bits, as llama-cpp-python 0.3.36's llama.cpp chooses them
/// (llama_tensor_get_type in src/llama-quant.cpp) for a Llama-architecture model without
/// experts:
///   - output.weight (and token_embd.weight when the output is tied to it): Q6_K (Q8_0 when
///     its rows are not a multiple of 256);
///   - attn_v: Q6_K in the layers `usesMoreBits` picks (Q4_K_M, Q5_K_M), Q5_K in the first 4
///     (Q4_K_S);
///   - ffn_down: Q6_K in the layers `usesMoreBits` picks (Q4_K_M, Q5_K_M), Q5_K in the first
///     eighth (Q4_K_S);
///   - everything else 2-D: the base type (Q4_K, Q5_K or Q6_K);
///   - a tensor whose rows are not a multiple of 256 falls back to Q5_0 (for Q4_K), Q5_1
///     (Q5_K) or Q8_0 (Q6_K), and to F16 if that does not fit either.
/// Not modelled: llama.cpp's extra bump of attn_v for 70B models (Q4_K → Q5_K).
public enum KQuantMix: String, Sendable, CaseIterable {
    case q4_K_S = "q4_k_s", q4_K_M = "q4_k_m", q5_K_S = "q5_k_s", q5_K_M = "q5_k_m", q6_K = "q6_k"

    /// The type most tensors get.
    public var baseType: GGMLType {
        switch self {
        case .q4_K_S, .q4_K_M: return .q4_K
        case .q5_K_S, .q5_K_M: return .q5_K
        case .q6_K: return .q6_K
        }
    }

    /// llama.cpp's llama_ftype number, written as general.file_type.
    public var fileType: UInt32 {
        switch self {
        case .q4_K_S: return 14
        case .q4_K_M: return 15
        case .q5_K_S: return 16
        case .q5_K_M: return 17
        case .q6_K: return 18
        }
    }

    /// llama.cpp's use_more_bits: the first and last eighth of the layers, and every third
    /// one between.
    public static func usesMoreBits(layer i: Int, of n: Int) -> Bool {
        i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
    }

    /// The type of the 2-D tensor `name` (GGUF naming) with `columns` elements per row;
    /// `layer` counts the attn_v / ffn_down tensors in file order (their layer index),
    /// `layers` how many there are; `tiedOutput` is true when the file has no output.weight.
    public func type(forTensor name: String, columns: Int, layer: Int, layers: Int, tiedOutput: Bool) -> GGMLType {
        var t = baseType
        if name == "output.weight" || (tiedOutput && name == "token_embd.weight") {
            return columns % 256 == 0 ? .q6_K : columns % 32 == 0 ? .q8_0 : .f16
        } else if name.hasSuffix("attn_v.weight") {
            if (self == .q4_K_M || self == .q5_K_M) && Self.usesMoreBits(layer: layer, of: layers) { t = .q6_K }
            else if self == .q4_K_S && layer < 4 { t = .q5_K }
        } else if name.hasSuffix("ffn_down.weight") {
            if (self == .q4_K_M || self == .q5_K_M) && Self.usesMoreBits(layer: layer, of: layers) { t = .q6_K }
            else if self == .q4_K_S && layer < layers / 8 { t = .q5_K }
        }
        guard columns % 256 != 0 else { return t }
        let fallback: GGMLType = switch t { case .q4_K: .q5_0; case .q5_K: .q5_1; default: .q8_0 }
        return columns % 32 == 0 ? fallback : .f16
    }
}

/// What `llama quantize --type` makes: every weight matrix as one type, or a K-quant mix.
public enum QuantizationScheme: Sendable, Equatable {
    case uniform(GGMLType)
    case mix(KQuantMix)
}

/// Builds quantized GGUF files from checkpoints.
public enum Quantizer {
    /// Target types `llama quantize --type` accepts, by their lower-case name.
    public static let targets: [String: GGMLType] = ["f32": .f32, "f16": .f16, "bf16": .bf16, "q8_0": .q8_0, "q4_0": .q4_0, "q4_1": .q4_1, "q5_0": .q5_0, "q5_1": .q5_1]
    /// The names of `targets`, in the order help texts list them.
    public static let targetNames = ["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1"]
    /// Everything `llama quantize --type` accepts: the uniform targets and the K-quant mixes.
    public static var schemes: [String: QuantizationScheme] {
        var all = targets.mapValues { QuantizationScheme.uniform($0) }
        for m in KQuantMix.allCases { all[m.rawValue] = .mix(m) }
        return all
    }
    /// The names of `schemes`, in the order help texts list them.
    public static let schemeNames = targetNames + KQuantMix.allCases.map(\.rawValue)

    /// `gguf(_:scheme:source:parallel:)` with every weight matrix as `type`.
    public static func gguf(_ checkpoint: any Checkpoint, as type: GGMLType, source: GGUFFile?,
                            parallel: ParallelFor = ParallelFor()) throws -> GGUFWriter {
        guard targets.values.contains(type) else { throw QuantizeError.unsupportedTarget(type.name) }
        return try gguf(checkpoint, scheme: .uniform(type), source: source, parallel: parallel)
    }

    /// The GGUF of `checkpoint` with its weight matrices stored as `type`. Metadata (the
    /// tokenizer included) is copied from `source` when the input was a GGUF; otherwise the
    /// hyperparameters are written from the checkpoint's configuration.
    public static func gguf(_ checkpoint: any Checkpoint, scheme: QuantizationScheme, source: GGUFFile?,
                            parallel: ParallelFor = ParallelFor()) throws -> GGUFWriter {
        let c = checkpoint.config
        var w = GGUFWriter()
        if let source {
            // A split model's shard keys (split.*) would describe the shards, not this one file.
            for key in source.metadataKeys where key != "general.file_type" && key != "general.quantization_version" && !key.hasPrefix("split.") {
                if let v = source.metadata[key] { w.set(key, .from(v, key: key)) }
            }
        } else {
            w.set("general.architecture", .string(c.architecture.ggufArchitecture))
            w.set("general.name", .string((checkpoint.path as NSString).lastPathComponent))
            w.setHyperparameters(c)
        }
        // llama.cpp's llama_ftype numbers, which readers show as the file's type.
        let fileType: UInt32 = switch scheme {
        case let .mix(m): m.fileType
        case let .uniform(type): switch type { case .f32: 0; case .f16: 1; case .q4_0: 2; case .q4_1: 3; case .q8_0: 7; case .q5_0: 8; case .q5_1: 9; default: 32 }
        }
        w.set("general.file_type", .uint32(fileType))
        w.set("general.quantization_version", .uint32(2))

        let tensors = try fileTensors(checkpoint, format: .gguf)
        let tiedOutput = !tensors.contains { $0.name == "output.weight" }
        for (name, spec, layer, t) in tensors {
            let type: GGMLType
            switch scheme {
            case _ where !spec.role.isQuantizable || t.shape.count < 2: type = .f32
            case let .uniform(u): type = u
            case let .mix(m): type = m.type(forTensor: name, columns: t.shape.last ?? 0, layer: layer, layers: c.layerCount, tiedOutput: tiedOutput)
            }
            try add(t, as: name, to: &w, type: type, path: checkpoint.path, parallel: parallel)
        }
        if let lr = LongRopeScaling.of(checkpoint) {
            // As llama.cpp's converter writes Phi-3's LongRoPE; llama.cpp applies attn_factor
            // itself, so the q·k scale this engine derives from it is not written.
            let a = c.architecture.ggufArchitecture
            w.removeAll(prefix: "\(a).attention.scale")
            w.set("\(a).context_length", .uint32(UInt32(lr.context)))
            w.set("\(a).rope.scaling.original_context_length", .uint32(UInt32(lr.originalContext)))
            w.set("\(a).rope.scaling.attn_factor", .float32(lr.attentionFactor))
            try w.addTensor(name: "rope_factors_long.weight", shape: [lr.longFactors.count], values: lr.longFactors, as: .f32)
            try w.addTensor(name: "rope_factors_short.weight", shape: [lr.shortFactors.count], values: lr.shortFactors, as: .f32)
        } else if let divisors = try ropeDivisors(checkpoint) {
            try w.addTensor(name: "rope_freqs.weight", shape: [divisors.count], values: divisors, as: .f32)
        }
        return w
    }

    /// The tensors of `checkpoint` as `format` stores them, in layout order: each under its
    /// file name, a fused tensor (GPT-2 `attn_qkv`) once with its parts' rows joined, a stack
    /// of experts (GGUF `ffn_up_exps`) once as `[experts, rows, columns]`, with the first
    /// part's spec.
    static func fileTensors(_ checkpoint: any Checkpoint, format: TensorFormat) throws -> [(name: String, spec: TensorSpec, layer: Int, tensor: WeightTensor)] {
        let c = checkpoint.config, a = c.architecture
        var out: [(name: String, spec: TensorSpec, layer: Int, tensor: WeightTensor)] = []
        var written = Set<String>()
        for (spec, layer) in c.tensorLayout {
            let name = a.name(spec, layer: layer, in: format)
            guard written.insert(name).inserted else { continue }
            let parts = try a.fusedGroup(spec, in: format).map { try checkpoint.tensor($0.canonicalName(layer: layer)) }
            var t = parts.count == 1 ? parts[0] : try CheckpointSupport.joiningRows(parts, name: name, path: checkpoint.path)
            let stored = a.storedShape(spec, in: format, c)
            if stored.count > t.shape.count, CheckpointSupport.product(stored) == t.elementCount {
                t = WeightTensor(name: t.name, type: t.type, shape: stored, data: t.data, owner: t.owner)
            }
            out.append((name, spec, layer, t))
        }
        return out
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

/// Stores `count` floats as `type` (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K
/// or Q6_K) at `dst`;
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
    case .q4_K, .q5_K:
        let size = type == .q5_K ? 176 : 144
        for b in 0..<(count / 256) { quantizeQ4KQ5K(x + 256 * b, five: type == .q5_K, into: dst + size * b) }
    case .q6_K:
        for b in 0..<(count / 256) { quantizeQ6K(x + 256 * b, into: dst + 210 * b) }
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
