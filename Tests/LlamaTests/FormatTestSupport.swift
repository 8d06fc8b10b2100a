import Foundation
import Testing
import Llama

/// Helpers shared by the checkpoint-format tests.
enum FormatTestSupport {
    /// A tensor's values as Float, converted here independently of the library's kernels.
    static func floats(_ t: WeightTensor) -> [Float] {
        let n = t.elementCount
        switch t.type {
        case .f32:
            return (0..<n).map { t.data.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
        case .f16:
            return (0..<n).map { Float(Float16(bitPattern: t.data.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))) }
        case .bf16:
            return (0..<n).map { Float(bitPattern: UInt32(t.data.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)) << 16) }
        default:
            Issue.record("unexpected tensor type \(t.type.name) for \(t.name)")
            return []
        }
    }

    /// llama.cpp's name for a canonical (Meta) tensor name.
    static func ggufName(_ canonical: String) -> String {
        switch canonical {
        case TensorName.embedding: return "token_embd.weight"
        case TensorName.finalNorm: return "output_norm.weight"
        case TensorName.output: return "output.weight"
        default: break
        }
        let parts = canonical.split(separator: ".")
        let layer = parts[1]
        let map = ["attention_norm": "attn_norm", "wq": "attn_q", "wk": "attn_k", "wv": "attn_v", "wo": "attn_output",
                   "ffn_norm": "ffn_norm", "w1": "ffn_gate", "w2": "ffn_down", "w3": "ffn_up"]
        let key = String(parts[parts.count - 2])
        return "blk.\(layer).\(map[key] ?? key).weight"
    }

    /// A GGUF tensor as ([rows, cols] shape, values).
    static func ggufTensor(_ f: GGUFFile, _ name: String) throws -> ([Int], [Float]) {
        guard let info = f.tensors.first(where: { $0.name == name }), let type = info.type else {
            throw TestFailure("GGUF \(f.path) has no tensor \(name)")
        }
        let w = WeightTensor(name: name, type: type, shape: info.dimensions.reversed(), data: f.data(of: info), owner: f)
        return (Array(info.dimensions.reversed()), floats(w))
    }

    /// Every canonical tensor of `checkpoint` equals the GGUF's exactly (shape and values).
    static func expectSameTensors(_ checkpoint: any Checkpoint, gguf path: String) throws {
        let f = try GGUFFile(path: path)
        let names = CheckpointSupport.expectedShapes(checkpoint.config).map(\.0)
        #expect(names.count == 2 + 9 * checkpoint.config.layerCount + (checkpoint.config.tiedEmbeddings ? 0 : 1))
        for name in names {
            let t = try checkpoint.tensor(name)
            let (shape, expected) = try ggufTensor(f, ggufName(name))
            #expect(t.shape == shape, "\(name): shape \(t.shape) vs GGUF \(shape)")
            let got = floats(t)
            let firstDiff = Swift.zip(got, expected).enumerated().first { $0.element.0 != $0.element.1 }
            #expect(got.count == expected.count && firstDiff == nil,
                    "\(name) differs from \(path) at element \(firstDiff?.offset ?? -1)")
        }
    }

    struct TestFailure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    /// A fresh empty temporary directory.
    static func tempDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "swiftllama-formats-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static func read(_ path: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// A stored (uncompressed) zip archive of `entries`, as torch.save lays one out.
    /// With `zip64`, every size and offset is written as all ones with the real values in
    /// ZIP64 extra fields and end records, as writers do for archives over 4 GB.
    static func zip(_ entries: [(String, [UInt8])], method: UInt16 = 0, zip64: Bool = false) -> [UInt8] {
        var out: [UInt8] = []
        var central: [UInt8] = []
        func u16(_ v: UInt16, _ a: inout [UInt8]) { a += [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func u32(_ v: UInt32, _ a: inout [UInt8]) { for i in 0..<4 { a.append(UInt8((v >> (8 * UInt32(i))) & 0xFF)) } }
        func u64(_ v: UInt64, _ a: inout [UInt8]) { for i in 0..<8 { a.append(UInt8((v >> (8 * UInt64(i))) & 0xFF)) } }
        let ones: UInt32 = 0xFFFF_FFFF
        for (name, data) in entries {
            let offset = UInt32(out.count)
            let nameBytes = Array(name.utf8)
            u32(0x0403_4b50, &out); u16(20, &out); u16(0, &out); u16(method, &out); u16(0, &out); u16(0, &out)
            u32(0, &out); u32(UInt32(data.count), &out); u32(UInt32(data.count), &out)
            u16(UInt16(nameBytes.count), &out); u16(0, &out)
            out += nameBytes + data
            u32(0x0201_4b50, &central); u16(20, &central); u16(20, &central); u16(0, &central); u16(method, &central)
            u16(0, &central); u16(0, &central); u32(0, &central); u32(UInt32(data.count), &central); u32(UInt32(data.count), &central)
            u16(UInt16(nameBytes.count), &central); u16(0, &central); u16(0, &central); u16(0, &central); u16(0, &central)
            u32(0, &central); u32(offset, &central)
            central += nameBytes
        }
        let cdOffset = UInt32(out.count)
        out += central
        if zip64 {
            let recordOffset = UInt64(out.count)
            u32(0x0606_4b50, &out); u64(44, &out); u16(45, &out); u16(45, &out); u32(0, &out); u32(0, &out)
            u64(UInt64(entries.count), &out); u64(UInt64(entries.count), &out)
            u64(UInt64(central.count), &out); u64(UInt64(cdOffset), &out)
            u32(0x0706_4b50, &out); u32(0, &out); u64(recordOffset, &out); u32(1, &out)
            u32(0x0605_4b50, &out); u16(0, &out); u16(0, &out); u16(0xFFFF, &out); u16(0xFFFF, &out)
            u32(ones, &out); u32(ones, &out); u16(0, &out)
            return out
        }
        u32(0x0605_4b50, &out); u16(0, &out); u16(0, &out); u16(UInt16(entries.count), &out); u16(UInt16(entries.count), &out)
        u32(UInt32(central.count), &out); u32(cdOffset, &out); u16(0, &out)
        return out
    }

    /// A small safetensors file: header JSON then data.
    static func safetensors(header: String, data: [UInt8]) -> [UInt8] {
        let h = Array(header.utf8)
        var out: [UInt8] = []
        var n = UInt64(h.count)
        for _ in 0..<8 { out.append(UInt8(n & 0xFF)); n >>= 8 }
        return out + h + data
    }
}


final class FormatsKeepAlive {}
