import Foundation

// A Hugging Face `tokenizer.json` (the `tokenizers` library's format), encoded as that library
// does:
//
//   added_tokens    [{id, content, special, lstrip, rstrip, single_word, normalized}]
//                   matched first, leftmost-longest, always (special or not); the text between
//                   them is encoded section by section
//   normalizer      NFC / NFD / NFKC / NFKD, Lowercase, Prepend, Replace, Strip, Sequence
//   pre_tokenizer   Split (regex or string, behavior, invert), ByteLevel (add_prefix_space,
//                   use_regex), Metaspace (replacement, prepend_scheme, split), Digits,
//                   Punctuation, Whitespace, WhitespaceSplit, BertPreTokenizer, Sequence
//   model           BPE: byte-level (GPT-2's byte → character mapping, when a ByteLevel
//                   pre-tokenizer or decoder is present) or on characters (SentencePiece style:
//                   "▁" for spaces, byte_fallback to <0xXX>, unk_token with fuse_unk);
//                   merges as "a b" strings or [a, b] pairs; ignore_merges
//   post_processor  TemplateProcessing (single), RobertaProcessing, BertProcessing, ByteLevel,
//                   Sequence: the ids put around a sequence by a default encode
//   decoder         ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, Sequence
// `tokenizer_config.json` beside it gives bos_token, eos_token and chat_template.
//
// Added tokens marked `normalized` are matched on the raw text, like the others (the files
// this reads mark them so only with normalizers that leave their text unchanged).

/// A tokenizer read from a Hugging Face `tokenizer.json`.
public final class HuggingFaceTokenizer: Tokenizer, @unchecked Sendable {
    /// An entry of `added_tokens`.
    public struct AddedToken: Sendable {
        public let content: String
        public let id: TokenID
        public let special: Bool
        public let lstrip: Bool
        public let rstrip: Bool
        public let singleWord: Bool
    }

    enum Normalizer {
        case nfc, nfd, nfkc, nfkd, lowercase
        case prepend(String)
        case replace(SplitRegex, String)
        case strip(left: Bool, right: Bool)
    }

    enum PrependScheme: String { case always, first, never }

    struct Metaspace {
        let replacement: String
        let prepend: PrependScheme
    }

    enum Model {
        case byteLevel(ByteLevelBPETokenizer)
        case characters(CharacterBPE)
    }

    public let vocabularySize: Int
    public let bosID: TokenID?
    public let eosID: TokenID?
    public let endOfGenerationIDs: Set<TokenID>
    public let specialTokens: [String: TokenID]
    public let addsBOSByDefault: Bool
    /// The chat template from `tokenizer_config.json` (or `chat_template.jinja`), if any.
    public let chatTemplate: String?
    public let addedTokens: [AddedToken]
    /// The `tokenizer.json` it was loaded from, when it came from a file (exports copy it).
    public internal(set) var sourcePath: String?
    /// `pad_token` of `tokenizer_config.json`, if it names a token.
    public internal(set) var paddingID: TokenID?

    let addedByFirstByte: [[Int]]
    /// Bytes that start some added token (the scan skips the others quickly).
    let startsAdded: [Bool]
    let normalizers: [Normalizer]
    let metaspace: Metaspace?
    let prefixSpace: Bool
    let preTokenizer: PreTokenizer
    let model: Model
    let prefixIDs: [TokenID]
    let suffixIDs: [TokenID]
    let pieces: [[UInt8]]
    let texts: [String]
    let control: [Bool]
    let stripLeadingSpace: Bool

    public var templateIDs: (prefix: [TokenID], suffix: [TokenID]) { (prefixIDs, suffixIDs) }

    init(addedTokens: [AddedToken], normalizers: [Normalizer], metaspace: Metaspace?, prefixSpace: Bool,
         preTokenizer: PreTokenizer, model: Model, prefixIDs: [TokenID], suffixIDs: [TokenID],
         pieces: [[UInt8]], texts: [String], bosID: TokenID?, eosID: TokenID?, chatTemplate: String?,
         stripLeadingSpace: Bool) {
        self.addedTokens = addedTokens
        var byFirst = [[Int]](repeating: [], count: 256)
        for (i, a) in addedTokens.enumerated() {
            if let b = a.content.utf8.first { byFirst[Int(b)].append(i) }
        }
        for b in 0..<256 { byFirst[b].sort { addedTokens[$0].content.utf8.count > addedTokens[$1].content.utf8.count } }
        addedByFirstByte = byFirst
        startsAdded = byFirst.map { !$0.isEmpty }
        self.normalizers = normalizers
        self.metaspace = metaspace
        self.prefixSpace = prefixSpace
        self.preTokenizer = preTokenizer
        self.model = model
        self.prefixIDs = prefixIDs
        self.suffixIDs = suffixIDs
        self.pieces = pieces
        self.texts = texts
        vocabularySize = pieces.count
        var control = [Bool](repeating: false, count: pieces.count)
        var names: [String: TokenID] = [:]
        for a in addedTokens {
            names[a.content] = a.id
            if a.special { control[a.id] = true }
        }
        self.control = control
        specialTokens = names
        self.bosID = bosID
        self.eosID = eosID
        var ends = Set<TokenID>()
        if let eosID { ends.insert(eosID) }
        for name in ["<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|endoftext|>", "<|end|>", "<end_of_turn>"] {
            if let id = names[name] { ends.insert(id) }
        }
        endOfGenerationIDs = ends
        addsBOSByDefault = !prefixIDs.isEmpty || !suffixIDs.isEmpty
        self.chatTemplate = chatTemplate
        self.stripLeadingSpace = stripLeadingSpace
    }

