import Foundation

// A token shard: the token ids of (part of) a corpus, for training.
//
//   offset 0   magic "LTOK"
//          4   u32 version (1)
//          8   u32 bytes per token: 2 (uint16, when every id < 65536) or 4 (uint32)
//         12   u32 vocabulary size of the tokenizer that made it
//         16   u64 token count
//         24   u64 reserved (0)
//         32   token ids, little-endian
//
// The file size must be exactly 32 + count × bytes-per-token.

public enum TokenShardError: Error, CustomStringConvertible {
    case malformed(path: String, reason: String)
    public var description: String {
        switch self {
        case let .malformed(path, reason): return "\(path): not a valid token shard: \(reason)"
        }
    }
}

public struct TokenShard {
    public static let magic: [UInt8] = Array("LTOK".utf8)
    public static let headerSize = 32

    /// Serializes ids (all must be below `vocabularySize`).
    public static func encode(_ ids: ArraySlice<TokenID>, vocabularySize: Int) -> Data {
        let width = vocabularySize <= 65536 ? 2 : 4
        var d = Data(capacity: headerSize + ids.count * width)
        d.append(contentsOf: magic)
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        u32(1)
        u32(UInt32(width))
        u32(UInt32(vocabularySize))
        u64(UInt64(ids.count))
        u64(0)
        if width == 2 {
            var buf = [UInt16](repeating: 0, count: ids.count)
            for (i, id) in ids.enumerated() { buf[i] = UInt16(truncatingIfNeeded: id).littleEndian }
            buf.withUnsafeBytes { d.append(contentsOf: $0) }
        } else {
            var buf = [UInt32](repeating: 0, count: ids.count)
            for (i, id) in ids.enumerated() { buf[i] = UInt32(truncatingIfNeeded: id).littleEndian }
            buf.withUnsafeBytes { d.append(contentsOf: $0) }
        }
        return d
    }

    public let path: String
    public let vocabularySize: Int
    public let count: Int
    public let bytesPerToken: Int
    private let file: MappedFile

    /// Opens and validates a shard (memory-mapped).
    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        var r = ByteReader(file.bytes)
        do {
            let m = try r.readBytes(4, "magic")
            guard Array(m) == TokenShard.magic else { throw TokenShardError.malformed(path: path, reason: "missing \"LTOK\" magic") }
            let version = try r.read(UInt32.self, "version")
            guard version == 1 else { throw TokenShardError.malformed(path: path, reason: "version \(version), expected 1") }
            let width = Int(try r.read(UInt32.self, "bytes per token"))
            guard width == 2 || width == 4 else { throw TokenShardError.malformed(path: path, reason: "bytes per token is \(width), expected 2 or 4") }
            vocabularySize = Int(try r.read(UInt32.self, "vocabulary size"))
            let n = try r.read(UInt64.self, "token count")
            let payload = file.count - TokenShard.headerSize
            guard payload >= 0, n <= UInt64(payload / width), Int(n) * width == payload else {
                throw TokenShardError.malformed(path: path, reason: "header says \(n) tokens of \(width) bytes but the file holds \(max(payload, 0)) bytes of tokens")
            }
            count = Int(n)
            bytesPerToken = width
        } catch let e as ByteReaderError {
            throw TokenShardError.malformed(path: path, reason: e.description)
        }
    }

    /// Token `i` (0 ≤ i < count).
    @inline(__always)
    public subscript(i: Int) -> TokenID {
        let off = TokenShard.headerSize + i * bytesPerToken
        if bytesPerToken == 2 {
            return TokenID(UInt16(littleEndian: file.bytes.loadUnaligned(fromByteOffset: off, as: UInt16.self)))
        }
        return TokenID(UInt32(littleEndian: file.bytes.loadUnaligned(fromByteOffset: off, as: UInt32.self)))
    }

    /// All ids, copied.
    public func ids() -> [TokenID] { (0..<count).map { self[$0] } }
}
