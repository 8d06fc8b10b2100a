#if canImport(Glibc)
import Glibc
#endif

/// Zero-filled anonymous pages of the process's own (not backed by a file), asking the
/// kernel for huge pages where it gives them: memory that every token streams end to end
/// (repacked weights, a long KV cache) then takes one TLB entry per 2 MiB instead of per
/// 4 KiB. Unmapped when the last reference goes.
final class AnonymousMemory: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let bytes: Int

    /// nil when the system refuses the mapping (out of address space or memory).
    init?(bytes: Int) {
        let length = max(1, bytes)
        let p = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let p, p != MAP_FAILED else { return nil }
        #if os(Linux)
        _ = madvise(p, length, MADV_HUGEPAGE)
        #endif
        base = p
        self.bytes = length
    }

    deinit { munmap(base, bytes) }
}