    // MARK: Encoding

    /// Added tokens are always matched (as `tokenizers` does), whatever `allowSpecial` says.
    public func encode(_ text: String, allowSpecial: Bool) -> [TokenID] {
        var out: [TokenID] = []
        var t = text
        t.withUTF8 { buf in
            var sectionStart = 0
            var i = 0
            while i < buf.count {
                if !startsAdded[Int(buf[i])] {
                    i += 1
                    continue
                }
                if let (s, e, id) = matchAdded(buf, at: i, sectionStart: sectionStart) {
                    encodeSection(buf, sectionStart, s, into: &out)
                    out.append(id)
                    i = e
                    sectionStart = e
                } else {
                    i += 1
                }
            }
            encodeSection(buf, sectionStart, buf.count, into: &out)
        }
        return out
    }

    static func isSpaceByte(_ b: UInt8) -> Bool { b == 32 || (b >= 9 && b <= 13) }

    /// The added token at byte `i`, longest first: (start, end, id), with lstrip/rstrip
    /// widening the range over neighbouring whitespace.
    func matchAdded(_ buf: UnsafeBufferPointer<UInt8>, at i: Int, sectionStart: Int) -> (Int, Int, TokenID)? {
        for c in addedByFirstByte[Int(buf[i])] {
            let a = addedTokens[c]
            let len = a.content.utf8.count
            guard i + len <= buf.count, a.content.utf8.elementsEqual(UnsafeBufferPointer(rebasing: buf[i..<(i + len)])) else { continue }
            var s = i
            var e = i + len
            if a.singleWord {
                func wordByte(_ k: Int) -> Bool {
                    guard k >= 0 && k < buf.count else { return false }
                    let b = buf[k]
                    return b >= 0x80 || (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 95
                }
                if wordByte(s - 1) || wordByte(e) { continue }
            }
            if a.lstrip { while s > sectionStart && Self.isSpaceByte(buf[s - 1]) { s -= 1 } }
            if a.rstrip { while e < buf.count && Self.isSpaceByte(buf[e]) { e += 1 } }
            return (s, e, a.id)
        }
        return nil
    }

    func normalize(_ text: String) -> String {
        var s = text
        for n in normalizers {
            switch n {
            case .nfc: s = s.precomposedStringWithCanonicalMapping
            case .nfd: s = s.decomposedStringWithCanonicalMapping
            case .nfkc: s = s.precomposedStringWithCompatibilityMapping
            case .nfkd: s = s.decomposedStringWithCompatibilityMapping
            case .lowercase: s = s.lowercased()
            case let .prepend(p): if !s.isEmpty { s = p + s }
            case let .replace(regex, content): s = regex.replacingMatches(in: s, with: content)
            case let .strip(left, right):
                var u = Substring(s)
                if left { while let f = u.unicodeScalars.first, f.properties.isWhitespace { u = Substring(u.unicodeScalars.dropFirst()) } }
                if right { while let l = u.unicodeScalars.last, l.properties.isWhitespace { u = Substring(u.unicodeScalars.dropLast()) } }
                s = String(u)
            }
        }
        return s
    }

    /// Encodes the text between added tokens: normalize, pre-tokenize, run the model.
    func encodeSection(_ buf: UnsafeBufferPointer<UInt8>, _ a: Int, _ b: Int, into out: inout [TokenID]) {
        guard b > a else { return }
        var s = normalize(String(decoding: UnsafeBufferPointer(rebasing: buf[a..<b]), as: UTF8.self))
        // Scalar by scalar: String's own replace and hasPrefix work on grapheme clusters, and
        // a space followed by a combining mark is one cluster.
        if let m = metaspace {
            s = s.replacingScalars(" ", with: m.replacement)
            if m.prepend == .always || (m.prepend == .first && a == 0), !s.unicodeScalars.starts(with: m.replacement.unicodeScalars) {
                s = m.replacement + s
            }
        }
        if prefixSpace && s.unicodeScalars.first != " " { s = " " + s }
        guard !s.isEmpty else { return }
        s.withUTF8 { text in
            guard let base = text.baseAddress else { return }
            switch model {
            case let .byteLevel(inner):
                inner.encodeOrdinary(base, 0, text.count, into: &out)
            case let .characters(bpe):
                preTokenizer.split(text) { ps, pe in
                    bpe.encode(UnsafeBufferPointer(rebasing: text[ps..<pe]), into: &out)
                }
            }
        }
    }

    // MARK: Decoding

    public func decodedBytes(of id: TokenID, atStart: Bool) -> [UInt8]? {
        guard id >= 0 && id < pieces.count else { return nil }
        let p = pieces[id]
        if atStart && stripLeadingSpace && p.first == 32 { return Array(p.dropFirst()) }
        return p
    }

    public func pieceDescription(of id: TokenID) -> String? {
        guard id >= 0 && id < texts.count else { return nil }
        return texts[id]
    }

    public func isControl(_ id: TokenID) -> Bool { id >= 0 && id < control.count && control[id] }
}

/// BPE on characters (SentencePiece-style vocabularies in `tokenizer.json`): one part per
/// Unicode scalar, unknown scalars as <0xXX> byte tokens or the unknown id.
struct CharacterBPE {
    let scalarIDs: [UInt32: Int32]
    let byteFallback: [Int32]?
    let unknownID: Int32?
    let fuseUnknown: Bool
    /// `ignore_merges`: a piece that is a token is emitted whole.
    let wholeTokens: ByteStringTable?
    let pairs: PairMergeTableBox

