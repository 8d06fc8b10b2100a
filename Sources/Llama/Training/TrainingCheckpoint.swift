import Foundation

// RUN/checkpoint.bin: everything a training run needs to continue exactly.
//
//   offset 0   magic "LTRC"
//          4   u32 version (1)
//          8   u64 header length H (bytes of JSON)
//         16   header: UTF-8 JSON, `TrainingCheckpoint.Header` (model config, hyperparameters,
//              step, RNG state, AdamW step, data directory and vocabulary, tensor table)
//     16 + H   zero padding to a multiple of 64
//          P   parameters: `param_count` little-endian f32, in `ParameterLayout` order
//              (the header's `tensors` lists name, shape and offset of each)
//      P + 4n  AdamW first moments, same layout
//      P + 8n  AdamW second moments, same layout
//
// The file size must be exactly P + 12·param_count. Written with AtomicFile (temp, fsync,
// rename), so a crash leaves the previous checkpoint intact.

/// A training run's saved state (see the format above).
public struct TrainingCheckpoint {
    public static let magic: [UInt8] = Array("LTRC".utf8)
    public static let version: UInt32 = 1

    public struct TensorEntry: Codable, Sendable {
        public let name: String
        public let shape: [Int]
        public let offset: Int
    }

    public struct Header: Codable, Sendable {
        public var model: ModelConfig
        public var hyper: TrainingHyperparameters
        /// Optimizer steps completed.
        public var step: Int
        /// RNG state after `step` steps, four 64-bit words in hex (JSON numbers lose bits).
        public var rng: [String]
        public var adamStep: Int
        /// Seconds spent in training steps so far (excludes evaluation and saving).
        public var trainSeconds: Double
        public var dataDirectory: String
        public var dataVocabSize: Int
        public var paramCount: Int
        public var tensors: [TensorEntry]

        // Coded in the extension below: the model as `ModelJSON`.
        enum CodingKeys: String, CodingKey {
            case model, hyper, step, rng, adamStep = "adam_step", trainSeconds = "train_seconds"
            case dataDirectory = "data_directory", dataVocabSize = "data_vocab_size"
            case paramCount = "param_count", tensors
        }
    }

    public var header: Header
    public var params: [Float]
    public var m: [Float]
    public var v: [Float]

    public init(header: Header, params: [Float], m: [Float], v: [Float]) {
        self.header = header
        self.params = params
        self.m = m
        self.v = v
    }

    public func encoded() throws -> Data {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let json = try enc.encode(header)
        var d = Data()
        d.append(contentsOf: TrainingCheckpoint.magic)
        withUnsafeBytes(of: TrainingCheckpoint.version.littleEndian) { d.append(contentsOf: $0) }
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { d.append(contentsOf: $0) }
        d.append(json)
        let pad = (64 - d.count % 64) % 64
        d.append(Data(count: pad))
        // x86-64 and arm64 are little-endian: the floats are written as they are in memory.
        for a in [params, m, v] { a.withUnsafeBytes { d.append(contentsOf: $0) } }
        return d
    }

    /// Writes atomically to `path`.
    public func write(to path: String) throws {
        try AtomicFile.write(try encoded(), to: path)
    }

    /// Reads only the header (model, hyperparameters, step) of the checkpoint at `path`.
    public static func readHeader(path: String) throws -> Header {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw TrainingError.badCheckpoint(path: path, reason: "cannot read the file")
        }
        defer { try? handle.close() }
        let fileSize = (try? handle.seekToEnd()).map(Int.init) ?? 0
        try handle.seek(toOffset: 0)
        let prefix = (try handle.read(upToCount: 16)) ?? Data()
        let length = try headerLength(prefix, fileSize: fileSize, path: path)
        let json = (try handle.read(upToCount: length)) ?? Data()
        return try decodeHeader(json, path: path)
    }

    /// Checks the first 16 bytes (magic, version) and returns the header's length, which
    /// must fit in a file of `fileSize` bytes.
    private static func headerLength(_ prefix: Data, fileSize: Int, path: String) throws -> Int {
        func fail(_ r: String) -> TrainingError { .badCheckpoint(path: path, reason: r) }
        let bytes = [UInt8](prefix)
        guard bytes.count >= 16, Array(bytes[0..<4]) == TrainingCheckpoint.magic else { throw fail("missing \"LTRC\" magic") }
        func u32(_ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(bytes[o + $1]) << (8 * $1) } }
        func u64(_ o: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[o + $1]) << (8 * $1) } }
        guard u32(4) == TrainingCheckpoint.version else { throw fail("version \(u32(4)), expected \(TrainingCheckpoint.version)") }
        let h = u64(8)
        guard h <= UInt64(fileSize - 16) else { throw fail("header length \(h) exceeds the file") }
        return Int(h)
    }

    private static func decodeHeader(_ json: Data, path: String) throws -> Header {
        do {
            return try JSONDecoder().decode(Header.self, from: json)
        } catch {
            throw TrainingError.badCheckpoint(path: path, reason: "header JSON: \(error)")
        }
    }

    /// Reads and validates a checkpoint.
    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TrainingError.badCheckpoint(path: path, reason: "cannot read the file")
        }
        func fail(_ r: String) -> TrainingError { .badCheckpoint(path: path, reason: r) }
        let headerEnd = 16 + (try TrainingCheckpoint.headerLength(data.prefix(16), fileSize: data.count, path: path))
        header = try TrainingCheckpoint.decodeHeader(data.subdata(in: 16..<headerEnd), path: path)
        try header.model.validateForTraining()
        let layout = ParameterLayout(header.model)
        guard header.paramCount == layout.count else {
            throw fail("param_count \(header.paramCount) but the model config has \(layout.count) parameters")
        }
        guard header.rng.count == 4, header.rng.allSatisfy({ UInt64($0, radix: 16) != nil }) else {
            throw fail("rng: expected four hex words")
        }
        let start = headerEnd + (64 - headerEnd % 64) % 64
        let n = layout.count
        guard data.count == start + 12 * n else {
            throw fail("size \(data.count) bytes, expected \(start + 12 * n) for \(n) parameters")
        }
        func floats(_ i: Int) -> [Float] {
            [Float](unsafeUninitializedCapacity: n) { buf, count in
                _ = data.withUnsafeBytes { raw in
                    memcpy(buf.baseAddress!, raw.baseAddress! + start + i * 4 * n, 4 * n)
                }
                count = n
            }
        }
        params = floats(0)
        m = floats(1)
        v = floats(2)
    }
}

