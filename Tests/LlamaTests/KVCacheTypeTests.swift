import Foundation
import Testing

/// `--cache-type f16` stores keys and values as halves, as llama.cpp does by default: on every
/// architecture fixture the logits stay within llama.cpp's own level of transformers' fp32
/// ones (1e-3 × max(1, max |logit|)), and differ from the fp32 cache's (the halves are used).
@Suite struct KVCacheTypeTests {
    @Test(arguments: ArchitectureFixtureTests.names)
    func halfCacheLandsNearTransformers(_ arch: String) throws {
        let fixture = try ArchitectureFixture(arch)
        for input in try fixture.inputs() {
            let exact = try ArchitectureFixture.generate(try fixture.path("hf"), ids: input.ids, count: 1)
            let half = try ArchitectureFixture.generate(try fixture.path("hf"), ids: input.ids, count: 1, extra: ["--cache-type", "f16"])
            try #require(half.logits.count == input.logits.count)
            let scale = max(1, input.logits.map { abs($0) }.max() ?? 0)
            let err = maxAbsDifference(half.logits, input.logits)
            #expect(err <= 1e-3 * scale, "\(arch) \(input.ids.count) ids: max abs error \(err), scale \(scale)")
            #expect(half.logits != exact.logits, "\(arch): the f16 cache changed nothing")
        }
    }
}
