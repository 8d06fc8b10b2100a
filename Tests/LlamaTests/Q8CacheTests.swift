import CKernels
import Foundation
import Llama
import Testing

/// `--cache-type q8_0`: keys and values as llama.cpp's Q8_0 blocks (per 32 elements of a
/// head, an fp16 scale d = max|x|/127 and int8s round(x/d)).
///
/// Tolerance on the models: Q8_0 rounds each cached element within d/2 = max|block|/254, an
/// absolute error (small elements of a block lose most of their digits), against f16's
/// relative 2⁻¹¹; that is the rounding of Q8_0 weights, so the bar is the project's bar for
/// Q8_0 data: 0.05 × max(1, max|reference logit|) of exact math (llama.cpp's Q8_0 weights
/// land 0.096 from it on gemma). The greedy ids must stay transformers'. Measured when
/// written: gemma 0.047 (24 ids, max |logit| 2.8) and 0.010 (100 ids, 2.5); gemma2 0.006;
/// gpt2 0.009.
@Suite struct Q8CacheTests {
    /// The architecture fixtures whose head size is a multiple of 32.
    static let names = ["gemma", "gemma2", "gpt2"]

    @Test(arguments: names)
    func q8CacheLandsNearTransformers(_ arch: String) throws {
        let fixture = try ArchitectureFixture(arch)
        for input in try fixture.inputs() {
            let exact = try ArchitectureFixture.generate(try fixture.path("hf"), ids: input.ids, count: input.next.count)
            let q8 = try ArchitectureFixture.generate(try fixture.path("hf"), ids: input.ids, count: input.next.count,
                                                      extra: ["--cache-type", "q8_0"])
            try #require(q8.logits.count == input.logits.count)
            let scale = max(1, input.logits.map { abs($0) }.max() ?? 0)
            let err = maxAbsDifference(q8.logits, input.logits)
            #expect(err <= 0.05 * scale, "\(arch) \(input.ids.count) ids: max abs error \(err), scale \(scale)")
            #expect(q8.logits != exact.logits, "\(arch): the q8_0 cache changed nothing")
            #expect(q8.next == input.next, "\(arch) \(input.ids.count) ids: greedy ids")
        }
    }

    /// A head size that is not a multiple of 32 (qwen2's fixture: 16) is refused with its size.
    @Test func headDimNotMultipleOf32IsRefused() throws {
        let cli = GenerateCommandTests()
        let r = try cli.run(["generate", "--model", try Fixtures.shared("arch/qwen2/hf"), "--ids", "1 2 3",
                             "--max-tokens", "1", "--cache-type", "q8_0"])
        #expect(r.status != 0)
        #expect(r.err.contains("head_dim is 16"), "\(r.err)")
    }

    /// A Q8_0 cache takes 34 bytes per 32 elements: 34/128 of an fp32 one.
    @Test func q8CacheSize() throws {
        let fixture = try ArchitectureFixture("gemma")
        let model = try LlamaModel(checkpoint: CheckpointLoader.load(path: try fixture.path("model.gguf")))
        let c = model.config
        let f32 = try #require(KVCache.bytes(config: c, positions: 100, type: .f32))
        let q8 = try #require(KVCache.bytes(config: c, positions: 100, type: .q8_0))
        #expect(q8 * 128 == f32 * 34)
        #expect(q8 == 100 * c.layerCount * 2 * c.kvDim / 32 * 34)
    }

    /// llama.cpp's quantize_row_q8_0_ref, in Swift.
    static func referenceBlocks(_ x: [Float]) -> [UInt8] {
        var out: [UInt8] = []
        for b in stride(from: 0, to: x.count, by: 32) {
            let block = x[b..<b + 32]
            let amax = block.map { abs($0) }.max() ?? 0
            let d = amax / 127, id = d != 0 ? 1 / d : 0
            let h = Float16(d).bitPattern
            out += [UInt8(h & 0xff), UInt8(h >> 8)]
            out += block.map { UInt8(bitPattern: Int8(($0 * id).rounded(.toNearestOrAwayFromZero))) }
        }
        return out
    }

    /// Element e of Q8_0 blocks.
    static func element(_ blocks: [UInt8], _ e: Int) -> Float {
        let b = e / 32 * 34
        let d = Float(Float16(bitPattern: UInt16(blocks[b]) | UInt16(blocks[b + 1]) << 8))
        return d * Float(Int8(bitPattern: blocks[b + 2 + e % 32]))
    }

