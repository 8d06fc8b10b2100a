import ArgumentParser
import Foundation
import Llama

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure speed: prompt processing and generation (default), tokenizer throughput, or the training GEMM.",
        subcommands: [BenchModel.self, BenchTokenizer.self, BenchGEMM.self],
        defaultSubcommand: BenchModel.self)
}

struct BenchTokenizer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer",
        abstract: "Encode throughput of a tokenizer over a file, one thread, best of several runs.",
        discussion: "Example: llama bench tokenizer --tokenizer tokenizer.model --file tinyshakespeare.txt --json")

    @Option(name: .long, help: "Tokenizer file (tokenizer.model, GGUF or tokenizer.bin).")
    var tokenizer: String

    @Option(name: .long, help: "Text file to encode (UTF-8).")
    var file: String

    @Option(name: [.short, .long], parsing: .unconditional, help: "Number of timed runs; the best is reported.")
    var runs = 5

    @Flag(name: .long, help: "Let special-token text become special ids.")
    var special = false

    @Flag(name: .long, help: "Print one JSON line instead of a table.")
    var json = false

    func validate() throws {
        guard runs >= 1 else { throw ValidationError("--runs must be at least 1") }
    }

    func run() throws {
        let tok = try TokenizerLoader.load(path: tokenizer)
        let text = try readText(file, lossy: false)
        let bytes = text.utf8.count
        var best = Double.infinity
        var tokens = 0
        _ = tok.encode(String(text.prefix(10_000)), allowSpecial: special)  // warm up lazy tables
        for _ in 0..<runs {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let ids = tok.encode(text, allowSpecial: special)
            let t1 = DispatchTime.now().uptimeNanoseconds
            tokens = ids.count
            best = min(best, Double(t1 - t0) / 1e9)
        }
        let mbps = Double(bytes) / 1e6 / best
        if json {
            print("{\"bytes\": \(bytes), \"tokens\": \(tokens), \"seconds\": \(best), \"mb_per_s\": \(mbps), \"runs\": \(runs)}")
        } else {
            print("| tokenizer | file | bytes | tokens | best s | MB/s |")
            print("| --- | --- | ---: | ---: | ---: | ---: |")
            print("| \(tokenizer) | \(file) | \(bytes) | \(tokens) | \(String(format: "%.4f", best)) | \(String(format: "%.2f", mbps)) |")
        }
    }
}

