#!/usr/bin/env bash
# Rebuilds Tests/LlamaTests/Fixtures/kquant/quantize/: fp32 rows (input.f32, 8 rows × 512,
# from numpy: normal, uniform, heavy-tailed, all-positive, tiny, sparse with all-zero
# sub-blocks, outliers, constant) and the blocks llama.cpp's reference quantizers make of
# them (Q4_K.bin, Q5_K.bin, Q6_K.bin: quantize_row_q*_K_ref, what llama-quantize runs without
# an importance matrix), from ggml-quants.c of llama-cpp-python 0.3.36's vendored llama.cpp,
# compiled as its CMake build compiles it (ggml-base: -O3 -std=gnu11, no -march, so no FMA
# contraction) with scripts/llamacpp_quantize_driver.c.
#
#   scripts/make_kquant_quantize_fixture.sh [--dir LLAMACPP_DIR]   (the dir bench/llamacpp.sh --build fills)
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${LLAMACPP_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/swiftllama-llamacpp}"
[ "${1:-}" = "--dir" ] && dir="$2"
ggml="$dir/llama_cpp_python-0.3.36/vendor/llama.cpp/ggml"
[ -f "$ggml/src/ggml-quants.c" ] || { echo "no llama.cpp source under $dir (run bench/llamacpp.sh --build)" >&2; exit 1; }
out=Tests/LlamaTests/Fixtures/kquant/quantize
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O3 -DNDEBUG -std=gnu11 -I"$ggml/include" -I"$ggml/src" -c "$ggml/src/ggml-quants.c" -o "$work/quants.o"
cc -O2 -I"$ggml/include" scripts/llamacpp_quantize_driver.c "$work/quants.o" -lm -o "$work/driver"
python3 - "$out/input.f32" <<'PY'
import sys
import numpy as np
rng = np.random.default_rng(11)
n = 512
rows = [rng.normal(0, 0.02, n), rng.uniform(-1, 1, n), rng.standard_t(2, n) * 0.05,
        np.abs(rng.normal(0.3, 0.1, n)), rng.normal(0, 1e-6, n)]
sparse = rng.normal(0, 0.1, n); sparse[:64] = 0; sparse[300:316] = 0; rows.append(sparse)
spikes = rng.normal(0, 0.01, n); spikes[[5, 77, 260, 511]] = [3.0, -2.5, 1.7, -4.0]; rows.append(spikes)
rows.append(np.full(n, 0.125))
np.stack(rows).astype("<f4").tofile(sys.argv[1])
PY
for t in q4_K q5_K q6_K; do "$work/driver" $t 512 "$out/input.f32" "$out/$(echo $t | tr a-z A-Z).bin"; done
ls -l "$out"
