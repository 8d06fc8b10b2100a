import CKernels

/// How a KV cache stores keys and values: fp32 (exact; the default), IEEE half as llama.cpp
/// does by default (half the memory and the bandwidth of attention over a long context;
/// keys and values rounded to 11 significant bits), or llama.cpp's Q8_0 blocks as its
/// `-ctk q8_0 -ctv q8_0` does (34 bytes per 32 elements of a head: an fp16 scale
/// d = max|x|/127 and 32 int8s round(x/d); about a quarter of fp32's memory, each element
/// within d/2 of its value). Q8_0 needs a head size that is a multiple of 32.
public enum KVCacheType: String, Sendable, CaseIterable {
    case f32, f16, q8_0

    /// Bytes `elements` elements take (a multiple of 32 for Q8_0).
    public func bytes(elements: Int) -> Int {
        switch self {
        case .f32: return 4 * elements
        case .f16: return 2 * elements
        case .q8_0: return elements / 32 * 34
        }
    }

    /// Throws when a model with heads of `headDim` elements cannot keep its cache in this type.
    public func check(headDim: Int) throws(KVCacheError) {
        if self == .q8_0 && headDim % 32 != 0 { throw .headDimNotBlockMultiple(type: rawValue, headDim: headDim) }
    }

    /// The element code of the C attention kernels.
    var kernelCode: Int32 {
        switch self {
        case .f32: return Int32(SWIFTLLAMA_CACHE_F32)
        case .f16: return Int32(SWIFTLLAMA_CACHE_F16)
        case .q8_0: return Int32(SWIFTLLAMA_CACHE_Q8_0)
        }
    }
}

/// Why a KV cache cannot be made.
public enum KVCacheError: Error, CustomStringConvertible {
    case headDimNotBlockMultiple(type: String, headDim: Int)

    public var description: String {
        switch self {
        case let .headDimNotBlockMultiple(type, headDim):
            return "--cache-type \(type) stores blocks of 32 elements of a head, but this model's head_dim is \(headDim) " +
                "(not a multiple of 32); use --cache-type f16 or f32"
        }
    }
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

    /// An fp32 cache (every model can have one).
    public convenience init(config: ModelConfig, capacity: Int) {
        self.init(checked: config, capacity: capacity, type: .f32)
    }

    /// A cache of `type`; throws when the model's head size does not suit it (Q8_0).
    public convenience init(config: ModelConfig, capacity: Int, type: KVCacheType) throws(KVCacheError) {
        try type.check(headDim: config.headDim)
        self.init(checked: config, capacity: capacity, type: type)
    }

    /// `type` has passed `check(headDim:)`.
    private init(checked config: ModelConfig, capacity: Int, type: KVCacheType) {
        self.capacity = max(1, capacity)
        self.layerCount = config.layerCount
        self.kvDim = config.kvDim
        self.headDim = config.headDim
        self.type = type
        let bytes = type.bytes(elements: layerCount * self.capacity * kvDim)
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
        let perPosition = type.bytes(elements: config.layerCount * config.kvDim * 2)
        let (total, overflow) = perPosition.multipliedReportingOverflow(by: positions)
        return overflow ? nil : total
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
            let at = type.bytes(elements: index(layer: layer, position: position, offset: h))
            switch type {
            case .f32:
                (keys + at).assumingMemoryBound(to: Float.self).update(from: key + h, count: headDim)
                (values + at).assumingMemoryBound(to: Float.self).update(from: value + h, count: headDim)
            case .f16:
                swiftllama_floats_to_halves(key + h, (keys + at).assumingMemoryBound(to: UInt16.self), headDim)
                swiftllama_floats_to_halves(value + h, (values + at).assumingMemoryBound(to: UInt16.self), headDim)
            case .q8_0:
                swiftllama_floats_to_q8_0(key + h, keys + at, headDim / 32)
                swiftllama_floats_to_q8_0(value + h, values + at, headDim / 32)
            }
        }
    }

    /// The key (value) of `position` in `layer`, element `offset` on (within one head), in
    /// `type`; the next position's is `positionStride` elements on.
    @inline(__always) func key(layer: Int, position: Int, offset: Int = 0) -> UnsafeRawPointer {
        UnsafeRawPointer(keys + type.bytes(elements: index(layer: layer, position: position, offset: offset)))
    }

    @inline(__always) func value(layer: Int, position: Int, offset: Int = 0) -> UnsafeRawPointer {
        UnsafeRawPointer(values + type.bytes(elements: index(layer: layer, position: position, offset: offset)))
    }
}
