#!/usr/bin/env bash
# The row-interleaved Q4_0 kernel with two threads taking every other chunk of row groups
# against contiguous halves (bench/chunk_order.c): why `ParallelFor.runChunked` hands each
# core its own contiguous share first. Usage: bench/chunk_order.sh [MiB=512] [row groups per chunk=8]
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"${CC:-$(command -v clang || echo cc)}" -O3 -march=x86-64-v3 -pthread -ISources/CKernels/include Sources/CKernels/*.c bench/chunk_order.c -o "$work/chunk_order" -lm
"$work/chunk_order" "${1:-512}" "${2:-8}"
