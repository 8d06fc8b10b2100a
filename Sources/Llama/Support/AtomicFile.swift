import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public enum AtomicFileError: Error, CustomStringConvertible {
    case writeFailed(path: String, reason: String)
    public var description: String {
        switch self {
        case let .writeFailed(path, reason): return "\(path): cannot write: \(reason)"
        }
    }
}

/// Writes whole files so that a reader sees the old content or the new, never a mix:
/// write a temporary file beside the target, fsync it, rename it over the target, fsync the
/// directory.
///
/// Temporary files are named `.NAME.tmp-PID-N`: the pid tells a later process whether the
/// writer is still alive, and N (a per-process counter) keeps two writes of one file in one
/// process apart. A process killed mid-write leaves its temporary file behind; the next
/// write of the same target removes those whose process is gone.
public enum AtomicFile {
    private static let counter = Atomic<Int>(0)

    /// Writes `data` to `path` atomically.
    public static func write(_ data: Data, to path: String) throws {
        try write(to: path) { try $0.write(contentsOf: data) }
    }

    /// Writes `path` atomically; `body` streams the content into the temporary file.
    public static func write(to path: String, _ body: (FileHandle) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let prefix = "." + url.lastPathComponent + ".tmp-"
        removeStaleTemporaries(in: dir, prefix: prefix)
        let n = counter.wrappingAdd(1, ordering: .relaxed).oldValue
        let tmp = dir + "/" + prefix + "\(getpid())-\(n)"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw AtomicFileError.writeFailed(path: path, reason: "\(tmp): " + String(cString: strerror(errno))) }
        do {
            try body(FileHandle(fileDescriptor: fd, closeOnDealloc: false))
            guard fsync(fd) == 0 else { throw AtomicFileError.writeFailed(path: path, reason: String(cString: strerror(errno))) }
        } catch {
            close(fd)
            unlink(tmp)
            if error is AtomicFileError { throw error }
            throw AtomicFileError.writeFailed(path: path, reason: "\(error)")
        }
        close(fd)
        // rename(2) replaces the destination in one step: readers see the old file or the new one.
        guard rename(tmp, path) == 0 else {
            let r = String(cString: strerror(errno))
            unlink(tmp)
            throw AtomicFileError.writeFailed(path: path, reason: r)
        }
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }

    /// Removes `DIR/PREFIX<pid>…` files whose process no longer exists. Files of live
    /// processes (another writer of the same target, right now) are left alone; so are names
    /// that do not parse, which are not ours.
    private static func removeStaleTemporaries(in dir: String, prefix: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir) else { return }
        for name in names where name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            guard let pid = Int32(rest.prefix(while: { $0 != "-" })), pid > 0 else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                unlink(dir + "/" + name)
            }
        }
    }
}
