import Foundation
import Testing
import Llama

@Suite struct TokenShardTests {
    @Test func roundTripsBothWidths() throws {
        for vocab in [300, 128256] {
            let ids: [TokenID] = (0..<1000).map { ($0 * 7919) % vocab }
            try withTempFile(Array(TokenShard.encode(ids[...], vocabularySize: vocab)), name: "s.tokens") { path in
                let s = try TokenShard(path: path)
                #expect(s.count == 1000 && s.vocabularySize == vocab)
                #expect(s.bytesPerToken == (vocab <= 65536 ? 2 : 4))
                #expect(s.ids() == ids)
            }
        }
    }

    @Test func refusesLyingHeadersAndTruncation() throws {
        let good = Array(TokenShard.encode([1, 2, 3, 4][...], vocabularySize: 10))
        var lying = good
        lying[16] = 200  // token count
        for bad in [Array(good.prefix(20)), Array(good.dropLast()), lying, [UInt8](repeating: 0, count: 40)] {
            try withTempFile(bad, name: "bad.tokens") { path in
                #expect { try TokenShard(path: path) } throws: { e in "\(e)".contains(path) }
            }
        }
    }
}
