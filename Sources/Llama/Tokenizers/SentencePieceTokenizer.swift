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

    /// An entry from the piece's text (use "▁" for spaces, as the model files do).
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
        /// The id emitted for text outside the vocabulary when byte fallback is off or a byte
        /// piece is missing.
        public var unknownID: TokenID = 0
        /// Beginning-of-sequence id (SentencePiece `bos_id`, GGUF `tokenizer.ggml.bos_token_id`).
        public var bosID: TokenID? = 1
        /// End-of-sequence id (SentencePiece `eos_id`, GGUF `tokenizer.ggml.eos_token_id`).
        public var eosID: TokenID? = 2
        /// End-of-turn ids (besides EOS) that also end a generation.
        public var extraEndOfGenerationIDs: Set<TokenID> = []
        /// Whether the model expects BOS in front of a prompt.
        public var addBOS: Bool = true
        /// What the unknown id decodes to (SentencePiece `unk_surface`).
        public var unknownSurface: String = " \u{2047} "
        /// How USER_DEFINED pieces in the text are handled.
        public var specialTextRule: SpecialTextRule = .sentencePiece
        /// Special pieces after which whitespace is swallowed (llama.cpp's RSTRIP attribute).
        public var rightStripIDs: Set<TokenID> = []
        /// Special pieces before which whitespace is swallowed (llama.cpp's LSTRIP attribute).
        public var leftStripIDs: Set<TokenID> = []

        public init() {}
    }

    /// The settings read from the model file.
    public let configuration: Configuration
    /// The pieces; a piece's id is its position.
    public let entries: [SentencePieceEntry]
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
    /// Scores and types apart from `entries`, so the merge loop touches no reference counts.
    let scores: [Float]
    let types: [SentencePieceType]
    let hasUserDefinedPieces: Bool
    let hasUnusedPieces: Bool
    /// Every pair of adjacent characters inside some mergeable piece.
    let adjacentPairs: CharacterPairSet
    let splitsIntoSegments: Bool
    var specialTextRule: SpecialTextRule { configuration.specialTextRule }

    public let endOfGenerationIDs: Set<TokenID>
    public let specialTokens: [String: TokenID]
    public var vocabularySize: Int { entries.count }
    public var bosID: TokenID? { configuration.bosID }
    public var eosID: TokenID? { configuration.eosID }
    /// The id of unknown text.
    public var unknownID: TokenID { configuration.unknownID }

    /// Builds a tokenizer from its pieces (id = position). Throws for duplicate or empty pieces
    /// and for special ids outside the vocabulary; `source` names the file in errors.
    public convenience init(entries: [SentencePieceEntry], configuration: Configuration, source: String = "<memory>") throws {
        try self.init(entries: entries, configuration: configuration, source: source, splitsIntoSegments: true)
    }

    /// `splitsIntoSegments: false` runs BPE over whole fragments, the plain reference the
    /// segmented run is tested against (same ids, slower on long text).
    public init(entries: [SentencePieceEntry], configuration: Configuration, source: String, splitsIntoSegments: Bool) throws {
        self.splitsIntoSegments = splitsIntoSegments
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
        scores = entries.map(\.score)
        types = entries.map(\.type)
        hasUserDefinedPieces = entries.contains { $0.type == .userDefined }
        hasUnusedPieces = entries.contains { $0.type == .unused }
        adjacentPairs = CharacterPairSet(entries.lazy.filter { $0.type.isMergeable }.map(\.bytes))

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
    public func isControl(_ id: TokenID) -> Bool {
        id >= 0 && id < entries.count && entries[id].type == .control
    }

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
        let bytes = Array(text.utf8)
        var out: [TokenID] = []
        out.reserveCapacity(bytes.count / 3 + 4)
        bytes.withUnsafeBufferPointer { raw in
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

    /// U+2581 "▁" in UTF-8: what SentencePiece writes for a space inside pieces.
    public static let spaceSymbol: [UInt8] = [0xE2, 0x96, 0x81]

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

    /// Fragments longer than this are encoded in chunks cut at character boundaries, so symbol
    /// indices fit in 32 bits. Only text over a gigabyte without special tokens is affected.
    static let maxChunk = 1 << 30

    func encodeFragment(_ text: UnsafeBufferPointer<UInt8>, into out: inout [TokenID]) {
        let normalized = normalize(text)
        guard !normalized.isEmpty else { return }
        var pieces: [Segment] = []
        pieces.reserveCapacity(normalized.count / 3 + 1)
        normalized.withUnsafeBufferPointer { buf in
            table.withView { view in
                var chunkStart = 0
                while chunkStart < buf.count {
                    var chunkEnd = min(buf.count, chunkStart + SentencePieceTokenizer.maxChunk)
                    while chunkEnd < buf.count && chunkEnd > chunkStart && buf[chunkEnd] & 0xC0 == 0x80 { chunkEnd -= 1 }
                    if chunkEnd == chunkStart { chunkEnd = min(buf.count, chunkStart + SentencePieceTokenizer.maxChunk) }
                    bpe(UnsafeBufferPointer(rebasing: buf[chunkStart..<chunkEnd]), offset: chunkStart, view: view, into: &pieces)
                    chunkStart = chunkEnd
                }
            }
        }
        // Byte fallback, or SentencePiece's merging of consecutive unknown pieces.
        var prevUnknown = false
        let unk = configuration.unknownID
        let unkIsUnknown = types[unk] == .unknown
        for p in pieces {
            let id = Int(p.id)
            if p.id < 0 || (id == unk && unkIsUnknown) {
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
        var left: Int32
        var right: Int32
        var size: Int32

        /// Higher score first; for equal scores the leftmost pair.
        @inline(__always) func precedes(_ o: Candidate) -> Bool {
            score > o.score || (score == o.score && left < o.left)
        }
    }

    typealias Segment = (start: Int, count: Int, id: Int32)

    /// The BPE core over one chunk of normalized text (fewer than 2^31 bytes). Emits
    /// (start + offset, length, id) per final piece; id -1 means "not in the vocabulary".
    func bpe(_ s: UnsafeBufferPointer<UInt8>, offset: Int, view: PieceTable.View, into pieces: inout [Segment]) {
        let n = s.count
        guard n > 0, let base = s.baseAddress else { return }
        // Symbols as parallel arrays; a merged-away symbol has length 0.
        let start = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        let len = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        let prev = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        let next = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        let frozen = UnsafeMutablePointer<Bool>.allocate(capacity: n)
        defer {
            start.deallocate(); len.deallocate(); prev.deallocate(); next.deallocate(); frozen.deallocate()
        }
        var count = 0
        var i = 0
        let hasUserDefined = specialTextRule == .sentencePiece && hasUserDefinedPieces
        while i < n {
            let b = s[i]
            var matched = 0
            if hasUserDefined {
                for id in userDefinedByFirstByte[Int(b)] {
                    let p = entries[Int(id)].bytes
                    if p.count <= n - i {
                        var k = 1
                        while k < p.count && s[i + k] == p[k] { k += 1 }
                        if k == p.count { matched = p.count; break }
                    }
                }
            }
            let step: Int
            if matched > 0 {
                step = matched
            } else {
                // One UTF-8 character; a stray continuation byte counts as one symbol.
                let l = b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
                step = min(l, n - i)
            }
            start[count] = Int32(i)
            len[count] = Int32(step)
            frozen[count] = matched > 0
            prev[count] = Int32(count - 1)
            next[count] = Int32(count + 1)
            count += 1
            i += step
        }
        next[count - 1] = -1

        var heap = CandidateHeap()
        // UNUSED pieces formed by a merge remember the pair that formed them (the last one
        // proposed, as SentencePiece's `rev_merge` does) so they can be split back.
        var revMerge: [Int32: (Int32, Int32, Int32, Int32)] = [:]
        let maxLen = maxPieceLength
        let hasUnused = hasUnusedPieces
        let segmented = splitsIntoSegments && !hasUnused

        @inline(__always) func charKey(_ k: Int) -> UInt64 {
            var v: UInt64 = 0
            for j in 0..<Int(len[k]) { v = v << 8 | UInt64(base[Int(start[k]) + j]) }
            return v
        }

        scores.withUnsafeBufferPointer { scores in
            types.withUnsafeBufferPointer { types in
                @inline(__always) func propose(_ l: Int32, _ r: Int32) {
                    guard l >= 0, r >= 0, !frozen[Int(l)], !frozen[Int(r)] else { return }
                    let size = Int(len[Int(l)]) + Int(len[Int(r)])
                    guard size <= maxLen else { return }
                    let id = view.lookup(base + Int(start[Int(l)]), size)
                    guard id >= 0 else { return }
                    let type = types[Int(id)]
                    guard type.isMergeable else { return }
                    heap.push(Candidate(score: scores[Int(id)], left: l, right: r, size: Int32(size)))
                    if hasUnused && type == .unused {
                        revMerge[id] = (start[Int(l)], len[Int(l)], start[Int(r)], len[Int(r)])
                    }
                }

                // Segments: where no mergeable piece contains the two characters on either side
                // of a boundary, no merge can ever cross it, and the merges on each side neither
                // see nor affect the other. Encoding each segment alone (small heaps, in cache)
                // then gives exactly the ids of the whole-text run. UNUSED pieces' split-back
                // depends on the global order of proposals, so with them the text stays whole.
                var segStart = 0
                var prevKey = charKey(0)
                var k = 1
                while segStart < count {
                    var segEnd = count
                    if segmented {
                        while k < count {
                            let key = charKey(k)
                            let cut = frozen[k - 1] || frozen[k] || !adjacentPairs.contains(prevKey, key)
                            prevKey = key
                            k += 1
                            if cut { segEnd = k - 1; break }
                        }
                    }
                    prev[segStart] = -1
                    next[segEnd - 1] = -1
                    if segEnd - segStart > 1 {
                        for j in (segStart + 1)..<segEnd { propose(Int32(j - 1), Int32(j)) }
                        while let top = heap.pop() {
                            let l = Int(top.left), r = Int(top.right)
                            // Stale candidates: one side was merged away or grew since it was proposed.
                            guard len[l] > 0, len[r] > 0, len[l] + len[r] == top.size else { continue }
                            len[l] += len[r]
                            len[r] = 0
                            next[l] = next[r]
                            if next[r] >= 0 { prev[Int(next[r])] = Int32(l) }
                            propose(prev[l], Int32(l))
                            propose(Int32(l), next[l])
                        }
                    }
                    var j = segStart
                    while j >= 0 {
                        let st = Int(start[j]), ln = Int(len[j])
                        if hasUnused {
                            resegment(base, start: st, count: ln, offset: offset, view: view, revMerge: revMerge, depth: 0, into: &pieces)
                        } else {
                            let id = ln <= maxLen ? view.lookup(base + st, ln) : -1
                            pieces.append((st + offset, ln, id))
                        }
                        j = Int(next[j])
                    }
                    segStart = segEnd
                }
            }
        }
    }

    func resegment(_ base: UnsafePointer<UInt8>, start: Int, count: Int, offset: Int, view: PieceTable.View,
                   revMerge: [Int32: (Int32, Int32, Int32, Int32)], depth: Int, into pieces: inout [Segment]) {
        let id = count <= maxPieceLength ? view.lookup(base + start, count) : -1
        if id >= 0, types[Int(id)] == .unused, depth < 64, let split = revMerge[id] {
            resegment(base, start: Int(split.0), count: Int(split.1), offset: offset, view: view, revMerge: revMerge, depth: depth + 1, into: &pieces)
            resegment(base, start: Int(split.2), count: Int(split.3), offset: offset, view: view, revMerge: revMerge, depth: depth + 1, into: &pieces)
            return
        }
        pieces.append((start + offset, count, id))
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

/// A set of (character, character) pairs, each character packed as its UTF-8 bytes.
/// Characters are cut by the lead byte exactly as the encoder cuts its initial symbols.
struct CharacterPairSet: Sendable {
    var slots: [UInt64]
    var mask: Int

    init<S: Sequence>(_ pieces: S) where S.Element == [UInt8] {
        var keys: [UInt64] = []
        for p in pieces {
            var i = 0
            var prev: UInt64? = nil
            while i < p.count {
                let b = p[i]
                let l = min(b < 0xC0 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4, p.count - i)
                var key: UInt64 = 0
                for j in 0..<l { key = key << 8 | UInt64(p[i + j]) }
                if let prev { keys.append(CharacterPairSet.combine(prev, key)) }
                prev = key
                i += l
            }
        }
        var cap = 16
        while cap < keys.count * 2 { cap <<= 1 }
        mask = cap - 1
        slots = [UInt64](repeating: 0, count: cap)
        for k in keys {
            var h = CharacterPairSet.hash(k) & mask
            while slots[h] != 0 && slots[h] != k { h = (h + 1) & mask }
            slots[h] = k
        }
    }

    /// Two packed characters (at most 32 bits each); bit 63 marks an occupied slot.
    @inline(__always) static func combine(_ a: UInt64, _ b: UInt64) -> UInt64 { (a << 32 | b) | 1 << 63 }
    @inline(__always) static func hash(_ k: UInt64) -> Int { Int(truncatingIfNeeded: (k &* 0x9E37_79B9_7F4A_7C15) >> 20) }

    @inline(__always) func contains(_ a: UInt64, _ b: UInt64) -> Bool {
        let k = CharacterPairSet.combine(a, b)
        var h = CharacterPairSet.hash(k) & mask
        while true {
            let v = slots[h]
            if v == k { return true }
            if v == 0 { return false }
            h = (h + 1) & mask
        }
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

    /// Raw pointers into the table, valid inside `withView`: lookups without any array overhead.
    struct View {
        let blob: UnsafePointer<UInt8>?
        let offsets: UnsafeBufferPointer<Int32>
        let slots: UnsafeBufferPointer<Int32>
        let mask: Int

        /// The id of the piece with exactly these bytes, or -1.
        @inline(__always) func lookup(_ p: UnsafePointer<UInt8>?, _ n: Int) -> Int32 {
            var h = PieceTable.hash(p, n) & mask
            while true {
                let id = slots[h]
                if id < 0 { return -1 }
                let s = Int(offsets[Int(id)]), len = Int(offsets[Int(id) + 1]) - s
                if len == n {
                    if n == 0 { return id }
                    if let p, let blob, memcmp(p, blob + s, n) == 0 { return id }
                }
                h = (h + 1) & mask
            }
        }
    }

    func withView<R>(_ body: (View) -> R) -> R {
        blob.withUnsafeBufferPointer { b in
            offsets.withUnsafeBufferPointer { off in
                slots.withUnsafeBufferPointer { sl in
                    body(View(blob: b.baseAddress, offsets: off, slots: sl, mask: mask))
                }
            }
        }
    }

    /// The id of the piece with exactly these bytes, or -1.
    func lookup(_ p: UnsafePointer<UInt8>?, _ n: Int) -> Int32 {
        withView { $0.lookup(p, n) }
    }
}
