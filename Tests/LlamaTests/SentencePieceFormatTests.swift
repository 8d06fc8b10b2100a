import Foundation
import Testing
import Llama

/// Writes protobuf wire format, to build small SentencePiece models in tests.
struct ProtoWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 { bytes.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }
    mutating func tag(_ field: Int, _ wire: Int) { varint(UInt64(field << 3 | wire)) }
    mutating func int(_ field: Int, _ v: Int) { tag(field, 0); varint(UInt64(bitPattern: Int64(v))) }
    mutating func bytes(_ field: Int, _ b: [UInt8]) { tag(field, 2); varint(UInt64(b.count)); bytes += b }
    mutating func string(_ field: Int, _ s: String) { bytes(field, Array(s.utf8)) }
    mutating func float(_ field: Int, _ f: Float) {
        tag(field, 5)
        let b = f.bitPattern
        bytes += [UInt8(b & 0xFF), UInt8(b >> 8 & 0xFF), UInt8(b >> 16 & 0xFF), UInt8(b >> 24)]
    }
    mutating func message(_ field: Int, _ build: (inout ProtoWriter) -> Void) {
        var w = ProtoWriter()
        build(&w)
        bytes(field, w.bytes)
    }

    /// A ModelProto with the given pieces; `trainer`/`normalizer` add fields to those specs
    /// (nil leaves the spec out entirely).
    static func model(_ pieces: [(String, Float, Int?)],
                      trainer: ((inout ProtoWriter) -> Void)? = { $0.int(3, 2) },
                      normalizer: ((inout ProtoWriter) -> Void)? = nil) -> [UInt8] {
        var w = ProtoWriter()
        for (p, score, type) in pieces {
            w.message(1) { m in
                m.string(1, p)
                m.float(2, score)
                if let type { m.int(3, type) }
            }
        }
        if let trainer { w.message(2, trainer) }
        if let normalizer { w.message(3, normalizer) }
        return w.bytes
    }
}

@Suite struct SentencePieceFormatTests {
    static let smallPieces: [(String, Float, Int?)] = [("<unk>", 0, 2), ("<s>", 0, 3), ("</s>", 0, 3),
                                                      ("▁", -1, nil), ("a", -2, nil), ("b", -2, 1), ("▁a", -3, nil), ("▁b", -3, nil)]

    func load(_ bytes: [UInt8]) throws -> SentencePieceTokenizer {
        try bytes.withUnsafeBytes { try SentencePieceTokenizer.fromModelProto($0, path: "test.model") }
    }

    @Test func proto2DefaultsApplyWhenFieldsAreAbsent() throws {
        // No normalizer spec: add_dummy_prefix, remove_extra_whitespaces and escape_whitespaces
        // all default to true; no byte_fallback; bos 1, eos 2.
        let t = try load(ProtoWriter.model(Self.smallPieces))
        #expect(t.configuration.addDummyPrefix)
        #expect(t.configuration.removeExtraWhitespaces)
        #expect(t.configuration.escapeWhitespaces)
        #expect(!t.configuration.byteFallback)
        #expect(t.bosID == 1 && t.eosID == 2 && t.unknownID == 0)
        #expect(t.encode("  a  b ", allowSpecial: false) == [6, 7])
        #expect(t.entry(of: 5)?.type == .normal)
    }

    @Test func readsTrainerAndNormalizerFields() throws {
        let bytes = ProtoWriter.model(Self.smallPieces, trainer: { t in
            t.int(3, 2)
            t.int(35, 1)
            t.int(41, -1)        // no BOS: a negative int32 is a 10-byte varint
            t.int(42, 1)
            t.string(44, "?")
            t.int(999, 7)        // unknown fields are skipped
            t.float(998, 1.5)
        }, normalizer: { n in
            n.string(1, "identity")
            n.int(3, 0)
            n.int(4, 0)
        })
        let t = try load(bytes)
        #expect(t.bosID == nil)
        #expect(t.eosID == 1)
        #expect(t.configuration.byteFallback)
        #expect(!t.configuration.addDummyPrefix)
        #expect(!t.configuration.removeExtraWhitespaces)
        #expect(t.decodedBytes(of: 0, atStart: false) == Array("?".utf8))
        #expect(t.encode("a", allowSpecial: false) == [4])
    }

