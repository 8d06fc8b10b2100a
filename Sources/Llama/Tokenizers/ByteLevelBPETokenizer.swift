/// Byte-level BPE (tiktoken, GPT-2 style): pre-tokenize, then merge the bytes of each piece.
///
/// One type serves Meta's tiktoken `tokenizer.model` (pairs merge when their concatenation
/// is a token, ranked by that token) and GGUF `gpt2` vocabularies (an explicit merge list).
public final class ByteLevelBPETokenizer: Tokenizer, @unchecked Sendable {
    public enum MergeMode: Sendable {
        /// tiktoken: rank of a pair = rank of the concatenated token.
        case byConcatenation
        /// Hugging Face / GGUF: only listed pairs merge, ranked by list position.
        case byList(PairMergeTableBox)
    }

    /// A special token: its text, id, and whether it is split out of text even when the
    /// caller does not allow special tokens (llama.cpp does so for user-defined tokens).
    public struct SpecialToken: Sendable {
        public let text: String
        public let id: TokenID
        public let alwaysMatched: Bool
    }

    public let vocabularySize: Int
    public let bosID: TokenID?
    public let eosID: TokenID?
    public let endOfGenerationIDs: Set<TokenID>
    public let specialTokens: [String: TokenID]
    public let preTokenizer: PreTokenizer
    /// When true a piece that is itself a token is emitted whole, without merging (tiktoken,
    /// and Hugging Face's `ignore_merges`).
    public let wholePieceShortcut: Bool
    public let addsBOSByDefault: Bool

    let pieces: [[UInt8]]          // decoded bytes of every id
    let isSpecial: [Bool]
    /// Tokens the file stores as USER_DEFINED that llama.cpp made CONTROL by their text
    /// (LlamaCppTokenTypes.swift): a GGUF written back keeps the file's type.
    let fileUserDefined: Set<TokenID>
    let table: ByteStringTable     // ordinary tokens' bytes → id
    let mode: MergeMode
    let byteIDs: [Int32]
    /// Some single byte has no token (its id in `byteIDs` is -1).
    let lacksBytes: Bool
    let specials: [SpecialToken]
    let anyAlwaysMatched: Bool
    /// Specials indexed by first byte, longest first.
    let specialsByFirstByte: [[Int]]

    init(pieces: [[UInt8]], isSpecial: [Bool], table: ByteStringTable, mode: MergeMode, byteIDs: [Int32],
         specials: [SpecialToken], bosID: TokenID?, eosID: TokenID?, endOfGeneration: Set<TokenID>,
         fileUserDefined: Set<TokenID> = [], preTokenizer: PreTokenizer, wholePieceShortcut: Bool, addsBOS: Bool = true) {
        self.addsBOSByDefault = addsBOS && bosID != nil
        self.pieces = pieces
        self.isSpecial = isSpecial
        self.fileUserDefined = fileUserDefined
        var table = table
        table.freeze()
        self.table = table
        self.anyAlwaysMatched = specials.contains { $0.alwaysMatched }
        self.mode = mode
        self.byteIDs = byteIDs
        self.lacksBytes = byteIDs.contains { $0 < 0 }
        self.specials = specials
        self.vocabularySize = pieces.count
        self.bosID = bosID
        self.eosID = eosID
        self.endOfGenerationIDs = endOfGeneration
        self.preTokenizer = preTokenizer
        self.wholePieceShortcut = wholePieceShortcut
        var names: [String: TokenID] = [:]
        var byFirst = [[Int]](repeating: [], count: 256)
        for (i, s) in specials.enumerated() {
            names[s.text] = s.id
            if let b = s.text.utf8.first { byFirst[Int(b)].append(i) }
        }
        for b in 0..<256 {
            byFirst[b].sort { specials[$0].text.utf8.count > specials[$1].text.utf8.count }
        }
        specialTokens = names
        specialsByFirstByte = byFirst
    }

