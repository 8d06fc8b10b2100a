/// A KV cache that remembers which tokens it holds, so that a new prompt starting with the
/// same tokens (the earlier turns of a chat, a shared system prompt) reuses them and
/// evaluates only the rest. Each slot of `Engine` has one (a `ChatSession` is a one-slot
/// engine).
public final class PromptCache: @unchecked Sendable {
    public let cache: KVCache
    /// The tokens whose keys and values are in `cache`, in order.
    public private(set) var tokens: [TokenID] = []

    public init(cache: KVCache) { self.cache = cache }

    /// How many leading tokens `prompt` shares with the cache.
    public func sharedPrefix(with prompt: [TokenID]) -> Int {
        var n = 0
        let m = min(tokens.count, prompt.count)
        while n < m && tokens[n] == prompt[n] { n += 1 }
        return n
    }

    /// Keeps the longest prefix of `prompt` the cache holds, but never the prompt's last
    /// position (its logits give the first generated token), and forgets the rest. Returns
    /// the positions kept: the prompt is evaluated from there.
    @discardableResult
    public func reuse(for prompt: [TokenID]) -> Int {
        let keep = min(sharedPrefix(with: prompt), max(0, prompt.count - 1))
        cache.truncate(to: keep)
        tokens.removeSubrange(keep...)
        return keep
    }

    /// Records tokens whose keys and values a forward call just appended to the cache.
    public func append<S: Sequence>(_ new: S) where S.Element == TokenID {
        tokens.append(contentsOf: new)
    }

    /// Forgets everything (after a failed forward call, the cache's contents are unknown).
    public func clear() {
        cache.reset()
        tokens = []
    }
}
