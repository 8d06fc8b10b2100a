import Foundation

// Meta Llama directory, as this reader enforces it:
//
//   params.json            dim, n_layers, n_heads (required); n_kv_heads (default n_heads),
//                          vocab_size (absent or -1: taken from the embedding), multiple_of
//                          (default 256), ffn_dim_multiplier (optional), norm_eps (default
//                          1e-5), rope_theta (default 10000), use_scaled_rope (Llama 3.1:
//                          factor 8, low 1, high 4, original context 8192; the factor is
//                          rope_scaling_factor when params.json gives one, as Meta's newer
//                          code reads it for Llama 3.2)
//   consolidated.NN.pth    NN = 00, 01, … contiguous: model-parallel shards (torch.save zips)
//   tokenizer.model        optional, here or in the parent directory
//
// Each .pth is a zip of stored entries under one top folder (its name varies):
//   <top>/data.pkl         the pickled state dict (see Pickle.swift)
//   <top>/data/<key>       raw little-endian storage bytes, one entry per storage
//   <top>/byteorder        "little" when present
// A tensor is `shape` elements of its storage starting at `storageOffset` elements, with
// contiguous row-major strides (anything else is refused).
//
// Shards slice the model as Meta's model-parallel layers do:
//   column-parallel (split by rows):    wq, wk, wv, w1, w3, output
//   row-parallel (split by columns):    wo, w2
//   replicated:                         the norms (shard 0 is used)
//   tok_embeddings:                     by columns in Llama 1/2 (ParallelEmbedding), by rows
//                                       in Llama 3 (VocabParallelEmbedding): told apart by
//                                       comparing the shard's shape with dim
// Concatenated tensors live in owned buffers; a single shard's tensors stay memory-mapped.
// `rope.freqs` (Llama 1) is ignored: frequencies are recomputed from rope_theta.
// Meta records no context length: 131072 with use_scaled_rope, 8192 for a vocabulary of
// 128000 or more (Llama 3), else 4096 (Llama 2).
// An `output.weight` that is byte-for-byte the embedding (Llama 3.2 small models store both)
// is treated as tied embeddings.

/// Why a Meta checkpoint directory could not be read.
public enum MetaCheckpointError: Error, CustomStringConvertible, Equatable {
    case missingFile(path: String, expected: String)
    case missingKey(path: String, key: String)
    case badValue(path: String, key: String, message: String)
    case badTensor(path: String, tensor: String, message: String)
    case badArchive(path: String, message: String)
    case shardMismatch(path: String, tensor: String, message: String)

    public var description: String {
        switch self {
        case let .missingFile(path, expected): return "\(path): \(expected)"
        case let .missingKey(path, key): return "\(path): required key \"\(key)\" is missing"
        case let .badValue(path, key, message): return "\(path): key \"\(key)\": \(message)"
        case let .badTensor(path, tensor, message): return "\(path): tensor \"\(tensor)\": \(message)"
        case let .badArchive(path, message): return "\(path): \(message)"
        case let .shardMismatch(path, tensor, message): return "\(path): shards disagree on tensor \"\(tensor)\": \(message)"
        }
    }
}

/// One `consolidated.NN.pth` file: its tensors by their names in the file, zero-copy.
public struct MetaShard: @unchecked Sendable {
    /// The .pth file, for error messages.
    public let path: String
    /// Tensors by their state-dict names, slices of the archive.
    public let tensors: [String: WeightTensor]
    /// Names in file order.
    public let names: [String]

    /// Maps and parses a .pth file.
    public init(path: String) throws {
        let file = try MappedFile(path: path)
        try self.init(bytes: file.bytes, owner: file, path: path)
    }

