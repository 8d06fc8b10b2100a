import Foundation
import Testing
import Llama

/// The training kernels' fast paths against plain sums: attention's backward with its causal
/// products (strips of 6 rows that skip the zeros above the diagonal, on contexts that are
/// not multiples of 6 and cross a 32-column panel), and the bfloat16 products of
/// `--precision bf16` (against sums of the bfloat16-rounded operands, on shapes with odd
/// and ragged sizes, every stride pattern the model uses).
@Suite struct TrainingFastPathTests {
    @Test(arguments: [(19, 8, 4, 2), (40, 48, 2, 2), (7, 16, 2, 1)])
    func attentionBackwardMatchesPlainSums(T: Int, hd: Int, heads: Int, kvHeads: Int) {
        let batch = 2
        let qw = heads * hd, kw = kvHeads * hd, group = heads / kvHeads
        let scale = 1 / Double(hd).squareRoot()
        var rng = Xoshiro256(seed: 21)
        let q = (0..<(batch * T * qw)).map { _ in Float(rng.nextNormal()) }
        let k = (0..<(batch * T * kw)).map { _ in Float(rng.nextNormal()) }
        let v = (0..<(batch * T * kw)).map { _ in Float(rng.nextNormal()) }
        let dOut = (0..<(batch * T * qw)).map { _ in Float(rng.nextNormal()) }
        // Causal softmax weights in Double, zero above the diagonal (as the forward keeps them).
        var probs = [Float](repeating: 0, count: batch * heads * T * T)
        for b in 0..<batch { for h in 0..<heads { for t in 0..<T {
            let kh = h / group
            let s = (0...t).map { s in
                scale * (0..<hd).reduce(0.0) { $0 + Double(q[(b * T + t) * qw + h * hd + $1]) * Double(k[(b * T + s) * kw + kh * hd + $1]) }
            }
            let mx = s.max() ?? 0
            let e = s.map { Foundation.exp($0 - mx) }
            let sum = e.reduce(0, +)
            for j in 0...t { probs[((b * heads + h) * T + t) * T + j] = Float(e[j] / sum) }
        } } }
        // Plain sums in Double over the same (rounded) probabilities.
        var dq = [Double](repeating: 0, count: q.count), dk = [Double](repeating: 0, count: k.count)
        var dv = [Double](repeating: 0, count: v.count)
        for b in 0..<batch { for h in 0..<heads {
            let kh = h / group
            for t in 0..<T {
                let P = (0..<T).map { Double(probs[((b * heads + h) * T + t) * T + $0]) }
                let dP = (0..<T).map { s in
                    (0..<hd).reduce(0.0) { $0 + Double(dOut[(b * T + t) * qw + h * hd + $1]) * Double(v[(b * T + s) * kw + kh * hd + $1]) }
                }
                let rowDot = (0...t).reduce(0.0) { $0 + P[$1] * dP[$1] }
                for s in 0...t {
                    let dS = P[s] * (dP[s] - rowDot) * scale
                    for d in 0..<hd {
                        dq[(b * T + t) * qw + h * hd + d] += dS * Double(k[(b * T + s) * kw + kh * hd + d])
                        dk[(b * T + s) * kw + kh * hd + d] += dS * Double(q[(b * T + t) * qw + h * hd + d])
                        dv[(b * T + s) * kw + kh * hd + d] += P[s] * Double(dOut[(b * T + t) * qw + h * hd + d])
                    }
                }
            }
        } }
        var results: [[Float]] = []
        for threads in [1, 2] {
            var gq = [Float](repeating: .nan, count: q.count), gk = [Float](repeating: .nan, count: k.count)
            var gv = [Float](repeating: .nan, count: v.count)
            gq.withUnsafeMutableBufferPointer { gqp in gk.withUnsafeMutableBufferPointer { gkp in gv.withUnsafeMutableBufferPointer { gvp in
                TrainingKernels.attentionBackward(dOut: dOut, q: q, k: k, v: v, probs: probs,
                                                  dq: gqp.baseAddress!, dk: gkp.baseAddress!, dv: gvp.baseAddress!,
                                                  batch: batch, context: T, heads: heads, kvHeads: kvHeads, headDim: hd,
                                                  pool: ParallelFor(workers: threads))
            } } }
            for (name, got, want) in [("dq", gq, dq), ("dk", gk, dk), ("dv", gv, dv)] {
                let scaleMax = want.map(abs).max() ?? 1
                let err = zip(got, want).map { abs(Double($0) - $1) }.max() ?? .nan
                #expect(err <= 1e-5 * max(1, scaleMax), "\(name) T=\(T) hd=\(hd), \(threads) threads: max error \(err) (max |value| \(scaleMax))")
            }
            results.append(gq + gk + gv)
        }
        #expect(results[0].map(\.bitPattern) == results[1].map(\.bitPattern), "1 and 2 threads differ")
    }

