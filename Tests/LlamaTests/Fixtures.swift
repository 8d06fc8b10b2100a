import Foundation

/// Paths of the shared fixtures (`../shared` beside the repository). A missing fixture is a
/// test failure, never a silent skip.
enum Fixtures {
    static let sharedRoot: String = {
        if let env = ProcessInfo.processInfo.environment["SWIFTLLAMA_SHARED"] { return env }
        // Tests/LlamaTests/Fixtures.swift → repository root → ../shared
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return repo.deletingLastPathComponent().appendingPathComponent("shared").path
    }()

    struct Missing: Error, CustomStringConvertible {
        let path: String
        var description: String { "fixture missing: \(path) (set SWIFTLLAMA_SHARED to the shared/ folder)" }
    }

    /// The absolute path of a shared fixture; throws when it does not exist.
    static func shared(_ relative: String) throws -> String {
        let p = sharedRoot + "/" + relative
        guard FileManager.default.fileExists(atPath: p) else { throw Missing(path: p) }
        return p
    }

    /// The absolute path of a file the repository ships (such as `models/shakespeare.gguf`).
    static func repository(_ relative: String) throws -> String {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let p = repo.appendingPathComponent(relative).path
        guard FileManager.default.fileExists(atPath: p) else { throw Missing(path: p) }
        return p
    }
}
