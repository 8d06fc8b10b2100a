// The AVX2 kernel set (AVX2, FMA, F16C: every x86-64 CPU since Haswell / Zen 1): u8·s8
// products by vpmaddubsw + vpmaddwd, one row per call. See kernels_x86.h.
#if defined(__x86_64__)
#include <immintrin.h>
#define K_VNNI 0
#define K_WIDE 0
#define K_AVX512 0
#define K_SET swiftllama_set_avx2
#define K_NAME "avx2"
#define K_DESCRIPTION "AVX2+FMA+F16C, 256-bit, one row per call"
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,bmi2"))), apply_to = function)
#include "kernels_x86.h"
#pragma clang attribute pop
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,bmi2")
#include "kernels_x86.h"
#pragma GCC pop_options
#endif
#endif
