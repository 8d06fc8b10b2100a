import CKernels
import Foundation
import Llama
import Testing

/// The flash attention kernel (CKernels/FlashAttention.c: online softmax over blocks of 32
/// keys) against plain Double softmax attention, on shapes that cross the 32-key block, the
/// 32-query chunk and the 8-lane boundaries, every cache type, with windows and a soft-cap;
/// a query's result does not depend on the queries it is computed with; a split over
/// positions merged in order lands within float reassociation of one pass; and a model's
/// long prompt (positions past `flashAttentionMinimumLength`) stays on transformers' logits.
@Suite struct FlashAttentionTests {
    struct Shape: CustomStringConvertible, Sendable {
        let rows, heads, headDim, p0: Int
        var window = 0
        var softCap: Float = 0
        var description: String { "\(rows) rows × \(heads) heads × \(headDim) from \(p0), window \(window), cap \(softCap)" }
    }

    static let shapes = [Shape(rows: 1, heads: 1, headDim: 64, p0: 0), Shape(rows: 1, heads: 4, headDim: 64, p0: 100),
                         Shape(rows: 9, heads: 4, headDim: 64, p0: 31), Shape(rows: 3, heads: 3, headDim: 96, p0: 64),
                         Shape(rows: 17, heads: 2, headDim: 32, p0: 5, window: 20), Shape(rows: 5, heads: 8, headDim: 128, p0: 70),
                         Shape(rows: 4, heads: 5, headDim: 40, p0: 33, softCap: 2), Shape(rows: 2, heads: 2, headDim: 12, p0: 40),
                         Shape(rows: 40, heads: 1, headDim: 64, p0: 0, window: 33, softCap: 1.5)]

    /// Plain Double attention of query (r, j): softmax over lo…p0+r of scale·q·k (soft-capped).
    static func reference(_ s: Shape, q: [Float], keys: [Float], values: [Float], stride: Int, scale: Float, r: Int, j: Int) -> [Double] {
        let pos = s.p0 + r
        let lo = s.window > 0 ? max(0, pos + 1 - s.window) : 0
        var scores: [Double] = []
        for t in lo...pos {
            var dot = 0.0
            for d in 0..<s.headDim { dot += Double(q[(r * s.heads + j) * s.headDim + d]) * Double(keys[t * stride + d]) }
            dot *= Double(scale)
            if s.softCap > 0 { dot = Double(s.softCap) * tanh(dot / Double(s.softCap)) }
            scores.append(dot)
        }
        let m = scores.max() ?? 0
        let e = scores.map { exp($0 - m) }
        let sum = e.reduce(0, +)
        return (0..<s.headDim).map { d in
            var o = 0.0
            for (i, t) in (lo...pos).enumerated() { o += e[i] / sum * Double(values[t * stride + d]) }
            return o
        }
    }

    /// The cache bytes of `type` for `floats`, and the floats they hold.
    static func cache(_ floats: [Float], type: Int) -> (bytes: [UInt8], values: [Float]) {
        switch type {
        case Int(SWIFTLLAMA_CACHE_F16):
            let h = AttentionKernelTests.halves(floats)
            return (h.withUnsafeBytes { Array($0) }, h.map { Float(Float16(bitPattern: $0)) })
        case Int(SWIFTLLAMA_CACHE_Q8_0):
            let b = Q8CacheTests.quantize(floats)
            return (b, (0..<floats.count).map { Q8CacheTests.element(b, $0) })
        default:
            return (floats.withUnsafeBytes { Array($0) }, floats)
        }
    }

