import Foundation

public enum TokenizerLoadError: Error, CustomStringConvertible {
    case unrecognized(path: String, reason: String)
    case malformed(path: String, reason: String)
    case unsupportedPreTokenizer(path: String, name: String, supported: String)

    public var description: String {
        switch self {
        case let .unsupportedPreTokenizer(path, name, supported):
            return "\(path): pre-tokenizer \"\(name)\" (tokenizer.ggml.pre) is not supported; supported: \(supported). "
                + "Give another tokenizer (a tokenizer.json, tokenizer.model or GGUF file) with --tokenizer"
        case let .unrecognized(path, reason): return "\(path): not a tokenizer this tool reads: \(reason)"
        case let .malformed(path, reason): return "\(path): \(reason)"
        }
    }
}

/// Opens any tokenizer file, detecting its kind from the content, not the name.
public enum TokenizerLoader {
    /// Loads a tiktoken `tokenizer.model`, a SentencePiece `tokenizer.model`, a Hugging Face
    /// `tokenizer.json`, a GGUF file or a llama2.c `tokenizer.bin`. A folder stands for the
    /// `tokenizer.json` in it, or else its `tokenizer.model`.
    public static func load(path: String) throws -> any Tokenizer {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            for name in ["tokenizer.json", "tokenizer.model"] {
                let p = (path as NSString).appendingPathComponent(name)
                if FileManager.default.fileExists(atPath: p) { return try load(path: p) }
            }
            throw TokenizerLoadError.unrecognized(path: path, reason: "a folder without tokenizer.json or tokenizer.model")
        }
        let file = try MappedFile(path: path)
        let prefix = Array(file.bytes.prefix(64))
        guard !prefix.isEmpty else {
            throw TokenizerLoadError.unrecognized(path: path, reason: "the file is empty")
        }
        if GGUFFile.looksLikeGGUF(prefix) {
            return try load(gguf: try GGUFFile(file: file))
        }
        if HuggingFaceTokenizer.looksLikeTokenizerJSON(prefix) {
            return try HuggingFaceTokenizer.load(path: path)
        }
        if TiktokenFile.looksLikeTiktoken(prefix) {
            return try TiktokenFile.parse(Data(file.bytes), path: path)
        }
        if SentencePieceTokenizer.looksLikeSentencePieceModel(prefix) {
            return try SentencePieceTokenizer.fromModelProto(file.bytes, path: path)
        }
        if SentencePieceTokenizer.looksLikeLlama2cTokenizer(prefix) {
            return try SentencePieceTokenizer.fromLlama2c(file.bytes, path: path)
        }
        throw TokenizerLoadError.unrecognized(path: path, reason: "expected a tiktoken or SentencePiece tokenizer.model, a tokenizer.json, a GGUF file or a llama2.c tokenizer.bin")
    }

    /// The vocabulary stored in a GGUF file's metadata.
    public static func load(gguf: GGUFFile) throws -> any Tokenizer {
        guard gguf.metadata["tokenizer.ggml.model"] != nil else {
            throw TokenizerLoadError.unrecognized(path: gguf.path, reason: "this GGUF file has no vocabulary (no tokenizer.ggml.model key)")
        }
        let model = try gguf.string("tokenizer.ggml.model")
        switch model {
        case "gpt2":
            return try ByteLevelBPETokenizer.fromGGUF(gguf)
        case "llama":
            return try SentencePieceTokenizer.fromGGUF(gguf)
        default:
            throw TokenizerLoadError.unrecognized(path: gguf.path, reason: "tokenizer.ggml.model \"\(model)\" is not supported (expected gpt2 or llama)")
        }
    }
}
