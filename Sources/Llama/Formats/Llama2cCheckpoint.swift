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
//     freq_cis_real   [seq_len × head_size / 2]   (unused: RoPE is recomputed)
//     freq_cis_imag   [seq_len × head_size / 2]   (unused)
//     wcls            [vocab, dim]                only when vocab_size < 0
//
// The file size must equal exactly 28 + 4 × (the sum of those sizes). q/k rows are in
// Meta's interleaved-pair layout (llama2.c's export comes from Meta-style model code).
// RoPE theta 10000, RMSNorm epsilon 1e-5, context = seq_len. Tensors are slices of the map.

/// Why a llama2.c checkpoint could not be read.
public enum Llama2cError: Error, CustomStringConvertible, Equatable {
    case badHeader(path: String, field: String, message: String)
    case wrongSize(path: String, size: Int, expected: Int)

    public var description: String {
        switch self {
        case let .badHeader(path, field, message):
            return "\(path): llama2.c header field \(field): \(message)"
        case let .wrongSize(path, size, expected):
            return "\(path): file is \(size) bytes, but its llama2.c header describes a model of \(expected) bytes (truncated, or not a llama2.c checkpoint)"
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
    /// The exact file size the header implies.
    public let expectedFileSize: Int

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
        let headSize = dim / headCount
        let kvDim = kvHeadCount * headSize
        var floats = vocabSize * dim
        floats += layerCount * (2 * dim + 2 * dim * dim + 2 * kvDim * dim + 3 * dim * hiddenDim)
        floats += dim + seqLen * headSize
        if !sharedClassifier { floats += vocabSize * dim }
        expectedFileSize = Llama2cHeader.byteCount + 4 * floats
    }

    var config: ModelConfig {
        ModelConfig(dim: dim, layerCount: layerCount, headCount: headCount, kvHeadCount: kvHeadCount, hiddenDim: hiddenDim,
                    vocabSize: vocabSize, normEps: 1e-5, ropeTheta: 10000, ropeScaling: nil, maxContext: seqLen,
                    tiedEmbeddings: sharedClassifier)
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
        let c = h.config
        config = c
        var out: [String: WeightTensor] = [:]
        var at = Llama2cHeader.byteCount
        func take(_ name: String, _ shape: [Int]) {
            let n = shape.reduce(1, *) * 4
            out[name] = WeightTensor(name: name, type: .f32, shape: shape,
                                     data: UnsafeRawBufferPointer(rebasing: bytes[at..<(at + n)]), owner: owner)
            at += n
        }
        let L = c.layerCount
        take(TensorName.embedding, [c.vocabSize, c.dim])
        for l in 0..<L { take(TensorName.attentionNorm(l), [c.dim]) }
        for l in 0..<L { take(TensorName.wq(l), [c.dim, c.dim]) }
        for l in 0..<L { take(TensorName.wk(l), [c.kvDim, c.dim]) }
        for l in 0..<L { take(TensorName.wv(l), [c.kvDim, c.dim]) }
        for l in 0..<L { take(TensorName.wo(l), [c.dim, c.dim]) }
        for l in 0..<L { take(TensorName.ffnNorm(l), [c.dim]) }
        for l in 0..<L { take(TensorName.w1(l), [c.hiddenDim, c.dim]) }
        for l in 0..<L { take(TensorName.w2(l), [c.dim, c.hiddenDim]) }
        for l in 0..<L { take(TensorName.w3(l), [c.hiddenDim, c.dim]) }
        take(TensorName.finalNorm, [c.dim])
        at += 4 * h.seqLen * c.headDim  // freq_cis_real and freq_cis_imag, half a head each
        if !h.sharedClassifier { take(TensorName.output, [c.vocabSize, c.dim]) }
        tensors = out
        let tok = CheckpointSupport.tokenizerBeside(tokenizerCandidates)
        tokenizer = tok.tokenizer
        tokenizerError = tok.error
    }

}
