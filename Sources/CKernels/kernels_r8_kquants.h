// ---- Q4_K, Q5_K, Q6_K row-interleaved matrix-vector products (layouts: repack_kquants.h) ----
// Included by kernels_x86.h (after the Q4_0 R8 kernel, whose helpers dot_u8s8 and bcast4 it
// uses). Every sub-block of 32 (a Q6_K chunk of two sub-blocks of 16) is 4 loads giving 8
// registers of 8 rows' 4-element words, as a Q4_0 R8 block is, against one broadcast of 4
// activation bytes per product. Per super-block and group: one f16 → f32 conversion of
// the 8 rows' d (and dmin), the 8 rows' 6-bit scales and mins of all 8 sub-blocks from
// three 32-byte loads and a few masks. Per sub-block and token: the int32 sums of the 8 rows
// to float once, times d·scale·(activation scale). Q4_K/Q5_K's mins term, dmin·Σ_j
// m_j·(activation scale·Σx of sub-block j), is 8 FMAs per super-block and token with the
// products of each activation block's scale and sum computed once per call. Q6_K's
// values are stored + 32: each sub-block of 16 starts its accumulator at −32·Σx of its 16
// activations (a table per call), and the two sub-blocks of a chunk are scaled in int32.
// Each token's float sums run in the same order whatever the number of tokens.

// a | (b & mask): one vpternlogd in the sets with AVX-512 VL (the VNNI ones).
static inline __m256i kq_or_masked(__m256i a, __m256i b, __m256i mask) {
#if K_VNNI
    return _mm256_ternarylogic_epi32(a, b, mask, 0xF8);
#else
    return _mm256_or_si256(a, _mm256_and_si256(b, mask));
#endif
}

// Bytes 8·j…8·j+7 of v (j < 4), zero-extended to 8 int32 lanes.
static inline __m256i kq_lanes_u8(__m256i v, const int j) {
    const __m128i half = j < 2 ? _mm256_castsi256_si128(v) : _mm256_extracti128_si256(v, 1);
    return _mm256_cvtepu8_epi32((j & 1) ? _mm_srli_si128(half, 8) : half);
}

#if K_WIDE
// The 512-bit form of a sub-block's products (the `avx512` set, for cores that execute 512-bit
// vectors whole): one 64-byte load holds two of its 32-byte registers, i (the 8 rows in
// lanes 0–7) and i + 1 (lanes 8–15), so one vpdpbusd does two of the 256-bit form's
// products. Lanes 0–7 take activation word 2k and lanes 8–15 word 2k + 1 of the block's 8
// (`kq_pair`: one vpermd from the 32 bytes, instead of two broadcasts). The two halves are
// added in int32 before anything is converted: the sums are the 256-bit form's integers, and
// the float steps after them the same, so every result is bit for bit the avx512-256 set's.
static inline __m512i kq_pair(__m256i x, const int k) {
    return _mm512_permutexvar_epi32(_mm512_set_epi32(2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1,
                                                     2 * k + 1, 2 * k + 1, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k, 2 * k,
                                                     2 * k, 2 * k),
                                    _mm512_castsi256_si512(x));
}

