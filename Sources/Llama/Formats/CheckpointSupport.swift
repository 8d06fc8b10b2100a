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

    public var description: String {
        switch self {
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
    /// A missing tensor is named as `names` spells it.
    static func validate(_ tensors: [String: WeightTensor], config: ModelConfig, path: String,
                         names: TensorFormat = .canonical) throws {
        for (spec, layer) in config.tensorLayout {
            let name = spec.canonicalName(layer: layer), shape = spec.shape(config)
            guard let t = tensors[name] else {
                throw CheckpointTensorError.missing(path: path, tensor: config.architecture.name(spec, layer: layer, in: names))
            }
            guard t.shape == shape else {
                throw CheckpointTensorError.wrongShape(path: path, tensor: config.architecture.name(spec, layer: layer, in: names),
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
        guard c.dim % c.headCount == 0 else { throw fail("dim \(c.dim) is not a multiple of the head count \(c.headCount)") }
        guard c.headDim % 2 == 0 else { throw fail("head size \(c.headDim) is odd; RoPE needs pairs") }
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
