import Foundation

// Format detection, from content rather than file names:
//   directory with config.json and model.safetensors(.index.json)  → Hugging Face
//   directory with params.json and consolidated.NN.pth             → Meta
//   file starting with "GGUF"                                      → GGUF
//   file whose first 28 bytes are a plausible llama2.c header describing exactly the
//   file's size                                                    → llama2.c
//   anything else                                                  → an error saying what was expected

/// Why no checkpoint format matched, or an explicit tokenizer could not be used.
public enum CheckpointLoaderError: Error, CustomStringConvertible {
    case notFound(path: String)
    case unrecognizedDirectory(path: String)
    case unrecognizedFile(path: String, reason: String)
    case tokenizer(path: String, underlying: any Error)

    public var description: String {
        switch self {
        case let .notFound(path):
            return "\(path): no such file or directory"
        case let .unrecognizedDirectory(path):
            return "\(path): not a checkpoint directory: expected config.json with model.safetensors or model.safetensors.index.json (Hugging Face), or params.json with consolidated.00.pth (Meta)"
        case let .unrecognizedFile(path, reason):
            return "\(path): not a checkpoint file: expected a GGUF file (starting with \"GGUF\") or a llama2.c .bin (7 int32 header matching the file size); \(reason)"
        case let .tokenizer(path, underlying):
            return "\(path): cannot load the tokenizer: \(underlying)"
        }
    }
}

/// A checkpoint whose tokenizer was replaced by one the caller chose.
public struct TokenizerOverride: Checkpoint, TokenizerLoadReporting {
    /// The checkpoint whose weights and configuration are used.
    public let base: any Checkpoint
    public let tokenizer: (any Tokenizer)?

    /// Wraps `base`, replacing its tokenizer with `tokenizer`.
    public init(base: any Checkpoint, tokenizer: any Tokenizer) {
        self.base = base
        self.tokenizer = tokenizer
    }

    public var tokenizerError: (any Error)? { nil }
    public var path: String { base.path }
    public var config: ModelConfig { base.config }
    public func tensor(_ name: String) throws -> WeightTensor { try base.tensor(name) }
    public func ropeFrequencyFactors() throws -> [Float]? { try base.ropeFrequencyFactors() }
    public var chatTemplates: [String: String] { base.chatTemplates }
    public var modelParallelShard: TensorParallel? { base.modelParallelShard }
}

/// Opens a checkpoint of any supported format, detected from content.
public enum CheckpointLoader {
    /// The formats `load` recognizes.
    public enum Format: String, Sendable, Equatable {
        case huggingFace, meta, gguf, llama2c, trainingRun
    }

    /// The format of the file or directory at `path`, or a descriptive error.
    public static func detect(path: String) throws -> Format {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw CheckpointLoaderError.notFound(path: path)
        }
        let fm = FileManager.default
        if TrainingRunCheckpoint.looksLikeRun(path) { return .trainingRun }
        if isDirectory.boolValue {
            if fm.fileExists(atPath: path + "/config.json"),
               fm.fileExists(atPath: path + "/model.safetensors") || fm.fileExists(atPath: path + "/model.safetensors.index.json") {
                return .huggingFace
            }
            if fm.fileExists(atPath: path + "/params.json"), !MetaCheckpoint.shardPaths(directory: path).isEmpty {
                return .meta
            }
            throw CheckpointLoaderError.unrecognizedDirectory(path: path)
        }
        let file = try MappedFile(path: path)
        if GGUFFile.looksLikeGGUF(file.bytes.prefix(4)) { return .gguf }
        guard file.count >= Llama2cHeader.byteCount else {
            throw CheckpointLoaderError.unrecognizedFile(path: path, reason: "it is only \(file.count) bytes")
        }
        do {
            let h = try Llama2cHeader(bytes: file.bytes, fileSize: file.count, path: path)
            guard h.expectedFileSize == file.count else {
                throw CheckpointLoaderError.unrecognizedFile(path: path,
                    reason: "its first 28 bytes read as a llama2.c header for a \(h.expectedFileSize)-byte file, but it is \(file.count) bytes")
            }
            return .llama2c
        } catch let e as Llama2cError {
            throw CheckpointLoaderError.unrecognizedFile(path: path, reason: "as a llama2.c header: \(e)")
        }
    }

    /// `path` is a file (GGUF, llama2.c `.bin`) or a directory (Hugging Face, Meta).
    /// `tokenizerPath` overrides the tokenizer found beside or inside the checkpoint; when it
    /// is given and cannot be loaded, this throws. With `shard` (a rank of a model-parallel
    /// job, more than one rank), a Meta directory opens only that rank's shard; other formats
    /// are whole here and sliced by `LlamaModel`.
    public static func load(path: String, tokenizerPath: String? = nil, shard: TensorParallel? = nil) throws -> any Checkpoint {
        let checkpoint: any Checkpoint
        switch try detect(path: path) {
        case .huggingFace: checkpoint = try HuggingFaceCheckpoint(path: path)
        case .meta: checkpoint = try MetaCheckpoint(path: path, shard: shard)
        case .gguf: checkpoint = try GGUFCheckpoint(path: path)
        case .llama2c: checkpoint = try Llama2cCheckpoint(path: path)
        case .trainingRun: checkpoint = try TrainingRunCheckpoint(path: path)
        }
        guard let tokenizerPath else { return checkpoint }
        let tokenizer: any Tokenizer
        do { tokenizer = try TokenizerLoader.load(path: tokenizerPath) } catch {
            throw CheckpointLoaderError.tokenizer(path: tokenizerPath, underlying: error)
        }
        return TokenizerOverride(base: checkpoint, tokenizer: tokenizer)
    }
}