    /// Parses .pth bytes owned by `owner` (tests and fuzzing use this without a file).
    public init(bytes: UnsafeRawBufferPointer, owner: AnyObject, path: String) throws {
        self.path = path
        let zip = try ZipArchive(bytes: bytes, path: path)
        let pickles = zip.entries.filter { $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") }
        guard pickles.count == 1, let pkl = pickles.first else {
            throw MetaCheckpointError.badArchive(path: path, message: pickles.isEmpty
                ? "no data.pkl in the archive (not a torch.save file)"
                : "\(pickles.count) data.pkl entries in the archive, expected one")
        }
        let prefix = String(pkl.name.dropLast("data.pkl".count))
        if let order = zip.entry(prefix + "byteorder") {
            let text = String(decoding: zip.data(of: order), as: UTF8.self)
            guard text == "little" else {
                throw MetaCheckpointError.badArchive(path: path, message: "byteorder is \"\(text)\", only little-endian storages are supported")
            }
        }
        let refs = try TorchPickle.loadStateDict(zip.data(of: pkl), path: path + ":" + pkl.name)
        var out: [String: WeightTensor] = [:]
        var names: [String] = []
        for (name, ref) in refs {
            func bad(_ message: String) -> MetaCheckpointError { .badTensor(path: path, tensor: name, message: message) }
            let entryName = prefix + "data/" + ref.storage.key
            guard let entry = zip.entry(entryName) else { throw bad("its storage \(entryName) is not in the archive") }
            let elementSize = CheckpointSupport.bytesPerElement(ref.storage.type)
            guard let storageBytes = CheckpointSupport.mul(ref.storage.count, elementSize), storageBytes == entry.dataRange.count else {
                throw bad("storage \(entryName) holds \(entry.dataRange.count) bytes, but the pickle says \(ref.storage.count) \(ref.storage.type.name) elements")
            }
            guard let count = CheckpointSupport.product(ref.shape) else { throw bad("shape \(ref.shape) is too large") }
            var expected = 1
            for d in stride(from: ref.shape.count - 1, through: 0, by: -1) {
                if ref.shape[d] > 1, ref.stride[d] != expected {
                    throw bad("strides \(ref.stride) for shape \(ref.shape) are not contiguous row-major; only contiguous tensors are supported")
                }
                expected = CheckpointSupport.mul(expected, ref.shape[d]) ?? Int.max
            }
            let (end, o) = ref.storageOffset.addingReportingOverflow(count)
            guard !o, end <= ref.storage.count else {
                throw bad("storage offset \(ref.storageOffset) + \(count) elements exceed the storage's \(ref.storage.count) elements")
            }
            guard ref.shape.count == 1 || ref.shape.count == 2 else {
                throw bad("has \(ref.shape.count) dimensions, expected a vector or a matrix")
            }
            let start = entry.dataRange.lowerBound + ref.storageOffset * elementSize
            let data = UnsafeRawBufferPointer(rebasing: bytes[start..<(start + count * elementSize)])
            if out[name] == nil { names.append(name) }
            out[name] = WeightTensor(name: name, type: ref.storage.type, shape: ref.shape, data: data, owner: owner)
        }
        tensors = out
        self.names = names
    }
}

/// A Meta Llama checkpoint directory (params.json + consolidated.NN.pth).
public final class MetaCheckpoint: Checkpoint, TensorTableCheckpoint, TokenizerLoadReporting, @unchecked Sendable {
    public let path: String
    public let config: ModelConfig
    public let tokenizer: (any Tokenizer)?
    /// Why a `tokenizer.model` found beside the weights could not be loaded, if it could not.
    public let tokenizerError: (any Error)?
    let tensors: [String: WeightTensor]

    /// The `consolidated.NN.pth` files of a directory, in shard order (empty when none).
    public static func shardPaths(directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { n in
            guard n.hasPrefix("consolidated."), n.hasSuffix(".pth") else { return false }
            let mid = n.dropFirst("consolidated.".count).dropLast(".pth".count)
            return !mid.isEmpty && mid.allSatisfy(\.isNumber)
        }.sorted { a, b in
            let na = Int(a.dropFirst("consolidated.".count).dropLast(".pth".count)) ?? 0
            let nb = Int(b.dropFirst("consolidated.".count).dropLast(".pth".count)) ?? 0
            return na < nb
        }.map { directory + "/" + $0 }
    }

    /// The rank whose shard alone was read (`init(path:shard:)`), nil when all were joined.
    public let modelParallelShard: TensorParallel?
    /// The `consolidated.NN.pth` files this checkpoint opened.
    public let openedFiles: [String]

