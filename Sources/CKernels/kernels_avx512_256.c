// The AVX-512 kernel set for CPUs that execute 512-bit vectors as two 256-bit halves (AMD
// Zen 4): 256-bit vectors with AVX-512 VL + VNNI (one vpdpbusd per 32 byte products), one
// row per call, and the 512-bit int8 GEMM for prompts. See kernels_x86.h.
#if defined(__x86_64__)
#include <immintrin.h>
#define K_VNNI 1
#define K_WIDE 0
#define K_AVX512 1
#define K_SET swiftllama_set_avx512_256
#define K_NAME "avx512-256"
#define K_DESCRIPTION "AVX-512 VL+VNNI on 256-bit vectors, one row per call; 512-bit int8 GEMM"
#define K_TARGET "avx2,fma,f16c,bmi2,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"
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
