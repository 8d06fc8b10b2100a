import Foundation

/// Writes GGUF v3 files: the layout `GGUF.swift` describes, data section aligned to
/// `general.alignment` (32), each tensor's data at a multiple of the alignment.
///
/// Metadata values carry their GGUF type explicitly, because readers such as llama.cpp
/// check it (ids are u32, token types i32, scores f32).
public struct GGUFWriter {
    /// A metadata value with its GGUF type.
    public indirect enum Value: Sendable, Equatable {
        case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
        case float32(Float), bool(Bool), string(String)
        /// Elements must all have the type given by `elementType`'s tag.
        case array(elementType: UInt32, [Value])
        case uint64(UInt64), int64(Int64), float64(Double)

        var typeTag: UInt32 {
            switch self {
            case .uint8: return 0
            case .int8: return 1
            case .uint16: return 2
            case .int16: return 3
            case .uint32: return 4
            case .int32: return 5
            case .float32: return 6
            case .bool: return 7
            case .string: return 8
            case .array: return 9
            case .uint64: return 10
            case .int64: return 11
            case .float64: return 12
            }
        }

        /// An array of strings (GGUF element type 8).
        public static func strings(_ items: [String]) -> Value { .array(elementType: 8, items.map { .string($0) }) }
        /// An array of f32 (GGUF element type 6).
        public static func floats(_ items: [Float]) -> Value { .array(elementType: 6, items.map { .float32($0) }) }
        /// An array of i32 (GGUF element type 5).
        public static func int32s(_ items: [Int32]) -> Value { .array(elementType: 5, items.map { .int32($0) }) }
    }

    /// Why a tensor cannot be added or the file cannot be written.
    public enum WriteError: Error, CustomStringConvertible {
        case badTensor(name: String, message: String)
        case cannotWrite(path: String, reason: String)

        public var description: String {
            switch self {
            case let .badTensor(name, message): return "tensor \(name): \(message)"
            case let .cannotWrite(path, reason): return "\(path): cannot write: \(reason)"
            }
        }
    }

    struct Tensor {
        let name: String
        /// PyTorch order (slowest first); written reversed.
        let shape: [Int]
        let type: GGMLType
        let data: [UInt8]
    }

    /// Alignment of the data section and of every tensor in it (GGUF's default).
    public let alignment = 32
    private(set) var metadata: [(String, Value)] = []
    private var tensors: [Tensor] = []

    public init() {}

    /// Adds (or replaces) a metadata entry; entries are written in the order first added.
    public mutating func set(_ key: String, _ value: Value) {
        if let i = metadata.firstIndex(where: { $0.0 == key }) { metadata[i].1 = value } else { metadata.append((key, value)) }
    }

    /// Removes every metadata entry whose key starts with `prefix` (for example "tokenizer.").
    public mutating func removeAll(prefix: String) {
        metadata.removeAll { $0.0.hasPrefix(prefix) }
    }

    /// Adds a tensor. `shape` is `[rows, columns]` (PyTorch order); `data` holds its bytes in `type`.
    public mutating func addTensor(name: String, shape: [Int], type: GGMLType, data: [UInt8]) throws {
        guard let cols = shape.last, !shape.isEmpty, shape.allSatisfy({ $0 > 0 }) else {
            throw WriteError.badTensor(name: name, message: "shape \(shape) is empty or has a zero dimension")
        }
        let (elems, bytes) = type.blockLayout
        guard cols % elems == 0 else {
            throw WriteError.badTensor(name: name, message: "\(cols) columns are not a multiple of the \(type.name) block size \(elems)")
        }
        let expected = shape.reduce(1, *) / elems * bytes
        guard data.count == expected else {
            throw WriteError.badTensor(name: name, message: "\(data.count) bytes of data, \(type.name) \(shape) needs \(expected)")
        }
        tensors.append(Tensor(name: name, shape: shape, type: type, data: data))
    }

    /// Adds an fp32 tensor stored as `type` (F32, F16 or BF16).
    public mutating func addTensor(name: String, shape: [Int], values: [Float], as type: GGMLType) throws {
        var data: [UInt8] = []
        switch type {
        case .f32:
            data.reserveCapacity(values.count * 4)
            for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        case .f16, .bf16:
            data.reserveCapacity(values.count * 2)
            for v in values {
                let bits = type == .f16 ? floatToHalf(v) : floatToBFloat16(v)
                withUnsafeBytes(of: bits.littleEndian) { data.append(contentsOf: $0) }
            }
        default:
            throw WriteError.badTensor(name: name, message: "writing \(type.name) from floats is not supported")
        }
        try addTensor(name: name, shape: shape, type: type, data: data)
    }

    /// The whole file's bytes (for small files and tests; `write(to:)` streams instead).
    public func serialized() -> [UInt8] {
        var out = header()
        for t in tensors {
            out.append(contentsOf: t.data)
            out.append(contentsOf: [UInt8](repeating: 0, count: padding(t.data.count)))
        }
        return out
    }

    private func padding(_ n: Int) -> Int { (alignment - n % alignment) % alignment }

