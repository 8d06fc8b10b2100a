import Foundation
import Llama
import Testing

/// The Llama table against files the real converters wrote: llama.cpp's `convert_hf_to_gguf.py`
/// (GGUF), transformers' `save_pretrained` (safetensors) and Meta's `torch.save` layout.
@Suite struct ArchitectureTests {
    static func safetensorsNames(_ directory: String) throws -> Set<String> {
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".safetensors") }
        #expect(!files.isEmpty)
        return Set(try files.flatMap { try SafetensorsFile(path: directory + "/" + $0).tensors.map(\.name) })
    }

    static func names(_ c: ModelConfig, _ format: TensorFormat) -> Set<String> {
        Set(c.tensorLayout.map { c.architecture.name($0.spec, layer: $0.layer, in: format) })
    }

    @Test(arguments: ["fixtures/dev-odd/model-f16.gguf", "fixtures/dev-llama3/model.gguf"])
    func ggufNamesAreLlamaCppsNames(_ fixture: String) throws {
        let c = try GGUFCheckpoint(path: try Fixtures.shared(fixture))
        let inFile = Set(c.file.tensors.map(\.name)).subtracting(["rope_freqs.weight"])
        #expect(Self.names(c.config, .gguf) == inFile)
    }

    @Test(arguments: ["fixtures/dev-odd", "fixtures/dev-llama3"])
    func huggingFaceNamesAreTransformersNames(_ fixture: String) throws {
        let dir = try Fixtures.shared(fixture + "/hf")
        let c = try HuggingFaceCheckpoint(path: dir)
        var inFile = try Self.safetensorsNames(dir)
        if c.config.tiedEmbeddings { inFile.remove("lm_head.weight") }
        #expect(Self.names(c.config, .huggingFace) == inFile)
    }

    @Test func canonicalNamesAreMetasNames() throws {
        let dir = try Fixtures.shared("fixtures/dev-odd/meta")
        let c = try MetaCheckpoint(path: dir)
        let shard = try MetaShard(path: dir + "/consolidated.00.pth")
        #expect(Self.names(c.config, .canonical) == Set(shard.names).subtracting(["rope.freqs"]))
        #expect(Set(CheckpointSupport.expectedShapes(c.config).map(\.0)) == Self.names(c.config, .canonical))
    }

    @Test func everyNameLocatesItsRoleAndLayer() throws {
        let c = try GGUFCheckpoint(path: try Fixtures.shared("fixtures/dev-odd/model-f16.gguf")).config
        for format in [TensorFormat.canonical, .gguf, .huggingFace] {
            for (spec, layer) in c.tensorLayout {
                let found = c.architecture.locate(c.architecture.name(spec, layer: layer, in: format), in: format)
                #expect(found.map(\.spec) == [spec] && found.map(\.layer) == [layer])
            }
            #expect(c.architecture.locate("blk.01.attn_q.weight", in: format).isEmpty)
        }
    }

    @Test func shapesAreTheFilesShapes() throws {
        let c = try GGUFCheckpoint(path: try Fixtures.shared("fixtures/dev-odd/model-f16.gguf"))
        for (spec, layer) in c.config.tensorLayout {
            #expect(try c.tensor(spec.canonicalName(layer: layer)).shape == spec.shape(c.config))
        }
    }

    /// A role inside a fused tensor is a slice of its rows sharing the file's memory.
    @Test func rowsOfATensorShareItsMemory() throws {
        let c = try GGUFCheckpoint(path: try Fixtures.shared("fixtures/dev-odd/model-f16.gguf"))
        let wq = try c.tensor(TensorName.wq(0))
        let part = try #require(wq.rows(16..<48))
        #expect(part.shape == [32, wq.shape[1]])
        #expect(part.data.baseAddress == wq.data.baseAddress.map { $0 + 16 * wq.type.rowBytes(columns: wq.shape[1]) })
        #expect(wq.rows(60..<65) == nil)
    }
}
