// Row-interleaved matrix-vector kernels of F16 and BF16 weights (layout in include/RepackHalf.h),
// included by kernels_x86.h: compiled once per x86 set. A group of 8 rows stores, per pair of
// columns p, the 8 rows' 32-bit words (row r's columns 2p, 2p+1: low half 2p), so the weights
// of a group are one contiguous stream and 8 rows share every activation broadcast; no
// horizontal sums per row, one store of 8 results per group and token.
//   BF16: one 256-bit load is 8 rows × 2 columns; a shift left by 16 gives column 2p of the
//     8 rows as fp32 lanes, an AND with 0xFFFF0000 column 2p+1: two integer operations per
//     16 weights (the plain kernel widens each 8 with vpmovzxwd + vpslld).
//   F16: vcvtph2ps of 128 bits is rows 4h…4h+3 × columns 2p, 2p+1 (lanes: row-major pairs);
//     the FMA's other operand is x[2p], x[2p+1] repeated (one 64-bit broadcast), and each
//     row's two lanes are added once at the end.
// Per token 4 accumulators (2 pairs per step: 64 bytes of a group, one cache line), so one
// token has 4 FMA chains in flight; tokens are taken TT at a time (the weights of a group are
// read again from cache for the next TT): 2 for the AVX2 set (16 vector registers), 4 with
// AVX-512 VL (32). Each token's sums run in the same order whatever `tokens` is: a token's
// results are bit for bit the same alone or batched.
// R8_FETCH (kernels_x86.h): the non-temporal prefetch for 2 or more tokens, as the quantized
// R8 kernels.

#include "RepackHalf.h"

#if K_AVX512
#define R8H_TT 4
#else
#define R8H_TT 2
#endif

// x[c], x[c+1] repeated over 8 lanes.
static inline __m256 r8h_pair(const float *x) {
    return _mm256_castpd_ps(_mm256_broadcast_sd((const double *)x));
}

// 8 results of a group (rows 0…7) from the F16 accumulators: `lo` holds rows 0–3 as lane
// pairs (row r: lanes 2r, 2r+1), `hi` rows 4–7.
static inline __m256 r8h_f16_rows(__m256 lo, __m256 hi) {
    // hadd per 128-bit lane: [r0 r1 r4 r5 | r2 r3 r6 r7].
    const __m256 h = _mm256_hadd_ps(lo, hi);
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(h), 0xD8));
}

