import Foundation
import Llama
import Testing

/// RoPE θ of a llama2.c `.bin` comes from its freq_cis tables.
@Suite struct Llama2cRopeThetaTests {
    /// The file's bytes and the byte offset of freq_cis_real (freq_cis_imag follows it).
    static func load() throws -> (bytes: [UInt8], tables: Int, seqLen: Int, half: Int) {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.shared("fixtures/dev-odd/llama2c.bin"))))
        func field(_ i: Int) -> Int {
            Int(Int32(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self) }))
        }
        let dim = field(0), heads = field(3), vocab = field(5), seqLen = field(6)
        let half = dim / heads / 2
        let classifier = vocab < 0 ? 4 * abs(vocab) * dim : 0
        return (bytes, bytes.count - classifier - 2 * 4 * seqLen * half, seqLen, half)
    }

    static func checkpoint(_ bytes: [UInt8]) throws -> Llama2cCheckpoint {
        try bytes.withUnsafeBytes { try Llama2cCheckpoint(bytes: $0, owner: NSObject(), path: "/x/m.bin") }
    }

    /// Writes the tables as llama2.c's export computes them (float32) for `theta`.
    static func writeTables(_ bytes: inout [UInt8], at offset: Int, seqLen: Int, half: Int, theta: Float) {
        for t in 0..<seqLen {
            for i in 0..<half {
                let freq = 1 / powf(theta, Float(2 * i) / Float(2 * half))
                let a = Float(t) * freq
                for (k, v) in [cosf(a), sinf(a)].enumerated() {
                    let at = offset + 4 * (k * seqLen * half + t * half + i)
                    withUnsafeBytes(of: v.bitPattern.littleEndian) { for j in 0..<4 { bytes[at + j] = $0[j] } }
                }
            }
        }
    }

    @Test func devOddHasTheta10000() throws {
        let (bytes, _, _, _) = try Self.load()
        #expect(try Self.checkpoint(bytes).config.ropeTheta == 10000)
    }

    @Test func thetaIsReadFromTheTables() throws {
        var (bytes, tables, seqLen, half) = try Self.load()
        for theta: Float in [500_000, 1_000_000, 25_000] {
            Self.writeTables(&bytes, at: tables, seqLen: seqLen, half: half, theta: theta)
            #expect(try Self.checkpoint(bytes).config.ropeTheta == theta)
        }
    }

    @Test func inconsistentTablesAreRefused() throws {
        var (bytes, tables, _, half) = try Self.load()
        // freq_cis_real at position 100, pair 2 moved off the circle.
        let at = tables + 4 * (100 * half + 2)
        let v = Float(bitPattern: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at, as: UInt32.self) }) + 0.05
        withUnsafeBytes(of: v.bitPattern) { for j in 0..<4 { bytes[at + j] = $0[j] } }
        do {
            _ = try Self.checkpoint(bytes)
            Issue.record("expected the tables to be refused")
        } catch let e as Llama2cError {
            #expect("\(e)".contains("position 100, pair 2"))
        }
    }
}
