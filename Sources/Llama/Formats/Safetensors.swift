import Foundation

// Safetensors layout (Hugging Face), as this reader enforces it:
//
//   bytes 0..<8         N, the header length, unsigned 64-bit little-endian
//   bytes 8..<8+N       a UTF-8 JSON object:
//                         { "<tensor name>": { "dtype": "BF16", "shape": [rows, cols],
//                                              "data_offsets": [begin, end] }, …,
//                           "__metadata__": { "<key>": "<string>", … } }   (optional)
//   bytes 8+N..<end     the data area; each tensor's bytes are data[begin..<end],
//                       row-major, little-endian, no padding inside a tensor
//
// Every tensor must satisfy begin <= end <= data area size and
// end - begin == product(shape) × size(dtype); anything else is a lie and is refused with
// the file and tensor named. Offsets may appear in any order. The file is memory-mapped and
// tensors are slices of the map.

/// Why a safetensors file could not be read.
public enum SafetensorsError: Error, CustomStringConvertible, Equatable {
    case malformed(path: String, offset: Int, message: String)
    case badTensor(path: String, tensor: String, message: String)
    case unsupportedDType(path: String, tensor: String, dtype: String)
    case missingTensor(path: String, tensor: String)

    public var description: String {
        switch self {
        case let .malformed(path, offset, message):
            return "\(path): malformed safetensors file at byte offset \(offset): \(message)"
        case let .badTensor(path, tensor, message):
            return "\(path): safetensors tensor \"\(tensor)\": \(message)"
        case let .unsupportedDType(path, tensor, dtype):
            return "\(path): safetensors tensor \"\(tensor)\" has dtype \(dtype); expected F32, F16 or BF16"
        case let .missingTensor(path, tensor):
            return "\(path): safetensors file has no tensor \"\(tensor)\""
        }
    }
}

/// One tensor entry of a safetensors header.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    /// The name as written in the header.
    public let name: String
    /// The dtype string as written (`F32`, `BF16`, `I64`, …).
    public let dtype: String
    /// Dimensions, slowest-varying first (PyTorch order).
    public let shape: [Int]
    /// Byte range inside the file (already offset past the header).
    public let fileRange: Range<Int>

    /// The matching GGML type for the float dtypes this engine computes with.
    public var ggmlType: GGMLType? {
        switch dtype {
        case "F32": return .f32
        case "F16": return .f16
        case "BF16": return .bf16
        default: return nil
        }
    }
}

