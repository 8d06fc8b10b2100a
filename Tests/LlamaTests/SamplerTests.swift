import Foundation
import Testing
import Llama

@Suite struct SamplerTests {
    let logits: [Float] = [0.1, 2.0, -1.0, 1.5, 0.3, 1.9, -0.2, 0.0, 0.7]

    func greedyID() -> Int { argmax(logits) }

    @Test func greedyVariantsPickTheArgmax() {
        var t0 = Sampler(SamplingParameters(temperature: 0))
        var k1 = Sampler(SamplingParameters(temperature: 1.5, topK: 1, topP: 1, minP: 0, seed: 3))
        var p0 = Sampler(SamplingParameters(temperature: 1.5, topK: 0, topP: 1e-9, minP: 0, seed: 4))
        for _ in 0..<50 {
            #expect(t0.sample(logits, history: []) == greedyID())
            #expect(k1.sample(logits, history: []) == greedyID())
            #expect(p0.sample(logits, history: []) == greedyID())
        }
    }

    @Test func sameSeedSameTokens() {
        let params = SamplingParameters(temperature: 1, topK: 0, topP: 1, minP: 0, seed: 42)
        var a = Sampler(params), b = Sampler(params)
        var c = Sampler(SamplingParameters(temperature: 1, topK: 0, topP: 1, minP: 0, seed: 43))
        let sa = (0..<200).map { _ in a.sample(logits, history: []) }
        let sb = (0..<200).map { _ in b.sample(logits, history: []) }
        let sc = (0..<200).map { _ in c.sample(logits, history: []) }
        #expect(sa == sb)
        #expect(sa != sc)
    }

    @Test func frequenciesFollowTheSoftmax() {
        let temperature: Float = 0.7
        var s = Sampler(SamplingParameters(temperature: temperature, topK: 0, topP: 1, minP: 0, seed: 7))
        let draws = 40000
        var counts = [Int](repeating: 0, count: logits.count)
        for _ in 0..<draws { counts[s.sample(logits, history: [])] += 1 }
        let e = logits.map { exp(Double($0 / temperature)) }
        let total = e.reduce(0, +)
        var chi2 = 0.0
        for i in logits.indices {
            let expected = Double(draws) * e[i] / total
            chi2 += pow(Double(counts[i]) - expected, 2) / expected
        }
        // 8 degrees of freedom: P(chi² > 26.1) ≈ 0.001.
        #expect(chi2 < 26.1, "chi² = \(chi2), counts \(counts)")
    }

    @Test func topKAndMinPLimitTheCandidates() {
        var k2 = Sampler(SamplingParameters(temperature: 5, topK: 2, topP: 1, minP: 0, seed: 1))
        let seen = Set((0..<500).map { _ in k2.sample(logits, history: []) })
        #expect(seen == [1, 5])
        // min-p 0.9: only tokens within 10% of the best probability (logits 2.0 and 1.9 → ratio 0.905).
        var mp = Sampler(SamplingParameters(temperature: 5, topK: 0, topP: 1, minP: 0.9, seed: 1))
        let seenMinP = Set((0..<500).map { _ in mp.sample(logits, history: []) })
        #expect(seenMinP == [1, 5])
    }

    @Test func repetitionPenaltyAsLlamaCppApplies() {
        // Token 1 (logit 2.0) divided by 2 → 1.0, below token 5 (1.9).
        var s = Sampler(SamplingParameters(temperature: 0, repeatPenalty: 2))
        #expect(s.sample(logits, history: [1]) == 5)
        // A negative logit is multiplied: token 2 stays the least likely.
        #expect(s.sample(logits, history: [2, 1, 5]) == 3)
    }

    /// xoshiro256** from the state {1, 2, 3, 4}: the first ten outputs of Blackman and Vigna's
    /// reference xoshiro256starstar.c, as the Rust rand project's `rand_xoshiro` crate pins
    /// them (rust-random/rngs, rand_xoshiro/src/xoshiro256starstar.rs, test `reference`).
    static let xoshiroFromOneTwoThreeFour: [UInt64] = [
        11520, 0, 1509978240, 1215971899390074240, 1216172134540287360,
        607988272756665600, 16172922978634559625, 8476171486693032832,
        10595114339597558777, 2904607092377533576,
    ]

    /// SplitMix64 seeded with 1477776061723855037: its first outputs from Vigna's reference
    /// splitmix64.c, as `rand_xoshiro` pins them (rust-random/rngs,
    /// rand_xoshiro/src/splitmix64.rs, test `reference`). Both generators seed xoshiro's four
    /// state words with the first four.
    static let splitMixSeed: UInt64 = 1477776061723855037
    static let splitMixOutputs: [UInt64] = [1985237415132408290, 2979275885539914483, 13511426838097143398, 8488337342461049707]

    @Test func xoshiroMatchesTheReferenceVectors() {
        var r = Xoshiro256(state: (1, 2, 3, 4))
        #expect((0..<10).map { _ in r.next() } == Self.xoshiroFromOneTwoThreeFour)
        let seeded = Xoshiro256(seed: Self.splitMixSeed).state
        #expect([seeded.0, seeded.1, seeded.2, seeded.3] == Self.splitMixOutputs)
        var u = Xoshiro256(seed: 9)
        for _ in 0..<1000 {
            let x = u.nextUnit()
            #expect(x >= 0 && x < 1)
        }
    }

    @Test func checkpointStateWordsRoundTripAndBadOnesAreRefused() {
        var r = Xoshiro256(seed: Self.splitMixSeed)
        #expect(r.stateWords == Self.splitMixOutputs)
        _ = r.next()
        var copy = Xoshiro256(stateWords: r.stateWords)
        #expect(copy == r)
        #expect(copy?.next() == r.next())
        #expect(Xoshiro256(stateWords: [1, 2, 3]) == nil)
        #expect(Xoshiro256(stateWords: [0, 0, 0, 0]) == nil)
        var u = Xoshiro256(seed: 3)
        for n in [1, 2, 7, 1000] { for _ in 0..<200 { let x = u.below(n); #expect(x >= 0 && x < n) } }
    }
}
