#!/usr/bin/env bash
# Builds Sources/CKernels/CKernels.c three ways (portable C, AVX2 without AVX-512, -march=native)
# with scripts/ckernel_paths.c and checks the three print the same dot products (to 5
# significant digits: the float sums differ in order), so the paths this machine does not
# run stay correct.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
i=0
for flags in "" "-mavx2 -mfma -mf16c" "-march=native"; do
    cc -O2 $flags -ISources/CKernels/include Sources/CKernels/CKernels.c scripts/ckernel_paths.c -o "$work/t$i" -lm
    "$work/t$i" | awk '{ for (k = 2; k <= NF; k++) $k = sprintf("%.5g", $k); print }' >"$work/out$i"
    i=$((i + 1))
done
diff "$work/out0" "$work/out1" && diff "$work/out0" "$work/out2" && echo "portable, AVX2 and native kernels agree" && cat "$work/out0"
