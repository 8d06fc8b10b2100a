import Foundation
import Testing
import Llama

/// Q2_K, Q3_K, Q5_K, IQ4_NL and IQ4_XS on a model whose rows are multiples of 256 (dim 256,
/// hidden 768), every 2-D tensor of one type, quantized by llama.cpp's own quantizers
/// (`scripts/make_ktypes_fixture.sh`), against exact float64 math on the weights gguf-py
/// dequantizes from each file (`Fixtures/ktypes/ref-<type>.json`).
@Suite struct KTypesModelTests {
    static let types = ["q2_K", "q3_K", "q5_K", "iq4_nl", "iq4_xs"]

    func fixture(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/ktypes/\(name)").path
    }

    func reference(_ type: String) throws -> KQuantModelTests.Reference {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixture("ref-\(type).json")))
        let ref = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return KQuantModelTests.Reference(
            ids: try #require(ref["ids"] as? [Int]), last: try #require((ref["last_logits"] as? [NSNumber])?.map(\.floatValue)),
            greedy: try #require(ref["greedy_next"] as? [Int]), longIDs: try #require(ref["long_ids"] as? [Int]),
            longLast: try #require((ref["long_last_logits"] as? [NSNumber])?.map(\.floatValue)),
            longGreedy: try #require(ref["long_greedy_next"] as? [Int]))
    }

    func checkpoint(_ type: String) throws -> any Checkpoint {
        let c = try CheckpointLoader.load(path: fixture("model-\(type).gguf"))
        let expected = try #require(GGMLType.allCases.first { $0.name == type.uppercased() })
        for name in [TensorName.embedding, TensorName.wq(0), TensorName.wv(1), TensorName.w2(0)] {
            #expect(try c.tensor(name).type == expected, "\(name) of model-\(type).gguf")
        }
        return c
    }

    /// Our dequantization of every block gives gguf-py's values: the fp32 forward on them
    /// lands on the float64 reference.
    @Test(arguments: types)
    func dequantizedWeightsGiveTheExactReference(_ type: String) throws {
        let ref = try reference(type)
        let model = try LlamaModel(checkpoint: DequantizedCheckpoint(try checkpoint(type)))
        for (input, logits, next) in [(ref.ids, ref.last, ref.greedy), (ref.longIDs, ref.longLast, ref.longGreedy)] {
            let run = try runGreedy(model, ids: input, count: next.count)
            let err = maxAbsDifference(run.logits, logits)
            print("\(type) dequantized to fp32, \(input.count) ids: max abs error \(err)")
            #expect(err <= 1e-4)
            #expect(run.next == next)
        }
    }

    /// The quantized kernels (int8 activations: the direct dots in generation, the int8 GEMM
    /// for the prompt) within 0.05 × max(1, max |reference logit|).
    @Test(arguments: types)
    func quantizedKernelsStayNearTheReference(_ type: String) throws {
        let ref = try reference(type)
        let model = try LlamaModel(checkpoint: try checkpoint(type))
        for (input, logits, next) in [(ref.ids, ref.last, ref.greedy), (ref.longIDs, ref.longLast, ref.longGreedy)] {
            let tolerance = quantizedActivationTolerance * max(1, logits.map { abs($0) }.max() ?? 1)
            let run = try runGreedy(model, ids: input, count: next.count)
            let err = maxAbsDifference(run.logits, logits)
            print("\(type), \(input.count) ids: max abs error \(err) (bar \(tolerance))")
            #expect(err <= tolerance)
            expectGreedy(run.next, next, referenceLogits: logits, exact: false, tolerance: tolerance)
        }
    }
}
