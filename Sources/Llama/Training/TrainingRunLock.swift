import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// `RUN/train.lock`: the advisory lock (flock) of the process training in a run directory,
/// with that process's pid inside so a second trainer can say who holds it.
///
/// The kernel drops a flock when its process dies, so a trainer killed with `kill -9` leaves
/// a lock file that the next trainer simply takes over; the pid it finds inside (a clean exit
/// empties the file) says whose it was.
public final class TrainingRunLock {
    public static let fileName = "train.lock"
    public let path: String
    /// The pid found in a lock file that no live process held: a trainer that was killed.
    public let staleOwner: Int32?
    private var fd: Int32

    /// Takes the lock of `directory` (which must exist), or throws `TrainingError.runInUse`
    /// naming the pid of the process that holds it.
    public init(directory: String) throws {
        path = directory + "/" + TrainingRunLock.fileName
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw TrainingError.lockFailed(path: path, reason: String(cString: strerror(errno))) }
        var rc: Int32
        repeat { rc = flock(fd, LOCK_EX | LOCK_NB) } while rc != 0 && errno == EINTR
        if rc != 0 {
            let err = errno
            let owner = TrainingRunLock.readPID(fd)
            close(fd)
            fd = -1
            guard err == EWOULDBLOCK else { throw TrainingError.lockFailed(path: path, reason: String(cString: strerror(err))) }
            throw TrainingError.runInUse(directory: directory, lockFile: path, pid: owner)
        }
        let previous = TrainingRunLock.readPID(fd)
        staleOwner = previous == getpid() ? nil : previous
        let line = Array("\(getpid())\n".utf8)
        guard ftruncate(fd, 0) == 0, pwrite(fd, line, line.count, 0) == line.count else {
            let reason = String(cString: strerror(errno))
            close(fd)
            fd = -1
            throw TrainingError.lockFailed(path: path, reason: reason)
        }
    }

    /// Empties the file (so the next owner does not think this process was killed) and
    /// releases the lock. The file stays: removing it would let a third process lock a new
    /// file while a second still waits on the old one.
    public func release() {
        guard fd >= 0 else { return }
        _ = ftruncate(fd, 0)
        close(fd)  // closing the last descriptor releases the flock
        fd = -1
    }

    deinit { release() }

    private static func readPID(_ fd: Int32) -> Int32? {
        var buf = [UInt8](repeating: 0, count: 32)
        let n = pread(fd, &buf, buf.count, 0)
        guard n > 0 else { return nil }
        return Int32(String(decoding: buf[..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
