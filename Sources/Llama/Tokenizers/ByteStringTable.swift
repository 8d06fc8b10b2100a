import Foundation

/// An open-addressing hash table from byte strings to ids, built once and read without
/// allocating: the hot path of every BPE encode is "is this byte slice a token?".
///
/// All keys live in one contiguous buffer; a slot holds an index into `entries`.
struct ByteStringTable: Sendable {
    private struct Entry: Sendable {
        var offset: UInt32
        var length: UInt32
        var value: Int32
    }
    private var blob: [UInt8] = []
    private var entries: [Entry] = []
    private var slots: [Int32]
    private var mask: Int

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
        entries.reserveCapacity(capacity)
    }

    var count: Int { entries.count }

    /// Hash of a byte slice, eight bytes at a time.
    @inline(__always)
    static func hash(_ p: UnsafeRawPointer, _ n: Int) -> Int {
        var h: UInt64 = 0x243F_6A88_85A3_08D3 ^ UInt64(truncatingIfNeeded: n)
        var i = 0
        while i + 8 <= n {
            let w = p.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            h = (h ^ w) &* 0x9E37_79B9_7F4A_7C15
            h ^= h >> 29
            i += 8
        }
        if i < n {
            var w: UInt64 = 0
            var shift: UInt64 = 0
            while i < n {
                w |= UInt64(p.load(fromByteOffset: i, as: UInt8.self)) << shift
                shift += 8
                i += 1
            }
            h = (h ^ w) &* 0x9E37_79B9_7F4A_7C15
            h ^= h >> 29
        }
        h = (h ^ (h >> 32)) &* 0xD6E8_FEB8_6659_FD93
        return Int(truncatingIfNeeded: h ^ (h >> 32))
    }

    /// Inserts a key; returns false when it was already present (the old value is kept).
    @discardableResult
    mutating func insert(_ key: [UInt8], value: Int32) -> Bool {
        guard !key.isEmpty else { return false }
        if lookupArray(key) != nil { return false }
        if (entries.count + 1) * 2 > slots.count { grow() }
        let e = Entry(offset: UInt32(blob.count), length: UInt32(key.count), value: value)
        blob.append(contentsOf: key)
        entries.append(e)
        place(Int32(entries.count - 1), hash: key.withUnsafeBytes { ByteStringTable.hash($0.baseAddress!, key.count) })
        return true
    }

    private mutating func place(_ index: Int32, hash: Int) {
        var s = hash & mask
        while slots[s] >= 0 { s = (s + 1) & mask }
        slots[s] = index
    }

    private mutating func grow() {
        let size = slots.count * 2
        slots = [Int32](repeating: -1, count: size)
        mask = size - 1
        for (i, e) in entries.enumerated() {
            let h = blob.withUnsafeBytes { ByteStringTable.hash($0.baseAddress! + Int(e.offset), Int(e.length)) }
            place(Int32(i), hash: h)
        }
    }

    /// The value of the bytes in `key` (usable before `freeze()`); nil when absent.
    func lookupRaw(_ key: UnsafeRawBufferPointer) -> Int32? {
        guard let base = key.baseAddress else { return nil }
        return lookupUnfrozen(base, key.count)
    }

    func lookupArray(_ key: [UInt8]) -> Int32? {
        key.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return nil }
            return lookupUnfrozen(base, raw.count)
        }
    }

    /// The value stored for the `n` bytes at `p`, or nil.
    @inline(__always)
    func lookup(_ p: UnsafeRawPointer, _ n: Int) -> Int32? {
        frozen.lookup(p, n)
    }

    /// Raw-pointer copy of the table for the hot path: no array access checks, no ARC.
    private(set) var frozen = FrozenByteStringTable()

    mutating func freeze() {
        frozen = FrozenByteStringTable(blob: blob, entries: entries.map { ($0.offset, $0.length, $0.value) }, slots: slots)
    }

    /// Slow lookup usable before `freeze()`.
    private func lookupUnfrozen(_ p: UnsafeRawPointer, _ n: Int) -> Int32? {
        let h = ByteStringTable.hash(p, n)
        var s = h & mask
        while true {
            let idx = slots[s]
            if idx < 0 { return nil }
            let e = entries[Int(idx)]
            if Int(e.length) == n, n == 0 || blob.withUnsafeBytes({ memcmp($0.baseAddress! + Int(e.offset), p, n) }) == 0 {
                return e.value
            }
            s = (s + 1) & mask
        }
    }
}

/// The read-only form of `ByteStringTable`, in memory it owns.
final class FrozenByteStringTable: @unchecked Sendable {
    private let blob: UnsafeMutablePointer<UInt8>
    private let entries: UnsafeMutablePointer<UInt64>   // offset << 32 | length
    private let values: UnsafeMutablePointer<Int32>
    private let slots: UnsafeMutablePointer<Int32>
    private let mask: Int