// Lanes 0–7 plus lanes 8–15.
static inline __m256i kq_fold(__m512i v) {
    return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

// a | (b & mask) on 512 bits: one vpternlogd.
static inline __m512i kq_or_masked512(__m512i a, __m512i b, __m512i mask) {
    return _mm512_ternarylogic_epi32(a, b, mask, 0xF8);
}

// Two 64-bit-lane shift counts, c0 for lanes 0–3 (the low 256 bits) and c1 for lanes 4–7.
static inline __m512i kq_counts(long long c0, long long c1) { return _mm512_set_epi64(c1, c1, c1, c1, c0, c0, c0, c0); }

// The 512-bit kernels ask for their weights this many bytes ahead, every token count: the
// hardware prefetcher alone kept one core at 35–36 GB/s of Q4_K / Q6_K weights (cache-cold,
// 2048 and 8192 columns), 40–41 with 6 KiB ahead (bench/kernels.c's way, one thread, AMD
// Zen 5; 2 KiB ahead was no better, 16 KiB worse). The 256-bit forms, which the Zen 4
// measurements behind R8_FETCH chose for, keep the hardware prefetcher alone.
// KQ_PREFETCH=0 turns it off.
#ifndef KQ_PREFETCH
#define KQ_PREFETCH 6144
#endif
#if KQ_PREFETCH > 0
#define KQ_FETCH(q, k) _mm_prefetch((const char *)(q) + KQ_PREFETCH + 64 * (k), _MM_HINT_T0)
#else
#define KQ_FETCH(q, k) ((void)0)
#endif

// The 8 int8 scales at p as int32 lanes 0–7, and again in lanes 8–15.
static inline __m512i kq_scales16(const uint8_t *p) {
    long long v;
    memcpy(&v, p, 8);
    return _mm512_cvtepi8_epi32(_mm_set1_epi64x(v));
}
#endif

static inline __attribute__((always_inline)) void q45_K_r8_group(const uint8_t *p, int superblocks, const int8_t *xq,
                                                                 const float *xd, const int32_t *xs, const float *cx,
                                                                 float *out, long ldo, const int T, const int five) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const int blocks = 8 * superblocks, sub = five ? 160 : 128;
    const long stride = 32L * blocks;
    __m256 acc[8];
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    for (int s = 0; s < superblocks; s++, p += 8 * sub + 128) {
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16)));
        const __m256i L = _mm256_loadu_si256((const __m256i *)(p + 32));
        const __m256i M = _mm256_loadu_si256((const __m256i *)(p + 64));
        const __m256i H = _mm256_loadu_si256((const __m256i *)(p + 96));
        const __m256i top = _mm256_set1_epi8(0x30);
        // Scales and mins of sub-blocks 0–3 (lo) and 4–7 (hi): byte 8·j + r.
        const __m256i sc_lo = kq_or_masked(_mm256_and_si256(L, m4), _mm256_slli_epi16(H, 4), top);
        const __m256i sc_hi = kq_or_masked(_mm256_and_si256(_mm256_srli_epi16(L, 4), m4), _mm256_slli_epi16(H, 2), top);
        const __m256i mn_lo = kq_or_masked(_mm256_and_si256(M, m4), H, top);
        const __m256i mn_hi = kq_or_masked(_mm256_and_si256(_mm256_srli_epi16(M, 4), m4), _mm256_srli_epi16(H, 2), top);
        __m256 scale[8], mins[8];
        scale[0] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(kq_lanes_u8(sc_lo, 0)));
        scale[1] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(kq_lanes_u8(sc_lo, 1)));
        scale[2] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(kq_lanes_u8(sc_lo, 2)));
        scale[3] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(kq_lanes_u8(sc_lo, 3)));
        scale[4] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(kq_lanes_u8(sc_hi, 0)));
        scale[5] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(kq_lanes_u8(sc_hi, 1)));
        scale[6] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(kq_lanes_u8(sc_hi, 2)));
        scale[7] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(kq_lanes_u8(sc_hi, 3)));
        mins[0] = _mm256_cvtepi32_ps(kq_lanes_u8(mn_lo, 0));
        mins[1] = _mm256_cvtepi32_ps(kq_lanes_u8(mn_lo, 1));
        mins[2] = _mm256_cvtepi32_ps(kq_lanes_u8(mn_lo, 2));
        mins[3] = _mm256_cvtepi32_ps(kq_lanes_u8(mn_lo, 3));
        mins[4] = _mm256_cvtepi32_ps(kq_lanes_u8(mn_hi, 0));
        mins[5] = _mm256_cvtepi32_ps(kq_lanes_u8(mn_hi, 1));
        mins[6] = _mm256_cvtepi32_ps(kq_lanes_u8(mn_hi, 2));
        mins[7] = _mm256_cvtepi32_ps(kq_lanes_u8(mn_hi, 3));
        // −dmin·Σ_j m_j·(scale·Σx of activation block j), per token.
        for (int t = 0; t < T; t++) {
            const long b0 = (long)blocks * t + 8 * s;
            __m256 m = _mm256_setzero_ps();
            for (int j = 0; j < 8; j++)
                m = _mm256_fmadd_ps(mins[j], _mm256_set1_ps(cx ? cx[b0 + j] : xd[b0 + j] * (float)xs[b0 + j]), m);
            acc[t] = _mm256_fnmadd_ps(dmin, m, acc[t]);
        }
        const uint8_t *q = p + 128;
