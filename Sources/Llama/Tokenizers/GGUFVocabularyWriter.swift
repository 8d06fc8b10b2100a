import Foundation

// Writes a tokenizer's vocabulary as GGUF metadata, in the layout that
// `GGUFByteLevelVocabulary.swift` ("gpt2") and `SentencePieceGGUF.swift` ("llama") read and that
// llama.cpp's `llama_vocab::load` expects, so an exported model tokenizes as its source did.
//
// tiktoken vocabularies have ranks but no merge list, while GGUF `gpt2` vocabularies have a
// merge list and no ranks. The list is derived the way tiktoken's own merging would build each
// token: run byte-pair merging on the token's bytes with only the tokens ranked below it; the
// two parts left at the end are the pair that forms it. Within any longer piece the parts
// covering a token's bytes evolve exactly as in that isolated run (a merge crossing its edges
// would mean the token is never formed there), so listing that one pair per token, in rank
// order, reproduces tiktoken's merges. A token whose run ends in three or more parts can never
// be formed by merging and gets no merge (it can still be emitted as a whole piece).

/// Converts a loaded tokenizer into GGUF `tokenizer.ggml.*` metadata.
public enum GGUFVocabularyWriter {
    /// Why a tokenizer cannot be exported.
    public enum ExportError: Error, CustomStringConvertible, Equatable {
        /// The tokenizer is of a kind GGUF export does not handle.
        case unsupportedTokenizer(typeName: String)
        /// The tokenizer uses a setting that GGUF metadata cannot express, so a reader would
        /// tokenize differently.
        case notRepresentable(reason: String)

        public var description: String {
            switch self {
            case let .unsupportedTokenizer(typeName):
                return "cannot write a \(typeName) vocabulary to GGUF; exportable kinds: byte-level BPE (tiktoken, tokenizer.json or GGUF \"gpt2\") and SentencePiece (tokenizer.model, tokenizer.bin, tokenizer.json with byte_fallback or GGUF \"llama\")"
            case let .notRepresentable(reason):
                return "cannot write this vocabulary to GGUF: \(reason)"
            }
        }
    }

    /// The `tokenizer.ggml.*` entries describing `tokenizer`, in the order they should be written.
    ///
    /// Byte-level BPE becomes `tokenizer.ggml.model` = "gpt2" (with a merge list derived from
    /// tiktoken ranks when the source has none); SentencePiece becomes "llama". Throws
    /// ``ExportError`` for other tokenizers and for settings GGUF cannot express.
    /// `vocabularySize` (the model's embedding rows, when larger than the tokenizer) pads a
    /// `tokenizer.json` vocabulary with unused "[PAD<i>]" entries, as llama.cpp's converter does.
    public static func metadata(for tokenizer: any Tokenizer, vocabularySize: Int? = nil) throws -> [(String, GGUFWriter.Value)] {
        if let t = tokenizer as? HuggingFaceTokenizer { return try huggingFaceMetadata(t, vocabularySize: vocabularySize) }
        if let t = tokenizer as? ByteLevelBPETokenizer { return try byteLevelMetadata(t) }
        if let t = tokenizer as? SentencePieceTokenizer { return try sentencePieceMetadata(t) }
        throw ExportError.unsupportedTokenizer(typeName: String(describing: type(of: tokenizer)))
    }

    /// Adds the vocabulary's metadata (see ``metadata(for:)``) to `writer`.
    public static func write(_ tokenizer: any Tokenizer, into writer: inout GGUFWriter, vocabularySize: Int? = nil) throws {
        for (key, value) in try metadata(for: tokenizer, vocabularySize: vocabularySize) { writer.set(key, value) }
    }

    /// A token id as GGUF's u32 (llama.cpp reads ids with that type).
    static func idValue(_ id: TokenID, _ what: String) throws -> GGUFWriter.Value {
        guard let v = UInt32(exactly: id) else {
            throw ExportError.notRepresentable(reason: "\(what) id \(id) does not fit GGUF's u32")
        }
        return .uint32(v)
    }

    // MARK: byte-level BPE

