/// Watches streamed text for stop strings, holding back text that might be the start of
/// one, so a stop string is never printed even when it arrives split across tokens.
public struct StopStringMatcher: Sendable {
    public let stops: [String]
    private var pending = ""
    public private(set) var stopped = false

    /// Watches for any of `stops` (empty strings are ignored).
    public init(_ stops: [String]) {
        self.stops = stops.filter { !$0.isEmpty }
    }

    /// Adds text and returns what can be shown now. After a stop string appears, returns
    /// the text before it and sets `stopped`; later calls return "".
    public mutating func feed(_ text: String) -> String {
        guard !stopped else { return "" }
        guard !stops.isEmpty else { return text }
        pending += text
        // Earliest occurrence of any stop string.
        var earliest: String.Index? = nil
        for s in stops {
            if let r = pending.range(of: s), earliest.map({ r.lowerBound < $0 }) ?? true { earliest = r.lowerBound }
        }
        if let cut = earliest {
            stopped = true
            let out = String(pending[..<cut])
            pending = ""
            return out
        }
        // Hold back the longest suffix that is a prefix of some stop string.
        var hold = 0
        for s in stops {
            let maxLen = min(s.count - 1, pending.count)
            if maxLen <= hold { continue }
            for len in stride(from: maxLen, to: hold, by: -1) where pending.hasSuffix(s.prefix(len)) {
                hold = len
                break
            }
        }
        let splitIndex = pending.index(pending.endIndex, offsetBy: -hold)
        let out = String(pending[..<splitIndex])
        pending = String(pending[splitIndex...])
        return out
    }

    /// Text still held back when generation ends without a stop string.
    public mutating func flush() -> String {
        defer { pending = "" }
        return stopped ? "" : pending
    }
}