#if K_WIDE
        const __m512i m4w = _mm512_set1_epi8(0x0F), b4w = _mm512_set1_epi8(0x10);
        for (int j = 0; j < 8; j++, q += sub) {
            KQ_FETCH(q, 0);
            KQ_FETCH(q, 1);
            if (five) KQ_FETCH(q, 2);
            // Registers (0, 1) and (2, 3) of the sub-block, low nibbles; then (4, 5), (6, 7).
            const __m512i wa = _mm512_loadu_si512((const void *)q), wb = _mm512_loadu_si512((const void *)(q + 64));
            __m512i v01 = _mm512_and_si512(wa, m4w), v23 = _mm512_and_si512(wb, m4w);
            __m512i v45 = _mm512_and_si512(_mm512_srli_epi16(wa, 4), m4w), v67 = _mm512_and_si512(_mm512_srli_epi16(wb, 4), m4w);
            if (five) {
                // The fifth bits to bit 4: register i's is bit i of the 32 bytes (both halves the same bytes).
                const __m512i hb = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(q + 128)));
                v01 = kq_or_masked512(v01, _mm512_sllv_epi64(hb, kq_counts(4, 3)), b4w);
                v23 = kq_or_masked512(v23, _mm512_sllv_epi64(hb, kq_counts(2, 1)), b4w);
                v45 = kq_or_masked512(v45, _mm512_srlv_epi64(hb, kq_counts(0, 1)), b4w);
                v67 = kq_or_masked512(v67, _mm512_srlv_epi64(hb, kq_counts(2, 3)), b4w);
            }
            for (int t = 0; t < T; t++) {
                const long b = (long)blocks * t + 8 * s + j;
                const __m256i x = _mm256_loadu_si256((const __m256i *)(xq + stride * t + 256L * s + 32 * j));
                __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), v01, kq_pair(x, 0));
                __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), v23, kq_pair(x, 1));
                s0 = _mm512_dpbusd_epi32(s0, v45, kq_pair(x, 2));
                s1 = _mm512_dpbusd_epi32(s1, v67, kq_pair(x, 3));
                const __m256 f = _mm256_mul_ps(scale[j], _mm256_set1_ps(xd[b]));
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(kq_fold(_mm512_add_epi32(s0, s1))), f, acc[t]);
            }
        }
#else
        for (int j = 0; j < 8; j++, q += sub) {
            // 2 or more tokens: the Q4_0 R8 kernel's prefetch (R8_FETCH, kernels_x86.h).
            R8_FETCH(q, 0, T);
            R8_FETCH(q, 1, T);
            if (five) R8_FETCH(q, 2, T);
            __m256i v[8];
            for (int i = 0; i < 4; i++) {
                const __m256i w = _mm256_loadu_si256((const __m256i *)(q + 32 * i));
                v[i] = _mm256_and_si256(w, m4);
                v[4 + i] = _mm256_and_si256(_mm256_srli_epi16(w, 4), m4);
            }
            if (five) {
                // Bit i of each byte is register i's fifth bit: moved to bit 4.
                const __m256i hb = _mm256_loadu_si256((const __m256i *)(q + 128)), b4 = _mm256_set1_epi8(0x10);
                v[0] = kq_or_masked(v[0], _mm256_slli_epi16(hb, 4), b4);
                v[1] = kq_or_masked(v[1], _mm256_slli_epi16(hb, 3), b4);
                v[2] = kq_or_masked(v[2], _mm256_slli_epi16(hb, 2), b4);
                v[3] = kq_or_masked(v[3], _mm256_slli_epi16(hb, 1), b4);
                v[4] = kq_or_masked(v[4], hb, b4);
                v[5] = kq_or_masked(v[5], _mm256_srli_epi16(hb, 1), b4);
                v[6] = kq_or_masked(v[6], _mm256_srli_epi16(hb, 2), b4);
                v[7] = kq_or_masked(v[7], _mm256_srli_epi16(hb, 3), b4);
            }
            for (int t = 0; t < T; t++) {
                const long b = (long)blocks * t + 8 * s + j;
                const int8_t *x = xq + stride * t + 256L * s + 32 * j;
                __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
                s0 = dot_u8s8(s0, v[0], bcast4(x));
                s1 = dot_u8s8(s1, v[1], bcast4(x + 4));
                s0 = dot_u8s8(s0, v[2], bcast4(x + 8));
                s1 = dot_u8s8(s1, v[3], bcast4(x + 12));
                s0 = dot_u8s8(s0, v[4], bcast4(x + 16));
                s1 = dot_u8s8(s1, v[5], bcast4(x + 20));
                s0 = dot_u8s8(s0, v[6], bcast4(x + 24));
                s1 = dot_u8s8(s1, v[7], bcast4(x + 28));
                const __m256 f = _mm256_mul_ps(scale[j], _mm256_set1_ps(xd[b]));
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), f, acc[t]);
            }
        }
