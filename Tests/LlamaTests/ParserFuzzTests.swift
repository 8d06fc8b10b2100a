import Foundation
import Testing
import Llama

/// Writes GGUF metadata-only files for tests (the format rules are in GGUF.swift).
enum TestGGUF {
    static func build(_ entries: [(String, GGUFValue)], version: UInt32 = 3) -> [UInt8] {
        var out: [UInt8] = Array("GGUF".utf8)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func str(_ s: String) { u64(UInt64(s.utf8.count)); out.append(contentsOf: s.utf8) }
        func typeOf(_ v: GGUFValue) -> UInt32 {
            switch v {
            case .unsigned: return 4
            case .signed: return 5
            case .float: return 6
            case .bool: return 7
            case .string: return 8
            case .array: return 9
            }
        }
        func value(_ v: GGUFValue) {
            switch v {
            case let .unsigned(x): u32(UInt32(x))
            case let .signed(x): u32(UInt32(bitPattern: Int32(x)))
            case let .float(x): u32(Float(x).bitPattern)
            case let .bool(b): out.append(b ? 1 : 0)
            case let .string(s): str(s)
            case let .array(items):
                u32(items.first.map(typeOf) ?? 8)
                u64(UInt64(items.count))
                for i in items { value(i) }
            }
        }
        u32(version)
        u64(0)
        u64(UInt64(entries.count))
        for (k, v) in entries {
            str(k)
            u32(typeOf(v))
            value(v)
        }
        return out
    }

    /// A small byte-level BPE vocabulary: the 256 bytes, a few merges, BOS/EOS.
    static func tinyByteLevelVocabulary() -> [UInt8] {
        var tokens = ByteLevelBPETokenizer.byteToCharacter.map { String(Character($0)) }
        let merges = ["Ġ t", "h e", "Ġt he", "i n", "a n", "Ġ a"]
        for m in merges { tokens.append(m.replacingOccurrences(of: " ", with: "")) }
        tokens += ["<|begin_of_text|>", "<|end_of_text|>"]
        let types = tokens.indices.map { $0 >= tokens.count - 2 ? 3 : 1 }
        return build([
            ("general.architecture", .string("llama")),
            ("tokenizer.ggml.model", .string("gpt2")),
            ("tokenizer.ggml.pre", .string("llama-bpe")),
            ("tokenizer.ggml.tokens", .array(GGUFArray(tokens.map { .string($0) }))),
            ("tokenizer.ggml.token_type", .array(GGUFArray(types.map { .signed(Int64($0)) }))),
            ("tokenizer.ggml.merges", .array(GGUFArray(merges.map { .string($0) }))),
            ("tokenizer.ggml.bos_token_id", .unsigned(UInt64(tokens.count - 2))),
            ("tokenizer.ggml.eos_token_id", .unsigned(UInt64(tokens.count - 1))),
        ])
    }
}

func withTempFile<T>(_ bytes: [UInt8], name: String = "fuzz.bin", _ body: (String) throws -> T) rethrows -> T {
    // A directory per call: tests run in parallel, and two of them writing "vocab.gguf" in
    // one shared directory read each other's files.
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftllama-tests-\(getpid())-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let path = dir.appendingPathComponent(name).path
    FileManager.default.createFile(atPath: path, contents: Data(bytes))
    defer { try? FileManager.default.removeItem(at: dir) }
    return try body(path)
}

/// Mutations of a file: truncations at many offsets and random byte changes.
func fuzzVariants(of original: [UInt8], count: Int, seed: UInt64) -> [[UInt8]] {
    var rng = Xoshiro256(seed: seed)
    var out: [[UInt8]] = []
    for i in 0..<count {
        var b = original
        switch i % 3 {
        case 0:
            b = Array(b.prefix(Int(rng.next() % UInt64(b.count + 1))))
        case 1:
            for _ in 0..<(1 + Int(rng.next() % 8)) where !b.isEmpty {
                b[Int(rng.next() % UInt64(b.count))] = UInt8(truncatingIfNeeded: rng.next())
            }
        default:
            // Mutate the first 64 bytes (headers, counts, lengths) where lies hurt most.
            for _ in 0..<(1 + Int(rng.next() % 4)) where !b.isEmpty {
                b[Int(rng.next() % UInt64(min(64, b.count)))] = UInt8(truncatingIfNeeded: rng.next())
            }
        }
        out.append(b)
    }
    return out
}

