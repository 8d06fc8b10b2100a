// Attention with an online softmax (FlashAttention.h). Per call: query vectors in chunks of
// up to 32 (a row's heads next to each other), keys in blocks of 32 aligned to absolute
// positions. For a chunk and a block: the scores by Attention.h's kernel (the two-pass path's
// very sums, keys read once per row from L1), then per query the block max, the rescale
// factor exp(old max − new max) and the weights exp(s − max), and the output tile rescaled and
// accumulated 4 queries × 16 lanes at a time (fp32 values read from the cache, others widened
// once per block). Nothing depends on the other queries of the chunk: a query's sums are the
// same alone or in any tile.
#include "FlashAttention.h"
#include "Attention.h"
#include "attention_common.h"
#include <math.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#include <immintrin.h>
#define FLASH_X86 1
#else
#define FLASH_X86 0
#endif

enum { KB = SWIFTLLAMA_FLASH_KEYS, QB = SWIFTLLAMA_FLASH_QUERIES };

long swiftllama_flash_scratch_floats(int headDim) {
    // widened keys, V, O (headDim × 32 each), P (32 × 32), max, sum, alpha (32 each), spare.
    return 3L * KB * headDim + (long)QB * KB + 3L * QB + 64;
}

// Where element `at` (a multiple of 32 for Q8_0) of a cache of `type` starts.
static inline const void *cache_at(const void *base, int type, long at) {
    if (type == SWIFTLLAMA_CACHE_Q8_0) return (const unsigned char *)base + (at >> 5) * 34;
    if (type == SWIFTLLAMA_CACHE_F16) return (const uint16_t *)base + at;
    return (const float *)base + at;
}

#if FLASH_X86

// e^x for 8 lanes: the polynomial of Activations.swift's exp8 (x < −87 gives 0, −∞ included).
static inline __m256 exp8(__m256 x) {
    const __m256 tooSmall = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_LT_OQ);
    const __m256 tooBig = _mm256_cmp_ps(x, _mm256_set1_ps(88.0f), _CMP_GT_OQ);
    __m256 xc = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.0f)), _mm256_set1_ps(-87.0f));
    const __m256 shifter = _mm256_set1_ps(12582912.0f);
    const __m256 t = _mm256_fmadd_ps(xc, _mm256_set1_ps(1.442695041f), shifter);
    const __m256 n = _mm256_sub_ps(t, shifter);
    const __m256i ni = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(0x4B400000));
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), xc);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187e-06f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256 scaleBits = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(ni, _mm256_set1_epi32(127)), 23));
    __m256 result = _mm256_mul_ps(p, scaleBits);
    result = _mm256_andnot_ps(tooSmall, result);
    return _mm256_blendv_ps(result, _mm256_set1_ps(INFINITY), tooBig);
}

static inline float hsum(__m256 v) {
    const __m128 a = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 b = _mm_add_ps(a, _mm_movehl_ps(a, a));
    return _mm_cvtss_f32(_mm_add_ss(b, _mm_movehdup_ps(b)));
}

static inline float hmax(__m256 v) {
    const __m128 a = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    const __m128 b = _mm_max_ps(a, _mm_movehl_ps(a, a));
    return _mm_cvtss_f32(_mm_max_ss(b, _mm_movehdup_ps(b)));
}

// O[i][c..] = O[i][c..]·alpha[i] + Σ_{t<n} P[i][t] · V[t·vStride + c..] for Q (≤ 4) queries and
// W (≤ 2) vectors of 8 lanes from lane c.
static inline __attribute__((always_inline)) void value_tile(const int Q, const int W, const float *P, const float *alpha,
                                                            const float *V, long vStride, int n, int headDim, int c,
                                                            float *O) {
    __m256 a[4][2];
    for (int i = 0; i < Q; i++) {
        const __m256 s = _mm256_broadcast_ss(alpha + i);
        for (int w = 0; w < W; w++) a[i][w] = _mm256_mul_ps(_mm256_loadu_ps(O + i * headDim + c + 8 * w), s);
    }
    for (int t = 0; t < n; t++) {
        __m256 v[2];
        for (int w = 0; w < W; w++) v[w] = _mm256_loadu_ps(V + t * vStride + c + 8 * w);
        for (int i = 0; i < Q; i++) {
            const __m256 p = _mm256_broadcast_ss(P + i * KB + t);
            for (int w = 0; w < W; w++) a[i][w] = _mm256_fmadd_ps(p, v[w], a[i][w]);
        }
    }
    for (int i = 0; i < Q; i++)
        for (int w = 0; w < W; w++) _mm256_storeu_ps(O + i * headDim + c + 8 * w, a[i][w]);
}

