import Foundation

// SentencePiece BPE (Llama 1/2, Phi-3, and the llama2.c vocabulary), done the way
// SentencePiece's `bpe_model.cc` does it, with llama.cpp's rules for special-token text.
//
// Encoding one piece of text:
//   1. Special-token text is split out first (llama.cpp's `tokenizer_st_partition`): CONTROL and
//      UNKNOWN pieces only when the caller allows special tokens; USER_DEFINED pieces always when
//      the vocabulary came from a GGUF file (llama.cpp does so). Each remaining text fragment is
//      then encoded on its own, with its own dummy prefix, exactly as llama.cpp does.
//   2. Normalization: spaces become "▁" (U+2581), a "▁" goes in front when `addDummyPrefix` is
//      set and the fragment is not empty, and runs of spaces collapse when the model asks for it.
//   3. Initial symbols are Unicode characters; USER_DEFINED pieces (SentencePiece models) are
//      matched greedily, longest first, as whole symbols that never merge.
//   4. BPE: repeatedly merge the adjacent pair whose concatenation is a mergeable piece
//      (NORMAL, USER_DEFINED, UNUSED) with the highest score; ties go to the leftmost pair.
//      A heap of candidate pairs over a linked list of symbols keeps this O(n log n).
//   5. Symbols that are UNUSED pieces are split back into the pair that formed them; symbols not
//      in the vocabulary become `<0xXX>` byte pieces (byte fallback) or the unknown id, with
//      runs of unknown symbols collapsed into one unknown id as SentencePiece does.

/// The kind of a SentencePiece piece. The raw values are SentencePiece's `Type` enum, which
/// llama.cpp's `tokenizer.ggml.token_type` reuses.
public enum SentencePieceType: UInt8, Sendable, Equatable, CaseIterable {
    case normal = 1
    case unknown = 2
    case control = 3
    case userDefined = 4
    case unused = 5
    case byte = 6

    /// Pieces that BPE may produce by merging (SentencePiece's `pieces_` map); the others are
    /// reserved and only ever emitted directly.
    public var isMergeable: Bool { self == .normal || self == .userDefined || self == .unused }
}

/// One vocabulary entry: the piece's bytes (with "▁" for spaces), its merge score and its kind.
public struct SentencePieceEntry: Sendable, Equatable {
    public var bytes: [UInt8]
    public var score: Float
    public var type: SentencePieceType

    public init(bytes: [UInt8], score: Float, type: SentencePieceType) {
        self.bytes = bytes
        self.score = score
        self.type = type
    }

    public init(_ piece: String, score: Float, type: SentencePieceType = .normal) {
        self.init(bytes: Array(piece.utf8), score: score, type: type)
    }
}

/// Why a SentencePiece vocabulary could not be loaded. Every case names the file.
public enum SentencePieceLoadError: Error, CustomStringConvertible, Equatable {
    /// The bytes are not in the expected format (truncated, out-of-range length, bad wire type…).
    case malformed(path: String, offset: Int, message: String)
    /// A well-formed file that asks for something this reader does not implement.
    case unsupported(path: String, message: String)
    /// The pieces do not make a usable vocabulary (duplicate piece, missing unknown piece…).
    case invalidVocabulary(path: String, message: String)

    public var description: String {
        switch self {
        case let .malformed(path, offset, message): return "\(path): malformed at byte offset \(offset): \(message)"
        case let .unsupported(path, message): return "\(path): unsupported: \(message)"
        case let .invalidVocabulary(path, message): return "\(path): invalid vocabulary: \(message)"
        }
    }
}