    func encode(_ piece: UnsafeBufferPointer<UInt8>, into out: inout [TokenID]) {
        guard let base = piece.baseAddress, !piece.isEmpty else { return }
        if let wholeTokens, let id = wholeTokens.lookup(UnsafeRawPointer(base), piece.count) {
            out.append(TokenID(id))
            return
        }
        var ids: [Int32] = []
        ids.reserveCapacity(piece.count)
        var lastWasUnknown = false
        var it = piece.makeIterator()
        var decoder = UTF8()
        while case let .scalarValue(s) = decoder.decode(&it) {
            if let id = scalarIDs[s.value] {
                ids.append(id)
                lastWasUnknown = false
                continue
            }
            if let fallback = byteFallback {
                let bytes = Array(String(s).utf8)
                if bytes.allSatisfy({ fallback[Int($0)] >= 0 }) {
                    for b in bytes { ids.append(fallback[Int(b)]) }
                    lastWasUnknown = false
                    continue
                }
            }
            guard let unk = unknownID else { continue }
            if fuseUnknown && lastWasUnknown { continue }
            ids.append(unk)
            lastWasUnknown = true
        }
        guard !ids.isEmpty else { return }
        ids.withUnsafeBufferPointer { p in
            BytePairMerge.encode(base, count: p.count, parts: IDsAsParts(ids: p.baseAddress!), rule: ListedMergeRule(pairs: pairs.table), into: &out)
        }
    }
}

extension SplitRegex {
    /// A regex matching exactly `text`.
    init(literal text: String) throws {
        try self.init(text.unicodeScalars.map { "\\x{" + String($0.value, radix: 16) + "}" }.joined())
    }

    /// `text` with every non-overlapping match, leftmost first, replaced by `content`.
    func replacingMatches(in text: String, with content: String) -> String {
        let scalars = text.unicodeScalars.map(\.value)
        let props = scalars.map { ScalarProperties.of($0) }
        var out = String.UnicodeScalarView()
        var stack: [(Int, Int)] = []
        scalars.withUnsafeBufferPointer { sc in
            props.withUnsafeBufferPointer { pr in
                var pos = 0
                while pos < sc.count {
                    if let e = matchEnd(sc, pr, from: 0, to: sc.count, at: pos, stack: &stack), e > pos {
                        out.append(contentsOf: content.unicodeScalars)
                        pos = e
                    } else {
                        if let u = Unicode.Scalar(sc[pos]) { out.append(u) }
                        pos += 1
                    }
                }
            }
        }
        return String(out)
    }
}

extension String {
    /// Every occurrence of the scalars of `target` replaced, comparing scalars (not
    /// grapheme clusters, as `replacingOccurrences` may).
    func replacingScalars(_ target: String, with replacement: String) -> String {
        let t = Array(target.unicodeScalars)
        guard !t.isEmpty else { return self }
        let u = Array(unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < u.count {
            if u[i] == t[0], i + t.count <= u.count, Array(u[i..<(i + t.count)]) == t {
                out.append(contentsOf: replacement.unicodeScalars)
                i += t.count
            } else {
                out.append(u[i])
                i += 1
            }
        }
        return String(out)
    }
}
