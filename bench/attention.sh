#!/usr/bin/env bash
# The decode attention kernels alone, per cache type (bench/attention.c): CPU time per layer of
# a 1B-shaped model's decode step (8 kv heads × 4 query heads × 64) at a depth, one thread.
# Compiled as bench/kernels.sh compiles (clang when on PATH, else cc; CC overrides).
#   bench/attention.sh [depth=4096] [passes=5]
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"${CC:-$(command -v clang || echo cc)}" -O3 -march=x86-64-v3 -pthread -ISources/CKernels/include Sources/CKernels/*.c bench/attention.c -o "$work/attention" -lm
"$work/attention" "${1:-4096}" "${2:-5}"
