import CKernels

/// How a KV cache stores keys and values: fp32 (exact; the default), or IEEE half as
/// llama.cpp does by default (half the memory and the bandwidth of attention over a long
/// context; keys and values rounded to 11 significant bits).
public enum KVCacheType: String, Sendable, CaseIterable {
    case f32, f16

    /// Bytes per element.
    public var elementBytes: Int { self == .f32 ? 4 : 2 }

    /// The element code of the C attention kernels.
    var kernelCode: Int32 { Int32(self == .f32 ? SWIFTLLAMA_CACHE_F32 : SWIFTLLAMA_CACHE_F16) }
}

/// Keys and values of one sequence, for every layer, at every position processed so far.
///
/// Layout: `keys[layer][kvHead][position][headDim]` (values likewise) in `type`: decode
/// attention reads one head's keys (values) as one contiguous run per layer, not a slice of
/// every position's row (which cost a TLB walk every few positions). Sized for one request
/// (prompt + tokens to generate), not for the model's maximum context. A reference type
/// because the model appends to it in place; it is passed to every forward call explicitly.
public final class KVCache: @unchecked Sendable {
    /// Positions the cache can hold.
    public let capacity: Int
    public let layerCount: Int
    public let kvDim: Int
    public let headDim: Int
    public let type: KVCacheType
    /// Positions written so far (the next token goes at `count`).
    public internal(set) var count: Int = 0
    let keys: UnsafeMutableRawPointer
    let values: UnsafeMutableRawPointer
    /// The pages behind `keys` and `values` (huge pages where the system gives them: decode
    /// attention over a long context walks the whole cache every token); nil when the
    /// system refused the mapping and the buffers were allocated on the heap instead.
    private let pages: (keys: AnonymousMemory, values: AnonymousMemory)?

    public init(config: ModelConfig, capacity: Int, type: KVCacheType = .f32) {
        self.capacity = max(1, capacity)
        self.layerCount = config.layerCount
        self.kvDim = config.kvDim
        self.headDim = config.headDim
        self.type = type
        let bytes = layerCount * self.capacity * kvDim * type.elementBytes
        if let k = AnonymousMemory(bytes: bytes), let v = AnonymousMemory(bytes: bytes) {
            pages = (k, v)
            keys = k.base
            values = v.base
        } else {
            pages = nil
            keys = .allocate(byteCount: bytes, alignment: 64)
            values = .allocate(byteCount: bytes, alignment: 64)
            keys.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
            values.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        }
    }

    deinit {
        if pages == nil {
            keys.deallocate()
            values.deallocate()
        }
    }

    /// Bytes a cache of `positions` positions takes (keys and values), or nil on overflow.
    public static func bytes(config: ModelConfig, positions: Int, type: KVCacheType) -> Int? {
        let (perPosition, o1) = (config.layerCount * config.kvDim * 2).multipliedReportingOverflow(by: type.elementBytes)
        let (total, o2) = perPosition.multipliedReportingOverflow(by: positions)
        return o1 || o2 ? nil : total
    }

    /// Forgets every position (the buffers are reused).
    public func reset() { count = 0 }

    /// Keeps the first `positions` positions and forgets the rest (the next token goes at
    /// `positions`).
    public func truncate(to positions: Int) { count = min(count, max(0, positions)) }

    /// Elements from one position's key (value) of a head to the next position's.
    var positionStride: Int { headDim }

    /// Element index of element `offset` (< kvDim) of `position`'s key in `layer`.
    @inline(__always) private func index(layer: Int, position: Int, offset: Int) -> Int {
        let head = offset / headDim, within = offset - head * headDim
        return ((layer * (kvDim / headDim) + head) * capacity + position) * headDim + within
    }

    /// Writes the key and value vectors (`kvDim` floats each) of `position` in `layer`.
    @inline(__always) func store(layer: Int, position: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        for h in stride(from: 0, to: kvDim, by: headDim) {
            let at = index(layer: layer, position: position, offset: h) * type.elementBytes
            switch type {
            case .f32:
                (keys + at).assumingMemoryBound(to: Float.self).update(from: key + h, count: headDim)
                (values + at).assumingMemoryBound(to: Float.self).update(from: value + h, count: headDim)
            case .f16:
                swiftllama_floats_to_halves(key + h, (keys + at).assumingMemoryBound(to: UInt16.self), headDim)
                swiftllama_floats_to_halves(value + h, (values + at).assumingMemoryBound(to: UInt16.self), headDim)
            }
        }
    }

    /// The key (value) of `position` in `layer`, element `offset` on (within one head), in
    /// `type`; the next position's is `positionStride` elements on.
    @inline(__always) func key(layer: Int, position: Int, offset: Int = 0) -> UnsafeRawPointer {
        UnsafeRawPointer(keys + index(layer: layer, position: position, offset: offset) * type.elementBytes)
    }

    @inline(__always) func value(layer: Int, position: Int, offset: Int = 0) -> UnsafeRawPointer {
        UnsafeRawPointer(values + index(layer: layer, position: position, offset: offset) * type.elementBytes)
    }
}
