import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Why an output path was refused.
public enum OutputPathError: Error, CustomStringConvertible {
    /// Writing `output` would replace `input`, which the command reads.
    case isInput(output: String, input: String)

    public var description: String {
        switch self {
        case let .isInput(output, input):
            return output == input
                ? "\(output): the output is the input file; write the output to another path"
                : "\(output): the output is the input file \(input) under another name; write the output to another path"
        }
    }
}

/// Files compared by device and inode, so that every spelling of one file (`./m.gguf`,
/// `dir/../m.gguf`, a symbolic or hard link) is recognised as the same file.
public enum FileIdentity {
    /// True when both paths exist and name the same file or directory.
    public static func same(_ a: String, _ b: String) -> Bool {
        guard let x = identity(a), let y = identity(b) else { return false }
        return x == y
    }

    /// Throws unless writing `output` leaves every input intact: `output` must not be one of
    /// `inputs`, nor a file directly inside an input directory (a Hugging Face checkpoint
    /// directory, a data directory), however either is spelled.
    public static func checkOutput(_ output: String, isNotAnyOf inputs: [String]) throws {
        guard let out = identity(output) else { return }  // does not exist yet: replaces nothing
        for input in inputs {
            if identity(input) == out { throw OutputPathError.isInput(output: output, input: input) }
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: input, isDirectory: &isDir), isDir.boolValue,
                  let names = try? FileManager.default.contentsOfDirectory(atPath: input) else { continue }
            for name in names where identity(input + "/" + name) == out {
                throw OutputPathError.isInput(output: output, input: input + "/" + name)
            }
        }
    }

    private struct ID: Equatable {
        let device: UInt64
        let inode: UInt64
    }

    private static func identity(_ path: String) -> ID? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return ID(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }
}
