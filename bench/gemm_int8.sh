#!/usr/bin/env bash
# The int8 prompt GEMM per weight type (bench/gemm_int8.c): packing and multiply time of a
# 2048 × 2048 matrix by 512 tokens, one thread, CPU time. LLAMA_KERNELS picks the set.
#   bench/gemm_int8.sh [passes=2] [type]
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"${CC:-$(command -v clang || echo cc)}" -O3 -march=x86-64-v3 -ISources/CKernels/include Sources/CKernels/*.c bench/gemm_int8.c -o "$work/gemm" -lm
"$work/gemm" "$@"
