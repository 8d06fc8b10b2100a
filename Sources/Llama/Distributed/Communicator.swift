import Foundation

/// The processes one job runs on and the collective operations between them: what
/// data-parallel training needs (sum gradients and losses over ranks) and what model-parallel
/// inference will (sum partial activations, broadcast the sampled token, gather slices).
///
/// Every rank must make the same calls in the same order with the same counts, as MPI's
/// collectives require; a rank that fails must end the whole job (`abort`), since the others
/// would wait for it forever. Without MPI (the default build, or a plain start without
/// `mpirun`) the communicator is `SingleProcess`: one rank, every operation a no-op.
public protocol Communicator: AnyObject, Sendable {
    /// This process's index, 0 ..< size. Rank 0 alone writes stdout and output files.
    var rank: Int { get }
    /// The number of processes.
    var size: Int { get }
    /// Element-wise sum over ranks, in place; every rank receives the same result. With two
    /// ranks each element is one IEEE addition, the same on both and independent of the
    /// reduction algorithm; with more, the grouping of the additions is MPI's.
    func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int)
    func allreduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int)
    /// Rank `root`'s `byteCount` bytes at `buffer`, copied to every rank's `buffer`.
    func broadcast(_ buffer: UnsafeMutableRawPointer, byteCount: Int, root: Int)
    /// Each rank's `count` floats, concatenated in rank order into `receive`
    /// (`size × count` floats) on every rank.
    func allgather(_ send: UnsafePointer<Float>, count: Int, into receive: UnsafeMutablePointer<Float>)
    /// Ends a successful job (MPI_Finalize); every rank calls it once, last.
    func finalize()
    /// Ends the whole job at once with `code` (MPI_Abort); for a rank that failed.
    func abort(code: Int32) -> Never
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }

    /// Rank `root`'s value on every rank (the sampled token of model-parallel generation).
    public func broadcast(_ value: Int32, root: Int = 0) -> Int32 {
        var v = value
        broadcast(&v, byteCount: MemoryLayout<Int32>.size, root: root)
        return v
    }

    public func broadcast(_ value: UInt64, root: Int = 0) -> UInt64 {
        var v = value
        broadcast(&v, byteCount: MemoryLayout<UInt64>.size, root: root)
        return v
    }

    /// The sum of `value` over ranks.
    public func sum(_ value: Double) -> Double {
        var v = value
        allreduceSum(&v, count: 1)
        return v
    }

    /// Throws `DistributedError.ranksDisagree` on every rank when some rank's `fingerprint`
    /// of `what` differs from rank 0's (ranks started with other flags, data or files).
    public func checkAgreement(_ fingerprint: UInt64, _ what: String) throws {
        guard size > 1 else { return }
        let root = broadcast(fingerprint)
        let differs = sum(root == fingerprint ? 0 : 1)
        if differs > 0 { throw DistributedError.ranksDisagree(what: what, ranks: Int(differs), size: size) }
    }
}

/// One process alone: rank 0 of 1.
public final class SingleProcess: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) {}
    public func allreduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) {}
    public func broadcast(_ buffer: UnsafeMutableRawPointer, byteCount: Int, root: Int) {}
    public func allgather(_ send: UnsafePointer<Float>, count: Int, into receive: UnsafeMutablePointer<Float>) {
        receive.update(from: send, count: count)
    }
    public func finalize() {}
    public func abort(code: Int32) -> Never { exit(code) }
}

/// Errors of a multi-process job, each naming the numbers or the setting at fault.
public enum DistributedError: Error, CustomStringConvertible {
    /// Started by `mpirun` with `size` processes, but built without the MPI trait.
    case builtWithoutMPI(size: Int)
    /// `what` (`--grad-accum 3`) cannot be split evenly across `ranks` processes.
    case indivisible(what: String, value: Int, ranks: Int, advice: String)
    /// `ranks` of the `size` processes have a different `what` from rank 0's.
    case ranksDisagree(what: String, ranks: Int, size: Int)
    /// A Meta checkpoint of `shards` model-parallel shards started on `ranks` ranks.
    case shardCount(path: String, shards: Int, ranks: Int)
    /// Tensor `tensor` cannot be cut into the ranks' slices (`message` says why).
    case unsplittable(path: String, tensor: String, message: String)
    case mpiFailed(call: String, code: Int32)

