import Foundation

// llama2.c's `tokenizer.bin` (written by its `tokenizer.py export`), little-endian:
//   i32 max_token_length                      the longest piece, in bytes
//   then, until the end of the file, per id:  f32 score, i32 length, `length` bytes of piece
// There is no count and no piece type. The export replaced SentencePiece's "▁" by a plain
// space and stored BOS and EOS as "\n<s>\n" and "\n</s>\n"; ids 0, 1, 2 are unknown, BOS and
// EOS (SentencePiece's defaults, which the export assumes), `<0xXX>` pieces are bytes.

extension SentencePieceTokenizer {
    /// Largest max_token_length accepted: SentencePiece pieces are at most a few dozen bytes.
    static let llama2cMaxPieceLength = 4096

    /// True when the bytes start like a llama2.c `tokenizer.bin`: a plausible maximum piece
    /// length, then a first entry with a finite score and a length within that maximum.
    public static func looksLikeLlama2cTokenizer(_ prefix: some Collection<UInt8>) -> Bool {
        let b = Array(prefix.prefix(64))
        guard b.count >= 12 else { return false }
        func i32(_ o: Int) -> Int { Int(Int32(bitPattern: UInt32(b[o]) | UInt32(b[o + 1]) << 8 | UInt32(b[o + 2]) << 16 | UInt32(b[o + 3]) << 24)) }
        let maxLen = i32(0)
        guard maxLen >= 1, maxLen <= llama2cMaxPieceLength else { return false }
        let score = Float(bitPattern: UInt32(truncatingIfNeeded: i32(4)))
        let len = i32(8)
        guard score.isFinite, len >= 1, len <= maxLen else { return false }
        // Then the piece itself, as far as the prefix shows it, should not contain NUL bytes.
        return !b[12..<min(b.count, 12 + len)].contains(0)
    }

    /// Loads a llama2.c `tokenizer.bin`.
    public static func load(llama2cPath path: String) throws -> SentencePieceTokenizer {
        let file = try MappedFile(path: path)
        return try fromLlama2c(file.bytes, path: path)
    }

    /// Builds a tokenizer from the bytes of a llama2.c `tokenizer.bin`.
    public static func fromLlama2c(_ bytes: UnsafeRawBufferPointer, path: String) throws -> SentencePieceTokenizer {
        var r = ByteReader(bytes)
        var entries: [SentencePieceEntry] = []
        do {
            let maxLen = Int(try r.read(Int32.self, "max_token_length"))
            guard maxLen >= 1, maxLen <= llama2cMaxPieceLength else {
                throw SentencePieceLoadError.malformed(path: path, offset: 0, message: "max_token_length is \(maxLen), expected 1 to \(llama2cMaxPieceLength)")
            }
            while !r.isAtEnd {
                let at = r.offset
                let i = entries.count
                let score = try r.readFloat32("score of piece \(i)")
                let len = Int(try r.read(Int32.self, "length of piece \(i)"))
                guard len >= 1, len <= maxLen else {
                    throw SentencePieceLoadError.malformed(path: path, offset: at + 4, message: "piece \(i) has length \(len), expected 1 to max_token_length \(maxLen)")
                }
                let raw = Array(try r.readBytes(len, "piece \(i)"))
                entries.append(llama2cEntry(raw, id: i, score: score))
            }
        } catch let e as ByteReaderError {
            throw SentencePieceLoadError.malformed(path: path, offset: e.offset, message: e.message)
        }
        guard entries.count >= 3 else {
            throw SentencePieceLoadError.invalidVocabulary(path: path, message: "only \(entries.count) pieces; ids 0, 1 and 2 must be unknown, BOS and EOS")
        }
        var cfg = Configuration()
        cfg.unknownID = 0
        cfg.bosID = 1
        cfg.eosID = 2
        cfg.byteFallback = entries.contains { $0.type == .byte }
        cfg.specialTextRule = .sentencePiece
        cfg.extraEndOfGenerationIDs = endOfTurnIDs(entries, promote: false)
        return try SentencePieceTokenizer(entries: entries, configuration: cfg, source: path)
    }

    /// Undoes the export's changes to one piece and infers its type.
    static func llama2cEntry(_ raw: [UInt8], id: Int, score: Float) -> SentencePieceEntry {
        switch id {
        case 0: return SentencePieceEntry(bytes: raw, score: score, type: .unknown)
        case 1, 2:
            var p = raw
            // "\n<s>\n" → "<s>": the export wrapped the names in newlines for llama2.c's printing.
            if p.count >= 2, p.first == 0x0A, p.last == 0x0A { p = Array(p.dropFirst().dropLast()) }
            return SentencePieceEntry(bytes: p.isEmpty ? raw : p, score: score, type: .control)
        default:
            if byteValue(ofPiece: raw) != nil { return SentencePieceEntry(bytes: raw, score: score, type: .byte) }
            var p: [UInt8] = []
            p.reserveCapacity(raw.count + 8)
            for b in raw {
                if b == 0x20 { p.append(contentsOf: spaceSymbol) } else { p.append(b) }
            }
            return SentencePieceEntry(bytes: p, score: score, type: .normal)
        }
    }
}

extension SentencePieceTokenizer {
    /// Loads any of the three SentencePiece vocabulary files, recognised by content: a GGUF file
    /// with `tokenizer.ggml.model` = "llama", a SentencePiece `tokenizer.model`, or a llama2.c
    /// `tokenizer.bin`.
    public static func load(path: String) throws -> SentencePieceTokenizer {
        let file = try MappedFile(path: path)
        let prefix = file.bytes.prefix(64)
        if GGUFFile.looksLikeGGUF(prefix) {
            return try fromGGUF(try GGUFFile(file: file))
        }
        if looksLikeSentencePieceModel(prefix) {
            return try fromModelProto(file.bytes, path: path)
        }
        if looksLikeLlama2cTokenizer(prefix) {
            return try fromLlama2c(file.bytes, path: path)
        }
        throw SentencePieceLoadError.unsupported(path: path, message: "not a SentencePiece model, a GGUF file or a llama2.c tokenizer.bin")
    }
}