/// `llama bench --model M`: the two tests of llama.cpp's llama-bench, so the numbers compare.
/// ppN runs N prompt tokens in one batch and computes logits only for the last; tgN
/// generates N tokens one forward call at a time from an empty cache. Each test gets a
/// fresh cache, one untimed warm-up run, then `reps` timed runs. With `-d D` (llama-bench's
/// depth) the cache already holds D positions when each run starts (filled once, untimed,
/// and cut back to D before every run, as llama-bench restores its saved state); the tests
/// are then named `ppN@dD` and `tgN@dD`. With `--parallel P` (llama-batched-bench's -npl)
/// a third test, `tgNxP`, decodes P sequences together, one forward call of P rows per step
/// (what `llama serve` runs with P streams), and reports their aggregate speed and its
/// ratio to the single sequence's tgN.
struct BenchModel: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Prompt processing (ppN) and generation (tgN) speed in tokens/s, like llama-bench.",
        discussion: "Example: llama bench --model model-q8_0.gguf -p 512 -n 128 -t 2 -r 5 --json")

    @Option(name: [.short, .long], help: "Model file (GGUF or any format `generate` reads).")
    var model: String

    @Option(name: .short, parsing: .unconditional, help: "Prompt tokens for the pp test (0 skips it; skipped with a notice when longer than the model's context).")
    var p = 512

    @Option(name: .short, parsing: .unconditional, help: "Generated tokens for the tg test (0 skips it; skipped with a notice when longer than the model's context).")
    var n = 128

    @Option(help: "How the KV cache stores keys and values: f32 (exact), f16 (as llama-bench's default -ctk/-ctv f16) or q8_0 (as -ctk q8_0 -ctv q8_0).")
    var cacheType: KVCacheType = .f32

    @Option(name: .short, parsing: .unconditional, help: "Depth: positions already in the KV cache when each test starts (llama-bench's -d); tests are named ppN@dD, tgN@dD.")
    var d = 0

    @Option(name: .short, parsing: .unconditional, help: "Threads (default: every core; more than the cores available are clamped).")
    var t: Int?

    @Option(name: .short, parsing: .unconditional, help: "Timed repetitions per test.")
    var r = 5

    @Option(name: .long, parsing: .unconditional, help: "Also decode this many sequences together (test tgNxP: one forward call of P rows per step, as `llama serve` with P streams), reporting aggregate t/s and the ratio to one sequence.")
    var parallel = 1

    @Flag(name: .long, help: "Print a JSON array, one object per test.")
    var json = false

    func validate() throws {
        guard p >= 0, n >= 0, d >= 0 else { throw ValidationError("-p, -n and -d must not be negative") }
        guard p + n > 0 else { throw ValidationError("-p and -n are both 0: nothing to measure") }
        guard r >= 1 else { throw ValidationError("-r must be at least 1") }
        if let t { guard t >= 1 else { throw ValidationError("-t must be at least 1") } }
        guard parallel >= 1 else { throw ValidationError("--parallel must be at least 1") }
        guard parallel == 1 || n > 0 else { throw ValidationError("--parallel \(parallel) decodes -n tokens per sequence; -n is 0") }
    }

    func run() throws {
        let threads = clampedThreads(t, flag: "-t")
        let checkpoint = try CheckpointLoader.load(path: model)
        let loadStart = DispatchTime.now().uptimeNanoseconds
        let llama = try LlamaModel(checkpoint: checkpoint, parallel: ParallelFor(workers: threads))
        let loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - loadStart) / 1e9
        let layout = llama.weightLayoutSummary
        let c = llama.config
        // A test longer than the context cannot run: skip it, as llama-bench does with -p 0.
        var p = p, n = n
        for (name, value, flag) in [("pp", p, "-p"), ("tg", n, "-n")] where value > 0 && d + value > c.maxContext {
            let room = max(0, c.maxContext - d)
            printError("\(name)\(value)\(suffix) skipped: the model's context is \(c.maxContext)" +
                       (d > 0 ? " and the depth \(d)" : "") + "; use \(flag) \(room)" + (room == 0 ? " or a smaller -d" : ""))
            if name == "pp" { p = 0 } else { n = 0 }
        }
        // Token ids are arbitrary: speed does not depend on them. A fixed pattern keeps runs comparable.
        func tokens(_ count: Int, from start: Int = 0) -> [TokenID] { (start..<start + count).map { TokenID((7919 * $0 + 13) % c.vocabSize) } }
        let depth = d
        // One cache per sequence (one without --parallel) for every test: the depth's
        // positions are computed once (untimed), and each run cuts the caches back to them.
        let sequences = n > 0 ? parallel : 1
        let caches = try (0..<sequences).map { _ in try KVCache(config: c, capacity: depth + max(p, n), type: cacheType) }
        let cache = caches[0]
        if depth > 0 {
            let chunk = min(depth, 512)
            let state = RunState(config: c, maxRows: chunk, maxLogitRows: 1)
            let ids = tokens(depth)
            for cache in caches {
                var start = 0
                while start < depth {
                    let end = min(depth, start + chunk)
                    let rows = (start..<end).map { BatchRow(token: ids[$0], position: $0) }
                    try llama.forward(rows, caches: [cache], state: state, logitRows: [rows.count - 1])
                    start = end
                }
            }
        }

        var results: [BenchResult] = []
        if p > 0 {
            let prompt = tokens(p, from: depth)
            let state = RunState(config: c, maxRows: p, maxLogitRows: 1)
            let rows = prompt.enumerated().map { BatchRow(token: $1, position: depth + $0) }
            let times = try measure {
                cache.truncate(to: depth)
                try llama.forward(rows, caches: [cache], state: state, logitRows: [p - 1])
            }
            results.append(BenchResult(test: "pp\(p)\(suffix)", tokens: p, seconds: times))
        }
        // tgN, and tgNxP: every step one forward call of one row per sequence (the next
        // token of each), the logits of every row, as the server's engine steps its streams.
        for count in n > 0 ? (parallel > 1 ? [1, parallel] : [1]) : [] {
            let ids = tokens(n, from: depth)
            let state = RunState(config: c, maxRows: count, maxLogitRows: count)
            let steps = ids.enumerated().map { i, id in (0..<count).map { BatchRow(token: id, position: depth + i, sequence: $0) } }
            let logitRows = Array(0..<count)
            let used = Array(caches.prefix(count))
            let times = try measure {
                for cache in used { cache.truncate(to: depth) }
                for rows in steps { try llama.forward(rows, caches: used, state: state, logitRows: logitRows) }
            }
            results.append(BenchResult(test: "tg\(n)" + (count > 1 ? "x\(count)" : "") + suffix, tokens: n * count,
                                       seconds: times, sequences: count))
        }
        let rss = peakResidentBytes()
        let size = (try? FileManager.default.attributesOfItem(atPath: model)[.size] as? Int) ?? 0
        let types = weightTypeSummary(checkpoint)
        // Generation reads every weight matrix once per token: bytes × t/s is the memory
        // bandwidth it achieves (compare with bench/bandwidth.sh). Only tg tests get it.
        let weightBytes = weightBytesPerToken(checkpoint)
        func gbPerSecond(_ r: BenchResult) -> Double? {
            r.test.hasPrefix("tg") ? Double(weightBytes) * r.mean / Double(r.sequences) / 1e9 : nil
        }
        // The aggregate speed of P sequences over one sequence's (tgNxP only).
        let single = results.first { $0.test.hasPrefix("tg") && $0.sequences == 1 }
        func ratio(_ r: BenchResult) -> Double? {
            guard r.sequences > 1, let single, single.mean > 0 else { return nil }
            return r.mean / single.mean
        }
        if json {
            let objects = results.map { r in
                "  {\"model\": \(jsonString(model)), \"type\": \(jsonString(types)), \"size_bytes\": \(size), " +
                "\"params\": \(c.parameterEstimate), \"threads\": \(threads), \"n_depth\": \(depth), \"cache_type\": \"\(cacheType.rawValue)\", " +
                "\"test\": \"\(r.test)\", \"n_parallel\": \(r.sequences), " +
                "\"reps\": \(r.seconds.count), \"tokens_per_s\": \(r.mean), \"stddev\": \(r.stddev), " +
                "\"samples_s\": [\(r.seconds.map { String($0) }.joined(separator: ", "))], \"peak_rss_bytes\": \(rss), " +
                "\"weight_bytes_per_token\": \(weightBytes), \"weight_gb_per_s\": \(gbPerSecond(r).map { String($0) } ?? "null"), " +
                "\"ratio_to_one_sequence\": \(ratio(r).map { String($0) } ?? "null"), " +
                "\"weight_layout\": \(jsonString(layout)), \"load_s\": \(loadSeconds)}"
            }
            print("[\n" + objects.joined(separator: ",\n") + "\n]")
        } else {
            print("| model | type | size | params | threads | test | t/s | weights GB/s |")
            print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
            for r in results {
                let name = (model as NSString).lastPathComponent
                print("| \(name) | \(types) | \(byteSize(size)) | \(parameterCount(c.parameterEstimate)) | \(threads) | \(r.test) | " +
                      "\(String(format: "%.2f ± %.2f", r.mean, r.stddev)) | \(gbPerSecond(r).map { String(format: "%.1f", $0) } ?? "") |")
            }
            for r in results {
                if let x = ratio(r) {
                    print("\(r.test): \(r.sequences) sequences decoding together (one forward of \(r.sequences) rows per step), " +
                          "aggregate \(String(format: "%.2f", r.mean)) t/s = \(String(format: "%.2f", x))x one sequence")
                }
            }
            print("peak RSS: \(String(format: "%.1f MiB", Double(rss) / 1048576)), KV cache \(cacheType.rawValue)")
            print("weights: \(layout); model built in \(String(format: "%.2f s", loadSeconds))")
        }
    }

    /// The test-name suffix of a depth (`@d4096`), empty without one.
    var suffix: String { d > 0 ? "@d\(d)" : "" }

    /// One warm-up call (page-in of the mapped weights, lazy setup), then `r` timed calls.
    func measure(_ body: () throws -> Void) throws -> [Double] {
        try body()
        var times: [Double] = []
        for _ in 0..<r {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return times
    }
}

