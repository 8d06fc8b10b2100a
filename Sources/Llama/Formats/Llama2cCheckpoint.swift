import Foundation

// llama2.c checkpoint (`.bin`, "version 0" / legacy export), as this reader enforces it:
//
//   header, 7 × int32 little-endian:
//     dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
//     vocab_size < 0 means the classifier is not shared with the embedding (|vocab_size| is
//     the vocabulary, and wcls follows the other weights)
//   then fp32 arrays, each tensor PyTorch's [out, in] row-major, all layers of one kind
//   back to back (head_size = dim / n_heads, kv_dim = n_kv_heads × head_size):
//     token_embedding [vocab, dim]
//     rms_att         [layers][dim]
//     wq              [layers][dim, dim]
//     wk              [layers][kv_dim, dim]
//     wv              [layers][kv_dim, dim]
//     wo              [layers][dim, dim]
//     rms_ffn         [layers][dim]
//     w1              [layers][hidden, dim]
//     w2              [layers][dim, hidden]
//     w3              [layers][hidden, dim]
//     rms_final       [dim]
//     freq_cis_real   [seq_len × head_size / 2]   cos(t · θ^(-2i / head_size))
//     freq_cis_imag   [seq_len × head_size / 2]   sin(t · θ^(-2i / head_size))
//     wcls            [vocab, dim]                only when vocab_size < 0
//
// The file size must equal exactly 28 + 4 × (the sum of those sizes). q/k rows are in
// Meta's interleaved-pair layout (llama2.c's export comes from Meta-style model code).
// RoPE θ comes from the tables: the angle of position 1, pair 1 is θ^(-2 / head_size); every
// entry must then agree with that θ (within float32 rounding of the export), or the file is
// refused (a table from scaled RoPE, or garbage, would give wrong logits). With seq_len 1 the
// tables hold no angle and θ is llama2.c's 10000. RMSNorm epsilon 1e-5, context = seq_len.
// Tensors are slices of the map.

/// Why a llama2.c checkpoint could not be read.
public enum Llama2cError: Error, CustomStringConvertible, Equatable {
    case badHeader(path: String, field: String, message: String)
    case wrongSize(path: String, size: Int, expected: Int)
    case ropeTables(path: String, message: String)

    public var description: String {
        switch self {
        case let .badHeader(path, field, message):
            return "\(path): llama2.c header field \(field): \(message)"
        case let .wrongSize(path, size, expected):
            return "\(path): file is \(size) bytes, but its llama2.c header describes a model of \(expected) bytes (truncated, or not a llama2.c checkpoint)"
        case let .ropeTables(path, message):
            return "\(path): freq_cis_real/freq_cis_imag: \(message)"
        }
    }
}

/// The header of a llama2.c `.bin` and the byte layout it implies.
public struct Llama2cHeader: Sendable, Equatable {
    /// Header fields; `vocabSize` is the absolute value of the stored one.
    public let dim: Int, hiddenDim: Int, layerCount: Int, headCount: Int, kvHeadCount: Int
    public let vocabSize: Int, seqLen: Int
    /// True when the stored vocabulary size is positive: the output projection is the embedding.
    public let sharedClassifier: Bool
    /// The exact file size the header implies: the weights the architecture table lists
    /// (all values are bounded above, so the sum fits easily in 64 bits) and the RoPE tables.
    public var expectedFileSize: Int {
        let c = config(ropeTheta: 10000)
        let weights = c.tensorLayout.reduce(0) { $0 + $1.spec.shape(c).reduce(1, *) }
        return Llama2cHeader.byteCount + 4 * (weights + seqLen * (dim / headCount))
    }

    /// Size of the header in bytes.
    public static let byteCount = 28

