#include "CKernels.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// Scale and min of sub-block j of a Q4_K super-block (6 bits each, packed in 12 bytes):
// sub-blocks 0–3 use the low 6 bits of bytes j and j+4; 4–7 take their low 4 bits from
// byte j+4 and their top 2 bits from the spare bits of bytes j−4 / j.
static inline void q4_K_scale_min(int j, const uint8_t *q, int *scale, int *min) {
    if (j < 4) {
        *scale = q[j] & 63;
        *min = q[j + 4] & 63;
    } else {
        *scale = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
        *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// The IQ4_NL / IQ4_XS nibble values (ggml's kvalues_iq4nl), and the same plus 128 as
// unsigned bytes for the u8·s8 products.
static const int8_t iq4_values[16] __attribute__((unused)) = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
static const uint8_t iq4_unsigned[16] = {1, 24, 45, 63, 79, 93, 106, 118, 129, 141, 153, 166, 181, 197, 217, 241};

// The 6-bit scale (stored + 32) of sub-block j of a Q3_K super-block from its 12 bytes:
// low 4 bits in nibble j / 8 of byte j % 8, top 2 bits at bit 2·(j / 4) of byte 8 + j % 4.
static inline int q3_K_scale(int j, const uint8_t *q) {
    const int low = j < 8 ? (q[j] & 0x0F) : (q[j - 8] >> 4);
    return low | (((q[8 + j % 4] >> (2 * (j / 4))) & 3) << 4);
}

// The 6-bit scale (stored + 32) of block ib of an IQ4_XS super-block.
static inline int iq4_xs_scale(int ib, const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p + 2, 2);
    return ((p[4 + ib / 2] >> (4 * (ib % 2))) & 0x0F) | (((h >> (2 * ib)) & 3) << 4);
}

void swiftllama_prefetch(const void *p, long bytes) {
#if defined(__x86_64__)
    for (long i = 0; i < bytes; i += 64) _mm_prefetch((const char *)p + i, _MM_HINT_T0);
#else
    for (long i = 0; i < bytes; i += 64) __builtin_prefetch((const char *)p + i);
#endif
}

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
// Activation quantization, the step before every int8 product: Swift's SIMD max, select and
// narrowing conversions run lane by lane (10–14% of a 512-token prompt's time when written
// with them), so these are intrinsics too. Per block: d = max|x|/127, q = round(x/d) with
// ties to even (as llama.cpp's AVX quantizers), q in −127…127.
static inline void quantize_block32(const float *x, int8_t *q, float *d) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 v[4];
    __m256 amax = _mm256_setzero_ps();
    for (int k = 0; k < 4; k++) {
        v[k] = _mm256_loadu_ps(x + 8 * k);
        amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, v[k]));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float m = _mm_cvtss_f32(m4);
    *d = m / 127.0f;
    const __m256 inv = _mm256_set1_ps(m > 0 ? 127.0f / m : 0.0f);
    __m256i i[4];
    for (int k = 0; k < 4; k++) i[k] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[k], inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    // int32 → int16 → int8 packs work per 128-bit lane; the permute puts the bytes back in order.
    const __m256i s01 = _mm256_packs_epi32(i[0], i[1]), s23 = _mm256_packs_epi32(i[2], i[3]);
    const __m256i b = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(s01, s23), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)q, b);
}

void swiftllama_quantize_q8(const float *x, int8_t *q, float *d, int blocks) {
    for (int b = 0; b < blocks; b++) quantize_block32(x + 32 * b, q + 32 * b, d + b);
}

void swiftllama_quantize_q8_K(const float *x, int8_t *q, float *d, int16_t *sums, int superblocks) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int b = 0; b < superblocks; b++) {
        const float *xb = x + 256 * b;
        __m256 amax = _mm256_setzero_ps();
        for (int k = 0; k < 32; k++) amax = _mm256_max_ps(amax, _mm256_andnot_ps(sign, _mm256_loadu_ps(xb + 8 * k)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amax), _mm256_extractf128_ps(amax, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float m = _mm_cvtss_f32(m4);
        d[b] = m / 127.0f;
        const __m256 inv = _mm256_set1_ps(m > 0 ? 127.0f / m : 0.0f);
        for (int g = 0; g < 16; g++) {
            const __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(xb + 16 * g), inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            const __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(_mm256_loadu_ps(xb + 16 * g + 8), inv), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
            const __m256i s = _mm256_add_epi32(i0, i1);
            __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            t = _mm_hadd_epi32(t, t);
            t = _mm_hadd_epi32(t, t);
            sums[16 * b + g] = (int16_t)_mm_cvtsi128_si32(t);
            const __m256i s16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(i0, i1), 0xD8);
            const __m128i b8 = _mm_packs_epi16(_mm256_castsi256_si128(s16), _mm256_extracti128_si256(s16, 1));
            _mm_storeu_si128((__m128i *)(q + 256 * b + 16 * g), b8);
        }
    }
}

// Generation streams each weight row once from memory; the hardware prefetcher restarts at
// every 4 KiB page and rows are short (about 1 KiB for a 2048-column Q4_0 row), so the
// kernels ask for the bytes this far ahead of what they read.
#define PREFETCH_AHEAD 2048

#include <immintrin.h>

static inline float half_to_float(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

// Σ of 4 adjacent u8·s8 products added to each int32 lane of acc: one vpdpbusd where the
// CPU has VNNI, else vpmaddubsw + vpmaddwd (no saturation for the ranges used here: the
// unsigned side is at most 127, so a pair sum stays below 2·127·127 < 32768).
static inline __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) {
#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(acc, u, s);
#elif defined(__AVXVNNI__)
    return _mm256_dpbusd_avx_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

// 32 signed byte products summed to 8 int32 lanes, as floats. The u8·s8 instructions
// multiply unsigned by signed bytes, so |x| carries the magnitude and w takes x's sign.
static inline __m256 products(__m256i w, __m256i x) {
    const __m256i ax = _mm256_sign_epi8(x, x);
    const __m256i sw = _mm256_sign_epi8(w, x);
    return _mm256_cvtepi32_ps(dot_u8s8(_mm256_setzero_si256(), ax, sw));
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

// The 32 nibbles of a Q4_0 block as unsigned bytes 0…15, elements 0–15 in the low lane.
static inline __m256i q4_0_nibbles(const uint8_t *block) {
    const __m128i bytes = _mm_loadu_si128((const __m128i *)(block + 2));
    const __m128i mask = _mm_set1_epi8(0x0F);
    const __m128i lo = _mm_and_si128(bytes, mask);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask);
    return _mm256_set_m128i(hi, lo);
}

// Σ (nibble − 8)·x as 8 float lanes: the nibbles go in unsigned as they are, and the
// offset costs one more u8·s8 product (8s with x) instead of sign fix-ups.
static inline __m256 q4_0_products(const uint8_t *block, const int8_t *x) {
    const __m256i xv = _mm256_loadu_si256((const __m256i *)x);
    const __m256i dot = dot_u8s8(_mm256_setzero_si256(), q4_0_nibbles(block), xv);
    const __m256i off = dot_u8s8(_mm256_setzero_si256(), _mm256_set1_epi8(8), xv);
    return _mm256_cvtepi32_ps(_mm256_sub_epi32(dot, off));
}

// Q4_1 (blocks of 20 bytes: d f16, m f16, 16 bytes of nibbles laid out as Q4_0's): each weight
// is d·nibble + m, so a block contributes d·xd·Σ nibble·x + m·xd·Σ x. The nibbles go in
// unsigned as they are; Σ x is one more u8·s8 product (ones with x).
float swiftllama_dot_q4_1(const void *w, const int8_t *xq, const float *xd, int blocks) {
    const uint8_t *p = (const uint8_t *)w;
    const __m256i ones = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int b = 0; b < blocks; b++, p += 20) {
        _mm_prefetch((const char *)p + PREFETCH_AHEAD, _MM_HINT_T0);
        const __m256i x = _mm256_loadu_si256((const __m256i *)(xq + 32 * b));
        const __m256i s = dot_u8s8(_mm256_setzero_si256(), q4_0_nibbles(p + 2), x);
        const __m256i sx = dot_u8s8(_mm256_setzero_si256(), ones, x);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(half_to_float(p) * xd[b]), acc);
        accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sx), _mm256_set1_ps(half_to_float(p + 2) * xd[b]), accm);
    }
    return hsum(_mm256_add_ps(acc, accm));
}

