/// How two adjacent parts of a piece merge: the rank of the merge (lower merges first) and
/// the id of the result, or nil when they never merge.
protocol MergeRule {
    /// `bytes[leftStart..<mid]` is the left part (id `left`), `bytes[mid..<rightEnd]` the right.
    func merge(_ bytes: UnsafePointer<UInt8>, leftStart: Int, rightEnd: Int, left: Int32, right: Int32) -> (rank: UInt32, merged: Int32)?
}

/// tiktoken's rule: two parts merge when their concatenated bytes are a token; the rank is
/// that token's rank, which is also its id.
struct ConcatenationMergeRule: MergeRule {
    let table: ByteStringTable

    @inline(__always)
    func merge(_ bytes: UnsafePointer<UInt8>, leftStart: Int, rightEnd: Int, left: Int32, right: Int32) -> (rank: UInt32, merged: Int32)? {
        guard let id = table.lookup(UnsafeRawPointer(bytes + leftStart), rightEnd - leftStart) else { return nil }
        return (UInt32(bitPattern: id), id)
    }
}

/// The merge-list rule (Hugging Face / GGUF `merges`): only listed pairs merge, in list order.
struct ListedMergeRule: MergeRule {
    let pairs: PairMergeTable

    @inline(__always)
    func merge(_ bytes: UnsafePointer<UInt8>, leftStart: Int, rightEnd: Int, left: Int32, right: Int32) -> (rank: UInt32, merged: Int32)? {
        pairs.lookup(left: left, right: right)
    }
}

/// Where the parts of a piece start: one per byte (byte-level BPE) or a given id per part
/// (character-level BPE, where a part is a character or a fallback byte).
protocol InitialParts {
    func id(_ i: Int) -> Int32
}

struct BytesAsParts: InitialParts {
    let bytes: UnsafePointer<UInt8>
    let byteIDs: UnsafePointer<Int32>
    @inline(__always) func id(_ i: Int) -> Int32 { byteIDs[Int(bytes[i])] }
}

struct IDsAsParts: InitialParts {
    let ids: UnsafePointer<Int32>
    @inline(__always) func id(_ i: Int) -> Int32 { ids[i] }
}

/// Byte-level BPE on one pre-tokenized piece: start from one part per byte and repeatedly
/// merge the adjacent pair of lowest rank, leftmost first, until no pair merges.
enum BytePairMerge {
    /// Pieces up to this many bytes use the quadratic scan (fastest for short pieces);
    /// longer ones use a heap, so a run of a million identical bytes stays O(n log n).
    static let quadraticLimit = 128

    static func encode<R: MergeRule>(_ bytes: UnsafePointer<UInt8>, count n: Int, byteIDs: UnsafePointer<Int32>, rule: R, into out: inout [TokenID]) {
        encode(bytes, count: n, parts: BytesAsParts(bytes: bytes, byteIDs: byteIDs), rule: rule, into: &out)
    }

    /// The same from given part ids; `bytes` is only passed to the rule (a listed rule ignores it).
    static func encode<R: MergeRule, P: InitialParts>(_ bytes: UnsafePointer<UInt8>, count n: Int, parts: P, rule: R, into out: inout [TokenID]) {
        if n == 1 {
            out.append(TokenID(parts.id(0)))
        } else if n <= quadraticLimit {
            encodeShort(bytes, count: n, parts: parts, rule: rule, into: &out)
        } else {
            encodeLong(bytes, count: n, parts: parts, rule: rule, into: &out)
        }
    }

    static func encodeShort<R: MergeRule>(_ bytes: UnsafePointer<UInt8>, count n: Int, byteIDs: UnsafePointer<Int32>, rule: R, into out: inout [TokenID]) {
        encodeShort(bytes, count: n, parts: BytesAsParts(bytes: bytes, byteIDs: byteIDs), rule: rule, into: &out)
    }

    static func encodeLong<R: MergeRule>(_ bytes: UnsafePointer<UInt8>, count n: Int, byteIDs: UnsafePointer<Int32>, rule: R, into out: inout [TokenID]) {
        encodeLong(bytes, count: n, parts: BytesAsParts(bytes: bytes, byteIDs: byteIDs), rule: rule, into: &out)
    }

