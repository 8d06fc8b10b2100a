import Foundation

/// Heap memory owned by a tensor (un-permuted or concatenated weights), freed when the last
/// `WeightTensor` that holds it goes away.
public final class OwnedBuffer: @unchecked Sendable {
    /// The memory, 64-byte aligned; written once by the reader that fills it.
    public let bytes: UnsafeMutableRawBufferPointer

    /// Allocates `byteCount` uninitialized bytes.
    public init(byteCount: Int) {
        bytes = UnsafeMutableRawBufferPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
    }

    /// The same memory, read-only, as `WeightTensor.data` wants it.
    public var readOnly: UnsafeRawBufferPointer { UnsafeRawBufferPointer(bytes) }

    deinit { bytes.deallocate() }
}

/// A checkpoint that looked for a tokenizer beside its weights and can say why it could not
/// load one (`(checkpoint as? TokenizerLoadReporting)?.tokenizerError`).
public protocol TokenizerLoadReporting {
    /// Why a tokenizer file found beside the weights could not be loaded; nil when none was
    /// found or it loaded.
    var tokenizerError: (any Error)? { get }
}

/// Why the tensors of a checkpoint do not fit its configuration.
public enum CheckpointTensorError: Error, CustomStringConvertible, Equatable {
    case missing(path: String, tensor: String)
    case wrongShape(path: String, tensor: String, shape: [Int], expected: [Int])
    case unsupportedType(path: String, tensor: String, type: String)
    /// A tensor holding several roles (GPT-2 `c_attn`, Phi-3 `qkv_proj`) whose size is not
    /// the sum of theirs.
    case wrongFusedShape(path: String, tensor: String, shape: [Int], expected: [Int], parts: [String])

    public var description: String {
        switch self {
        case let .wrongFusedShape(path, tensor, shape, expected, parts):
            return "\(path): fused tensor \"\(tensor)\" has shape \(shape), expected \(expected) from the model configuration (it holds \(parts.joined(separator: ", ")))"
        case let .missing(path, tensor):
            return "\(path): checkpoint has no tensor \"\(tensor)\""
        case let .wrongShape(path, tensor, shape, expected):
            return "\(path): tensor \"\(tensor)\" has shape \(shape), expected \(expected) from the model configuration"
        case let .unsupportedType(path, tensor, type):
            return "\(path): tensor \"\(tensor)\" is stored as \(type), expected F32, F16 or BF16"
        }
    }
}

/// What every checkpoint reader shares: the tensors a configuration needs, and the checks.
public enum CheckpointSupport {
    /// The shape every canonical tensor must have under `config` (output only when untied).
    public static func expectedShapes(_ c: ModelConfig) -> [(String, [Int])] {
        c.tensorLayout.map { ($0.spec.canonicalName(layer: $0.layer), $0.spec.shape(c)) }
    }

    /// Checks that every tensor the model needs is present with the right shape and a plain
    /// float type, so a wrong file fails when opened, not in the middle of a forward pass.
    static func validate(_ tensors: [String: WeightTensor], config: ModelConfig, path: String,
                         format: TensorFormat = .canonical) throws {
        for (spec, layer) in config.tensorLayout {
            let name = spec.canonicalName(layer: layer), shape = spec.shape(config)
            guard let t = tensors[name] else {
                throw CheckpointTensorError.missing(path: path, tensor: config.architecture.name(spec, layer: layer, in: format))
            }
            guard t.shape == shape else {
                throw CheckpointTensorError.wrongShape(path: path, tensor: config.architecture.name(spec, layer: layer, in: format),
                                                       shape: t.shape, expected: shape)
            }
            guard t.type == .f32 || t.type == .f16 || t.type == .bf16 else {
                throw CheckpointTensorError.unsupportedType(path: path, tensor: name, type: t.type.name)
            }
        }
    }

    /// Checks the basic relations between sizes any Llama configuration must satisfy.
    static func checkConfig(_ c: ModelConfig, fail: (String) -> Error) throws {
        let limit = 1 << 24
        for (name, v) in [("dim", c.dim), ("layers", c.layerCount), ("heads", c.headCount),
                          ("kv heads", c.kvHeadCount), ("hidden dim", c.hiddenDim), ("vocabulary size", c.vocabSize),
                          ("context", c.maxContext)] {
            guard v > 0, v <= limit else { throw fail("\(name) is \(v), expected 1...\(limit)") }
        }
        guard c.layerCount <= 4096 else { throw fail("layer count \(c.layerCount) is implausible") }
        guard c.headDim > 0, c.headDim <= limit else {
            throw fail("dim \(c.dim) is not a multiple of the head count \(c.headCount), and no head size is given")
        }
        guard c.headDim % 2 == 0 || c.architecture.learnedPositions else { throw fail("head size \(c.headDim) is odd; RoPE needs pairs") }
        guard c.headCount % c.kvHeadCount == 0 else {
            throw fail("head count \(c.headCount) is not a multiple of the kv head count \(c.kvHeadCount)")
        }
        guard c.normEps.isFinite, c.normEps > 0 else { throw fail("norm epsilon \(c.normEps) must be positive") }
        guard c.ropeTheta.isFinite, c.ropeTheta > 0 else { throw fail("rope theta \(c.ropeTheta) must be positive") }
    }

    /// Loads the tokenizer at `path` if the file exists. A file that exists but cannot be read
    /// is kept as an error for the caller to report, not thrown: the weights are still usable.
    static func tokenizerBeside(_ candidates: [String]) -> (tokenizer: (any Tokenizer)?, error: (any Error)?) {
        for p in candidates where FileManager.default.fileExists(atPath: p) {
            do { return (try TokenizerLoader.load(path: p), nil) } catch { return (nil, error) }
        }
        return (nil, nil)
    }

