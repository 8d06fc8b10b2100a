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
