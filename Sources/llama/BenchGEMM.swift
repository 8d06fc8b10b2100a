import ArgumentParser
import Foundation
import Llama

/// `llama bench gemm`: speed of the training GEMM's three products (forward, input gradient,
/// weight gradient) on one linear layer's shapes. Tests check these products are right; how
/// fast they are depends on the machine, so it is measured here, not asserted there.
struct BenchGEMM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "GFLOP/s of the training GEMM (X·Wᵀ, dY·W, dYᵀ·X) on one layer's shapes, best of several runs.",
        discussion: """
        The defaults are a hidden layer of the training benchmark (bench/train.sh): 768 rows \
        (batch 12 × context 64), 128 inputs, 352 outputs.

        Example: llama bench gemm -t 2 --json
        """)

    @Option(name: .short, help: "Rows (tokens in the batch).")
    var m = 768
    @Option(name: .short, help: "Input features.")
    var k = 128
    @Option(name: .short, help: "Output features.")
    var n = 352
    @Option(name: .short, help: "Threads (default: every core).")
    var threads: Int?
    @Option(name: .short, help: "Timed runs per product; the best is reported.")
    var reps = 20
    @Flag(name: .long, help: "Print a JSON array, one object per product.")
    var json = false

    func validate() throws {
        guard m >= 1, k >= 1, n >= 1, m * k <= 1 << 28, m * n <= 1 << 28, n * k <= 1 << 28 else {
            throw ValidationError("-m, -k and -n must be at least 1, and each matrix at most 2^28 floats")
        }
        guard reps >= 1 else { throw ValidationError("-r must be at least 1") }
        if let threads { guard threads >= 1 else { throw ValidationError("-t must be at least 1") } }
    }

    func run() throws {
        let threadCount = threads ?? ProcessInfo.processInfo.activeProcessorCount
        let gemm = StridedGEMM(pool: ParallelFor(workers: threadCount))
        let x = [Float](repeating: 0.5, count: m * k), w = [Float](repeating: 0.25, count: n * k)
        let dy = [Float](repeating: 0.125, count: m * n)
        var y = [Float](repeating: 0, count: m * n), dx = [Float](repeating: 0, count: m * k)
        var dw = [Float](repeating: 0, count: n * k)
        let (m, k, n) = (self.m, self.k, self.n)
        let products: [(String, () -> Void)] = [
            ("X·Wᵀ", { gemm.linear(x, w, &y, rows: m, inDim: k, outDim: n) }),
            ("dY·W", { gemm.linearBackwardInput(dy, w, &dx, rows: m, inDim: k, outDim: n, accumulate: false) }),
            ("dYᵀ·X", { gemm.linearBackwardWeight(dy, x, &dw, rows: m, inDim: k, outDim: n) }),
        ]
        var results: [(String, Double)] = []
        for (name, body) in products {
            body()  // warm-up: page in the buffers, start the pool's threads
            var best = Double.infinity
            for _ in 0..<reps {
                let t0 = DispatchTime.now().uptimeNanoseconds
                body()
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
            results.append((name, 2 * Double(m * n * k) / best / 1e9))
        }
        if json {
            let objects = results.map { name, gflops in
                "{\"product\": \"\(name)\", \"m\": \(m), \"k\": \(k), \"n\": \(n), \"threads\": \(threadCount), \"gflops\": \(String(format: "%.4g", gflops))}"
            }
            print("[" + objects.joined(separator: ", ") + "]")
        } else {
            print("| product | m | k | n | threads | GFLOP/s |")
            print("| --- | ---: | ---: | ---: | ---: | ---: |")
            for (name, gflops) in results {
                print("| \(name) | \(m) | \(k) | \(n) | \(threadCount) | \(String(format: "%.1f", gflops)) |")
            }
        }
    }
}
