/// Why a read from a binary buffer failed; the format reader adds the file and field.
public struct ByteReaderError: Error, CustomStringConvertible, Equatable {
    public let offset: Int
    public let message: String
    public var description: String { "at byte offset \(offset): \(message)" }
}

/// A bounds-checked little-endian cursor over bytes. Every read either succeeds or throws;
/// nothing a file says can make it read outside the buffer.
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    public private(set) var offset: Int

    public init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var remaining: Int { bytes.count - offset }
    public var isAtEnd: Bool { offset >= bytes.count }

    func fail(_ message: String) -> ByteReaderError { ByteReaderError(offset: offset, message: message) }

    mutating func need(_ n: Int, _ what: String) throws {
        guard n >= 0, n <= remaining else {
            throw fail("file ends while reading \(what): need \(n) bytes, \(max(remaining, 0)) left")
        }
    }

    public mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: String) throws -> T {
        let n = MemoryLayout<T>.size
        try need(n, what)
        let v = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += n
        return T(littleEndian: v)
    }

    public mutating func readFloat32(_ what: String) throws -> Float {
        Float(bitPattern: try read(UInt32.self, what))
    }

    public mutating func readFloat64(_ what: String) throws -> Double {
        Double(bitPattern: try read(UInt64.self, what))
    }

    /// `count` raw bytes as a slice of the underlying buffer (no copy).
    public mutating func readBytes(_ count: Int, _ what: String) throws -> UnsafeRawBufferPointer {
        try need(count, what)
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
        offset += count
        return slice
    }

    public mutating func skip(_ count: Int, _ what: String) throws {
        try need(count, what)
        offset += count
    }

    public mutating func seek(to newOffset: Int, _ what: String) throws {
        guard newOffset >= 0, newOffset <= bytes.count else {
            throw fail("\(what): offset \(newOffset) is outside the file (\(bytes.count) bytes)")
        }
        offset = newOffset
    }

    /// UTF-8 text of `count` bytes; invalid UTF-8 is an error, not silently repaired.
    public mutating func readString(_ count: Int, _ what: String) throws -> String {
        let start = offset
        let raw = try readBytes(count, what)
        guard let s = String(validating: raw, as: UTF8.self) else {
            throw ByteReaderError(offset: start, message: "\(what) is not valid UTF-8")
        }
        return s
    }
}