    init() {
        blob = .allocate(capacity: 1)
        entries = .allocate(capacity: 1)
        values = .allocate(capacity: 1)
        slots = .allocate(capacity: 1)
        slots[0] = -1
        mask = 0
    }

    init(blob b: [UInt8], entries e: [(UInt32, UInt32, Int32)], slots s: [Int32]) {
        blob = .allocate(capacity: max(b.count, 1))
        blob.initialize(from: b, count: b.count)
        entries = .allocate(capacity: max(e.count, 1))
        values = .allocate(capacity: max(e.count, 1))
        for (i, x) in e.enumerated() {
            entries[i] = UInt64(x.0) << 32 | UInt64(x.1)
            values[i] = x.2
        }
        slots = .allocate(capacity: s.count)
        slots.initialize(from: s, count: s.count)
        mask = s.count - 1
    }

    deinit {
        blob.deallocate()
        entries.deallocate()
        values.deallocate()
        slots.deallocate()
    }

    /// Byte equality of two short slices, a word at a time (keys are a few bytes long, so a
    /// call into libc's memcmp costs more than the comparison).
    @inline(__always)
    static func equal(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ n: Int) -> Bool {
        var i = 0
        while i + 8 <= n {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
            i += 8
        }
        while i < n {
            if a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
            i += 1
        }
        return true
    }

    @inline(__always)
    func lookup(_ p: UnsafeRawPointer, _ n: Int) -> Int32? {
        var s = ByteStringTable.hash(p, n) & mask
        while true {
            let idx = slots[s]
            if idx < 0 { return nil }
            let e = entries[Int(idx)]
            if Int(truncatingIfNeeded: e & 0xFFFF_FFFF) == n && FrozenByteStringTable.equal(UnsafeRawPointer(blob + Int(e >> 32)), p, n) {
                return values[Int(idx)]
            }
            s = (s + 1) & mask
        }
    }
}

/// An open-addressing table from a pair of ids to (merge rank, merged id), for vocabularies
/// that list their merges explicitly (GGUF `tokenizer.ggml.merges`).
struct PairMergeTable: Sendable {
    private var keys: [UInt64]
    private var values: [UInt64]
    private var mask: Int
    private(set) var count = 0
    private static let empty = UInt64.max

    init(capacity: Int) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        keys = [UInt64](repeating: PairMergeTable.empty, count: size)
        values = [UInt64](repeating: 0, count: size)
        mask = size - 1
    }

    @inline(__always)
    private static func slot(_ key: UInt64, _ mask: Int) -> Int {
        var h = key &* 0x9E37_79B9_7F4A_7C15
        h ^= h >> 31
        return Int(truncatingIfNeeded: h) & mask
    }

    /// Adds a merge unless the pair already has one (the first, lowest rank, wins).
    mutating func insert(left: Int32, right: Int32, rank: UInt32, merged: Int32) {
        let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
        var s = PairMergeTable.slot(key, mask)
        while keys[s] != PairMergeTable.empty {
            if keys[s] == key { return }
            s = (s + 1) & mask
        }
        keys[s] = key
        values[s] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: merged))
        count += 1
    }

    /// Every merge in the table, lowest rank first (for writing the list back out).
    func mergesByRank() -> [(left: Int32, right: Int32, rank: UInt32, merged: Int32)] {
        var out: [(left: Int32, right: Int32, rank: UInt32, merged: Int32)] = []
        out.reserveCapacity(count)
        for (k, v) in zip(keys, values) where k != PairMergeTable.empty {
            out.append((Int32(bitPattern: UInt32(truncatingIfNeeded: k >> 32)), Int32(bitPattern: UInt32(truncatingIfNeeded: k)),
                        UInt32(truncatingIfNeeded: v >> 32), Int32(bitPattern: UInt32(truncatingIfNeeded: v))))
        }
        out.sort { $0.rank < $1.rank }
        return out
    }

    /// (rank, merged id) of a pair, or nil when the pair never merges.
    @inline(__always)
    func lookup(left: Int32, right: Int32) -> (rank: UInt32, merged: Int32)? {
        let key = UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
        return keys.withUnsafeBufferPointer { keys in
            var s = PairMergeTable.slot(key, mask)
            while true {
                let k = keys[s]
                // Empty first: the pair (-1, -1) (two bytes without tokens) is the empty key.
                if k == PairMergeTable.empty { return nil }
                if k == key {
                    let v = values[s]
                    return (UInt32(truncatingIfNeeded: v >> 32), Int32(bitPattern: UInt32(truncatingIfNeeded: v)))
                }
                s = (s + 1) & mask
            }
        }
    }
}