    /// tiktoken's scan: parts in an array, each with the rank of merging it with its right
    /// neighbour; find the minimum, merge, update the two ranks that changed.
    static func encodeShort<R: MergeRule, P: InitialParts>(_ bytes: UnsafePointer<UInt8>, count n: Int, parts: P, rule: R, into out: inout [TokenID]) {
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 4 * (n + 1)) { buf in
            let start = buf.baseAddress!           // byte offset of part i (start[m] == n)
            let ids = start + (n + 1)
            let ranks = ids + (n + 1)               // rank of merging part i with part i+1
            let merged = ranks + (n + 1)
            var m = n
            for i in 0..<n {
                start[i] = Int32(i)
                ids[i] = parts.id(i)
            }
            start[n] = Int32(n)
            @inline(__always) func rankAt(_ i: Int) {
                if i + 1 < m, let r = rule.merge(bytes, leftStart: Int(start[i]), rightEnd: Int(start[i + 2]), left: ids[i], right: ids[i + 1]) {
                    ranks[i] = Int32(bitPattern: r.rank)
                    merged[i] = r.merged
                } else {
                    ranks[i] = -1  // as UInt32: never merges
                }
            }
            for i in 0..<(m - 1) { rankAt(i) }
            while m > 1 {
                var best = -1
                var bestRank = UInt32.max
                for i in 0..<(m - 1) {
                    let r = UInt32(bitPattern: ranks[i])
                    if r < bestRank { bestRank = r; best = i }
                }
                if best < 0 { break }
                ids[best] = merged[best]
                // Remove part best+1.
                let tail = m - (best + 2)
                if tail > 0 {
                    (start + best + 1).update(from: start + best + 2, count: tail + 1)
                    (ids + best + 1).update(from: ids + best + 2, count: tail)
                    (ranks + best + 1).update(from: ranks + best + 2, count: tail)
                    (merged + best + 1).update(from: merged + best + 2, count: tail)
                } else {
                    start[best + 1] = start[best + 2]
                }
                m -= 1
                rankAt(best)
                if best > 0 { rankAt(best - 1) }
            }
            for i in 0..<m { out.append(TokenID(ids[i])) }
        }
    }

    /// The same merges in the same order, with a min-heap of (rank, position) and a linked
    /// list of parts. Stale heap entries are recognised on pop by recomputing the pair.
    static func encodeLong<R: MergeRule, P: InitialParts>(_ bytes: UnsafePointer<UInt8>, count n: Int, parts: P, rule: R, into out: inout [TokenID]) {
        var ids = [Int32](repeating: 0, count: n)
        var next = [Int32](repeating: 0, count: n)   // next part's start, n at the end
        var prev = [Int32](repeating: -1, count: n)
        var alive = [Bool](repeating: true, count: n)
        for i in 0..<n {
            ids[i] = parts.id(i)
            next[i] = Int32(i + 1)
            prev[i] = Int32(i - 1)
        }
        var heap = MinHeap<UInt64>()
        heap.reserve(n)
        func end(_ i: Int) -> Int { let j = Int(next[i]); return j < n ? Int(next[j]) : n }
        for i in 0..<(n - 1) {
            if let r = rule.merge(bytes, leftStart: i, rightEnd: i + 2, left: ids[i], right: ids[i + 1]) {
                heap.push(UInt64(r.rank) << 32 | UInt64(i))
            }
        }
        while let top = heap.pop() {
            let rank = UInt32(truncatingIfNeeded: top >> 32)
            let left = Int(UInt32(truncatingIfNeeded: top))
            guard alive[left] else { continue }
            let right = Int(next[left])
            guard right < n else { continue }
            guard let r = rule.merge(bytes, leftStart: left, rightEnd: end(left), left: ids[left], right: ids[right]),
                  r.rank == rank else { continue }
            ids[left] = r.merged
            alive[right] = false
            let after = Int(next[right])
            next[left] = Int32(after)
            if after < n { prev[after] = Int32(left) }
            let before = Int(prev[left])
            if before >= 0, let m = rule.merge(bytes, leftStart: before, rightEnd: end(before), left: ids[before], right: ids[left]) {
                heap.push(UInt64(m.rank) << 32 | UInt64(before))
            }
            if after < n, let m = rule.merge(bytes, leftStart: left, rightEnd: end(left), left: ids[left], right: ids[after]) {
                heap.push(UInt64(m.rank) << 32 | UInt64(left))
            }
        }
        var i = 0
        while i < n {
            out.append(TokenID(ids[i]))
            i = Int(next[i])
        }
    }
}

/// A binary min-heap: `pop` returns the smallest element.
struct MinHeap<Element: Comparable> {
    private var items: [Element] = []

    mutating func reserve(_ n: Int) { items.reserveCapacity(n) }
    var isEmpty: Bool { items.isEmpty }

    mutating func push(_ v: Element) {
        items.append(v)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            if !(v < items[p]) { break }
            items[i] = items[p]
            i = p
        }
        items[i] = v
    }

    mutating func pop() -> Element? {
        guard let last = items.popLast() else { return nil }
        guard !items.isEmpty else { return last }
        let top = items[0]
        var i = 0
        let n = items.count
        while true {
            var c = 2 * i + 1
            if c >= n { break }
            if c + 1 < n && items[c + 1] < items[c] { c += 1 }
            if !(items[c] < last) { break }
            items[i] = items[c]
            i = c
        }
        items[i] = last
        return top
    }
}
