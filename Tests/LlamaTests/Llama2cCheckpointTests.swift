import Foundation
import Testing
import Llama

@Suite struct FormatsLlama2cTests {
    @Test func devOddConfigMatchesTheFixtureReadme() throws {
        let c = try Llama2cCheckpoint(path: Fixtures.shared("fixtures/dev-odd/llama2c.bin"))
        #expect(c.config == ModelConfig(dim: 64, layerCount: 3, headCount: 4, kvHeadCount: 1, hiddenDim: 160, vocabSize: 32000,
                                        normEps: 1e-5, ropeTheta: 10000, ropeScaling: nil, maxContext: 2048,
                                        tiedEmbeddings: false))
    }

    @Test func devOddTensorsEqualTheGGUF() throws {
        let c = try Llama2cCheckpoint(path: Fixtures.shared("fixtures/dev-odd/llama2c.bin"))
        try FormatTestSupport.expectSameTensors(c, gguf: Fixtures.shared("fixtures/dev-odd/model-bf16.gguf"))
        #expect(try c.tensor(TensorName.output).owner is MappedFile)
    }

    @Test func truncatedFileNamesTheFileAndSizes() throws {
        let bytes = try FormatTestSupport.read(Fixtures.shared("fixtures/dev-odd/llama2c.bin"))
        for cut in [0, 27, 28, 1000, bytes.count - 4] {
            let e = #expect(throws: Llama2cError.self) {
                try bytes.withUnsafeBytes { try Llama2cCheckpoint(bytes: UnsafeRawBufferPointer(rebasing: $0[0..<cut]), owner: FormatsKeepAlive(), path: "/x/m.bin") }
            }
            #expect(e?.description.contains("/x/m.bin") == true)
        }
        let dir = try FormatTestSupport.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FormatTestSupport.write(Array(bytes.prefix(5000)), to: dir + "/m.bin")
        let e = #expect(throws: Llama2cError.self) { try Llama2cCheckpoint(path: dir + "/m.bin") }
        #expect(e == .wrongSize(path: dir + "/m.bin", size: 5000, expected: bytes.count))
    }

    @Test func implausibleHeaderNamesTheField() throws {
        var bytes = [UInt8](repeating: 0, count: 28)
        for (i, v) in [64, 160, 3, 5, 1, 32000, 2048].enumerated() {
            withUnsafeBytes(of: Int32(v).littleEndian) { for j in 0..<4 { bytes[4 * i + j] = $0[j] } }
        }
        let e = #expect(throws: Llama2cError.self) {
            try bytes.withUnsafeBytes { try Llama2cHeader(bytes: $0, fileSize: 28, path: "/x/m.bin") }
        }
        #expect(e?.description.contains("n_heads") == true)
        let v1: [UInt8] = Array("24ka".utf8) + [UInt8](repeating: 1, count: 252)
        let e2 = #expect(throws: Llama2cError.self) {
            try v1.withUnsafeBytes { try Llama2cHeader(bytes: $0, fileSize: 256, path: "/x/v1.bin") }
        }
        #expect(e2?.description.contains("ak42") == true)
    }
}

@Suite struct FormatsLoaderTests {
    @Test func detectsEveryFixtureFormat() throws {
        #expect(try CheckpointLoader.detect(path: Fixtures.shared("fixtures/dev-odd/hf")) == .huggingFace)
        #expect(try CheckpointLoader.detect(path: Fixtures.shared("fixtures/dev-llama3/hf")) == .huggingFace)
        #expect(try CheckpointLoader.detect(path: Fixtures.shared("fixtures/dev-odd/meta")) == .meta)
        #expect(try CheckpointLoader.detect(path: Fixtures.shared("fixtures/dev-llama3/meta")) == .meta)
        #expect(try CheckpointLoader.detect(path: Fixtures.shared("fixtures/dev-odd/llama2c.bin")) == .llama2c)
        #expect(try CheckpointLoader.detect(path: Fixtures.shared("fixtures/dev-odd/model-q8_0.gguf")) == .gguf)
        #expect(try CheckpointLoader.detect(path: Fixtures.shared("fixtures/dev-llama3/model.gguf")) == .gguf)
    }

    @Test func loadsDirectoriesAndBinFiles() throws {
        let hf = try CheckpointLoader.load(path: Fixtures.shared("fixtures/dev-odd/hf"))
        #expect(hf is HuggingFaceCheckpoint && hf.config.dim == 64)
        let meta = try CheckpointLoader.load(path: Fixtures.shared("fixtures/dev-llama3/meta"))
        #expect(meta is MetaCheckpoint && meta.config.tiedEmbeddings)
        let bin = try CheckpointLoader.load(path: Fixtures.shared("fixtures/dev-odd/llama2c.bin"))
        #expect(bin is Llama2cCheckpoint && bin.tokenizer == nil)
    }

    @Test func unrecognizedInputSaysWhatWasExpected() throws {
        let dir = try FormatTestSupport.tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let e = #expect(throws: CheckpointLoaderError.self) { try CheckpointLoader.load(path: dir) }
        #expect(e?.description.contains("config.json") == true && e?.description.contains("params.json") == true)
        try FormatTestSupport.write(Array("hello, world, this is not a model at all".utf8), to: dir + "/x.bin")
        let e2 = #expect(throws: CheckpointLoaderError.self) { try CheckpointLoader.load(path: dir + "/x.bin") }
        #expect(e2?.description.contains("GGUF") == true && e2?.description.contains("llama2.c") == true)
        #expect(throws: CheckpointLoaderError.self) { try CheckpointLoader.load(path: dir + "/missing") }
    }

    @Test func explicitTokenizerThatFailsIsAnError() throws {
        let e = #expect(throws: CheckpointLoaderError.self) {
            try CheckpointLoader.load(path: Fixtures.shared("fixtures/dev-odd/llama2c.bin"), tokenizerPath: "/nonexistent/tokenizer.model")
        }
        #expect(e?.description.contains("/nonexistent/tokenizer.model") == true)
    }
}
