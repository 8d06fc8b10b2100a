import CAllocationCounter
import Testing
import Llama

/// Nothing is allocated per token or per layer in a decode step (issue #16): the forward pass
/// of 4 sequences and greedy sampling, counted by the test binary's own malloc
/// (Tests/CAllocationCounter) on the calling thread, with every loop on that thread.
@Suite struct AllocationTests {
    /// The counter sees an allocation made through the Swift runtime; without that, a count
    /// of zero below would prove nothing.
    @Test func theCounterSeesTheSwiftRuntimesAllocations() {
        allocation_counter_enable(1)
        let p = UnsafeMutablePointer<Int>.allocate(capacity: 4096)
        let seen = allocation_counter_count()
        allocation_counter_enable(0)
        p.deallocate()
        #expect(seen >= 1, "the counting malloc is not in effect: AllocationTests cannot measure anything")
    }

    /// 4 sequences past 300 positions (attention scratch above the 1 KiB that Swift's
    /// temporary allocations keep on the stack), then 16 decode steps of 4 rows with greedy
    /// sampling: zero allocations, after two warm-up steps that size the scratch buffers.
    @Test func decodeStepsOfFourSequencesAllocateNothing() throws {
        let checkpoint = try CheckpointLoader.load(path: try Fixtures.shared("fixtures/dev-odd/model-q4_0.gguf"), tokenizerPath: nil)
        let model = try LlamaModel(checkpoint: checkpoint, parallel: .serial)
        let c = model.config
        let streams = 4, promptLength = 300, steps = 16
        let caches = (0..<streams).map { _ in KVCache(config: c, capacity: promptLength + steps + 8) }
        let prefillState = RunState(config: c, maxRows: 32)
        for (s, cache) in caches.enumerated() {
            let prompt = (0..<promptLength).map { TokenID((37 * $0 + 101 * s) % c.vocabSize) }
            _ = try model.prefill(prompt, cache: cache, state: prefillState)
        }
        let state = RunState(config: c, maxRows: streams, maxLogitRows: streams)
        var rows = (0..<streams).map { BatchRow(token: TokenID(1 + $0), position: promptLength, sequence: $0) }
        let logitRows = Array(0..<streams)
        var samplers = (0..<streams).map { _ in Sampler(.greedy) }
        let history: [TokenID] = []

        func step() throws {
            try model.forward(rows, caches: caches, state: state, logitRows: logitRows)
            for i in 0..<streams {
                rows[i].token = samplers[i].sample(state.logits(row: i), history: history)
                rows[i].position += 1
            }
        }
        try step()
        try step()
        allocation_counter_enable(1)
        for _ in 0..<steps { try step() }
        let allocations = allocation_counter_count()
        allocation_counter_enable(0)
        #expect(caches.allSatisfy { $0.count == promptLength + steps + 2 })
        #if DEBUG
        // Unoptimized builds call the standard library's generic collection code through
        // unspecialized witnesses, which box values on the heap: the count is only meaningful
        // in the optimized build the project tests with (`swift test -c release`).
        _ = allocations
        #else
        #expect(allocations == 0, "\(allocations) heap allocations in \(steps) decode steps of \(streams) rows")
        #endif
    }
}
