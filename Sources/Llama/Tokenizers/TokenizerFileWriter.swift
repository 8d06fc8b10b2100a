import Foundation

// Writes a loaded tokenizer back as the `tokenizer.model` file it could have come from:
//   byte-level BPE with tiktoken ranks → a tiktoken file (`base64(bytes) rank` per line, the
//     special tokens implied by the count, as `TiktokenFile` reads them);
//   SentencePiece BPE                  → a serialized SentencePiece `ModelProto` (the fields
//     `SentencePieceModelFile.swift` lists, nothing else).
// Every file is read back before it is returned and compared with the tokenizer it came
// from, so a vocabulary these formats cannot express is refused rather than written wrong.

/// Serializes tokenizers as `tokenizer.model` files.
public enum TokenizerFileWriter {
    /// Why a tokenizer cannot be written as a `tokenizer.model`.
    public enum WriteError: Error, CustomStringConvertible, Equatable {
        case notRepresentable(reason: String)

        public var description: String {
            switch self {
            case let .notRepresentable(reason): return "cannot write this tokenizer as tokenizer.model: \(reason)"
            }
        }
    }

    /// The file's bytes, plus what a reader of it will do differently from `tokenizer` (empty
    /// when nothing: ordinary text always gets the same ids, or this throws).
    public static func tokenizerModel(_ tokenizer: any Tokenizer) throws -> (bytes: Data, caveats: [String]) {
        if let t = tokenizer as? ByteLevelBPETokenizer { return (try tiktoken(t), []) }
        if let t = tokenizer as? SentencePieceTokenizer { return try sentencePiece(t) }
        throw WriteError.notRepresentable(reason: "a \(String(describing: type(of: tokenizer))) has no tokenizer.model form")
    }

    // MARK: tiktoken

    static func tiktoken(_ t: ByteLevelBPETokenizer) throws -> Data {
        let baseCount = t.isSpecial.firstIndex(of: true) ?? t.pieces.count
        guard baseCount > 0 else {
            throw WriteError.notRepresentable(reason: "a tiktoken file lists ranks before special tokens, and this vocabulary starts with a special token")
        }
        var text = ""
        text.reserveCapacity(baseCount * 16)
        for rank in 0..<baseCount {
            text += Data(t.pieces[rank]).base64EncodedString()
            text += " \(rank)\n"
        }
        let data = Data(text.utf8)
        // A vocabulary whose special tokens come first (id 0 `<|endoftext|>`) has no ranks
        // before them, which a tiktoken file cannot say.
        let back: ByteLevelBPETokenizer
        do { back = try TiktokenFile.parse(data, path: "tokenizer.model") } catch {
            throw WriteError.notRepresentable(reason: "a tiktoken file cannot hold this vocabulary (\(error))")
        }
        var differences: [String] = []
        if back.pieces != t.pieces || back.isSpecial != t.isSpecial { differences.append("the special tokens (tiktoken files imply Llama 3's, or BOS/EOS after the ranks)") }
        if back.bosID != t.bosID || back.eosID != t.eosID { differences.append("BOS/EOS ids") }
        if back.endOfGenerationIDs != t.endOfGenerationIDs { differences.append("end-of-generation ids") }
        if back.preTokenizer.kind != t.preTokenizer.kind || back.wholePieceShortcut != t.wholePieceShortcut {
            differences.append("the pre-tokenizer (\(t.preTokenizer.kind?.rawValue ?? "a regex list"); tiktoken files are read with Llama 3's)")
        }
        if back.addsBOSByDefault != t.addsBOSByDefault { differences.append("whether prompts start with BOS") }
        // A merge list says the same as tiktoken's ranks when it is exactly the list those
        // ranks imply (one pair per token, in the order of the token formed: see
        // GGUFVocabularyWriter), as it is for vocabularies converted from tiktoken (Llama 3).
        if differences.isEmpty, case let .byList(box) = t.mode {
            let listed = box.table.mergesByRank()
            let implied = GGUFVocabularyWriter.derivedMerges(back)
            if listed.count != implied.count || zip(listed, implied).contains(where: { $0.left != $1.left || $0.right != $1.right }) {
                differences.append("the merges (this vocabulary's merge list is not the one its token order implies)")
            }
        }
        guard differences.isEmpty else {
            throw WriteError.notRepresentable(reason: "a tiktoken file would change " + differences.joined(separator: ", "))
        }
        return data
    }

    // MARK: SentencePiece