static inline __attribute__((always_inline)) void r8h_group(const int bf16, const uint8_t *w, int cols, const float *x,
                                                            long ldx, float *out, long ldo, const int T) {
    const int pairs = cols / 2;
    // F16: a[t] rows 0–3 (even step half), b[t] rows 4–7, c/d the odd pair of the step.
    // BF16: a[t] column 2p, b[t] column 2p+1, c/d the same for pair p+1.
    __m256 a[R8H_TT], b[R8H_TT], c[R8H_TT], d[R8H_TT];
    for (int t = 0; t < T; t++) a[t] = b[t] = c[t] = d[t] = _mm256_setzero_ps();
    const __m256i high = _mm256_set1_epi32((int)0xFFFF0000u);
    const uint8_t *p = w;
    int k = 0;
    for (; k + 2 <= pairs; k += 2, p += 64) {
        R8_FETCH(p, 0, T);
        if (bf16) {
            const __m256i v0 = _mm256_loadu_si256((const __m256i *)p), v1 = _mm256_loadu_si256((const __m256i *)(p + 32));
            const __m256 e0 = _mm256_castsi256_ps(_mm256_slli_epi32(v0, 16)), o0 = _mm256_castsi256_ps(_mm256_and_si256(v0, high));
            const __m256 e1 = _mm256_castsi256_ps(_mm256_slli_epi32(v1, 16)), o1 = _mm256_castsi256_ps(_mm256_and_si256(v1, high));
            for (int t = 0; t < T; t++) {
                const float *xt = x + ldx * t + 2 * k;
                a[t] = _mm256_fmadd_ps(e0, _mm256_broadcast_ss(xt), a[t]);
                b[t] = _mm256_fmadd_ps(o0, _mm256_broadcast_ss(xt + 1), b[t]);
                c[t] = _mm256_fmadd_ps(e1, _mm256_broadcast_ss(xt + 2), c[t]);
                d[t] = _mm256_fmadd_ps(o1, _mm256_broadcast_ss(xt + 3), d[t]);
            }
        } else {
            const __m256 lo0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
            const __m256 hi0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16)));
            const __m256 lo1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 32)));
            const __m256 hi1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 48)));
            for (int t = 0; t < T; t++) {
                const float *xt = x + ldx * t + 2 * k;
                const __m256 x0 = r8h_pair(xt), x1 = r8h_pair(xt + 2);
                a[t] = _mm256_fmadd_ps(lo0, x0, a[t]);
                b[t] = _mm256_fmadd_ps(hi0, x0, b[t]);
                c[t] = _mm256_fmadd_ps(lo1, x1, c[t]);
                d[t] = _mm256_fmadd_ps(hi1, x1, d[t]);
            }
        }
    }
    if (k < pairs) {
        // One pair left (cols ≡ 2 mod 4): into the first two accumulators.
        if (bf16) {
            const __m256i v0 = _mm256_loadu_si256((const __m256i *)p);
            const __m256 e0 = _mm256_castsi256_ps(_mm256_slli_epi32(v0, 16)), o0 = _mm256_castsi256_ps(_mm256_and_si256(v0, high));
            for (int t = 0; t < T; t++) {
                const float *xt = x + ldx * t + 2 * k;
                a[t] = _mm256_fmadd_ps(e0, _mm256_broadcast_ss(xt), a[t]);
                b[t] = _mm256_fmadd_ps(o0, _mm256_broadcast_ss(xt + 1), b[t]);
            }
        } else {
            const __m256 lo0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
            const __m256 hi0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16)));
            for (int t = 0; t < T; t++) {
                const __m256 x0 = r8h_pair(x + ldx * t + 2 * k);
                a[t] = _mm256_fmadd_ps(lo0, x0, a[t]);
                b[t] = _mm256_fmadd_ps(hi0, x0, b[t]);
            }
        }
    }
    for (int t = 0; t < T; t++) {
        const __m256 r = bf16 ? _mm256_add_ps(_mm256_add_ps(a[t], b[t]), _mm256_add_ps(c[t], d[t]))
                              : r8h_f16_rows(_mm256_add_ps(a[t], c[t]), _mm256_add_ps(b[t], d[t]));
        _mm256_storeu_ps(out + ldo * t, r);
    }
}

static inline __attribute__((always_inline)) void r8h_matvec(const int bf16, const void *w, int groups, int cols,
                                                             const float *x, long ldx, int tokens, float *out, long ldo) {
    const long groupBytes = 16L * cols;
    for (int g = 0; g < groups; g++) {
        const uint8_t *p = (const uint8_t *)w + groupBytes * g;
        for (int t0 = 0; t0 < tokens; t0 += R8H_TT) {
            const int n = tokens - t0 < R8H_TT ? tokens - t0 : R8H_TT;
            const float *xt = x + ldx * t0;
            float *o = out + ldo * t0 + 8L * g;
            switch (n) {
            case 1: r8h_group(bf16, p, cols, xt, ldx, o, ldo, 1); break;
#if R8H_TT == 4
            case 2: r8h_group(bf16, p, cols, xt, ldx, o, ldo, 2); break;
            case 3: r8h_group(bf16, p, cols, xt, ldx, o, ldo, 3); break;
            default: r8h_group(bf16, p, cols, xt, ldx, o, ldo, 4); break;
#else
            default: r8h_group(bf16, p, cols, xt, ldx, o, ldo, 2); break;
#endif
            }
        }
    }
}