    /// bfloat16 rounding (nearest even), as vcvtneps2bf16.
    static func bf16(_ x: Float) -> Double {
        let u = x.bitPattern
        return Double(Float(bitPattern: (u &+ 0x7FFF &+ ((u >> 16) & 1)) & 0xFFFF_0000))
    }

    @Test(arguments: [1, 2])
    func bf16ProductsMatchSumsOfRoundedOperands(threads: Int) {
        let gemm = StridedGEMM(pool: ParallelFor(workers: threads), precision: .bf16)
        let fp32 = StridedGEMM(pool: ParallelFor(workers: threads))
        var rng = Xoshiro256(seed: 8)
        for (m, k, n) in [(7, 5, 19), (13, 301, 33), (200, 64, 70), (97, 128, 40)] {
            let x = (0..<(m * k)).map { _ in Float(rng.nextNormal()) }
            let w = (0..<(n * k)).map { _ in Float(rng.nextNormal()) }
            let dy = (0..<(m * n)).map { _ in Float(rng.nextNormal()) }
            let start = (0..<(n * k)).map { _ in Float(rng.nextNormal()) }
            var y = [Float](repeating: .nan, count: m * n), y32 = y
            var dx = [Float](repeating: .nan, count: m * k)
            var dxAcc = x
            var dw = start
            gemm.linear(x, w, &y, rows: m, inDim: k, outDim: n)
            fp32.linear(x, w, &y32, rows: m, inDim: k, outDim: n)
            gemm.linearBackwardInput(dy, w, &dx, rows: m, inDim: k, outDim: n, accumulate: false)
            gemm.linearBackwardInput(dy, w, &dxAcc, rows: m, inDim: k, outDim: n, accumulate: true)
            gemm.linearBackwardWeight(dy, x, &dw, rows: m, inDim: k, outDim: n)
            func check(_ name: String, _ got: Float, _ terms: [(Float, Float)], base: Float = 0) {
                var s = Double(base), mag = abs(Double(base))
                for (a, b) in terms { let p = Self.bf16(a) * Self.bf16(b); s += p; mag += abs(p) }
                #expect(abs(Double(got) - s) <= 1e-5 * mag + 1e-6, "\(name) \(m)×\(k)×\(n), \(threads) threads: \(got) vs \(s)")
            }
            var worst = 0.0, largest = 0.0
            for i in 0..<m {
                for j in 0..<n {
                    check("y", y[i * n + j], (0..<k).map { (x[i * k + $0], w[j * k + $0]) })
                    worst = max(worst, abs(Double(y[i * n + j] - y32[i * n + j])))
                    largest = max(largest, abs(Double(y32[i * n + j])))
                }
                for p in 0..<k {
                    let terms = (0..<n).map { (dy[i * n + $0], w[$0 * k + p]) }
                    check("dx", dx[i * k + p], terms)
                    check("dx+=", dxAcc[i * k + p], terms, base: x[i * k + p])
                }
            }
            for j in 0..<n {
                for p in 0..<k { check("dw+=", dw[j * k + p], (0..<m).map { (dy[$0 * n + j], x[$0 * k + p]) }, base: start[j * k + p]) }
            }
            // A second product of the same input reusing its rounded copy gives what a fresh
            // product gives (the backward products above ran in between: the copy is redone).
            var again = [Float](repeating: .nan, count: m * n), fresh = again
            gemm.linear(x, w, &y, rows: m, inDim: k, outDim: n)
            gemm.linear(x, start, &again, rows: m, inDim: k, outDim: n, sameInput: true)
            StridedGEMM(pool: ParallelFor(workers: threads), precision: .bf16).linear(x, start, &fresh, rows: m, inDim: k, outDim: n)
            #expect(again.map(\.bitPattern) == fresh.map(\.bitPattern), "sameInput \(m)×\(k)×\(n)")
            // bfloat16 keeps 8 significant bits: products of unit normals over k terms move by
            // about 2⁻⁸·√k, far above fp32's noise and far below the values.
            #expect(worst > 0 && worst < 0.02 * largest, "bf16 vs fp32 \(m)×\(k)×\(n): \(worst) of \(largest)")
        }
    }

