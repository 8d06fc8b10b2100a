// What the bfloat16 kernels (GEMMBF16.c, TrainingBF16.c) share: the one rounding of a
// float to bfloat16, and (included again inside a file's AVX-512 BF16 target region, with
// SWIFTLLAMA_BF16_VECTOR_HELPERS defined) its vector form and the 8 × 8 word transpose of the
// packers.
#ifndef SWIFTLLAMA_BF16_COMMON_H
#define SWIFTLLAMA_BF16_COMMON_H

#include <stdint.h>
#include <string.h>

// Rounds a float to the nearest bfloat16, ties to even, denormals to ±0: what
// vcvtneps2bf16 computes, so the plain paths round as the vector ones do.
static inline uint16_t swiftllama_float_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40);  // NaN stays NaN
    if ((u & 0x7F800000u) == 0) u &= 0x80000000u;                                // denormal → ±0
    u += 0x7FFFu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

#endif

#if defined(SWIFTLLAMA_BF16_VECTOR_HELPERS) && !defined(SWIFTLLAMA_BF16_VECTOR_HELPERS_DONE)
#define SWIFTLLAMA_BF16_VECTOR_HELPERS_DONE

// 16 floats → 16 bfloat16s (round to nearest even) in a 256-bit vector.
static inline __m256i swiftllama_bf16x16(__m512 v) { return (__m256i)_mm512_cvtneps_pbh(v); }

// 8 × 8 32-bit words: r[i] holds row i's words 0…7; afterwards r[q] holds word q of rows 0…7.
static inline __attribute__((always_inline)) void swiftllama_transpose8x8(__m256i r[8]) {
    const __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    const __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    const __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    const __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    const __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    const __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    const __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
    const __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
    r[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
    r[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
    r[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
    r[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
    r[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
    r[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
    r[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
    r[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

#endif