#endif
    }
    for (int t = 0; t < T; t++) _mm256_storeu_ps(out + ldo * t, acc[t]);
}

// Tokens in batches whose per-block table (`cx`: scale·Σx of each activation block; Q6_K:
// −32·Σx of each half block) fits on the stack (all 8 tokens up to 32768 columns); rows
// longer than the table compute the same values inline, one token at a time.
enum { KQ_TABLE = 8192 };

static inline __attribute__((always_inline)) void q45_K_r8_matvec(const void *w, int groups, int blocks, const int8_t *xq,
                                                                  const float *xd, const int32_t *xs, int tokens,
                                                                  float *out, long ldo, const int five) {
    float cx[KQ_TABLE];
    const int superblocks = blocks / 8;
    const long groupBytes = (five ? 1408L : 1152L) * superblocks;
    const int batch = blocks <= KQ_TABLE ? (KQ_TABLE / blocks < 8 ? KQ_TABLE / blocks : 8) : 0;
    for (int t0 = 0; t0 < tokens;) {
        const int n = batch ? (tokens - t0 < batch ? tokens - t0 : batch) : 1;
        const long first = (long)blocks * t0;
        if (batch)
            for (long i = 0; i < (long)n * blocks; i++) cx[i] = xd[first + i] * (float)xs[first + i];
        const float *table = batch ? cx : NULL;
        for (int g = 0; g < groups; g++) {
            const uint8_t *p = (const uint8_t *)w + groupBytes * g;
            const int8_t *x = xq + 32 * first;
            const float *d = xd + first;
            const int32_t *sums = xs + first;
            float *o = out + 8L * g + ldo * t0;
            switch (n) {
            case 1: q45_K_r8_group(p, superblocks, x, d, sums, table, o, ldo, 1, five); break;
            case 2: q45_K_r8_group(p, superblocks, x, d, sums, table, o, ldo, 2, five); break;
            case 3: q45_K_r8_group(p, superblocks, x, d, sums, table, o, ldo, 3, five); break;
            case 4: q45_K_r8_group(p, superblocks, x, d, sums, table, o, ldo, 4, five); break;
            case 5: q45_K_r8_group(p, superblocks, x, d, sums, table, o, ldo, 5, five); break;
            case 6: q45_K_r8_group(p, superblocks, x, d, sums, table, o, ldo, 6, five); break;
            case 7: q45_K_r8_group(p, superblocks, x, d, sums, table, o, ldo, 7, five); break;
            default: q45_K_r8_group(p, superblocks, x, d, sums, table, o, ldo, 8, five); break;
            }
        }
        t0 += n;
    }
}

static void matvec_q4_K_r8(const void *w, int groups, int blocks, const int8_t *xq, const float *xd, const int32_t *xs,
                           int tokens, float *out, long ldo) {
    q45_K_r8_matvec(w, groups, blocks, xq, xd, xs, tokens, out, ldo, 0);
}

static void matvec_q5_K_r8(const void *w, int groups, int blocks, const int8_t *xq, const float *xd, const int32_t *xs,
                           int tokens, float *out, long ldo) {
    q45_K_r8_matvec(w, groups, blocks, xq, xd, xs, tokens, out, ldo, 1);
}

// −32·Σx over 16 int8 activations.
static inline int32_t q6_K_offset16(const int8_t *x) {
    int32_t s = 0;
    for (int i = 0; i < 16; i++) s += x[i];
    return -32 * s;
}

