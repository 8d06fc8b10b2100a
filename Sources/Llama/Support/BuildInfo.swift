import CKernels
import Foundation

/// What this build of the library is and what it was compiled for.
public enum BuildInfo {
    /// The library's version.
    public static let version = "0.9.0"

    /// Instruction-set extensions the C kernels' baseline was compiled for (Package.swift:
    /// x86-64-v3); the kernel sets add AVX-512 per function and are chosen at run time
    /// (`KernelSet.selected`).
    public static var compiledFeatures: [String] {
        String(cString: swiftllama_compiled_features()).split(separator: " ").map(String.init)
    }

    /// True when the selected kernel set has an int8 matrix-matrix kernel (prompt processing
    /// of quantized weights: AVX-512 VNNI, or AVX2); false means those prompts take the fp32 path.
    public static var int8Kernels: Bool { hasInt8GEMM }

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
        lines.append("target CPU: native (the building machine); C kernels' baseline: \(compiledFeatures.joined(separator: " "))")
        #else
        lines.append("target CPU: generic")
        #endif
        let runnable = KernelSet.all.map { $0.runsHere ? $0.name : "\($0.name) (not on this CPU)" }
        lines.append("kernels: \(KernelSet.selected) — \(KernelSet.selectionReason); sets: \(runnable.joined(separator: ", "))")
        let sel = KernelSet.selected
        let int8Types = int8GEMMTypes.filter { sel.takesInt8GEMM($0) }.map(\.name).sorted()
        lines.append("int8 prompt kernels: " + (int8Kernels
            ? "\(sel.name) for \(int8Types.joined(separator: ", "))\(int8Types.count < int8GEMMTypes.count ? " (the other quantized types use the fp32 path)" : "")"
            : "off (prompts of quantized models use the fp32 path)"))
        let roles = ProductRole.allCases.filter { bf16ProductRoles.contains($0) }.map(\.rawValue)
        let bf16 = bf16GEMMWidth.map { width in
            roles.isEmpty ? "available (\(width) vdpbf16ps), used by no product (LLAMA_BF16_PRODUCTS=1 or a list of qkv,wo,gate_up,down,output turns it on)"
                : "\(width) vdpbf16ps for \(roles.joined(separator: ", ")) (LLAMA_BF16_PRODUCTS=0 forces fp32)"
        } ?? (cpuHasAVX512BF16 ? "off (LLAMA_BF16_PRODUCTS=0 or a non-AVX-512 kernel set; prompts of F16/BF16 models use the fp32 path)"
                               : "not on this CPU (prompts of F16/BF16 models use the fp32 path)")
        lines.append("BF16 prompt products: \(bf16)")
        if let cpu = cpuModel { lines.append("running on: \(cpu), \(ProcessInfo.processInfo.activeProcessorCount) cores") }
        return lines.joined(separator: "\n")
    }
}
