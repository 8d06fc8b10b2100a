// Small-batch kernels (SmallBatch.h). Kept apart from CKernels.c: the helpers below repeat
// that file's Q4_0 unpacking (static there), in the same lane order, so that the sums are
// bit for bit those of swiftllama_dot2_q4_0.
#include "SmallBatch.h"
#include "CKernels.h"
#include <string.h>

// Compiled for AVX-512 VNNI by target attribute (the target's baseline is x86-64-v3); called
// only when the selected kernel set has the int8 GEMM, i.e. the CPU has these instructions
// (Kernels/SmallBatch.swift checks `hasInt8GEMM`).
#if defined(__x86_64__) && defined(__clang__)
#include <immintrin.h>
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,bmi2,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni"))), apply_to = function)

#define SB_PREFETCH_AHEAD 2048

static inline float sb_half(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

// Two Q4_0 blocks' nibbles as 64 unsigned bytes in 128-bit lanes [b low, b+1 low, b high,
// b+1 high] (CKernels.c's q4_0_pair).
static inline __m512i sb_q4_0_pair(const uint8_t *p) {
    const __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(p + 2))),
                                              _mm_loadu_si128((const __m128i *)(p + 20)), 1);
    const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1);
    return _mm512_and_si512(both, _mm512_set1_epi8(0x0F));
}

// 16 lanes [a ×4, b ×4, a ×4, b ×4], matching the pair's lane order.
static inline __m512 sb_quads(float a, float b) {
    const __m512i idx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(_mm_setr_ps(a, b, 0, 0)));
}

void swiftllama_q4_0_pair_order(int8_t *xq, int blocks) {
    for (int b = 0; b + 2 <= blocks; b += 2) {
        const __m512i xr = _mm512_loadu_si512((const void *)(xq + 32 * b));
        _mm512_storeu_si512((void *)(xq + 32 * b), _mm512_shuffle_i64x2(xr, xr, _MM_SHUFFLE(3, 1, 2, 0)));
    }
}

// T tokens (a compile-time constant after inlining) against two rows: each pair of blocks
// is unpacked once, then meets every token. The offset 8·Σx (Q4_0 stores q + 8) is one
// product per token shared by both rows, and starts their accumulators.
static inline __attribute__((always_inline)) void dot2xT(const uint8_t *p, const uint8_t *q, const int8_t *xq,
                                                         const float *xd, int blocks, float *out, const int T) {
    __m512 a0[4], a1[4];
    for (int t = 0; t < T; t++) a0[t] = a1[t] = _mm512_setzero_ps();
    const long stride = 32L * blocks;
    int b = 0;
    for (; b + 2 <= blocks; b += 2) {
        const uint8_t *pb = p + 18 * b, *qb = q + 18 * b;
        _mm_prefetch((const char *)pb + SB_PREFETCH_AHEAD, _MM_HINT_T0);
        _mm_prefetch((const char *)qb + SB_PREFETCH_AHEAD, _MM_HINT_T0);
        const __m512i v0 = sb_q4_0_pair(pb), v1 = sb_q4_0_pair(qb);
        const __m512 w0 = sb_quads(sb_half(pb), sb_half(pb + 18)), w1 = sb_quads(sb_half(qb), sb_half(qb + 18));
        for (int t = 0; t < T; t++) {
            const __m512i x = _mm512_loadu_si512((const void *)(xq + stride * t + 32 * b));
            const __m512i off = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(8), x);
            const __m512i start = _mm512_sub_epi32(_mm512_setzero_si512(), off);
            const __m512i s0 = _mm512_dpbusd_epi32(start, v0, x);
            const __m512i s1 = _mm512_dpbusd_epi32(start, v1, x);
            const __m512 xs = sb_quads(xd[blocks * t + b], xd[blocks * t + b + 1]);
            a0[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), _mm512_mul_ps(w0, xs), a0[t]);
            a1[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1), _mm512_mul_ps(w1, xs), a1[t]);
        }
    }
    for (int t = 0; t < T; t++) {
        float r0 = _mm512_reduce_add_ps(a0[t]), r1 = _mm512_reduce_add_ps(a1[t]);
        if (b < blocks) {
            r0 += swiftllama_dot_q4_0(p + 18 * b, xq + stride * t + 32 * b, xd + blocks * t + b, 1);
            r1 += swiftllama_dot_q4_0(q + 18 * b, xq + stride * t + 32 * b, xd + blocks * t + b, 1);
        }
        out[2 * t] = r0;
        out[2 * t + 1] = r1;
    }
}

void swiftllama_dot2xn_q4_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks,
                            int tokens, float *out) {
    const uint8_t *p = (const uint8_t *)w0, *q = (const uint8_t *)w1;
    switch (tokens) {
    case 1: dot2xT(p, q, xq, xd, blocks, out, 1); break;
    case 2: dot2xT(p, q, xq, xd, blocks, out, 2); break;
    case 3: dot2xT(p, q, xq, xd, blocks, out, 3); break;
    default: dot2xT(p, q, xq, xd, blocks, out, 4); break;
    }
}

#pragma clang attribute pop

#else

void swiftllama_q4_0_pair_order(int8_t *xq, int blocks) {
    (void)xq;
    (void)blocks;
}

void swiftllama_dot2xn_q4_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks,
                            int tokens, float *out) {
    for (int t = 0; t < tokens && t < 4; t++) {
        swiftllama_dot2_q4_0(w0, w1, xq + 32L * blocks * t, xd + (long)blocks * t, blocks, out + 2 * t);
    }
}

#endif
