// Row-interleaved matrix-vector kernels of Q4_1, Q5_0, Q5_1, IQ4_NL and IQ4_XS (layouts in
// r8_legacy.h), included by kernels_x86.h: compiled once per x86 set, with its K_VNNI.
// As the Q4_0 R8 kernel: per block of 32 and group of 8 rows, 8 registers of unsigned bytes
// (register k: elements 4k…4k+3 of each row, one row per int32 lane) meet one broadcast of
// 4 activation bytes each, for every token of the call; each token's float sums run in
// block order, the same for 1 and for 8 tokens.
//   Q4_1: the nibbles; value = d·q + m → d·xd·Σq·x + m·xd·Σx.
//   Q5_0, Q5_1: the nibbles with their high bit (one AND, one shift, one OR per register);
//     Q5_0's −16 is −16·Σx in the accumulator's start.
//   IQ4_NL, IQ4_XS: one vpshufb per register turns nibbles into table values. With VNNI the
//     table is stored + 128 (unsigned) and the accumulator starts from −128·Σx; without,
//     vpmaddubsw's pair sums would saturate (2·241·127), so the AVX2 set multiplies |value|
//     by x with the value's sign (one vpabsb and one vpsignb per register and token: keeping
//     the 8 |value| registers across tokens spilled IQ4_XS's registers, 12.6 → 18.6 GB/s per
//     thread with the vpabsb per token, bench/kernels.sh, Zen 4, loaded machine).
//   IQ4_XS: per super-block of 256, the 8 rows' 6-bit sub-block scales decode in vector
//     lanes (scales_l and scales_h of 8 rows are one load each).

enum { R8L_Q4_1 = 3, R8L_Q5_0 = 6, R8L_Q5_1 = 7, R8L_IQ4_NL = 20, R8L_IQ4_XS = 23 };

// The 8 registers of a block of 32 from its nibble words `q` (128 bytes), with the Q5 high
// bits from `qh` (32 bytes) and the IQ4 table (signed values in the AVX2 set).
static inline __attribute__((always_inline)) void r8l_unpack(const int type, const uint8_t *q, const uint8_t *qh,
                                                             __m256i v[8]) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int i = 0; i < 4; i++) {
        const __m256i w = _mm256_loadu_si256((const __m256i *)(q + 32 * i));
        v[i] = _mm256_and_si256(w, m4);
        v[4 + i] = _mm256_and_si256(_mm256_srli_epi16(w, 4), m4);
    }
    if (type == R8L_Q5_0 || type == R8L_Q5_1) {
        const __m256i h = _mm256_loadu_si256((const __m256i *)qh);
        // Bit k of each byte is register k's high bit: moved to bit 4 (within its byte).
        v[0] = _mm256_or_si256(v[0], _mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(0x01)), 4));
        v[1] = _mm256_or_si256(v[1], _mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(0x02)), 3));
        v[2] = _mm256_or_si256(v[2], _mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(0x04)), 2));
        v[3] = _mm256_or_si256(v[3], _mm256_slli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(0x08)), 1));
        v[4] = _mm256_or_si256(v[4], _mm256_and_si256(h, _mm256_set1_epi8(0x10)));
        v[5] = _mm256_or_si256(v[5], _mm256_srli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(0x20)), 1));
        v[6] = _mm256_or_si256(v[6], _mm256_srli_epi16(_mm256_and_si256(h, _mm256_set1_epi8(0x40)), 2));
        v[7] = _mm256_or_si256(v[7], _mm256_srli_epi16(_mm256_and_si256(h, _mm256_set1_epi8((char)0x80)), 3));
    }
    if (type == R8L_IQ4_NL || type == R8L_IQ4_XS) {
        const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(K_VNNI ? iq4_unsigned : (const uint8_t *)iq4_values)));
        for (int i = 0; i < 8; i++) v[i] = _mm256_shuffle_epi8(table, v[i]);
    }
}

// One token's 8 row sums of a block: Σ v·x from `start` (the offset term).
static inline __attribute__((always_inline)) __m256i r8l_dot(const int type, const __m256i v[8], const int8_t *x,
                                                             int32_t start) {
    __m256i s0 = _mm256_set1_epi32(start), s1 = _mm256_setzero_si256();
#if !K_VNNI
    if (type == R8L_IQ4_NL || type == R8L_IQ4_XS) {
        for (int i = 0; i < 8; i += 2) {
            s0 = dot_u8s8(s0, _mm256_abs_epi8(v[i]), _mm256_sign_epi8(bcast4(x + 4 * i), v[i]));
            s1 = dot_u8s8(s1, _mm256_abs_epi8(v[i + 1]), _mm256_sign_epi8(bcast4(x + 4 * i + 4), v[i + 1]));
        }
        return _mm256_add_epi32(s0, s1);
    }
#endif
    for (int i = 0; i < 8; i += 2) {
        s0 = dot_u8s8(s0, v[i], bcast4(x + 4 * i));
        s1 = dot_u8s8(s1, v[i + 1], bcast4(x + 4 * i + 4));
    }
    return _mm256_add_epi32(s0, s1);
}

// The offset term of a block for one token: what the stored values add beyond the true ones.
static inline __attribute__((always_inline)) int32_t r8l_start(const int type, int32_t sum) {
#if K_VNNI
    if (type == R8L_IQ4_NL || type == R8L_IQ4_XS) return -128 * sum;
#endif
    return type == R8L_Q5_0 ? -16 * sum : 0;
}

