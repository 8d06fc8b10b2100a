// Attention over a KV cache (Attention.h). On x86 the C target's baseline (x86-64-v3) has
// AVX2, FMA and F16C; elsewhere the plain loops below compute the same sums lane by lane.
#include "Attention.h"
#include "attention_common.h"
#include <string.h>
#include <math.h>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define ATTN_X86 1
#else
#define ATTN_X86 0
#endif

#if ATTN_X86

// The eight sums of a0…a7 as one vector: [Σa0, Σa1, …, Σa7], each summed as
// ((x0+x1)+(x2+x3)) + ((x4+x5)+(x6+x7)).
static inline __m256 hsum8(__m256 a0, __m256 a1, __m256 a2, __m256 a3, __m256 a4, __m256 a5, __m256 a6, __m256 a7) {
    const __m256 t0 = _mm256_hadd_ps(a0, a1), t1 = _mm256_hadd_ps(a2, a3);
    const __m256 t2 = _mm256_hadd_ps(a4, a5), t3 = _mm256_hadd_ps(a6, a7);
    const __m256 u0 = _mm256_hadd_ps(t0, t1), u1 = _mm256_hadd_ps(t2, t3);
    return _mm256_add_ps(_mm256_permute2f128_ps(u0, u1, 0x20), _mm256_permute2f128_ps(u0, u1, 0x31));
}

// Eight keys (rows `ks` floats apart, the missing ones repeating the last) against every
// query of the group: one 8-lane FMA chain per key over d, then hsum8.
static inline void store_scores(__m256 s, float *out, int nk) {
    if (nk >= 8) {
        _mm256_storeu_ps(out, s);
    } else {
        float tmp[8];
        _mm256_storeu_ps(tmp, s);
        memcpy(out, tmp, sizeof(float) * (size_t)nk);
    }
}

static inline void scores8(const float *q, long qStride, int heads, const float *const kr[8], int nk, int headDim, float scale,
                           float *att, long attStride) {
    const __m256 vs = _mm256_set1_ps(scale);
    int j = 0;
    // Two queries × four keys at a time (six loads per eight FMAs instead of nine): hsum8
    // reduces each accumulator alone, so every score is the same sum as one query × eight keys.
    for (; j + 2 <= heads; j += 2) {
        const float *q0 = q + j * qStride, *q1 = q0 + qStride;
        for (int h = 0; h < 8; h += 4) {
            if (h >= nk) break;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            for (int c = 0; c < headDim; c += 8) {
                const __m256 k0 = _mm256_loadu_ps(kr[h] + c), k1 = _mm256_loadu_ps(kr[h + 1] + c);
                const __m256 k2 = _mm256_loadu_ps(kr[h + 2] + c), k3 = _mm256_loadu_ps(kr[h + 3] + c);
                const __m256 x0 = _mm256_loadu_ps(q0 + c), x1 = _mm256_loadu_ps(q1 + c);
                a0 = _mm256_fmadd_ps(x0, k0, a0);
                a1 = _mm256_fmadd_ps(x0, k1, a1);
                a2 = _mm256_fmadd_ps(x0, k2, a2);
                a3 = _mm256_fmadd_ps(x0, k3, a3);
                b0 = _mm256_fmadd_ps(x1, k0, b0);
                b1 = _mm256_fmadd_ps(x1, k1, b1);
                b2 = _mm256_fmadd_ps(x1, k2, b2);
                b3 = _mm256_fmadd_ps(x1, k3, b3);
            }
            const __m256 r = _mm256_mul_ps(hsum8(a0, a1, a2, a3, b0, b1, b2, b3), vs);
            float *o0 = att + j * attStride + h, *o1 = o0 + attStride;
            if (nk - h >= 4) {
                _mm_storeu_ps(o0, _mm256_castps256_ps128(r));
                _mm_storeu_ps(o1, _mm256_extractf128_ps(r, 1));
            } else {
                float s[8];
                _mm256_storeu_ps(s, r);
                for (int k = 0; k < nk - h; k++) o0[k] = s[k], o1[k] = s[4 + k];
            }
        }
    }
    for (; j < heads; j++) {
        const float *qj = q + j * qStride;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        for (int c = 0; c < headDim; c += 8) {
            const __m256 qv = _mm256_loadu_ps(qj + c);
            a0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kr[0] + c), a0);
            a1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kr[1] + c), a1);
            a2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kr[2] + c), a2);
            a3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kr[3] + c), a3);
            a4 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kr[4] + c), a4);
            a5 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kr[5] + c), a5);
            a6 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kr[6] + c), a6);
            a7 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kr[7] + c), a7);
        }
        store_scores(_mm256_mul_ps(hsum8(a0, a1, a2, a3, a4, a5, a6, a7), vs), att + j * attStride, nk);
    }
}

// G heads × W vectors of 8 output lanes, starting at vector c0, over every position: each
// value vector is loaded (and widened) once for the G heads.
static inline __attribute__((always_inline)) void values_block(const int G, const int W, const float *att, long attStride,
                                                               const void *values, int type, long vStride, int count, int c0,
                                                               float *out, long oStride) {
    __m256 acc[8][8];
    for (int j = 0; j < G; j++)
        for (int w = 0; w < W; w++) acc[j][w] = _mm256_setzero_ps();
    for (int t = 0; t < count; t++) {
        __m256 v[8];
        for (int w = 0; w < W; w++) v[w] = swiftllama_cache_load8(values, type, t * vStride + 8 * (c0 + w));
        for (int j = 0; j < G; j++) {
            const __m256 p = _mm256_broadcast_ss(att + j * attStride + t);
            for (int w = 0; w < W; w++) acc[j][w] = _mm256_fmadd_ps(p, v[w], acc[j][w]);
        }
    }
    for (int j = 0; j < G; j++)
        for (int w = 0; w < W; w++) _mm256_storeu_ps(out + j * oStride + 8 * (c0 + w), acc[j][w]);
}

