import Foundation

// A split GGUF, as llama.cpp's `llama-gguf-split --split` writes it (and as large models are
// published): shards `NAME-00001-of-0000N.gguf` … `NAME-0000N-of-0000N.gguf`, each a GGUF of
// its own holding some of the tensors. Every shard has `split.no` (u16, 0-based),
// `split.count` (u16, N) and `split.tensors.count` (i32, the tensors of all shards); the first
// also has all the model's metadata. The model is opened through its first shard, as
// llama.cpp's loader requires, and every tensor stays in its own shard's memory map.

/// Why the shards of a split GGUF do not make one model.
public struct GGUFSplitError: Error, CustomStringConvertible {
    /// The file at fault (a shard that is missing or inconsistent, or the one opened).
    public let path: String
    public let message: String
    public var description: String { "\(path): \(message)" }
}

/// The shards of a split GGUF, or the one file of an unsplit one.
enum GGUFSplit {
    /// llama.cpp's shard name (`llama_split_path`): `PREFIX-%05d-of-%05d.gguf`.
    static func shardName(prefix: String, index: Int, count: Int) -> String {
        "\(prefix)-\(String(index + 1).leftPadded(to: 5))-of-\(String(count).leftPadded(to: 5)).gguf"
    }

    /// The path without `-0000I-of-0000N.gguf` when `path` is shard `index` of `count` under
    /// llama.cpp's naming (`llama_split_prefix`), else nil.
    static func prefix(of path: String, index: Int, count: Int) -> String? {
        let suffix = String(shardName(prefix: "", index: index, count: count))
        guard path.hasSuffix(suffix), path.count > suffix.count else { return nil }
        return String(path.dropLast(suffix.count))
    }

    /// The shards of the model whose first file is `first` (itself alone when it is not
    /// split), each checked: present, `split.no` its position, the same `split.count`, no
    /// tensor twice, and as many tensors in all as `split.tensors.count` says.
    static func shards(first: GGUFFile) throws -> [GGUFFile] {
        let path = first.path
        func int(_ file: GGUFFile, _ key: String) throws -> Int? {
            do { return try file.optionalInt(key) } catch { throw GGUFSplitError(path: file.path, message: "\(key): \(error)") }
        }
        guard let count = try int(first, "split.count"), count > 1 else { return [first] }
        guard count <= 99_999 else { throw GGUFSplitError(path: path, message: "split.count is \(count)") }
        let index = try int(first, "split.no") ?? 0
        let file = (path as NSString).lastPathComponent
        let prefix = prefix(of: path, index: index, count: count)
        guard index == 0 else {
            let firstName = prefix.map { (shardName(prefix: $0, index: 0, count: count) as NSString).lastPathComponent }
            throw GGUFSplitError(path: path, message: "this file is shard \(index + 1) of \(count) of a split GGUF (split.no \(index)); open the first shard\(firstName.map { ", \($0)," } ?? "") which loads the others")
        }
        guard let prefix else {
            throw GGUFSplitError(path: path, message: "this file is the first of \(count) shards of a split GGUF (split.count), but its name does not end in \(shardName(prefix: "", index: 0, count: count)), so the other shards cannot be found: keep the names llama-gguf-split gave them")
        }
        let paths = (1..<count).map { shardName(prefix: prefix, index: $0, count: count) }
        let missing = paths.filter { !FileManager.default.fileExists(atPath: $0) }
        guard missing.isEmpty else {
            let names = missing.map { ($0 as NSString).lastPathComponent }
            throw GGUFSplitError(path: missing[0], message: "missing: \(file) is the first of \(count) shards of a split GGUF and \(names.count == 1 ? "this shard is" : "these shards are") not beside it: \(names.joined(separator: ", "))")
        }
        var files = [first]
        var owner = [String: String]()
        for t in first.tensors { owner[t.name] = path }
        for (i, p) in paths.enumerated() {
            let shard: GGUFFile
            do { shard = try GGUFFile(path: p) } catch {
                throw GGUFSplitError(path: p, message: "shard \(i + 2) of \(count) of \(file) cannot be read: \(error)")
            }
            guard let no = try int(shard, "split.no") else {
                throw GGUFSplitError(path: p, message: "has no split.no: not a shard written by llama-gguf-split")
            }
            guard no == i + 1 else {
                throw GGUFSplitError(path: p, message: "split.no is \(no), expected \(i + 1) for shard \(i + 2) of \(count)")
            }
            if let c = try int(shard, "split.count"), c != count {
                throw GGUFSplitError(path: p, message: "split.count is \(c), but \(file) says \(count)")
            }
            for t in shard.tensors {
                if let other = owner[t.name] {
                    throw GGUFSplitError(path: p, message: "tensor \(t.name) is also in \((other as NSString).lastPathComponent)")
                }
                owner[t.name] = p
            }
            files.append(shard)
        }
        if let expected = try int(first, "split.tensors.count"), expected != owner.count {
            throw GGUFSplitError(path: path, message: "split.tensors.count is \(expected), but the \(count) shards hold \(owner.count) tensors")
        }
        return files
    }
}