    /// `w` (a matrix of a plain float type) transposed into owned memory: transformers'
    /// `Conv1D` (GPT-2) stores `[in, out]`, the engine reads `[out, in]` rows. Done once at
    /// load, so the forward pass sees one layout whatever the file.
    static func transposed(_ w: WeightTensor, path: String, fileName: String) throws -> WeightTensor {
        let size = w.type.blockLayout.elements == 1 ? w.type.blockLayout.bytes : 0
        guard w.shape.count == 2, size > 0 else {
            throw CheckpointTensorError.unsupportedType(path: path, tensor: fileName, type: "\(w.type.name) with shape \(w.shape)")
        }
        let rows = w.shape[0], cols = w.shape[1]
        guard let n = mul(rows, cols), let bytes = mul(n, size), bytes <= w.data.count else {
            throw CheckpointTensorError.wrongShape(path: path, tensor: fileName, shape: w.shape, expected: w.shape)
        }
        let buffer = OwnedBuffer(byteCount: bytes)
        if let src = w.data.baseAddress, let dst = buffer.bytes.baseAddress {
            for r in 0..<rows {
                for c in 0..<cols {
                    (dst + (c * rows + r) * size).copyMemory(from: src + (r * cols + c) * size, byteCount: size)
                }
            }
        }
        return WeightTensor(name: w.name, type: w.type, shape: [cols, rows], data: buffer.readOnly, owner: buffer)
    }

    /// `w` as F32 in owned memory with `offset` added to every value: the 1 that llama.cpp's
    /// converter adds to Gemma's norm weights, added here for files that store w alone.
    static func adding(_ offset: Float, to w: WeightTensor) -> WeightTensor {
        let n = w.elementCount
        let buffer = OwnedBuffer(byteCount: 4 * n)
        if let src = w.data.baseAddress, let dst = buffer.bytes.baseAddress?.assumingMemoryBound(to: Float.self),
           n % w.type.blockLayout.elements == 0, w.data.count >= w.type.rowBytes(columns: n) {
            dequantizeRow(w.type, src, dst, count: n)
            for i in 0..<n { dst[i] += offset }
        }
        return WeightTensor(name: w.name, type: .f32, shape: w.shape, data: buffer.readOnly, owner: buffer)
    }

    /// The part `spec` takes of file tensor `w` (named `fileName`) when it is stored fused
    /// with others: checks first that the fused tensor has exactly the rows of all its parts.
    static func part(_ spec: TensorSpec, of w: WeightTensor, in format: TensorFormat, config c: ModelConfig,
                     path: String, fileName: String) throws -> WeightTensor {
        let a = c.architecture
        guard let range = a.rows(spec, in: format, c) else { return w }
        let expected = a.storedShape(spec, in: format, c)
        guard w.shape == expected, let part = w.rows(range) else {
            throw CheckpointTensorError.wrongFusedShape(path: path, tensor: fileName, shape: w.shape, expected: expected,
                                                        parts: a.fusedGroup(spec, in: format).map { $0.canonicalName() })
        }
        return part
    }

    /// The rows of `parts` one after the other in owned memory (a fused tensor written back
    /// from its parts); the parts must share their type and column count.
    static func joiningRows(_ parts: [WeightTensor], name: String, path: String) throws -> WeightTensor {
        guard let first = parts.first else { throw CheckpointTensorError.missing(path: path, tensor: name) }
        let columns = Array(first.shape.dropFirst())
        var rows = 0, bytes = 0
        for p in parts {
            guard p.type == first.type, Array(p.shape.dropFirst()) == columns, let r = p.shape.first else {
                throw CheckpointTensorError.wrongShape(path: path, tensor: name, shape: p.shape, expected: first.shape)
            }
            rows += r
            bytes += p.type.rowBytes(columns: p.elementCount)
        }
        let buffer = OwnedBuffer(byteCount: bytes)
        var offset = 0
        for p in parts {
            let n = p.type.rowBytes(columns: p.elementCount)
            guard let src = p.data.baseAddress, p.data.count >= n, let dst = buffer.bytes.baseAddress else { continue }
            (dst + offset).copyMemory(from: src, byteCount: n)
            offset += n
        }
        return WeightTensor(name: name, type: first.type, shape: [rows] + columns, data: buffer.readOnly, owner: buffer)
    }

    /// `a * b` or nil on overflow.
    static func mul(_ a: Int, _ b: Int) -> Int? {
        let (p, o) = a.multipliedReportingOverflow(by: b)
        return o ? nil : p
    }

    /// Product of the dimensions, nil on overflow or a negative dimension.
    static func product(_ dims: [Int]) -> Int? {
        var n = 1
        for d in dims {
            guard d >= 0, let p = mul(n, d) else { return nil }
            n = p
        }
        return n
    }

    static func bytesPerElement(_ t: GGMLType) -> Int { t.blockLayout.bytes / t.blockLayout.elements }
}

/// A checkpoint whose tensors were all resolved at load into one table (Hugging Face, Meta,
/// llama2.c): lookup by canonical name, and no stored rope divisors (their rope scaling, if
/// any, is in the configuration).
protocol TensorTableCheckpoint: Checkpoint {
    var tensors: [String: WeightTensor] { get }
}

extension TensorTableCheckpoint {
    public func tensor(_ name: String) throws -> WeightTensor {
        guard let t = tensors[name] else { throw CheckpointTensorError.missing(path: path, tensor: name) }
        return t
    }

    public func ropeFrequencyFactors() throws -> [Float]? { nil }
}