    /// A token's bytes in GPT-2's byte → character mapping (the form "gpt2" tokens and merges use).
    static func mapped(_ bytes: [UInt8]) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(ByteLevelBPETokenizer.byteToCharacter[Int(b)]) }
        return String(s)
    }

    /// tiktoken's merge rule restricted to tokens ranked below `limit`: the state of a token's
    /// bytes just before the token itself would be formed.
    struct RankLimitedConcatenationRule: MergeRule {
        let table: ByteStringTable
        let limit: Int32

        @inline(__always)
        func merge(_ bytes: UnsafePointer<UInt8>, leftStart: Int, rightEnd: Int, left: Int32, right: Int32) -> (rank: UInt32, merged: Int32)? {
            guard let id = table.lookup(UnsafeRawPointer(bytes + leftStart), rightEnd - leftStart), id < limit else { return nil }
            return (UInt32(bitPattern: id), id)
        }
    }

    /// The merge list of a tiktoken vocabulary (ids are ranks), as (left, right) id pairs in rank
    /// order of the token they form.
    static func derivedMerges(_ t: ByteLevelBPETokenizer) -> [(left: Int32, right: Int32)] {
        var merges: [(left: Int32, right: Int32)] = []
        merges.reserveCapacity(t.pieces.count)
        var parts: [TokenID] = []
        t.byteIDs.withUnsafeBufferPointer { byteIDs in
            guard let byteIDs = byteIDs.baseAddress else { return }
            for id in 0..<t.pieces.count where !t.isSpecial[id] && t.pieces[id].count >= 2 {
                let rule = RankLimitedConcatenationRule(table: t.table, limit: Int32(id))
                parts.removeAll(keepingCapacity: true)
                t.pieces[id].withUnsafeBufferPointer { p in
                    guard let base = p.baseAddress else { return }
                    BytePairMerge.encode(base, count: p.count, byteIDs: byteIDs, rule: rule, into: &parts)
                }
                // Three or more parts: no single merge forms this token (see the file comment).
                if parts.count == 2 { merges.append((Int32(parts[0]), Int32(parts[1]))) }
            }
        }
        return merges
    }

    static func byteLevelMetadata(_ t: ByteLevelBPETokenizer) throws -> [(String, GGUFWriter.Value)] {
        // The loader picks the pre-tokenizer and the whole-piece shortcut from one name, so
        // only the combinations it produces can be written.
        let preName = t.preTokenizer.kind == .llama3 ? "llama-bpe" : t.preTokenizer.name
        guard let (_, entry) = PreTokenizer.llamaCpp(named: preName), entry.ignoreMerges == t.wholePieceShortcut else {
            throw ExportError.notRepresentable(reason: "pre-tokenizer \(t.preTokenizer.name) with the whole-piece shortcut \(t.wholePieceShortcut ? "on" : "off") has no tokenizer.ggml.pre name")
        }
        guard t.pieces.count <= Int(Int32.max) else {
            throw ExportError.notRepresentable(reason: "\(t.pieces.count) tokens is too many")
        }
        var userDefined = Set<TokenID>()
        for s in t.specials where s.alwaysMatched { userDefined.insert(s.id) }
        userDefined.formUnion(t.fileUserDefined)

        var tokens: [String] = []
        var types: [Int32] = []
        tokens.reserveCapacity(t.pieces.count)
        types.reserveCapacity(t.pieces.count)
        for (id, bytes) in t.pieces.enumerated() {
            if t.isSpecial[id] {
                // Special tokens are stored as literal text; the loader reads types 3 and 4 so.
                guard let text = String(validating: bytes, as: UTF8.self) else {
                    throw ExportError.notRepresentable(reason: "special token \(id) is not valid UTF-8")
                }
                tokens.append(text)
                types.append(userDefined.contains(id) ? 4 : 3)
            } else {
                tokens.append(mapped(bytes))
                types.append(1)
            }
        }

        var merges: [String] = []
        switch t.mode {
        case .byConcatenation:
            let pairs = derivedMerges(t)
            merges.reserveCapacity(pairs.count)
            for p in pairs { merges.append(tokens[Int(p.left)] + " " + tokens[Int(p.right)]) }
        case let .byList(box):
            // Ranks keep their order; merges the loader dropped (unknown parts) stay dropped.
            let listed = box.table.mergesByRank()
            merges.reserveCapacity(listed.count)
            for m in listed {
                let l = Int(m.left), r = Int(m.right)
                guard l >= 0, l < tokens.count, r >= 0, r < tokens.count else { continue }
                merges.append(tokens[l] + " " + tokens[r])
            }
        }

        var out: [(String, GGUFWriter.Value)] = [
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string(preName)),
            ("tokenizer.ggml.tokens", .strings(tokens)),
            ("tokenizer.ggml.token_type", .int32s(types)),
            ("tokenizer.ggml.merges", .strings(merges)),
        ]
        if let bos = t.bosID { out.append(("tokenizer.ggml.bos_token_id", try idValue(bos, "BOS"))) }
        if let eos = t.eosID { out.append(("tokenizer.ggml.eos_token_id", try idValue(eos, "EOS"))) }
        out.append(("tokenizer.ggml.add_bos_token", .bool(t.addsBOSByDefault)))
        return out
    }

    // MARK: SentencePiece

    static func sentencePieceMetadata(_ t: SentencePieceTokenizer) throws -> [(String, GGUFWriter.Value)] {
        let cfg = t.configuration
        // llama.cpp hard-wires these for "llama" vocabularies; a model that differs would
        // tokenize differently after export.
        guard !cfg.removeExtraWhitespaces else {
            throw ExportError.notRepresentable(reason: "the model removes extra whitespace, which llama.cpp never does for SentencePiece vocabularies")
        }
        guard cfg.escapeWhitespaces else {
            throw ExportError.notRepresentable(reason: "the model does not escape spaces as \"▁\", which llama.cpp always does")
        }
        guard cfg.byteFallback || !t.byteIDs.contains(where: { $0 >= 0 }) else {
            throw ExportError.notRepresentable(reason: "the model has byte pieces but no byte fallback; llama.cpp always falls back to bytes")
        }
        guard cfg.rightStripIDs.isEmpty && cfg.leftStripIDs.isEmpty else {
            throw ExportError.notRepresentable(reason: "whitespace-stripping special tokens (Phi-3) are set by llama.cpp from general.name, not the vocabulary")
        }
        var tokens: [String] = []
        var scores: [Float] = []
        var types: [Int32] = []
        tokens.reserveCapacity(t.entries.count)
        scores.reserveCapacity(t.entries.count)
        types.reserveCapacity(t.entries.count)
        for (id, e) in t.entries.enumerated() {
            // GGUF strings are UTF-8; SentencePiece pieces always are, llama2.c ones need not be.
            guard let text = String(validating: e.bytes, as: UTF8.self) else {
                throw ExportError.notRepresentable(reason: "piece \(id) is not valid UTF-8")
            }
            tokens.append(text)
            scores.append(e.score)
            // SentencePiece's type numbering is llama.cpp's `llama_token_type`.
            types.append(Int32(e.type.rawValue))
        }
        var out: [(String, GGUFWriter.Value)] = [
            ("tokenizer.ggml.model", .string("llama")),
            ("tokenizer.ggml.tokens", .strings(tokens)),
            ("tokenizer.ggml.scores", .floats(scores)),
            ("tokenizer.ggml.token_type", .int32s(types)),
        ]
        // Absent ids would read back as llama.cpp's defaults (1, 2), so only real ones are written.
        if let bos = cfg.bosID { out.append(("tokenizer.ggml.bos_token_id", try idValue(bos, "BOS"))) }
        if let eos = cfg.eosID { out.append(("tokenizer.ggml.eos_token_id", try idValue(eos, "EOS"))) }
        out.append(("tokenizer.ggml.unknown_token_id", try idValue(cfg.unknownID, "unknown")))
        out.append(("tokenizer.ggml.add_space_prefix", .bool(cfg.addDummyPrefix)))
        out.append(("tokenizer.ggml.add_bos_token", .bool(cfg.addBOS)))
        return out
    }
}
