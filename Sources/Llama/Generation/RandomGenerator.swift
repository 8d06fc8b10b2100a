import Foundation

/// xoshiro256** seeded through SplitMix64: the same seed gives the same numbers on every
/// platform and Swift version (unlike `SystemRandomNumberGenerator`, which cannot be seeded).
/// The engine's one generator: sampling, random models, weight initialisation and the
/// training data order all draw from it, and its whole state (four words) is what a training
/// checkpoint saves for an exact resume.
public struct Xoshiro256: RandomNumberGenerator, Sendable, Equatable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    /// A generator whose whole sequence is determined by `seed`.
    public init(seed: UInt64) {
        // SplitMix64 spreads any seed (even 0) over the 256-bit state, never all zeros.
        var z = seed
        func splitmix() -> UInt64 {
            z &+= 0x9E37_79B9_7F4A_7C15
            var r = z
            r = (r ^ (r >> 30)) &* 0xBF58_476D_1CE4_E5B9
            r = (r ^ (r >> 27)) &* 0x94D0_49BB_1331_11EB
            return r ^ (r >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    /// A generator at a given state, as published test vectors give it. An all-zero state
    /// is the one xoshiro never leaves (it yields only zeros); `init(seed:)` never makes it.
    public init(state: (UInt64, UInt64, UInt64, UInt64)) { s = state }

    /// The four state words; `Xoshiro256(state:)` of them continues the same sequence.
    public var state: (UInt64, UInt64, UInt64, UInt64) { s }

    /// The state as an array, as a checkpoint stores it.
    public var stateWords: [UInt64] { [s.0, s.1, s.2, s.3] }

    /// The generator a checkpoint saved (`stateWords`); nil unless there are exactly four
    /// words, not all zero.
    public init?(stateWords w: [UInt64]) {
        guard w.count == 4, w.contains(where: { $0 != 0 }) else { return nil }
        s = (w[0], w[1], w[2], w[3])
    }

    public static func == (a: Xoshiro256, b: Xoshiro256) -> Bool { a.stateWords == b.stateWords }

    @inline(__always) private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    public mutating func next() -> UInt64 {
        let result = Xoshiro256.rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0
        s.3 ^= s.1
        s.1 ^= s.2
        s.0 ^= s.3
        s.2 ^= t
        s.3 = Xoshiro256.rotl(s.3, 45)
        return result
    }

    /// Uniform in [0, 1), from the top 53 bits.
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Uniform in 0..<n (0 when n ≤ 0), by multiply-shift of one 64-bit draw: the bias is
    /// below n / 2⁶⁴.
    public mutating func below(_ n: Int) -> Int {
        n <= 0 ? 0 : Int((UInt128(next()) &* UInt128(UInt64(n))) >> 64)
    }

    /// Standard normal by Box–Muller, one value per call (the second value of the pair is
    /// not kept, so the state stays four words).
    public mutating func nextNormal() -> Double {
        let u1 = 1 - nextUnit()  // (0, 1]: the log stays finite
        let u2 = nextUnit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}
