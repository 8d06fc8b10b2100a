import Foundation
import Testing
import Llama

/// `llama quantize` and the row quantizers behind it.
@Suite struct QuantizeTests {
    func values(_ n: Int, seed: UInt64) -> [Float] {
        var rng = Xoshiro256(seed: seed)
        return (0..<n).map { _ in Float(rng.nextUnit() * 2 - 1) }
    }

    /// Quantize then dequantize: every element within the rounding error of its format.
    @Test(arguments: [GGMLType.q8_0, .q4_0, .f16, .bf16])
    func rowsRoundTripWithinTheFormatsRoundingError(_ type: GGMLType) {
        let count = 32 * 5
        var x = values(count, seed: 5)
        for i in 64..<96 { x[i] = 0 }  // an all-zero block must stay zeros, not NaN
        var bytes = [UInt8](repeating: 0, count: type.rowBytes(columns: count))
        var back = [Float](repeating: .nan, count: count)
        bytes.withUnsafeMutableBytes { raw in
            quantizeRow(x, count: count, as: type, into: raw.baseAddress!)
            back.withUnsafeMutableBufferPointer { dequantizeRow(type, raw.baseAddress!, $0.baseAddress!, count: count) }
        }
        for b in 0..<(count / 32) {
            let block = x[(32 * b)..<(32 * b + 32)]
            let amax = block.map { abs($0) }.max() ?? 0
            // Q8_0 rounds to steps of amax/127 (error ≤ half a step). Q4_0 has 16 levels
            // from −8·d to 7·d with d = amax/8 on the largest element's side, so values near
            // −amax on the other side clamp to 7·d: up to one whole step (llama.cpp's choice).
            let bound: Float = type == .q4_0 ? amax / 8 : (type == .q8_0 ? amax / 127 / 2 : amax / 256)
            for i in block.indices { #expect(abs(back[i] - x[i]) <= bound * 1.01 + 1e-7, "\(type) element \(i)") }
        }
    }

    @Test func corruptRowsDoNotTrap() {
        var x = values(64, seed: 6)
        x[3] = .nan
        x[40] = .infinity
        for type in [GGMLType.q8_0, .q4_0] {
            var bytes = [UInt8](repeating: 0, count: type.rowBytes(columns: 64))
            bytes.withUnsafeMutableBytes { quantizeRow(x, count: 64, as: type, into: $0.baseAddress!) }
        }
    }

    /// dev-odd's F16 GGUF quantized here stays near the exact-math reference, and keeps its
    /// tokenizer (the GGUF metadata is copied). Q8_0 is checked against the unquantized
    /// model's logits (ref.json). Q4_0 itself moves logits by about 0.34 on this random
    /// model (llama.cpp's Q4_0 too), so it is checked against the exact math on llama.cpp's
    /// Q4_0 weights (ref-dequant.json), which ours equal block for block (test below).
    @Test(arguments: ["q8_0", "q4_0"])
    func quantizedDevOddStaysNearReference(_ name: String) throws {
        let type = try #require(Quantizer.targets[name])
        let input = try Fixtures.shared("fixtures/dev-odd/model-f16.gguf")
        let source = try GGUFCheckpoint(path: input)
        let out = NSTemporaryDirectory() + "quantized-\(getpid())-\(name).gguf"
        defer { unlink(out) }
        try Quantizer.gguf(source, as: type, source: source.file, parallel: ParallelFor(workers: 2)).write(to: out)

        let quantized = try GGUFCheckpoint(path: out)
        #expect(quantized.tokenizer != nil)
        #expect(try quantized.tensor(TensorName.wq(0)).type == type)
        #expect(try quantized.tensor(TensorName.attentionNorm(0)).type == .f32)
        let ref = try ModelReference.load("fixtures/dev-odd", dequantFile: type == .q4_0 ? "model-q4_0.gguf" : nil)
        let model = try LlamaModel(checkpoint: quantized)
        let short = try runGreedy(model, ids: ref.ids, count: 1)
        let long = try runGreedy(model, ids: ref.longIDs, count: 1)
        #expect(maxAbsDifference(short.logits, ref.lastLogits) <= 0.05)
        #expect(maxAbsDifference(long.logits, ref.longLastLogits) <= 0.05)
    }

    /// llama.cpp's own --pure Q8_0 / Q4_0 of the same weights have the same blocks as ours.
    @Test(arguments: [GGMLType.q8_0, .q4_0])
    func blocksMatchLlamaCpp(_ type: GGMLType) throws {
        let source = try GGUFCheckpoint(path: try Fixtures.shared("fixtures/dev-odd/model-f16.gguf"))
        let theirs = try GGUFCheckpoint(path: try Fixtures.shared("fixtures/dev-odd/model-\(type == .q8_0 ? "q8_0" : "q4_0").gguf"))
        for name in [TensorName.wq(0), TensorName.w2(0), TensorName.embedding] {
            let t = try source.tensor(name), ref = try theirs.tensor(name)
            #expect(ref.type == type)
            let cols = t.shape[1], rows = t.elementCount / cols
            var ours = [UInt8](repeating: 0, count: rows * type.rowBytes(columns: cols))
            var row = [Float](repeating: 0, count: cols)
            ours.withUnsafeMutableBytes { dst in
                row.withUnsafeMutableBufferPointer { r in
                    for i in 0..<rows {
                        dequantizeRow(.f16, t.data.baseAddress! + i * t.type.rowBytes(columns: cols), r.baseAddress!, count: cols)
                        quantizeRow(r.baseAddress!, count: cols, as: type, into: dst.baseAddress! + i * type.rowBytes(columns: cols))
                    }
                }
            }
            #expect(ours == [UInt8](UnsafeRawBufferPointer(rebasing: ref.data[0..<ours.count])), "\(name)")
        }
    }
}