// The blocks-of-32 types: one group of 8 rows against T tokens.
static inline __attribute__((always_inline)) void r8l_group32(const int type, const uint8_t *p, int blocks,
                                                              const int8_t *xq, const float *xd, const int32_t *xs,
                                                              float *out, long ldo, const int T) {
    const int hasMin = type == R8L_Q4_1 || type == R8L_Q5_1, hasHigh = type == R8L_Q5_0 || type == R8L_Q5_1;
    const int qhOffset = 16 * (1 + hasMin), quantOffset = qhOffset + 32 * hasHigh, blockBytes = quantOffset + 128;
    const long stride = 32L * blocks;
    __m256 acc[8];
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < blocks; b++, p += blockBytes) {
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        __m256 m = _mm256_setzero_ps();
        if (hasMin) m = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16)));
        __m256i v[8];
        r8l_unpack(type, p + quantOffset, p + qhOffset, v);
        for (int t = 0; t < T; t++) {
            const long k = (long)blocks * t + b;
            const __m256i s = r8l_dot(type, v, xq + stride * t + 32 * b, r8l_start(type, xs[k]));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(d, _mm256_set1_ps(xd[k])), acc[t]);
            if (hasMin) acc[t] = _mm256_fmadd_ps(m, _mm256_set1_ps(xd[k] * (float)xs[k]), acc[t]);
        }
    }
    for (int t = 0; t < T; t++) _mm256_storeu_ps(out + ldo * t, acc[t]);
}

// IQ4_XS: one group of 8 rows against T tokens; `blocks` counts blocks of 32.
static inline __attribute__((always_inline)) void r8l_group_iq4_xs(const uint8_t *p, int blocks, const int8_t *xq,
                                                                   const float *xd, const int32_t *xs, float *out,
                                                                   long ldo, const int T) {
    const long stride = 32L * blocks;
    const __m256i low4 = _mm256_set1_epi32(0x0F), low2 = _mm256_set1_epi32(3), bias = _mm256_set1_epi32(32);
    __m256 acc[8];
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    for (int sb = 0; sb < blocks / 8; sb++, p += 1088) {
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        const __m256i hi = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p + 16)));
        const __m256i lo = _mm256_loadu_si256((const __m256i *)(p + 32));
        for (int j = 0; j < 8; j++) {
            // Sub-block j's scale of each row: nibble j of scales_l, bits 2j…2j+1 of scales_h.
            const __m256i l = _mm256_and_si256(_mm256_srli_epi32(lo, 4 * j), low4);
            const __m256i h = _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(hi, 2 * j), low2), 4);
            const __m256 dl = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_sub_epi32(_mm256_or_si256(l, h), bias)));
            __m256i v[8];
            r8l_unpack(R8L_IQ4_XS, p + 64 + 128 * j, NULL, v);
            const long b = 8L * sb + j;
            for (int t = 0; t < T; t++) {
                const long k = (long)blocks * t + b;
                const __m256i s = r8l_dot(R8L_IQ4_XS, v, xq + stride * t + 32 * b, r8l_start(R8L_IQ4_XS, xs[k]));
                acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dl, _mm256_set1_ps(xd[k])), acc[t]);
            }
        }
    }
    for (int t = 0; t < T; t++) _mm256_storeu_ps(out + ldo * t, acc[t]);
}

// The group kernels inlined per token count (1…8).
#define R8L_TOKENS(CALL) switch (tokens) { \
    case 1: { const int T = 1; CALL; } break; case 2: { const int T = 2; CALL; } break; \
    case 3: { const int T = 3; CALL; } break; case 4: { const int T = 4; CALL; } break; \
    case 5: { const int T = 5; CALL; } break; case 6: { const int T = 6; CALL; } break; \
    case 7: { const int T = 7; CALL; } break; default: { const int T = 8; CALL; } break; }

#define R8L_MATVEC32(NAME, TYPE, BYTES) \
static void NAME(const void *w, int groups, int blocks, const int8_t *xq, const float *xd, const int32_t *xs, \
                 int tokens, float *out, long ldo) { \
    for (int g = 0; g < groups; g++) { \
        const uint8_t *p = (const uint8_t *)w + (long)(BYTES) * blocks * g; \
        R8L_TOKENS(r8l_group32(TYPE, p, blocks, xq, xd, xs, out + 8L * g, ldo, T)) \
    } \
}

R8L_MATVEC32(matvec_q4_1_r8, R8L_Q4_1, 160)
R8L_MATVEC32(matvec_q5_0_r8, R8L_Q5_0, 176)
R8L_MATVEC32(matvec_q5_1_r8, R8L_Q5_1, 192)
R8L_MATVEC32(matvec_iq4_nl_r8, R8L_IQ4_NL, 144)

static void matvec_iq4_xs_r8(const void *w, int groups, int blocks, const int8_t *xq, const float *xd, const int32_t *xs,
                             int tokens, float *out, long ldo) {
    for (int g = 0; g < groups; g++) {
        const uint8_t *p = (const uint8_t *)w + 136L * blocks * g;
        R8L_TOKENS(r8l_group_iq4_xs(p, blocks, xq, xd, xs, out + 8L * g, ldo, T))
    }
}
#undef R8L_MATVEC32
#undef R8L_TOKENS
