// Q2_K and Q3_K in their row-interleaved layouts (repack_k23.h), included by kernels_x86.h
// for each x86 set. Per super-block of a group of 8 rows: the scales of the 8 rows are
// decoded once into int16 pairs (sub-blocks 2c and 2c + 1 of each block of 32 c, one row per
// int32 lane); the 2-bit values of 8 rows come from one word load per 4 elements, one shift
// and mask per block of 32 (Q3_K adds its high bit from the hmask words), shared by every
// token of the call. Per token and block of 32: four u8·s8 products per sub-block of 16 (one
// activation broadcast feeds 8 rows), the two sums packed into an int16 pair, and one
// vpmaddwd with the scale pair gives Σ scale_j·Σ u·x per row; Q2_K's minimums meet the sums of
// the activations' halves of 16 (an int16 pair per block, computed once per call into a
// stack table) in one more vpmaddwd, Q3_K's offset −4 subtracts 4× those sums before its
// scales. The float step per block of 32 is one convert and one FMA with the block's
// activation scale (the activations are quantized per 32), and d (and dmin) once per
// super-block. Each token's float sums run in the same order for 1…8 tokens.

// The sums of the two halves of 16 of one block of 32 int8 activations, as an int16 pair
// (low: elements 0…15): vpsadbw of x + 128 against zero sums each run of 8 bytes.
static inline int32_t k23_half_sums(const int8_t *x) {
    const __m256i v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)x), _mm256_set1_epi8((char)0x80));
    const __m256i s = _mm256_sad_epu8(v, _mm256_setzero_si256());
    const __m128i lo = _mm256_castsi256_si128(s), hi = _mm256_extracti128_si256(s, 1);
    const int a = _mm_cvtsi128_si32(lo) + _mm_extract_epi32(lo, 2) - 2048;
    const int b = _mm_cvtsi128_si32(hi) + _mm_extract_epi32(hi, 2) - 2048;
    return (int32_t)((uint32_t)(uint16_t)a | ((uint32_t)(uint16_t)b << 16));
}

// Σ over 4 words of u·x (16 elements of each of 8 rows) in the int32 lanes: the values are
// below 8, so without VNNI four vpmaddubsw pair sums add in int16 (at most 4·2·7·127) first.
static inline __m256i k23_dot16(const __m256i *u, const int8_t *x) {
#if K_VNNI
    __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), u[0], bcast4(x));
    s = _mm256_dpbusd_epi32(s, u[1], bcast4(x + 4));
    s = _mm256_dpbusd_epi32(s, u[2], bcast4(x + 8));
    return _mm256_dpbusd_epi32(s, u[3], bcast4(x + 12));
#else
    const __m256i a = _mm256_add_epi16(_mm256_maddubs_epi16(u[0], bcast4(x)), _mm256_maddubs_epi16(u[1], bcast4(x + 4)));
    const __m256i b = _mm256_add_epi16(_mm256_maddubs_epi16(u[2], bcast4(x + 8)), _mm256_maddubs_epi16(u[3], bcast4(x + 12)));
    return _mm256_madd_epi16(_mm256_add_epi16(a, b), _mm256_set1_epi16(1));
#endif
}

