import Foundation
import Testing
import Llama

/// Corrupted model files must give an error, never a crash: bytes of a small GGUF are
/// overwritten at random (header, metadata and tensor infos mostly), then the file is
/// opened, turned into a model and run.
@Suite struct GGUFModelFuzzTests {
    func smallModel() throws -> [UInt8] {
        var vocab = GGUFWriter()
        vocab.set("tokenizer.ggml.model", .string("llama"))
        vocab.set("tokenizer.ggml.tokens", .strings((0..<64).map { "t\($0)" }))
        let vocabPath = NSTemporaryDirectory() + "fuzz-vocab-\(getpid()).gguf"
        try vocab.write(to: vocabPath)
        defer { unlink(vocabPath) }
        var spec = RandomModelSpec()
        spec.dim = 16
        spec.hiddenDim = 24
        spec.layerCount = 1
        spec.headCount = 2
        spec.kvHeadCount = 1
        return try spec.makeGGUF(vocabulary: GGUFFile(path: vocabPath)).serialized()
    }

    @Test func corruptedFilesGiveErrors() throws {
        let original = try smallModel()
        let path = NSTemporaryDirectory() + "fuzz-model-\(getpid()).gguf"
        defer { unlink(path) }
        // The unmodified file works.
        try writeAtomically(original, to: path)
        let ok = try LlamaModel(checkpoint: GGUFCheckpoint(path: path))
        _ = try ok.prefill([1, 2], cache: KVCache(config: ok.config, capacity: 4), state: RunState(config: ok.config, maxRows: 2))

        var rng = Xoshiro256(seed: 2024)
        var failures = 0
        let headerEnd = min(original.count, 2048)
        for iteration in 0..<400 {
            var bytes = original
            let edits = 1 + Int(rng.next() % 4)
            for _ in 0..<edits {
                let at = iteration % 4 == 3 ? Int(rng.next() % UInt64(bytes.count)) : Int(rng.next() % UInt64(headerEnd))
                bytes[at] = UInt8(truncatingIfNeeded: rng.next())
            }
            if iteration % 10 == 0 { bytes.removeLast(Int(rng.next() % UInt64(bytes.count))) }
            try writeAtomically(bytes, to: path)
            do {
                let model = try LlamaModel(checkpoint: GGUFCheckpoint(path: path))
                let n = min(2, model.config.maxContext)
                let cache = KVCache(config: model.config, capacity: n)
                _ = try model.prefill(Array([1, 2].prefix(n)), cache: cache, state: RunState(config: model.config, maxRows: n))
            } catch {
                failures += 1
                #expect(!"\(error)".isEmpty)
            }
        }
        #expect(failures > 0)
    }
}