    public var description: String {
        switch self {
        case let .builtWithoutMPI(size):
            return "started by mpirun with \(size) processes, but this llama was built without MPI: "
                + "build it with `swift build -c release --traits MPI` (needs libopenmpi-dev), or run it without mpirun"
        case let .indivisible(what, value, ranks, advice):
            return "\(what) \(value) is not divisible by the \(ranks) MPI ranks (mpirun -np \(ranks)): \(advice)"
        case let .ranksDisagree(what, ranks, size):
            return "\(ranks) of the \(size) MPI ranks disagree with rank 0 on the \(what): start every rank with the same flags and files"
        case let .shardCount(path, shards, ranks):
            return "\(path): the checkpoint has \(shards) model-parallel shard\(shards == 1 ? "" : "s") (consolidated.NN.pth) but \(ranks) MPI rank\(ranks == 1 ? "" : "s") were started: "
                + "each rank loads one shard, so start it with mpirun -np \(shards) (or convert it to GGUF, which any -np slices)"
        case let .unsplittable(path, tensor, message):
            return "\(path): tensor \(tensor) cannot be split across the MPI ranks: \(message)"
        case let .mpiFailed(call, code):
            return "\(call) failed with MPI error \(code)"
        }
    }

    /// True for errors every rank finds alike (only rank 0 needs to print them).
    public var isSameOnEveryRank: Bool {
        switch self {
        case .indivisible, .ranksDisagree, .builtWithoutMPI, .shardCount, .unsplittable: return true
        case .mpiFailed: return false
        }
    }
}

/// How this process was started, and the communicator that goes with it.
public enum Distributed {
    /// True when this build has the `MPI` trait.
    public static var isAvailable: Bool {
        #if MPI
        return true
        #else
        return false
        #endif
    }

    /// The job size `mpirun` (Open MPI, or a PMI launcher) announced in the environment; nil
    /// when this process was started alone.
    public static var launchedSize: Int? {
        let env = ProcessInfo.processInfo.environment
        for key in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"] {
            if let value = env[key], let n = Int(value), n > 0 { return n }
        }
        return nil
    }

    /// The communicator of this process: MPI's world when started by `mpirun` in an MPI build
    /// (MPI_Init here, once), else `SingleProcess`. Throws when `mpirun` started several
    /// copies of a build without MPI, which would all write the same files.
    public static func start() throws -> any Communicator {
        guard let n = launchedSize else { return SingleProcess() }
        #if MPI
        return try MPICommunicator()
        #else
        if n > 1 { throw DistributedError.builtWithoutMPI(size: n) }
        return SingleProcess()
        #endif
    }
}

/// FNV-1a over bytes: a fingerprint to compare what ranks loaded (not a cryptographic hash).
public struct Fingerprint: Sendable {
    public private(set) var value: UInt64 = 0xcbf2_9ce4_8422_2325
    public init() {}
    public mutating func add(_ bytes: UnsafeRawBufferPointer) {
        for b in bytes {
            value ^= UInt64(b)
            value &*= 0x100_0000_01b3
        }
    }
    public mutating func add(_ string: String) {
        var s = string
        s.withUTF8 { add(UnsafeRawBufferPointer($0)) }
    }
}

/// A communicator that counts the wall-clock time spent in its collectives (waiting for the
/// slowest rank included): the communication time of a model-parallel generation.
public final class TimedCommunicator: Communicator, @unchecked Sendable {
    public let base: any Communicator
    /// Seconds spent in collectives so far, and how many calls.
    public private(set) var seconds = 0.0
    public private(set) var calls = 0

    public init(_ base: any Communicator) { self.base = base }

    public var rank: Int { base.rank }
    public var size: Int { base.size }

    @inline(__always) private func timed(_ body: () -> Void) {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        seconds += Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        calls += 1
    }

    public func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) { timed { base.allreduceSum(buffer, count: count) } }
    public func allreduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) { timed { base.allreduceSum(buffer, count: count) } }
    public func broadcast(_ buffer: UnsafeMutableRawPointer, byteCount: Int, root: Int) {
        timed { base.broadcast(buffer, byteCount: byteCount, root: root) }
    }
    public func allgather(_ send: UnsafePointer<Float>, count: Int, into receive: UnsafeMutablePointer<Float>) {
        timed { base.allgather(send, count: count, into: receive) }
    }
    public func finalize() { base.finalize() }
    public func abort(code: Int32) -> Never { base.abort(code: code) }
}