    public func encode(_ text: String, allowSpecial: Bool) -> [TokenID] {
        var out: [TokenID] = []
        out.reserveCapacity(text.utf8.count / 3 + 4)
        var t = text
        t.withUTF8 { buf in
            guard let base = buf.baseAddress else { return }
            guard allowSpecial || anyAlwaysMatched else {
                encodeOrdinary(base, 0, buf.count, into: &out)
                return
            }
            var segmentStart = 0
            var i = 0
            while i < buf.count {
                let candidates = specialsByFirstByte[Int(buf[i])]
                var matched = -1
                var matchedLength = 0
                for c in candidates {
                    let s = specials[c]
                    guard allowSpecial || s.alwaysMatched else { continue }
                    let len = s.text.utf8.count
                    if i + len <= buf.count && s.text.utf8.elementsEqual(UnsafeBufferPointer(rebasing: buf[i..<(i + len)])) {
                        matched = c
                        matchedLength = len
                        break
                    }
                }
                if matched >= 0 {
                    encodeOrdinary(base, segmentStart, i, into: &out)
                    out.append(specials[matched].id)
                    i += matchedLength
                    segmentStart = i
                } else {
                    i += 1
                }
            }
            encodeOrdinary(base, segmentStart, buf.count, into: &out)
        }
        return out
    }

    /// Encodes text with no special tokens in it: pre-tokenize, then BPE each piece.
    func encodeOrdinary(_ base: UnsafePointer<UInt8>, _ start: Int, _ end: Int, into out: inout [TokenID]) {
        guard end > start else { return }
        let text = UnsafeBufferPointer(start: base + start, count: end - start)
        byteIDs.withUnsafeBufferPointer { byteIDs in
            let byteIDs = byteIDs.baseAddress!
            switch mode {
            case .byConcatenation:
                let rule = ConcatenationMergeRule(table: table)
                preTokenizer.split(text) { s, e in
                    encodePiece(text.baseAddress! + s, e - s, byteIDs, rule, &out)
                }
            case let .byList(box):
                let rule = ListedMergeRule(pairs: box.table)
                preTokenizer.split(text) { s, e in
                    encodePiece(text.baseAddress! + s, e - s, byteIDs, rule, &out)
                }
            }
        }
    }

    @inline(__always)
    private func encodePiece<R: MergeRule>(_ p: UnsafePointer<UInt8>, _ n: Int, _ byteIDs: UnsafePointer<Int32>, _ rule: R, _ out: inout [TokenID]) {
        if wholePieceShortcut, let id = table.lookup(UnsafeRawPointer(p), n) {
            out.append(TokenID(id))
            return
        }
        let first = out.count
        BytePairMerge.encode(p, count: n, byteIDs: byteIDs, rule: rule, into: &out)
        if lacksBytes { dropMissingBytes(&out, from: first) }
    }

    /// Removes the -1 ids of bytes the vocabulary has no token for.
    private func dropMissingBytes(_ out: inout [TokenID], from first: Int) {
        var w = first
        for r in first..<out.count where out[r] >= 0 {
            out[w] = out[r]
            w += 1
        }
        out.removeSubrange(w...)
    }

    public func decodedBytes(of id: TokenID, atStart: Bool) -> [UInt8]? {
        guard id >= 0 && id < pieces.count else { return nil }
        return pieces[id]
    }

    public func pieceDescription(of id: TokenID) -> String? {
        guard id >= 0 && id < pieces.count else { return nil }
        let bytes = pieces[id]
        if let s = String(validating: bytes, as: UTF8.self) { return s }
        return bytes.map { b in "<0x" + String(b, radix: 16, uppercase: true).leftPadded(to: 2) + ">" }.joined()
    }
}

/// A reference wrapper so the (large) merge table is shared, not copied, by value types.
public final class PairMergeTableBox: @unchecked Sendable {
    let table: PairMergeTable
    init(_ table: PairMergeTable) { self.table = table }
}

extension String {
    func leftPadded(to n: Int, with c: Character = "0") -> String {
        count >= n ? self : String(repeating: c, count: n - count) + self
    }
}
