/// Writes any checkpoint as a GGUF file that llama.cpp runs: the weights in F32, F16 or BF16
/// (norms stay F32, as llama.cpp does) and, when the checkpoint has one, its tokenizer as GGUF
/// vocabulary metadata (`GGUFVocabularyWriter`).
public enum GGUFExport {
    public static func write(_ checkpoint: any Checkpoint, to path: String, type: GGMLType) throws {
        var w = try Quantizer.gguf(checkpoint, as: type, source: nil)
        if let tok = checkpoint.tokenizer {
            try GGUFVocabularyWriter.write(tok, into: &w)
        }
        try w.write(to: path)
    }
}
