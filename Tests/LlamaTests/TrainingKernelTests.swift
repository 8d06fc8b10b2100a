import Foundation
import Testing
@testable import Llama

@Suite struct TrainingKernelTests {
    /// The GEMM against a naive product, on shapes with ragged edges and all three stride
    /// patterns the model uses.
    @Test func gemmMatchesNaiveProduct() {
        let pool = TrainingThreadPool(threadCount: 2)
        let gemm = TrainingGEMM(pool: pool)
        var rng = TrainingRNG(seed: 3)
        for (m, n, k) in [(7, 19, 5), (13, 33, 300), (768, 40, 17), (1, 1, 1)] {
            let x = (0..<(m * k)).map { _ in Float(rng.nextNormal()) }
            let w = (0..<(n * k)).map { _ in Float(rng.nextNormal()) }
            var y = [Float](repeating: 0, count: m * n)
            x.withUnsafeBufferPointer { xp in w.withUnsafeBufferPointer { wp in y.withUnsafeMutableBufferPointer { yp in
                gemm.linear(xp.baseAddress!, wp.baseAddress!, yp.baseAddress!, rows: m, inDim: k, outDim: n)
            } } }
            var worst: Float = 0
            for i in 0..<m { for j in 0..<n {
                var s: Float = 0
                for p in 0..<k { s += x[i * k + p] * w[j * k + p] }
                worst = max(worst, abs(s - y[i * n + j]))
            } }
            #expect(worst < 1e-3, "\(m)×\(n)×\(k): max error \(worst)")
        }
    }

    /// Throughput of the training GEMM on the benchmark's shapes (printed, not asserted:
    /// the CI machine's speed is not ours to know).
    @Test func gemmThroughput() {
        for threads in [1, 2] {
            let pool = TrainingThreadPool(threadCount: threads)
            let gemm = TrainingGEMM(pool: pool)
            let m = 768, k = 128, n = 352
            let x = FloatPointer.allocate(capacity: m * n), w = FloatPointer.allocate(capacity: n * n), y = FloatPointer.allocate(capacity: m * n)
            x.initialize(repeating: 0.5, count: m * n); w.initialize(repeating: 0.25, count: n * n); y.initialize(repeating: 0, count: m * n)
            defer { x.deallocate(); w.deallocate(); y.deallocate() }
            let reps = 50
            for (name, body) in [("X·Wᵀ", { gemm.linear(x, w, y, rows: m, inDim: k, outDim: n) }),
                                 ("dY·W", { gemm.linearBackwardInput(y, w, x, rows: m, inDim: k, outDim: n, accumulate: false) }),
                                 ("dYᵀ·X", { gemm.linearBackwardWeight(y, x, w, rows: m, inDim: k, outDim: n) })] as [(String, () -> Void)] {
                body()
                let t0 = Date()
                for _ in 0..<reps { body() }
                let s = Date().timeIntervalSince(t0)
                print("gemm \(name) \(m)×\(k)×\(n), \(threads) threads: \(String(format: "%.1f", 2.0 * Double(m * n * k * reps) / s / 1e9)) GFLOP/s")
            }
        }
    }
}

@Suite struct TrainingExpTests {
    @Test func exp8MatchesExpf() {
        var worst: Float = 0
        var x: Float = -90
        while x < 90 {
            let v = SIMD8<Float>((0..<8).map { x + Float($0) * 0.0013 })
            let e = TrainingKernels.exp8(v)
            for i in 0..<8 {
                let ref = expf(v[i])
                if v[i] > 88 { #expect(e[i].isInfinite); continue }
                if v[i] < -87 { #expect(e[i] == 0); continue }
                worst = max(worst, abs(e[i] - ref) / ref)
            }
            x += 0.0107
        }
        #expect(worst < 3e-7, "worst relative error \(worst)")
    }
}
