/// Every activation buffer of a forward pass, allocated once for up to `maxRows` tokens
/// processed together (prompt positions, or one token of each sequence in a batch).
///
/// Names follow llama2.c: `x` the residual stream, `xb` its normalized copy, `hb`/`hb2`
/// the feed-forward's gate and up projections. Each buffer is `rows × width`, row-major.
public final class RunState: @unchecked Sendable {
    public let maxRows: Int
    /// Rows whose logits one forward call can return.
    public let maxLogitRows: Int
    let config: ModelConfig

    let x: UnsafeMutablePointer<Float>      // rows × dim
    let xb: UnsafeMutablePointer<Float>     // rows × dim
    let xb2: UnsafeMutablePointer<Float>    // rows × queryDim (attention output before wo)
    let q: UnsafeMutablePointer<Float>      // rows × queryDim (heads · head size)
    let k: UnsafeMutablePointer<Float>      // rows × kvDim
    let v: UnsafeMutablePointer<Float>      // rows × kvDim
    let hb: UnsafeMutablePointer<Float>     // rows × hidden
    let hb2: UnsafeMutablePointer<Float>    // rows × hidden
    let ropeCos: UnsafeMutablePointer<Float> // rows × headDim/2
    let ropeSin: UnsafeMutablePointer<Float> // rows × headDim/2
    /// `maxLogitRows × vocab`: the logits of the rows asked for, in the order asked.
    public let logits: UnsafeMutablePointer<Float>
    // Mixture of experts (one element each without experts): router logits (rows × experts),
    // each row's chosen experts and their weights (rows × k), and one expert's rows gathered
    // (their indices, weights, inputs and outputs: rows, rows, rows × dim, rows × dim), and
    // the experts' weighted sum (rows × dim).
    let routerLogits: UnsafeMutablePointer<Float>
    let expertChoice: UnsafeMutablePointer<Int32>
    let expertWeight: UnsafeMutablePointer<Float>
    let expertRows: UnsafeMutablePointer<Int32>
    let expertRowWeight: UnsafeMutablePointer<Float>
    let expertInput: UnsafeMutablePointer<Float>
    let expertOutput: UnsafeMutablePointer<Float>
    let expertMixed: UnsafeMutablePointer<Float>
    private var all: [UnsafeMutablePointer<Float>] = []
    private var ints: [UnsafeMutablePointer<Int32>] = []

    public init(config: ModelConfig, maxRows: Int, maxLogitRows: Int = 1) {
        self.config = config
        self.maxRows = max(1, maxRows)
        self.maxLogitRows = max(1, min(maxLogitRows, self.maxRows))
        let r = self.maxRows
        var list: [UnsafeMutablePointer<Float>] = []
        func buffer(_ n: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: max(1, n))
            p.initialize(repeating: 0, count: max(1, n))
            list.append(p)
            return p
        }
        x = buffer(r * config.dim)
        xb = buffer(r * config.dim)
        xb2 = buffer(r * config.queryDim)
        q = buffer(r * config.queryDim)
        k = buffer(r * config.kvDim)
        v = buffer(r * config.kvDim)
        hb = buffer(r * config.hiddenDim)
        hb2 = buffer(r * config.hiddenDim)
        ropeCos = buffer(r * config.headDim / 2)
        ropeSin = buffer(r * config.headDim / 2)
        logits = buffer(self.maxLogitRows * config.vocabSize)
        let experts = config.architecture.expertCount ?? 0, k = experts > 0 ? config.architecture.expertsPerToken : 0
        let moeRows = experts > 0 ? r : 0
        var intList: [UnsafeMutablePointer<Int32>] = []
        func intBuffer(_ n: Int) -> UnsafeMutablePointer<Int32> {
            let p = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, n))
            p.initialize(repeating: 0, count: max(1, n))
            intList.append(p)
            return p
        }
        routerLogits = buffer(moeRows * experts)
        expertChoice = intBuffer(moeRows * k)
        expertWeight = buffer(moeRows * k)
        expertRows = intBuffer(moeRows)
        expertRowWeight = buffer(moeRows)
        expertInput = buffer(moeRows * config.dim)
        expertOutput = buffer(moeRows * config.dim)
        expertMixed = buffer(moeRows * config.dim)
        all = list
        ints = intList
    }

    deinit {
        for p in all { p.deallocate() }
        for p in ints { p.deallocate() }
    }

    /// The logits of the `i`-th row asked for in the last forward call.
    public func logits(row i: Int) -> UnsafeBufferPointer<Float> {
        UnsafeBufferPointer(start: logits + i * config.vocabSize, count: config.vocabSize)
    }
}