// The fifth bits of a Q5 block (bit e of qh belongs to element e) as bytes of 16 or 0, in the
// element order of q4_0_nibbles: each 128-bit lane takes the two bytes of qh for its 16
// elements, and byte k of each group of 8 is tested against bit k.
static inline __m256i q5_high_bits(uint32_t qh) {
    const __m256i pick = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh), pick);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, bit), bit);
    return _mm256_and_si256(set, _mm256_set1_epi8(16));
}

// Q5_0 (22 bytes: d, qh, nibbles) and Q5_1 (24 bytes: d, m, qh, nibbles): the 5-bit values
// 0…31 go in unsigned; Q5_0 centres them on 16 (minus 16·Σx), Q5_1 adds m·Σx.
static inline float dot_q5(const uint8_t *p, const int8_t *xq, const float *xd, int blocks, int hasMin) {
    const int size = hasMin ? 24 : 22, qhAt = hasMin ? 4 : 2;
    const __m256i ones = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int b = 0; b < blocks; b++, p += size) {
        _mm_prefetch((const char *)p + PREFETCH_AHEAD, _MM_HINT_T0);
        uint32_t qh;
        memcpy(&qh, p + qhAt, 4);
        const __m256i v = _mm256_or_si256(q4_0_nibbles(p + qhAt + 2), q5_high_bits(qh));
        const __m256i x = _mm256_loadu_si256((const __m256i *)(xq + 32 * b));
        const __m256i s = dot_u8s8(_mm256_setzero_si256(), v, x);
        const __m256i sx = dot_u8s8(_mm256_setzero_si256(), ones, x);
        const float dx = half_to_float(p) * xd[b];
        if (hasMin) {
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s), _mm256_set1_ps(dx), acc);
            accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sx), _mm256_set1_ps(half_to_float(p + 2) * xd[b]), accm);
        } else {
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(s, _mm256_slli_epi32(sx, 4))), _mm256_set1_ps(dx), acc);
        }
    }
    return hsum(_mm256_add_ps(acc, accm));
}

float swiftllama_dot_q5_0(const void *w, const int8_t *xq, const float *xd, int blocks) {
    return dot_q5((const uint8_t *)w, xq, xd, blocks, 0);
}

float swiftllama_dot_q5_1(const void *w, const int8_t *xq, const float *xd, int blocks) {
    return dot_q5((const uint8_t *)w, xq, xd, blocks, 1);
}

float swiftllama_dot_q4_0(const void *w, const int8_t *xq, const float *xd, int blocks) {
    const uint8_t *p = (const uint8_t *)w;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int b = 0;
    for (; b + 2 <= blocks; b += 2) {
        const uint8_t *p0 = p + 18 * b, *p1 = p0 + 18;
        acc0 = _mm256_fmadd_ps(q4_0_products(p0, xq + 32 * b), _mm256_set1_ps(half_to_float(p0) * xd[b]), acc0);
        acc1 = _mm256_fmadd_ps(q4_0_products(p1, xq + 32 * b + 32), _mm256_set1_ps(half_to_float(p1) * xd[b + 1]), acc1);
    }
    if (b < blocks) {
        const uint8_t *p0 = p + 18 * b;
        acc0 = _mm256_fmadd_ps(q4_0_products(p0, xq + 32 * b), _mm256_set1_ps(half_to_float(p0) * xd[b]), acc0);
    }
    return hsum(_mm256_add_ps(acc0, acc1));
}

// Two rows at a time: two weight streams in flight per core, and the activation loads and
// Q4_0's offset products shared by both rows.
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
// 16 lanes: a in the low 8, b in the high 8.
static inline __m512 halves(float a, float b) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(a)), _mm256_set1_ps(b), 1);
}

// Two Q8_0 blocks of one row as unsigned bytes (q + 128), block b in the low 32 bytes.
static inline __m512i q8_0_pair(const uint8_t *p) {
    const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(p + 2))),
                                         _mm256_loadu_si256((const __m256i *)(p + 36)), 1);
    return _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
}

// AVX-512: two blocks per instruction. Weights go in as q + 128 (unsigned), so
// Σ q·x = Σ (q+128)·x − 128·Σ x, and 128·Σ x per lane is one product shared by both rows.
void swiftllama_dot2_q8_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    const uint8_t *p = (const uint8_t *)w0, *q = (const uint8_t *)w1;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    int b = 0;
    for (; b + 2 <= blocks; b += 2) {
        const __m512i x = _mm512_loadu_si512((const void *)(xq + 32 * b));
        const __m512i off = _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, x);
        const uint8_t *pb = p + 34 * b, *qb = q + 34 * b;
        _mm_prefetch((const char *)pb + PREFETCH_AHEAD, _MM_HINT_T0);
        _mm_prefetch((const char *)pb + PREFETCH_AHEAD + 64, _MM_HINT_T0);
        _mm_prefetch((const char *)qb + PREFETCH_AHEAD, _MM_HINT_T0);
        _mm_prefetch((const char *)qb + PREFETCH_AHEAD + 64, _MM_HINT_T0);
        const __m512i s0 = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q8_0_pair(pb), x), off);
        const __m512i s1 = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q8_0_pair(qb), x), off);
        const float x0 = xd[b], x1 = xd[b + 1];
        a0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), halves(half_to_float(pb) * x0, half_to_float(pb + 34) * x1), a0);
        a1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1), halves(half_to_float(qb) * x0, half_to_float(qb + 34) * x1), a1);
    }
    float r0 = _mm512_reduce_add_ps(a0), r1 = _mm512_reduce_add_ps(a1);
    if (b < blocks) {
        r0 += swiftllama_dot_q8_0(p + 34 * b, xq + 32 * b, xd + b, 1);
        r1 += swiftllama_dot_q8_0(q + 34 * b, xq + 32 * b, xd + b, 1);
    }
    out[0] = r0;
    out[1] = r1;
}
#else
void swiftllama_dot2_q8_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    const uint8_t *p = (const uint8_t *)w0, *q = (const uint8_t *)w1;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        const __m256i x = _mm256_loadu_si256((const __m256i *)(xq + 32 * b));
        const __m256i ax = _mm256_sign_epi8(x, x);
        const uint8_t *pb = p + 34 * b, *qb = q + 34 * b;
        const __m256i s0 = dot_u8s8(_mm256_setzero_si256(), ax, _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(pb + 2)), x));
        const __m256i s1 = dot_u8s8(_mm256_setzero_si256(), ax, _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)(qb + 2)), x));
        a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0), _mm256_set1_ps(half_to_float(pb) * xd[b]), a0);
        a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1), _mm256_set1_ps(half_to_float(qb) * xd[b]), a1);
    }
    out[0] = hsum(a0);
    out[1] = hsum(a1);
}

#endif

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
// Two Q4_0 blocks' nibbles as 64 unsigned bytes in 128-bit lanes [b low, b+1 low, b high,
// b+1 high] (16 values each).
static inline __m512i q4_0_pair(const uint8_t *p) {
    const __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(p + 2))),
                                              _mm_loadu_si128((const __m128i *)(p + 20)), 1);
    const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1);
    return _mm512_and_si512(both, _mm512_set1_epi8(0x0F));
}

// q4_0_pair for blocks of `size` bytes whose nibbles start at byte `qs`.
static inline __m512i q4_0_pair_at(const uint8_t *p, int qs, int size) {
    const __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(p + qs))),
                                              _mm_loadu_si128((const __m128i *)(p + size + qs)), 1);
    const __m512i both = _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1);
    return _mm512_and_si512(both, _mm512_set1_epi8(0x0F));
}