static void values_chunk(int M, const float *P, const float *alpha, const float *V, long vStride, int n, int headDim, float *O) {
    for (int i = 0; i < M; i += 4) {
        const int Q = M - i < 4 ? M - i : 4;
        int c = 0;
#define VALUE_CASE(q)                                                                                                      \
    case q:                                                                                                                \
        for (; c + 16 <= headDim; c += 16) value_tile(q, 2, P + i * KB, alpha + i, V, vStride, n, headDim, c, O + i * headDim);  \
        for (; c < headDim; c += 8) value_tile(q, 1, P + i * KB, alpha + i, V, vStride, n, headDim, c, O + i * headDim);         \
        break;
        switch (Q) {
            VALUE_CASE(1)
            VALUE_CASE(2)
            VALUE_CASE(3)
            default:
            VALUE_CASE(4)
        }
#undef VALUE_CASE
    }
}

#endif

// One chunk of M (≤ QB) query vectors, v = v0 + i for i < M; state in m, l, O (M rows).
static void flash_chunk(const float *q, long qRowStride, int heads, int v0, int M, const void *keys, const void *values, int type,
                        long kvStride, int headDim, long p0, long window, long from, long to, float scale, float softCap,
                        float *m, float *l, float *O, float *scratch) {
    float *Kw = scratch, *V = Kw + (long)KB * headDim, *S = V + (long)KB * headDim, *alpha = S + QB * KB;
    long lo[QB], hi[QB];
    long first = to, last = from;
    for (int i = 0; i < M; i++) {
        const long pos = p0 + (v0 + i) / heads;
        long a = window > 0 ? pos + 1 - window : 0;
        if (a < 0) a = 0;
        if (a < from) a = from;
        long b = pos + 1 < to ? pos + 1 : to;
        lo[i] = a;
        hi[i] = b;
        if (a < b) {
            if (a < first) first = a;
            if (b > last) last = b;
        }
        m[i] = -INFINITY;
        l[i] = 0;
        memset(O + (long)i * headDim, 0, sizeof(float) * (size_t)headDim);
    }
    if (first >= last) return;
#if FLASH_X86
    const int vector = headDim % 8 == 0;
#else
    const int vector = 0;
#endif
    for (long kb = first / KB * KB; kb < last; kb += KB) {
        const int n = (int)(last - kb < KB ? last - kb : KB);
        // Scores by Attention.h's kernel, per row's run of heads: the same sums, scaled, as
        // the two-pass path gives.
        // Half or Q8_0 keys read by several rows are widened once (the same floats).
        const void *kBlock = cache_at(keys, type, kb * kvStride);
        int kType = type;
        long kStride = kvStride;
#if FLASH_X86
        if (vector && type != SWIFTLLAMA_CACHE_F32 && M > heads) {
            for (int t = 0; t < n; t++) swiftllama_cache_widen(keys, type, (kb + t) * kvStride, headDim, Kw + t * headDim);
            kBlock = Kw;
            kType = SWIFTLLAMA_CACHE_F32;
            kStride = headDim;
        }
#endif
        for (int i = 0; i < M;) {
            const int v = v0 + i, r = v / heads, j = v % heads;
            const int count = heads - j < M - i ? heads - j : M - i;
            swiftllama_attention_scores(q + r * qRowStride + (long)j * headDim, headDim, count, kBlock, kType, kStride, n, headDim,
                                        scale, S + i * KB, KB, V);
            i += count;
        }
        // Online softmax: per query, the block's weights and the rescale of what came before.
        for (int i = 0; i < M; i++) {
            float *row = S + i * KB;
            long a = lo[i] > kb ? lo[i] : kb, b = hi[i] < kb + n ? hi[i] : kb + n;
            if (a >= b) {
                memset(row, 0, sizeof(float) * KB);
                alpha[i] = 1;
                continue;
            }
            const int ta = (int)(a - kb), tb = (int)(b - kb);
            float bm = -INFINITY;
#if FLASH_X86
            if (ta == 0 && tb == KB && softCap <= 0) {
                // A block the query sees whole (most of them): the max in vectors.
                __m256 mx = _mm256_set1_ps(-INFINITY);
                for (int t = 0; t < KB; t += 8) mx = _mm256_max_ps(mx, _mm256_loadu_ps(row + t));
                bm = hmax(mx);
            } else
#endif
            {
            for (int t = 0; t < ta; t++) row[t] = -INFINITY;
            if (softCap > 0)
                for (int t = ta; t < tb; t++) row[t] = softCap * tanhf(row[t] / softCap);
            for (int t = tb; t < KB; t++) row[t] = -INFINITY;
            for (int t = ta; t < tb; t++) bm = row[t] > bm ? row[t] : bm;
            }
            const float mNew = bm > m[i] ? bm : m[i];
            alpha[i] = m[i] == -INFINITY ? 0 : expf(m[i] - mNew);
            float sum;
#if FLASH_X86
            {
                const __m256 mv = _mm256_set1_ps(mNew);
                __m256 acc = _mm256_setzero_ps();
                for (int t = 0; t < KB; t += 8) {
                    const __m256 p = exp8(_mm256_sub_ps(_mm256_loadu_ps(row + t), mv));
                    _mm256_storeu_ps(row + t, p);
                    acc = _mm256_add_ps(acc, p);
                }
                sum = hsum(acc);
            }
#else
            sum = 0;
            for (int t = 0; t < KB; t++) {
                const float p = row[t] == -INFINITY ? 0 : expf(row[t] - mNew);
                row[t] = p;
                sum += p;
            }
#endif
            l[i] = l[i] * alpha[i] + sum;
            m[i] = mNew;
        }
#if FLASH_X86
        if (vector) {
            // fp32 values straight from the cache; others widened once for the chunk.
            if (type == SWIFTLLAMA_CACHE_F32) {
                values_chunk(M, S, alpha, (const float *)values + kb * kvStride, kvStride, n, headDim, O);
            } else {
                for (int t = 0; t < n; t++) swiftllama_cache_widen(values, type, (kb + t) * kvStride, headDim, V + t * headDim);
                values_chunk(M, S, alpha, V, headDim, n, headDim, O);
            }
            continue;
        }
#endif
        for (int t = 0; t < n; t++)
            for (int d = 0; d < headDim; d++) V[t * headDim + d] = swiftllama_cache_element(values, type, (kb + t) * kvStride + d);
        for (int i = 0; i < M; i++)
            for (int d = 0; d < headDim; d++) {
                float o = O[(long)i * headDim + d] * alpha[i];
                for (int t = 0; t < n; t++) o = fmaf(S[i * KB + t], V[t * headDim + d], o);
                O[(long)i * headDim + d] = o;
            }
    }
}

