import Foundation
import Testing
import Llama

/// Files built to make a reader allocate far more than their size: each reader must stay
/// within a small multiple of the file, or refuse.
@Suite struct HostileFileTests {
    /// Runs `llama` with its address space limited to `kib` KiB (`ulimit -v`, which counts
    /// the mapped file too): a reader that allocates per element aborts, a compact one ends
    /// with its own error.
    static func runLimited(_ kib: Int, _ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
        try GenerateCommandTests().run(["-c", "ulimit -v \(kib) && exec \"$0\" \"$@\"", try GenerateCommandTests.executable()] + arguments,
                                       executable: "/bin/sh")
    }

    func temp(_ name: String) -> String { NSTemporaryDirectory() + "swiftllama-hostile-\(UUID().uuidString)-\(name)" }

    /// A 38 MiB GGUF of one u8 array of 20 M elements and one array of 2.5 M empty strings
    /// made the reader allocate over 1 GB (a heap value per element: it aborted under a 1 GB
    /// limit). Now the arrays stay compact and the whole run fits in ~290 MiB of address
    /// space, the mapped file and the runtime included.
    @Test func hugeMetadataArraysStayCompact() throws {
        var out: [UInt8] = []
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func str(_ s: String) { u64(UInt64(s.utf8.count)); out.append(contentsOf: s.utf8) }
        let bytesCount = 20_000_000, stringCount = 2_500_000
        out.append(contentsOf: Array("GGUF".utf8))
        u32(3); u64(0); u64(2)
        str("hostile.bytes"); u32(9); u32(0); u64(UInt64(bytesCount))
        out.append(contentsOf: [UInt8](repeating: 7, count: bytesCount))
        str("hostile.strings"); u32(9); u32(8); u64(UInt64(stringCount))
        out.append(contentsOf: [UInt8](repeating: 0, count: 8 * stringCount))
        let path = temp("arrays.gguf")
        try Data(out).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }

        let f = try GGUFFile(path: path)
        guard case let .array(bytes)? = f.metadata["hostile.bytes"], case let .array(strings)? = f.metadata["hostile.strings"] else {
            Issue.record("arrays not read as arrays")
            return
        }
        #expect(bytes.count == bytesCount && bytes.elementType == 0 && bytes[12345] == .unsigned(7))
        #expect(strings.count == stringCount && strings[stringCount - 1] == .string(""))

        let run = try Self.runLimited(300_000, ["tokenize", "--tokenizer", path, "x"])
        #expect(run.status == 1 && run.err.contains("no vocabulary"), "status \(run.status): \(run.err)")
    }

    /// Arrays that claim more elements than the file holds are refused before allocating.
    @Test func arrayCountsBeyondTheFileAreRefused() throws {
        for (type, what) in [(UInt32(0), "elements"), (8, "strings"), (9, "arrays")] {
            var out: [UInt8] = Array("GGUF".utf8)
            func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
            func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
            u32(3); u64(0); u64(1)
            u64(1); out.append(UInt8(ascii: "k")); u32(9); u32(type); u64(1 << 40)
            out.append(contentsOf: [UInt8](repeating: 0, count: 64))
            let path = temp("claims.gguf")
            try Data(out).write(to: URL(fileURLWithPath: path))
            defer { unlink(path) }
            #expect { _ = try GGUFFile(path: path) } throws: { error in
                "\(error)".contains("malformed GGUF") && "\(error)".contains("cannot fit") && !what.isEmpty
            }
        }
    }

    /// A pickle of EMPTY_TUPLE APPEND pairs grew ~42× its size; it is refused once it builds
    /// more than a state dict of its size could, naming the file and offset.
    @Test func pickleThatBuildsTooMuchIsRefused() throws {
        let pairs = 4_000_000
        var bytes: [UInt8] = [0x80, 0x02, 0x5D]  // PROTO 2, EMPTY_LIST
        bytes.reserveCapacity(2 * pairs + 4)
        for _ in 0..<pairs { bytes += [0x29, 0x61] }  // EMPTY_TUPLE, APPEND
        bytes.append(0x2E)  // STOP
        #expect { _ = try bytes.withUnsafeBytes { try TorchPickle.loadStateDict($0, path: "hostile.pkl") } } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("hostile.pkl: pickle at byte offset ") && text.contains("refused") && text.contains("MiB")
        }
    }
}
