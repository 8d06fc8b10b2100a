#!/usr/bin/env bash
# Builds Sources/CKernels (every kernel set, x86-64-v3 baseline as Package.swift does) with
# scripts/ckernel_paths.c, runs it once per kernel set this CPU has (LLAMA_KERNELS=generic,
# avx2, avx512-256, avx512) and checks they print the same dot products (to 5 significant
# digits: the float sums differ in order). The Swift tests also run every set through
# matmul (KernelSet.runnable); this script needs only a C compiler.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O3 -march=x86-64-v3 -ISources/CKernels/include Sources/CKernels/*.c scripts/ckernel_paths.c -o "$work/t" -lm
sets=(generic avx2)
grep -q avx512_vnni /proc/cpuinfo && sets+=(avx512-256 avx512)
for s in "${sets[@]}"; do
    LLAMA_KERNELS=$s "$work/t" | awk '{ for (k = 2; k <= NF; k++) $k = sprintf("%.5g", $k); print }' >"$work/out-$s"
done
for s in "${sets[@]}"; do diff "$work/out-generic" "$work/out-$s"; done
echo "kernel sets ${sets[*]} agree" && cat "$work/out-generic"
