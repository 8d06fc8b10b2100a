import Foundation

// SentencePiece's `tokenizer.model`: one serialized `ModelProto` (protobuf, proto2).
//
// Wire format: a message is a sequence of fields, each `tag` (varint: field number << 3 | wire
// type) then a value whose shape the wire type gives: 0 varint (at most 10 bytes, 7 bits each,
// low group first), 1 fixed 8 bytes, 2 varint length + that many bytes (strings, bytes, nested
// messages), 5 fixed 4 bytes. Wire types 3/4 (groups) are long deprecated and refused. Unknown
// fields are skipped. A scalar field that appears twice keeps its last value; a nested message
// that appears twice is merged, field by field (proto2 rules).
//
// The fields read (numbers from sentencepiece_model.proto):
//   ModelProto      1 pieces (repeated SentencePiece), 2 trainer_spec, 3 normalizer_spec,
//                   5 denormalizer_spec (a NormalizerSpec)
//   SentencePiece   1 piece (string), 2 score (float), 3 type (enum, default NORMAL=1:
//                   NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6)
//   TrainerSpec     3 model_type (UNIGRAM 1 = default, BPE 2, WORD 3, CHAR 4),
//                   24 treat_whitespace_as_suffix (false), 35 byte_fallback (false),
//                   40 unk_id (0), 41 bos_id (1), 42 eos_id (2), 43 pad_id (-1),
//                   44 unk_surface (" \u{2047} ")
//   NormalizerSpec  1 name, 2 precompiled_charsmap (bytes), 3 add_dummy_prefix (true),
//                   4 remove_extra_whitespaces (true), 5 escape_whitespaces (true)
// int32 fields travel as varints; negative ones are sign-extended to 10 bytes.

/// A bounds-checked protobuf wire reader over part of a file. Offsets in errors are absolute.
struct ProtobufReader {
    let bytes: UnsafeRawBufferPointer
    let path: String
    private(set) var offset: Int
    let end: Int

    init(bytes: UnsafeRawBufferPointer, path: String, start: Int, end: Int) {
        self.bytes = bytes
        self.path = path
        self.offset = start
        self.end = end
    }

    var isAtEnd: Bool { offset >= end }

    func fail(_ at: Int, _ message: String) -> SentencePieceLoadError {
        .malformed(path: path, offset: at, message: message)
    }

    mutating func varint(_ what: String) throws -> UInt64 {
        let start = offset
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < end else { throw fail(start, "\(what): the message ends inside a varint") }
            let b = bytes[offset]
            offset += 1
            // The tenth byte may only carry the top bit of a 64-bit value.
            if shift == 63 && b > 1 { throw fail(start, "\(what): varint longer than 64 bits") }
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
        }
    }

    /// The next field's number and wire type, or nil at the end of the message.
    mutating func tag() throws -> (field: UInt64, wire: UInt8, at: Int)? {
        guard !isAtEnd else { return nil }
        let at = offset
        let t = try varint("field tag")
        let field = t >> 3
        guard field != 0 else { throw fail(at, "field number 0 is not allowed") }
        return (field, UInt8(t & 7), at)
    }

    /// The extent of a length-delimited value.
    mutating func lengthDelimited(_ what: String) throws -> Range<Int> {
        let at = offset
        let n = try varint("\(what) length")
        guard n <= UInt64(end - offset) else {
            throw fail(at, "\(what) claims \(n) bytes but only \(end - offset) remain in the enclosing message")
        }
        let r = offset..<(offset + Int(n))
        offset += Int(n)
        return r
    }

    mutating func fixed32(_ what: String) throws -> UInt32 {
        guard end - offset >= 4 else { throw fail(offset, "\(what): the message ends inside a 4-byte value") }
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        offset += 4
        return UInt32(littleEndian: v)
    }

    mutating func skip(wire: UInt8, field: UInt64, at: Int) throws {
        switch wire {
        case 0: _ = try varint("field \(field)")
        case 1:
            guard end - offset >= 8 else { throw fail(offset, "field \(field): the message ends inside an 8-byte value") }
            offset += 8
        case 2: _ = try lengthDelimited("field \(field)")
        case 5: _ = try fixed32("field \(field)")
        default: throw fail(at, "field \(field) has wire type \(wire), which is not 0, 1, 2 or 5")
        }
    }

    func expect(_ wire: UInt8, _ wanted: UInt8, _ what: String, at: Int) throws {
        guard wire == wanted else { throw fail(at, "\(what) has wire type \(wire), expected \(wanted)") }
    }

    mutating func bool(_ wire: UInt8, _ what: String, at: Int) throws -> Bool {
        try expect(wire, 0, what, at: at)
        return try varint(what) != 0
    }

    /// An int32 field: varint, truncated to 32 bits as protobuf does.
    mutating func int32(_ wire: UInt8, _ what: String, at: Int) throws -> Int {
        try expect(wire, 0, what, at: at)
        return Int(Int32(truncatingIfNeeded: try varint(what)))
    }

    mutating func string(_ wire: UInt8, _ what: String, at: Int) throws -> [UInt8] {
        try expect(wire, 2, what, at: at)
        let r = try lengthDelimited(what)
        return Array(bytes[r])
    }

    func sub(_ r: Range<Int>) -> ProtobufReader {
        ProtobufReader(bytes: bytes, path: path, start: r.lowerBound, end: r.upperBound)
    }
}