    /// Runs the kernel on queries `q` (rows × heads × headDim) over positions [from, to);
    /// partial when `partial` (returns out, max, sum).
    static func run(_ s: Shape, q: [Float], rows: Int, p0: Int, keys: [UInt8], values: [UInt8], type: Int, stride: Int, scale: Float,
                    from: Int, to: Int, partial: Bool = false) -> (out: [Float], max: [Float], sum: [Float]) {
        let n = rows * s.heads
        var out = [Float](repeating: .nan, count: n * s.headDim)
        var mx = [Float](repeating: .nan, count: n), sm = mx
        var scratch = [Float](repeating: .nan, count: swiftllama_flash_scratch_floats(Int32(s.headDim)))
        keys.withUnsafeBytes { k in
            values.withUnsafeBytes { v in
                mx.withUnsafeMutableBufferPointer { mp in
                    sm.withUnsafeMutableBufferPointer { sp in
                        swiftllama_flash_attention(q, s.heads * s.headDim, Int32(rows), Int32(s.heads), k.baseAddress, v.baseAddress,
                                                   Int32(type), stride, Int32(s.headDim), p0, s.window, from, to, scale, s.softCap,
                                                   &out, s.heads * s.headDim, partial ? mp.baseAddress : nil,
                                                   partial ? sp.baseAddress : nil, &scratch)
                    }
                }
            }
        }
        return (out, mx, sm)
    }

    static func types(_ headDim: Int) -> [Int] {
        [Int(SWIFTLLAMA_CACHE_F32), Int(SWIFTLLAMA_CACHE_F16)] + (headDim % 32 == 0 ? [Int(SWIFTLLAMA_CACHE_Q8_0)] : [])
    }

