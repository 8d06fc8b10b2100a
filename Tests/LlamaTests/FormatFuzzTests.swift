import Foundation
import Testing
import Llama

/// Random truncations and byte mutations (fixed seeds) of each format: every outcome must be
/// a parsed file or a thrown error, never a crash, and parsed tensors must lie inside the buffer.
@Suite struct FormatsFuzzTests {
    /// Reads the first and last byte of every tensor, so a bad range would trap here.
    static func touch(_ tensors: some Sequence<WeightTensor>) -> Int {
        var sum = 0
        for t in tensors where t.data.count > 0 { sum &+= Int(t.data[0]) &+ Int(t.data[t.data.count - 1]) }
        return sum
    }

    /// Applies `mutations` random byte changes inside `regions` of `bytes`, runs `body`, then restores them.
    static func mutate(_ bytes: UnsafeMutableRawBufferPointer, regions: [Range<Int>], count: Int,
                       rng: inout Xoshiro256, _ body: () -> Void) {
        var saved: [(Int, UInt8)] = []
        for _ in 0..<count {
            let region = regions[Int.random(in: 0..<regions.count, using: &rng)]
            let i = Int.random(in: region, using: &rng)
            saved.append((i, bytes[i]))
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: bytes[i] = 0xFF
            case 1: bytes[i] = 0
            case 2: bytes[i] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
            default: bytes[i] = UInt8.random(in: 0...255, using: &rng)
            }
        }
        body()
        for (i, b) in saved.reversed() { bytes[i] = b }
    }

    @Test func safetensorsSurvivesMutationAndTruncation() {
        let header = #"{"__metadata__":{"format":"pt"},"w":{"dtype":"BF16","shape":[4,8],"data_offsets":[0,64]},"# +
            #""n":{"dtype":"F32","shape":[8],"data_offsets":[64,96]},"e":{"dtype":"F16","shape":[2,3],"data_offsets":[96,108]}}"#
        var bytes = FormatTestSupport.safetensors(header: header, data: (0..<108).map { UInt8($0) })
        let headerEnd = 8 + header.utf8.count
        var rng = Xoshiro256(seed: 1)
        var parsed = 0, refused = 0
        bytes.withUnsafeMutableBytes { buf in
            for i in 0..<3000 {
                func attempt(_ b: UnsafeRawBufferPointer) {
                    do {
                        let f = try SafetensorsFile(bytes: b, owner: FormatsKeepAlive(), path: "fuzz.safetensors")
                        _ = Self.touch(f.tensors.compactMap { try? f.weight($0.name, as: $0.name) })
                        parsed += 1
                    } catch { refused += 1 }
                }
                if i % 4 == 0 {
                    attempt(UnsafeRawBufferPointer(rebasing: buf[0..<Int.random(in: 0...buf.count, using: &rng)]))
                } else {
                    Self.mutate(buf, regions: [0..<headerEnd, 0..<8], count: Int.random(in: 1...4, using: &rng), rng: &rng) {
                        attempt(UnsafeRawBufferPointer(buf))
                    }
                }
            }
        }
        #expect(parsed > 0 && refused > 0)
    }

    @Test func deeplyNestedJSONIsAnErrorNotACrash() throws {
        let deep = String(repeating: "[", count: 200_000)
        let st = FormatTestSupport.safetensors(header: "{\"a\":" + deep, data: [])
        #expect(throws: SafetensorsError.self) {
            try st.withUnsafeBytes { try SafetensorsFile(bytes: $0, owner: FormatsKeepAlive(), path: "deep.safetensors") }
        }
        #expect(throws: HuggingFaceError.self) {
            try HuggingFaceCheckpoint.parseConfig(Data(("{\"rope_scaling\":" + deep).utf8), path: "config.json")
        }
        #expect(throws: MetaCheckpointError.self) {
            try MetaCheckpoint.parseParams(Data(("{\"dim\":" + deep).utf8), path: "params.json")
        }
    }

    @Test func pthSurvivesMutationAndTruncation() throws {
        var bytes = try FormatTestSupport.read(Fixtures.shared("fixtures/dev-odd/meta/consolidated.00.pth"))
        let regions = [0..<3000, (bytes.count - 5000)..<bytes.count]
        var rng = Xoshiro256(seed: 2)
        var parsed = 0, refused = 0
        bytes.withUnsafeMutableBytes { buf in
            for i in 0..<2500 {
                func attempt(_ b: UnsafeRawBufferPointer) {
                    do {
                        let s = try MetaShard(bytes: b, owner: FormatsKeepAlive(), path: "fuzz.pth")
                        _ = Self.touch(s.tensors.values)
                        parsed += 1
                    } catch { refused += 1 }
                }
                if i % 5 == 0 {
                    let cut = i % 10 == 0 ? Int.random(in: 0...buf.count, using: &rng) : buf.count - Int.random(in: 1...5000, using: &rng)
                    attempt(UnsafeRawBufferPointer(rebasing: buf[0..<cut]))
                } else {
                    Self.mutate(buf, regions: regions, count: Int.random(in: 1...3, using: &rng), rng: &rng) {
                        attempt(UnsafeRawBufferPointer(buf))
                    }
                }
            }
        }
        #expect(parsed > 0 && refused > 0)
    }

    @Test func pickleSurvivesMutation() throws {
        let file = try MappedFile(path: Fixtures.shared("fixtures/dev-llama3/meta/consolidated.00.pth"))
        let zip = try ZipArchive(bytes: file.bytes, path: file.path)
        guard let entry = zip.entries.first(where: { $0.name.hasSuffix("data.pkl") }) else {
            Issue.record("no data.pkl")
            return
        }
        var pickle = [UInt8](zip.data(of: entry))
        var rng = Xoshiro256(seed: 3)
        var refused = 0
        pickle.withUnsafeMutableBytes { buf in
            for _ in 0..<3000 {
                Self.mutate(buf, regions: [0..<buf.count], count: Int.random(in: 1...3, using: &rng), rng: &rng) {
                    do { _ = try TorchPickle.loadStateDict(UnsafeRawBufferPointer(buf), path: "fuzz.pkl") } catch { refused += 1 }
                }
            }
        }
        #expect(refused > 0)
    }

    @Test func zip64ArchiveSurvivesMutationAndTruncation() {
        var bytes = FormatTestSupport.zip([("t/data.pkl", [0x80, 0x02, 0x7D, 0x2E]), ("t/data/0", [1, 2, 3, 4, 5, 6, 7, 8])], zip64: true)
        var rng = Xoshiro256(seed: 5)
        var parsed = 0
        bytes.withUnsafeMutableBytes { buf in
            for i in 0..<3000 {
                func attempt(_ b: UnsafeRawBufferPointer) {
                    guard let z = try? ZipArchive(bytes: b, path: "fuzz.zip") else { return }
                    parsed += 1
                    for e in z.entries { _ = z.data(of: e).reduce(0) { $0 &+ Int($1) } }
                    _ = try? MetaShard(bytes: b, owner: FormatsKeepAlive(), path: "fuzz.zip")
                }
                if i % 4 == 0 {
                    attempt(UnsafeRawBufferPointer(rebasing: buf[0..<Int.random(in: 0...buf.count, using: &rng)]))
                } else {
                    Self.mutate(buf, regions: [0..<buf.count], count: Int.random(in: 1...3, using: &rng), rng: &rng) {
                        attempt(UnsafeRawBufferPointer(buf))
                    }
                }
            }
        }
        #expect(parsed > 0)
    }

    @Test func configJSONSurvivesMutation() throws {
        var hf = try FormatTestSupport.read(Fixtures.shared("fixtures/dev-llama3/hf/config.json"))
        var meta = try FormatTestSupport.read(Fixtures.shared("fixtures/dev-odd/meta/params.json"))
        var rng = Xoshiro256(seed: 6)
        var refused = 0
        for _ in 0..<1500 {
            hf.withUnsafeMutableBytes { buf in
                Self.mutate(buf, regions: [0..<buf.count], count: Int.random(in: 1...3, using: &rng), rng: &rng) {
                    do { _ = try HuggingFaceCheckpoint.parseConfig(Data(buf), path: "config.json") } catch { refused += 1 }
                }
            }
            meta.withUnsafeMutableBytes { buf in
                Self.mutate(buf, regions: [0..<buf.count], count: Int.random(in: 1...3, using: &rng), rng: &rng) {
                    do { _ = try MetaCheckpoint.parseParams(Data(buf), path: "params.json") } catch { refused += 1 }
                }
            }
        }
        #expect(refused > 0)
    }

    @Test func llama2cHeaderSurvivesMutationAndTruncation() throws {
        var bytes = try FormatTestSupport.read(Fixtures.shared("fixtures/dev-odd/llama2c.bin"))
        var rng = Xoshiro256(seed: 4)
        var parsed = 0, refused = 0
        bytes.withUnsafeMutableBytes { buf in
            for i in 0..<3000 {
                func attempt(_ b: UnsafeRawBufferPointer) {
                    do {
                        let c = try Llama2cCheckpoint(bytes: b, owner: FormatsKeepAlive(), path: "fuzz.bin")
                        _ = Self.touch(CheckpointSupport.expectedShapes(c.config).compactMap { try? c.tensor($0.0) })
                        parsed += 1
                    } catch { refused += 1 }
                }
                if i % 3 == 0 {
                    attempt(UnsafeRawBufferPointer(rebasing: buf[0..<Int.random(in: 0...buf.count, using: &rng)]))
                } else {
                    Self.mutate(buf, regions: [0..<28], count: Int.random(in: 1...2, using: &rng), rng: &rng) {
                        attempt(UnsafeRawBufferPointer(buf))
                    }
                }
            }
        }
        #expect(refused > 0)
        #expect(parsed >= 0)
    }
}
