import Foundation
import Llama

// What several subcommands share: messages on stderr and thread counts.

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// The worker count for `requested` threads: every core when nil, and never more than the
/// cores this process may run on (more threads than cores only wait for each other: a
/// 256-thread run on 2 cores is hundreds of times slower), said once on stderr.
func clampedThreads(_ requested: Int?, flag: String) -> Int {
    let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
    guard let requested else { return cores }
    if requested > cores {
        printError("note: \(flag) \(requested) is more than the \(cores) cores available; using \(cores)")
        return cores
    }
    return max(1, requested)
}

/// Token ids given as text ("1 15043 3186", commas and tabs also separate), or nil when it is
/// not a non-empty list of non-negative integers.
func parseTokenIDs(_ text: String) -> [Int]? {
    let parts = text.split(whereSeparator: { $0 == " " || $0 == "," || $0 == "\n" || $0 == "\t" })
    let parsed = parts.compactMap { Int($0) }
    guard !parsed.isEmpty, parsed.count == parts.count, parsed.allSatisfy({ $0 >= 0 }) else { return nil }
    return parsed
}
