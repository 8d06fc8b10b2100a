import Foundation
import Testing
import Llama

@Suite struct FormatsMetaTests {
    @Test func devOddConfigMatchesTheFixtureReadme() throws {
        let c = try MetaCheckpoint(path: Fixtures.shared("fixtures/dev-odd/meta"))
        // hidden 160 comes from multiple_of 32 and ffn_dim_multiplier 0.76; Meta records no
        // context, so a Llama-2-sized vocabulary gets 4096.
        #expect(c.config == ModelConfig(dim: 64, layerCount: 3, headCount: 4, kvHeadCount: 1, hiddenDim: 160, vocabSize: 32000,
                                        normEps: 1e-5, ropeTheta: 10000, ropeScaling: nil, maxContext: 4096,
                                        tiedEmbeddings: false))
    }

    @Test func devLlama3ConfigMatchesTheFixtureReadme() throws {
        let c = try MetaCheckpoint(path: Fixtures.shared("fixtures/dev-llama3/meta"))
        // output.weight is stored but equals the embedding: tied.
        #expect(c.config == ModelConfig(dim: 32, layerCount: 2, headCount: 4, kvHeadCount: 2, hiddenDim: 96, vocabSize: 128256,
                                        normEps: 1e-6, ropeTheta: 500000, ropeScaling: .llama31, maxContext: 131072,
                                        tiedEmbeddings: true))
    }

    /// Two model-parallel shards joined must equal the single GGUF.
    @Test func devOddShardsJoinToTheGGUF() throws {
        let c = try MetaCheckpoint(path: Fixtures.shared("fixtures/dev-odd/meta"))
        try FormatTestSupport.expectSameTensors(c, gguf: Fixtures.shared("fixtures/dev-odd/model-bf16.gguf"))
        #expect(try c.tensor(TensorName.wo(1)).owner is OwnedBuffer)
        #expect(try c.tensor(TensorName.embedding).owner is OwnedBuffer)
        #expect(try c.tensor(TensorName.ffnNorm(1)).owner is MappedFile)
    }

    @Test func devLlama3TensorsEqualTheGGUF() throws {
        let c = try MetaCheckpoint(path: Fixtures.shared("fixtures/dev-llama3/meta"))
        try FormatTestSupport.expectSameTensors(c, gguf: Fixtures.shared("fixtures/dev-llama3/model.gguf"))
        #expect(try c.tensor(TensorName.wq(0)).owner is MappedFile)  // one shard: zero copy
    }

    @Test func shardReportsStorageLayout() throws {
        let s = try MetaShard(path: Fixtures.shared("fixtures/dev-odd/meta/consolidated.01.pth"))
        #expect(s.names.first == TensorName.embedding)
        #expect(s.tensors[TensorName.embedding]?.shape == [32000, 32])
        #expect(s.tensors[TensorName.wo(0)]?.shape == [64, 32])
        #expect(s.tensors[TensorName.wq(0)]?.type == .bf16)
    }

    // MARK: bad input

    @Test func truncatedShardNamesTheFile() throws {
        let dir = try FormatTestSupport.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let src = try Fixtures.shared("fixtures/dev-llama3/meta")
        try FileManager.default.copyItem(atPath: src + "/params.json", toPath: dir + "/params.json")
        let bytes = try FormatTestSupport.read(src + "/consolidated.00.pth")
        let path = dir + "/consolidated.00.pth"
        for cut in [10, bytes.count / 2, bytes.count - 30] {
            try FormatTestSupport.write(Array(bytes.prefix(cut)), to: path)
            let e = #expect(throws: (any Error).self) { try MetaCheckpoint(path: dir) }
            #expect(e.map { "\($0)".contains(path) } == true, "\(String(describing: e))")
        }
    }

    @Test func missingShardIsReported() throws {
        let dir = try FormatTestSupport.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let src = try Fixtures.shared("fixtures/dev-odd/meta")
        try FileManager.default.copyItem(atPath: src + "/params.json", toPath: dir + "/params.json")
        try FileManager.default.copyItem(atPath: src + "/consolidated.01.pth", toPath: dir + "/consolidated.01.pth")
        let e = #expect(throws: MetaCheckpointError.self) { try MetaCheckpoint(path: dir) }
        #expect(e?.description.contains("consolidated.00.pth") == true)
    }

    /// PROTO 2, GLOBAL 'os system', a string, TUPLE1, REDUCE, STOP: what an attack looks like.
    static let hostilePickle: [UInt8] = [0x80, 0x02] + Array("cos\nsystem\n".utf8)
        + [0x58, 2, 0, 0, 0] + Array("ls".utf8) + [0x85, 0x52, 0x2E]

    @Test func unknownGlobalIsRefusedNotRun() throws {
        let e = #expect(throws: PickleError.self) {
            try Self.hostilePickle.withUnsafeBytes { try TorchPickle.loadStateDict($0, path: "/x/data.pkl") }
        }
        #expect(e == .forbiddenGlobal(path: "/x/data.pkl", offset: 2, module: "os", name: "system"))
        #expect(e?.description.contains("os.system") == true)
    }

    @Test func hostilePickleInsideAShardNamesTheFile() throws {
        let dir = try FormatTestSupport.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/consolidated.00.pth"
        try FormatTestSupport.write(FormatTestSupport.zip([("consolidated.00/data.pkl", Self.hostilePickle)]), to: path)
        let e = #expect(throws: PickleError.self) { try MetaShard(path: path) }
        #expect(e?.description.contains(path) == true)
        #expect(e?.description.contains("os.system") == true)
    }

    @Test func unknownOpcodeIsRefused() throws {
        // PROTO 2, then INST ('i'), which would import and call.
        let bytes: [UInt8] = [0x80, 0x02, 0x69] + Array("os\nsystem\n".utf8) + [0x2E]
        let e = #expect(throws: PickleError.self) { try bytes.withUnsafeBytes { try TorchPickle.loadStateDict($0, path: "/x/p") } }
        #expect(e == .unsupportedOpcode(path: "/x/p", offset: 2, opcode: 0x69))
    }

    @Test func deepNestingIsRefused() throws {
        let bytes: [UInt8] = [0x80, 0x02, 0x29] + [UInt8](repeating: 0x85, count: 100_000) + [0x2E]
        #expect(throws: PickleError.self) { try bytes.withUnsafeBytes { try TorchPickle.loadStateDict($0, path: "/x/p") } }
    }

    @Test func compressedEntryIsRefused() throws {
        let z = FormatTestSupport.zip([("a/data.pkl", [0x80, 0x02, 0x7D, 0x2E])], method: 8)
        let e = #expect(throws: ZipError.self) { try z.withUnsafeBytes { try ZipArchive(bytes: $0, path: "/x/c.pth") } }
        #expect(e?.description.contains("compressed") == true)
        // Stored, the same bytes read as an empty state dict under any top folder.
        let ok = FormatTestSupport.zip([("anything/data.pkl", [0x80, 0x02, 0x7D, 0x2E])])
        let shard = try ok.withUnsafeBytes { try MetaShard(bytes: $0, owner: FormatsKeepAlive(), path: "/x/ok.pth") }
        #expect(shard.tensors.isEmpty)
    }

    @Test func zip64RecordsAreRead() throws {
        let entries: [(String, [UInt8])] = [("t/data.pkl", [0x80, 0x02, 0x7D, 0x2E]), ("t/data/0", [1, 2, 3, 4, 5])]
        for zip64 in [false, true] {
            let z = FormatTestSupport.zip(entries, zip64: zip64)
            try z.withUnsafeBytes { raw in
                let archive = try ZipArchive(bytes: raw, path: "/x/z.pth")
                #expect(archive.entries.map(\.name) == ["t/data.pkl", "t/data/0"])
                if let e = archive.entry("t/data/0") { #expect(Array(archive.data(of: e)) == [1, 2, 3, 4, 5]) }
                else { Issue.record("entry missing (zip64: \(zip64))") }
            }
        }
    }

    /// A protocol-2 state-dict pickle as torch.save writes it, for one tensor.
    static func tensorPickle(name: String, storage: String = "FloatStorage", key: String, count: Int, offset: Int,
                             shape: [Int], stride: [Int]) -> [UInt8] {
        func str(_ s: String) -> [UInt8] {
            let b = Array(s.utf8)
            return [0x58] + withUnsafeBytes(of: UInt32(b.count).littleEndian, Array.init) + b
        }
        func int(_ v: Int) -> [UInt8] { [0x4A] + withUnsafeBytes(of: Int32(v).littleEndian, Array.init) }
        func tuple(_ items: [Int]) -> [UInt8] { [0x28] + items.flatMap(int) + [0x74] }
        var p: [UInt8] = [0x80, 0x02, 0x7D, 0x28] + str(name)
        p += Array("ctorch._utils\n_rebuild_tensor_v2\n".utf8)
        p += [0x28, 0x28] + str("storage") + Array("ctorch\n\(storage)\n".utf8) + str(key) + str("cpu") + int(count) + [0x74, 0x51]
        p += int(offset) + tuple(shape) + tuple(stride) + [0x89]
        p += Array("ccollections\nOrderedDict\n".utf8) + [0x29, 0x52, 0x74, 0x52, 0x75, 0x2E]
        return p
    }

    @Test func storageOffsetAndStridesAreRespected() throws {
        let values: [Float] = (0..<10).map { Float($0) }
        let storage = values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
        func shard(offset: Int, shape: [Int], stride: [Int], count: Int = 10, type: String = "FloatStorage") throws -> MetaShard {
            let pkl = Self.tensorPickle(name: "w", storage: type, key: "0", count: count, offset: offset, shape: shape, stride: stride)
            let z = FormatTestSupport.zip([("arch/data.pkl", pkl), ("arch/data/0", storage)])
            return try z.withUnsafeBytes { try MetaShard(bytes: $0, owner: FormatsKeepAlive(), path: "/x/s.pth") }
        }
        // Elements 3...8 as a 2×3 matrix.
        let s = try shard(offset: 3, shape: [2, 3], stride: [3, 1])
        if let w = s.tensors["w"] {
            #expect(w.shape == [2, 3] && FormatTestSupport.floats(w) == [3, 4, 5, 6, 7, 8])
        } else { Issue.record("tensor w missing") }
        // Transposed (column-major) strides, a view past the end, a storage size lie, a type lie.
        for (offset, shape, stride, count, type) in [(0, [2, 3], [1, 2], 10, "FloatStorage"), (5, [2, 3], [3, 1], 10, "FloatStorage"),
                                                     (0, [2, 3], [3, 1], 11, "FloatStorage"), (0, [2, 3], [3, 1], 10, "HalfStorage")] {
            let e = #expect(throws: MetaCheckpointError.self) { try shard(offset: offset, shape: shape, stride: stride, count: count, type: type) }
            #expect(e?.description.contains("/x/s.pth") == true && e?.description.contains("\"w\"") == true)
        }
        let e = #expect(throws: PickleError.self) { try shard(offset: 0, shape: [2, 3], stride: [3, 1], type: "LongStorage") }
        #expect(e?.description.contains("torch.LongStorage") == true)
    }

    /// A state dict of contiguous fp32 tensors, one storage each, keys "0", "1", ….
    static func stateDictPickle(_ tensors: [(String, [Int])]) -> [UInt8] {
        func str(_ s: String) -> [UInt8] {
            let b = Array(s.utf8)
            return [0x58] + withUnsafeBytes(of: UInt32(b.count).littleEndian, Array.init) + b
        }
        func int(_ v: Int) -> [UInt8] { [0x4A] + withUnsafeBytes(of: Int32(v).littleEndian, Array.init) }
        func tuple(_ items: [Int]) -> [UInt8] { [0x28] + items.flatMap(int) + [0x74] }
        var p: [UInt8] = [0x80, 0x02, 0x7D, 0x28]
        for (i, (name, shape)) in tensors.enumerated() {
            let stride = shape.count == 2 ? [shape[1], 1] : [1]
            p += str(name) + Array("ctorch._utils\n_rebuild_tensor_v2\n".utf8)
            p += [0x28, 0x28] + str("storage") + Array("ctorch\nFloatStorage\n".utf8) + str(String(i)) + str("cpu")
            p += int(shape.reduce(1, *)) + [0x74, 0x51] + int(0) + tuple(shape) + tuple(stride) + [0x89]
            p += Array("ccollections\nOrderedDict\n".utf8) + [0x29, 0x52, 0x74, 0x52]
        }
        return p + [0x75, 0x2E]
    }

    /// A two-shard model written here, split as Meta's model-parallel code splits it, must
    /// join back to the full tensors: embedding by rows (Llama 3) and by columns (Llama 2).
    @Test(arguments: [false, true]) func syntheticShardsJoinBack(embeddingByColumns: Bool) throws {
        let dim = 8, hidden = 24, vocab = 16
        let config = ModelConfig(dim: dim, layerCount: 1, headCount: 2, kvHeadCount: 1, hiddenDim: hidden, vocabSize: vocab,
                                 normEps: 1e-5, ropeTheta: 10000, ropeScaling: nil, maxContext: 4096, tiedEmbeddings: false)
        var rng = Xoshiro256(seed: 9)
        var full: [String: ([Int], [Float])] = [:]
        for (name, shape) in CheckpointSupport.expectedShapes(config) {
            full[name] = (shape, (0..<shape.reduce(1, *)).map { _ in Float(Int.random(in: -1000...1000, using: &rng)) })
        }
        func slice(_ name: String, shard: Int) -> ([Int], [Float]) {
            guard let (shape, v) = full[name] else { return ([], []) }
            if shape.count == 1 { return (shape, v) }
            let (rows, cols) = (shape[0], shape[1])
            let byColumns = [TensorName.wo(0), TensorName.w2(0)].contains(name) || (name == TensorName.embedding && embeddingByColumns)
            if byColumns {
                let half = cols / 2
                var out: [Float] = []
                for r in 0..<rows {
                    let start: Int = r * cols + shard * half
                    out += v[start..<(start + half)]
                }
                return ([rows, half], out)
            }
            let half = rows / 2
            let start: Int = shard * half * cols
            return ([half, cols], Array(v[start..<(start + half * cols)]))
        }
        let dir = try FormatTestSupport.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(#"{"dim": 8, "n_layers": 1, "n_heads": 2, "n_kv_heads": 1, "vocab_size": 16, "multiple_of": 4, "norm_eps": 1e-05}"#.utf8)
            .write(to: URL(fileURLWithPath: dir + "/params.json"))
        let names = CheckpointSupport.expectedShapes(config).map(\.0)
        for shard in 0..<2 {
            let parts = names.map { slice($0, shard: shard) }
            let described: [(String, [Int])] = zip(names, parts).map { ($0, $1.0) }
            var entries: [(String, [UInt8])] = [("consolidated.0\(shard)/data.pkl", Self.stateDictPickle(described))]
            for (i, part) in parts.enumerated() {
                entries.append(("consolidated.0\(shard)/data/\(i)", part.1.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }))
            }
            try FormatTestSupport.write(FormatTestSupport.zip(entries), to: dir + "/consolidated.0\(shard).pth")
        }
        let c = try MetaCheckpoint(path: dir)
        #expect(c.config == config)
        for name in names {
            let t = try c.tensor(name)
            #expect(t.shape == full[name]?.0, "\(name)")
            #expect(FormatTestSupport.floats(t) == full[name]?.1, "\(name)")
        }
    }

    @Test func paramsDefaults() throws {
        let p = try MetaCheckpoint.parseParams(Data(#"{"dim": 4096, "n_layers": 32, "n_heads": 32, "vocab_size": -1, "norm_eps": 1e-06, "multiple_of": 256}"#.utf8), path: "/x/params.json")
        #expect(p.kvHeads == 32 && p.vocabSize == nil && p.ropeTheta == 10000 && !p.useScaledRope && p.ffnDimMultiplier == nil)
        #expect(ModelConfig.metaHiddenDim(dim: p.dim, multipleOf: p.multipleOf, ffnDimMultiplier: p.ffnDimMultiplier) == 11008)
        let e = #expect(throws: MetaCheckpointError.self) {
            try MetaCheckpoint.parseParams(Data(#"{"n_layers": 32, "n_heads": 32}"#.utf8), path: "/x/params.json")
        }
        #expect(e == .missingKey(path: "/x/params.json", key: "dim"))
    }

    @Test func scaledRopeFactor() throws {
        let base = #"{"dim": 2048, "n_layers": 16, "n_heads": 32, "use_scaled_rope": true"#
        let p31 = try MetaCheckpoint.parseParams(Data((base + "}").utf8), path: "params.json")
        #expect(p31.ropeScaling == .llama31)
        let p32 = try MetaCheckpoint.parseParams(Data((base + #", "rope_scaling_factor": 32}"#).utf8), path: "params.json")
        #expect(p32.ropeScaling?.factor == 32 && p32.ropeScaling?.highFreqFactor == 4)
    }
}