    @Test func refusesWhatItDoesNotImplement() throws {
        func expectError(_ bytes: [UInt8], _ fragment: String) {
            do {
                _ = try load(bytes)
                Issue.record("expected an error mentioning \(fragment)")
            } catch let e as SentencePieceLoadError {
                #expect(e.description.contains(fragment), "\(e)")
                #expect(e.description.contains("test.model"), "\(e)")
            } catch {
                Issue.record("unexpected error type \(error)")
            }
        }
        expectError(ProtoWriter.model(Self.smallPieces, trainer: nil), "unigram")
        expectError(ProtoWriter.model(Self.smallPieces, trainer: { $0.int(3, 1) }), "unigram")
        expectError(ProtoWriter.model(Self.smallPieces, normalizer: { $0.string(1, "nmt_nfkc"); $0.bytes(2, [1, 2, 3, 4]) }), "nmt_nfkc")
        expectError(ProtoWriter.model(Self.smallPieces + [("<0x41>", 0, 6)]), "byte_fallback")
        expectError(ProtoWriter.model(Self.smallPieces + [("a", 0, 1)]), "appears twice")
        expectError(ProtoWriter.model(Self.smallPieces + [("c", 0, 9)]), "type 9")
        expectError(ProtoWriter.model(Array(Self.smallPieces.dropFirst())), "UNKNOWN")
        expectError(ProtoWriter.model(Self.smallPieces, trainer: { $0.int(3, 2); $0.int(42, 100) }), "eos_id")
        expectError(ProtoWriter.model(Self.smallPieces, trainer: { $0.int(3, 2); $0.int(24, 1) }), "suffix")
        // Truncated inside the last piece.
        let good = ProtoWriter.model(Self.smallPieces)
        expectError(Array(good.prefix(good.count - 3)), "byte offset")
        // A group (wire type 3) is refused with its offset.
        expectError([0x0B], "wire type 3")
        expectError([], "no pieces")
    }