static inline __attribute__((always_inline)) void q6_K_r8_group(const uint8_t *p, int superblocks, const int8_t *xq,
                                                                const float *xd, const int32_t *off, float *out, long ldo,
                                                                const int T) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), top = _mm256_set1_epi8(0x30);
    const int blocks = 8 * superblocks;
    const long stride = 32L * blocks;
    __m256 acc[8];
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    for (int s = 0; s < superblocks; s++, p += 1680) {
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
#if K_WIDE
        const __m512i m4w = _mm512_set1_epi8(0x0F), topw = _mm512_set1_epi8(0x30);
        for (int c = 0; c < 8; c++) {
            const uint8_t *q = p + 144 + 192 * c;
            KQ_FETCH(q, 0);
            KQ_FETCH(q, 1);
            KQ_FETCH(q, 2);
            // The int8 scales of sub-blocks 2c and 2c + 1, each in both halves.
            const __m512i sa = kq_scales16(p + 16 + 16 * c);
            const __m512i sb = kq_scales16(p + 24 + 16 * c);
            const __m512i h0 = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(q + 128)));
            const __m512i h1 = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(q + 160)));
            const __m512i wa = _mm512_loadu_si512((const void *)q), wb = _mm512_loadu_si512((const void *)(q + 64));
            // Registers (0, 1), (2, 3) (sub-block 2c), (4, 5), (6, 7) (2c + 1), top bits to bits 4–5.
            const __m512i v01 = kq_or_masked512(_mm512_and_si512(wa, m4w), _mm512_sllv_epi64(h0, kq_counts(4, 2)), topw);
            const __m512i v23 = kq_or_masked512(_mm512_and_si512(wb, m4w), _mm512_srlv_epi64(h0, kq_counts(0, 2)), topw);
            const __m512i v45 = kq_or_masked512(_mm512_and_si512(_mm512_srli_epi16(wa, 4), m4w),
                                                _mm512_sllv_epi64(h1, kq_counts(4, 2)), topw);
            const __m512i v67 = kq_or_masked512(_mm512_and_si512(_mm512_srli_epi16(wb, 4), m4w),
                                                _mm512_srlv_epi64(h1, kq_counts(0, 2)), topw);
            for (int t = 0; t < T; t++) {
                const long b = (long)blocks * t + 8 * s + c;
                const int8_t *x = xq + stride * t + 256L * s + 32 * c;
                const __m256i xv = _mm256_loadu_si256((const __m256i *)x);
                // The offsets −32·Σx start lanes 0–7 only: the folded sums are the 256-bit form's.
                __m512i s0 = _mm512_maskz_set1_epi32(0x00FF, off ? off[2 * b] : q6_K_offset16(x));
                __m512i s1 = _mm512_maskz_set1_epi32(0x00FF, off ? off[2 * b + 1] : q6_K_offset16(x + 16));
                s0 = _mm512_dpbusd_epi32(s0, v01, kq_pair(xv, 0));
                s1 = _mm512_dpbusd_epi32(s1, v45, kq_pair(xv, 2));
                s0 = _mm512_dpbusd_epi32(s0, v23, kq_pair(xv, 1));
                s1 = _mm512_dpbusd_epi32(s1, v67, kq_pair(xv, 3));
                const __m512i sum = _mm512_add_epi32(_mm512_mullo_epi32(s0, sa), _mm512_mullo_epi32(s1, sb));
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(kq_fold(sum)), _mm256_mul_ps(d, _mm256_set1_ps(xd[b])), acc[t]);
            }
        }
