import CKernels
import Foundation

/// What this build of the library is and what it was compiled for.
public enum BuildInfo {
    /// The library's version.
    public static let version = "0.9.0"

    /// Instruction-set extensions the kernels were compiled for (Package.swift compiles with
    /// `-target-cpu native` / `-march=native`, so these are the building machine's).
    public static var compiledFeatures: [String] {
        String(cString: swiftllama_compiled_features()).split(separator: " ").map(String.init)
    }

    /// True when the int8 VNNI matrix-matrix kernels are compiled in (prompt processing of
    /// Q8_0/Q4_0/Q4_K/Q6_K weights); false means those prompts take the fp32 path.
    public static var int8VNNIKernels: Bool { hasInt8GEMM }

    /// The CPU this process runs on, from /proc/cpuinfo ("model name"), when known.
    public static var cpuModel: String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("model name") {
            if let colon = line.firstIndex(of: ":") {
                return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    /// The multi-line text of `llama --version`.
    public static var summary: String {
        var lines = ["SwiftLlama \(version)"]
        #if arch(x86_64)
        lines.append("target CPU: native (the building machine), compiled for: \(compiledFeatures.joined(separator: " "))")
        #else
        lines.append("target CPU: generic")
        #endif
        lines.append("int8 VNNI kernels: \(int8VNNIKernels ? "on" : "off (prompts of quantized models use the fp32 path)")")
        if let cpu = cpuModel { lines.append("running on: \(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores") }
        return lines.joined(separator: "\n")
    }
}