/// A memory-mapped safetensors file.
public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    /// Tensors in header order.
    public let tensors: [SafetensorsTensorInfo]
    /// The `__metadata__` strings.
    public let metadata: [String: String]
    /// Keeps the mapped bytes alive (a `MappedFile`, or whatever owns the bytes given to `init(bytes:)`).
    public let owner: AnyObject
    /// The whole file.
    public let bytes: UnsafeRawBufferPointer
    private let index: [String: Int]

    static let elementSizes: [String: Int] = [
        "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
        "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1,
    ]

    /// Opens and validates a file; tensors stay in the memory map.
    public convenience init(path: String) throws {
        let file = try MappedFile(path: path)
        try self.init(bytes: file.bytes, owner: file, path: path)
    }

    /// Parses safetensors bytes owned by `owner` (used by tests and fuzzing without a file).
    public init(bytes: UnsafeRawBufferPointer, owner: AnyObject, path: String) throws {
        self.path = path
        self.owner = owner
        self.bytes = bytes
        func malformed(_ offset: Int, _ message: String) -> SafetensorsError {
            .malformed(path: path, offset: offset, message: message)
        }
        guard bytes.count >= 8 else {
            throw malformed(0, "file is \(bytes.count) bytes, too short for the 8-byte header length")
        }
        let headerLength = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard headerLength >= 2, headerLength <= UInt64(bytes.count - 8) else {
            throw malformed(0, "header length \(headerLength) does not fit in the \(bytes.count - 8) bytes after it")
        }
        guard headerLength <= 100_000_000 else {
            throw malformed(0, "header length \(headerLength) exceeds 100 MB")
        }
        let dataStart = 8 + Int(headerLength)
        let dataSize = bytes.count - dataStart
        let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8..<dataStart])
        guard headerBytes.first == UInt8(ascii: "{") else {
            throw malformed(8, "header does not start with a JSON object")
        }
        let json: Any
        do {
            json = try JSONSerialization.jsonObject(with: Data(headerBytes), options: [])
        } catch {
            throw malformed(8, "header is not valid JSON")
        }
        guard let object = json as? [String: Any] else { throw malformed(8, "header is not a JSON object") }

        var meta: [String: String] = [:]
        if let m = object["__metadata__"] {
            guard let dict = m as? [String: Any] else { throw malformed(8, "__metadata__ is not an object") }
            for (k, v) in dict {
                guard let s = v as? String else { throw malformed(8, "__metadata__ value for \"\(k)\" is not a string") }
                meta[k] = s
            }
        }
        metadata = meta

        var list: [SafetensorsTensorInfo] = []
        for (name, value) in object where name != "__metadata__" {
            func bad(_ message: String) -> SafetensorsError { .badTensor(path: path, tensor: name, message: message) }
            guard let entry = value as? [String: Any] else { throw bad("entry is not a JSON object") }
            guard let dtype = entry["dtype"] as? String else { throw bad("missing string \"dtype\"") }
            guard let elementSize = SafetensorsFile.elementSizes[dtype] else { throw bad("unknown dtype \(dtype)") }
            guard let shapeAny = entry["shape"] as? [Any] else { throw bad("missing array \"shape\"") }
            guard shapeAny.count <= 8 else { throw bad("\(shapeAny.count) dimensions (at most 8 supported)") }
            let shape = try shapeAny.map { d -> Int in
                guard let n = SafetensorsFile.jsonInt(d), n >= 0 else { throw bad("shape \(shapeAny) is not a list of non-negative integers") }
                return n
            }
            guard let offsets = entry["data_offsets"] as? [Any], offsets.count == 2,
                  let begin = SafetensorsFile.jsonInt(offsets[0]), let end = SafetensorsFile.jsonInt(offsets[1]) else {
                throw bad("missing \"data_offsets\": [begin, end]")
            }
            guard begin >= 0, begin <= end, end <= dataSize else {
                throw bad("data_offsets [\(begin), \(end)] lie outside the data area of \(dataSize) bytes")
            }
            guard let count = CheckpointSupport.product(shape), let byteCount = CheckpointSupport.mul(count, elementSize) else {
                throw bad("shape \(shape) is too large")
            }
            guard end - begin == byteCount else {
                throw bad("data_offsets [\(begin), \(end)] span \(end - begin) bytes, but \(dtype) \(shape) needs \(byteCount)")
            }
            list.append(SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape,
                                              fileRange: (dataStart + begin)..<(dataStart + end)))
        }
        list.sort { $0.fileRange.lowerBound < $1.fileRange.lowerBound }
        tensors = list
        var idx: [String: Int] = [:]
        for (i, t) in list.enumerated() { idx[t.name] = i }
        index = idx
    }

    /// JSON numbers arrive as NSNumber/Int/Double depending on the platform; accept exact integers only.
    static func jsonInt(_ v: Any) -> Int? {
        if let i = v as? Int { return i }
        if let d = v as? Double, d.rounded() == d, abs(d) < 9e15 { return Int(d) }
        return nil
    }

    /// The header entry of a tensor, or nil.
    public func info(_ name: String) -> SafetensorsTensorInfo? {
        index[name].map { tensors[$0] }
    }

    /// The raw bytes of a tensor (no copy; valid while this object lives).
    public func data(of info: SafetensorsTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[info.fileRange])
    }

    /// A float tensor as a zero-copy `WeightTensor` named `canonicalName`.
    public func weight(_ name: String, as canonicalName: String) throws -> WeightTensor {
        guard let info = info(name) else { throw SafetensorsError.missingTensor(path: path, tensor: name) }
        guard let type = info.ggmlType else {
            throw SafetensorsError.unsupportedDType(path: path, tensor: name, dtype: info.dtype)
        }
        return WeightTensor(name: canonicalName, type: type, shape: info.shape, data: data(of: info), owner: self)
    }
}
