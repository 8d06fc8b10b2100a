import Foundation

/// A training run (`RUN/checkpoint.bin`) as a `Checkpoint`, so `llama generate` and
/// `llama export` work on what `llama train` wrote, without conversion.
///
/// The tokenizer is the one the run was trained with: `RUN/tokenizer.*` when present, else
/// the one `llama prepare` copied into the data directory named in the checkpoint.
public final class TrainingRunCheckpoint: Checkpoint, TensorTableCheckpoint, TokenizerLoadReporting, @unchecked Sendable {
    public let path: String
    public let config: ModelConfig
    public let tokenizer: (any Tokenizer)?
    public let tokenizerError: (any Error)?
    let tensors: [String: WeightTensor]
    /// The run's header (config, hyperparameters, step).
    public let header: TrainingCheckpoint.Header

    /// The checkpoint file of a run directory, or `path` itself when it is the file.
    public static func checkpointFile(_ path: String) -> String {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue {
            return path + "/checkpoint.bin"
        }
        return path
    }

    /// True when `path` is a run directory with a checkpoint, or a checkpoint file.
    public static func looksLikeRun(_ path: String) -> Bool {
        let file = checkpointFile(path)
        guard let h = FileHandle(forReadingAtPath: file) else { return false }
        defer { try? h.close() }
        let magic = (try? h.read(upToCount: 4)) ?? Data()
        return Array(magic) == TrainingCheckpoint.magic
    }

    public init(path: String) throws {
        self.path = path
        let file = TrainingRunCheckpoint.checkpointFile(path)
        let ckpt = try TrainingCheckpoint(path: file)
        header = ckpt.header
        let m = ckpt.header.model
        config = m
        let buffer = OwnedBuffer(byteCount: ckpt.params.count * 4)
        ckpt.params.withUnsafeBytes { buffer.bytes.copyMemory(from: $0) }
        var table: [String: WeightTensor] = [:]
        for t in ParameterLayout(m).tensors {
            let data = UnsafeRawBufferPointer(rebasing: buffer.readOnly[(t.offset * 4)..<((t.offset + t.count) * 4)])
            table[t.name] = WeightTensor(name: t.name, type: .f32, shape: t.shape, data: data, owner: buffer)
        }
        tensors = table
        let runDir = file == path ? (path as NSString).deletingLastPathComponent : path
        var candidates = ["tokenizer.tiktoken", "tokenizer.model", "tokenizer.bin"].map { runDir + "/" + $0 }
        let dataDir = ckpt.header.dataDirectory
        if let meta = FileManager.default.contents(atPath: dataDir + "/meta.json"),
           let json = try? JSONSerialization.jsonObject(with: meta) as? [String: Any],
           let name = json["tokenizer"] as? String {
            candidates.append(dataDir + "/" + name)
        }
        let tok = CheckpointSupport.tokenizerBeside(candidates)
        tokenizer = tok.tokenizer
        tokenizerError = tok.error
    }
}