    /// `multiplyGroup` (a layer's q/k/v or gate/up products of one input, and their weight
    /// gradients over it) gives each product's C to the bit as `linear` and
    /// `linearBackwardWeight` alone, and `multiplySum` (their input gradients, summed) what
    /// `linearBackwardInput` on each in turn gives, in both precisions, on ragged shapes (several 96-row
    /// strips and 32-column tiles, an odd k).
    @Test(arguments: [TrainingPrecision.fp32, .bf16], [1, 2])
    func groupedProductsAreTheSingleProducts(precision: TrainingPrecision, threads: Int) {
        let pool = ParallelFor(workers: threads)
        let group = StridedGEMM(pool: pool, precision: precision)
        let single = StridedGEMM(pool: pool, precision: precision)
        var rng = Xoshiro256(seed: 11)
        func buffer(_ n: Int, random: Bool = true) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
            for i in 0..<n { p[i] = random ? Float(rng.nextNormal()) : .nan }
            return p
        }
        let (m, k) = (203, 37)
        let outs = [70, 33, 33]
        let x = buffer(m * k)
        let ws = outs.map { buffer($0 * k) }, dys = outs.map { buffer(m * $0) }
        let starts = outs.map { buffer($0 * k) }
        let ys = outs.map { buffer(m * $0, random: false) }, ysAlone = outs.map { buffer(m * $0, random: false) }
        let dws = outs.map { buffer($0 * k) }, dwsAlone = outs.map { buffer($0 * k) }
        defer { for p in [x] + ws + dys + starts + ys + ysAlone + dws + dwsAlone { p.deallocate() } }
        for used in [2, 3] {
            for i in 0..<used {
                dws[i].update(from: starts[i], count: outs[i] * k)
                dwsAlone[i].update(from: starts[i], count: outs[i] * k)
            }
            let forward = (0..<used).map { StridedGEMM.linearProduct(x, ws[$0], ys[$0], rows: m, inDim: k, outDim: outs[$0]) }
            group.multiplyGroup(forward[0], forward[1], used == 3 ? forward[2] : nil, sharedA: true)
            let backward = (0..<used).map { StridedGEMM.weightGradient(dys[$0], x, dws[$0], rows: m, inDim: k, outDim: outs[$0]) }
            group.multiplyGroup(backward[0], backward[1], used == 3 ? backward[2] : nil, sharedA: false)
            // The input gradients of those products, summed into one dx (`multiplySum`):
            // dx = dy0·w0 + dy1·w1 (+ dy2·w2), as linearBackwardInput on each in turn.
            let dx = buffer(m * k, random: false), dxAlone = buffer(m * k, random: false)
            defer { dx.deallocate(); dxAlone.deallocate() }
            let sums = (0..<used).map { StridedGEMM.inputGradient(dys[$0], ws[$0], dx, rows: m, inDim: k, outDim: outs[$0], accumulate: $0 > 0) }
            group.multiplySum(sums[0], sums[1], used == 3 ? sums[2] : nil)
            for i in 0..<used {
                single.linearBackwardInput(dys[i], ws[i], dxAlone, rows: m, inDim: k, outDim: outs[i], accumulate: i > 0)
            }
            let dxs = Array(UnsafeBufferPointer(start: dx, count: m * k))
            #expect(!dxs.contains { $0.isNaN }, "\(precision) dx of \(used) not written")
            #expect(dxs.map(\.bitPattern) == Array(UnsafeBufferPointer(start: dxAlone, count: m * k)).map(\.bitPattern),
                    "\(precision) summed dx of \(used), \(threads) threads")
            for i in 0..<used {
                single.linear(x, ws[i], ysAlone[i], rows: m, inDim: k, outDim: outs[i])
                single.linearBackwardWeight(dys[i], x, dwsAlone[i], rows: m, inDim: k, outDim: outs[i])
                let y = Array(UnsafeBufferPointer(start: ys[i], count: m * outs[i]))
                let yAlone = Array(UnsafeBufferPointer(start: ysAlone[i], count: m * outs[i]))
                let dw = Array(UnsafeBufferPointer(start: dws[i], count: outs[i] * k))
                let dwAlone = Array(UnsafeBufferPointer(start: dwsAlone[i], count: outs[i] * k))
                #expect(!y.contains { $0.isNaN } && dw != Array(UnsafeBufferPointer(start: starts[i], count: outs[i] * k)),
                        "\(precision) product \(i) of \(used) not written")
                #expect(y.map(\.bitPattern) == yAlone.map(\.bitPattern), "\(precision) y\(i) of \(used), \(threads) threads")
                #expect(dw.map(\.bitPattern) == dwAlone.map(\.bitPattern), "\(precision) dw\(i) of \(used), \(threads) threads")
            }
        }
    }

    @Test func trainRefusesAnUnknownPrecision() throws {
        let r = try GenerateCommandTests().run(["train", "--data", "/nonexistent", "--out", "/nonexistent/run", "--precision", "fp16"])
        #expect(r.status != 0 && r.err.contains("--precision fp16") && r.err.contains("fp32, bf16"), "\(r.err)")
        if !TrainingPrecision.bf16IsAvailable {
            let bf = try GenerateCommandTests().run(["train", "--data", "/nonexistent", "--out", "/nonexistent/run", "--precision", "bf16"])
            #expect(bf.status != 0 && bf.err.contains("AVX-512 BF16"), "\(bf.err)")
        }
    }
}
