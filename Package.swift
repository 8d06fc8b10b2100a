// swift-tools-version:6.0
import PackageDescription

// Kernels need AVX2/FMA/F16C, which Swift emits only when told the target CPU.
// `haswell` (2013+ Intel, 2015+ AMD) keeps the binary portable to any x86-64
// machine of the last decade; it will not run on older or non-AVX2 CPUs.
#if arch(x86_64)
let cpuFlags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
let cCpuFlags: [CSetting] = [.unsafeFlags(["-march=haswell", "-O3"])]
#else
let cpuFlags: [SwiftSetting] = []
let cCpuFlags: [CSetting] = [.unsafeFlags(["-O3"])]
#endif

let package = Package(
    name: "SwiftLlama",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Llama", targets: ["Llama"]),
        .executable(name: "llama", targets: ["llama"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // The int8 dot products Swift SIMD cannot express well (see CKernels.h).
        .target(name: "CKernels", cSettings: cCpuFlags),
        .target(
            name: "Llama",
            dependencies: ["CKernels"],
            // Hot loops touch class-owned buffers; dynamic exclusivity checks there cost
            // measurable time and guard nothing the static checks don't.
            swiftSettings: cpuFlags + [.unsafeFlags(["-enforce-exclusivity=unchecked"])]
        ),
        .executableTarget(
            name: "llama",
            dependencies: [
                "Llama",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: cpuFlags
        ),
        .testTarget(
            name: "LlamaTests",
            dependencies: ["Llama"],
            exclude: ["Fixtures"],  // read from their paths by the tests
            swiftSettings: cpuFlags
        ),
    ],
    swiftLanguageModes: [.v6]
)