/// A SentencePiece BPE tokenizer (Llama 1/2 style vocabularies).
///
/// Build one with ``SentencePieceTokenizer/load(modelPath:)`` (SentencePiece `tokenizer.model`),
/// ``SentencePieceTokenizer/fromGGUF(_:)`` (GGUF with `tokenizer.ggml.model` = `llama`) or
/// ``SentencePieceTokenizer/load(llama2cPath:)`` (llama2.c `tokenizer.bin`).
public final class SentencePieceTokenizer: Tokenizer {
    /// How special-token text in the input is recognised.
    public enum SpecialTextRule: Sendable, Equatable {
        /// SentencePiece: USER_DEFINED pieces are matched inside the text as unmergeable symbols,
        /// with no extra dummy prefix after them.
        case sentencePiece
        /// llama.cpp: USER_DEFINED pieces are split out before encoding, like special tokens, and
        /// the text after them gets its own dummy prefix.
        case llamaCpp
    }

    /// Settings that come from the model file rather than from the pieces.
    public struct Configuration: Sendable, Equatable {
        /// Put "▁" in front of non-empty text (SentencePiece `add_dummy_prefix`,
        /// GGUF `tokenizer.ggml.add_space_prefix`).
        public var addDummyPrefix: Bool = true
        /// Drop leading and trailing spaces and collapse runs of spaces (SentencePiece
        /// `remove_extra_whitespaces`).
        public var removeExtraWhitespaces: Bool = false
        /// Replace spaces by "▁" (SentencePiece `escape_whitespaces`).
        public var escapeWhitespaces: Bool = true
        /// Characters outside the vocabulary become `<0xXX>` byte pieces instead of the unknown id.
        public var byteFallback: Bool = true
        public var unknownID: TokenID = 0
        public var bosID: TokenID? = 1
        public var eosID: TokenID? = 2
        /// End-of-turn ids (besides EOS) that also end a generation.
        public var extraEndOfGenerationIDs: Set<TokenID> = []
        /// Whether the model expects BOS in front of a prompt.
        public var addBOS: Bool = true
        /// What the unknown id decodes to (SentencePiece `unk_surface`).
        public var unknownSurface: String = " \u{2047} "
        public var specialTextRule: SpecialTextRule = .sentencePiece
        /// Special pieces after which whitespace is swallowed (llama.cpp's RSTRIP attribute).
        public var rightStripIDs: Set<TokenID> = []
        /// Special pieces before which whitespace is swallowed (llama.cpp's LSTRIP attribute).
        public var leftStripIDs: Set<TokenID> = []

        public init() {}
    }

    public let configuration: Configuration
    let entries: [SentencePieceEntry]
    let table: PieceTable
    /// Id of `<0xXX>` for every byte, or -1 when the vocabulary lacks it.
    let byteIDs: [Int32]
    /// USER_DEFINED pieces matched as whole symbols while splitting text into characters
    /// (SentencePiece rule only), indexed by first byte, longest first.
    let userDefinedByFirstByte: [[Int32]]
    /// Pieces that may be split out of the text before encoding, longest first, with whether
    /// they are split out even when the caller did not allow special tokens.
    let specialCandidates: [(id: Int32, always: Bool)]
    let hasAlwaysSpecial: Bool
    let maxPieceLength: Int

    public let endOfGenerationIDs: Set<TokenID>
    public let specialTokens: [String: TokenID]
    public var vocabularySize: Int { entries.count }
    public var bosID: TokenID? { configuration.bosID }
    public var eosID: TokenID? { configuration.eosID }
    public var unknownID: TokenID { configuration.unknownID }