// The fifth bits of two Q5 blocks (qh words at `qh` and `qh + size`) as a byte mask in
// q4_0_pair's lane order: [block 0 elements 0–15, block 1 0–15, block 0 16–31, block 1 16–31].
static inline __mmask64 q5_pair_mask(const uint8_t *qh, int size) {
    uint32_t h0, h1;
    memcpy(&h0, qh, 4);
    memcpy(&h1, qh + size, 4);
    return (__mmask64)((uint64_t)(h0 & 0xFFFF) | ((uint64_t)(h1 & 0xFFFF) << 16) |
                       ((uint64_t)(h0 >> 16) << 32) | ((uint64_t)(h1 >> 16) << 48));
}

// 16 lanes [a ×4, b ×4, a ×4, b ×4], matching q4_0_pair's lane order.
static inline __m512 quads(float a, float b) {
    const __m512i idx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(_mm_setr_ps(a, b, 0, 0)));
}

// AVX-512: two blocks per instruction; the activations are permuted once into the
// nibbles' lane order and shared by both rows, with the 8·Σx offsets.
void swiftllama_dot2_q4_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    const uint8_t *p = (const uint8_t *)w0, *q = (const uint8_t *)w1;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int b = 0;
    for (; b + 2 <= blocks; b += 2) {
        const __m512i xr = _mm512_loadu_si512((const void *)(xq + 32 * b));
        const __m512i x = _mm512_shuffle_i64x2(xr, xr, _MM_SHUFFLE(3, 1, 2, 0));
        const __m512i off = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(8), x);
        const uint8_t *pb = p + 18 * b, *qb = q + 18 * b;
        _mm_prefetch((const char *)pb + PREFETCH_AHEAD, _MM_HINT_T0);
        _mm_prefetch((const char *)qb + PREFETCH_AHEAD, _MM_HINT_T0);
        const __m512i s0 = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q4_0_pair(pb), x), off);
        const __m512i s1 = _mm512_sub_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), q4_0_pair(qb), x), off);
        const float x0 = xd[b], x1 = xd[b + 1];
        a0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), quads(half_to_float(pb) * x0, half_to_float(pb + 18) * x1), a0);
        a1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1), quads(half_to_float(qb) * x0, half_to_float(qb + 18) * x1), a1);
    }
    float r0 = _mm512_reduce_add_ps(a0), r1 = _mm512_reduce_add_ps(a1);
    if (b < blocks) {
        r0 += swiftllama_dot_q4_0(p + 18 * b, xq + 32 * b, xd + b, 1);
        r1 += swiftllama_dot_q4_0(q + 18 * b, xq + 32 * b, xd + b, 1);
    }
    out[0] = r0;
    out[1] = r1;
}

// Two Q4_1/Q5_0/Q5_1 rows, two blocks per instruction as swiftllama_dot2_q4_0. `qs` is the
// offset of the nibbles in a block of `size` bytes; with `hasHigh` the 32-bit qh just before
// them adds 16 to the elements whose bit is set (one masked byte add: the 64 bits of a
// pair's two qh words, reordered into the nibbles' lane order, are the mask). `center` is
// subtracted from every value (16 for Q5_0) through one product shared by both rows;
// `hasMin` types add m·Σx instead, through that same shared product with ones.
static inline __attribute__((always_inline)) void dot2_b32(
    const uint8_t *p, const uint8_t *q, const int8_t *xq, const float *xd, int blocks, float out[2],
    const int size, const int qs, const int hasHigh, const int hasMin, const int center, const int lookup,
    float (*single)(const void *, const int8_t *, const float *, int)) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    const __m512i sixteen = _mm512_set1_epi8(16);
    const __m512i table = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)iq4_unsigned));
    int b = 0;
    for (; b + 2 <= blocks; b += 2) {
        const __m512i xr = _mm512_loadu_si512((const void *)(xq + 32 * b));
        const __m512i x = _mm512_shuffle_i64x2(xr, xr, _MM_SHUFFLE(3, 1, 2, 0));
        const __m512i sx = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(hasMin ? 1 : center), x);
        const uint8_t *pb = p + size * b, *qb = q + size * b;
        _mm_prefetch((const char *)pb + PREFETCH_AHEAD, _MM_HINT_T0);
        _mm_prefetch((const char *)qb + PREFETCH_AHEAD, _MM_HINT_T0);
        __m512i v0 = q4_0_pair_at(pb, qs, size), v1 = q4_0_pair_at(qb, qs, size);
        if (lookup) {
            v0 = _mm512_shuffle_epi8(table, v0);
            v1 = _mm512_shuffle_epi8(table, v1);
        }
        if (hasHigh) {
            v0 = _mm512_mask_add_epi8(v0, q5_pair_mask(pb + qs - 4, size), v0, sixteen);
            v1 = _mm512_mask_add_epi8(v1, q5_pair_mask(qb + qs - 4, size), v1, sixteen);
        }
        __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), v0, x);
        __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), v1, x);
        const float x0 = xd[b], x1 = xd[b + 1];
        if (hasMin) {
            const __m512 fx = _mm512_cvtepi32_ps(sx);
            a0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), quads(half_to_float(pb) * x0, half_to_float(pb + size) * x1), a0);
            a1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1), quads(half_to_float(qb) * x0, half_to_float(qb + size) * x1), a1);
            a0 = _mm512_fmadd_ps(fx, quads(half_to_float(pb + 2) * x0, half_to_float(pb + size + 2) * x1), a0);
            a1 = _mm512_fmadd_ps(fx, quads(half_to_float(qb + 2) * x0, half_to_float(qb + size + 2) * x1), a1);
        } else {
            s0 = _mm512_sub_epi32(s0, sx);
            s1 = _mm512_sub_epi32(s1, sx);
            a0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s0), quads(half_to_float(pb) * x0, half_to_float(pb + size) * x1), a0);
            a1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s1), quads(half_to_float(qb) * x0, half_to_float(qb + size) * x1), a1);
        }
    }
    float r0 = _mm512_reduce_add_ps(a0), r1 = _mm512_reduce_add_ps(a1);
    if (b < blocks) {
        r0 += single(p + size * b, xq + 32 * b, xd + b, 1);
        r1 += single(q + size * b, xq + 32 * b, xd + b, 1);
    }
    out[0] = r0;
    out[1] = r1;
}

void swiftllama_dot2_q4_1(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    dot2_b32((const uint8_t *)w0, (const uint8_t *)w1, xq, xd, blocks, out, 20, 4, 0, 1, 0, 0, swiftllama_dot_q4_1);
}
void swiftllama_dot2_q5_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    dot2_b32((const uint8_t *)w0, (const uint8_t *)w1, xq, xd, blocks, out, 22, 6, 1, 0, 16, 0, swiftllama_dot_q5_0);
}
void swiftllama_dot2_q5_1(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    dot2_b32((const uint8_t *)w0, (const uint8_t *)w1, xq, xd, blocks, out, 24, 8, 1, 1, 0, 0, swiftllama_dot_q5_1);
}
// IQ4_NL: the nibbles index the table shifted to unsigned (value + 128), centred back by 128·Σx.
void swiftllama_dot2_iq4_nl(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    dot2_b32((const uint8_t *)w0, (const uint8_t *)w1, xq, xd, blocks, out, 18, 2, 0, 0, 128, 1, swiftllama_dot_iq4_nl);
}
#else
void swiftllama_dot2_q4_1(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    out[0] = swiftllama_dot_q4_1(w0, xq, xd, blocks);
    out[1] = swiftllama_dot_q4_1(w1, xq, xd, blocks);
}
void swiftllama_dot2_q5_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    out[0] = swiftllama_dot_q5_0(w0, xq, xd, blocks);
    out[1] = swiftllama_dot_q5_0(w1, xq, xd, blocks);
}
void swiftllama_dot2_q5_1(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    out[0] = swiftllama_dot_q5_1(w0, xq, xd, blocks);
    out[1] = swiftllama_dot_q5_1(w1, xq, xd, blocks);
}
void swiftllama_dot2_iq4_nl(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    out[0] = swiftllama_dot_iq4_nl(w0, xq, xd, blocks);
    out[1] = swiftllama_dot_iq4_nl(w1, xq, xd, blocks);
}
void swiftllama_dot2_q4_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    const uint8_t *p = (const uint8_t *)w0, *q = (const uint8_t *)w1;
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        const __m256i x = _mm256_loadu_si256((const __m256i *)(xq + 32 * b));
        const __m256i off = dot_u8s8(_mm256_setzero_si256(), _mm256_set1_epi8(8), x);
        const uint8_t *pb = p + 18 * b, *qb = q + 18 * b;
        const __m256i s0 = _mm256_sub_epi32(dot_u8s8(_mm256_setzero_si256(), q4_0_nibbles(pb), x), off);
        const __m256i s1 = _mm256_sub_epi32(dot_u8s8(_mm256_setzero_si256(), q4_0_nibbles(qb), x), off);
        a0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s0), _mm256_set1_ps(half_to_float(pb) * xd[b]), a0);
        a1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(s1), _mm256_set1_ps(half_to_float(qb) * xd[b]), a1);
    }
    out[0] = hsum(a0);
    out[1] = hsum(a1);
}