@Suite struct ParserFuzzTests {
    @Test func tinyGGUFVocabularyWorks() throws {
        try withTempFile(TestGGUF.tinyByteLevelVocabulary(), name: "tiny.gguf") { path in
            let t = try TokenizerLoader.load(path: path)
            let ids = t.encode(" the cat and", allowSpecial: false)
            #expect(try t.decode(ids) == " the cat and")
            #expect(ids.first == 256 + 2)  // " the"
        }
    }

    @Test func ggufMetadataSurvivesMutations() throws {
        let original = TestGGUF.tinyByteLevelVocabulary()
        var loaded = 0
        for v in fuzzVariants(of: original, count: 1500, seed: 42) {
            withTempFile(v, name: "m.gguf") { path in
                if let t = try? TokenizerLoader.load(path: path) {
                    loaded += 1
                    _ = t.encode("hello there <|end_of_text|>", allowSpecial: true)
                }
            }
        }
        #expect(loaded > 0)
    }

    @Test func tiktokenFileSurvivesMutations() throws {
        let full = try Data(contentsOf: URL(fileURLWithPath: try Fixtures.shared("tokenizers/llama3/tokenizer.model")))
        // The first 3000 ranks: all 256 single bytes and common merges.
        var lines = 0
        let prefix = Array(full.prefix { b in if b == 10 { lines += 1 }; return lines < 3000 }) + [10]
        var loaded = 0
        for v in fuzzVariants(of: prefix, count: 600, seed: 7) {
            if let t = try? TiktokenFile.parse(Data(v), path: "mutated") {
                loaded += 1
                _ = t.encode("hello world, the end", allowSpecial: true)
            }
        }
        #expect(loaded > 0)
    }

    @Test func badTokenizerFilesGiveClearErrors() throws {
        try withTempFile(Array("this is not a tokenizer\n".utf8), name: "foreign.txt") { path in
            #expect { try TokenizerLoader.load(path: path) } throws: { e in
                "\(e)".contains(path) && "\(e)".contains("expected")
            }
        }
        #expect { try TokenizerLoader.load(path: "/nonexistent/tokenizer.model") } throws: { e in
            "\(e)".contains("/nonexistent/tokenizer.model")
        }
        try withTempFile(Array(TestGGUF.tinyByteLevelVocabulary().prefix(300)), name: "trunc.gguf") { path in
            #expect { try TokenizerLoader.load(path: path) } throws: { e in
                "\(e)".contains(path) && "\(e)".contains("offset")
            }
        }
    }

    @Test func decodeRejectsIdsOutsideVocabulary() throws {
        let t = try SharedTokenizers.requireLlama3()
        #expect(throws: TokenizerError.idOutOfRange(id: 128256, vocabularySize: 128256)) { try t.decode([1, 128256]) }
        #expect(throws: TokenizerError.self) { try t.decode([-1]) }
    }

    @Test func streamingDecoderNeverSplitsACharacter() throws {
        let t = try SharedTokenizers.requireLlama3()
        let text = "naïve café 日本語テキスト 🦙🦙 emoji and ünïcödé"
        let ids = t.encode(text, allowSpecial: false)
        var d = StreamingDecoder(tokenizer: t)
        var out = ""
        for id in ids {
            let chunk = try d.append(id)
            #expect(!chunk.contains("\u{FFFD}"))
            out += chunk
        }
        out += d.flush()
        #expect(out == text)
    }
}

@Suite struct TiktokenFileErrorTests {
    /// The 256 single bytes as tiktoken lines, ranks 0…255.
    static func byteLines() -> String {
        (0..<256).map { "\(Data([UInt8($0)]).base64EncodedString()) \($0)\n" }.joined()
    }

    @Test func gapsAndDuplicatesAreRefused() throws {
        let gap = TiktokenFileErrorTests.byteLines() + "\(Data("ab".utf8).base64EncodedString()) 300\n"
        #expect { try TiktokenFile.parse(Data(gap.utf8), path: "gap.model") } throws: { e in
            "\(e)".contains("gap.model") && "\(e)".contains("rank 256 is missing")
        }
        let dup = TiktokenFileErrorTests.byteLines() + "\(Data("ab".utf8).base64EncodedString()) 255\n"
        #expect { try TiktokenFile.parse(Data(dup.utf8), path: "dup.model") } throws: { e in
            "\(e)".contains("rank 255 appears twice")
        }
        let notBase64 = TiktokenFileErrorTests.byteLines() + "!!! 256\n"
        #expect { try TiktokenFile.parse(Data(notBase64.utf8), path: "b.model") } throws: { e in
            "\(e)".contains("line 257") && "\(e)".contains("base64")
        }
    }
}
