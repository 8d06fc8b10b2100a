// GGUF (llama.cpp's model file), versions 2 and 3. All integers little-endian.
//
//   magic    "GGUF" (4 bytes)
//   version  u32            2 or 3 (1 used u32 counts and is refused)
//   n_tensors u64, n_kv u64
//   n_kv ×   key: string, type: u32, value
//   n_tensors × name: string, n_dims: u32, dims: u64 × n_dims (fastest-varying first),
//               type: u32 (ggml type), offset: u64 (relative to the data section)
//   padding to `general.alignment` (default 32), then the data section.
//
//   string = u64 length + UTF-8 bytes (no terminator)
//   value types: 0 u8, 1 i8, 2 u16, 3 i16, 4 u32, 5 i32, 6 f32, 7 bool, 8 string,
//                9 array (element type u32, count u64, elements), 10 u64, 11 i64, 12 f64

/// One metadata value.
public enum GGUFValue: Sendable, Equatable {
    case unsigned(UInt64)
    case signed(Int64)
    case float(Double)
    case bool(Bool)
    case string(String)
    case array(GGUFArray)

    public var int: Int? {
        switch self {
        case let .unsigned(v): return v <= UInt64(Int.max) ? Int(v) : nil
        case let .signed(v): return Int(v)
        default: return nil
        }
    }
    public var double: Double? {
        switch self {
        case let .float(v): return v
        case let .unsigned(v): return Double(v)
        case let .signed(v): return Double(v)
        default: return nil
        }
    }
    public var string: String? { if case let .string(s) = self { return s } else { return nil } }
    public var bool: Bool? { if case let .bool(b) = self { return b } else { return nil } }
    /// The elements of an array value (decoded one by one: for large arrays prefer the typed
    /// accessors of ``GGUFArray``).
    public var array: [GGUFValue]? { if case let .array(a) = self { return Array(a) } else { return nil } }
}

/// A metadata array, stored compactly: a hostile file can declare millions of elements, and
/// one Swift value per element would cost 30–40 times the file's bytes. Numbers keep their
/// little-endian bytes as in the file; strings are one byte buffer plus offsets; only
/// arrays of arrays hold values. Elements are decoded when read.
public struct GGUFArray: Sendable, Equatable, RandomAccessCollection {
    /// GGUF value type of the elements (0 u8 … 12 f64, as in the file).
    public let elementType: UInt32
    public let count: Int
    /// Numbers: `count × width` bytes. Strings: their bytes, back to back.
    let raw: [UInt8]
    /// Strings: `count + 1` offsets into `raw`.
    let offsets: [Int]
    /// Arrays of arrays.
    let nested: [GGUFArray]

    /// Bytes per element for the fixed-width types, nil for strings (8) and arrays (9).
    static func width(of type: UInt32) -> Int? {
        switch type {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 10, 11, 12: return 8
        default: return nil
        }
    }

    init(elementType: UInt32, count: Int, raw: [UInt8], offsets: [Int], nested: [GGUFArray]) {
        self.elementType = elementType
        self.count = count
        self.raw = raw
        self.offsets = offsets
        self.nested = nested
    }

    /// An array of `values`, typed as u32/i32/f32/bool/string/array from the first element
    /// (for building metadata in tests and tools; the reader keeps the file's own types).
    public init(_ values: [GGUFValue]) {
        var type: UInt32 = 8
        switch values.first {
        case .unsigned?: type = 4
        case .signed?: type = 5
        case .float?: type = 6
        case .bool?: type = 7
        case .array?: type = 9
        default: type = 8
        }
        var raw: [UInt8] = [], offsets: [Int] = [], nested: [GGUFArray] = []
        if type == 8 { offsets.append(0) }
        for v in values {
            switch v {
            case let .unsigned(x): withUnsafeBytes(of: UInt32(truncatingIfNeeded: x).littleEndian) { raw.append(contentsOf: $0) }
            case let .signed(x): withUnsafeBytes(of: Int32(truncatingIfNeeded: x).littleEndian) { raw.append(contentsOf: $0) }
            case let .float(x): withUnsafeBytes(of: Float(x).bitPattern.littleEndian) { raw.append(contentsOf: $0) }
            case let .bool(b): raw.append(b ? 1 : 0)
            case let .string(s):
                raw.append(contentsOf: s.utf8)
                offsets.append(raw.count)
            case let .array(a): nested.append(a)
            }
        }
        self.init(elementType: type, count: values.count, raw: raw, offsets: offsets, nested: nested)
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }

    public subscript(i: Int) -> GGUFValue {
        precondition(i >= 0 && i < count, "GGUFArray index \(i) out of range 0..<\(count)")
        switch elementType {
        case 8: return .string(String(decoding: raw[offsets[i]..<offsets[i + 1]], as: UTF8.self))
        case 9: return .array(nested[i])
        default: return GGUFArray.number(raw, at: i, type: elementType)
        }
    }

    static func number(_ raw: [UInt8], at i: Int, type: UInt32) -> GGUFValue {
        raw.withUnsafeBytes { b in
            switch type {
            case 0: return .unsigned(UInt64(b[i]))
            case 1: return .signed(Int64(Int8(bitPattern: b[i])))
            case 2: return .unsigned(UInt64(UInt16(littleEndian: b.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
            case 3: return .signed(Int64(Int16(littleEndian: b.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))))
            case 4: return .unsigned(UInt64(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))))
            case 5: return .signed(Int64(Int32(littleEndian: b.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))))
            case 6: return .float(Double(Float(bitPattern: UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))))
            case 7: return .bool(b[i] != 0)
            case 10: return .unsigned(UInt64(littleEndian: b.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)))
            case 11: return .signed(Int64(littleEndian: b.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
            default: return .float(Double(bitPattern: UInt64(littleEndian: b.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
            }
        }
    }

    /// The elements as strings, or nil when they are not strings.
    public var strings: [String]? {
        guard elementType == 8 else { return nil }
        var out: [String] = []
        out.reserveCapacity(count)
        for i in 0..<count { out.append(String(decoding: raw[offsets[i]..<offsets[i + 1]], as: UTF8.self)) }
        return out
    }
}

/// ggml tensor types, with their block layout.
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq4_nl = 20, iq4_xs = 23
    case bf16 = 30

    /// Elements per block and bytes per block.
    public var blockLayout: (elements: Int, bytes: Int) {
        switch self {
        case .f32: return (1, 4)
        case .f16, .bf16: return (1, 2)
        case .q4_0: return (32, 18)
        case .q4_1: return (32, 20)
        case .q5_0: return (32, 22)
        case .q5_1: return (32, 24)
        case .q8_0: return (32, 34)
        case .q8_1: return (32, 36)
        case .q2_K: return (256, 84)
        case .q3_K: return (256, 110)
        case .q4_K: return (256, 144)
        case .q5_K: return (256, 176)
        case .q6_K: return (256, 210)
        case .q8_K: return (256, 292)
        case .iq4_nl: return (32, 18)
        case .iq4_xs: return (256, 136)
        }
    }

    public var name: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q5_0: return "Q5_0"
        case .q5_1: return "Q5_1"
        case .q8_0: return "Q8_0"
        case .q8_1: return "Q8_1"
        case .q2_K: return "Q2_K"
        case .q3_K: return "Q3_K"
        case .q4_K: return "Q4_K"
        case .q5_K: return "Q5_K"
        case .q6_K: return "Q6_K"
        case .q8_K: return "Q8_K"
        case .iq4_nl: return "IQ4_NL"
        case .iq4_xs: return "IQ4_XS"
        }
    }
}

/// Where a tensor lives in a GGUF file.
public struct GGUFTensorInfo: Sendable {
    public let name: String
    /// Dimensions as GGUF stores them: fastest-varying first (ggml's ne[0], ne[1], …).
    public let dimensions: [Int]
    public let rawType: UInt32
    /// The type, or nil for a ggml type this reader does not know.
    public var type: GGMLType? { GGMLType(rawValue: rawType) }
    /// Absolute byte offset of the tensor's data in the file.
    public let fileOffset: Int
    /// Size in bytes (0 when the type is unknown).
    public let byteCount: Int
    public var elementCount: Int { dimensions.reduce(1, *) }
}

public enum GGUFError: Error, CustomStringConvertible {
    case notGGUF(path: String)
    case unsupportedVersion(path: String, version: UInt32)
    case malformed(path: String, offset: Int, message: String)
    case missingKey(path: String, key: String)
    case wrongType(path: String, key: String, expected: String)

    public var description: String {
        switch self {
        case let .notGGUF(path): return "\(path): not a GGUF file (missing \"GGUF\" magic)"
        case let .unsupportedVersion(path, v): return "\(path): GGUF version \(v) is not supported (expected 2 or 3)"
        case let .malformed(path, offset, message): return "\(path): malformed GGUF at byte offset \(offset): \(message)"
        case let .missingKey(path, key): return "\(path): GGUF metadata has no key \"\(key)\""
        case let .wrongType(path, key, expected): return "\(path): GGUF metadata key \"\(key)\" should be \(expected)"
        }
    }
}

