import Foundation
import Synchronization
import Llama
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct AtomicFileTests {
    func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "swiftllama-atomic-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// Many writes of one file at once in one process: each must land whole, none may fail
    /// on another's temporary file, and none may be left behind.
    @Test func concurrentWritesOfOneFileDoNotCollide() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/same.bin"
        let payloads = (0..<64).map { i in Data(repeating: UInt8(i), count: 32_768 + i) }
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: payloads.count) { i in
            do { try AtomicFile.write(payloads[i], to: path) } catch { failures.withLock { $0.append("\(error)") } }
        }
        #expect(failures.withLock { $0 } == [])
        let final = try #require(FileManager.default.contents(atPath: path))
        #expect(payloads.contains(final), "the file is a mix of writes")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["same.bin"])
    }

    /// A writer killed mid-write leaves `.NAME.tmp-PID…`; the next write of NAME removes it
    /// when PID is gone, and leaves live writers' files and other targets' files alone.
    @Test func staleTemporariesOfDeadWritersAreRemovedOnTheNextWrite() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let gone = Process()
        gone.executableURL = URL(fileURLWithPath: "/bin/true")
        try gone.run()
        gone.waitUntilExit()
        let dead = gone.processIdentifier
        try #require(kill(dead, 0) != 0, "pid \(dead) was reused at once")
        let stale = [".x.bin.tmp-\(dead)", ".x.bin.tmp-\(dead)-7"]  // the old naming, and the new one
        let kept = [".x.bin.tmp-1-0", ".x.bin.tmp-\(getpid())-99999", ".y.bin.tmp-\(dead)-0", ".x.bin.tmp-notapid"]
        for name in stale + kept { try Data("partial".utf8).write(to: URL(fileURLWithPath: dir + "/" + name)) }
        try AtomicFile.write(Data("whole".utf8), to: dir + "/x.bin")
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: dir))
        #expect(left == Set(kept + ["x.bin"]))
    }
}
