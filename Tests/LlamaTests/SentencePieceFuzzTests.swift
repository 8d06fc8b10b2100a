import Foundation
import Testing
import Llama


/// Truncated and mutated tokenizer files: each load either throws one of the documented error
/// types or gives a tokenizer that encodes and decodes without crashing.
@Suite struct SentencePieceFuzzTests {
    static let probes = ["Hello wörld 🦙 <s>x</s>", "  a\tb\n", "<unk><0x41>▁"]

    /// Mutations that tend to hit length fields: random bytes, extremes, small increments.
    static func mutate(_ bytes: [UInt8], _ rng: inout Xoshiro256) -> [UInt8] {
        var b = bytes
        guard !b.isEmpty else { return b }
        for _ in 0...rng.below(4) {
            let i = rng.below(b.count)
            switch rng.below(5) {
            case 0: b[i] = UInt8(truncatingIfNeeded: rng.next())
            case 1: b[i] = 0xFF
            case 2: b[i] = 0x00
            case 3: b[i] = b[i] &+ 1
            default: b[i] ^= UInt8(1) << UInt8(rng.below(8))
            }
        }
        return b
    }

    static func exercise(_ t: SentencePieceTokenizer) {
        for p in probes {
            for special in [false, true] {
                let ids = t.encode(p, allowSpecial: special)
                for id in ids { #expect(id >= 0 && id < t.vocabularySize) }
                _ = try? t.decode(ids)
            }
        }
        _ = t.decodedBytes(of: t.vocabularySize - 1, atStart: true)
    }

    /// The first `count` pieces of the Llama 2 protobuf plus its trainer and normalizer specs:
    /// still a valid model, small enough to fuzz thousands of times.
    static func smallModel(pieces count: Int) throws -> [UInt8] {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.shared("tokenizers/llama2/tokenizer.model"))))
        var pieces: [UInt8] = []
        var rest: [UInt8] = []
        var n = 0
        // The top-level fields of the ModelProto, walked with a few lines of protobuf's wire
        // format (not the reader under test): field 1 is a piece.
        var at = 0
        func varint() throws -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                guard at < bytes.count, shift < 64 else { throw ProtobufWalkError(offset: at) }
                let b = bytes[at]
                at += 1
                v |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return v }
                shift += 7
            }
        }
        while at < bytes.count {
            let start = at
            let tag = try varint()
            switch tag & 7 {
            case 0: _ = try varint()
            case 1: at += 8
            case 2: at += Int(try varint())
            case 5: at += 4
            default: throw ProtobufWalkError(offset: start)
            }
            guard at <= bytes.count else { throw ProtobufWalkError(offset: start) }
            if tag >> 3 == 1 {
                if n < count { pieces += bytes[start..<at] }
                n += 1
            } else {
                rest += bytes[start..<at]
            }
        }
        return pieces + rest
    }

    struct ProtobufWalkError: Error, CustomStringConvertible {
        let offset: Int
        var description: String { "tokenizer.model: unreadable protobuf field at byte \(offset)" }
    }

    @Test func protobufModel() throws {
        let small = try Self.smallModel(pieces: 700)
        let base = try small.withUnsafeBytes { try SentencePieceTokenizer.fromModelProto($0, path: "small.model") }
        #expect(base.vocabularySize == 700)
        var rng = Xoshiro256(seed: 0x5EED_0001)
        var loaded = 0, refused = 0
        func attempt(_ b: [UInt8]) {
            do {
                let t = try b.withUnsafeBytes { try SentencePieceTokenizer.fromModelProto($0, path: "fuzz.model") }
                Self.exercise(t)
                loaded += 1
            } catch is SentencePieceLoadError {
                refused += 1
            } catch {
                Issue.record("unexpected error type: \(error)")
            }
        }
        for cut in stride(from: 0, to: small.count, by: max(1, small.count / 600)) { attempt(Array(small.prefix(cut))) }
        for _ in 0..<2500 { attempt(Self.mutate(small, &rng)) }
        // A few truncations of the full 32000-piece file, at random points.
        let full = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.shared("tokenizers/llama2/tokenizer.model"))))
        for _ in 0..<30 { attempt(Array(full.prefix(rng.below(full.count)))) }
        #expect(loaded > 0 && refused > 0, "loaded \(loaded), refused \(refused)")
    }

    @Test func llama2cTokenizerBin() throws {
        let full = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.shared("tokenizers/llama2/tokenizer.bin"))))
        // Header plus the first ~700 entries: the format has no count, so any entry boundary
        // makes a valid smaller file.
        var end = 4, n = 0
        while n < 700 {
            let len = full[end + 4..<end + 8].withUnsafeBytes { Int(Int32(littleEndian: $0.loadUnaligned(as: Int32.self))) }
            end += 8 + len
            n += 1
        }
        let small = Array(full.prefix(end))
        var rng = Xoshiro256(seed: 0x5EED_0002)
        var loaded = 0, refused = 0
        func attempt(_ b: [UInt8]) {
            do {
                let t = try b.withUnsafeBytes { try SentencePieceTokenizer.fromLlama2c($0, path: "fuzz.bin") }
                Self.exercise(t)
                loaded += 1
            } catch is SentencePieceLoadError {
                refused += 1
            } catch {
                Issue.record("unexpected error type: \(error)")
            }
        }
        for cut in stride(from: 0, to: small.count, by: max(1, small.count / 600)) { attempt(Array(small.prefix(cut))) }
        for _ in 0..<2500 { attempt(Self.mutate(small, &rng)) }
        for _ in 0..<30 { attempt(Array(full.prefix(rng.below(full.count)))) }
        #expect(loaded > 0 && refused > 0, "loaded \(loaded), refused \(refused)")
    }

    /// A GGUF holding the first `count` tokens of the Llama 2 vocabulary and the other keys of
    /// the shared file, written with the same key order and types.
    static func smallGGUF(tokens count: Int) throws -> [UInt8] {
        let f = try GGUFFile(path: Fixtures.shared("vocab/ggml-vocab-llama-spm.gguf"))
        var out: [UInt8] = Array("GGUF".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        func str(_ s: String) { u64(UInt64(s.utf8.count)); out += Array(s.utf8) }
        u32(3)
        u64(0)
        let keys = f.metadataKeys.filter { $0.hasPrefix("tokenizer.") || $0 == "general.name" }
        u64(UInt64(keys.count))
        for key in keys {
            str(key)
            guard let v = f.metadata[key] else { continue }
            switch v {
            case let .string(s): u32(8); str(s)
            case let .bool(b): u32(7); out.append(b ? 1 : 0)
            case let .unsigned(x): u32(4); u32(UInt32(x))
            case let .signed(x): u32(5); u32(UInt32(bitPattern: Int32(x)))
            case let .float(x): u32(6); u32(Float(x).bitPattern)
            case let .array(items):
                let items = Array(items.prefix(count))
                switch items.first {
                case .string?: u32(9); u32(8); u64(UInt64(items.count)); for case let .string(s) in items { str(s) }
                case .float?: u32(9); u32(6); u64(UInt64(items.count)); for case let .float(x) in items { u32(Float(x).bitPattern) }
                default: u32(9); u32(5); u64(UInt64(items.count)); for i in items { u32(UInt32(bitPattern: Int32(i.int ?? 0))) }
                }
            }
        }
        return out
    }

    @Test func ggufVocabulary() throws {
        let small = try Self.smallGGUF(tokens: 700)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spm-fuzz-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("v.gguf").path
        func write(_ b: [UInt8]) throws { try Data(b).write(to: URL(fileURLWithPath: path)) }

        try write(small)
        let base = try SentencePieceTokenizer.load(ggufPath: path)
        #expect(base.vocabularySize == 700)
        #expect(try base.decode(base.encode("Hello there", allowSpecial: false)) == "Hello there")

        var rng = Xoshiro256(seed: 0x5EED_0003)
        var loaded = 0, refused = 0
        func attempt(_ b: [UInt8]) throws {
            try write(b)
            do {
                let t = try SentencePieceTokenizer.load(ggufPath: path)
                Self.exercise(t)
                loaded += 1
            } catch is SentencePieceLoadError {
                refused += 1
            } catch is GGUFError {
                refused += 1
            } catch {
                Issue.record("unexpected error type: \(error)")
            }
        }
        for cut in stride(from: 0, to: small.count, by: max(1, small.count / 400)) { try attempt(Array(small.prefix(cut))) }
        for _ in 0..<1500 { try attempt(Self.mutate(small, &rng)) }
        #expect(loaded > 0 && refused > 0, "loaded \(loaded), refused \(refused)")
    }
}

