#include "CKernels.h"
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>

static inline float half_to_float(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

// 32 signed byte products summed to 8 int32 lanes, as floats. vpmaddubsw multiplies
// unsigned by signed bytes, so |x| carries the magnitude and w takes x's sign.
static inline __m256 products(__m256i w, __m256i x) {
    const __m256i ax = _mm256_sign_epi8(x, x);
    const __m256i sw = _mm256_sign_epi8(w, x);
    const __m256i pairs = _mm256_maddubs_epi16(ax, sw);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
}

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

float swiftllama_dot_q8_0(const void *w, const int8_t *xq, const float *xd, int blocks) {
    const uint8_t *p = (const uint8_t *)w;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int b = 0;
    for (; b + 2 <= blocks; b += 2) {
        const uint8_t *p0 = p + 34 * b, *p1 = p0 + 34;
        __m256 s0 = products(_mm256_loadu_si256((const __m256i *)(p0 + 2)), _mm256_loadu_si256((const __m256i *)(xq + 32 * b)));
        __m256 s1 = products(_mm256_loadu_si256((const __m256i *)(p1 + 2)), _mm256_loadu_si256((const __m256i *)(xq + 32 * b + 32)));
        acc0 = _mm256_fmadd_ps(s0, _mm256_set1_ps(half_to_float(p0) * xd[b]), acc0);
        acc1 = _mm256_fmadd_ps(s1, _mm256_set1_ps(half_to_float(p1) * xd[b + 1]), acc1);
    }
    if (b < blocks) {
        const uint8_t *p0 = p + 34 * b;
        __m256 s0 = products(_mm256_loadu_si256((const __m256i *)(p0 + 2)), _mm256_loadu_si256((const __m256i *)(xq + 32 * b)));
        acc0 = _mm256_fmadd_ps(s0, _mm256_set1_ps(half_to_float(p0) * xd[b]), acc0);
    }
    return hsum(_mm256_add_ps(acc0, acc1));
}

// The 32 values of a Q4_0 block as signed bytes −8…7, elements 0–15 in the low lane.
static inline __m256i q4_0_values(const uint8_t *block) {
    const __m128i bytes = _mm_loadu_si128((const __m128i *)(block + 2));
    const __m128i mask = _mm_set1_epi8(0x0F);
    const __m128i lo = _mm_and_si128(bytes, mask);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask);
    return _mm256_sub_epi8(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(8));
}

float swiftllama_dot_q4_0(const void *w, const int8_t *xq, const float *xd, int blocks) {
    const uint8_t *p = (const uint8_t *)w;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int b = 0;
    for (; b + 2 <= blocks; b += 2) {
        const uint8_t *p0 = p + 18 * b, *p1 = p0 + 18;
        __m256 s0 = products(q4_0_values(p0), _mm256_loadu_si256((const __m256i *)(xq + 32 * b)));
        __m256 s1 = products(q4_0_values(p1), _mm256_loadu_si256((const __m256i *)(xq + 32 * b + 32)));
        acc0 = _mm256_fmadd_ps(s0, _mm256_set1_ps(half_to_float(p0) * xd[b]), acc0);
        acc1 = _mm256_fmadd_ps(s1, _mm256_set1_ps(half_to_float(p1) * xd[b + 1]), acc1);
    }
    if (b < blocks) {
        const uint8_t *p0 = p + 18 * b;
        __m256 s0 = products(q4_0_values(p0), _mm256_loadu_si256((const __m256i *)(xq + 32 * b)));
        acc0 = _mm256_fmadd_ps(s0, _mm256_set1_ps(half_to_float(p0) * xd[b]), acc0);
    }
    return hsum(_mm256_add_ps(acc0, acc1));
}

#else
// Portable fallback (non-x86 or a compiler without these extensions): plain loops.

static float half_to_float(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
    if (exp == 0) {
        float f = (float)mant / 16777216.0f;  // subnormal: mant · 2^-24
        return sign ? -f : f;
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float swiftllama_dot_q8_0(const void *w, const int8_t *xq, const float *xd, int blocks) {
    const uint8_t *p = (const uint8_t *)w;
    float sum = 0;
    for (int b = 0; b < blocks; b++) {
        const int8_t *q = (const int8_t *)(p + 34 * b + 2);
        int s = 0;
        for (int j = 0; j < 32; j++) s += q[j] * xq[32 * b + j];
        sum += half_to_float(p + 34 * b) * xd[b] * (float)s;
    }
    return sum;
}

float swiftllama_dot_q4_0(const void *w, const int8_t *xq, const float *xd, int blocks) {
    const uint8_t *p = (const uint8_t *)w;
    float sum = 0;
    for (int b = 0; b < blocks; b++) {
        const uint8_t *q = p + 18 * b + 2;
        int s = 0;
        for (int j = 0; j < 16; j++) {
            s += ((q[j] & 0x0F) - 8) * xq[32 * b + j];
            s += ((q[j] >> 4) - 8) * xq[32 * b + j + 16];
        }
        sum += half_to_float(p + 18 * b) * xd[b] * (float)s;
    }
    return sum;
}
#endif
