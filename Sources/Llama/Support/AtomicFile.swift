import Foundation
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
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw AtomicFileError.writeFailed(path: path, reason: String(cString: strerror(errno))) }
        var ok = true
        var reason = ""
        data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    ok = false
                    reason = String(cString: strerror(errno))
                    return
                }
                off += n
            }
        }
        if ok && fsync(fd) != 0 { ok = false; reason = String(cString: strerror(errno)) }
        close(fd)
        guard ok else {
            unlink(tmp)
            throw AtomicFileError.writeFailed(path: path, reason: reason)
        }
        guard rename(tmp, path) == 0 else {
            let r = String(cString: strerror(errno))
            unlink(tmp)
            throw AtomicFileError.writeFailed(path: path, reason: r)
        }
        let dfd = open(dir.isEmpty ? "." : dir, O_RDONLY)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }
}