/// The timings of one bench test; speeds are averaged per run, as llama-bench does.
struct BenchResult {
    let test: String
    /// Tokens per run, over every sequence.
    let tokens: Int
    let seconds: [Double]
    /// Sequences decoding together (1 but for tgNxP).
    var sequences = 1
    var speeds: [Double] { seconds.map { Double(tokens) / $0 } }
    var mean: Double { speeds.reduce(0, +) / Double(speeds.count) }
    /// Sample standard deviation (0 for one run).
    var stddev: Double {
        guard speeds.count > 1 else { return 0 }
        let m = mean
        return (speeds.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(speeds.count - 1)).squareRoot()
    }
}

#if os(Linux)
// Glibc imports RUSAGE_SELF as an enum case; getrusage wants its raw Int32.
private let RUSAGE_SELF_WHO = __rusage_who_t(RUSAGE_SELF.rawValue)
#else
private let RUSAGE_SELF_WHO = RUSAGE_SELF
#endif

/// Peak resident set size of this process, from getrusage (Linux reports KiB).
func peakResidentBytes() -> Int {
    var usage = rusage()
    guard getrusage(RUSAGE_SELF_WHO, &usage) == 0 else { return 0 }
    #if os(Linux)
    return Int(usage.ru_maxrss) * 1024
    #else
    return Int(usage.ru_maxrss)
    #endif
}