    static func sentencePiece(_ t: SentencePieceTokenizer) throws -> (bytes: Data, caveats: [String]) {
        let c = t.configuration
        var out: [UInt8] = []
        for e in t.entries {
            var piece: [UInt8] = []
            Protobuf.bytes(1, e.bytes, into: &piece)
            Protobuf.fixed32(2, e.score.bitPattern, into: &piece)
            if e.type != .normal { Protobuf.varint(3, Int64(e.type.rawValue), into: &piece) }
            Protobuf.bytes(1, piece, into: &out)
        }
        var trainer: [UInt8] = []
        Protobuf.varint(3, 2, into: &trainer)  // model_type BPE
        Protobuf.varint(35, c.byteFallback ? 1 : 0, into: &trainer)
        Protobuf.varint(40, Int64(c.unknownID), into: &trainer)
        Protobuf.varint(41, Int64(c.bosID ?? -1), into: &trainer)
        Protobuf.varint(42, Int64(c.eosID ?? -1), into: &trainer)
        Protobuf.varint(43, -1, into: &trainer)
        Protobuf.bytes(44, Array(c.unknownSurface.utf8), into: &trainer)
        Protobuf.bytes(2, trainer, into: &out)
        var normalizer: [UInt8] = []
        Protobuf.bytes(1, Array("identity".utf8), into: &normalizer)
        Protobuf.varint(3, c.addDummyPrefix ? 1 : 0, into: &normalizer)
        Protobuf.varint(4, c.removeExtraWhitespaces ? 1 : 0, into: &normalizer)
        Protobuf.varint(5, c.escapeWhitespaces ? 1 : 0, into: &normalizer)
        Protobuf.bytes(3, normalizer, into: &out)

        let back = try out.withUnsafeBytes { try SentencePieceTokenizer.fromModelProto($0, path: "tokenizer.model") }
        let b = back.configuration
        guard back.entries == t.entries else {
            throw WriteError.notRepresentable(reason: "the pieces do not survive a SentencePiece model file")
        }
        var differences: [String] = []
        if b.addDummyPrefix != c.addDummyPrefix || b.removeExtraWhitespaces != c.removeExtraWhitespaces
            || b.escapeWhitespaces != c.escapeWhitespaces || b.byteFallback != c.byteFallback { differences.append("the normalizer settings") }
        if b.unknownID != c.unknownID || b.bosID != c.bosID || b.eosID != c.eosID { differences.append("the unknown/BOS/EOS ids") }
        if b.addBOS != c.addBOS { differences.append("whether prompts start with BOS (add_bos_token is written to tokenizer_config.json)") }
        if !c.rightStripIDs.isEmpty || !c.leftStripIDs.isEmpty { differences.append("whitespace stripping around special tokens") }
        guard differences.isEmpty else {
            throw WriteError.notRepresentable(reason: "a SentencePiece model file would change " + differences.joined(separator: ", "))
        }
        // What a SentencePiece file cannot say but leaves ordinary text alone.
        var caveats: [String] = []
        if b.specialTextRule != c.specialTextRule && t.entries.contains(where: { $0.type == .userDefined }) {
            caveats.append("user-defined pieces typed in the text are matched as SentencePiece does, not as llama.cpp does")
        }
        let lostEnds = c.extraEndOfGenerationIDs.subtracting(b.extraEndOfGenerationIDs)
        if !lostEnds.isEmpty {
            caveats.append("end-of-turn ids \(lostEnds.sorted()) are listed in generation_config.json only")
        }
        return (Data(out), caveats)
    }
}

/// The few protobuf encodings the writer needs (see `SentencePieceModelFile.swift` for the
/// wire format).
enum Protobuf {
    static func rawVarint(_ v: UInt64, into out: inout [UInt8]) {
        var v = v
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    /// An int32/int64/bool/enum field; negative values are sign-extended to 10 bytes.
    static func varint(_ field: Int, _ v: Int64, into out: inout [UInt8]) {
        rawVarint(UInt64(field) << 3, into: &out)
        rawVarint(UInt64(bitPattern: v), into: &out)
    }

    static func fixed32(_ field: Int, _ v: UInt32, into out: inout [UInt8]) {
        rawVarint(UInt64(field) << 3 | 5, into: &out)
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    /// A string, bytes or nested-message field.
    static func bytes(_ field: Int, _ b: [UInt8], into out: inout [UInt8]) {
        rawVarint(UInt64(field) << 3 | 2, into: &out)
        rawVarint(UInt64(b.count), into: &out)
        out.append(contentsOf: b)
    }
}