#endif

// The 8 scales and 8 mins of a Q4_K super-block from its 12 packed bytes, as two 64-bit
// words of bytes, with 32-bit word operations (the layout of q4_K_scale_min, four at once).
static inline void q4_K_scales_mins(const uint8_t *q, uint64_t *scales, uint64_t *mins) {
    uint32_t w0, w1, w2;
    memcpy(&w0, q, 4);
    memcpy(&w1, q + 4, 4);
    memcpy(&w2, q + 8, 4);
    const uint32_t s_lo = w0 & 0x3F3F3F3Fu, m_lo = w1 & 0x3F3F3F3Fu;
    const uint32_t s_hi = (w2 & 0x0F0F0F0Fu) | (((w0 >> 6) & 0x03030303u) << 4);
    const uint32_t m_hi = ((w2 >> 4) & 0x0F0F0F0Fu) | (((w1 >> 6) & 0x03030303u) << 4);
    *scales = (uint64_t)s_lo | ((uint64_t)s_hi << 32);
    *mins = (uint64_t)m_lo | ((uint64_t)m_hi << 32);
}

float swiftllama_dot_q4_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
    const uint8_t *p = (const uint8_t *)w;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int b = 0; b < superblocks; b++, p += 144) {
        _mm_prefetch((const char *)p + PREFETCH_AHEAD, _MM_HINT_T0);
        _mm_prefetch((const char *)p + PREFETCH_AHEAD + 64, _MM_HINT_T0);
        _mm_prefetch((const char *)p + PREFETCH_AHEAD + 128, _MM_HINT_T0);
        const float d = half_to_float(p) * xd[b], dmin = half_to_float(p + 2) * xd[b];
        uint64_t sc8, mn8;
        q4_K_scales_mins(p + 4, &sc8, &mn8);
        // Scales as zero-extended int32 lanes (vpmaddwd below reads (scale, 0) pairs).
        const __m256i sc32 = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc8));
        // Σ_j min_j · (sum of block j's 32 quantized activations), 4 int32 lanes.
        const __m128i bs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)(xsums + 16 * b)),
                                          _mm_loadu_si128((const __m128i *)(xsums + 16 * b + 8)));
        const __m128i mn16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn8));
        accm = _mm_fmadd_ps(_mm_cvtepi32_ps(_mm_madd_epi16(bs, mn16)), _mm_set1_ps(dmin), accm);
        const uint8_t *qs = p + 16;
        const int8_t *x = xq + 256 * b;
        __m256i sumi = _mm256_setzero_si256();
        for (int g = 0; g < 4; g++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * g));
            const __m256i lo = _mm256_and_si256(q, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            const __m256i plo = dot_u8s8(_mm256_setzero_si256(), lo, _mm256_loadu_si256((const __m256i *)(x + 64 * g)));
            const __m256i phi = dot_u8s8(_mm256_setzero_si256(), hi, _mm256_loadu_si256((const __m256i *)(x + 64 * g + 32)));
            // Each lane is below 4·15·127 in magnitude, so vpmaddwd of its low half with the
            // scale (high half 0) is the exact product.
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(plo, _mm256_permutevar8x32_epi32(sc32, _mm256_set1_epi32(2 * g))));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(phi, _mm256_permutevar8x32_epi32(sc32, _mm256_set1_epi32(2 * g + 1))));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    __m128 m = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    return hsum(acc) - _mm_cvtss_f32(m);
}

float swiftllama_dot_q6_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
    const uint8_t *p = (const uint8_t *)w;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x03);
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < superblocks; b++, p += 210) {
        for (int line = 0; line < 256; line += 64) _mm_prefetch((const char *)p + PREFETCH_AHEAD + line, _MM_HINT_T0);
        const uint8_t *ql = p, *qh = p + 128;
        const int8_t *sc = (const int8_t *)(p + 192);
        const float d = half_to_float(p + 208) * xd[b];
        const int8_t *x = xq + 256 * b;
        const int16_t *bs = xsums + 16 * b;
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i hb = _mm256_loadu_si256((const __m256i *)qh);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m2), 4));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m2), 4));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m2), 4));
            // The 8 scales of this half as int16, in both 128-bit lanes.
            const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(_mm_loadl_epi64((const __m128i *)(sc + 8 * h))));
            for (int j = 0; j < 4; j++) {
                // q is 0…63 here (the −32 comes below, through the block sums). vpmaddubsw
                // gives 16 int16 pair sums (at most 2·63·127): lanes 0–7 cover elements
                // 0–15 of these 32 (scale sc[2j]), lanes 8–15 elements 16–31 (sc[2j+1]);
                // vpmaddwd with those scales adds adjacent pairs into int32.
                const __m256i pairs = _mm256_maddubs_epi16(q[j], _mm256_loadu_si256((const __m256i *)(x + 128 * h + 32 * j)));
                const __m256i pick = _mm256_setr_epi8(4 * j, 4 * j + 1, 4 * j, 4 * j + 1, 4 * j, 4 * j + 1, 4 * j, 4 * j + 1,
                                                      4 * j, 4 * j + 1, 4 * j, 4 * j + 1, 4 * j, 4 * j + 1, 4 * j, 4 * j + 1,
                                                      4 * j + 2, 4 * j + 3, 4 * j + 2, 4 * j + 3, 4 * j + 2, 4 * j + 3, 4 * j + 2, 4 * j + 3,
                                                      4 * j + 2, 4 * j + 3, 4 * j + 2, 4 * j + 3, 4 * j + 2, 4 * j + 3, 4 * j + 2, 4 * j + 3);
                const __m256i scales = _mm256_shuffle_epi8(sc16, pick);
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(pairs, scales));
            }
            ql += 64;
            qh += 32;
        }
        int offset = 0;
        for (int g = 0; g < 16; g++) offset += sc[g] * bs[g];
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        acc = _mm256_sub_ps(acc, _mm256_setr_ps(d * 32.0f * (float)offset, 0, 0, 0, 0, 0, 0, 0));
    }
    return hsum(acc);
}

// ---- Q2_K, Q3_K, Q5_K, IQ4_NL, IQ4_XS (generation dots against activations quantized per
// 256, or per 32 for IQ4_NL) ----

static inline int hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