/// What a SentencePiece `ModelProto` says, as far as encoding and decoding need it.
public struct SentencePieceModelProto: Sendable, Equatable {
    public var pieces: [SentencePieceEntry] = []
    /// TrainerSpec.ModelType: 1 unigram (the proto2 default), 2 BPE, 3 word, 4 char.
    public var modelType: Int = 1
    public var byteFallback = false
    public var treatWhitespaceAsSuffix = false
    public var unknownID = 0
    public var bosID = 1
    public var eosID = 2
    public var padID = -1
    public var unknownSurface: [UInt8] = Array(" \u{2047} ".utf8)
    public var normalizerName: String = ""
    public var precompiledCharsmapSize = 0
    public var addDummyPrefix = true
    public var removeExtraWhitespaces = true
    public var escapeWhitespaces = true
    public var denormalizerCharsmapSize = 0

    /// Parses a serialized `ModelProto`; `path` names the file in errors.
    public static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws -> SentencePieceModelProto {
        var m = SentencePieceModelProto()
        var r = ProtobufReader(bytes: bytes, path: path, start: 0, end: bytes.count)
        while let (field, wire, at) = try r.tag() {
            switch field {
            case 1:
                try r.expect(wire, 2, "ModelProto.pieces", at: at)
                var p = r.sub(try r.lengthDelimited("piece #\(m.pieces.count)"))
                m.pieces.append(try parsePiece(&p, index: m.pieces.count))
            case 2:
                try r.expect(wire, 2, "ModelProto.trainer_spec", at: at)
                var t = r.sub(try r.lengthDelimited("trainer_spec"))
                try m.parseTrainerSpec(&t)
            case 3, 5:
                let what = field == 3 ? "normalizer_spec" : "denormalizer_spec"
                try r.expect(wire, 2, "ModelProto.\(what)", at: at)
                var n = r.sub(try r.lengthDelimited(what))
                try m.parseNormalizerSpec(&n, denormalizer: field == 5)
            default:
                try r.skip(wire: wire, field: field, at: at)
            }
        }
        return m
    }

    static func parsePiece(_ r: inout ProtobufReader, index: Int) throws -> SentencePieceEntry {
        var piece: [UInt8] = []
        var score: Float = 0
        var type = SentencePieceType.normal
        while let (field, wire, at) = try r.tag() {
            switch field {
            case 1: piece = try r.string(wire, "piece #\(index) text", at: at)
            case 2:
                try r.expect(wire, 5, "piece #\(index) score", at: at)
                score = Float(bitPattern: try r.fixed32("piece #\(index) score"))
            case 3:
                let v = try r.int32(wire, "piece #\(index) type", at: at)
                guard v >= 1, v <= 6, let t = SentencePieceType(rawValue: UInt8(v)) else {
                    throw r.fail(at, "piece #\(index) has type \(v), expected 1 (NORMAL) to 6 (BYTE)")
                }
                type = t
            default: try r.skip(wire: wire, field: field, at: at)
            }
        }
        return SentencePieceEntry(bytes: piece, score: score, type: type)
    }

