#!/usr/bin/env bash
# Times each generation kernel alone, per kernel set and weight type (bench/kernels.c), in
# GB/s of weights, one and two threads; compare with bench/bandwidth.sh. Then the BF16
# prompt GEMM (GFLOP/s, one thread, per vector width) where the CPU has AVX512_BF16; between
# them the R8 kernels against 1, 2, 4 and 8 tokens (one thread). Compiled with clang
# (what SwiftPM uses for Sources/CKernels) when it is on PATH, else cc; CC overrides.
#   bench/kernels.sh [MiB of weights=512] [passes=3] [r8: only the R8 token table]
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"${CC:-$(command -v clang || echo cc)}" -O3 -march=x86-64-v3 -pthread -ISources/CKernels/include Sources/CKernels/*.c bench/kernels.c -o "$work/kernels" -lm
"$work/kernels" "${1:-512}" "${2:-3}" "${3:-all}"