    /// Reads `params.json` and the shards in directory `path`. With `shard` of more than one
    /// rank, reads only that rank's `consolidated.0r.pth`, whose tensors stay that rank's
    /// slices (see `TensorParallel`); the directory must hold exactly `shard.size` shards.
    public init(path: String, shard: TensorParallel? = nil) throws {
        self.path = path
        let paramsPath = path + "/params.json"
        guard FileManager.default.fileExists(atPath: paramsPath) else {
            throw MetaCheckpointError.missingFile(path: path, expected: "no params.json in this directory")
        }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: paramsPath)) } catch {
            throw FileError.cannotOpen(path: paramsPath, reason: "\(error)")
        }
        let params = try MetaCheckpoint.parseParams(data, path: paramsPath)

        let shardPaths = MetaCheckpoint.shardPaths(directory: path)
        guard !shardPaths.isEmpty else {
            throw MetaCheckpointError.missingFile(path: path, expected: "no consolidated.NN.pth files in this directory")
        }
        for (i, p) in shardPaths.enumerated() {
            let n = Int(p.split(separator: "/").last?.dropFirst("consolidated.".count).dropLast(".pth".count) ?? "") ?? -1
            guard n == i else {
                throw MetaCheckpointError.missingFile(path: path, expected: "shard consolidated.\(String(format: "%02d", i)).pth is missing (shards must be numbered 00, 01, … without gaps)")
            }
        }
        let split = shard.flatMap { $0.size > 1 ? $0 : nil }
        if let split {
            guard shardPaths.count == split.size else {
                throw DistributedError.shardCount(path: path, shards: shardPaths.count, ranks: split.size)
            }
            (config, tensors) = try MetaCheckpoint.readShard(params: params, paramsPath: paramsPath, ranks: split.size, file: shardPaths[split.rank])
            modelParallelShard = split
            openedFiles = [shardPaths[split.rank]]
            let parent = (path as NSString).deletingLastPathComponent
            let tok = CheckpointSupport.tokenizerBeside([path + "/tokenizer.model", parent + "/tokenizer.model"])
            tokenizer = tok.tokenizer
            tokenizerError = tok.error
            return
        }
        modelParallelShard = nil
        openedFiles = shardPaths
        let shards = try shardPaths.map { try MetaShard(path: $0) }
        let first = shards[0]
        for s in shards.dropFirst() where Set(s.names) != Set(first.names) {
            let missing = Set(first.names).symmetricDifference(Set(s.names)).sorted().first ?? "?"
            throw MetaCheckpointError.shardMismatch(path: s.path, tensor: missing, message: "present in some shards only")
        }

        // Vocabulary: params.json, or (when -1 or absent) the embedding's rows.
        guard let emb0 = first.tensors[TensorName.embedding], emb0.shape.count == 2 else {
            throw MetaCheckpointError.badTensor(path: first.path, tensor: TensorName.embedding, message: "missing or not a matrix")
        }
        let n = shards.count
        let embeddingByColumns = n > 1 && CheckpointSupport.mul(emb0.shape[1], n) == params.dim
        let vocab = params.vocabSize ?? (embeddingByColumns ? emb0.shape[0] : emb0.shape[0] * n)

        var merged: [String: WeightTensor] = [:]
        for name in first.names {
            if name == "rope.freqs" { continue }
            guard let axis = MetaCheckpoint.splitAxis(name, embeddingByColumns: embeddingByColumns) else {
                throw MetaCheckpointError.badTensor(path: first.path, tensor: name, message: "is not part of a Llama model")
            }
            let parts = shards.compactMap { $0.tensors[name] }
            merged[name] = try MetaCheckpoint.concatenate(parts, axis: axis, name: name, paths: shardPaths)
        }

        var tied = merged[TensorName.output] == nil
        if let out = merged[TensorName.output], let emb = merged[TensorName.embedding], out.type == emb.type,
           out.shape == emb.shape, out.data.count == emb.data.count,
           let a = out.data.baseAddress, let b = emb.data.baseAddress, memcmp(a, b, out.data.count) == 0 {
            tied = true
            merged[TensorName.output] = nil
        }

        let context = params.useScaledRope ? 131072 : (vocab >= 128000 ? 8192 : 4096)
        let c = ModelConfig(dim: params.dim, layerCount: params.layers, headCount: params.heads, kvHeadCount: params.kvHeads,
                            hiddenDim: ModelConfig.metaHiddenDim(dim: params.dim, multipleOf: params.multipleOf,
                                                                 ffnDimMultiplier: params.ffnDimMultiplier),
                            vocabSize: vocab, normEps: params.normEps, ropeTheta: params.ropeTheta,
                            ropeScaling: params.ropeScaling, maxContext: context, tiedEmbeddings: tied)
        try CheckpointSupport.checkConfig(c) { MetaCheckpointError.badValue(path: paramsPath, key: "(configuration)", message: $0) }
        try CheckpointSupport.validate(merged, config: c, path: path)
        config = c
        tensors = merged

        let parent = (path as NSString).deletingLastPathComponent
        let tok = CheckpointSupport.tokenizerBeside([path + "/tokenizer.model", parent + "/tokenizer.model"])
        tokenizer = tok.tokenizer
        tokenizerError = tok.error
    }


    /// One rank's shard `file` of `n`: its tensors as stored (this rank's slices), and the
    /// configuration of the whole model.
    private static func readShard(params: Params, paramsPath: String, ranks n: Int, file: String) throws
        -> (ModelConfig, [String: WeightTensor]) {
        let s = try MetaShard(path: file)
        guard let emb = s.tensors[TensorName.embedding], emb.shape.count == 2 else {
            throw MetaCheckpointError.badTensor(path: file, tensor: TensorName.embedding, message: "missing or not a matrix")
        }
        let embeddingByColumns = CheckpointSupport.mul(emb.shape[1], n) == params.dim
        let vocab = params.vocabSize ?? (embeddingByColumns ? emb.shape[0] : emb.shape[0] * n)
        var tensors: [String: WeightTensor] = [:]
        for name in s.names where name != "rope.freqs" {
            guard MetaCheckpoint.splitAxis(name, embeddingByColumns: embeddingByColumns) != nil else {
                throw MetaCheckpointError.badTensor(path: file, tensor: name, message: "is not part of a Llama model")
            }
            tensors[name] = s.tensors[name]
        }
        guard tensors[TensorName.output] != nil else {
            throw MetaCheckpointError.badTensor(path: file, tensor: TensorName.output, message: "missing: a model-parallel shard must store its rows of the output")
        }
        let context = params.useScaledRope ? 131072 : (vocab >= 128000 ? 8192 : 4096)
        let c = ModelConfig(dim: params.dim, layerCount: params.layers, headCount: params.heads, kvHeadCount: params.kvHeads,
                            hiddenDim: ModelConfig.metaHiddenDim(dim: params.dim, multipleOf: params.multipleOf,
                                                                 ffnDimMultiplier: params.ffnDimMultiplier),
                            vocabSize: vocab, normEps: params.normEps, ropeTheta: params.ropeTheta,
                            ropeScaling: params.ropeScaling, maxContext: context, tiedEmbeddings: false)
        try CheckpointSupport.checkConfig(c) { MetaCheckpointError.badValue(path: paramsPath, key: "(configuration)", message: $0) }
        return (c, tensors)
    }

    // MARK: params.json

    /// Meta's params.json, with its defaults applied.
    public struct Params: Sendable {
        public var dim: Int, layers: Int, heads: Int, kvHeads: Int
        /// Nil when the file says -1 or nothing (the vocabulary then comes from the weights).
        public var vocabSize: Int?
        public var multipleOf: Int
        public var ffnDimMultiplier: Double?
        public var normEps: Float, ropeTheta: Float
        public var useScaledRope: Bool
        public var ropeScalingFactor: Double?

        /// Llama 3.1's RoPE scaling when `use_scaled_rope` is set, with the file's factor.
        public var ropeScaling: RopeScaling? {
            guard useScaledRope else { return nil }
            var r = RopeScaling.llama31
            if let f = ropeScalingFactor { r.factor = Float(f) }
            return r
        }
    }

    /// Decodes and validates a params.json; `path` names the file in errors.
    public static func parseParams(_ data: Data, path: String) throws -> Params {
        guard let json = (try? JSONSerialization.jsonObject(with: data, options: [])) as? [String: Any] else {
            throw MetaCheckpointError.badValue(path: path, key: "(file)", message: "not a JSON object")
        }
        func present(_ key: String) -> Any? {
            guard let v = json[key], !(v is NSNull) else { return nil }
            return v
        }
        func int(_ key: String, default def: Int? = nil) throws -> Int {
            guard let v = present(key) else {
                if let def { return def }
                throw MetaCheckpointError.missingKey(path: path, key: key)
            }
            guard let i = SafetensorsFile.jsonInt(v), i > 0 else {
                throw MetaCheckpointError.badValue(path: path, key: key, message: "expected a positive integer, found \(v)")
            }
            return i
        }
        func number(_ key: String, default def: Double) throws -> Double {
            guard let v = present(key) else { return def }
            guard let d = v as? Double, d.isFinite, d > 0 else {
                throw MetaCheckpointError.badValue(path: path, key: key, message: "expected a positive number, found \(v)")
            }
            return d
        }
        let dim = try int("dim")
        let heads = try int("n_heads")
        var vocab: Int?
        if let v = present("vocab_size") {
            guard let i = SafetensorsFile.jsonInt(v), i > 0 || i == -1 else {
                throw MetaCheckpointError.badValue(path: path, key: "vocab_size", message: "expected a positive integer or -1, found \(v)")
            }
            vocab = i > 0 ? i : nil
        }
        var ffn: Double?
        if present("ffn_dim_multiplier") != nil { ffn = try number("ffn_dim_multiplier", default: 1) }
        var scaled = false
        if let v = present("use_scaled_rope") {
            guard let b = v as? Bool else {
                throw MetaCheckpointError.badValue(path: path, key: "use_scaled_rope", message: "expected true or false, found \(v)")
            }
            scaled = b
        }
        return Params(dim: dim, layers: try int("n_layers"), heads: heads, kvHeads: try int("n_kv_heads", default: heads),
                      vocabSize: vocab, multipleOf: try int("multiple_of", default: 256), ffnDimMultiplier: ffn,
                      normEps: Float(try number("norm_eps", default: 1e-5)),
                      ropeTheta: Float(try number("rope_theta", default: 10000)), useScaledRope: scaled,
                      ropeScalingFactor: present("rope_scaling_factor") == nil ? nil : try number("rope_scaling_factor", default: 8))
    }

    // MARK: shards

    enum Axis { case rows, columns, replicated }

    /// How Meta's model-parallel layers slice `name` (a canonical name), nil when it is not
    /// a Llama weight.
    static func splitAxis(_ name: String, embeddingByColumns: Bool) -> Axis? {
        guard let role = Architecture.llama.locate(name, in: .canonical).first?.spec.role else { return nil }
        switch role {
        case .tokenEmbedding: return embeddingByColumns ? .columns : .rows
        case .wq, .wk, .wv, .gate, .up, .output: return .rows  // column-parallel
        case .wo, .down: return .columns                        // row-parallel
        case .attentionNorm, .ffnNorm, .finalNorm: return .replicated
        default: return nil  // not in Llama's table
        }
    }

    /// Joins model-parallel slices; a single slice (or a replicated tensor) is returned as is.
    static func concatenate(_ parts: [WeightTensor], axis: Axis, name: String, paths: [String]) throws -> WeightTensor {
        guard let first = parts.first else {
            throw MetaCheckpointError.badTensor(path: paths.first ?? "?", tensor: name, message: "missing")
        }
        for (i, p) in parts.enumerated() where p.type != first.type {
            throw MetaCheckpointError.shardMismatch(path: paths[i], tensor: name, message: "stored as \(p.type.name), shard 0 as \(first.type.name)")
        }
        if parts.count == 1 || axis == .replicated {
            for (i, p) in parts.enumerated() where p.shape != first.shape {
                throw MetaCheckpointError.shardMismatch(path: paths[i], tensor: name, message: "shape \(p.shape), shard 0 has \(first.shape)")
            }
            return first
        }
        guard first.shape.count == 2 else {
            throw MetaCheckpointError.badTensor(path: paths[0], tensor: name, message: "shape \(first.shape) is not a matrix; cannot join shards")
        }
        let elementSize = CheckpointSupport.bytesPerElement(first.type)
        let rows: Int, cols: Int
        switch axis {
        case .rows:
            for (i, p) in parts.enumerated() where p.shape[1] != first.shape[1] {
                throw MetaCheckpointError.shardMismatch(path: paths[i], tensor: name, message: "\(p.shape[1]) columns, shard 0 has \(first.shape[1])")
            }
            rows = parts.reduce(0) { $0 + $1.shape[0] }
            cols = first.shape[1]
        default:
            for (i, p) in parts.enumerated() where p.shape[0] != first.shape[0] {
                throw MetaCheckpointError.shardMismatch(path: paths[i], tensor: name, message: "\(p.shape[0]) rows, shard 0 has \(first.shape[0])")
            }
            rows = first.shape[0]
            cols = parts.reduce(0) { $0 + $1.shape[1] }
        }
        guard let total = CheckpointSupport.product([rows, cols, elementSize]) else {
            throw MetaCheckpointError.badTensor(path: paths[0], tensor: name, message: "joined shape [\(rows), \(cols)] is too large")
        }
        let buffer = OwnedBuffer(byteCount: total)
        guard let dst = buffer.bytes.baseAddress else { return first }
        if axis == .rows {
            var at = 0
            for p in parts {
                if let src = p.data.baseAddress { (dst + at).copyMemory(from: src, byteCount: p.data.count) }
                at += p.data.count
            }
        } else {
            let rowBytes = cols * elementSize
            var columnAt = 0
            for p in parts {
                let partRow = p.shape[1] * elementSize
                if let src = p.data.baseAddress {
                    for r in 0..<rows {
                        (dst + r * rowBytes + columnAt).copyMemory(from: src + r * partRow, byteCount: partRow)
                    }
                }
                columnAt += partRow
            }
        }
        return WeightTensor(name: name, type: first.type, shape: [rows, cols], data: buffer.readOnly, owner: buffer)
    }
}