// From 8 int16 scales (s[0..7] in both 128-bit lanes), the pattern for vpmaddwd over the
// 16 pair sums of 32 elements 32j…32j+31: s[2j] for the first 16 elements (lanes 0–7), s[2j+1]
// for the next 16.
static inline __m256i pair_scales(__m256i sc16, int j) {
    const __m256i pick = _mm256_setr_epi8(4 * j, 4 * j + 1, 4 * j, 4 * j + 1, 4 * j, 4 * j + 1, 4 * j, 4 * j + 1,
                                          4 * j, 4 * j + 1, 4 * j, 4 * j + 1, 4 * j, 4 * j + 1, 4 * j, 4 * j + 1,
                                          4 * j + 2, 4 * j + 3, 4 * j + 2, 4 * j + 3, 4 * j + 2, 4 * j + 3, 4 * j + 2, 4 * j + 3,
                                          4 * j + 2, 4 * j + 3, 4 * j + 2, 4 * j + 3, 4 * j + 2, 4 * j + 3, 4 * j + 2, 4 * j + 3);
    return _mm256_shuffle_epi8(sc16, pick);
}

static inline __m256i shift_right16(__m256i v, int n) { return _mm256_srl_epi16(v, _mm_cvtsi32_si128(n)); }

// Q2_K: Σ_j d·sc_j·Σ q·x − dmin·Σ_j m_j·(Σ x of sub-block j); q is 0…3, so vpmaddubsw pairs
// never saturate and vpmaddwd applies the per-16 scales.
float swiftllama_dot_q2_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
    const uint8_t *p = (const uint8_t *)w;
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    float mins = 0;
    for (int b = 0; b < superblocks; b++, p += 84) {
        _mm_prefetch((const char *)p + PREFETCH_AHEAD, _MM_HINT_T0);
        _mm_prefetch((const char *)p + PREFETCH_AHEAD + 64, _MM_HINT_T0);
        const float d = half_to_float(p + 80) * xd[b], dmin = half_to_float(p + 82) * xd[b];
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)p);
        const __m128i lo = _mm_and_si128(sc8, _mm_set1_epi8(0x0F));
        const __m128i hi = _mm_and_si128(_mm_srli_epi16(sc8, 4), _mm_set1_epi8(0x0F));
        mins += dmin * (float)hsum_i32(_mm256_madd_epi16(_mm256_cvtepu8_epi16(hi), _mm256_loadu_si256((const __m256i *)(xsums + 16 * b))));
        const int8_t *x = xq + 256 * b;
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * h));
            const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(h ? _mm_unpackhi_epi64(lo, lo) : lo));
            for (int j = 0; j < 4; j++) {
                const __m256i u = _mm256_and_si256(shift_right16(q, 2 * j), m3);
                const __m256i pairs = _mm256_maddubs_epi16(u, _mm256_loadu_si256((const __m256i *)(x + 128 * h + 32 * j)));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(pairs, pair_scales(sc16, j)));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc) - mins;
}

// Q3_K: values q − 4 with q = 2 low bits | hmask bit << 2 (0…7) go in unsigned; the −4
// comes back through the sub-block sums: Σ_j s_j·(Σ q·x − 4·Σ x), s_j = scale − 32.
float swiftllama_dot_q3_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
    const uint8_t *p = (const uint8_t *)w;
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    float offsets = 0;
    for (int b = 0; b < superblocks; b++, p += 110) {
        _mm_prefetch((const char *)p + PREFETCH_AHEAD, _MM_HINT_T0);
        _mm_prefetch((const char *)p + PREFETCH_AHEAD + 64, _MM_HINT_T0);
        const float d = half_to_float(p + 108) * xd[b];
        // The 16 scales (q3_K_scale's layout, four at a time in 32-bit words), minus 32.
        uint32_t a0, a1, a2;
        memcpy(&a0, p + 96, 4);
        memcpy(&a1, p + 100, 4);
        memcpy(&a2, p + 104, 4);
        const __m128i sc8 = _mm_sub_epi8(_mm_setr_epi32((int)((a0 & 0x0F0F0F0Fu) | ((a2 & 0x03030303u) << 4)),
                                                        (int)((a1 & 0x0F0F0F0Fu) | (((a2 >> 2) & 0x03030303u) << 4)),
                                                        (int)(((a0 >> 4) & 0x0F0F0F0Fu) | (((a2 >> 4) & 0x03030303u) << 4)),
                                                        (int)(((a1 >> 4) & 0x0F0F0F0Fu) | (((a2 >> 6) & 0x03030303u) << 4))),
                                         _mm_set1_epi8(32));
        offsets += 4.0f * d * (float)hsum_i32(_mm256_madd_epi16(_mm256_cvtepi8_epi16(sc8), _mm256_loadu_si256((const __m256i *)(xsums + 16 * b))));
        const __m256i hb = _mm256_loadu_si256((const __m256i *)p);
        const int8_t *x = xq + 256 * b;
        __m256i sumi = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(p + 32 + 32 * h));
            const __m256i sc16 = _mm256_broadcastsi128_si256(_mm_cvtepi8_epi16(h ? _mm_unpackhi_epi64(sc8, sc8) : sc8));
            for (int j = 0; j < 4; j++) {
                const __m256i high = _mm256_and_si256(shift_right16(hb, 4 * h + j), one);
                const __m256i u = _mm256_or_si256(_mm256_and_si256(shift_right16(q, 2 * j), m3), _mm256_slli_epi16(high, 2));
                const __m256i pairs = _mm256_maddubs_epi16(u, _mm256_loadu_si256((const __m256i *)(x + 128 * h + 32 * j)));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(pairs, pair_scales(sc16, j)));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc) - offsets;
}

// Q5_K: Q4_K's kernel with the fifth bit of each value from qh.
float swiftllama_dot_q5_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
    const uint8_t *p = (const uint8_t *)w;
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int b = 0; b < superblocks; b++, p += 176) {
        _mm_prefetch((const char *)p + PREFETCH_AHEAD, _MM_HINT_T0);
        _mm_prefetch((const char *)p + PREFETCH_AHEAD + 64, _MM_HINT_T0);
        _mm_prefetch((const char *)p + PREFETCH_AHEAD + 128, _MM_HINT_T0);
        const float d = half_to_float(p) * xd[b], dmin = half_to_float(p + 2) * xd[b];
        uint64_t sc8, mn8;
        q4_K_scales_mins(p + 4, &sc8, &mn8);
        const __m256i sc32 = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)sc8));
        const __m128i bs = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)(xsums + 16 * b)),
                                          _mm_loadu_si128((const __m128i *)(xsums + 16 * b + 8)));
        const __m128i mn16 = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn8));
        accm = _mm_fmadd_ps(_mm_cvtepi32_ps(_mm_madd_epi16(bs, mn16)), _mm_set1_ps(dmin), accm);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(p + 16));
        const int8_t *x = xq + 256 * b;
        __m256i sumi = _mm256_setzero_si256();
        for (int g = 0; g < 4; g++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(p + 48 + 32 * g));
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, m4), _mm256_slli_epi16(_mm256_and_si256(shift_right16(qh, 2 * g), one), 4));
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                                               _mm256_slli_epi16(_mm256_and_si256(shift_right16(qh, 2 * g + 1), one), 4));
            const __m256i plo = dot_u8s8(_mm256_setzero_si256(), lo, _mm256_loadu_si256((const __m256i *)(x + 64 * g)));
            const __m256i phi = dot_u8s8(_mm256_setzero_si256(), hi, _mm256_loadu_si256((const __m256i *)(x + 64 * g + 32)));
            // Lanes below 4·31·127 < 32768: vpmaddwd with (scale, 0) pairs is exact.
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(plo, _mm256_permutevar8x32_epi32(sc32, _mm256_set1_epi32(2 * g))));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(phi, _mm256_permutevar8x32_epi32(sc32, _mm256_set1_epi32(2 * g + 1))));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    __m128 m = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
    m = _mm_add_ss(m, _mm_movehdup_ps(m));
    return hsum(acc) - _mm_cvtss_f32(m);
}

// The 32 IQ4 values of 16 nibble bytes (q4_0_nibbles order) as signed bytes.
static inline __m256i iq4_lookup(const uint8_t *nibbles) {
    const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)iq4_values));
    return _mm256_shuffle_epi8(table, q4_0_nibbles(nibbles - 2));
}

