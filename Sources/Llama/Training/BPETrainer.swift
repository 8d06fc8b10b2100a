import Foundation

/// Trains a byte-level BPE vocabulary with the Llama 3 pre-tokenizer, the way tiktoken-style
/// vocabularies are made: start from the 256 bytes and repeatedly add the most frequent
/// adjacent pair as a new token.
///
/// Counting is incremental: the corpus is reduced to its distinct pre-tokenized pieces with
/// their frequencies, pair counts are kept in a table, and each merge only revisits the
/// pieces that contain the merged pair (found through a pair → pieces index), so a merge
/// costs what it changes, not a recount of the corpus.
public struct BPETrainer {
    public struct Result {
        /// Bytes of every token; index = rank = id (0…255 are the single bytes).
        public let tokens: [[UInt8]]
        /// Number of merges performed (`tokens.count - 256`).
        public var mergeCount: Int { tokens.count - 256 }
        public let distinctPieces: Int
    }

    public enum TrainError: Error, CustomStringConvertible {
        case vocabularyTooSmall(Int)
        public var description: String {
            switch self {
            case let .vocabularyTooSmall(n): return "vocabulary size \(n) is below 256 (the byte tokens alone need 256)"
            }
        }
    }

    public let vocabularySize: Int
    public let preTokenizer: PreTokenizer

    public init(vocabularySize: Int, preTokenizer: PreTokenizer = PreTokenizer(.llama3)) throws {
        guard vocabularySize >= 256 else { throw TrainError.vocabularyTooSmall(vocabularySize) }
        self.vocabularySize = vocabularySize
        self.preTokenizer = preTokenizer
    }

    /// Pairs are keyed as `left << 32 | right`.
    @inline(__always) static func key(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    }

    public func train(_ text: String) -> Result {
        // 1. Distinct pieces and their frequencies.
        var pieceIndex: [ArraySlice<UInt8>: Int] = [:]
        var words: [[Int32]] = []
        var freqs: [Int] = []
        let utf8 = Array(text.utf8)
        utf8.withUnsafeBufferPointer { buf in
            preTokenizer.split(buf) { s, e in
                let slice = utf8[s..<e]
                if let i = pieceIndex[slice] {
                    freqs[i] += 1
                } else {
                    pieceIndex[slice] = words.count
                    words.append(slice.map { Int32($0) })
                    freqs.append(1)
                }
            }
        }
        var tokens: [[UInt8]] = (0..<256).map { [UInt8($0)] }
        var known = Set<[UInt8]>(tokens)

        // 2. Initial pair counts and the pair → pieces index.
        var counts: [UInt64: Int] = [:]
        var whereFound: [UInt64: [Int32]] = [:]
        for (w, symbols) in words.enumerated() where symbols.count > 1 {
            for i in 0..<(symbols.count - 1) {
                let k = BPETrainer.key(symbols[i], symbols[i + 1])
                counts[k, default: 0] += freqs[w]
                whereFound[k, default: []].append(Int32(w))
            }
        }
        var heap = MinHeap<PairCandidate>()
        for (k, c) in counts where c > 0 { heap.push(PairCandidate(count: c, pair: k)) }

        // 3. Merge until the vocabulary is full or no pair occurs twice... or at all.
        var visited = [Int](repeating: -1, count: words.count)
        var mergeNumber = 0
        var changed: [UInt64] = []
        while tokens.count < vocabularySize, let top = heap.pop() {
            guard let current = counts[top.pair], current == top.count, current > 0 else { continue }
            let a = Int32(truncatingIfNeeded: top.pair >> 32)
            let b = Int32(truncatingIfNeeded: top.pair & 0xFFFF_FFFF)
            let bytes = tokens[Int(a)] + tokens[Int(b)]
            // Two different pairs can spell the same bytes ("ab"+"c", "a"+"bc"); a token is
            // its bytes, so the second one reuses the first's id.
            let newID: Int32
            if known.contains(bytes), let existing = tokens.firstIndex(of: bytes) {
                newID = Int32(existing)
            } else {
                newID = Int32(tokens.count)
                tokens.append(bytes)
                known.insert(bytes)
            }
            mergeNumber += 1
            changed.removeAll(keepingCapacity: true)
            for w32 in whereFound[top.pair] ?? [] {
                let w = Int(w32)
                guard visited[w] != mergeNumber else { continue }
                visited[w] = mergeNumber
                let old = words[w]
                guard old.count > 1 else { continue }
                // Does the pair still occur here? (the index may hold stale entries)
                var occurs = false
                for i in 0..<(old.count - 1) where old[i] == a && old[i + 1] == b { occurs = true; break }
                guard occurs else { continue }
                let f = freqs[w]
                for i in 0..<(old.count - 1) {
                    let k = BPETrainer.key(old[i], old[i + 1])
                    counts[k, default: 0] -= f
                    changed.append(k)
                }
                var merged: [Int32] = []
                merged.reserveCapacity(old.count)
                var i = 0
                while i < old.count {
                    if i + 1 < old.count && old[i] == a && old[i + 1] == b {
                        merged.append(newID)
                        i += 2
                    } else {
                        merged.append(old[i])
                        i += 1
                    }
                }
                if merged.count > 1 {
                    for j in 0..<(merged.count - 1) {
                        let k = BPETrainer.key(merged[j], merged[j + 1])
                        counts[k, default: 0] += f
                        changed.append(k)
                        if merged[j] == newID || merged[j + 1] == newID {
                            whereFound[k, default: []].append(w32)
                        }
                    }
                }
                words[w] = merged
            }
            counts[top.pair] = 0
            whereFound[top.pair] = nil
            // Re-queue every pair whose count moved (duplicates are harmless: stale entries
            // are recognised on pop by their count).
            changed.sort()
            var last: UInt64? = nil
            for k in changed where k != last {
                last = k
                if let c = counts[k], c > 0 { heap.push(PairCandidate(count: c, pair: k)) }
            }
        }
        return Result(tokens: tokens, distinctPieces: words.count)
    }

    /// Writes a vocabulary in tiktoken format (`base64 rank` per line), atomically.
    public static func writeTiktoken(_ tokens: [[UInt8]], to path: String) throws {
        var out = ""
        out.reserveCapacity(tokens.count * 16)
        for (rank, t) in tokens.enumerated() {
            out += Data(t).base64EncodedString()
            out += " \(rank)\n"
        }
        try AtomicFile.write(Data(out.utf8), to: path)
    }
}

/// A merge candidate in the trainer's queue: higher counts first, then the smaller pair key,
/// so training is deterministic.
struct PairCandidate: Comparable {
    let count: Int
    let pair: UInt64

    static func < (x: PairCandidate, y: PairCandidate) -> Bool {
        x.count > y.count || (x.count == y.count && x.pair < y.pair)
    }
}