    @Test(arguments: shapes)
    func matchesPlainSoftmaxAttentionAndDoesNotDependOnTheTile(_ s: Shape) throws {
        let positions = s.p0 + s.rows
        let stride = s.headDim * 2 + 32  // other heads' data between positions, as in a cache
        let q = AttentionKernelTests.values(s.rows * s.heads * s.headDim, seed: 21).map { $0 * 2 }
        let keyFloats = AttentionKernelTests.values(positions * stride, seed: 22).map { $0 * 2 }
        let valueFloats = AttentionKernelTests.values(positions * stride, seed: 23)
        let scale: Float = 1 / Float(s.headDim).squareRoot()
        for type in Self.types(s.headDim) {
            let (k, kf) = Self.cache(keyFloats, type: type), (v, vf) = Self.cache(valueFloats, type: type)
            let all = Self.run(s, q: q, rows: s.rows, p0: s.p0, keys: k, values: v, type: type, stride: stride, scale: scale,
                               from: 0, to: positions).out
            for r in 0..<s.rows {
                for j in 0..<s.heads {
                    let ref = Self.reference(s, q: q, keys: kf, values: vf, stride: stride, scale: scale, r: r, j: j)
                    let got = all[((r * s.heads) + j) * s.headDim..<((r * s.heads) + j + 1) * s.headDim]
                    let err = zip(got, ref).map { abs(Double($0) - $1) }.max() ?? 0
                    #expect(err <= 1e-5, "type \(type) row \(r) head \(j): max error \(err)")
                }
                // The row alone (one call of one row) gives the same bits.
                let qr = Array(q[r * s.heads * s.headDim..<(r + 1) * s.heads * s.headDim])
                let alone = Self.run(s, q: qr, rows: 1, p0: s.p0 + r, keys: k, values: v, type: type, stride: stride, scale: scale,
                                     from: 0, to: positions).out
                #expect(alone.map(\.bitPattern) == all[r * s.heads * s.headDim..<(r + 1) * s.heads * s.headDim].map(\.bitPattern),
                        "type \(type) row \(r)")
            }
        }
    }

    /// Positions split into parts (block-aligned, as decode splits them over threads), the
    /// parts' states merged in order: within 1e-6 × max(1, |out|) of one pass (the rescales
    /// and sums reassociate), for 1 to 5 parts.
    @Test func splitOverPositionsMergesToOnePass() throws {
        let s = Shape(rows: 3, heads: 4, headDim: 64, p0: 300)
        let positions = s.p0 + s.rows, stride = s.headDim
        let q = AttentionKernelTests.values(s.rows * s.heads * s.headDim, seed: 31).map { $0 * 3 }
        let (k, _) = Self.cache(AttentionKernelTests.values(positions * stride, seed: 32).map { $0 * 3 }, type: 0)
        let (v, _) = Self.cache(AttentionKernelTests.values(positions * stride, seed: 33), type: 0)
        let scale: Float = 0.125
        let whole = Self.run(s, q: q, rows: s.rows, p0: s.p0, keys: k, values: v, type: 0, stride: stride, scale: scale, from: 0,
                             to: positions).out
        for parts in 1...5 {
            let partLength = ((positions + parts - 1) / parts + 31) / 32 * 32
            let n = s.rows * s.heads, partFloats = n * (s.headDim + 2)
            var states = [Float](repeating: .nan, count: parts * partFloats)
            for p in 0..<parts {
                let r = Self.run(s, q: q, rows: s.rows, p0: s.p0, keys: k, values: v, type: 0, stride: stride, scale: scale,
                                 from: p * partLength, to: min(positions, (p + 1) * partLength), partial: true)
                states.replaceSubrange(p * partFloats..<p * partFloats + n * s.headDim, with: r.out)
                states.replaceSubrange(p * partFloats + n * s.headDim..<p * partFloats + n * (s.headDim + 1), with: r.max)
                states.replaceSubrange(p * partFloats + n * (s.headDim + 1)..<(p + 1) * partFloats, with: r.sum)
            }
            var merged = [Float](repeating: .nan, count: n * s.headDim)
            states.withUnsafeBufferPointer { st in
                let b = st.baseAddress!
                swiftllama_flash_merge(Int32(parts), Int32(n), Int32(s.heads), Int32(s.headDim), b, b + n * s.headDim,
                                       b + n * (s.headDim + 1), partFloats, &merged, s.heads * s.headDim)
            }
            for (a, b) in zip(merged, whole) { #expect(abs(a - b) <= 1e-6 * max(1, abs(b)), "\(parts) parts: \(a) vs \(b)") }
        }
    }

    /// A half or Q8_0 cache gives the very bits of an fp32 cache that holds the floats its
    /// elements stand for (half → float; d · q for Q8_0): the kernels read each element as
    /// exactly that float, one row alone (decode: scores and values read in place) or a tile
    /// (keys widened once for the rows).
    @Test(arguments: [Shape(rows: 1, heads: 4, headDim: 64, p0: 700), Shape(rows: 6, heads: 4, headDim: 64, p0: 90),
                      Shape(rows: 2, heads: 3, headDim: 96, p0: 40)])
    func narrowCacheReadsTheFloatsItHolds(_ s: Shape) throws {
        let positions = s.p0 + s.rows
        let stride = s.headDim * 2
        let q = AttentionKernelTests.values(s.rows * s.heads * s.headDim, seed: 41).map { $0 * 2 }
        let keyFloats = AttentionKernelTests.values(positions * stride, seed: 42).map { $0 * 2 }
        let valueFloats = AttentionKernelTests.values(positions * stride, seed: 43)
        let scale: Float = 1 / Float(s.headDim).squareRoot()
        for type in [Int(SWIFTLLAMA_CACHE_F16), Int(SWIFTLLAMA_CACHE_Q8_0)] {
            let (k, kf) = Self.cache(keyFloats, type: type), (v, vf) = Self.cache(valueFloats, type: type)
            let (k32, _) = Self.cache(kf, type: 0), (v32, _) = Self.cache(vf, type: 0)
            let narrow = Self.run(s, q: q, rows: s.rows, p0: s.p0, keys: k, values: v, type: type, stride: stride, scale: scale,
                                  from: 0, to: positions).out
            let wide = Self.run(s, q: q, rows: s.rows, p0: s.p0, keys: k32, values: v32, type: 0, stride: stride, scale: scale,
                                from: 0, to: positions).out
            let differing = zip(narrow, wide).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(differing == 0, "type \(type), \(s): \(differing) of \(wide.count) outputs differ from the fp32 cache's")
            #expect(!narrow.contains { !$0.isFinite }, "type \(type), \(s)")
        }
    }

    /// The same for the two-pass kernels (Attention.h): scores and weighted values over a half
    /// or Q8_0 cache are the bits of the fp32 cache of their floats, for groups of 1 to 8 heads
    /// (each takes its own vector blocking) and head sizes of 1 to 4 Q8_0 blocks.
    @Test(arguments: [(1, 32), (2, 64), (3, 96), (4, 64), (5, 128), (8, 64)])
    func twoPassNarrowCacheReadsTheFloatsItHolds(_ heads: Int, _ headDim: Int) throws {
        let count = 45, stride = headDim * 3
        let q = AttentionKernelTests.values(heads * headDim, seed: 51)
        let keyFloats = AttentionKernelTests.values(count * stride, seed: 52).map { $0 * 2 }
        let valueFloats = AttentionKernelTests.values(count * stride, seed: 53)
        let att = AttentionKernelTests.values(heads * count, seed: 54).map { abs($0) }
        func run(_ keys: [UInt8], _ values: [UInt8], _ type: Int) -> (scores: [Float], out: [Float]) {
            var scores = [Float](repeating: .nan, count: heads * count), out = [Float](repeating: .nan, count: heads * headDim)
            var scratch = [Float](repeating: .nan, count: 8 * headDim)
            keys.withUnsafeBytes { k in
                swiftllama_attention_scores(q, headDim, Int32(heads), k.baseAddress, Int32(type), stride, Int32(count), Int32(headDim),
                                            0.125, &scores, count, &scratch)
            }
            values.withUnsafeBytes { v in
                swiftllama_attention_values(att, count, Int32(heads), v.baseAddress, Int32(type), stride, Int32(count), Int32(headDim),
                                            &out, headDim, &scratch)
            }
            return (scores, out)
        }
        for type in [Int(SWIFTLLAMA_CACHE_F16), Int(SWIFTLLAMA_CACHE_Q8_0)] {
            let (k, kf) = Self.cache(keyFloats, type: type), (v, vf) = Self.cache(valueFloats, type: type)
            let narrow = run(k, v, type), wide = run(Self.cache(kf, type: 0).bytes, Self.cache(vf, type: 0).bytes, 0)
            let scoreDiffs = zip(narrow.scores, wide.scores).filter { $0.bitPattern != $1.bitPattern }.count
            let outDiffs = zip(narrow.out, wide.out).filter { $0.bitPattern != $1.bitPattern }.count
            #expect(scoreDiffs == 0 && outDiffs == 0,
                    "type \(type), \(heads) heads × \(headDim): \(scoreDiffs) scores and \(outDiffs) outputs differ from the fp32 cache's")
            #expect(!narrow.out.contains { !$0.isFinite } && !narrow.scores.contains { !$0.isFinite })
        }
    }

    /// Asks for every attention score, which keeps the model on the two-pass kernels.
    final class ScoresWanted: ForwardObserver {
        func observe(_ step: ForwardStep, layer: Int, values: UnsafePointer<Float>, rows: Int, width: Int) {}
        func observeAttention(_ stage: AttentionStage, layer: Int, row: Int, head: Int, values: UnsafePointer<Float>, first: Int,
                              count: Int) {}
    }

    /// dev-odd's 2040-token prompt in batches of 512 (positions from 512 on take the flash
    /// kernel): the last logits within 1e-4 of transformers' fp32 ones, as the two-pass path's
    /// (an observer keeps the model there), and not the same bits (the flash kernel ran).
    @Test func longPromptStaysOnTransformers() throws {
        let ref = try ModelReference.load("fixtures/dev-odd")
        let model = try LlamaModel(checkpoint: CheckpointLoader.load(path: Fixtures.shared("fixtures/dev-odd/hf")))
        let c = model.config
        let ids = ref.longIDs.map { TokenID($0) }
        try #require(ids.count > 2 * LlamaModel.flashAttentionMinimumLength)
        func lastLogits(observer: (any ForwardObserver)?) throws -> [Float] {
            let cache = KVCache(config: c, capacity: ids.count)
            let state = RunState(config: c, maxRows: 512)
            var start = 0
            var last: [Float] = []
            while start < ids.count {
                let end = min(ids.count, start + 512)
                let rows = (start..<end).map { BatchRow(token: ids[$0], position: $0) }
                try model.forward(rows, caches: [cache], state: state, logitRows: [rows.count - 1], observer: observer)
                last = Array(state.logits(row: 0))
                start = end
            }
            return last
        }
        let flash = try lastLogits(observer: nil)
        let twoPass = try lastLogits(observer: ScoresWanted())
        let err = maxAbsDifference(flash, ref.longLastLogits), twoPassErr = maxAbsDifference(twoPass, ref.longLastLogits)
        #expect(err <= 1e-4, "flash: max abs error \(err) (two-pass \(twoPassErr))")
        #expect(twoPassErr <= 1e-4, "two-pass: max abs error \(twoPassErr)")
        #expect(flash != twoPass, "the flash kernel did not run")
    }
}
