// What the attention kernels (Attention.c, FlashAttention.c) share about the cache's layouts.
#ifndef SWIFTLLAMA_ATTENTION_COMMON_H
#define SWIFTLLAMA_ATTENTION_COMMON_H

#include "Attention.h"
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define ATTENTION_COMMON_X86 1
#else
#define ATTENTION_COMMON_X86 0
#endif

// Element `at` of a cache of `type` (fp32, IEEE half, or Q8_0 blocks of 32: an fp16 scale and
// 32 int8s) as a float: the plain loops' and the widening steps' one reader.
static inline float swiftllama_cache_element(const void *base, int type, long at) {
    if (type == SWIFTLLAMA_CACHE_Q8_0) {
        const uint8_t *b = (const uint8_t *)base + (at >> 5) * 34;
        uint16_t h = (uint16_t)(b[0] | (b[1] << 8));
        float d;
        swiftllama_halves_to_floats(&h, &d, 1);
        return d * (float)(int8_t)b[2 + (at & 31)];
    }
    if (type == SWIFTLLAMA_CACHE_F16) {
        uint16_t h = ((const uint16_t *)base)[at];
        float f;
        swiftllama_halves_to_floats(&h, &f, 1);
        return f;
    }
    return ((const float *)base)[at];
}

#if ATTENTION_COMMON_X86

// Eight elements from element `at` (a multiple of 8) of a cache of `type`, as floats: for
// Q8_0, d · q in fp32 (the value swiftllama_cache_element gives).
static inline __m256 swiftllama_cache_load8(const void *base, int type, long at) {
    if (type == SWIFTLLAMA_CACHE_F16) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + at)));
    if (type == SWIFTLLAMA_CACHE_Q8_0) {
        const uint8_t *b = (const uint8_t *)base + (at >> 5) * 34;
        uint16_t h;
        memcpy(&h, b, 2);
        const __m256 d = _mm256_cvtph_ps(_mm_set1_epi16((short)h));
        const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b + 2 + (at & 31))));
        return _mm256_mul_ps(d, _mm256_cvtepi32_ps(q));
    }
    return _mm256_loadu_ps((const float *)base + at);
}

// `n` elements from element `at` into dst as floats, the very floats of
// swiftllama_cache_load8 (for Q8_0 `at` and `n` are multiples of 32 and each block's scale is
// widened once for its 32 elements, not once per 8; for the others multiples of 8).
static inline void swiftllama_cache_widen(const void *base, int type, long at, int n, float *dst) {
    if (type == SWIFTLLAMA_CACHE_Q8_0) {
        const uint8_t *b = (const uint8_t *)base + (at >> 5) * 34;
        for (int c = 0; c < n; c += 32, b += 34) {
            uint16_t h;
            memcpy(&h, b, 2);
            const __m256 d = _mm256_cvtph_ps(_mm_set1_epi16((short)h));
            for (int i = 0; i < 32; i += 8) {
                const __m256i q = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b + 2 + i)));
                _mm256_storeu_ps(dst + c + i, _mm256_mul_ps(d, _mm256_cvtepi32_ps(q)));
            }
        }
        return;
    }
    if (type == SWIFTLLAMA_CACHE_F16) {
        const uint16_t *h = (const uint16_t *)base + at;
        for (int c = 0; c < n; c += 8) _mm256_storeu_ps(dst + c, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + c))));
        return;
    }
    memcpy(dst, (const float *)base + at, sizeof(float) * (size_t)n);
}

#endif

#endif