/// Long inputs: encoding is O(n log n) by design, so these finish in well under a second in
/// release builds. No timing assertion; the durations are printed.
@Suite struct SentencePieceLongInputTests {
    @Test func longRepetitiveAndMixedText() throws {
        let t = try SentencePieceFixtures.model()
        let clock = ContinuousClock()

        let aaa = String(repeating: "a", count: 200_000)
        var ids: [Int] = []
        let d1 = clock.measure { ids = t.encode(aaa, allowSpecial: false) }
        #expect(try t.decode(ids) == aaa)
        // "▁a", then "aaaa" (27137) over and over, as the fixture's shorter run of a's shows.
        #expect(ids.first == 263)
        #expect(ids.dropFirst().dropLast(2).allSatisfy { $0 == 27137 })

        let spaces = String(repeating: " ", count: 100_000) + "x"
        let d2 = clock.measure { ids = t.encode(spaces, allowSpecial: false) }
        #expect(try t.decode(ids) == spaces)

        let cases = try SentencePieceFixtures.tokenizerCases().map(\.text).joined(separator: "\n")
        var mixed = ""
        while mixed.utf8.count < 1_000_000 { mixed += cases + "\n" }
        let d3 = clock.measure { ids = t.encode(mixed, allowSpecial: true) }
        #expect(try t.decode(ids) == mixed)

        let shakespeare = try String(contentsOfFile: Fixtures.shared("data/tinyshakespeare.txt"), encoding: .utf8)
        let d4 = clock.measure { ids = t.encode(shakespeare, allowSpecial: false) }
        #expect(try t.decode(ids) == shakespeare)
        let mbps = Double(shakespeare.utf8.count) / 1e6 / (Double(d4.components.attoseconds) / 1e18 + Double(d4.components.seconds))
        print("SentencePiece long inputs: 200k×a \(d1), 100k spaces \(d2), 1 MB mixed \(d3), tinyshakespeare \(d4) (\(String(format: "%.1f", mbps)) MB/s, \(ids.count) ids)")
    }
}