    /// Everything before the data section: magic, counts, metadata, tensor infos, padding.
    private func header() -> [UInt8] {
        var out: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func string(_ s: String) {
            let b = Array(s.utf8)
            u64(UInt64(b.count))
            out.append(contentsOf: b)
        }
        func payload(_ v: Value) {
            switch v {
            case let .uint8(x): out.append(x)
            case let .int8(x): out.append(UInt8(bitPattern: x))
            case let .uint16(x): withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) }
            case let .int16(x): withUnsafeBytes(of: x.littleEndian) { out.append(contentsOf: $0) }
            case let .uint32(x): u32(x)
            case let .int32(x): u32(UInt32(bitPattern: x))
            case let .float32(x): u32(x.bitPattern)
            case let .bool(x): out.append(x ? 1 : 0)
            case let .string(x): string(x)
            case let .array(t, items):
                u32(t)
                u64(UInt64(items.count))
                for item in items { payload(item) }
            case let .uint64(x): u64(x)
            case let .int64(x): u64(UInt64(bitPattern: x))
            case let .float64(x): u64(x.bitPattern)
            }
        }

        out.append(contentsOf: GGUFFile.magic)
        u32(3)
        u64(UInt64(tensors.count))
        var meta = metadata
        if !meta.contains(where: { $0.0 == "general.alignment" }) { meta.append(("general.alignment", .uint32(UInt32(alignment)))) }
        u64(UInt64(meta.count))
        for (k, v) in meta {
            string(k)
            u32(v.typeTag)
            payload(v)
        }
        var offset = 0
        for t in tensors {
            string(t.name)
            u32(UInt32(t.shape.count))
            for d in t.shape.reversed() { u64(UInt64(d)) }
            u32(t.type.rawValue)
            u64(UInt64(offset))
            offset += t.data.count + padding(t.data.count)
        }
        out.append(contentsOf: [UInt8](repeating: 0, count: padding(out.count)))
        return out
    }

    /// Writes the file atomically: to a temporary file beside it, then renamed over `path`,
    /// so a crash never leaves a half-written model. Tensors are streamed, not concatenated.
    public func write(to path: String) throws {
        try writeAtomically(to: path) { handle in
            try handle.write(contentsOf: header())
            for t in tensors {
                try handle.write(contentsOf: t.data)
                try handle.write(contentsOf: [UInt8](repeating: 0, count: padding(t.data.count)))
            }
        }
    }
}

/// Writes a file through a temporary file in the same directory and a rename (`AtomicFile`).
public func writeAtomically(to path: String, _ body: (FileHandle) throws -> Void) throws {
    try AtomicFile.write(to: path, body)
}

/// Writes bytes to `path` through a temporary file in the same directory and a rename.
public func writeAtomically(_ bytes: [UInt8], to path: String) throws {
    try writeAtomically(to: path) { try $0.write(contentsOf: bytes) }
}

extension GGUFWriter.Value {
    /// A value read by `GGUFFile`, typed for writing. GGUFFile keeps only the kind (unsigned,
    /// signed, float), so the width is chosen as llama.cpp expects it for the key: ids and
    /// counts u32, token types i32, scores and other floats f32, other integers by size.
    public static func from(_ v: GGUFValue, key: String) -> GGUFWriter.Value {
        switch v {
        case let .unsigned(x): return x <= UInt64(UInt32.max) ? .uint32(UInt32(x)) : .uint64(x)
        case let .signed(x):
            return x >= Int64(Int32.min) && x <= Int64(Int32.max) ? .int32(Int32(x)) : .int64(x)
        case let .float(x): return .float32(Float(x))
        case let .bool(x): return .bool(x)
        case let .string(x): return .string(x)
        case let .array(items):
            // The file's own element type is kept, except token types, which llama.cpp reads as i32.
            if key.hasSuffix("token_type") {
                return .array(elementType: 5, items.map { .int32(Int32(truncatingIfNeeded: $0.int ?? 0)) })
            }
            return .array(elementType: items.elementType, items.map { element(items.elementType, $0, key: key) })
        }
    }

    /// One array element with its file type.
    static func element(_ type: UInt32, _ v: GGUFValue, key: String) -> GGUFWriter.Value {
        switch (type, v) {
        case let (0, .unsigned(x)): return .uint8(UInt8(truncatingIfNeeded: x))
        case let (1, .signed(x)): return .int8(Int8(truncatingIfNeeded: x))
        case let (2, .unsigned(x)): return .uint16(UInt16(truncatingIfNeeded: x))
        case let (3, .signed(x)): return .int16(Int16(truncatingIfNeeded: x))
        case let (4, .unsigned(x)): return .uint32(UInt32(truncatingIfNeeded: x))
        case let (5, .signed(x)): return .int32(Int32(truncatingIfNeeded: x))
        case let (6, .float(x)): return .float32(Float(x))
        case let (10, .unsigned(x)): return .uint64(x)
        case let (11, .signed(x)): return .int64(x)
        case let (12, .float(x)): return .float64(x)
        default: return from(v, key: key)
        }
    }
}