// IQ4_NL against activations per 32: signed × signed through the sign trick of products().
float swiftllama_dot_iq4_nl(const void *w, const int8_t *xq, const float *xd, int blocks) {
    const uint8_t *p = (const uint8_t *)w;
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < blocks; b++, p += 18) {
        _mm_prefetch((const char *)p + PREFETCH_AHEAD, _MM_HINT_T0);
        const __m256 s = products(iq4_lookup(p + 2), _mm256_loadu_si256((const __m256i *)(xq + 32 * b)));
        acc = _mm256_fmadd_ps(s, _mm256_set1_ps(half_to_float(p) * xd[b]), acc);
    }
    return hsum(acc);
}

// IQ4_XS against activations per 256: per block of 32, Σ table[q]·x times its scale − 32.
float swiftllama_dot_iq4_xs(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
    const uint8_t *p = (const uint8_t *)w;
    (void)xsums;
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < superblocks; b++, p += 136) {
        _mm_prefetch((const char *)p + PREFETCH_AHEAD, _MM_HINT_T0);
        _mm_prefetch((const char *)p + PREFETCH_AHEAD + 64, _MM_HINT_T0);
        _mm_prefetch((const char *)p + PREFETCH_AHEAD + 128, _MM_HINT_T0);
        const int8_t *x = xq + 256 * b;
        __m256i sumi = _mm256_setzero_si256();
        for (int ib = 0; ib < 8; ib++) {
            const __m256i xv = _mm256_loadu_si256((const __m256i *)(x + 32 * ib));
            const __m256i v = iq4_lookup(p + 8 + 16 * ib);
            // 16 pair sums (at most 2·127·127 < 32768 in magnitude) times the block's scale
            // − 32 as int16, added in pairs into int32 by vpmaddwd.
            const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(xv, xv), _mm256_sign_epi8(v, xv));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(pairs, _mm256_set1_epi16((short)(iq4_xs_scale(ib, p) - 32))));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(half_to_float(p) * xd[b]), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum(acc);
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

float swiftllama_dot_q4_1(const void *w, const int8_t *xq, const float *xd, int blocks) {
    const uint8_t *p = (const uint8_t *)w;
    float sum = 0;
    for (int b = 0; b < blocks; b++) {
        const uint8_t *q = p + 20 * b + 4;
        int s = 0, sx = 0;
        for (int j = 0; j < 16; j++) {
            s += (q[j] & 0x0F) * xq[32 * b + j] + (q[j] >> 4) * xq[32 * b + j + 16];
            sx += xq[32 * b + j] + xq[32 * b + j + 16];
        }
        sum += xd[b] * (half_to_float(p + 20 * b) * (float)s + half_to_float(p + 20 * b + 2) * (float)sx);
    }
    return sum;
}

static float dot_q5(const uint8_t *p, const int8_t *xq, const float *xd, int blocks, int hasMin) {
    const int size = hasMin ? 24 : 22, qhAt = hasMin ? 4 : 2;
    float sum = 0;
    for (int b = 0; b < blocks; b++, p += size) {
        uint32_t qh;
        memcpy(&qh, p + qhAt, 4);
        const uint8_t *q = p + qhAt + 4;
        int s = 0, sx = 0;
        for (int j = 0; j < 16; j++) {
            const int v0 = (q[j] & 0x0F) | (((qh >> j) & 1) << 4), v1 = (q[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
            s += v0 * xq[32 * b + j] + v1 * xq[32 * b + j + 16];
            sx += xq[32 * b + j] + xq[32 * b + j + 16];
        }
        sum += hasMin ? xd[b] * (half_to_float(p) * (float)s + half_to_float(p + 2) * (float)sx)
                      : xd[b] * half_to_float(p) * (float)(s - 16 * sx);
    }
    return sum;
}

float swiftllama_dot_q5_0(const void *w, const int8_t *xq, const float *xd, int blocks) {
    return dot_q5((const uint8_t *)w, xq, xd, blocks, 0);
}

float swiftllama_dot_q5_1(const void *w, const int8_t *xq, const float *xd, int blocks) {
    return dot_q5((const uint8_t *)w, xq, xd, blocks, 1);
}

float swiftllama_dot_q4_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
    const uint8_t *p = (const uint8_t *)w;
    float sum = 0;
    (void)xsums;
    for (int b = 0; b < superblocks; b++, p += 144) {
        const float d = half_to_float(p), dmin = half_to_float(p + 2);
        const int8_t *x = xq + 256 * b;
        int dots = 0, mins = 0;
        for (int j = 0; j < 8; j++) {
            int sc, m;
            q4_K_scale_min(j, p + 4, &sc, &m);
            const uint8_t *qs = p + 16 + 32 * (j / 2);
            int s = 0, sx = 0;
            for (int l = 0; l < 32; l++) {
                const int q = (j % 2) ? (qs[l] >> 4) : (qs[l] & 0x0F);
                s += q * x[32 * j + l];
                sx += x[32 * j + l];
            }
            dots += sc * s;
            mins += m * sx;
        }
        sum += xd[b] * (d * (float)dots - dmin * (float)mins);
    }
    return sum;
}

float swiftllama_dot_q6_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
    const uint8_t *p = (const uint8_t *)w;
    float sum = 0;
    (void)xsums;
    for (int b = 0; b < superblocks; b++, p += 210) {
        const uint8_t *ql = p, *qh = p + 128;
        const int8_t *sc = (const int8_t *)(p + 192);
        const int8_t *x = xq + 256 * b;
        int total = 0;
        for (int h = 0; h < 2; h++) {
            for (int l = 0; l < 32; l++) {
                const int q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                const int s = l / 16;
                total += sc[s] * q1 * x[128 * h + l] + sc[s + 2] * q2 * x[128 * h + l + 32]
                       + sc[s + 4] * q3 * x[128 * h + l + 64] + sc[s + 6] * q4 * x[128 * h + l + 96];
            }
            ql += 64;
            qh += 32;
            sc += 8;
        }
        sum += half_to_float(p + 208) * xd[b] * (float)total;
    }
    return sum;
}
void swiftllama_dot2_q8_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    out[0] = swiftllama_dot_q8_0(w0, xq, xd, blocks);
    out[1] = swiftllama_dot_q8_0(w1, xq, xd, blocks);
}

void swiftllama_dot2_q4_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    out[0] = swiftllama_dot_q4_0(w0, xq, xd, blocks);
    out[1] = swiftllama_dot_q4_0(w1, xq, xd, blocks);
}
void swiftllama_dot2_q4_1(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    out[0] = swiftllama_dot_q4_1(w0, xq, xd, blocks);
    out[1] = swiftllama_dot_q4_1(w1, xq, xd, blocks);
}
void swiftllama_dot2_q5_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    out[0] = swiftllama_dot_q5_0(w0, xq, xd, blocks);
    out[1] = swiftllama_dot_q5_0(w1, xq, xd, blocks);
}
void swiftllama_dot2_q5_1(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    out[0] = swiftllama_dot_q5_1(w0, xq, xd, blocks);
    out[1] = swiftllama_dot_q5_1(w1, xq, xd, blocks);
}
void swiftllama_dot2_iq4_nl(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    out[0] = swiftllama_dot_iq4_nl(w0, xq, xd, blocks);
    out[1] = swiftllama_dot_iq4_nl(w1, xq, xd, blocks);
}
// The new block types through the int8 packer's per-block decoding (plain loops).
static void int8_block(int type, const uint8_t *row, int b, uint8_t u[32], float *scale, float *bias);
static float dot_generic(int type, const void *w, const int8_t *xq, const float *xd, int perScale, int n) {
    const int size = (type == 14 || type == 10 || type == 11) ? 16 : 32;
    float sum = 0;
    uint8_t u[32];
    for (int b = 0; b < n / size; b++) {
        float scale, bias;
        int8_block(type, (const uint8_t *)w, b, u, &scale, &bias);
        int s = 0, sx = 0;
        for (int i = 0; i < size; i++) {
            s += u[i] * xq[size * b + i];
            sx += xq[size * b + i];
        }
        sum += xd[size * b / perScale] * (scale * (float)s - bias * (float)sx);
    }
    return sum;
}
float swiftllama_dot_q2_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
    (void)xsums;
    return dot_generic(10, w, xq, xd, 256, 256 * superblocks);
}
float swiftllama_dot_q3_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
    (void)xsums;
    return dot_generic(11, w, xq, xd, 256, 256 * superblocks);
}
float swiftllama_dot_q5_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
    (void)xsums;
    return dot_generic(13, w, xq, xd, 256, 256 * superblocks);
}
float swiftllama_dot_iq4_xs(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
    (void)xsums;
    return dot_generic(23, w, xq, xd, 256, 256 * superblocks);
}
float swiftllama_dot_iq4_nl(const void *w, const int8_t *xq, const float *xd, int blocks) {
    return dot_generic(20, w, xq, xd, 32, 32 * blocks);
}
#include <math.h>