    /// Builds a tokenizer from its pieces (id = position). Throws for duplicate or empty pieces
    /// and for special ids outside the vocabulary; `source` names the file in errors.
    public init(entries: [SentencePieceEntry], configuration: Configuration, source: String = "<memory>") throws {
        let n = entries.count
        guard n > 0 else { throw SentencePieceLoadError.invalidVocabulary(path: source, message: "the vocabulary is empty") }
        guard n < Int(Int32.max) else { throw SentencePieceLoadError.invalidVocabulary(path: source, message: "\(n) pieces is too many") }
        func checkID(_ id: TokenID?, _ what: String) throws {
            if let id, id < 0 || id >= n {
                throw SentencePieceLoadError.invalidVocabulary(path: source, message: "\(what) id \(id) is outside the vocabulary of \(n) pieces")
            }
        }
        try checkID(configuration.unknownID, "unknown")
        try checkID(configuration.bosID, "BOS")
        try checkID(configuration.eosID, "EOS")
        for id in configuration.extraEndOfGenerationIDs { try checkID(id, "end-of-generation") }

        var maxLen = 0
        for (i, e) in entries.enumerated() {
            guard !e.bytes.isEmpty else {
                throw SentencePieceLoadError.invalidVocabulary(path: source, message: "piece \(i) is empty")
            }
            maxLen = max(maxLen, e.bytes.count)
        }
        // Both SentencePiece and llama.cpp refuse a vocabulary that names a piece twice: the
        // text → id map would be ambiguous.
        table = try PieceTable(entries: entries, source: source)
        self.entries = entries
        self.configuration = configuration
        maxPieceLength = maxLen

        var bytes = [Int32](repeating: -1, count: 256)
        for (i, e) in entries.enumerated() where e.type == .byte {
            if let b = SentencePieceTokenizer.byteValue(ofPiece: e.bytes) { bytes[Int(b)] = Int32(i) }
        }
        byteIDs = bytes

        var byFirst = [[Int32]](repeating: [], count: 256)
        var specials: [(id: Int32, always: Bool)] = []
        var names: [String: TokenID] = [:]
        for (i, e) in entries.enumerated() {
            switch e.type {
            case .userDefined:
                if configuration.specialTextRule == .sentencePiece {
                    byFirst[Int(e.bytes[0])].append(Int32(i))
                } else {
                    specials.append((Int32(i), true))
                }
            case .control, .unknown:
                specials.append((Int32(i), false))
            default: break
            }
            if e.type == .control || e.type == .unknown || e.type == .userDefined {
                let name = String(decoding: e.bytes, as: UTF8.self)
                if names[name] == nil { names[name] = i }
            }
        }
        for b in 0..<256 where byFirst[b].count > 1 {
            byFirst[b].sort { entries[Int($0)].bytes.count > entries[Int($1)].bytes.count }
        }
        // llama.cpp tries longer special pieces first; among equal lengths its order is
        // unspecified, so ids decide here.
        specials.sort {
            let a = entries[Int($0.id)].bytes.count, b = entries[Int($1.id)].bytes.count
            return a != b ? a > b : $0.id < $1.id
        }
        userDefinedByFirstByte = byFirst
        specialCandidates = specials
        hasAlwaysSpecial = specials.contains { $0.always }
        specialTokens = names

        var eog = configuration.extraEndOfGenerationIDs
        if let eos = configuration.eosID { eog.insert(eos) }
        endOfGenerationIDs = eog
    }