// Up to 8 heads: vectors in blocks of W = 8/G (eight accumulators), the rest one by one.
static void values_heads(int G, const float *att, long attStride, const void *values, int type, long vStride, int count,
                         int headDim, float *out, long oStride) {
    const int chunks = headDim / 8;
    int c = 0;
#define VALUES_CASE(g, w)                                                                                   \
    case g:                                                                                                 \
        for (; c + (w) <= chunks; c += (w)) values_block(g, w, att, attStride, values, type, vStride, count, c, out, oStride); \
        for (; c < chunks; c++) values_block(g, 1, att, attStride, values, type, vStride, count, c, out, oStride); \
        break;
    switch (G) {
        VALUES_CASE(1, 8)
        VALUES_CASE(2, 4)
        VALUES_CASE(3, 2)
        VALUES_CASE(4, 2)
        VALUES_CASE(5, 1)
        VALUES_CASE(6, 1)
        VALUES_CASE(7, 1)
        default:
            for (; c < chunks; c++) values_block(8, 1, att, attStride, values, type, vStride, count, c, out, oStride);
            break;
    }
#undef VALUES_CASE
}

#endif

void swiftllama_attention_scores(const float *q, long qStride, int heads, const void *keys, int keyType, long kStride,
                                 int count, int headDim, float scale, float *att, long attStride, float *scratch) {
#if ATTN_X86
    if (headDim % 8 == 0) {
        for (int t0 = 0; t0 < count; t0 += 8) {
            const int nk = count - t0 < 8 ? count - t0 : 8;
            const float *kr[8];
            if (keyType != SWIFTLLAMA_CACHE_F32) {
                for (int k = 0; k < nk; k++) swiftllama_cache_widen(keys, keyType, (long)(t0 + k) * kStride, headDim, scratch + k * headDim);
                for (int k = 0; k < 8; k++) kr[k] = scratch + (k < nk ? k : nk - 1) * headDim;
            } else {
                for (int k = 0; k < 8; k++) kr[k] = (const float *)keys + (long)(t0 + (k < nk ? k : nk - 1)) * kStride;
            }
            scores8(q, qStride, heads, kr, nk, headDim, scale, att + t0, attStride);
        }
        return;
    }
#else
    (void)scratch;
#endif
    // Lane by lane: lane l of the FMA chain takes d ≡ l (mod 8), then hsum8's order.
    for (int j = 0; j < heads; j++) {
        for (int t = 0; t < count; t++) {
            float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (int d = 0; d < headDim; d++)
                lane[d % 8] = fmaf(q[j * qStride + d], swiftllama_cache_element(keys, keyType, (long)t * kStride + d), lane[d % 8]);
            const float s = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
            att[j * attStride + t] = s * scale;
        }
    }
}

void swiftllama_attention_values(const float *att, long attStride, int heads, const void *values, int valueType, long vStride,
                                 int count, int headDim, float *out, long oStride, float *scratch) {
    (void)scratch;
#if ATTN_X86
    if (headDim % 8 == 0) {
        for (int j = 0; j < heads; j += 8) {
            const int g = heads - j < 8 ? heads - j : 8;
            values_heads(g, att + j * attStride, attStride, values, valueType, vStride, count, headDim, out + j * oStride, oStride);
        }
        return;
    }
#endif
    for (int j = 0; j < heads; j++) {
        for (int d = 0; d < headDim; d++) {
            float s = 0;
            for (int t = 0; t < count; t++) s = fmaf(att[j * attStride + t], swiftllama_cache_element(values, valueType, (long)t * vStride + d), s);
            out[j * oStride + d] = s;
        }
    }
}

void swiftllama_floats_to_q8_0(const float *x, void *blocks, long blocks32) {
    uint8_t *out = (uint8_t *)blocks;
    for (long b = 0; b < blocks32; b++, x += 32, out += 34) {
        float amax = 0;
        for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(x[i]));
        const float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        uint16_t h;
        swiftllama_floats_to_halves(&d, &h, 1);
        out[0] = (uint8_t)(h & 0xff);
        out[1] = (uint8_t)(h >> 8);
        for (int i = 0; i < 32; i++) out[2 + i] = (uint8_t)(int8_t)roundf(x[i] * id);
    }
}

void swiftllama_floats_to_halves(const float *x, uint16_t *h, long count) {
    long i = 0;
#if ATTN_X86
    for (; i + 8 <= count; i += 8)
        _mm_storeu_si128((__m128i *)(h + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < count; i++) h[i] = (uint16_t)_mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(x[i]), _MM_FROUND_TO_NEAREST_INT), 0);
#else
    for (; i < count; i++) {
        _Float16 v = (_Float16)x[i];
        memcpy(h + i, &v, 2);
    }
#endif
}

void swiftllama_halves_to_floats(const uint16_t *h, float *x, long count) {
    long i = 0;
#if ATTN_X86
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + i))));
    for (; i < count; i++) x[i] = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h[i])));
#else
    for (; i < count; i++) {
        _Float16 v;
        memcpy(&v, h + i, 2);
        x[i] = (float)v;
    }
#endif
}
