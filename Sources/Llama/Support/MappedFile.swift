import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Errors from opening or reading a file, with the path a user can act on.
public enum FileError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(path: String, reason: String)
    case notARegularFile(path: String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): return "\(path): cannot open: \(reason)"
        case let .notARegularFile(path): return "\(path): not a regular file"
        }
    }
}

/// A read-only memory map of a whole file. Pages are loaded when touched, so opening a
/// multi-gigabyte checkpoint costs nothing until its tensors are read.
public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let bytes: UnsafeRawBufferPointer
    private let base: UnsafeMutableRawPointer?

    public init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            throw FileError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw FileError.cannotOpen(path: path, reason: String(cString: strerror(errno)))
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw FileError.notARegularFile(path: path) }
        let size = Int(st.st_size)
        if size == 0 {
            base = nil
            bytes = UnsafeRawBufferPointer(start: nil, count: 0)
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw FileError.cannotOpen(path: path, reason: "mmap failed: " + String(cString: strerror(errno)))
        }
        base = p
        bytes = UnsafeRawBufferPointer(start: p, count: size)
    }

    public var count: Int { bytes.count }

    /// Drops the pages wholly inside `range` (part of this map) from the process's resident
    /// memory; touched again, they are read from the file. For a rank of a model-parallel job
    /// that copied its slice of a tensor out: the rest of the tensor stops counting against it.
    public func release(_ range: UnsafeRawBufferPointer) {
        guard let base, let start = range.baseAddress, start >= UnsafeRawPointer(base),
              start + range.count <= UnsafeRawPointer(base) + bytes.count else { return }
        let page = max(1, sysconf(Int32(_SC_PAGESIZE)))
        let first = (Int(bitPattern: start) + page - 1) / page * page
        let end = (Int(bitPattern: start) + range.count) / page * page
        guard end > first, let p = UnsafeMutableRawPointer(bitPattern: first) else { return }
        _ = madvise(p, end - first, Int32(MADV_DONTNEED))
    }

    deinit {
        if let base { munmap(base, bytes.count) }
    }
}
