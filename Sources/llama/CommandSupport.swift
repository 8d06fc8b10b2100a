import ArgumentParser
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

/// A subcommand that runs as one rank of an MPI job when started by `mpirun` (the others
/// run on rank 0 alone: the other ranks exit at once, so only rank 0 writes stdout and files).
protocol DistributedCommand {}

/// This process's place in an `mpirun` job (rank 0 of 1 when started alone).
enum Job {
    /// Set once by `start`, before the subcommand runs.
    nonisolated(unsafe) static var communicator: any Communicator = SingleProcess()
    /// The real stderr of a rank other than 0 (whose stdout and stderr go to /dev/null).
    nonisolated(unsafe) private static var errorOutput: Int32 = 2
    /// This process's rank as the launcher announced it (before MPI is initialised).
    static let launchedRank: Int = {
        let env = ProcessInfo.processInfo.environment
        for key in ["OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"] {
            if let v = env[key], let r = Int(v) { return r }
        }
        return 0
    }()

    /// Ranks other than 0 write nothing: stdout and stderr go to /dev/null (their own
    /// failures still reach the real stderr, through `reportError`).
    static func silenceOtherRanks() {
        guard Distributed.launchedSize != nil, launchedRank != 0 else { return }
        let null = open("/dev/null", O_WRONLY)
        guard null >= 0 else { return }
        errorOutput = dup(2)
        dup2(null, 1)
        dup2(null, 2)
        close(null)
    }

    /// Joins the MPI job for a `DistributedCommand`; any other command runs on rank 0 alone.
    static func start(for command: ParsableCommand) {
        guard Distributed.launchedSize != nil else { return }
        guard command is DistributedCommand else {
            if launchedRank != 0 { exit(0) }
            return
        }
        do {
            communicator = try Distributed.start()
        } catch {
            reportError(error)
            exit(1)
        }
    }

    /// An error of this rank: on rank 0 as usual; on another rank on the real stderr, named
    /// by its rank, unless every rank meets it alike (rank 0 says it).
    static func reportError(_ error: Error) {
        if launchedRank == 0 { return printError("Error: \(error)") }
        if let d = error as? DistributedError, d.isSameOnEveryRank { return }
        let line = "rank \(launchedRank): Error: \(error)\n"
        _ = line.withCString { write(errorOutput, $0, strlen($0)) }
    }

    /// Ends this process with `code`: a successful rank finalizes MPI; a failing one of
    /// several ends the whole job (the others would wait for it forever), after a moment
    /// for rank 0 to say why when the error is the same on every rank.
    static func exit(_ code: Int32, sameOnEveryRank: Bool = false) -> Never {
        if code == 0 {
            communicator.finalize()
            Foundation.exit(0)
        }
        if communicator.size > 1 {
            if sameOnEveryRank && communicator.rank != 0 { sleep(2) }
            communicator.abort(code: code)
        }
        Foundation.exit(code)
    }
}

extension KVCacheType: ExpressibleByArgument {}