#else
        for (int c = 0; c < 8; c++) {
            const uint8_t *q = p + 144 + 192 * c;
            R8_FETCH(q, 0, T);
            R8_FETCH(q, 1, T);
            R8_FETCH(q, 2, T);
            // The int8 scales of sub-blocks 2c (elements 0–15 of the chunk) and 2c + 1.
            const __m256i sa = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 16 + 16 * c)));
            const __m256i sb = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p + 24 + 16 * c)));
            const __m256i h0 = _mm256_loadu_si256((const __m256i *)(q + 128));
            const __m256i h1 = _mm256_loadu_si256((const __m256i *)(q + 160));
            __m256i v[8];
            for (int i = 0; i < 4; i++) {
                const __m256i w = _mm256_loadu_si256((const __m256i *)(q + 32 * i));
                v[i] = _mm256_and_si256(w, m4);
                v[4 + i] = _mm256_and_si256(_mm256_srli_epi16(w, 4), m4);
            }
            // Bits 2i, 2i + 1 of h0 (h1) are register i's (4 + i's) top bits: moved to bits 4–5.
            v[0] = kq_or_masked(v[0], _mm256_slli_epi16(h0, 4), top);
            v[1] = kq_or_masked(v[1], _mm256_slli_epi16(h0, 2), top);
            v[2] = kq_or_masked(v[2], h0, top);
            v[3] = kq_or_masked(v[3], _mm256_srli_epi16(h0, 2), top);
            v[4] = kq_or_masked(v[4], _mm256_slli_epi16(h1, 4), top);
            v[5] = kq_or_masked(v[5], _mm256_slli_epi16(h1, 2), top);
            v[6] = kq_or_masked(v[6], h1, top);
            v[7] = kq_or_masked(v[7], _mm256_srli_epi16(h1, 2), top);
            for (int t = 0; t < T; t++) {
                const long b = (long)blocks * t + 8 * s + c;
                const int8_t *x = xq + stride * t + 256L * s + 32 * c;
                __m256i s0 = _mm256_set1_epi32(off ? off[2 * b] : q6_K_offset16(x));
                __m256i s1 = _mm256_set1_epi32(off ? off[2 * b + 1] : q6_K_offset16(x + 16));
                s0 = dot_u8s8(s0, v[0], bcast4(x));
                s1 = dot_u8s8(s1, v[4], bcast4(x + 16));
                s0 = dot_u8s8(s0, v[1], bcast4(x + 4));
                s1 = dot_u8s8(s1, v[5], bcast4(x + 20));
                s0 = dot_u8s8(s0, v[2], bcast4(x + 8));
                s1 = dot_u8s8(s1, v[6], bcast4(x + 24));
                s0 = dot_u8s8(s0, v[3], bcast4(x + 12));
                s1 = dot_u8s8(s1, v[7], bcast4(x + 28));
                const __m256i sum = _mm256_add_epi32(_mm256_mullo_epi32(s0, sa), _mm256_mullo_epi32(s1, sb));
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(d, _mm256_set1_ps(xd[b])), acc[t]);
            }
        }
#endif
    }
    for (int t = 0; t < T; t++) _mm256_storeu_ps(out + ldo * t, acc[t]);
}

static void matvec_q6_K_r8(const void *w, int groups, int blocks, const int8_t *xq, const float *xd, const int32_t *xs,
                           int tokens, float *out, long ldo) {
    (void)xs;
    int32_t off[KQ_TABLE];
    const int superblocks = blocks / 8;
    const int batch = 2 * blocks <= KQ_TABLE ? (KQ_TABLE / (2 * blocks) < 8 ? KQ_TABLE / (2 * blocks) : 8) : 0;
    for (int t0 = 0; t0 < tokens;) {
        const int n = batch ? (tokens - t0 < batch ? tokens - t0 : batch) : 1;
        const long first = (long)blocks * t0;
        if (batch)
            for (long i = 0; i < 2L * n * blocks; i++) off[i] = q6_K_offset16(xq + 32 * first + 16 * i);
        const int32_t *table = batch ? off : NULL;
        for (int g = 0; g < groups; g++) {
            const uint8_t *p = (const uint8_t *)w + 1680L * superblocks * g;
            const int8_t *x = xq + 32 * first;
            const float *d = xd + first;
            float *o = out + 8L * g + ldo * t0;
            switch (n) {
            case 1: q6_K_r8_group(p, superblocks, x, d, table, o, ldo, 1); break;
            case 2: q6_K_r8_group(p, superblocks, x, d, table, o, ldo, 2); break;
            case 3: q6_K_r8_group(p, superblocks, x, d, table, o, ldo, 3); break;
            case 4: q6_K_r8_group(p, superblocks, x, d, table, o, ldo, 4); break;
            case 5: q6_K_r8_group(p, superblocks, x, d, table, o, ldo, 5); break;
            case 6: q6_K_r8_group(p, superblocks, x, d, table, o, ldo, 6); break;
            case 7: q6_K_r8_group(p, superblocks, x, d, table, o, ldo, 7); break;
            default: q6_K_r8_group(p, superblocks, x, d, table, o, ldo, 8); break;
            }
        }
        t0 += n;
    }
}