void swiftllama_flash_attention(const float *q, long qRowStride, int rows, int heads, const void *keys, const void *values,
                                int type, long kvStride, int headDim, long p0, long window, long from, long to, float scale,
                                float softCap, float *out, long oRowStride, float *partialMax, float *partialSum,
                                float *scratch) {
    const int total = rows * heads;
    float *O = scratch + 2L * KB * headDim + (long)QB * KB + QB;
    float *mm = O + (long)QB * headDim, *ll = mm + QB;
    for (int v0 = 0; v0 < total; v0 += QB) {
        const int M = total - v0 < QB ? total - v0 : QB;
        float *m = partialMax ? partialMax + v0 : mm, *l = partialMax ? partialSum + v0 : ll;
        // Partial outputs go straight to `out` (query-major, headDim apart); final ones through O.
        float *o = partialMax ? out + (long)v0 * headDim : O;
        flash_chunk(q, qRowStride, heads, v0, M, keys, values, type, kvStride, headDim, p0, window, from, to, scale, softCap,
                    m, l, o, scratch);
        if (partialMax) continue;
        for (int i = 0; i < M; i++) {
            const int v = v0 + i, r = v / heads, j = v % heads;
            float *dst = out + r * oRowStride + (long)j * headDim;
            const float inv = l[i] > 0 ? 1 / l[i] : 0;
            for (int d = 0; d < headDim; d++) dst[d] = O[(long)i * headDim + d] * inv;
        }
    }
}

void swiftllama_flash_merge(int parts, int queries, int heads, int headDim, const float *o, const float *max, const float *sum,
                            long partStride, float *out, long oRowStride) {
    for (int v = 0; v < queries; v++) {
        float m = -INFINITY;
        for (int i = 0; i < parts; i++) m = max[i * partStride + v] > m ? max[i * partStride + v] : m;
        float *dst = out + (v / heads) * oRowStride + (long)(v % heads) * headDim;
        float l = 0;
        for (int d = 0; d < headDim; d++) dst[d] = 0;
        for (int i = 0; i < parts; i++) {
            const float mi = max[i * partStride + v];
            if (mi == -INFINITY) continue;
            const float w = expf(mi - m);
            l += sum[i * partStride + v] * w;
            const float *oi = o + i * partStride + (long)v * headDim;
            for (int d = 0; d < headDim; d++) dst[d] = fmaf(oi[d], w, dst[d]);
        }
        const float inv = l > 0 ? 1 / l : 0;
        for (int d = 0; d < headDim; d++) dst[d] *= inv;
    }
}