extension TrainingCheckpoint.Header {
    /// The model in the header's JSON: `llama train`'s flag names, and the architecture by
    /// name (left out for llama, as checkpoints written before `--qkv-bias` have it).
    struct ModelJSON: Codable {
        var vocabSize, dim, layers, heads, kvHeads, hidden, context: Int
        var tiedEmbeddings: Bool
        var normEps, ropeTheta: Float
        var architecture: String?

        enum CodingKeys: String, CodingKey {
            case vocabSize = "vocab_size", dim, layers, heads, kvHeads = "kv_heads", hidden, context
            case tiedEmbeddings = "tied_embeddings", normEps = "norm_eps", ropeTheta = "rope_theta", architecture
        }

        init(_ m: ModelConfig) {
            (vocabSize, dim, layers, heads, kvHeads, hidden, context) =
                (m.vocabSize, m.dim, m.layerCount, m.headCount, m.kvHeadCount, m.hiddenDim, m.maxContext)
            (tiedEmbeddings, normEps, ropeTheta) = (m.tiedEmbeddings, m.normEps, m.ropeTheta)
            architecture = m.architecture == .llama ? nil : m.architecture.name
        }

        func config(codingPath: [any CodingKey]) throws -> ModelConfig {
            let name = architecture ?? Architecture.llama.name
            guard let a = trainableArchitectures.first(where: { $0.name == name }) else {
                throw DecodingError.dataCorrupted(.init(codingPath: codingPath,
                    debugDescription: "architecture \"\(name)\" is not one llama train makes"))
            }
            return .training(vocabSize: vocabSize, dim: dim, layerCount: layers, headCount: heads, kvHeadCount: kvHeads,
                             hiddenDim: hidden, context: context, tiedEmbeddings: tiedEmbeddings, architecture: a,
                             normEps: normEps, ropeTheta: ropeTheta)
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let path = c.codingPath + [CodingKeys.model]
        self.init(model: try c.decode(ModelJSON.self, forKey: .model).config(codingPath: path),
                  hyper: try c.decode(TrainingHyperparameters.self, forKey: .hyper),
                  step: try c.decode(Int.self, forKey: .step), rng: try c.decode([String].self, forKey: .rng),
                  adamStep: try c.decode(Int.self, forKey: .adamStep),
                  trainSeconds: try c.decode(Double.self, forKey: .trainSeconds),
                  dataDirectory: try c.decode(String.self, forKey: .dataDirectory),
                  dataVocabSize: try c.decode(Int.self, forKey: .dataVocabSize),
                  paramCount: try c.decode(Int.self, forKey: .paramCount),
                  tensors: try c.decode([TrainingCheckpoint.TensorEntry].self, forKey: .tensors))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(ModelJSON(model), forKey: .model)
        try c.encode(hyper, forKey: .hyper)
        try c.encode(step, forKey: .step)
        try c.encode(rng, forKey: .rng)
        try c.encode(adamStep, forKey: .adamStep)
        try c.encode(trainSeconds, forKey: .trainSeconds)
        try c.encode(dataDirectory, forKey: .dataDirectory)
        try c.encode(dataVocabSize, forKey: .dataVocabSize)
        try c.encode(paramCount, forKey: .paramCount)
        try c.encode(tensors, forKey: .tensors)
    }
}
