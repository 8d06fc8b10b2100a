import Foundation
import Testing
import Llama

@Suite struct TrainingKernelTests {
    /// The GEMM against a naive product, on shapes with ragged edges and all three stride
    /// patterns the model uses.
    @Test func gemmMatchesNaiveProduct() {
        let pool = ParallelFor(workers: 2)
        let gemm = StridedGEMM(pool: pool)
        var rng = Xoshiro256(seed: 3)
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

    /// The two backward products against naive sums, with 1 and 2 threads, on ragged shapes
    /// and on the shape `llama bench gemm` times (768 rows × 128 in × 352 out, a hidden layer
    /// of the training benchmark). Speed is measured there, not here.
    @Test(arguments: [1, 2])
    func gemmBackwardProductsMatchNaiveSums(threads: Int) {
        let gemm = StridedGEMM(pool: ParallelFor(workers: threads))
        var rng = Xoshiro256(seed: 5)
        for (m, k, n) in [(7, 5, 19), (13, 300, 33), (768, 128, 352)] {
            let x = (0..<(m * k)).map { _ in Float(rng.nextNormal()) }
            let w = (0..<(n * k)).map { _ in Float(rng.nextNormal()) }
            let dy = (0..<(m * n)).map { _ in Float(rng.nextNormal()) }
            let start = (0..<(n * k)).map { _ in Float(rng.nextNormal()) }
            var y = [Float](repeating: 0, count: m * n)
            var dx = [Float](repeating: 0, count: m * k)
            var dxAcc = x  // accumulate: adds onto what is there
            var dw = start
            x.withUnsafeBufferPointer { xp in w.withUnsafeBufferPointer { wp in dy.withUnsafeBufferPointer { dyp in
                y.withUnsafeMutableBufferPointer { gemm.linear(xp.baseAddress!, wp.baseAddress!, $0.baseAddress!, rows: m, inDim: k, outDim: n) }
                dx.withUnsafeMutableBufferPointer {
                    gemm.linearBackwardInput(dyp.baseAddress!, wp.baseAddress!, $0.baseAddress!, rows: m, inDim: k, outDim: n, accumulate: false)
                }
                dxAcc.withUnsafeMutableBufferPointer {
                    gemm.linearBackwardInput(dyp.baseAddress!, wp.baseAddress!, $0.baseAddress!, rows: m, inDim: k, outDim: n, accumulate: true)
                }
                dw.withUnsafeMutableBufferPointer { gemm.linearBackwardWeight(dyp.baseAddress!, xp.baseAddress!, $0.baseAddress!, rows: m, inDim: k, outDim: n) }
            } } }
            // Error bound scaled by the sum of |terms|: float32 accumulation in any order.
            func check(_ name: String, _ got: Float, _ terms: [(Float, Float)], base: Float = 0) {
                var s = Double(base), mag = abs(Double(base))
                for (a, b) in terms { s += Double(a) * Double(b); mag += abs(Double(a) * Double(b)) }
                #expect(abs(Double(got) - s) <= 1e-5 * mag + 1e-6, "\(name) \(m)×\(k)×\(n), \(threads) threads: \(got) vs \(s)")
            }
            let rowStep = m > 100 ? 37 : 1  // the big shape: a sample of rows keeps the naive sums cheap
            for i in stride(from: 0, to: m, by: rowStep) {
                for j in 0..<n { check("y", y[i * n + j], (0..<k).map { (x[i * k + $0], w[j * k + $0]) }) }
                for p in 0..<k {
                    let terms = (0..<n).map { (dy[i * n + $0], w[$0 * k + p]) }
                    check("dx", dx[i * k + p], terms)
                    check("dx+=", dxAcc[i * k + p], terms, base: x[i * k + p])
                }
            }
            for j in stride(from: 0, to: n, by: rowStep) {
                for p in 0..<k { check("dw+=", dw[j * k + p], (0..<m).map { (dy[$0 * n + j], x[$0 * k + p]) }, base: start[j * k + p]) }
            }
        }
    }
}

@Suite struct BenchGEMMCommandTests {
    @Test func benchGEMMPrintsOneJSONObjectPerProduct() throws {
        let r = try GenerateCommandTests().run(["bench", "gemm", "-m", "16", "-k", "8", "-n", "4", "-t", "1", "-r", "1", "--json"])
        #expect(r.status == 0, "\(r.err)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [[String: Any]])
        #expect(rows.compactMap { $0["product"] as? String } == ["X·Wᵀ", "dY·W", "dYᵀ·X"])
        #expect(rows.allSatisfy { ($0["gflops"] as? Double ?? 0) > 0 && $0["threads"] as? Int == 1 && $0["m"] as? Int == 16 })
        let bad = try GenerateCommandTests().run(["bench", "gemm", "-r", "0"])
        #expect(bad.status != 0 && bad.err.contains("-r must be at least 1"))
    }
}

@Suite struct TrainingExpTests {
    @Test func exp8MatchesExpf() {
        var worst: Float = 0
        var x: Float = -90
        while x < 90 {
            let v = SIMD8<Float>((0..<8).map { x + Float($0) * 0.0013 })
            let e = exp8(v)
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