/// A GGUF file, memory-mapped: metadata parsed up front, tensor data left in place.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    public let tensors: [GGUFTensorInfo]
    public let alignment: Int
    public let dataOffset: Int
    public let file: MappedFile

    public static let magic: [UInt8] = Array("GGUF".utf8)

    /// True when the bytes start like a GGUF file.
    public static func looksLikeGGUF(_ prefix: some Collection<UInt8>) -> Bool {
        prefix.count >= 4 && Array(prefix.prefix(4)) == magic
    }

    public convenience init(path: String) throws {
        try self.init(file: try MappedFile(path: path))
    }

    public init(file: MappedFile) throws {
        self.file = file
        self.path = file.path
        let path = file.path
        var r = ByteReader(file.bytes)
        func malformed(_ e: ByteReaderError) -> GGUFError { .malformed(path: path, offset: e.offset, message: e.message) }
        do {
            guard file.count >= 4, GGUFFile.looksLikeGGUF(file.bytes.prefix(4)) else { throw GGUFError.notGGUF(path: path) }
            try r.skip(4, "magic")
            version = try r.read(UInt32.self, "version")
            guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(path: path, version: version) }
            let tensorCount = try r.read(UInt64.self, "tensor count")
            let kvCount = try r.read(UInt64.self, "metadata count")
            // Each entry takes at least 8+4+1 (kv) or 8+4+4+8 (tensor) bytes: a count larger
            // than the file could hold is a lie, refused before allocating anything.
            guard kvCount <= UInt64(r.remaining / 13), tensorCount <= UInt64(r.remaining / 24) else {
                throw GGUFError.malformed(path: path, offset: 8, message: "counts (\(tensorCount) tensors, \(kvCount) metadata entries) exceed the file size")
            }
            var meta: [String: GGUFValue] = [:]
            var keys: [String] = []
            for i in 0..<Int(kvCount) {
                let key = try GGUFFile.readString(&r, "metadata key #\(i)")
                let type = try r.read(UInt32.self, "type of \(key)")
                let value = try GGUFFile.readValue(&r, type: type, what: key, depth: 0)
                if meta.updateValue(value, forKey: key) == nil { keys.append(key) }
            }
            metadata = meta
            metadataKeys = keys
            var align = 32
            if let a = meta["general.alignment"] {
                guard let v = a.int, v > 0, v & (v - 1) == 0, v <= 1 << 20 else {
                    throw GGUFError.wrongType(path: path, key: "general.alignment", expected: "a power of two")
                }
                align = v
            }
            alignment = align
            var infos: [(String, [Int], UInt32, UInt64)] = []
            infos.reserveCapacity(Int(tensorCount))
            for i in 0..<Int(tensorCount) {
                let name = try GGUFFile.readString(&r, "tensor #\(i) name")
                let nDims = try r.read(UInt32.self, "tensor \(name) dimension count")
                guard nDims >= 1, nDims <= 8 else {
                    throw GGUFError.malformed(path: path, offset: r.offset - 4, message: "tensor \(name) has \(nDims) dimensions (expected 1 to 8)")
                }
                var dims: [Int] = []
                for d in 0..<Int(nDims) {
                    let v = try r.read(UInt64.self, "tensor \(name) dimension \(d)")
                    guard v <= UInt64(1) << 40 else {
                        throw GGUFError.malformed(path: path, offset: r.offset - 8, message: "tensor \(name) dimension \(d) is \(v)")
                    }
                    dims.append(Int(v))
                }
                let type = try r.read(UInt32.self, "tensor \(name) type")
                let off = try r.read(UInt64.self, "tensor \(name) offset")
                infos.append((name, dims, type, off))
            }
            let headerEnd = r.offset
            dataOffset = (headerEnd + align - 1) / align * align
            var list: [GGUFTensorInfo] = []
            for (name, dims, type, off) in infos {
                var count = 1
                for d in dims {
                    let (p, o) = count.multipliedReportingOverflow(by: d)
                    guard !o, p <= 1 << 42 else {
                        throw GGUFError.malformed(path: path, offset: headerEnd, message: "tensor \(name) has too many elements \(dims)")
                    }
                    count = p
                }
                var size = 0
                if let t = GGMLType(rawValue: type) {
                    let (elems, bytes) = t.blockLayout
                    guard dims[0] % elems == 0 else {
                        throw GGUFError.malformed(path: path, offset: headerEnd, message: "tensor \(name): first dimension \(dims[0]) is not a multiple of the \(t.name) block size \(elems)")
                    }
                    size = count / elems * bytes
                }
                guard off <= UInt64(file.count), dataOffset + Int(off) + size <= file.count else {
                    throw GGUFError.malformed(path: path, offset: headerEnd, message: "tensor \(name) data (offset \(off), \(size) bytes) extends past the end of the file (\(file.count) bytes)")
                }
                list.append(GGUFTensorInfo(name: name, dimensions: dims, rawType: type, fileOffset: dataOffset + Int(off), byteCount: size))
            }
            tensors = list
        } catch let e as ByteReaderError {
            throw malformed(e)
        }
    }

    static func readString(_ r: inout ByteReader, _ what: String) throws -> String {
        let n = try r.read(UInt64.self, "\(what) length")
        guard n <= UInt64(r.remaining) else {
            throw ByteReaderError(offset: r.offset - 8, message: "\(what) claims \(n) bytes, only \(r.remaining) left in the file")
        }
        return try r.readString(Int(n), what)
    }

    static func readValue(_ r: inout ByteReader, type: UInt32, what: String, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .unsigned(UInt64(try r.read(UInt8.self, what)))
        case 1: return .signed(Int64(try r.read(Int8.self, what)))
        case 2: return .unsigned(UInt64(try r.read(UInt16.self, what)))
        case 3: return .signed(Int64(try r.read(Int16.self, what)))
        case 4: return .unsigned(UInt64(try r.read(UInt32.self, what)))
        case 5: return .signed(Int64(try r.read(Int32.self, what)))
        case 6: return .float(Double(try r.readFloat32(what)))
        case 7:
            let b = try r.read(UInt8.self, what)
            guard b <= 1 else { throw ByteReaderError(offset: r.offset - 1, message: "\(what): bool value \(b) is neither 0 nor 1") }
            return .bool(b == 1)
        case 8: return .string(try readString(&r, what))
        case 9:
            guard depth < 4 else { throw ByteReaderError(offset: r.offset, message: "\(what): arrays nested too deeply") }
            let elementType = try r.read(UInt32.self, "\(what) element type")
            let count = try r.read(UInt64.self, "\(what) element count")
            guard count <= UInt64(r.remaining) else {
                throw ByteReaderError(offset: r.offset - 8, message: "\(what): array of \(count) elements cannot fit in the \(r.remaining) bytes left")
            }
            return .array(try readArray(&r, elementType: elementType, count: Int(count), what: what, depth: depth))
        case 10: return .unsigned(try r.read(UInt64.self, what))
        case 11: return .signed(try r.read(Int64.self, what))
        case 12: return .float(try r.readFloat64(what))
        default:
            throw ByteReaderError(offset: r.offset - 4, message: "\(what): unknown metadata value type \(type)")
        }
    }

    /// An array's elements, compactly (see ``GGUFArray``): what it allocates is bounded by
    /// the bytes it reads (numbers 1×, strings at most 2×, nested arrays a small multiple of
    /// their 12-byte headers).
    static func readArray(_ r: inout ByteReader, elementType: UInt32, count: Int, what: String, depth: Int) throws -> GGUFArray {
        if let width = GGUFArray.width(of: elementType) {
            let (bytes, overflow) = count.multipliedReportingOverflow(by: width)
            guard !overflow, bytes <= r.remaining else {
                throw ByteReaderError(offset: r.offset, message: "\(what): array of \(count) elements of \(width) bytes cannot fit in the \(r.remaining) bytes left")
            }
            let start = r.offset
            let raw = Array(try r.readBytes(bytes, what))
            if elementType == 7, let bad = raw.firstIndex(where: { $0 > 1 }) {
                throw ByteReaderError(offset: start + bad, message: "\(what): bool value \(raw[bad]) is neither 0 nor 1")
            }
            return GGUFArray(elementType: elementType, count: count, raw: raw, offsets: [], nested: [])
        }
        switch elementType {
        case 8:
            // Each string takes at least its 8-byte length.
            guard count <= r.remaining / 8 else {
                throw ByteReaderError(offset: r.offset, message: "\(what): array of \(count) strings cannot fit in the \(r.remaining) bytes left")
            }
            var raw: [UInt8] = []
            var offsets: [Int] = [0]
            offsets.reserveCapacity(count + 1)
            for i in 0..<count {
                let n = try r.read(UInt64.self, "\(what) string #\(i) length")
                guard n <= UInt64(r.remaining) else {
                    throw ByteReaderError(offset: r.offset - 8, message: "\(what) string #\(i) claims \(n) bytes, only \(r.remaining) left in the file")
                }
                raw.append(contentsOf: try r.readBytes(Int(n), "\(what) string #\(i)"))
                offsets.append(raw.count)
            }
            return GGUFArray(elementType: 8, count: count, raw: raw, offsets: offsets, nested: [])
        case 9:
            guard depth < 4 else { throw ByteReaderError(offset: r.offset, message: "\(what): arrays nested too deeply") }
            guard count <= r.remaining / 12 else {
                throw ByteReaderError(offset: r.offset, message: "\(what): array of \(count) arrays cannot fit in the \(r.remaining) bytes left")
            }
            var nested: [GGUFArray] = []
            nested.reserveCapacity(count)
            for _ in 0..<count {
                let t = try r.read(UInt32.self, "\(what) element type")
                let n = try r.read(UInt64.self, "\(what) element count")
                guard n <= UInt64(r.remaining) else {
                    throw ByteReaderError(offset: r.offset - 8, message: "\(what): array of \(n) elements cannot fit in the \(r.remaining) bytes left")
                }
                nested.append(try readArray(&r, elementType: t, count: Int(n), what: what, depth: depth + 1))
            }
            return GGUFArray(elementType: 9, count: count, raw: [], offsets: [], nested: nested)
        default:
            throw ByteReaderError(offset: r.offset - 12, message: "\(what): unknown array element type \(elementType)")
        }
    }

    // MARK: typed metadata access

    public func string(_ key: String) throws -> String {
        guard let v = metadata[key] else { throw GGUFError.missingKey(path: path, key: key) }
        guard let s = v.string else { throw GGUFError.wrongType(path: path, key: key, expected: "a string") }
        return s
    }

    public func int(_ key: String) throws -> Int {
        guard let v = metadata[key] else { throw GGUFError.missingKey(path: path, key: key) }
        guard let i = v.int else { throw GGUFError.wrongType(path: path, key: key, expected: "an integer") }
        return i
    }

    public func optionalString(_ key: String) throws -> String? {
        guard metadata[key] != nil else { return nil }
        return try string(key)
    }

    public func optionalInt(_ key: String) throws -> Int? {
        guard metadata[key] != nil else { return nil }
        return try int(key)
    }

    public func double(_ key: String) throws -> Double {
        guard let v = metadata[key] else { throw GGUFError.missingKey(path: path, key: key) }
        guard let d = v.double else { throw GGUFError.wrongType(path: path, key: key, expected: "a number") }
        return d
    }

    public func optionalBool(_ key: String) throws -> Bool? {
        guard let v = metadata[key] else { return nil }
        guard let b = v.bool else { throw GGUFError.wrongType(path: path, key: key, expected: "a bool") }
        return b
    }

    public func stringArray(_ key: String) throws -> [String] {
        guard let v = metadata[key] else { throw GGUFError.missingKey(path: path, key: key) }
        guard case let .array(a) = v, let strings = a.strings ?? (a.isEmpty ? [] : nil) else {
            throw GGUFError.wrongType(path: path, key: key, expected: "an array of strings")
        }
        return strings
    }

    public func optionalFloatArray(_ key: String) throws -> [Float]? {
        guard let v = metadata[key] else { return nil }
        guard case let .array(a) = v else { throw GGUFError.wrongType(path: path, key: key, expected: "an array of numbers") }
        var out: [Float] = []
        out.reserveCapacity(a.count)
        for item in a {
            guard let d = item.double else { throw GGUFError.wrongType(path: path, key: key, expected: "an array of numbers") }
            out.append(Float(d))
        }
        return out
    }

    public func optionalIntArray(_ key: String) throws -> [Int]? {
        guard let v = metadata[key] else { return nil }
        guard case let .array(a) = v else { throw GGUFError.wrongType(path: path, key: key, expected: "an array of integers") }
        var out: [Int] = []
        out.reserveCapacity(a.count)
        for item in a {
            guard let i = item.int else { throw GGUFError.wrongType(path: path, key: key, expected: "an array of integers") }
            out.append(i)
        }
        return out
    }

    /// The raw bytes of one tensor (no copy; valid while this object lives).
    public func data(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: file.bytes[tensor.fileOffset..<(tensor.fileOffset + tensor.byteCount)])
    }
}