#if K_WIDE
// ---- 512-bit variant (the `avx512` set: CPUs that run 512-bit vectors whole, Intel and AMD
// from Zen 5; CKernels.c's choice) ----
// One 256-bit load is one column pair of the group's 8 rows; widened to 16 fp32 lanes in
// memory order it is rows 0…7 × columns 2p, 2p+1 (row r: lanes 2r, 2r+1), F16 by vcvtph2ps,
// BF16 by vpmovzxwd + a shift left by 16. The FMA's other operand is x[2p], x[2p+1]
// repeated (one 64-bit broadcast from memory), as in the F16 kernel above: 16 weights per
// FMA, twice the 256-bit kernel's, which at 4–8 tokens is fp32 compute-bound on a full-width
// core. Per token 4 accumulators (pairs p…p+3, 128 bytes per step), tokens 4 at a time (16
// accumulators, 4 weight vectors); a token's sums run in the same order whatever `tokens` is.
#define R8Z_TT 4

static inline __m512 r8z_pair_weights(const int bf16, const uint8_t *p) {
    const __m256i v = _mm256_loadu_si256((const __m256i *)p);
    if (bf16) return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
    return _mm512_cvtph_ps(v);
}

static inline __m512 r8z_pair_x(const float *x) {
    double v;
    memcpy(&v, x, 8);
    return _mm512_castpd_ps(_mm512_set1_pd(v));
}

// G groups (1 or 2) at once: each activation broadcast feeds G FMAs (the broadcast loads,
// one per FMA with one group, were what held the one-group kernel back).
static inline __attribute__((always_inline)) void r8z_groups(const int bf16, const uint8_t *w, long groupBytes, const int G,
                                                             int cols, const float *x, long ldx, float *out, long ldo,
                                                             const int T) {
    const int pairs = cols / 2;
    // acc[t][g][0]: even pairs, [1]: odd pairs.
    __m512 acc[R8Z_TT][2][2];
    for (int t = 0; t < T; t++)
        for (int g = 0; g < G; g++) acc[t][g][0] = acc[t][g][1] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 2 <= pairs; k += 2) {
        __m512 w0[2], w1[2];
        for (int g = 0; g < G; g++) {
            const uint8_t *p = w + groupBytes * g + 32L * k;
            R8_FETCH(p, 0, T);
            w0[g] = r8z_pair_weights(bf16, p);
            w1[g] = r8z_pair_weights(bf16, p + 32);
        }
        for (int t = 0; t < T; t++) {
            const float *xt = x + ldx * t + 2 * k;
            const __m512 x0 = r8z_pair_x(xt), x1 = r8z_pair_x(xt + 2);
            for (int g = 0; g < G; g++) {
                acc[t][g][0] = _mm512_fmadd_ps(w0[g], x0, acc[t][g][0]);
                acc[t][g][1] = _mm512_fmadd_ps(w1[g], x1, acc[t][g][1]);
            }
        }
    }
    if (k < pairs) {
        // One pair left (cols ≡ 2 mod 4): into the even accumulator.
        __m512 w0[2];
        for (int g = 0; g < G; g++) w0[g] = r8z_pair_weights(bf16, w + groupBytes * g + 32L * k);
        for (int t = 0; t < T; t++) {
            const __m512 x0 = r8z_pair_x(x + ldx * t + 2 * k);
            for (int g = 0; g < G; g++) acc[t][g][0] = _mm512_fmadd_ps(w0[g], x0, acc[t][g][0]);
        }
    }
    // The 256-bit kernel's sums, in its order (so the two give the same bits): F16 adds the
    // even and odd pairs' lanes, then each row's two columns; BF16 each row's two columns of
    // the even pairs and of the odd pairs, then the two.
    for (int t = 0; t < T; t++)
        for (int g = 0; g < G; g++) {
            const __m512 e = acc[t][g][0], o = acc[t][g][1];
            __m256 r;
            if (bf16) {
                r = _mm256_add_ps(r8h_f16_rows(_mm512_castps512_ps256(e), _mm512_extractf32x8_ps(e, 1)),
                                  r8h_f16_rows(_mm512_castps512_ps256(o), _mm512_extractf32x8_ps(o, 1)));
            } else {
                const __m512 s = _mm512_add_ps(e, o);
                r = r8h_f16_rows(_mm512_castps512_ps256(s), _mm512_extractf32x8_ps(s, 1));
            }
            _mm256_storeu_ps(out + ldo * t + 8 * g, r);
        }
}

