import Foundation

public enum TokenizerLoadError: Error, CustomStringConvertible {
    case unrecognized(path: String, reason: String)
    case malformed(path: String, reason: String)

    public var description: String {
        switch self {
        case let .unrecognized(path, reason): return "\(path): not a tokenizer this tool reads: \(reason)"
        case let .malformed(path, reason): return "\(path): \(reason)"
        }
    }
}

/// Opens any tokenizer file, detecting its kind from the content.
public enum TokenizerLoader {
    /// Loads a tiktoken `tokenizer.model`, a SentencePiece `tokenizer.model`, a GGUF file or
    /// a llama2.c `tokenizer.bin`.
    public static func load(path: String) throws -> any Tokenizer {
        throw TokenizerLoadError.unrecognized(path: path, reason: "not implemented yet")
    }

    /// The vocabulary stored in a GGUF file's metadata.
    public static func load(gguf: GGUFFile) throws -> any Tokenizer {
        throw TokenizerLoadError.unrecognized(path: gguf.path, reason: "not implemented yet")
    }
}
