import CKernels

/// Per-thread scratch memory for the forward pass, so that a decode step allocates nothing:
/// each thread keeps one grow-only buffer per slot (`swiftllama_scratch`). A slot must not be
/// taken again on the same thread while its buffer is in use, so every caller that can run
/// inside another's body has its own.
enum ScratchSlot: Int32 {
    /// Quantized activations of a matrix product (values, scales, sums), on the calling
    /// thread; the workers only read them.
    case activations = 0
    /// Attention scores and widened values, one per worker thread.
    case attention = 1
    /// The blocked GEMM's packed tiles, one per worker thread.
    case gemm = 2
    /// Decode attention split over cache positions: every part's max, sum and output, on the
    /// calling thread while the workers fill it (`.attention` is theirs).
    case attentionParts = 3
}

/// Calls `body` with this thread's scratch buffer for `slot`, at least `capacity` elements
/// of `T` (a trivial type). If the scratch cannot grow (out of memory), `body` gets a buffer
/// of its own, freed after it: slower, never wrong.
@inline(__always)
func withScratch<T, R>(_ slot: ScratchSlot, of type: T.Type, capacity: Int, _ body: (UnsafeMutablePointer<T>) -> R) -> R {
    let bytes = max(1, capacity) * MemoryLayout<T>.stride
    if let raw = swiftllama_scratch(slot.rawValue, bytes) {
        return body(raw.bindMemory(to: T.self, capacity: max(1, capacity)))
    }
    let own = UnsafeMutablePointer<T>.allocate(capacity: max(1, capacity))
    defer { own.deallocate() }
    return body(own)
}

/// Offsets of the three arrays of a product's quantized activations in one scratch buffer,
/// each 64-byte aligned: `tokens × columns` int8 values, `tokens × scaleCount` scales,
/// `tokens × sumCount` sums of `Sum`.
@inline(__always)
func withActivationScratch<Sum, R>(tokens: Int, columns: Int, scaleCount: Int, sumCount: Int, sum: Sum.Type,
                                   _ body: (UnsafeMutablePointer<Int8>, UnsafeMutablePointer<Float>, UnsafeMutablePointer<Sum>) -> R) -> R {
    func up(_ n: Int) -> Int { (n + 63) & ~63 }
    let valueBytes = up(tokens * columns), scaleBytes = up(tokens * scaleCount * 4)
    let total = valueBytes + scaleBytes + tokens * sumCount * MemoryLayout<Sum>.stride
    return withScratch(.activations, of: UInt8.self, capacity: total) { base in
        let raw = UnsafeMutableRawPointer(base)
        return body(raw.bindMemory(to: Int8.self, capacity: tokens * columns),
                    (raw + valueBytes).bindMemory(to: Float.self, capacity: tokens * scaleCount),
                    (raw + valueBytes + scaleBytes).bindMemory(to: Sum.self, capacity: max(1, tokens * sumCount)))
    }
}
