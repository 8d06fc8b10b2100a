// swift-tools-version:6.1
import PackageDescription

// Kernels need SIMD instructions (AVX2/FMA/F16C at least, AVX-512 and VNNI where the CPU
// has them), which Swift and clang emit only when told the target CPU. `native` tunes the
// Swift code for the machine that compiles it, as llama.cpp's default GGML_NATIVE does: the
// binary is fast here and may not run on an older CPU. For a portable x86-64 binary (any
// AVX2 CPU) replace "native" by "haswell". The C kernels (CKernels) are built for the
// x86-64-v3 (Haswell) baseline either way and carry AVX-512 sets chosen at run time from
// CPUID (kernels_*.c), so they lose nothing where the CPU has more.
#if arch(x86_64)
let cpuFlags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "native"])]
let cCpuFlags: [CSetting] = [.unsafeFlags(["-march=x86-64-v3", "-O3"])]
#else
let cpuFlags: [SwiftSetting] = []
let cCpuFlags: [CSetting] = [.unsafeFlags(["-O3"])]
#endif

let package = Package(
    name: "SwiftLlama",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Llama", targets: ["Llama"]),
        .executable(name: "llama", targets: ["llama"]),
    ],
    // `swift build --traits MPI`: the `llama` commands become MPI programs when started by
    // `mpirun` (data-parallel `llama train`). Off by default: the default build needs no MPI.
    traits: [
        .trait(name: "MPI", description: "Open MPI (mpi.h via pkg-config `ompi`): data-parallel training under mpirun"),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // Only for the LlamaServer target (`llama serve`); the Llama library does not use it.
        // Without the swift-configuration trait: one package less to build.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: ["FullFoundation"]),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.14.0"),
    ],
    targets: [
        // The int8 dot products Swift SIMD cannot express well (see CKernels.h).
        .target(name: "CKernels", cSettings: cCpuFlags),
        // The system's zlib, for deflate in PNG output; a system library keeps the core
        // free of package dependencies.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // Open MPI's header and library, with a shim exporting its handle macros (see
        // shim.h). Only the `MPI` trait brings it in.
        .systemLibrary(name: "CMPI", pkgConfig: "ompi", providers: [.apt(["libopenmpi-dev"])]),
        .target(
            name: "Llama",
            dependencies: ["CKernels", "CZlib", .target(name: "CMPI", condition: .when(traits: ["MPI"]))],
            // Hot loops touch class-owned buffers; dynamic exclusivity checks there cost
            // measurable time and guard nothing the static checks don't.
            swiftSettings: cpuFlags + [.unsafeFlags(["-enforce-exclusivity=unchecked"])]
        ),
        // The OpenAI-compatible HTTP server behind `llama serve`, on Hummingbird; kept out of
        // the core library so that it stays free of SwiftNIO.
        .target(
            name: "LlamaServer",
            dependencies: [
                "Llama",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: cpuFlags
        ),
        .executableTarget(
            name: "llama",
            dependencies: [
                "Llama",
                "LlamaServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: cpuFlags
        ),
        // The test binary's counting malloc (AllocationTests: nothing allocated per token).
        .target(name: "CAllocationCounter", path: "Tests/CAllocationCounter"),
        .testTarget(
            name: "LlamaTests",
            // CZlib: the PNG tests inflate the encoder's output with zlib, not with our code.
            dependencies: ["Llama", "CZlib", "CAllocationCounter"],
            exclude: ["Fixtures"],  // read from their paths by the tests
            swiftSettings: cpuFlags
        ),
    ],
    swiftLanguageModes: [.v6]
)