    mutating func parseTrainerSpec(_ r: inout ProtobufReader) throws {
        while let (field, wire, at) = try r.tag() {
            switch field {
            case 3: modelType = try r.int32(wire, "trainer_spec.model_type", at: at)
            case 24: treatWhitespaceAsSuffix = try r.bool(wire, "trainer_spec.treat_whitespace_as_suffix", at: at)
            case 35: byteFallback = try r.bool(wire, "trainer_spec.byte_fallback", at: at)
            case 40: unknownID = try r.int32(wire, "trainer_spec.unk_id", at: at)
            case 41: bosID = try r.int32(wire, "trainer_spec.bos_id", at: at)
            case 42: eosID = try r.int32(wire, "trainer_spec.eos_id", at: at)
            case 43: padID = try r.int32(wire, "trainer_spec.pad_id", at: at)
            case 44: unknownSurface = try r.string(wire, "trainer_spec.unk_surface", at: at)
            default: try r.skip(wire: wire, field: field, at: at)
            }
        }
    }

    mutating func parseNormalizerSpec(_ r: inout ProtobufReader, denormalizer: Bool) throws {
        let what = denormalizer ? "denormalizer_spec" : "normalizer_spec"
        while let (field, wire, at) = try r.tag() {
            switch (field, denormalizer) {
            case (1, false): normalizerName = String(decoding: try r.string(wire, "\(what).name", at: at), as: UTF8.self)
            case (2, false): precompiledCharsmapSize = try r.string(wire, "\(what).precompiled_charsmap", at: at).count
            case (2, true): denormalizerCharsmapSize = try r.string(wire, "\(what).precompiled_charsmap", at: at).count
            case (3, false): addDummyPrefix = try r.bool(wire, "\(what).add_dummy_prefix", at: at)
            case (4, false): removeExtraWhitespaces = try r.bool(wire, "\(what).remove_extra_whitespaces", at: at)
            case (5, false): escapeWhitespaces = try r.bool(wire, "\(what).escape_whitespaces", at: at)
            default: try r.skip(wire: wire, field: field, at: at)
            }
        }
    }
}

extension SentencePieceTokenizer {
    /// True when the bytes start like a serialized SentencePiece `ModelProto`: a length-delimited
    /// field 1 (a piece) or 2 (trainer spec) whose own first field is length-delimited too.
    public static func looksLikeSentencePieceModel(_ prefix: some Collection<UInt8>) -> Bool {
        let b = Array(prefix.prefix(64))
        guard b.count >= 4, b[0] == 0x0A || b[0] == 0x12 else { return false }
        var i = 1
        var length: UInt64 = 0
        var shift: UInt64 = 0
        while i < b.count && i < 6 {
            length |= UInt64(b[i] & 0x7F) << shift
            shift += 7
            i += 1
            if b[i - 1] < 0x80 { break }
        }
        guard length >= 2, i < b.count else { return false }
        // Inside: a tag with wire type 2 (piece text / input file name) or 0 (model type…),
        // for a small field number.
        let inner = b[i]
        return inner >> 3 >= 1 && inner >> 3 <= 15 && (inner & 7 == 2 || inner & 7 == 0 || inner & 7 == 5)
    }

    /// Loads a SentencePiece `tokenizer.model` (a serialized `ModelProto`). Only the BPE model
    /// type with the identity normalizer (no precompiled character map) is supported; anything
    /// else is refused with ``SentencePieceLoadError/unsupported(path:message:)``.
    public static func load(modelPath path: String) throws -> SentencePieceTokenizer {
        let file = try MappedFile(path: path)
        return try fromModelProto(file.bytes, path: path)
    }

    /// Builds a tokenizer from the bytes of a serialized `ModelProto`.
    public static func fromModelProto(_ bytes: UnsafeRawBufferPointer, path: String) throws -> SentencePieceTokenizer {
        let m = try SentencePieceModelProto.parse(bytes, path: path)
        return try fromModelProto(m, path: path)
    }