    /// Parses and checks a header (the first 28 bytes of `bytes`) against `fileSize`.
    public init(bytes: UnsafeRawBufferPointer, fileSize: Int, path: String) throws {
        guard bytes.count >= Llama2cHeader.byteCount else {
            throw Llama2cError.wrongSize(path: path, size: fileSize, expected: Llama2cHeader.byteCount)
        }
        // llama2.c's newer exports (version 1: fp32, version 2: int8) start with the magic "ak42".
        if bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self) == UInt32(0x616B_3432).littleEndian {
            throw Llama2cError.badHeader(path: path, field: "magic",
                                         message: "this is a llama2.c version 1/2 export (magic \"ak42\"); only the legacy version 0 layout is supported")
        }
        let fields = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"]
        var v: [Int] = []
        for i in 0..<7 { v.append(Int(Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))) }
        let limits = [1 << 16, 1 << 20, 1 << 12, 1 << 12, 1 << 12, 1 << 22, 1 << 22]
        for i in 0..<7 {
            let x = i == 5 ? abs(v[i]) : v[i]
            guard x >= 1, x <= limits[i] else {
                throw Llama2cError.badHeader(path: path, field: fields[i], message: "value \(v[i]) is outside 1...\(limits[i])")
            }
        }
        dim = v[0]; hiddenDim = v[1]; layerCount = v[2]; headCount = v[3]; kvHeadCount = v[4]
        vocabSize = abs(v[5]); seqLen = v[6]; sharedClassifier = v[5] > 0
        guard dim % headCount == 0, (dim / headCount) % 2 == 0 else {
            throw Llama2cError.badHeader(path: path, field: "n_heads", message: "dim \(dim) is not split into \(headCount) heads of even size")
        }
        guard kvHeadCount <= headCount, headCount % kvHeadCount == 0 else {
            throw Llama2cError.badHeader(path: path, field: "n_kv_heads", message: "\(kvHeadCount) does not divide n_heads \(headCount)")
        }
        // All values are bounded above, so these sums fit easily in 64 bits.
    }

    func config(ropeTheta: Double) -> ModelConfig {
        ModelConfig(dim: dim, layerCount: layerCount, headCount: headCount, kvHeadCount: kvHeadCount, hiddenDim: hiddenDim,
                    vocabSize: vocabSize, normEps: 1e-5, ropeTheta: Float(ropeTheta), ropeScaling: nil, maxContext: seqLen,
                    tiedEmbeddings: sharedClassifier)
    }

    /// θ from the RoPE tables (`real`, `imag`: seq_len × head_size/2 floats each), checked
    /// against every entry.
    static func ropeTheta(real: UnsafeRawBufferPointer, imag: UnsafeRawBufferPointer, seqLen: Int, headSize: Int, path: String) throws -> Double {
        let half = headSize / 2
        func at(_ b: UnsafeRawBufferPointer, _ t: Int, _ i: Int) -> Double {
            Double(Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 4 * (t * half + i), as: UInt32.self))))
        }
        guard seqLen > 1, half > 1 else { return 10000 }
        let angle = atan2(at(imag, 1, 1), at(real, 1, 1))
        guard angle > 0 && angle < 1 else {
            throw Llama2cError.ropeTables(path: path, message: "position 1, pair 1 has angle \(angle), expected θ^(-2/\(headSize)) in (0, 1) for a θ above 1")
        }
        var theta = pow(angle, -Double(headSize) / 2)
        // Exports compute the table in float32; snap to the integer θ that rounding came from.
        if abs(theta - theta.rounded()) <= 1e-4 * theta { theta = theta.rounded() }
        guard theta.isFinite, theta > 1 else {
            throw Llama2cError.ropeTables(path: path, message: "they give θ = \(theta), expected a finite θ above 1")
        }
        for t in 0..<seqLen {
            for i in 0..<half {
                let a = Double(t) * pow(theta, -2 * Double(i) / Double(headSize))
                let dr = abs(at(real, t, i) - cos(a)), di = abs(at(imag, t, i) - sin(a))
                // float32 angles at position t are off by up to about t · 1e-7 radians.
                guard dr <= 1e-3 + 2e-7 * Double(t), di <= 1e-3 + 2e-7 * Double(t) else {
                    throw Llama2cError.ropeTables(path: path, message: "position \(t), pair \(i) is (\(at(real, t, i)), \(at(imag, t, i))), but RoPE with θ = \(theta) (from position 1) gives (\(cos(a)), \(sin(a))); scaled or corrupt tables are not supported")
                }
            }
        }
        return theta
    }
}

/// A llama2.c `.bin` checkpoint, memory-mapped; every tensor is a slice of the map.
public final class Llama2cCheckpoint: Checkpoint, TensorTableCheckpoint, TokenizerLoadReporting, @unchecked Sendable {
    public let path: String
    public let config: ModelConfig
    public let tokenizer: (any Tokenizer)?
    /// Why a tokenizer found beside the checkpoint could not be loaded, if it could not.
    public let tokenizerError: (any Error)?
    let tensors: [String: WeightTensor]

    /// Maps and checks a `.bin` file; a `tokenizer.bin` or `tokenizer.model` beside it is loaded if present.
    public convenience init(path: String) throws {
        let file = try MappedFile(path: path)
        let dir = (path as NSString).deletingLastPathComponent
        let base = dir.isEmpty ? "." : dir
        try self.init(bytes: file.bytes, owner: file, path: path,
                      tokenizerCandidates: [base + "/tokenizer.bin", base + "/tokenizer.model"])
    }

    /// Parses checkpoint bytes owned by `owner` (tests and fuzzing use this without a file).
    public init(bytes: UnsafeRawBufferPointer, owner: AnyObject, path: String, tokenizerCandidates: [String] = []) throws {
        self.path = path
        let h = try Llama2cHeader(bytes: bytes, fileSize: bytes.count, path: path)
        guard bytes.count == h.expectedFileSize else {
            throw Llama2cError.wrongSize(path: path, size: bytes.count, expected: h.expectedFileSize)
        }
        let headSize = h.dim / h.headCount
        let tableBytes = 4 * h.seqLen * headSize / 2
        // Shapes do not depend on θ, which the RoPE tables between the weights give.
        let sizes = h.config(ropeTheta: 10000)
        var out: [String: WeightTensor] = [:]
        var at = Llama2cHeader.byteCount
        func take(_ name: String, _ shape: [Int]) {
            let n = shape.reduce(1, *) * 4
            out[name] = WeightTensor(name: name, type: .f32, shape: shape,
                                     data: UnsafeRawBufferPointer(rebasing: bytes[at..<(at + n)]), owner: owner)
            at += n
        }
        // run.c's order is the table's, role by role across all layers, with the RoPE tables
        // (freq_cis_real, then freq_cis_imag) between the final norm and the classifier.
        var tablesAt = at
        for spec in sizes.architecture.tensors {
            if spec.role == .output {
                tablesAt = at
                at += 2 * tableBytes
                if h.sharedClassifier { continue }
            }
            for l in 0..<(spec.role.isPerLayer ? h.layerCount : 1) { take(spec.canonicalName(layer: l), spec.shape(sizes)) }
        }
        let real = UnsafeRawBufferPointer(rebasing: bytes[tablesAt..<(tablesAt + tableBytes)])
        let imag = UnsafeRawBufferPointer(rebasing: bytes[(tablesAt + tableBytes)..<(tablesAt + 2 * tableBytes)])
        let theta = try Llama2cHeader.ropeTheta(real: real, imag: imag, seqLen: h.seqLen, headSize: headSize, path: path)
        config = h.config(ropeTheta: theta)
        tensors = out
        let tok = CheckpointSupport.tokenizerBeside(tokenizerCandidates)
        tokenizer = tok.tokenizer
        tokenizerError = tok.error
    }

}