    /// The byte a `<0xXX>` piece stands for (two uppercase or lowercase hex digits).
    static func byteValue(ofPiece p: [UInt8]) -> UInt8? {
        guard p.count == 6, p[0] == 0x3C, p[1] == 0x30, p[2] == 0x78, p[5] == 0x3E else { return nil }
        func hex(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: return c - 0x30
            case 0x41...0x46: return c - 0x41 + 10
            case 0x61...0x66: return c - 0x61 + 10
            default: return nil
            }
        }
        guard let hi = hex(p[3]), let lo = hex(p[4]) else { return nil }
        return hi << 4 | lo
    }

    /// The entry of an id, or nil when out of range.
    public func entry(of id: TokenID) -> SentencePieceEntry? {
        id >= 0 && id < entries.count ? entries[id] : nil
    }

    /// The id of a piece given exactly as stored (with "▁" for spaces), if any.
    public func id(ofPiece piece: String) -> TokenID? {
        let bytes = Array(piece.utf8)
        let id = bytes.withUnsafeBufferPointer { table.lookup($0.baseAddress, bytes.count) }
        return id >= 0 ? Int(id) : nil
    }

    // MARK: encoding

    public func encode(_ text: String, allowSpecial: Bool) -> [TokenID] {
        var bytes = Array(text.utf8)
        var out: [TokenID] = []
        out.reserveCapacity(bytes.count / 3 + 4)
        bytes.withUnsafeMutableBufferPointer { buf in
            let raw = UnsafeBufferPointer(buf)
            if (allowSpecial && !specialCandidates.isEmpty) || hasAlwaysSpecial {
                for fragment in partition(raw, allowSpecial: allowSpecial) {
                    switch fragment {
                    case let .text(start, count):
                        encodeFragment(UnsafeBufferPointer(rebasing: raw[start..<(start + count)]), into: &out)
                    case let .token(id):
                        out.append(Int(id))
                    }
                }
            } else if !raw.isEmpty {
                encodeFragment(raw, into: &out)
            }
        }
        return out
    }

    enum Fragment: Equatable {
        case text(start: Int, count: Int)
        case token(Int32)
    }

    /// llama.cpp's special-token split: for each special piece, longest first, every occurrence in
    /// every still-unsplit text fragment is cut out, left to right.
    func partition(_ text: UnsafeBufferPointer<UInt8>, allowSpecial: Bool) -> [Fragment] {
        var fragments: [Fragment] = text.isEmpty ? [] : [.text(start: 0, count: text.count)]
        for candidate in specialCandidates where allowSpecial || candidate.always {
            let id = Int(candidate.id)
            let piece = entries[id].bytes
            let rstrip = configuration.rightStripIDs.contains(id)
            let lstrip = configuration.leftStripIDs.contains(id)
            var next: [Fragment] = []
            next.reserveCapacity(fragments.count + 2)
            var changed = false
            for fragment in fragments {
                guard case let .text(start, count) = fragment else { next.append(fragment); continue }
                var base = start
                var remaining = count
                while remaining > 0 {
                    guard let match = SentencePieceTokenizer.find(piece, in: text, from: base, to: base + remaining) else {
                        next.append(.text(start: base, count: remaining))
                        break
                    }
                    changed = true
                    var leftCount = match - base
                    if lstrip {
                        while leftCount > 0 && SentencePieceTokenizer.isCSpace(text[base + leftCount - 1]) { leftCount -= 1 }
                    }
                    if leftCount > 0 { next.append(.text(start: base, count: leftCount)) }
                    next.append(.token(candidate.id))
                    var rightStart = match + piece.count
                    let end = base + remaining
                    if rstrip {
                        while rightStart < end && SentencePieceTokenizer.isCSpace(text[rightStart]) { rightStart += 1 }
                    }
                    base = rightStart
                    remaining = end - rightStart
                }
            }
            if changed { fragments = next }
        }
        return fragments
    }

    /// C's `isspace` in the "C" locale, which llama.cpp uses for LSTRIP/RSTRIP.
    static func isCSpace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }

    static func find(_ needle: [UInt8], in hay: UnsafeBufferPointer<UInt8>, from: Int, to: Int) -> Int? {
        let n = needle.count
        guard n > 0, to - from >= n else { return nil }
        let first = needle[0]
        var i = from
        let last = to - n
        while i <= last {
            if hay[i] == first {
                var j = 1
                while j < n && hay[i + j] == needle[j] { j += 1 }
                if j == n { return i }
            }
            i += 1
        }
        return nil
    }

    static let spaceSymbol: [UInt8] = [0xE2, 0x96, 0x81]

    /// SentencePiece's normalizer for the identity rule: escaping, dummy prefix, extra spaces.
    func normalize(_ text: UnsafeBufferPointer<UInt8>) -> [UInt8] {
        let cfg = configuration
        var out: [UInt8] = []
        out.reserveCapacity(text.count + text.count / 2 + 3)
        var i = 0
        let n = text.count
        if cfg.removeExtraWhitespaces {
            while i < n && text[i] == 0x20 { i += 1 }
        }
        if i == n { return out }
        if cfg.addDummyPrefix {
            if cfg.escapeWhitespaces { out.append(contentsOf: SentencePieceTokenizer.spaceSymbol) } else { out.append(0x20) }
        }
        var prevSpace = cfg.removeExtraWhitespaces
        while i < n {
            let b = text[i]
            i += 1
            if b == 0x20 {
                if prevSpace { continue }
                if cfg.escapeWhitespaces { out.append(contentsOf: SentencePieceTokenizer.spaceSymbol) } else { out.append(0x20) }
                prevSpace = cfg.removeExtraWhitespaces
            } else {
                out.append(b)
                prevSpace = false
            }
        }
        if cfg.removeExtraWhitespaces {
            if cfg.escapeWhitespaces {
                while out.count >= 3 && out[out.count - 3] == 0xE2 && out[out.count - 2] == 0x96 && out[out.count - 1] == 0x81 {
                    out.removeLast(3)
                }
            } else {
                while out.last == 0x20 { out.removeLast() }
            }
        }
        return out
    }

    func encodeFragment(_ text: UnsafeBufferPointer<UInt8>, into out: inout [TokenID]) {
        let normalized = normalize(text)
        guard !normalized.isEmpty else { return }
        var pieces: [Segment] = []
        normalized.withUnsafeBufferPointer { buf in
            bpe(buf, into: &pieces)
        }
        // Byte fallback, or SentencePiece's merging of consecutive unknown pieces.
        var prevUnknown = false
        let unk = configuration.unknownID
        for p in pieces {
            let id = Int(p.id)
            if id == unk && entries[unk].type == .unknown || p.id < 0 {
                if configuration.byteFallback {
                    for k in p.start..<(p.start + p.count) {
                        let b = byteIDs[Int(normalized[k])]
                        out.append(b >= 0 ? Int(b) : unk)
                    }
                    prevUnknown = false
                } else {
                    if !prevUnknown { out.append(unk) }
                    prevUnknown = true
                }
            } else {
                out.append(id)
                prevUnknown = false
            }
        }
    }

    struct Candidate {
        var score: Float
        var id: Int32
        var left: Int
        var right: Int
        var size: Int

        /// Higher score first; for equal scores the leftmost pair.
        @inline(__always) func precedes(_ o: Candidate) -> Bool {
            score > o.score || (score == o.score && left < o.left)
        }
    }

    typealias Segment = (start: Int, count: Int, id: Int32)

    /// The BPE core. Emits (start, length, id) per final piece; id -1 means "not in the vocabulary".
    func bpe(_ s: UnsafeBufferPointer<UInt8>, into pieces: inout [Segment]) {
        let n = s.count
        var start: [Int] = []
        var len: [Int] = []
        var frozen: [Bool] = []
        start.reserveCapacity(n)
        len.reserveCapacity(n)
        frozen.reserveCapacity(n)
        var i = 0
        while i < n {
            let b = s[i]
            var matched = 0
            for id in userDefinedByFirstByte[Int(b)] {
                let p = entries[Int(id)].bytes
                if p.count <= n - i {
                    var k = 1
                    while k < p.count && s[i + k] == p[k] { k += 1 }
                    if k == p.count { matched = p.count; break }
                }
            }
            let step: Int
            if matched > 0 {
                step = matched
            } else {
                // One UTF-8 character; a stray continuation byte counts as one symbol.
                let l = b < 0x80 ? 1 : b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
                step = min(l, n - i)
            }
            start.append(i)
            len.append(step)
            frozen.append(matched > 0)
            i += step
        }
        let count = start.count
        var prev = [Int](repeating: 0, count: count)
        var next = [Int](repeating: 0, count: count)
        for k in 0..<count {
            prev[k] = k - 1
            next[k] = k + 1 < count ? k + 1 : -1
        }

        var heap = CandidateHeap()
        heap.storage.reserveCapacity(count)
        // UNUSED pieces formed by a merge remember the pair that formed them (the last one
        // proposed, as SentencePiece's `rev_merge` does) so they can be split back.
        var revMerge: [Int32: (Int, Int, Int, Int)] = [:]
        let maxLen = maxPieceLength

        func propose(_ l: Int, _ r: Int) {
            guard l >= 0, r >= 0, !frozen[l], !frozen[r] else { return }
            let size = len[l] + len[r]
            guard size <= maxLen else { return }
            let id = table.lookup(s.baseAddress.map { $0 + start[l] }, size)
            guard id >= 0 else { return }
            let e = entries[Int(id)]
            guard e.type.isMergeable else { return }
            heap.push(Candidate(score: e.score, id: id, left: l, right: r, size: size))
            if e.type == .unused {
                revMerge[id] = (start[l], len[l], start[r], len[r])
            }
        }

        if count > 1 {
            for k in 1..<count { propose(k - 1, k) }
        }

        while let top = heap.pop() {
            let l = top.left, r = top.right
            // Stale candidates: one side was merged away or grew since it was proposed.
            guard len[l] > 0, len[r] > 0, len[l] + len[r] == top.size else { continue }
            len[l] += len[r]
            len[r] = 0
            next[l] = next[r]
            if next[r] >= 0 { prev[next[r]] = l }
            propose(prev[l], l)
            propose(l, next[l])
        }

        var k = count > 0 ? 0 : -1
        while k >= 0 {
            resegment(s, start: start[k], count: len[k], revMerge: revMerge, depth: 0, into: &pieces)
            k = next[k]
        }
    }

    func resegment(_ s: UnsafeBufferPointer<UInt8>, start: Int, count: Int,
                   revMerge: [Int32: (Int, Int, Int, Int)], depth: Int, into pieces: inout [Segment]) {
        let id = count <= maxPieceLength ? table.lookup(s.baseAddress.map { $0 + start }, count) : -1
        if id >= 0, entries[Int(id)].type == .unused, depth < 64, let split = revMerge[id] {
            resegment(s, start: split.0, count: split.1, revMerge: revMerge, depth: depth + 1, into: &pieces)
            resegment(s, start: split.2, count: split.3, revMerge: revMerge, depth: depth + 1, into: &pieces)
            return
        }
        pieces.append((start, count, id))
    }

    // MARK: decoding

    public func decodedBytes(of id: TokenID, atStart: Bool) -> [UInt8]? {
        guard id >= 0, id < entries.count else { return nil }
        let e = entries[id]
        switch e.type {
        case .control:
            return []
        case .byte:
            if let b = SentencePieceTokenizer.byteValue(ofPiece: e.bytes) { return [b] }
            return e.bytes
        case .unknown:
            return Array(configuration.unknownSurface.utf8)
        case .normal, .userDefined, .unused:
            var p = e.bytes[...]
            let stripsLeadingSpace = configuration.addDummyPrefix || configuration.removeExtraWhitespaces
            if atStart && stripsLeadingSpace && p.starts(with: SentencePieceTokenizer.spaceSymbol) {
                p = p.dropFirst(3)
            }
            var out: [UInt8] = []
            out.reserveCapacity(p.count)
            var i = p.startIndex
            while i < p.endIndex {
                if p[i] == 0xE2, i + 2 < p.endIndex, p[i + 1] == 0x96, p[i + 2] == 0x81 {
                    out.append(0x20)
                    i += 3
                } else {
                    out.append(p[i])
                    i += 1
                }
            }
            return out
        }
    }

    public func pieceDescription(of id: TokenID) -> String? {
        guard id >= 0, id < entries.count else { return nil }
        return String(decoding: entries[id].bytes, as: UTF8.self)
    }
}

