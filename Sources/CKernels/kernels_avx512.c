// The AVX-512 kernel set for CPUs that execute 512-bit vectors whole (Intel Xeon with
// VNNI): two rows per call, two blocks per 512-bit instruction, and the int8 GEMM for
// prompts. See kernels_x86.h.
#if defined(__x86_64__)
#include <immintrin.h>
#define K_VNNI 1
#define K_WIDE 1
#define K_AVX512 1
#define K_SET swiftllama_set_avx512
#define K_NAME "avx512"
#define K_DESCRIPTION "AVX-512 BW+VNNI, 512-bit two-row dots; 512-bit int8 GEMM"
#define K_TARGET "avx2,fma,f16c,bmi2,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"
// The two-row dots read rows r and r + 1 side by side, so 2048 bytes ahead of row r is
// mostly row r + 1, already being read: on Zen 5 they ran at 12–14 GB/s (one thread, 2048
// columns) against 20–30 for the one-row 256-bit dots, and at 20–30 with 8192 (bench/kernels.sh).
// Not measured on Intel, where this set was tuned at 2048.
#define PREFETCH_AHEAD 8192
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target(K_TARGET))), apply_to = function)
#include "kernels_x86.h"
#pragma clang attribute pop
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,bmi2,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")
#include "kernels_x86.h"
#pragma GCC pop_options
#endif
#endif