    /// Builds a tokenizer from a parsed `ModelProto`, checking what SentencePiece checks.
    public static func fromModelProto(_ m: SentencePieceModelProto, path: String) throws -> SentencePieceTokenizer {
        guard !m.pieces.isEmpty else {
            throw SentencePieceLoadError.invalidVocabulary(path: path, message: "the model has no pieces (is this a SentencePiece model?)")
        }
        guard m.modelType == 2 else {
            let name = [1: "unigram", 3: "word", 4: "char"][m.modelType] ?? "type \(m.modelType)"
            throw SentencePieceLoadError.unsupported(path: path, message: "the SentencePiece model is \(name) (trainer_spec.model_type = \(m.modelType)); only BPE (2) is implemented")
        }
        guard m.precompiledCharsmapSize == 0 else {
            throw SentencePieceLoadError.unsupported(path: path, message: "normalizer \"\(m.normalizerName)\" needs its \(m.precompiledCharsmapSize)-byte precompiled character map, which is not implemented (only the identity normalizer is)")
        }
        guard m.denormalizerCharsmapSize == 0 else {
            throw SentencePieceLoadError.unsupported(path: path, message: "the model has a denormalizer character map, which is not implemented")
        }
        guard !m.treatWhitespaceAsSuffix else {
            throw SentencePieceLoadError.unsupported(path: path, message: "trainer_spec.treat_whitespace_as_suffix is set; only prefix whitespace is implemented")
        }
        // SentencePiece takes the unknown id from the one UNKNOWN piece, not from unk_id.
        let unknowns = m.pieces.indices.filter { m.pieces[$0].type == .unknown }
        guard unknowns.count == 1, let unk = unknowns.first else {
            throw SentencePieceLoadError.invalidVocabulary(path: path, message: "expected exactly one UNKNOWN piece, found \(unknowns.count)")
        }
        if !m.byteFallback, let b = m.pieces.firstIndex(where: { $0.type == .byte }) {
            throw SentencePieceLoadError.invalidVocabulary(path: path, message: "byte piece #\(b) found although trainer_spec.byte_fallback is false")
        }
        for (i, p) in m.pieces.enumerated() where p.type == .byte && byteValue(ofPiece: p.bytes) == nil {
            throw SentencePieceLoadError.invalidVocabulary(path: path, message: "byte piece #\(i) \"\(String(decoding: p.bytes, as: UTF8.self))\" is not of the form <0xXX>")
        }
        var cfg = Configuration()
        cfg.addDummyPrefix = m.addDummyPrefix
        cfg.removeExtraWhitespaces = m.removeExtraWhitespaces
        cfg.escapeWhitespaces = m.escapeWhitespaces
        cfg.byteFallback = m.byteFallback
        cfg.unknownID = unk
        // -1 means "no such token" in TrainerSpec.
        func optionalID(_ id: Int, _ what: String) throws -> TokenID? {
            if id < 0 { return nil }
            guard id < m.pieces.count else {
                throw SentencePieceLoadError.invalidVocabulary(path: path, message: "trainer_spec.\(what) = \(id) is outside the \(m.pieces.count) pieces")
            }
            return id
        }
        cfg.bosID = try optionalID(m.bosID, "bos_id")
        cfg.eosID = try optionalID(m.eosID, "eos_id")
        cfg.addBOS = cfg.bosID != nil
        cfg.unknownSurface = String(decoding: m.unknownSurface, as: UTF8.self)
        cfg.specialTextRule = .sentencePiece
        cfg.extraEndOfGenerationIDs = endOfTurnIDs(m.pieces, promote: false)
        return try SentencePieceTokenizer(entries: m.pieces, configuration: cfg, source: path)
    }

    /// Texts of end-of-turn tokens that llama.cpp treats as ending a generation.
    /// llama.cpp's end-of-generation texts (`llama_vocab::load`, llama-cpp-python 0.3.36): a
    /// token with one of these texts becomes CONTROL and ends generation, whatever its type.
    static var endOfTurnNames: Set<String> { LlamaCppTokenTypes.endOfGenerationNames }

    /// Ids whose text is a known end-of-turn marker. Without `promote`, only pieces that are
    /// already CONTROL or USER_DEFINED count (a NORMAL piece is ordinary text).
    static func endOfTurnIDs(_ pieces: [SentencePieceEntry], promote: Bool) -> Set<TokenID> {
        var ids: Set<TokenID> = []
        for (i, p) in pieces.enumerated() where promote || p.type == .control || p.type == .userDefined {
            if p.bytes.count <= 32, endOfTurnNames.contains(String(decoding: p.bytes, as: UTF8.self)) { ids.insert(i) }
        }
        return ids
    }
}