/// A binary max-heap of merge candidates (Swift has no priority queue in the standard library).
struct CandidateHeap {
    var storage: [SentencePieceTokenizer.Candidate] = []

    mutating func push(_ c: SentencePieceTokenizer.Candidate) {
        storage.append(c)
        var i = storage.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard storage[i].precedes(storage[parent]) else { break }
            storage.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> SentencePieceTokenizer.Candidate? {
        guard let top = storage.first else { return nil }
        let last = storage.removeLast()
        if !storage.isEmpty {
            storage[0] = last
            var i = 0
            let n = storage.count
            while true {
                let l = 2 * i + 1, r = l + 1
                var best = i
                if l < n && storage[l].precedes(storage[best]) { best = l }
                if r < n && storage[r].precedes(storage[best]) { best = r }
                if best == i { break }
                storage.swapAt(i, best)
                i = best
            }
        }
        return top
    }
}

/// Piece bytes → id, open addressing over one flat byte buffer, so a lookup of any byte range
/// allocates nothing.
struct PieceTable: Sendable {
    let blob: [UInt8]
    let offsets: [Int32]   // piece i is blob[offsets[i] ..< offsets[i + 1]]
    let slots: [Int32]     // id, or -1 for an empty slot
    let mask: Int

    init(entries: [SentencePieceEntry], source: String) throws {
        var blob: [UInt8] = []
        var offsets: [Int32] = [0]
        offsets.reserveCapacity(entries.count + 1)
        for e in entries {
            blob.append(contentsOf: e.bytes)
            guard blob.count < Int(Int32.max) else {
                throw SentencePieceLoadError.invalidVocabulary(path: source, message: "pieces total more than 2 GiB")
            }
            offsets.append(Int32(blob.count))
        }
        var cap = 16
        while cap < entries.count * 2 { cap <<= 1 }
        var slots = [Int32](repeating: -1, count: cap)
        let mask = cap - 1
        try blob.withUnsafeBufferPointer { b in
            for i in 0..<entries.count {
                let s = Int(offsets[i]), n = Int(offsets[i + 1]) - s
                let p = b.baseAddress.map { $0 + s }
                var h = PieceTable.hash(p, n) & mask
                while slots[h] >= 0 {
                    let other = Int(slots[h])
                    let os = Int(offsets[other]), on = Int(offsets[other + 1]) - os
                    if on == n, let p, let base = b.baseAddress, memcmp(p, base + os, n) == 0 {
                        throw SentencePieceLoadError.invalidVocabulary(
                            path: source, message: "piece \"\(String(decoding: entries[i].bytes, as: UTF8.self))\" appears twice (ids \(other) and \(i))")
                    }
                    h = (h + 1) & mask
                }
                slots[h] = Int32(i)
            }
        }
        self.blob = blob
        self.offsets = offsets
        self.slots = slots
        self.mask = mask
    }

    @inline(__always) static func hash(_ p: UnsafePointer<UInt8>?, _ n: Int) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        if let p {
            for i in 0..<n {
                h = (h ^ UInt64(p[i])) &* 0x0000_0100_0000_01B3
            }
        }
        // Fold the high bits in: FNV's low bits alone cluster for short keys.
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    /// The id of the piece with exactly these bytes, or -1.
    func lookup(_ p: UnsafePointer<UInt8>?, _ n: Int) -> Int32 {
        var h = PieceTable.hash(p, n) & mask
        return blob.withUnsafeBufferPointer { b -> Int32 in
            offsets.withUnsafeBufferPointer { off -> Int32 in
                slots.withUnsafeBufferPointer { sl -> Int32 in
                    while true {
                        let id = sl[h]
                        if id < 0 { return -1 }
                        let s = Int(off[Int(id)]), len = Int(off[Int(id) + 1]) - s
                        if len == n {
                            if n == 0 { return id }
                            if let p, let base = b.baseAddress, memcmp(p, base + s, n) == 0 { return id }
                        }
                        h = (h + 1) & mask
                    }
                }
            }
        }
    }
}
