// A GGUF vocabulary with `tokenizer.ggml.model` = "gpt2": byte-level BPE.
//
//   tokenizer.ggml.tokens      [string]  token text in GPT-2's byte-to-character mapping
//                                        (printable bytes stand for themselves, the others
//                                        for U+0100 onwards, so a space is "Ġ")
//   tokenizer.ggml.token_type  [i32]     1 normal, 2 unknown, 3 control, 4 user-defined,
//                                        5 unused, 6 byte
//   tokenizer.ggml.merges      [string]  "left right" in the same mapping, highest priority first
//   tokenizer.ggml.pre         string    pre-tokenizer name ("llama-bpe", "qwen2", …)
//   tokenizer.ggml.bos_token_id / eos_token_id / eot_token_id   u32

extension ByteLevelBPETokenizer {
    /// GPT-2's byte → character mapping (index: byte), the alphabet byte-level vocabularies
    /// (GGUF `gpt2`, tokenizer.json) write their tokens in.
    public static let byteToCharacter: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: "\0", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt8(b))
            } else {
                table[b] = Unicode.Scalar(next) ?? "\0"
                next += 1
            }
        }
        return table
    }()

    static let characterToByte: [UInt32: UInt8] = {
        var m: [UInt32: UInt8] = [:]
        for (b, c) in byteToCharacter.enumerated() { m[c.value] = UInt8(b) }
        return m
    }()

    /// Raw bytes of a token written in the byte-level mapping; nil if a character is outside it.
    static func bytesFromMapped(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.unicodeScalars.count)
        for s in text.unicodeScalars {
            guard let b = characterToByte[s.value] else { return nil }
            out.append(b)
        }
        return out
    }

    /// Builds the tokenizer from a GGUF file's `gpt2` vocabulary.
    /// `preTokenizerOverride` replaces the file's `tokenizer.ggml.pre` (a llama.cpp name).
    public static func fromGGUF(_ f: GGUFFile, preTokenizerOverride: String? = nil) throws -> ByteLevelBPETokenizer {
        let path = f.path
        let model = try f.string("tokenizer.ggml.model")
        guard model == "gpt2" else {
            throw TokenizerLoadError.malformed(path: path, reason: "tokenizer.ggml.model is \"\(model)\", expected \"gpt2\" for byte-level BPE")
        }
        let preName = try preTokenizerOverride ?? f.optionalString("tokenizer.ggml.pre") ?? "default"
        guard let (preTokenizer, preEntry) = PreTokenizer.llamaCpp(named: preName) else {
            let known = PreTokenizer.llamaCppNames.joined(separator: ", ")
            throw TokenizerLoadError.unsupportedPreTokenizer(path: path, name: preName, supported: known)
        }
        let tokens = try f.stringArray("tokenizer.ggml.tokens")
        let types = try f.optionalIntArray("tokenizer.ggml.token_type") ?? [Int](repeating: 1, count: tokens.count)
        guard types.count == tokens.count else {
            throw TokenizerLoadError.malformed(path: path, reason: "tokenizer.ggml.token_type has \(types.count) entries, tokenizer.ggml.tokens has \(tokens.count)")
        }
        let merges = (try? f.stringArray("tokenizer.ggml.merges")) ?? []
        // llama.cpp's corrections by text (LlamaCppTokenTypes.swift); an id outside the
        // vocabulary is ignored there, as llama.cpp ignores it.
        let corrected = LlamaCppTokenTypes(texts: tokens, types: types) { key in
            guard let v = try? f.optionalInt(key), v >= 0, v < tokens.count else { return nil }
            return v
        }
        var pieces: [[UInt8]] = []
        pieces.reserveCapacity(tokens.count)
        var isSpecial = [Bool](repeating: false, count: tokens.count)
        var table = ByteStringTable(capacity: tokens.count)
        var idOfText: [String: Int32] = [:]
        idOfText.reserveCapacity(tokens.count)
        var specials: [SpecialToken] = []
        for (id, text) in tokens.enumerated() {
            let type = types[id], special = corrected.types[id] == 3 || corrected.types[id] == 4
            if special, !text.isEmpty {
                // Split out of text (always if user-defined, with special tokens allowed if control).
                specials.append(.init(text: text, id: id, alwaysMatched: corrected.types[id] == 4))
            }
            if type == 3 || type == 4 {
                // Control and user-defined tokens are literal text, not byte-mapped.
                isSpecial[id] = true
                pieces.append(Array(text.utf8))
                continue
            }
            // A token promoted by its text stays an ordinary token too: merges can still form it.
            guard let bytes = bytesFromMapped(text) else {
                // Text outside the byte mapping can never come out of the byte-level encoding,
                // so llama.cpp never produces this id; it decodes as its text.
                pieces.append(Array(text.utf8))
                continue
            }
            pieces.append(bytes)
            if idOfText[text] == nil { idOfText[text] = Int32(id) }
            if !bytes.isEmpty { table.insert(bytes, value: Int32(id)) }
        }
        // A byte without a token (some vocabularies lack bytes that never occur in UTF-8, or
        // control bytes) is dropped from the output, as llama.cpp and `tokenizers` do.
        var byteIDs = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            if let id = table.lookupArray([UInt8(b)]) { byteIDs[b] = id }
        }
        var pairs = PairMergeTable(capacity: merges.count)
        for (rank, line) in merges.enumerated() {
            let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else {
                throw TokenizerLoadError.malformed(path: path, reason: "tokenizer.ggml.merges[\(rank)] (\"\(line)\") is not two tokens separated by a space")
            }
            guard let l = idOfText[String(parts[0])], let r = idOfText[String(parts[1])],
                  let m = idOfText[String(parts[0]) + String(parts[1])] else { continue }
            pairs.insert(left: l, right: r, rank: UInt32(rank), merged: m)
        }
        func optionalID(_ key: String) throws -> TokenID? {
            guard let v = try f.optionalInt(key) else { return nil }
            guard v >= 0 && v < tokens.count else {
                throw TokenizerLoadError.malformed(path: path, reason: "\(key) = \(v) is outside the vocabulary of \(tokens.count)")
            }
            return v
        }
        let bos = preEntry.dropsBOS ? nil : try optionalID("tokenizer.ggml.bos_token_id")
        let eos = try optionalID("tokenizer.ggml.eos_token_id")
        _ = try optionalID("tokenizer.ggml.eot_token_id")
        _ = try optionalID("tokenizer.ggml.eom_token_id")
        return ByteLevelBPETokenizer(
            pieces: pieces, isSpecial: isSpecial, table: table, mode: .byList(PairMergeTableBox(pairs)), byteIDs: byteIDs,
            specials: specials, bosID: bos, eosID: eos, endOfGeneration: corrected.endOfGeneration,
            fileUserDefined: Set(corrected.promoted.filter { types[$0] == 4 }),
            preTokenizer: preTokenizer, wholePieceShortcut: preEntry.ignoreMerges,
            addsBOS: try f.optionalBool("tokenizer.ggml.add_bos_token") ?? preEntry.addsBOSByDefault)
    }
}
