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
/// Layout: `keys[layer][position][kvDim]` (values likewise) in `type`. Sized for one request
/// (prompt + tokens to generate), not for the model's maximum context. A reference type
/// because the model appends to it in place; it is passed to every forward call explicitly.
public final class KVCache: @unchecked Sendable {
    /// Positions the cache can hold.
    public let capacity: Int
    public let layerCount: Int
    public let kvDim: Int
    public let type: KVCacheType
    /// Positions written so far (the next token goes at `count`).
    public internal(set) var count: Int = 0
    let keys: UnsafeMutableRawPointer
    let values: UnsafeMutableRawPointer

    public init(config: ModelConfig, capacity: Int, type: KVCacheType = .f32) {
        self.capacity = max(1, capacity)
        self.layerCount = config.layerCount
        self.kvDim = config.kvDim
        self.type = type
        let bytes = layerCount * self.capacity * kvDim * type.elementBytes
        keys = .allocate(byteCount: bytes, alignment: 64)
        values = .allocate(byteCount: bytes, alignment: 64)
        keys.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
        values.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
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

    /// Writes the key and value vectors (`kvDim` floats each) of `position` in `layer`.
    @inline(__always) func store(layer: Int, position: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        let at = ((layer * capacity + position) * kvDim) * type.elementBytes
        switch type {
        case .f32:
            (keys + at).assumingMemoryBound(to: Float.self).update(from: key, count: kvDim)
            (values + at).assumingMemoryBound(to: Float.self).update(from: value, count: kvDim)
        case .f16:
            swiftllama_floats_to_halves(key, (keys + at).assumingMemoryBound(to: UInt16.self), kvDim)
            swiftllama_floats_to_halves(value, (values + at).assumingMemoryBound(to: UInt16.self), kvDim)
        }
    }

    /// The key (value) of `position` in `layer`, element `offset` on, in `type`.
    @inline(__always) func key(layer: Int, position: Int, offset: Int = 0) -> UnsafeRawPointer {
        UnsafeRawPointer(keys + ((layer * capacity + position) * kvDim + offset) * type.elementBytes)
    }

    @inline(__always) func value(layer: Int, position: Int, offset: Int = 0) -> UnsafeRawPointer {
        UnsafeRawPointer(values + ((layer * capacity + position) * kvDim + offset) * type.elementBytes)
    }
}