    @Test func malformedErrorsNameTheOffset() throws {
        // Field 1 claims 100 bytes with 2 left.
        let bytes: [UInt8] = [0x0A, 100, 0x0A, 0x00]
        #expect(throws: SentencePieceLoadError.malformed(path: "test.model", offset: 1, message: "piece #0 claims 100 bytes but only 2 remain in the enclosing message")) {
            try load(bytes)
        }
    }

    @Test func detectsFormatsFromContent() throws {
        let model = try Data(contentsOf: URL(fileURLWithPath: Fixtures.shared("tokenizers/llama2/tokenizer.model")))
        let bin = try Data(contentsOf: URL(fileURLWithPath: Fixtures.shared("tokenizers/llama2/tokenizer.bin")))
        let gguf = try Data(contentsOf: URL(fileURLWithPath: Fixtures.shared("vocab/ggml-vocab-llama-spm.gguf")))
        let tiktoken = try Data(contentsOf: URL(fileURLWithPath: Fixtures.shared("tokenizers/llama3/tokenizer.model")))
        #expect(SentencePieceTokenizer.looksLikeSentencePieceModel(model.prefix(64)))
        #expect(!SentencePieceTokenizer.looksLikeSentencePieceModel(bin.prefix(64)))
        #expect(!SentencePieceTokenizer.looksLikeSentencePieceModel(gguf.prefix(64)))
        #expect(!SentencePieceTokenizer.looksLikeSentencePieceModel(tiktoken.prefix(64)))
        #expect(SentencePieceTokenizer.looksLikeLlama2cTokenizer(bin.prefix(64)))
        #expect(!SentencePieceTokenizer.looksLikeLlama2cTokenizer(model.prefix(64)))
        #expect(!SentencePieceTokenizer.looksLikeLlama2cTokenizer(gguf.prefix(64)))
        #expect(!SentencePieceTokenizer.looksLikeLlama2cTokenizer(tiktoken.prefix(64)))
        #expect(!SentencePieceTokenizer.looksLikeSentencePieceModel([UInt8]()))
        #expect(!SentencePieceTokenizer.looksLikeLlama2cTokenizer([UInt8]()))
        let f = try GGUFFile(path: Fixtures.shared("vocab/ggml-vocab-llama-spm.gguf"))
        #expect(SentencePieceTokenizer.isSentencePieceGGUF(f))
        let bpe = try GGUFFile(path: Fixtures.shared("vocab/ggml-vocab-llama-bpe.gguf"))
        #expect(!SentencePieceTokenizer.isSentencePieceGGUF(bpe))
        #expect(throws: SentencePieceLoadError.self) { try SentencePieceTokenizer.fromGGUF(bpe) }
        // A llama2.c model checkpoint is not a tokenizer.
        let checkpoint = try Data(contentsOf: URL(fileURLWithPath: Fixtures.shared("fixtures/dev-odd/llama2c.bin")))
        #expect(!SentencePieceTokenizer.looksLikeLlama2cTokenizer(checkpoint.prefix(64)))
        #expect(!SentencePieceTokenizer.looksLikeSentencePieceModel(checkpoint.prefix(64)))
    }

    @Test func loadsAnyFormatByContent() throws {
        let hello = [15043, 3186]
        for p in ["tokenizers/llama2/tokenizer.model", "tokenizers/llama2/tokenizer.bin", "vocab/ggml-vocab-llama-spm.gguf",
                  "fixtures/dev-odd/model-q8_0.gguf"] {
            let t = try SentencePieceTokenizer.load(path: Fixtures.shared(p))
            #expect(t.encode("Hello world", allowSpecial: false) == hello, "\(p)")
        }
        for p in ["tokenizers/llama3/tokenizer.model", "fixtures/dev-odd/llama2c.bin", "data/tinyshakespeare.txt"] {
            #expect(throws: SentencePieceLoadError.self, "\(p)") { try SentencePieceTokenizer.load(path: Fixtures.shared(p)) }
        }
        #expect(throws: SentencePieceLoadError.self) { try SentencePieceTokenizer.load(path: Fixtures.shared("vocab/ggml-vocab-qwen2.gguf")) }
    }

    @Test func llama2cRejectsBadHeadersAndEntries() throws {
        func bin(_ maxLen: Int32, _ entries: [(Float, [UInt8])], lengthOverride: Int32? = nil) -> [UInt8] {
            var out: [UInt8] = []
            func i32(_ v: Int32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
            i32(maxLen)
            for (s, b) in entries {
                withUnsafeBytes(of: s.bitPattern.littleEndian) { out += $0 }
                i32(lengthOverride ?? Int32(b.count))
                out += b
            }
            return out
        }
        func load(_ b: [UInt8]) throws -> SentencePieceTokenizer {
            try b.withUnsafeBytes { try SentencePieceTokenizer.fromLlama2c($0, path: "t.bin") }
        }
        let ok: [(Float, [UInt8])] = [(0, Array("<unk>".utf8)), (0, Array("\n<s>\n".utf8)), (0, Array("\n</s>\n".utf8)),
                                      (-1, Array(" ".utf8)), (-2, Array("a".utf8)), (-3, Array(" a".utf8))]
        let t = try load(bin(8, ok))
        #expect(t.encode("a a", allowSpecial: false) == [5, 5])
        #expect(t.pieceDescription(of: 1) == "<s>")
        #expect(!t.configuration.byteFallback)
        #expect(throws: SentencePieceLoadError.self) { try load(bin(0, ok)) }
        #expect(throws: SentencePieceLoadError.self) { try load(bin(2, ok)) }
        #expect(throws: SentencePieceLoadError.self) { try load(bin(8, ok, lengthOverride: -1)) }
        #expect(throws: SentencePieceLoadError.self) { try load(bin(8, Array(ok.prefix(2)))) }
        #expect(throws: SentencePieceLoadError.self) { try load(Array(bin(8, ok).dropLast())) }
    }
}
