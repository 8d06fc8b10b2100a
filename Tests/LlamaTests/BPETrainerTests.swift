import Foundation
import Testing
import Llama

@Suite struct BPETrainerTests {
    /// The textbook algorithm: recount every pair of every piece before each merge.
    static func naiveTrain(_ text: String, vocabularySize: Int) -> [[UInt8]] {
        // Ties go to the smaller (left, right) pair, as the trainer documents: one integer
        // key per pair orders them that way.
        func pairKey(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b)) }
        var counts: [[UInt8]: Int] = [:]
        for piece in PreTokenizer(.llama3).split(text) { counts[Array(piece.utf8), default: 0] += 1 }
        var words = counts.map { (symbols: $0.key.map { Int32($0) }, freq: $0.value) }
        var tokens: [[UInt8]] = (0..<256).map { [UInt8($0)] }
        while tokens.count < vocabularySize {
            var pairCounts: [UInt64: Int] = [:]
            for w in words where w.symbols.count > 1 {
                for i in 0..<(w.symbols.count - 1) { pairCounts[pairKey(w.symbols[i], w.symbols[i + 1]), default: 0] += w.freq }
            }
            guard let best = pairCounts.filter({ $0.value > 0 }).min(by: { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }) else { break }
            let a = Int32(truncatingIfNeeded: best.key >> 32), b = Int32(truncatingIfNeeded: best.key & 0xFFFF_FFFF)
            let bytes = tokens[Int(a)] + tokens[Int(b)]
            let id: Int32
            if let e = tokens.firstIndex(of: bytes) { id = Int32(e) } else { id = Int32(tokens.count); tokens.append(bytes) }
            for j in words.indices {
                var out: [Int32] = []
                var i = 0
                let s = words[j].symbols
                while i < s.count {
                    if i + 1 < s.count && s[i] == a && s[i + 1] == b { out.append(id); i += 2 } else { out.append(s[i]); i += 1 }
                }
                words[j].symbols = out
            }
        }
        return tokens
    }

    @Test func incrementalCountingEqualsFullRecount() throws {
        let corpus = try String(contentsOfFile: try Fixtures.shared("data/tinyshakespeare.txt"), encoding: .utf8)
        let text = String(corpus.prefix(20_000)) + " aaaaaaaa abababab ab ab ab abc abc"
        let fast = try BPETrainer(vocabularySize: 600).train(text).tokens
        let slow = BPETrainerTests.naiveTrain(text, vocabularySize: 600)
        #expect(fast.count == 600)
        #expect(fast == slow)
    }

    @Test func trainedTokenizerLoadsAndRoundTrips() throws {
        let corpus = try String(contentsOfFile: try Fixtures.shared("data/tinyshakespeare.txt"), encoding: .utf8)
        let text = String(corpus.prefix(50_000))
        let result = try BPETrainer(vocabularySize: 512).train(text)
        try withTempFile([], name: "trained.tiktoken") { path in
            try BPETrainer.writeTiktoken(result.tokens, to: path)
            let t = try TokenizerLoader.load(path: path)
            #expect(t.vocabularySize == 514)
            #expect(t.bosID == 512 && t.eosID == 513)
            let ids = t.encode(text, allowSpecial: false)
            #expect(ids.count < text.utf8.count / 2)
            #expect(try t.decode(ids) == text)
            let other = "Ünïcödé 日本 never seen before \n\n 123456"
            #expect(try t.decode(t.encode(other, allowSpecial: false)) == other)
        }
    }

    @Test func vocabulary256IsPlainBytes() throws {
        let result = try BPETrainer(vocabularySize: 256).train("hello hello hello")
        #expect(result.tokens.count == 256)
        try withTempFile([], name: "bytes.tiktoken") { path in
            try BPETrainer.writeTiktoken(result.tokens, to: path)
            let t = try TokenizerLoader.load(path: path)
            #expect(t.encode("hi!", addBOS: true) == [256, 104, 105, 33])
        }
        #expect(throws: BPETrainer.TrainError.self) { try BPETrainer(vocabularySize: 100) }
    }
}
