import Foundation
import Llama
import Testing

/// A split GGUF as llama.cpp's `llama-gguf-split --split --split-max-tensors 8` wrote it from
/// `../shared/arch/gemma/model-q8_0.gguf` (Fixtures/split, scripts/make_split_fixture.sh):
/// three shards of 8, 8 and 4 tensors, opened through the first one.
@Suite struct SplitGGUFTests {
    static let shardNames = (1...3).map { "gemma-q8_0-0000\($0)-of-00003.gguf" }
    static func shard(_ i: Int) throws -> String { try Fixtures.repository("Tests/LlamaTests/Fixtures/split/" + shardNames[i]) }

    /// A temporary folder with copies of the shards `keep` (indices), edited by `edit`.
    static func folder(keep: [Int] = [0, 1, 2], edit: [Int: [String: GGUFWriter.Value]] = [:]) throws -> String {
        let dir = ArchitectureFixtureTests.tempPath("split-\(UUID().uuidString)")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for i in keep {
            if let set = edit[i] {
                try ArchitectureFixtureTests.editedGGUF(try shard(i), to: dir + "/" + shardNames[i], set: set)
            } else {
                try FileManager.default.copyItem(atPath: try shard(i), toPath: dir + "/" + shardNames[i])
            }
        }
        return dir
    }

    @Test func theFirstShardLoadsTheWholeModel() throws {
        let whole = try Fixtures.shared("arch/gemma/model-q8_0.gguf")
        let split = try GGUFCheckpoint(path: try Self.shard(0))
        #expect(split.shards.count == 3)
        #expect(split.shards.map(\.tensors.count) == [8, 8, 4])
        #expect(split.config == (try GGUFCheckpoint(path: whole).config))
        for (input, _) in zip(try ArchitectureFixture("gemma").inputs(), 0..<2) {
            let a = try ArchitectureFixture.generate(try Self.shard(0), ids: input.ids, count: 3)
            let b = try ArchitectureFixture.generate(whole, ids: input.ids, count: 3)
            #expect(!a.logits.isEmpty && a.logits == b.logits)
            #expect(a.next == b.next)
        }
    }

    /// `llama quantize` / `export` of a split model write one file: the unsplit one, without
    /// the shard keys.
    @Test func quantizingASplitModelWritesOneFile() throws {
        let out = ArchitectureFixtureTests.tempPath("split-requant-\(UUID().uuidString).gguf")
        defer { unlink(out) }
        try GGUFExport.write(try CheckpointLoader.load(path: try Self.shard(0)), to: out, type: .q8_0)
        try ArchitectureFixtureTests.expectSameTensors(out, try Fixtures.shared("arch/gemma/model-q8_0.gguf"), hyperparameters: "gemma")
        #expect(!(try GGUFFile(path: out)).metadataKeys.contains { $0.hasPrefix("split.") })
    }

    @Test func aMissingShardIsNamed() throws {
        let dir = try Self.folder(keep: [0, 2])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let e = try ArchitectureFixtureTests.generateError(dir + "/" + Self.shardNames[0])
        #expect(e.contains(dir + "/" + Self.shardNames[1]) && e.contains("missing"), "\(e)")
        #expect(!e.contains(Self.shardNames[2]), "\(e)")
    }

    @Test func anotherShardNamesTheFirst() throws {
        let e = try ArchitectureFixtureTests.generateError(try Self.shard(1))
        #expect(e.contains(try Self.shard(1)) && e.contains("shard 2 of 3") && e.contains(Self.shardNames[0]), "\(e)")
    }

    @Test func aShardInTheWrongPlaceIsNamed() throws {
        let dir = try Self.folder(edit: [2: ["split.no": .uint16(1)]])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let e = try ArchitectureFixtureTests.generateError(dir + "/" + Self.shardNames[0])
        #expect(e.contains(dir + "/" + Self.shardNames[2]) && e.contains("split.no is 1, expected 2"), "\(e)")
    }

    @Test func aShardOfAnotherSplitIsNamed() throws {
        let dir = try Self.folder(edit: [1: ["split.count": .uint16(4)]])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let e = try ArchitectureFixtureTests.generateError(dir + "/" + Self.shardNames[0])
        #expect(e.contains(dir + "/" + Self.shardNames[1]) && e.contains("split.count is 4"), "\(e)")
    }

    @Test func aTensorCountThatDoesNotAddUpIsNamed() throws {
        let dir = try Self.folder(edit: [0: ["split.tensors.count": .int32(21)]])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let e = try ArchitectureFixtureTests.generateError(dir + "/" + Self.shardNames[0])
        #expect(e.contains(dir + "/" + Self.shardNames[0]) && e.contains("split.tensors.count is 21") && e.contains("20 tensors"), "\(e)")
    }

    @Test func aTensorInTwoShardsIsNamed() throws {
        let dir = try Self.folder(keep: [0, 1])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Shard 3 made of shard 2's tensors under shard 3's number.
        try ArchitectureFixtureTests.editedGGUF(try Self.shard(1), to: dir + "/" + Self.shardNames[2], set: ["split.no": .uint16(2)])
        let e = try ArchitectureFixtureTests.generateError(dir + "/" + Self.shardNames[0])
        #expect(e.contains(dir + "/" + Self.shardNames[2]) && e.contains("is also in \(Self.shardNames[1])"), "\(e)")
    }

    @Test func aRenamedFirstShardSaysWhy() throws {
        let dir = try Self.folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.moveItem(atPath: dir + "/" + Self.shardNames[0], toPath: dir + "/gemma.gguf")
        let e = try ArchitectureFixtureTests.generateError(dir + "/gemma.gguf")
        #expect(e.contains(dir + "/gemma.gguf") && e.contains("-00001-of-00003.gguf"), "\(e)")
    }
}