static inline __attribute__((always_inline)) void k23_r8_group(const int isQ3, const uint8_t *p, int superblocks,
                                                               const int8_t *xq, const float *xd, const int32_t *halves,
                                                               float *out, long ldo, const int T) {
    const int blocks = 8 * superblocks;
    const long stride = 32L * blocks;
    const __m256i three = _mm256_set1_epi8(3);
    __m256 acc[8];
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    for (int s = 0; s < superblocks; s++, p += isQ3 ? 880 : 672) {
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        __m256 dmin = _mm256_setzero_ps();
        __m256i sc[8], mn[8], hm[8];
        if (isQ3) {
            // Sub-blocks 4i…4i+3 of the 8 rows as bytes [j][r] in q[i]: low 4 bits from bytes
            // 0…7 (nibble j / 8), top 2 bits from bytes 8…11 (bits 2·(j / 4)), minus 32.
            const __m256i lo0 = _mm256_loadu_si256((const __m256i *)(p + 16)), lo1 = _mm256_loadu_si256((const __m256i *)(p + 48));
            const __m256i hi = _mm256_loadu_si256((const __m256i *)(p + 80));
            const __m256i m4 = _mm256_set1_epi8(0x0F), m32 = _mm256_set1_epi8(32);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(lo0, m4), _mm256_slli_epi16(_mm256_and_si256(hi, three), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(lo1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hi, 2), three), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lo0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hi, 4), three), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(lo1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hi, 6), three), 4));
            for (int i = 0; i < 4; i++) {
                const __m256i v = _mm256_sub_epi8(q[i], m32);
                // Lane h holds sub-blocks 4i + 2h (bytes 0…7) and 4i + 2h + 1 (8…15): block 2i + h.
                const __m256i pairs = _mm256_unpacklo_epi8(v, _mm256_bsrli_epi128(v, 8));
                sc[2 * i] = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(pairs));
                sc[2 * i + 1] = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(pairs, 1));
            }
            for (int w = 0; w < 8; w++) hm[w] = _mm256_loadu_si256((const __m256i *)(p + 112 + 32 * w));
        } else {
            dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16)));
            for (int c = 0; c < 8; c++) {
                const __m256i v = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(p + 32 + 16 * c)));
                sc[c] = _mm256_and_si256(v, _mm256_set1_epi16(0x0F));
                mn[c] = _mm256_srli_epi16(v, 4);
            }
        }
        const uint8_t *qs = p + (isQ3 ? 368 : 160);
        __m256 fd[8], fm[8];
        for (int t = 0; t < T; t++) fd[t] = fm[t] = _mm256_setzero_ps();
        for (int n = 0; n < 2; n++) {
            __m256i q[8];
            for (int w = 0; w < 8; w++) q[w] = _mm256_loadu_si256((const __m256i *)(qs + 32 * (8 * n + w)));
            for (int k = 0; k < 4; k++) {
                const int c = 4 * n + k;
                __m256i u[8];
                for (int w = 0; w < 8; w++) u[w] = _mm256_and_si256(_mm256_srli_epi16(q[w], 2 * k), three);
                if (isQ3) {
                    // 4 where bit c of the row's hmask byte is set: from bit 2 up, the masked
                    // bit (≥ 4) clipped to 4; bits 0 and 1 shifted up to bit 2 (a 16-bit shift by
                    // at most 2 moves no other byte's bits into bit 2).
                    const __m256i four = _mm256_set1_epi8(4);
                    for (int w = 0; w < 8; w++) {
                        const __m256i h = c >= 2 ? _mm256_min_epu8(_mm256_and_si256(hm[w], _mm256_set1_epi8((char)(1 << c))), four)
                                                 : _mm256_and_si256(_mm256_slli_epi16(hm[w], 2 - c), four);
                        u[w] = _mm256_or_si256(u[w], h);
                    }
                }
                for (int t = 0; t < T; t++) {
                    const int8_t *x = xq + stride * t + 256L * s + 32 * c;
                    const long o = (long)blocks * t + 8L * s + c;
                    const __m256i da = k23_dot16(u, x), db = k23_dot16(u + 4, x + 16);
                    __m256i pd = _mm256_blend_epi16(da, _mm256_slli_epi32(db, 16), 0xAA);
                    const __m256i xh = _mm256_set1_epi32(halves ? halves[o] : k23_half_sums(x));
                    const __m256 xs = _mm256_set1_ps(xd[o]);
                    if (isQ3) pd = _mm256_sub_epi16(pd, _mm256_slli_epi16(xh, 2));
                    fd[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(pd, sc[c])), xs, fd[t]);
                    if (!isQ3) fm[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(mn[c], xh)), xs, fm[t]);
                }
            }
        }
        for (int t = 0; t < T; t++) {
            acc[t] = _mm256_fmadd_ps(d, fd[t], acc[t]);
            if (!isQ3) acc[t] = _mm256_fnmadd_ps(dmin, fm[t], acc[t]);
        }
    }
    for (int t = 0; t < T; t++) _mm256_storeu_ps(out + ldo * t, acc[t]);
}

static inline __attribute__((always_inline)) void k23_matvec(const int isQ3, const void *w, int groups, int blocks,
                                                             const int8_t *xq, const float *xd, int tokens, float *out, long ldo) {
    // The halves' sums of every token and block of 32 on the stack (32 KiB at most: rows of up
    // to 32768 columns at 8 tokens); longer rows compute them in the block loop.
    enum { HALVES_CAP = 8 * 1024 };
    int32_t buffer[HALVES_CAP];
    const int T = tokens < 8 ? tokens : 8, superblocks = blocks / 8;
    const int32_t *halves = NULL;
    if ((long)T * blocks <= HALVES_CAP) {
        for (long i = 0; i < (long)T * blocks; i++) buffer[i] = k23_half_sums(xq + 32 * i);
        halves = buffer;
    }
    const long groupBytes = (long)(isQ3 ? 880 : 672) * superblocks;
    for (int g = 0; g < groups; g++) {
        const uint8_t *p = (const uint8_t *)w + groupBytes * g;
        float *o = out + 8L * g;
        switch (T) {
        case 1: k23_r8_group(isQ3, p, superblocks, xq, xd, halves, o, ldo, 1); break;
        case 2: k23_r8_group(isQ3, p, superblocks, xq, xd, halves, o, ldo, 2); break;
        case 3: k23_r8_group(isQ3, p, superblocks, xq, xd, halves, o, ldo, 3); break;
        case 4: k23_r8_group(isQ3, p, superblocks, xq, xd, halves, o, ldo, 4); break;
        case 5: k23_r8_group(isQ3, p, superblocks, xq, xd, halves, o, ldo, 5); break;
        case 6: k23_r8_group(isQ3, p, superblocks, xq, xd, halves, o, ldo, 6); break;
        case 7: k23_r8_group(isQ3, p, superblocks, xq, xd, halves, o, ldo, 7); break;
        default: k23_r8_group(isQ3, p, superblocks, xq, xd, halves, o, ldo, 8); break;
        }
    }
}

static void matvec_q2_K_r8(const void *w, int groups, int blocks, const int8_t *xq, const float *xd, const int32_t *xs,
                           int tokens, float *out, long ldo) {
    (void)xs;
    k23_matvec(0, w, groups, blocks, xq, xd, tokens, out, ldo);
}

static void matvec_q3_K_r8(const void *w, int groups, int blocks, const int8_t *xq, const float *xd, const int32_t *xs,
                           int tokens, float *out, long ldo) {
    (void)xs;
    k23_matvec(1, w, groups, blocks, xq, xd, tokens, out, ldo);
}
