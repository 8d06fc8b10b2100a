#if MPI
import CMPI
import Foundation

/// MPI_COMM_WORLD (Open MPI), for a process started by `mpirun`. MPI's default error handler
/// aborts the job on a failed call, so the collectives do not throw.
///
/// MPI is initialised with MPI_THREAD_SERIALIZED: Swift may run the command on any thread,
/// and calls never overlap (the worker threads of `ParallelFor` never call MPI).
public final class MPICommunicator: Communicator, @unchecked Sendable {
    public let rank: Int
    public let size: Int
    /// Floats per MPI_Allreduce call: gradients are reduced in buckets of this size, so no
    /// single message is huge and the count always fits MPI's `int`.
    public static let bucket = 1 << 20
    private let comm = swiftllama_mpi_comm_world()

    init() throws {
        var provided: Int32 = 0
        let required = swiftllama_mpi_thread_serialized()
        let rc = MPI_Init_thread(nil, nil, required, &provided)
        guard rc == swiftllama_mpi_success() else { throw DistributedError.mpiFailed(call: "MPI_Init_thread", code: rc) }
        guard provided >= required else {
            throw DistributedError.mpiFailed(call: "MPI_Init_thread (MPI_THREAD_SERIALIZED not provided: \(provided))", code: provided)
        }
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(comm, &r)
        MPI_Comm_size(comm, &s)
        rank = Int(r)
        size = Int(s)
    }

    public func allreduceSum(_ buffer: UnsafeMutablePointer<Float>, count: Int) {
        allreduceSum(UnsafeMutableRawPointer(buffer), count: count, stride: 4, type: swiftllama_mpi_float())
    }

    public func allreduceSum(_ buffer: UnsafeMutablePointer<Double>, count: Int) {
        allreduceSum(UnsafeMutableRawPointer(buffer), count: count, stride: 8, type: swiftllama_mpi_double())
    }

    /// In-place sum over the ranks, `bucket` elements per MPI_Allreduce.
    private func allreduceSum(_ buffer: UnsafeMutableRawPointer, count: Int, stride: Int, type: MPI_Datatype) {
        var done = 0
        while done < count {
            let n = min(MPICommunicator.bucket, count - done)
            MPI_Allreduce(swiftllama_mpi_in_place(), buffer + done * stride, Int32(n), type, swiftllama_mpi_sum(), comm)
            done += n
        }
    }

    public func broadcast(_ buffer: UnsafeMutableRawPointer, byteCount: Int, root: Int) {
        var done = 0
        while done < byteCount {
            let n = min(1 << 30, byteCount - done)
            MPI_Bcast(buffer + done, Int32(n), swiftllama_mpi_byte(), Int32(root), comm)
            done += n
        }
    }

    public func allgather(_ send: UnsafePointer<Float>, count: Int, into receive: UnsafeMutablePointer<Float>) {
        MPI_Allgather(send, Int32(count), swiftllama_mpi_float(), receive, Int32(count), swiftllama_mpi_float(), comm)
    }

    public func finalize() { MPI_Finalize() }

    public func abort(code: Int32) -> Never {
        MPI_Abort(comm, code)
        exit(code)
    }
}
#endif