    static func quantize(_ x: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: x.count / 32 * 34)
        x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBytes { swiftllama_floats_to_q8_0(xp.baseAddress, $0.baseAddress, x.count / 32) } }
        return out
    }

    /// The quantizer gives llama.cpp's reference blocks byte for byte, and every element lands
    /// within d/2 (+ the fp16 rounding of d, times 127) of its value; an all-zero block is zeros.
    @Test func quantizerMatchesLlamaCppReference() {
        var x = AttentionKernelTests.values(32 * 7, seed: 11).map { $0 * 3 }
        x += [Float](repeating: 0, count: 32)
        let blocks = Self.quantize(x)
        #expect(blocks == Self.referenceBlocks(x))
        for (e, v) in x.enumerated() {
            let block = x[e / 32 * 32..<e / 32 * 32 + 32]
            let d = (block.map { abs($0) }.max() ?? 0) / 127
            let bound = d / 2 + 127 * abs(Float(Float16(d)) - d) + 1e-7
            #expect(abs(Self.element(blocks, e) - v) <= bound, "element \(e)")
        }
    }

    struct Shape: CustomStringConvertible, Sendable {
        let heads, headDim, count: Int
        var description: String { "\(heads) heads × \(headDim), \(count) keys" }
    }

    static let shapes = [Shape(heads: 4, headDim: 64, count: 37), Shape(heads: 1, headDim: 32, count: 8),
                         Shape(heads: 3, headDim: 96, count: 9), Shape(heads: 8, headDim: 128, count: 17),
                         Shape(heads: 5, headDim: 32, count: 1), Shape(heads: 9, headDim: 64, count: 23)]

    /// Scores and weighted values over Q8_0 keys and values against plain Double sums of the
    /// dequantized elements (keys interleaved with other heads' blocks, as in the cache), and
    /// a query's results do not depend on its group.
    @Test(arguments: shapes)
    func kernelsReadQ8Blocks(_ s: Shape) throws {
        let stride = s.headDim * 2 + 32
        let q = AttentionKernelTests.values(s.heads * s.headDim, seed: 1)
        let keys = Self.quantize(AttentionKernelTests.values(s.count * stride, seed: 2))
        let values = Self.quantize(AttentionKernelTests.values(s.count * stride, seed: 4))
        let att = AttentionKernelTests.values(s.heads * s.count, seed: 3).map { abs($0) }
        let scale: Float = 0.125
        var scores = [Float](repeating: .nan, count: s.heads * s.count), scoresAlone = scores
        var out = [Float](repeating: .nan, count: s.heads * s.headDim), outAlone = out
        var scratch = [Float](repeating: 0, count: 8 * s.headDim)
        let type = Int32(SWIFTLLAMA_CACHE_Q8_0)
        keys.withUnsafeBytes { k in
            q.withUnsafeBufferPointer { qp in
                swiftllama_attention_scores(qp.baseAddress, s.headDim, Int32(s.heads), k.baseAddress, type, stride, Int32(s.count),
                                            Int32(s.headDim), scale, &scores, s.count, &scratch)
                for j in 0..<s.heads {
                    scoresAlone.withUnsafeMutableBufferPointer {
                        swiftllama_attention_scores(qp.baseAddress! + j * s.headDim, s.headDim, 1, k.baseAddress, type, stride,
                                                    Int32(s.count), Int32(s.headDim), scale, $0.baseAddress! + j * s.count, s.count,
                                                    &scratch)
                    }
                }
            }
        }
        values.withUnsafeBytes { v in
            att.withUnsafeBufferPointer { a in
                swiftllama_attention_values(a.baseAddress, s.count, Int32(s.heads), v.baseAddress, type, stride, Int32(s.count),
                                            Int32(s.headDim), &out, s.headDim, nil)
                for j in 0..<s.heads {
                    outAlone.withUnsafeMutableBufferPointer {
                        swiftllama_attention_values(a.baseAddress! + j * s.count, s.count, 1, v.baseAddress, type, stride, Int32(s.count),
                                                    Int32(s.headDim), $0.baseAddress! + j * s.headDim, s.headDim, nil)
                    }
                }
            }
        }
        #expect(scores.map(\.bitPattern) == scoresAlone.map(\.bitPattern))
        #expect(out.map(\.bitPattern) == outAlone.map(\.bitPattern))
        for j in 0..<s.heads {
            for t in 0..<s.count {
                var ref = 0.0
                for d in 0..<s.headDim { ref += Double(q[j * s.headDim + d]) * Double(Self.element(keys, t * stride + d)) }
                ref *= Double(scale)
                #expect(abs(Double(scores[j * s.count + t]) - ref) <= 1e-6 * max(1, abs(ref)), "head \(j) key \(t)")
            }
            for d in 0..<s.headDim {
                var ref = 0.0
                for t in 0..<s.count { ref += Double(att[j * s.count + t]) * Double(Self.element(values, t * stride + d)) }
                #expect(abs(Double(out[j * s.headDim + d]) - ref) <= 1e-6 * max(1, abs(ref)), "head \(j) lane \(d)")
            }
        }
    }
}