/// The weight types of a checkpoint's layer matrices, e.g. "Q8_0" or "Q4_K+Q6_K".
func weightTypeSummary(_ checkpoint: any Checkpoint) -> String {
    var seen: [String] = []
    let c = checkpoint.config
    for (spec, layer) in c.tensorLayout where layer == 0 && spec.role.isPerLayer && spec.shape.count == 2 {
        if let t = try? checkpoint.tensor(spec.canonicalName(layer: 0)), !seen.contains(t.type.name) { seen.append(t.type.name) }
    }
    return seen.joined(separator: "+")
}

/// Bytes of weight matrices one token of generation reads: every 2-D tensor but the
/// embedding tables (one row each), plus the token embedding when it doubles as the output.
/// For mixtures of experts this counts every expert (an upper bound).
func weightBytesPerToken(_ checkpoint: any Checkpoint) -> Int {
    let c = checkpoint.config
    var total = 0, hasOutput = false
    for (spec, layer) in c.tensorLayout where spec.shape.count == 2 {
        if spec.role == .tokenEmbedding || spec.role == .positionEmbedding { continue }
        guard let t = try? checkpoint.tensor(spec.canonicalName(layer: layer)) else { continue }
        total += t.data.count
        if spec.role == .output { hasOutput = true }
    }
    if !hasOutput, let e = try? checkpoint.tensor(TensorRole.tokenEmbedding.canonicalName()) { total += e.data.count }
    return total
}

/// A file size as llama-bench shows it (GiB), in MiB or KiB for files under a GiB or MiB.
func byteSize(_ bytes: Int) -> String {
    let b = Double(bytes)
    if bytes >= 1 << 30 { return String(format: "%.2f GiB", b / 1073741824) }
    if bytes >= 1 << 20 { return String(format: "%.2f MiB", b / 1048576) }
    return String(format: "%.2f KiB", b / 1024)
}

/// A parameter count in B (billions, as llama-bench), M or K.
func parameterCount(_ n: Int) -> String {
    let x = Double(n)
    if x >= 1e9 { return String(format: "%.2f B", x / 1e9) }
    if x >= 1e6 { return String(format: "%.2f M", x / 1e6) }
    return String(format: "%.2f K", x / 1e3)
}

/// A JSON string literal.
func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}

extension ModelConfig {
    /// Parameters of a Llama with this shape (embedding, layers, final norm, untied output).
    var parameterEstimate: Int {
        let perLayer = 2 * dim * dim + 2 * dim * kvDim + 3 * dim * hiddenDim + 2 * dim
        return vocabSize * dim * (tiedEmbeddings ? 1 : 2) + layerCount * perLayer + dim
    }
}
