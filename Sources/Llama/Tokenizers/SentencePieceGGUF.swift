import Foundation

// A SentencePiece vocabulary inside a GGUF file (`tokenizer.ggml.model` = "llama"), as llama.cpp
// writes and reads it:
//   tokenizer.ggml.tokens            string[n]   the pieces, "▁" for spaces, `<0xXX>` bytes
//   tokenizer.ggml.scores            f32[≥n]     merge scores (absent: all 0)
//   tokenizer.ggml.token_type        i32[≥n]     1 normal, 2 unknown, 3 control, 4 user defined,
//                                                5 unused, 6 byte (absent: all normal)
//   tokenizer.ggml.bos_token_id / eos_token_id / unknown_token_id   (defaults 1, 2, 0)
//   tokenizer.ggml.eot_token_id / eom_token_id                      (optional end of turn)
//   tokenizer.ggml.add_space_prefix  bool        the dummy prefix (default true)
//   tokenizer.ggml.add_bos_token     bool        (default true)
// llama.cpp never removes extra whitespace for these, always falls back to bytes, and splits
// USER_DEFINED pieces out of the text as it does special tokens.

extension SentencePieceTokenizer {
    /// True when a GGUF file's metadata holds a SentencePiece vocabulary.
    public static func isSentencePieceGGUF(_ f: GGUFFile) -> Bool {
        f.metadata["tokenizer.ggml.model"]?.string == "llama"
    }

    /// Loads the vocabulary embedded in a GGUF file with `tokenizer.ggml.model` = "llama".
    public static func load(ggufPath path: String) throws -> SentencePieceTokenizer {
        try fromGGUF(try GGUFFile(path: path))
    }

    /// The SentencePiece vocabulary in a GGUF file's metadata, with llama.cpp's rules for
    /// special tokens (including its Phi-3 whitespace handling and end-of-turn detection).
    public static func fromGGUF(_ f: GGUFFile) throws -> SentencePieceTokenizer {
        let path = f.path
        let model = try f.string("tokenizer.ggml.model")
        guard model == "llama" else {
            throw SentencePieceLoadError.unsupported(path: path, message: "tokenizer.ggml.model is \"\(model)\", not \"llama\" (SentencePiece)")
        }
        var tokens = try f.stringArray("tokenizer.ggml.tokens")
        let n = tokens.count
        guard n > 0 else { throw SentencePieceLoadError.invalidVocabulary(path: path, message: "tokenizer.ggml.tokens is empty") }
        let scores = try f.optionalFloatArray("tokenizer.ggml.scores")
        let types = try f.optionalIntArray("tokenizer.ggml.token_type")
        if let scores, scores.count < n {
            throw SentencePieceLoadError.invalidVocabulary(path: path, message: "tokenizer.ggml.scores has \(scores.count) entries for \(n) tokens")
        }
        if let types, types.count < n {
            throw SentencePieceLoadError.invalidVocabulary(path: path, message: "tokenizer.ggml.token_type has \(types.count) entries for \(n) tokens")
        }
        var entries: [SentencePieceEntry] = []
        entries.reserveCapacity(n)
        for i in 0..<n {
            // llama.cpp renames empty tokens rather than refusing the file.
            if tokens[i].isEmpty { tokens[i] = "[EMPTY_\(i)]" }
            var type = SentencePieceType.normal
            if let types {
                guard types[i] >= 1, types[i] <= 6, let t = SentencePieceType(rawValue: UInt8(types[i])) else {
                    throw SentencePieceLoadError.invalidVocabulary(path: path, message: "tokenizer.ggml.token_type[\(i)] is \(types[i]), expected 1 to 6")
                }
                type = t
            }
            if type == .byte && byteValue(ofPiece: Array(tokens[i].utf8)) == nil {
                throw SentencePieceLoadError.invalidVocabulary(path: path, message: "byte token \(i) \"\(tokens[i])\" is not of the form <0xXX>")
            }
            entries.append(SentencePieceEntry(bytes: Array(tokens[i].utf8), score: scores?[i] ?? 0, type: type))
        }

        // A key that is present must be a valid id; an absent one keeps llama.cpp's default,
        // dropped when the vocabulary is too small for it.
        func id(_ key: String, default def: Int?) throws -> Int? {
            if let v = try f.optionalInt(key) {
                guard v >= 0, v < n else {
                    throw SentencePieceLoadError.invalidVocabulary(path: path, message: "\(key) = \(v) is outside the \(n) tokens")
                }
                return v
            }
            if let def, def < n { return def }
            return nil
        }
        var cfg = Configuration()
        cfg.bosID = try id("tokenizer.ggml.bos_token_id", default: 1)
        cfg.eosID = try id("tokenizer.ggml.eos_token_id", default: 2)
        cfg.unknownID = try id("tokenizer.ggml.unknown_token_id", default: 0) ?? 0
        cfg.addDummyPrefix = try f.optionalBool("tokenizer.ggml.add_space_prefix") ?? true
        cfg.addBOS = try f.optionalBool("tokenizer.ggml.add_bos_token") ?? true
        cfg.removeExtraWhitespaces = false
        cfg.escapeWhitespaces = true
        cfg.byteFallback = true
        cfg.specialTextRule = .llamaCpp

        _ = try id("tokenizer.ggml.eot_token_id", default: nil)
        _ = try id("tokenizer.ggml.eom_token_id", default: nil)
        // llama.cpp recognises end-of-turn and fill-in-the-middle tokens by their text and makes
        // them CONTROL (LlamaCppTokenTypes.swift), so they are only split out of text when
        // special tokens are allowed and decode to nothing.
        let corrected = LlamaCppTokenTypes(texts: tokens, types: entries.map { Int($0.type.rawValue) }) { key in
            guard let v = try? f.optionalInt(key), v >= 0, v < n else { return nil }
            return v
        }
        for i in corrected.promoted {
            if let t = SentencePieceType(rawValue: UInt8(corrected.types[i])) { entries[i].type = t }
        }
        cfg.extraEndOfGenerationIDs = corrected.endOfGeneration

        // llama.cpp's per-model attributes: for Phi-3 (by general.name) every special token but
        // <unk>, <s> and <|endoftext|> swallows the whitespace after it.
        let name = (f.metadata["general.name"]?.string ?? "").lowercased()
        if name.contains("phi-3") || name.contains("phi3") {
            var rstrip: Set<TokenID> = []
            for (i, e) in entries.enumerated() where e.type == .control || e.type == .userDefined || e.type == .unknown {
                rstrip.insert(i)
            }
            for (i, e) in entries.enumerated() {
                let text = String(decoding: e.bytes, as: UTF8.self)
                if text == "</s>" { rstrip.insert(i) }
                if text == "<unk>" || text == "<s>" || text == "<|endoftext|>" { rstrip.remove(i) }
            }
            cfg.rightStripIDs = rstrip
        }
        return try SentencePieceTokenizer(entries: entries, configuration: cfg, source: path)
    }
}