static inline __attribute__((always_inline)) void r8z_matvec(const int bf16, const void *w, int groups, int cols,
                                                             const float *x, long ldx, int tokens, float *out, long ldo) {
    const long groupBytes = 16L * cols;
    for (int g = 0; g < groups; g += 2) {
        const uint8_t *p = (const uint8_t *)w + groupBytes * g;
        const int two = g + 1 < groups;
        for (int t0 = 0; t0 < tokens; t0 += R8Z_TT) {
            const int n = tokens - t0 < R8Z_TT ? tokens - t0 : R8Z_TT;
            const float *xt = x + ldx * t0;
            float *o = out + ldo * t0 + 8L * g;
#define R8Z_CASE(T) (two ? r8z_groups(bf16, p, groupBytes, 2, cols, xt, ldx, o, ldo, T) : r8z_groups(bf16, p, groupBytes, 1, cols, xt, ldx, o, ldo, T))
            switch (n) {
            case 1: R8Z_CASE(1); break;
            case 2: R8Z_CASE(2); break;
            case 3: R8Z_CASE(3); break;
            default: R8Z_CASE(4); break;
            }
#undef R8Z_CASE
        }
    }
}

// One token (generation) stays on the 256-bit kernel: it streams memory there, where the
// 512-bit kernel measured 10–20% slower; both give the same bits.
static void matvec_f16_r8(const void *w, int groups, int cols, const float *x, long ldx, int tokens, float *out, long ldo) {
    if (tokens > 1) r8z_matvec(0, w, groups, cols, x, ldx, tokens, out, ldo);
    else r8h_matvec(0, w, groups, cols, x, ldx, tokens, out, ldo);
}

static void matvec_bf16_r8(const void *w, int groups, int cols, const float *x, long ldx, int tokens, float *out, long ldo) {
    if (tokens > 1) r8z_matvec(1, w, groups, cols, x, ldx, tokens, out, ldo);
    else r8h_matvec(1, w, groups, cols, x, ldx, tokens, out, ldo);
}
#else
static void matvec_f16_r8(const void *w, int groups, int cols, const float *x, long ldx, int tokens, float *out, long ldo) {
    r8h_matvec(0, w, groups, cols, x, ldx, tokens, out, ldo);
}

static void matvec_bf16_r8(const void *w, int groups, int cols, const float *x, long ldx, int tokens, float *out, long ldo) {
    r8h_matvec(1, w, groups, cols, x, ldx, tokens, out, ldo);
}
#endif

// The prompt GEMM's fp32 panels from the row-interleaved layout (contract in CKernelSet.h):
// per group and pair, one 256-bit load of 8 rows × 2 columns, written as the two columns'
// 8 rows. BF16: a shift and an AND; F16: vcvtph2ps of each 128-bit half (rows 0–3, 4–7,
// lanes row-major pairs), then the even and odd lanes gathered (shufps + vpermpd).
static void half_r8_panels(int bf16, const void *w, int cols, long group0, int groups, int k0, int kc, float *dst) {
    const long pairs = cols / 2;
    const int panels = (groups + 3) / 4;
    const __m256i high = _mm256_set1_epi32((int)0xFFFF0000u);
    for (int g = 0; g < 4 * panels; g++) {
        float *o = dst + (long)(g / 4) * 32 * kc + 8 * (g % 4);
        if (g >= groups) {
            for (int k = 0; k < kc; k++) _mm256_storeu_ps(o + 32L * k, _mm256_setzero_ps());
            continue;
        }
        const uint8_t *src = (const uint8_t *)w + 32 * (group0 + g) * pairs + 16L * k0;
        for (int p = 0; p < kc / 2; p++, src += 32, o += 64) {
            __m256 even, odd;
            if (bf16) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)src);
                even = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
                odd = _mm256_castsi256_ps(_mm256_and_si256(v, high));
            } else {
                const __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)src));
                const __m256 b = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + 16)));
                // [r0 r1 r4 r5 | r2 r3 r6 r7] of each column, then the 64-bit quarters in order.
                const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
                const __m256 d = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
                even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8));
                odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(d), 0xD8));
            }
            _mm256_storeu_ps(o, even);
            _mm256_storeu_ps(o + 32, odd);
        }
    }
}
