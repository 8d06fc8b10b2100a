import Foundation

/// The token streams of a `llama prepare` directory: DIR/meta.json names the train and
/// validation shards; each split is the concatenation of its shards, in order.
public struct TrainingData: Sendable {
    public let directory: String
    /// The tokenizer `llama prepare` copied beside the shards, if any.
    public let tokenizerFile: String?
    public let vocabSize: Int
    public let train: [Int32]
    public let val: [Int32]

    public init(directory: String) throws {
        // Absolute, so a checkpoint that records it still finds the data from elsewhere.
        self.directory = URL(fileURLWithPath: directory).standardizedFileURL.path
        let metaPath = directory + "/meta.json"
        guard let data = FileManager.default.contents(atPath: metaPath) else {
            throw TrainingError.badData(path: metaPath, reason: "cannot read (is \(directory) a `llama prepare` output directory?)")
        }
        guard let meta = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw TrainingError.badData(path: metaPath, reason: "not a JSON object")
        }
        guard let vocab = meta["vocab_size"] as? Int, vocab > 0 else {
            throw TrainingError.badData(path: metaPath, reason: "missing or invalid \"vocab_size\"")
        }
        vocabSize = vocab
        if let name = meta["tokenizer"] as? String, !name.contains("/") {
            tokenizerFile = self.directory + "/" + name
        } else {
            tokenizerFile = nil
        }
        func split(_ key: String) throws -> [Int32] {
            guard let files = meta[key] as? [String] else {
                throw TrainingError.badData(path: metaPath, reason: "missing \"\(key)\" (list of shard files)")
            }
            var ids: [Int32] = []
            for f in files {
                guard !f.contains("/") else { throw TrainingError.badData(path: metaPath, reason: "\(key): \(f) is not a file name") }
                let shard = try TokenShard(path: directory + "/" + f)
                guard shard.vocabularySize == vocab else {
                    throw TrainingError.badData(path: shard.path, reason: "made with a vocabulary of \(shard.vocabularySize) tokens, meta.json says \(vocab)")
                }
                ids.reserveCapacity(ids.count + shard.count)
                for i in 0..<shard.count {
                    let id = shard[i]
                    guard id >= 0 && id < vocab else {
                        throw TrainingError.badData(path: shard.path, reason: "token \(i) is \(id), outside the vocabulary of \(vocab)")
                    }
                    ids.append(Int32(id))
                }
            }
            return ids
        }
        train = try split("train_files")
        val = try split("val_files")
    }

    /// Streams given directly (tests).
    public init(train: [Int32], val: [Int32], vocabSize: Int, directory: String = "") {
        self.train = train
        self.val = val
        self.vocabSize = vocabSize
        self.directory = directory
        tokenizerFile = nil
    }
}