static int8_t round_q(float v) { return (int8_t)nearbyintf(v); }

void swiftllama_quantize_q8(const float *x, int8_t *q, float *d, int blocks) {
    for (int b = 0; b < blocks; b++) {
        float m = 0;
        for (int i = 0; i < 32; i++) m = fabsf(x[32 * b + i]) > m ? fabsf(x[32 * b + i]) : m;
        d[b] = m / 127.0f;
        const float inv = m > 0 ? 127.0f / m : 0.0f;
        for (int i = 0; i < 32; i++) q[32 * b + i] = round_q(x[32 * b + i] * inv);
    }
}

void swiftllama_quantize_q8_K(const float *x, int8_t *q, float *d, int16_t *sums, int superblocks) {
    for (int b = 0; b < superblocks; b++) {
        float m = 0;
        for (int i = 0; i < 256; i++) m = fabsf(x[256 * b + i]) > m ? fabsf(x[256 * b + i]) : m;
        d[b] = m / 127.0f;
        const float inv = m > 0 ? 127.0f / m : 0.0f;
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int i = 0; i < 16; i++) {
                const int8_t v = round_q(x[256 * b + 16 * g + i] * inv);
                q[256 * b + 16 * g + i] = v;
                s += v;
            }
            sums[16 * b + g] = (int16_t)s;
        }
    }
}
#endif

// ---------------------------------------------------------------------------------------
// Int8 matrix-matrix product for prompt processing (AVX-512 VNNI).
//
// A tile of 16 weight rows is packed so that one 64-byte vector holds, for 4 consecutive
// columns, the 16 rows' weights as unsigned bytes: vpdpbusd then multiplies it with 4
// activation bytes of one token broadcast to every lane and adds each row's 4 products to
// its own int32 lane, so no horizontal sums are needed. Each weight is scale·u − bias per
// block of 32 (Q8_0: u = q + 128, bias = 128·d; Q4_0: u = nibble, bias = 8·d; Q4_K: u =
// nibble, scale = d·sc, bias = dmin·m) or of 16 (Q6_K: u = q, scale = d·sc, bias = 32·d·sc),
// so per block and token
//   Σ_i w_i·x_i = xd·(scale·Σ u_i·q_i − bias·Σ q_i),
// with Σ q_i (times xd) precomputed per activation block. Eight tokens share each weight
// load; their int32 sums are turned into floats once per block.

