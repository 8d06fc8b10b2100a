// ZIP archive layout (PKWARE APPNOTE), the subset torch.save writes, as this reader enforces it:
//
//   [local file header + data] × n, central directory, [ZIP64 end record + locator], end record
//
//   End of central directory (EOCD), found by scanning back from the end (it may be
//   followed by a comment of up to 65535 bytes):
//     u32 0x06054b50, u16 disk, u16 cd disk, u16 entries on disk, u16 entries,
//     u32 cd size, u32 cd offset, u16 comment length
//   A field of all ones means "see the ZIP64 record": a locator (u32 0x07064b50, u32 disk,
//   u64 offset of the ZIP64 EOCD, u32 disks) sits right before the EOCD, and the ZIP64 EOCD
//   (u32 0x06064b50, u64 size, u16 ×2 versions, u32 ×2 disks, u64 entries on disk,
//   u64 entries, u64 cd size, u64 cd offset) holds the 64-bit values.
//   Central directory entry: u32 0x02014b50, u16 ×2 versions, u16 flags, u16 method,
//     u16 ×2 time/date, u32 crc, u32 compressed, u32 uncompressed, u16 name length,
//     u16 extra length, u16 comment length, u16 disk, u16 internal attrs, u32 external attrs,
//     u32 local header offset, name, extra, comment. In the extra field, block 0x0001
//     (ZIP64) holds, in this order, the u64 uncompressed size, compressed size and local
//     header offset, each present only when the 32-bit field is all ones.
//   Local header: u32 0x04034b50, 22 bytes of fields, u16 name length, u16 extra length at
//     26/28, name, extra, then the data. Sizes are taken from the central directory.
//
// Only stored (method 0), unencrypted, single-disk archives are accepted: torch.save never
// compresses, and stored entries can be memory-mapped in place.

/// Why a zip archive could not be read.
public enum ZipError: Error, CustomStringConvertible, Equatable {
    case malformed(path: String, offset: Int, message: String)
    case unsupported(path: String, entry: String, message: String)
    case missingEntry(path: String, entry: String)

    public var description: String {
        switch self {
        case let .malformed(path, offset, message): return "\(path): malformed zip archive at byte offset \(offset): \(message)"
        case let .unsupported(path, entry, message): return "\(path): zip entry \"\(entry)\": \(message)"
        case let .missingEntry(path, entry): return "\(path): zip archive has no entry \"\(entry)\""
        }
    }
}

/// A read-only zip archive of stored entries; entry data are slices of the given bytes.
public struct ZipArchive: @unchecked Sendable {
    /// One stored entry: its name and where its data lie in the archive bytes.
    public struct Entry: Sendable, Equatable {
        /// The full name, folders included (`archive/data/0`).
        public let name: String
        /// Where the stored bytes lie in the archive.
        public let dataRange: Range<Int>
    }

    /// The archive's path, for error messages.
    public let path: String
    /// The whole archive.
    public let bytes: UnsafeRawBufferPointer
    /// Entries in central-directory order.
    public let entries: [Entry]
    private let index: [String: Int]

    static let eocdSignature: UInt32 = 0x0605_4b50
    static let zip64LocatorSignature: UInt32 = 0x0706_4b50
    static let zip64EOCDSignature: UInt32 = 0x0606_4b50
    static let centralSignature: UInt32 = 0x0201_4b50
    static let localSignature: UInt32 = 0x0403_4b50

