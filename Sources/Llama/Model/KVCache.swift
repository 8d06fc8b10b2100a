/// Keys and values of one sequence, for every layer, at every position processed so far.
///
/// Layout: `keys[layer][position][kvDim]` (values likewise), fp32. Sized for one request
/// (prompt + tokens to generate), not for the model's maximum context. A reference type
/// because the model appends to it in place; it is passed to every forward call explicitly.
public final class KVCache: @unchecked Sendable {
    /// Positions the cache can hold.
    public let capacity: Int
    public let layerCount: Int
    public let kvDim: Int
    /// Positions written so far (the next token goes at `count`).
    public internal(set) var count: Int = 0
    let keys: UnsafeMutablePointer<Float>
    let values: UnsafeMutablePointer<Float>

    public init(config: ModelConfig, capacity: Int) {
        self.capacity = max(1, capacity)
        self.layerCount = config.layerCount
        self.kvDim = config.kvDim
        let n = layerCount * self.capacity * kvDim
        keys = .allocate(capacity: n)
        values = .allocate(capacity: n)
        keys.initialize(repeating: 0, count: n)
        values.initialize(repeating: 0, count: n)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// Forgets every position (the buffers are reused).
    public func reset() { count = 0 }

    /// Keeps the first `positions` positions and forgets the rest (the next token goes at
    /// `positions`).
    public func truncate(to positions: Int) { count = min(count, max(0, positions)) }

    @inline(__always) func key(layer: Int, position: Int) -> UnsafeMutablePointer<Float> {
        keys + (layer * capacity + position) * kvDim
    }

    @inline(__always) func value(layer: Int, position: Int) -> UnsafeMutablePointer<Float> {
        values + (layer * capacity + position) * kvDim
    }
}