static inline float half_bits_to_float(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
    if (exp == 0) {
        float f = (float)mant / 16777216.0f;
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

// Elements per packed block of each type: 32, or 16 for Q2_K, Q3_K and Q6_K, whose scales
// are per 16.
static inline int int8_block_size(int type) { return (type == 14 || type == 10 || type == 11) ? 16 : 32; }

// The unsigned values (32, or 16 for Q6_K), scale and bias of block b of one row.
static void int8_block(int type, const uint8_t *row, int b, uint8_t u[32], float *scale, float *bias) {
    if (type == 8) {  // Q8_0
        const uint8_t *p = row + 34 * b;
        const float d = half_bits_to_float(p);
        for (int i = 0; i < 32; i++) u[i] = (uint8_t)(p[2 + i] ^ 0x80);
        *scale = d;
        *bias = 128.0f * d;
    } else if (type == 2) {  // Q4_0
        const uint8_t *p = row + 18 * b;
        const float d = half_bits_to_float(p);
        for (int i = 0; i < 16; i++) {
            u[i] = p[2 + i] & 0x0F;
            u[i + 16] = p[2 + i] >> 4;
        }
        *scale = d;
        *bias = 8.0f * d;
    } else if (type == 3 || type == 6 || type == 7) {  // Q4_1, Q5_0, Q5_1
        const int size = type == 3 ? 20 : type == 6 ? 22 : 24, hasMin = type != 6, hasHigh = type != 3;
        const uint8_t *p = row + size * b;
        const float d = half_bits_to_float(p);
        const int qs = (hasMin ? 4 : 2) + (hasHigh ? 4 : 0);
        uint32_t qh = 0;
        if (hasHigh) memcpy(&qh, p + qs - 4, 4);
        for (int i = 0; i < 16; i++) {
            u[i] = (uint8_t)((p[qs + i] & 0x0F) | (((qh >> i) & 1) << 4));
            u[i + 16] = (uint8_t)((p[qs + i] >> 4) | (((qh >> (i + 16)) & 1) << 4));
        }
        *scale = d;
        // weight = d·u + m (bias −m), or d·(u − 16) for Q5_0.
        *bias = hasMin ? -half_bits_to_float(p + 2) : 16.0f * d;
    } else if (type == 10 || type == 11) {  // Q2_K, Q3_K: block b is sub-block b % 16 of super-block b / 16
        const int isQ3 = type == 11;
        const uint8_t *p = row + (isQ3 ? 110 : 84) * (b / 16);
        const int j = b % 16, h = j / 8, k = (j % 8) / 2, l0 = 16 * (j % 2);
        const uint8_t *qs = p + (isQ3 ? 32 : 16) + 32 * h;
        for (int i = 0; i < 16; i++) {
            const int low = (qs[l0 + i] >> (2 * k)) & 3;
            u[i] = (uint8_t)(isQ3 ? low | (((p[l0 + i] >> (4 * h + k)) & 1) << 2) : low);
        }
        if (isQ3) {  // d·(scale − 32)·(u − 4)
            *scale = half_bits_to_float(p + 108) * (float)(q3_K_scale(j, p + 96) - 32);
            *bias = 4.0f * *scale;
        } else {  // d·sc·u − dmin·m
            *scale = half_bits_to_float(p + 80) * (float)(p[j] & 0x0F);
            *bias = half_bits_to_float(p + 82) * (float)(p[j] >> 4);
        }
    } else if (type == 13) {  // Q5_K: Q4_K with the fifth bits
        const uint8_t *p = row + 176 * (b / 8);
        const int j = b % 8;
        int sc, m;
        q4_K_scale_min(j, p + 4, &sc, &m);
        const uint8_t *qs = p + 48 + 32 * (j / 2), *qh = p + 16;
        for (int i = 0; i < 32; i++) {
            const int low = (j % 2) ? (qs[i] >> 4) : (qs[i] & 0x0F);
            u[i] = (uint8_t)(low | (((qh[i] >> j) & 1) << 4));
        }
        *scale = half_bits_to_float(p) * (float)sc;
        *bias = half_bits_to_float(p + 2) * (float)m;
    } else if (type == 20 || type == 23) {  // IQ4_NL, IQ4_XS: u = table value + 128
        const uint8_t *p, *qs;
        float d;
        if (type == 20) {
            p = row + 18 * b;
            qs = p + 2;
            d = half_bits_to_float(p);
        } else {
            p = row + 136 * (b / 8);
            qs = p + 8 + 16 * (b % 8);
            d = half_bits_to_float(p) * (float)(iq4_xs_scale(b % 8, p) - 32);
        }
        for (int i = 0; i < 16; i++) {
            u[i] = iq4_unsigned[qs[i] & 0x0F];
            u[i + 16] = iq4_unsigned[qs[i] >> 4];
        }
        *scale = d;
        *bias = 128.0f * d;
    } else if (type == 12) {  // Q4_K: block b is sub-block b % 8 of super-block b / 8
        const uint8_t *p = row + 144 * (b / 8);
        const int j = b % 8;
        int sc, m;
        q4_K_scale_min(j, p + 4, &sc, &m);
        const uint8_t *qs = p + 16 + 32 * (j / 2);
        for (int i = 0; i < 32; i++) u[i] = (j % 2) ? (qs[i] >> 4) : (qs[i] & 0x0F);
        *scale = half_bits_to_float(p) * (float)sc;
        *bias = half_bits_to_float(p + 2) * (float)m;
    } else {  // Q6_K: block b is the 16 elements of scale j = b % 16 in super-block b / 16
        const uint8_t *p = row + 210 * (b / 16);
        const int j = b % 16;
        // Elements 16j…16j+15: half h = j/8 (128 elements), quarter k of it (32 elements),
        // the low or high 16 of that quarter.
        const int h = j / 8, k = (j % 8) / 2, l0 = 16 * (j % 2);
        const uint8_t *ql = p + 64 * h + (k % 2) * 32, *qh = p + 128 + 32 * h;
        for (int i = 0; i < 16; i++) {
            const int l = l0 + i;
            const int low = k < 2 ? (ql[l] & 0x0F) : (ql[l] >> 4);
            u[i] = (uint8_t)(low | (((qh[l] >> (2 * k)) & 3) << 4));
        }
        const float ds = half_bits_to_float(p + 208) * (float)(int8_t)p[192 + j];
        *scale = ds;
        *bias = 32.0f * ds;
    }
}

void swiftllama_pack_int8(int type, const void *rows, long rowBytes, int nrows, int blocks,
                          uint8_t *packed, float *scales, float *biases) {
    const int size = int8_block_size(type), groups = size / 4;
    memset(packed, 0, (size_t)blocks * 16 * size);
    memset(scales, 0, (size_t)blocks * 16 * sizeof(float));
    memset(biases, 0, (size_t)blocks * 16 * sizeof(float));
    uint8_t u[32];
    for (int r = 0; r < nrows; r++) {
        const uint8_t *row = (const uint8_t *)rows + (long)r * rowBytes;
        for (int b = 0; b < blocks; b++) {
            int8_block(type, row, b, u, &scales[16 * b + r], &biases[16 * b + r]);
            uint8_t *dst = packed + (long)16 * size * b + 4 * r;
            for (int m = 0; m < groups; m++) memcpy(dst + 64 * m, u + 4 * m, 4);
        }
    }
}

int swiftllama_int8_block_size(int type) { return int8_block_size(type); }

#if defined(__AVX512F__) && defined(__AVX512VNNI__)
int swiftllama_has_int8_gemm(void) { return 1; }

// The kernel for blocks of 4·groups elements; inlined with a constant so the group loop
// unrolls and the accumulators stay in registers.
static inline __attribute__((always_inline)) void gemm_int8_impl(
    const int groups, const uint8_t *packed, const float *scales, const float *biases, int blocks,
    const int8_t *xq, const float *xd, const float *xds, int tokens, float *out, long ldo, int nrows) {
    const int size = 4 * groups;
    const long ldx = (long)size * blocks;
    const __mmask16 rowMask = (__mmask16)((1u << nrows) - 1);
    for (int t0 = 0; t0 < tokens; t0 += 8) {
        // A short last group repeats its last token (valid memory) and stores only the real ones.
        int tk[8];
        for (int i = 0; i < 8; i++) tk[i] = t0 + i < tokens ? t0 + i : tokens - 1;
        __m512 af[8];
        for (int i = 0; i < 8; i++) af[i] = _mm512_setzero_ps();
        for (int b = 0; b < blocks; b++) {
            __m512i ai[8];
            for (int i = 0; i < 8; i++) ai[i] = _mm512_setzero_si512();
            const uint8_t *pb = packed + 64L * groups * b;
            for (int m = 0; m < groups; m++) {
                const __m512i w = _mm512_loadu_si512((const void *)(pb + 64 * m));
                for (int i = 0; i < 8; i++) {
                    int32_t x4;
                    memcpy(&x4, xq + tk[i] * ldx + (long)size * b + 4 * m, 4);
                    ai[i] = _mm512_dpbusd_epi32(ai[i], w, _mm512_set1_epi32(x4));
                }
            }
            const __m512 sc = _mm512_loadu_ps(scales + 16 * b);
            const __m512 bi = _mm512_loadu_ps(biases + 16 * b);
            for (int i = 0; i < 8; i++) {
                const long o = (long)tk[i] * blocks + b;
                af[i] = _mm512_fmadd_ps(_mm512_mul_ps(sc, _mm512_cvtepi32_ps(ai[i])), _mm512_set1_ps(xd[o]), af[i]);
                af[i] = _mm512_fnmadd_ps(bi, _mm512_set1_ps(xds[o]), af[i]);
            }
        }
        for (int i = 0; i < 8 && t0 + i < tokens; i++) {
            _mm512_mask_storeu_ps(out + (long)(t0 + i) * ldo, rowMask, af[i]);
        }
    }
}

void swiftllama_gemm_int8(int blockSize, const uint8_t *packed, const float *scales, const float *biases, int blocks,
                          const int8_t *xq, const float *xd, const float *xds, int tokens,
                          float *out, long ldo, int nrows) {
    if (blockSize == 16) {
        gemm_int8_impl(4, packed, scales, biases, blocks, xq, xd, xds, tokens, out, ldo, nrows);
    } else {
        gemm_int8_impl(8, packed, scales, biases, blocks, xq, xd, xds, tokens, out, ldo, nrows);
    }
}
#else
int swiftllama_has_int8_gemm(void) { return 0; }

void swiftllama_gemm_int8(int blockSize, const uint8_t *packed, const float *scales, const float *biases, int blocks,
                          const int8_t *xq, const float *xd, const float *xds, int tokens,
                          float *out, long ldo, int nrows) {
    // Plain loops over the packed layout, for CPUs without AVX-512 VNNI (callers normally
    // take the fp32 path there; this keeps the function correct everywhere).
    const int groups = blockSize / 4;
    const long ldx = (long)blockSize * blocks;
    for (int t = 0; t < tokens; t++) {
        for (int j = 0; j < nrows; j++) {
            float s = 0;
            for (int b = 0; b < blocks; b++) {
                int acc = 0;
                for (int m = 0; m < groups; m++)
                    for (int k = 0; k < 4; k++)
                        acc += packed[64L * groups * b + 64 * m + 4 * j + k] * xq[t * ldx + (long)blockSize * b + 4 * m + k];
                const long o = (long)t * blocks + b;
                s += scales[16 * b + j] * (float)acc * xd[o] - biases[16 * b + j] * xds[o];
            }
            out[(long)t * ldo + j] = s;
        }
    }
}
#endif

// The instruction-set extensions this file was compiled for (the compiler's predefined
// macros under -march=native), for `llama --version`.
const char *swiftllama_compiled_features(void) {
    return ""
#if defined(__AVX2__)
        " AVX2"
#endif
#if defined(__FMA__)
        " FMA"
#endif
#if defined(__F16C__)
        " F16C"
#endif
#if defined(__AVX512F__)
        " AVX512F"
#endif
#if defined(__AVX512BW__)
        " AVX512BW"
#endif
#if defined(__AVX512VL__)
        " AVX512VL"
#endif
#if defined(__AVX512VNNI__)
        " AVX512_VNNI"
#endif
#if defined(__AVX512BF16__)
        " AVX512_BF16"
#endif
#if defined(__AVXVNNI__)
        " AVX_VNNI"
#endif
        "";
}