    /// Parses the central directory of `bytes` (the whole archive); `path` names it in errors.
    public init(bytes: UnsafeRawBufferPointer, path: String) throws {
        self.path = path
        self.bytes = bytes
        func malformed(_ offset: Int, _ message: String) -> ZipError { .malformed(path: path, offset: offset, message: message) }
        func wrap<T>(_ body: () throws -> T) throws -> T {
            do { return try body() } catch let e as ByteReaderError { throw malformed(e.offset, e.message) }
        }

        // End of central directory: the last signature that leaves room for its fixed part.
        guard bytes.count >= 22 else { throw malformed(0, "file is \(bytes.count) bytes, too short for a zip archive") }
        var eocd = -1
        var pos = bytes.count - 22
        let lowest = max(0, bytes.count - 22 - 65535)
        while pos >= lowest {
            if bytes.loadUnaligned(fromByteOffset: pos, as: UInt32.self) == UInt32(littleEndian: ZipArchive.eocdSignature) {
                eocd = pos
                break
            }
            pos -= 1
        }
        guard eocd >= 0 else { throw malformed(bytes.count, "no end-of-central-directory record (not a zip archive, or truncated)") }

        var entryCount = 0, cdSize = 0, cdOffset = 0
        try wrap {
            var r = ByteReader(bytes, offset: eocd + 4)
            let disk = try r.read(UInt16.self, "disk number")
            let cdDisk = try r.read(UInt16.self, "central directory disk")
            _ = try r.read(UInt16.self, "entries on this disk")
            let n16 = try r.read(UInt16.self, "entry count")
            let size32 = try r.read(UInt32.self, "central directory size")
            let off32 = try r.read(UInt32.self, "central directory offset")
            entryCount = Int(n16); cdSize = Int(size32); cdOffset = Int(off32)
            if n16 == 0xFFFF || size32 == 0xFFFF_FFFF || off32 == 0xFFFF_FFFF {
                guard eocd >= 20 else { throw malformed(eocd, "ZIP64 values expected but no ZIP64 locator fits before the end record") }
                var l = ByteReader(bytes, offset: eocd - 20)
                guard try l.read(UInt32.self, "ZIP64 locator signature") == ZipArchive.zip64LocatorSignature else {
                    throw malformed(eocd - 20, "ZIP64 values expected but the ZIP64 end-of-central-directory locator is missing")
                }
                _ = try l.read(UInt32.self, "ZIP64 EOCD disk")
                let recordOffset = try l.read(UInt64.self, "ZIP64 EOCD offset")
                guard recordOffset <= UInt64(eocd - 20) else { throw malformed(eocd - 12, "ZIP64 EOCD offset \(recordOffset) is past the locator") }
                var z = ByteReader(bytes, offset: Int(recordOffset))
                guard try z.read(UInt32.self, "ZIP64 EOCD signature") == ZipArchive.zip64EOCDSignature else {
                    throw malformed(Int(recordOffset), "no ZIP64 end-of-central-directory record where the locator points")
                }
                try z.skip(8 + 2 + 2 + 4 + 4 + 8, "ZIP64 EOCD fields")
                let n64 = try z.read(UInt64.self, "ZIP64 entry count")
                let size64 = try z.read(UInt64.self, "ZIP64 central directory size")
                let off64 = try z.read(UInt64.self, "ZIP64 central directory offset")
                guard n64 <= UInt64(bytes.count / 46), size64 <= UInt64(bytes.count), off64 <= UInt64(bytes.count) else {
                    throw malformed(Int(recordOffset), "ZIP64 central directory (\(n64) entries, \(size64) bytes at \(off64)) does not fit in the file")
                }
                entryCount = Int(n64); cdSize = Int(size64); cdOffset = Int(off64)
            } else if disk != 0 || cdDisk != 0 {
                throw malformed(eocd, "multi-disk archives are not supported")
            }
        }
        guard cdOffset <= bytes.count, cdSize <= bytes.count - cdOffset else {
            throw malformed(eocd, "central directory (\(cdSize) bytes at offset \(cdOffset)) extends past the end of the file")
        }
        guard entryCount <= cdSize / 46 else {
            throw malformed(eocd, "\(entryCount) entries cannot fit in a central directory of \(cdSize) bytes")
        }

        var list: [Entry] = []
        list.reserveCapacity(entryCount)
        var idx: [String: Int] = [:]
        try wrap {
            let cd = UnsafeRawBufferPointer(rebasing: bytes[0..<(cdOffset + cdSize)])
            var r = ByteReader(cd, offset: cdOffset)
            for i in 0..<entryCount {
                let start = r.offset
                guard try r.read(UInt32.self, "central directory entry #\(i) signature") == ZipArchive.centralSignature else {
                    throw malformed(start, "central directory entry #\(i) has a bad signature")
                }
                try r.skip(4, "versions")
                let flags = try r.read(UInt16.self, "flags")
                let method = try r.read(UInt16.self, "compression method")
                try r.skip(8, "time, date, crc")
                var compressed = UInt64(try r.read(UInt32.self, "compressed size"))
                var uncompressed = UInt64(try r.read(UInt32.self, "uncompressed size"))
                let nameLength = Int(try r.read(UInt16.self, "name length"))
                let extraLength = Int(try r.read(UInt16.self, "extra length"))
                let commentLength = Int(try r.read(UInt16.self, "comment length"))
                try r.skip(8, "disk and attributes")
                var localOffset = UInt64(try r.read(UInt32.self, "local header offset"))
                let nameBytes = try r.readBytes(nameLength, "entry name")
                let name = String(decoding: nameBytes, as: UTF8.self)
                var extra = ByteReader(try r.readBytes(extraLength, "extra field of \(name)"))
                try r.skip(commentLength, "comment of \(name)")

                while extra.remaining >= 4 {
                    let id = try extra.read(UInt16.self, "extra block id")
                    let size = Int(try extra.read(UInt16.self, "extra block size"))
                    var block = ByteReader(try extra.readBytes(size, "extra block of \(name)"))
                    if id == 0x0001 {
                        if uncompressed == 0xFFFF_FFFF { uncompressed = try block.read(UInt64.self, "ZIP64 uncompressed size of \(name)") }
                        if compressed == 0xFFFF_FFFF { compressed = try block.read(UInt64.self, "ZIP64 compressed size of \(name)") }
                        if localOffset == 0xFFFF_FFFF { localOffset = try block.read(UInt64.self, "ZIP64 local header offset of \(name)") }
                    }
                }
                guard flags & 1 == 0 else { throw ZipError.unsupported(path: path, entry: name, message: "is encrypted") }
                guard method == 0 else {
                    throw ZipError.unsupported(path: path, entry: name,
                                               message: "is compressed (method \(method)); only stored entries (method 0, as torch.save writes) are supported")
                }
                guard compressed == uncompressed else {
                    throw malformed(start, "stored entry \"\(name)\" has compressed size \(compressed) but uncompressed size \(uncompressed)")
                }
                guard localOffset < UInt64(bytes.count) else {
                    throw malformed(start, "entry \"\(name)\": local header offset \(localOffset) is outside the file")
                }
                var l = ByteReader(bytes, offset: Int(localOffset))
                guard try l.read(UInt32.self, "local header signature of \(name)") == ZipArchive.localSignature else {
                    throw malformed(Int(localOffset), "entry \"\(name)\": no local file header at offset \(localOffset)")
                }
                try l.skip(22, "local header fields of \(name)")
                let localName = Int(try l.read(UInt16.self, "local name length of \(name)"))
                let localExtra = Int(try l.read(UInt16.self, "local extra length of \(name)"))
                try l.skip(localName + localExtra, "local name and extra of \(name)")
                let dataStart = l.offset
                guard uncompressed <= UInt64(bytes.count - dataStart) else {
                    throw malformed(dataStart, "entry \"\(name)\": \(uncompressed) bytes of data extend past the end of the file (\(bytes.count) bytes)")
                }
                if idx[name] == nil { idx[name] = list.count }
                list.append(Entry(name: name, dataRange: dataStart..<(dataStart + Int(uncompressed))))
            }
        }
        entries = list
        index = idx
    }

    /// The entry with this exact name, or nil.
    public func entry(_ name: String) -> Entry? { index[name].map { entries[$0] } }

    /// An entry's data (no copy).
    public func data(of entry: Entry) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[entry.dataRange])
    }
}
