// The x86 generation kernels, included by kernels_avx2.c, kernels_avx512_256.c and
// kernels_avx512.c, each of which compiles them for its instruction set (a target
// attribute on every function) and defines:
//   K_VNNI   1: the u8·s8 products are vpdpbusd on 256-bit vectors (AVX-512 VL + VNNI);
//            0: vpmaddubsw + vpmaddwd (AVX2).
//   K_WIDE   1: the two-row dots load two blocks per 512-bit instruction (fast where the
//            CPU executes 512-bit vectors whole, as Intel's AVX-512 cores do);
//            0: two-row dots are 256-bit, and rows are best taken one by one.
//   K_AVX512 1: the int8 matrix-matrix kernel (512-bit vpdpbusd) of prompt processing.
//   K_SET, K_NAME, K_DESCRIPTION: the table's symbol, name and description.
// Everything here is static: each including file gets its own copies.
#include "kernel_common.h"

static float swiftllama_dot_q8_0(const void *w, const int8_t *xq, const float *xd, int blocks);
static float swiftllama_dot_q4_0(const void *w, const int8_t *xq, const float *xd, int blocks);
static float swiftllama_dot_q4_1(const void *w, const int8_t *xq, const float *xd, int blocks);
static float swiftllama_dot_q5_0(const void *w, const int8_t *xq, const float *xd, int blocks);
static float swiftllama_dot_q5_1(const void *w, const int8_t *xq, const float *xd, int blocks);
static float swiftllama_dot_iq4_nl(const void *w, const int8_t *xq, const float *xd, int blocks);

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

static void swiftllama_quantize_q8(const float *x, int8_t *q, float *d, int blocks) {
    for (int b = 0; b < blocks; b++) quantize_block32(x + 32 * b, q + 32 * b, d + b);
}

static void swiftllama_quantize_q8_K(const float *x, int8_t *q, float *d, int16_t *sums, int superblocks) {
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
#ifndef PREFETCH_AHEAD
#define PREFETCH_AHEAD 2048
#endif


// One f16 → f32 in integer registers: the half's exponent and mantissa moved into an f32's
// place, then one multiply by 2^112 rebiases the exponent (exact, subnormals included; the
// scales are never inf or NaN). Not _cvtsh_ss: clang compiles that to a vpinsrw into
// whatever register is free, often the loop's accumulator, which chains every block's scale
// to the previous block's FMA: Q4_0 streamed at 10 GB/s per thread on Zen 4 (bench/kernels.sh).
static inline float half_to_float(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    const uint32_t bits = ((uint32_t)(h & 0x8000) << 16) | ((uint32_t)(h & 0x7FFF) << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f * 0x1p112f;
}

// Σ of 4 adjacent u8·s8 products added to each int32 lane of acc: one vpdpbusd where the
// CPU has VNNI, else vpmaddubsw + vpmaddwd (no saturation for the ranges used here: the
// unsigned side is at most 127, so a pair sum stays below 2·127·127 < 32768).
static inline __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) {
#if K_VNNI
    return _mm256_dpbusd_epi32(acc, u, s);
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

static float swiftllama_dot_q8_0(const void *w, const int8_t *xq, const float *xd, int blocks) {
    const uint8_t *p = (const uint8_t *)w;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int b = 0;
    for (; b + 2 <= blocks; b += 2) {
        // No software prefetch here: measured on Zen 4 (bench/kernels.sh), it costs a third
        // of this kernel's streaming speed, which the hardware prefetcher already keeps at
        // the memory's.
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
static float swiftllama_dot_q4_1(const void *w, const int8_t *xq, const float *xd, int blocks) {
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

static float swiftllama_dot_q5_0(const void *w, const int8_t *xq, const float *xd, int blocks) {
    return dot_q5((const uint8_t *)w, xq, xd, blocks, 0);
}

static float swiftllama_dot_q5_1(const void *w, const int8_t *xq, const float *xd, int blocks) {
    return dot_q5((const uint8_t *)w, xq, xd, blocks, 1);
}

static float swiftllama_dot_q4_0(const void *w, const int8_t *xq, const float *xd, int blocks) {
    const uint8_t *p = (const uint8_t *)w;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int b = 0;
    for (; b + 2 <= blocks; b += 2) {
        const uint8_t *p0 = p + 18 * b, *p1 = p0 + 18;
        _mm_prefetch((const char *)p0 + PREFETCH_AHEAD, _MM_HINT_T0);
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
#if K_WIDE
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
static void swiftllama_dot2_q8_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
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
static void swiftllama_dot2_q8_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
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

#if K_WIDE
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
static void swiftllama_dot2_q4_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
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

static void swiftllama_dot2_q4_1(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    dot2_b32((const uint8_t *)w0, (const uint8_t *)w1, xq, xd, blocks, out, 20, 4, 0, 1, 0, 0, swiftllama_dot_q4_1);
}
static void swiftllama_dot2_q5_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    dot2_b32((const uint8_t *)w0, (const uint8_t *)w1, xq, xd, blocks, out, 22, 6, 1, 0, 16, 0, swiftllama_dot_q5_0);
}
static void swiftllama_dot2_q5_1(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    dot2_b32((const uint8_t *)w0, (const uint8_t *)w1, xq, xd, blocks, out, 24, 8, 1, 1, 0, 0, swiftllama_dot_q5_1);
}
// IQ4_NL: the nibbles index the table shifted to unsigned (value + 128), centred back by 128·Σx.
static void swiftllama_dot2_iq4_nl(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    dot2_b32((const uint8_t *)w0, (const uint8_t *)w1, xq, xd, blocks, out, 18, 2, 0, 0, 128, 1, swiftllama_dot_iq4_nl);
}
#else
static void swiftllama_dot2_q4_1(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    out[0] = swiftllama_dot_q4_1(w0, xq, xd, blocks);
    out[1] = swiftllama_dot_q4_1(w1, xq, xd, blocks);
}
static void swiftllama_dot2_q5_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    out[0] = swiftllama_dot_q5_0(w0, xq, xd, blocks);
    out[1] = swiftllama_dot_q5_0(w1, xq, xd, blocks);
}
static void swiftllama_dot2_q5_1(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    out[0] = swiftllama_dot_q5_1(w0, xq, xd, blocks);
    out[1] = swiftllama_dot_q5_1(w1, xq, xd, blocks);
}
static void swiftllama_dot2_iq4_nl(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    out[0] = swiftllama_dot_iq4_nl(w0, xq, xd, blocks);
    out[1] = swiftllama_dot_iq4_nl(w1, xq, xd, blocks);
}
static void swiftllama_dot2_q4_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
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

static float swiftllama_dot_q4_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
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

static float swiftllama_dot_q6_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
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
static float swiftllama_dot_q2_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
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
static float swiftllama_dot_q3_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
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
static float swiftllama_dot_q5_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
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
static float swiftllama_dot_iq4_nl(const void *w, const int8_t *xq, const float *xd, int blocks) {
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
static float swiftllama_dot_iq4_xs(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
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


// ---- F16 / BF16 matrix-vector products (generation over unquantized weights) ----
// Four rows per pass share each activation load; two accumulators per row keep eight FMA
// chains in flight. Rows r…r+3 are contiguous, so while one group is computed the next one
// (the same number of bytes) is requested into L2, one 64-byte line per row and step.

static inline __m256 load8_half(const uint8_t *p, const int bf16) {
    const __m128i h = _mm_loadu_si128((const __m128i *)p);
    if (bf16) return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    return _mm256_cvtph_ps(h);
}

static inline float half_scalar(const uint8_t *p, const int bf16) {
    uint16_t h;
    memcpy(&h, p, 2);
    if (bf16) {
        const uint32_t bits = (uint32_t)h << 16;
        float f;
        memcpy(&f, &bits, 4);
        return f;
    }
    return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h)));
}

static inline __attribute__((always_inline)) void matvec_half_impl(
    const int bf16, const void *w, long rowBytes, int rows, int cols, const float *x, long ldx, int tokens, float *out, long ldo) {
    const uint8_t *base = (const uint8_t *)w;
    int r = 0;
    for (; r + 4 <= rows; r += 4) {
        const uint8_t *w0 = base + (long)r * rowBytes, *w1 = w0 + rowBytes, *w2 = w1 + rowBytes, *w3 = w2 + rowBytes;
        const int prefetchNext = r + 8 <= rows;
        const uint8_t *next = w0 + 4 * rowBytes;
        for (int t = 0; t < tokens; t++) {
            const float *xt = x + (long)t * ldx;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            int c = 0;
            for (; c + 32 <= cols; c += 32) {
                if (t == 0 && prefetchNext) {
                    _mm_prefetch((const char *)next + 2L * c, _MM_HINT_T1);
                    _mm_prefetch((const char *)next + rowBytes + 2L * c, _MM_HINT_T1);
                    _mm_prefetch((const char *)next + 2 * rowBytes + 2L * c, _MM_HINT_T1);
                    _mm_prefetch((const char *)next + 3 * rowBytes + 2L * c, _MM_HINT_T1);
                }
                for (int k = 0; k < 32; k += 16) {
                    const __m256 x0 = _mm256_loadu_ps(xt + c + k), x1 = _mm256_loadu_ps(xt + c + k + 8);
                    const long o = 2L * (c + k);
                    a0 = _mm256_fmadd_ps(load8_half(w0 + o, bf16), x0, a0);
                    a1 = _mm256_fmadd_ps(load8_half(w1 + o, bf16), x0, a1);
                    a2 = _mm256_fmadd_ps(load8_half(w2 + o, bf16), x0, a2);
                    a3 = _mm256_fmadd_ps(load8_half(w3 + o, bf16), x0, a3);
                    b0 = _mm256_fmadd_ps(load8_half(w0 + o + 16, bf16), x1, b0);
                    b1 = _mm256_fmadd_ps(load8_half(w1 + o + 16, bf16), x1, b1);
                    b2 = _mm256_fmadd_ps(load8_half(w2 + o + 16, bf16), x1, b2);
                    b3 = _mm256_fmadd_ps(load8_half(w3 + o + 16, bf16), x1, b3);
                }
            }
            for (; c + 8 <= cols; c += 8) {
                const __m256 x0 = _mm256_loadu_ps(xt + c);
                a0 = _mm256_fmadd_ps(load8_half(w0 + 2L * c, bf16), x0, a0);
                a1 = _mm256_fmadd_ps(load8_half(w1 + 2L * c, bf16), x0, a1);
                a2 = _mm256_fmadd_ps(load8_half(w2 + 2L * c, bf16), x0, a2);
                a3 = _mm256_fmadd_ps(load8_half(w3 + 2L * c, bf16), x0, a3);
            }
            float s0 = hsum(_mm256_add_ps(a0, b0)), s1 = hsum(_mm256_add_ps(a1, b1));
            float s2 = hsum(_mm256_add_ps(a2, b2)), s3 = hsum(_mm256_add_ps(a3, b3));
            for (; c < cols; c++) {
                s0 += half_scalar(w0 + 2L * c, bf16) * xt[c];
                s1 += half_scalar(w1 + 2L * c, bf16) * xt[c];
                s2 += half_scalar(w2 + 2L * c, bf16) * xt[c];
                s3 += half_scalar(w3 + 2L * c, bf16) * xt[c];
            }
            float *o = out + (long)t * ldo + r;
            o[0] = s0;
            o[1] = s1;
            o[2] = s2;
            o[3] = s3;
        }
    }
    for (; r < rows; r++) {
        const uint8_t *w0 = base + (long)r * rowBytes;
        for (int t = 0; t < tokens; t++) {
            const float *xt = x + (long)t * ldx;
            __m256 a0 = _mm256_setzero_ps(), b0 = a0;
            int c = 0;
            for (; c + 16 <= cols; c += 16) {
                a0 = _mm256_fmadd_ps(load8_half(w0 + 2L * c, bf16), _mm256_loadu_ps(xt + c), a0);
                b0 = _mm256_fmadd_ps(load8_half(w0 + 2L * c + 16, bf16), _mm256_loadu_ps(xt + c + 8), b0);
            }
            for (; c + 8 <= cols; c += 8) a0 = _mm256_fmadd_ps(load8_half(w0 + 2L * c, bf16), _mm256_loadu_ps(xt + c), a0);
            float s0 = hsum(_mm256_add_ps(a0, b0));
            for (; c < cols; c++) s0 += half_scalar(w0 + 2L * c, bf16) * xt[c];
            out[(long)t * ldo + r] = s0;
        }
    }
}

static void matvec_f16(const void *w, long rowBytes, int rows, int cols, const float *x, long ldx, int tokens, float *out, long ldo) {
    matvec_half_impl(0, w, rowBytes, rows, cols, x, ldx, tokens, out, ldo);
}

static void matvec_bf16(const void *w, long rowBytes, int rows, int cols, const float *x, long ldx, int tokens, float *out, long ldo) {
    matvec_half_impl(1, w, rowBytes, rows, cols, x, ldx, tokens, out, ldo);
}

// ---- Row-interleaved matrix-vector products (the R8 layouts of CKernels.h) ----
// One 256-bit load holds 4 consecutive quantized bytes of each of 8 rows; one broadcast of
// the matching 4 activation bytes feeds one u8·s8 product for all 8 rows, each row's sum in
// its own int32 lane: no horizontal sums, one f16 → f32 conversion for the 8 rows' scales,
// and the weights' offset (Q4_0 stores q + 8, the R8 Q8_0 q + 128) is offset·Σx per block
// and token, shared by the 8 rows (the accumulators start from it). Each block is unpacked
// once for every token of the call; each token's float sums run in block order, the same
// for 1 and for 8 tokens.
// The stream of a chunk of row groups is one contiguous run of bytes, which the hardware
// prefetcher follows alone for one token: a software prefetch measured 5–10% slower there
// (bench/kernels.sh, Zen 4). For 2 or more tokens on long rows (8192 columns: the feed-forward
// down matrix) it is what keeps the stream going: the tokens' activations (8 KiB each) no
// longer stay in L1 between row groups, their misses compete with the weights' for the
// hardware prefetcher, and the 4-token kernel fell to 8 GB/s of weights against 16 at 2048
// columns. A non-temporal prefetch R8_PREFETCH bytes ahead, for T ≥ 2 only (T is a constant in
// each inlined copy, so the one-token copies have none): 8 → 12 GB/s at 8192 columns, the
// same at 2048 (one thread, cache-cold weights, Zen 4). R8_PREFETCH=0 turns it off.
#ifndef R8_PREFETCH
#define R8_PREFETCH 2048
#endif
#if R8_PREFETCH > 0
#define R8_FETCH(p, k, T) do { if ((T) >= 2) _mm_prefetch((const char *)(p) + R8_PREFETCH + 64 * (k), _MM_HINT_NTA); } while (0)
#else
#define R8_FETCH(p, k, T) ((void)0)
#endif

static inline __m256i bcast4(const int8_t *x) {
    int32_t v;
    memcpy(&v, x, 4);
    return _mm256_set1_epi32(v);
}

// The 8 quantized registers of Q4_0 block b of a group (elements 4i…4i+3 in v[i], i < 4, and
// 16+4i… in v[4+i]) against T tokens. With `off` (non-null), the offset term −8·Σx of each
// block and token comes from there, computed once per call by matvec_q4_0_r8: one broadcast
// from memory instead of a scalar multiply and a register broadcast per block and token
// (1–4% faster per call, one thread on cache-resident rows, Zen 4). The integers are the
// same either way.
static inline __attribute__((always_inline)) void q4_0_r8_group(const uint8_t *p, int blocks, const int8_t *xq,
                                                                const float *xd, const int32_t *xs, const int32_t *off,
                                                                float *out, long ldo, const int T) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const long stride = 32L * blocks;
    __m256 acc[8];
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < blocks; b++, p += 144) {
        R8_FETCH(p, 0, T);
        R8_FETCH(p, 1, T);
        R8_FETCH(p, 2, T);
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        __m256i v[8];
        for (int i = 0; i < 4; i++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * i));
            v[i] = _mm256_and_si256(q, m4);
            v[4 + i] = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        }
        for (int t = 0; t < T; t++) {
            const int8_t *x = xq + stride * t + 32 * b;
            __m256i s0 = _mm256_set1_epi32(off ? off[(long)blocks * t + b] : -8 * xs[(long)blocks * t + b]);
            __m256i s1 = _mm256_setzero_si256();
            s0 = dot_u8s8(s0, v[0], bcast4(x));
            s1 = dot_u8s8(s1, v[1], bcast4(x + 4));
            s0 = dot_u8s8(s0, v[2], bcast4(x + 8));
            s1 = dot_u8s8(s1, v[3], bcast4(x + 12));
            s0 = dot_u8s8(s0, v[4], bcast4(x + 16));
            s1 = dot_u8s8(s1, v[5], bcast4(x + 20));
            s0 = dot_u8s8(s0, v[6], bcast4(x + 24));
            s1 = dot_u8s8(s1, v[7], bcast4(x + 28));
            const __m256 scale = _mm256_mul_ps(d, _mm256_set1_ps(xd[(long)blocks * t + b]));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), scale, acc[t]);
        }
    }
    for (int t = 0; t < T; t++) _mm256_storeu_ps(out + ldo * t, acc[t]);
}

#if K_WIDE
// ---- The full-width set: two blocks per 512-bit vector ----
// On CPUs that execute 512-bit vectors whole, one vpdpbusd takes two blocks of a group: lane
// 2k holds row k's dword of block b, lane 2k + 1 row k's dword of block b + 1 (one vpermt2d
// per 32-byte chunk pair interleaves them, shared by every token of the call). The activations
// are interleaved the same way once per call (r8w_prepare: for each block pair, 8 qwords
// [dword j of block b, dword j of block b + 1]), so each product's activations are one 64-bit
// broadcast load. The weights stay one contiguous stream (two row groups per vector, the other
// choice, made the hardware prefetcher follow two streams that restart every group: 1.7×
// slower for one token at 2048 columns, Zen 5). A row's even and odd blocks accumulate in
// neighbouring lanes of the int32 sums; each pair's sums are converted, moved to [block b's
// rows | block b + 1's rows] (one vpermps) and added to the row's fp32 sum block after block,
// d·xd of each block as the 256-bit kernels compute them: every token's results are bit for
// bit those of the 256-bit sets (and so the same alone and batched). One token takes the
// 256-bit kernel (it streams memory; the 512-bit one measured ~4 % slower there, Zen 5).
// The interleaved activations live on the stack, R8W_XCAP bytes: rows of more than 32768
// columns take the 256-bit kernels, and longer rows' tokens run in batches that fit (8192
// columns: 4 tokens per pass over the weights).
enum { R8W_XCAP = 32768 };
#ifndef R8W_PREFETCH
#define R8W_PREFETCH 8192
#endif
#ifndef R8W_FETCH_MIN_T
#define R8W_FETCH_MIN_T 2
#endif
// R8_FETCH further ahead, and only inside the call's weights (`end`): the engine's calls are
// chunks of 8 groups, and the next chunk is likely another thread's. At 2048 bytes these
// kernels waited on memory from 2 tokens on (8 tokens: Q4_0 1.08, Q8_0 2.06 ns per
// block·token); 8192: 0.80, 1.24 (Zen 5, one thread, 2048 columns; 4096 and 16384 between).
#define R8W_FETCH(p, k, T, end) do { \
        const char *a_ = (const char *)(p) + R8W_PREFETCH + 64 * (k); \
        if ((T) >= R8W_FETCH_MIN_T && a_ < (const char *)(end)) _mm_prefetch(a_, _MM_HINT_NTA); } while (0)

static inline __attribute__((always_inline)) __m512i interleave_dwords(const uint8_t *a, const uint8_t *b) {
    const __m512i idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    return _mm512_permutex2var_epi32(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)), idx,
                                     _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)b)));
}

// Two consecutive 32-bit values (ints or floats) in every even / odd lane pair.
static inline __attribute__((always_inline)) __m512i bcast8(const void *p) {
    int64_t v;
    memcpy(&v, p, 8);
    return _mm512_set1_epi64(v);
}

// Block b's rows in the low half, block b + 1's in the high half (the lanes of interleave_dwords).
static inline __attribute__((always_inline)) __m512 deinterleave_pair(__m512 v) {
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15), v);
}

// acc + Σ over the pair's two blocks, in block order, of (float)s · (d·xd) (d0, d1: the two
// blocks' row scales): the 256-bit kernels' float steps for blocks b and b + 1.
static inline __attribute__((always_inline)) __m256 add_pair(__m256 acc, __m512i s, __m256 d0, __m256 d1, const float *xdPair) {
    const __m512 v = deinterleave_pair(_mm512_cvtepi32_ps(s));
    acc = _mm256_fmadd_ps(_mm512_castps512_ps256(v), _mm256_mul_ps(d0, _mm256_set1_ps(xdPair[0])), acc);
    return _mm256_fmadd_ps(_mm512_extractf32x8_ps(v, 1), _mm256_mul_ps(d1, _mm256_set1_ps(xdPair[1])), acc);
}

// An odd last block b = blocks − 1 (d: its row scales, v: its 8 registers of unsigned values),
// 256-bit as q4_0_r8_group / q8_0_r8_group, added to each token's row sums.
static inline __attribute__((always_inline)) void r8w_last_block(__m256 d, const __m256i v[8], const int8_t *xq, const float *xd,
                                                                 const int32_t *off, int blocks, __m256 *acc, const int T) {
    const int b = blocks - 1;
    for (int t = 0; t < T; t++) {
        const int8_t *x = xq + 32L * blocks * t + 32 * b;
        __m256i s0 = _mm256_set1_epi32(off[(long)blocks * t + b]), s1 = _mm256_setzero_si256();
        for (int i = 0; i < 8; i += 2) {
            s0 = _mm256_dpbusd_epi32(s0, v[i], bcast4(x + 4 * i));
            s1 = _mm256_dpbusd_epi32(s1, v[i + 1], bcast4(x + 4 * i + 4));
        }
        const __m256 scale = _mm256_mul_ps(d, _mm256_set1_ps(xd[(long)blocks * t + b]));
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), scale, acc[t]);
    }
}

// T tokens' activations (rows of `blocks` blocks at xq) into xp: 64 bytes per block pair, a
// token's pairs after the previous token's (an odd last block is read from xq itself).
static void r8w_prepare(const int8_t *xq, int blocks, int T, int8_t *xp) {
    const __m512i idx = _mm512_setr_epi32(0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15);
    const int pairs = blocks / 2;
    for (int t = 0; t < T; t++)
        for (int q = 0; q < pairs; q++)
            _mm512_storeu_si512((void *)(xp + 64L * (pairs * t + q)),
                                _mm512_permutexvar_epi32(idx, _mm512_loadu_si512((const void *)(xq + 32L * blocks * t + 64 * q))));
}

static inline __attribute__((always_inline)) void q4_0_r8w_group(const uint8_t *p, const uint8_t *end, int blocks, const int8_t *xq,
                                                                 const int8_t *xp, const float *xd, const int32_t *off,
                                                                 float *out, long ldo, const int T) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const int pairs = blocks / 2;
    __m256 acc[8];
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    for (int q = 0; q < pairs; q++, p += 288) {
        for (int k = 0; k < 5; k++) R8W_FETCH(p, k, T, end);
        const __m256 d0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        const __m256 d1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 144)));
        __m512i v[8];
        for (int i = 0; i < 4; i++) {
            const __m512i w = interleave_dwords(p + 16 + 32 * i, p + 160 + 32 * i);
            v[i] = _mm512_and_si512(w, m4);
            v[4 + i] = _mm512_and_si512(_mm512_srli_epi16(w, 4), m4);
        }
        for (int t = 0; t < T; t++) {
            const int8_t *x = xp + 64L * (pairs * t + q);
            __m512i s0 = bcast8(off + (long)blocks * t + 2 * q);
            __m512i s1 = _mm512_setzero_si512();
            s0 = _mm512_dpbusd_epi32(s0, v[0], bcast8(x));
            s1 = _mm512_dpbusd_epi32(s1, v[1], bcast8(x + 8));
            s0 = _mm512_dpbusd_epi32(s0, v[2], bcast8(x + 16));
            s1 = _mm512_dpbusd_epi32(s1, v[3], bcast8(x + 24));
            s0 = _mm512_dpbusd_epi32(s0, v[4], bcast8(x + 32));
            s1 = _mm512_dpbusd_epi32(s1, v[5], bcast8(x + 40));
            s0 = _mm512_dpbusd_epi32(s0, v[6], bcast8(x + 48));
            s1 = _mm512_dpbusd_epi32(s1, v[7], bcast8(x + 56));
            acc[t] = add_pair(acc[t], _mm512_add_epi32(s0, s1), d0, d1, xd + (long)blocks * t + 2 * q);
        }
    }
    if (blocks & 1) {
        const __m256i m4y = _mm256_set1_epi8(0x0F);
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        __m256i v[8];
        for (int i = 0; i < 4; i++) {
            const __m256i w = _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * i));
            v[i] = _mm256_and_si256(w, m4y);
            v[4 + i] = _mm256_and_si256(_mm256_srli_epi16(w, 4), m4y);
        }
        r8w_last_block(d, v, xq, xd, off, blocks, acc, T);
    }
    for (int t = 0; t < T; t++) _mm256_storeu_ps(out + ldo * t, acc[t]);
}

// Q8_0 the same way: 8 interleaved registers of q + 128 per block pair, the accumulators
// starting from −128·Σx of each block.
static inline __attribute__((always_inline)) void q8_0_r8w_group(const uint8_t *p, const uint8_t *end, int blocks, const int8_t *xq,
                                                                 const int8_t *xp, const float *xd, const int32_t *off,
                                                                 float *out, long ldo, const int T) {
    const int pairs = blocks / 2;
    __m256 acc[8];
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    for (int q = 0; q < pairs; q++, p += 544) {
        for (int k = 0; k < 9; k++) R8W_FETCH(p, k, T, end);
        const __m256 d0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        const __m256 d1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 272)));
        __m512i v[8];
        for (int i = 0; i < 8; i++) v[i] = interleave_dwords(p + 16 + 32 * i, p + 288 + 32 * i);
        for (int t = 0; t < T; t++) {
            const int8_t *x = xp + 64L * (pairs * t + q);
            __m512i s0 = bcast8(off + (long)blocks * t + 2 * q), s1 = _mm512_setzero_si512();
            for (int i = 0; i < 8; i += 2) {
                s0 = _mm512_dpbusd_epi32(s0, v[i], bcast8(x + 8 * i));
                s1 = _mm512_dpbusd_epi32(s1, v[i + 1], bcast8(x + 8 * i + 8));
            }
            acc[t] = add_pair(acc[t], _mm512_add_epi32(s0, s1), d0, d1, xd + (long)blocks * t + 2 * q);
        }
    }
    if (blocks & 1) {
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        __m256i v[8];
        for (int i = 0; i < 8; i++) v[i] = _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * i));
        r8w_last_block(d, v, xq, xd, off, blocks, acc, T);
    }
    for (int t = 0; t < T; t++) _mm256_storeu_ps(out + ldo * t, acc[t]);
}

// The call of either type: the activations interleaved per batch of tokens that fits R8W_XCAP,
// each block's offset (−8·Σx for Q4_0's nibbles, −128·Σx for Q8_0's q + 128), then every group.
static inline __attribute__((always_inline)) void r8w_matvec(const int q8, const void *w, int groups, int blocks, const int8_t *xq,
                                                             const float *xd, const int32_t *xs, int tokens, float *out, long ldo) {
    _Alignas(64) int8_t xp[R8W_XCAP];
    int32_t off[R8W_XCAP / 32];
    const long groupBytes = (q8 ? 272L : 144L) * blocks;
    const int T = tokens < 8 ? tokens : 8;
    const int fit = (int)(R8W_XCAP / (32L * blocks));
    const int batch = T < fit ? T : fit;
    for (int t0 = 0; t0 < T; t0 += batch) {
        const int n = T - t0 < batch ? T - t0 : batch;
        const long b0 = (long)blocks * t0;
        r8w_prepare(xq + 32 * b0, blocks, n, xp);
        for (long i = 0; i < (long)n * blocks; i++) off[i] = (q8 ? -128 : -8) * xs[b0 + i];
        const uint8_t *end = (const uint8_t *)w + groupBytes * groups;
        for (int g = 0; g < groups; g++) {
            const uint8_t *p = (const uint8_t *)w + groupBytes * g;
            float *o = out + 8L * g + ldo * t0;
#define R8W_GROUP(k)                                                                                   \
    (q8 ? q8_0_r8w_group(p, end, blocks, xq + 32 * b0, xp, xd + b0, off, o, ldo, k)                    \
        : q4_0_r8w_group(p, end, blocks, xq + 32 * b0, xp, xd + b0, off, o, ldo, k))
            switch (n) {
            case 1: R8W_GROUP(1); break;
            case 2: R8W_GROUP(2); break;
            case 3: R8W_GROUP(3); break;
            case 4: R8W_GROUP(4); break;
            case 5: R8W_GROUP(5); break;
            case 6: R8W_GROUP(6); break;
            case 7: R8W_GROUP(7); break;
            default: R8W_GROUP(8); break;
            }
#undef R8W_GROUP
        }
    }
}

static __attribute__((noinline)) void matvec_q4_0_r8w(const void *w, int groups, int blocks, const int8_t *xq, const float *xd, const int32_t *xs,
                            int tokens, float *out, long ldo) {
    r8w_matvec(0, w, groups, blocks, xq, xd, xs, tokens, out, ldo);
}

static __attribute__((noinline)) void matvec_q8_0_r8w(const void *w, int groups, int blocks, const int8_t *xq, const float *xd, const int32_t *xs,
                            int tokens, float *out, long ldo) {
    r8w_matvec(1, w, groups, blocks, xq, xd, xs, tokens, out, ldo);
}
#endif

static void matvec_q4_0_r8(const void *w, int groups, int blocks, const int8_t *xq, const float *xd, const int32_t *xs,
                           int tokens, float *out, long ldo) {
#if K_WIDE
    if (tokens > 1 && 32L * blocks <= R8W_XCAP) {
        matvec_q4_0_r8w(w, groups, blocks, xq, xd, xs, tokens, out, ldo);
        return;
    }
#endif
    // The offset terms of every token and block on the stack (32 KiB at most: rows of up to
    // 32768 columns at 8 tokens); longer rows compute them in the block loop.
    enum { OFF_CAP = 8 * 1024 };
    int32_t buffer[OFF_CAP];
    const int T = tokens < 8 ? tokens : 8;
    const int32_t *off = NULL;
    if ((long)T * blocks <= OFF_CAP) {
        for (long i = 0; i < (long)T * blocks; i++) buffer[i] = -8 * xs[i];
        off = buffer;
    }
    for (int g = 0; g < groups; g++) {
        const uint8_t *p = (const uint8_t *)w + 144L * blocks * g;
        float *o = out + 8L * g;
        // The group kernel is inlined per token count and per offset source (table or inline).
#define Q4_0_R8_TOKENS(OFF) switch (T) { \
            case 1: q4_0_r8_group(p, blocks, xq, xd, xs, OFF, o, ldo, 1); break; \
            case 2: q4_0_r8_group(p, blocks, xq, xd, xs, OFF, o, ldo, 2); break; \
            case 3: q4_0_r8_group(p, blocks, xq, xd, xs, OFF, o, ldo, 3); break; \
            case 4: q4_0_r8_group(p, blocks, xq, xd, xs, OFF, o, ldo, 4); break; \
            case 5: q4_0_r8_group(p, blocks, xq, xd, xs, OFF, o, ldo, 5); break; \
            case 6: q4_0_r8_group(p, blocks, xq, xd, xs, OFF, o, ldo, 6); break; \
            case 7: q4_0_r8_group(p, blocks, xq, xd, xs, OFF, o, ldo, 7); break; \
            default: q4_0_r8_group(p, blocks, xq, xd, xs, OFF, o, ldo, 8); break; }
        if (off) Q4_0_R8_TOKENS(buffer) else Q4_0_R8_TOKENS(NULL)
#undef Q4_0_R8_TOKENS
    }
}

// Q8_0: 8 registers of q + 128 per block. With VNNI they go in unsigned and the accumulators
// start from −128·Σx; without, vpmaddubsw's int16 pair sums would saturate (2·255·127), so
// the AVX2 set turns them back to signed q once per block and multiplies |q| (unsigned, up to
// 128: q = −128 is exact too) by x with q's sign, one vpsignb per register and token.
static inline __attribute__((always_inline)) void q8_0_r8_group(const uint8_t *p, int blocks, const int8_t *xq,
                                                                const float *xd, const int32_t *xs, float *out, long ldo,
                                                                const int T) {
    const long stride = 32L * blocks;
    __m256 acc[8];
    for (int t = 0; t < T; t++) acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < blocks; b++, p += 272) {
        R8_FETCH(p, 0, T);
        R8_FETCH(p, 1, T);
        R8_FETCH(p, 2, T);
        R8_FETCH(p, 3, T);
        R8_FETCH(p, 4, T);
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
        __m256i v[8];
#if !K_VNNI
        __m256i a[8];
#endif
        for (int i = 0; i < 8; i++) {
            v[i] = _mm256_loadu_si256((const __m256i *)(p + 16 + 32 * i));
#if !K_VNNI
            v[i] = _mm256_xor_si256(v[i], _mm256_set1_epi8((char)0x80));
            a[i] = _mm256_abs_epi8(v[i]);
#endif
        }
        for (int t = 0; t < T; t++) {
            const int8_t *x = xq + stride * t + 32 * b;
#if K_VNNI
            __m256i s0 = _mm256_set1_epi32(-128 * xs[(long)blocks * t + b]), s1 = _mm256_setzero_si256();
            for (int i = 0; i < 8; i += 2) {
                s0 = _mm256_dpbusd_epi32(s0, v[i], bcast4(x + 4 * i));
                s1 = _mm256_dpbusd_epi32(s1, v[i + 1], bcast4(x + 4 * i + 4));
            }
#else
            __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
            for (int i = 0; i < 8; i += 2) {
                s0 = dot_u8s8(s0, a[i], _mm256_sign_epi8(bcast4(x + 4 * i), v[i]));
                s1 = dot_u8s8(s1, a[i + 1], _mm256_sign_epi8(bcast4(x + 4 * i + 4), v[i + 1]));
            }
#endif
            const __m256 scale = _mm256_mul_ps(d, _mm256_set1_ps(xd[(long)blocks * t + b]));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), scale, acc[t]);
        }
    }
    for (int t = 0; t < T; t++) _mm256_storeu_ps(out + ldo * t, acc[t]);
}

static void matvec_q8_0_r8(const void *w, int groups, int blocks, const int8_t *xq, const float *xd, const int32_t *xs,
                           int tokens, float *out, long ldo) {
#if K_WIDE
    if (tokens > 1 && 32L * blocks <= R8W_XCAP) {
        matvec_q8_0_r8w(w, groups, blocks, xq, xd, xs, tokens, out, ldo);
        return;
    }
#endif
    for (int g = 0; g < groups; g++) {
        const uint8_t *p = (const uint8_t *)w + 272L * blocks * g;
        float *o = out + 8L * g;
        switch (tokens) {
        case 1: q8_0_r8_group(p, blocks, xq, xd, xs, o, ldo, 1); break;
        case 2: q8_0_r8_group(p, blocks, xq, xd, xs, o, ldo, 2); break;
        case 3: q8_0_r8_group(p, blocks, xq, xd, xs, o, ldo, 3); break;
        case 4: q8_0_r8_group(p, blocks, xq, xd, xs, o, ldo, 4); break;
        case 5: q8_0_r8_group(p, blocks, xq, xd, xs, o, ldo, 5); break;
        case 6: q8_0_r8_group(p, blocks, xq, xd, xs, o, ldo, 6); break;
        case 7: q8_0_r8_group(p, blocks, xq, xd, xs, o, ldo, 7); break;
        default: q8_0_r8_group(p, blocks, xq, xd, xs, o, ldo, 8); break;
        }
    }
}

#include "kernels_r8_k23.h"
// Q4_1, Q5_0, Q5_1, IQ4_NL, IQ4_XS.
#include "kernels_r8_legacy.h"
#include "kernels_r8_kquants.h"
#include "kernels_r8_half.h"

#if K_AVX512
// ---- Int8 matrix-matrix product for prompt processing (AVX-512 VNNI; see CKernels.c for
// the packed layout) ----

// The kernel for blocks of 4·groups elements over R tiles of 16 rows (R = 1, 2: the second
// tile's packing right after the first's) and T tokens at a time; inlined with constants so
// the loops unroll and the R·T int32 and R·T float accumulators stay in registers. Two tiles
// by 6 tokens load 2 weight vectors and 6 broadcasts per 12 vpdpbusd where one tile by 8
// loads 1 and 8 per 8: 1.3× the product on Zen 5 (bench/gemm_int8.sh), whose two 512-bit
// VNNI pipes the loads and the per-block float steps were starving. The activations are
// block-major (CKernels.h), so a group's T tokens are one pointer and constant offsets. With
// `fold` the bias is center·scale and goes into the int32 sums, which start at −center·Σq:
// one float step (convert, scale, fma with xd) per block and token instead of two.
static inline __attribute__((always_inline)) void gemm_int8_impl(
    const int groups, const int R, const int T, const int fold, const int center, const uint8_t *packed,
    const float *scales, const float *biases, int blocks, const int8_t *xq, const float *xd, const float *xds,
    const int32_t *xsums, int tokens, float *out, long ldo, int nrows) {
    const int size = 4 * groups;
    const long tileBytes = 16L * size * blocks, tileBlocks = 16L * blocks;
    __mmask16 rowMask[2];
    for (int r = 0; r < R; r++) {
        const int n = nrows - 16 * r > 16 ? 16 : nrows - 16 * r;
        rowMask[r] = (__mmask16)((1u << n) - 1);
    }
    for (int g = 0; g < tokens; g += T) {
        // The last group ends at the last token (tokens ≥ T), recomputing a few of the
        // previous group's outputs with the same operations and order: the same values.
        const int t0 = g + T > tokens ? tokens - T : g;
        __m512 af[2][8];  // R × T used (fixed sizes: arrays sized by parameters would be VLAs, in memory)
        for (int r = 0; r < R; r++)
            for (int i = 0; i < T; i++) af[r][i] = _mm512_setzero_ps();
        for (int b = 0; b < blocks; b++) {
            const long o = (long)b * tokens + t0;
            const int8_t *xb = xq + o * size;
            __m512i ai[2][8];
            for (int i = 0; i < T; i++) {
                const __m512i s0 = fold ? _mm512_set1_epi32(-center * xsums[o + i]) : _mm512_setzero_si512();
                for (int r = 0; r < R; r++) ai[r][i] = s0;
            }
            const uint8_t *pb = packed + 64L * groups * b;
            for (int m = 0; m < groups; m++) {
                __m512i w[2];
                for (int r = 0; r < R; r++) w[r] = _mm512_loadu_si512((const void *)(pb + r * tileBytes + 64 * m));
                for (int i = 0; i < T; i++) {
                    int32_t x4;
                    memcpy(&x4, xb + size * i + 4 * m, 4);
                    const __m512i xv = _mm512_set1_epi32(x4);
                    for (int r = 0; r < R; r++) ai[r][i] = _mm512_dpbusd_epi32(ai[r][i], w[r], xv);
                }
            }
            for (int r = 0; r < R; r++) {
                const __m512 sc = _mm512_loadu_ps(scales + r * tileBlocks + 16 * b);
                for (int i = 0; i < T; i++)
                    af[r][i] = _mm512_fmadd_ps(_mm512_mul_ps(sc, _mm512_cvtepi32_ps(ai[r][i])), _mm512_set1_ps(xd[o + i]), af[r][i]);
                if (!fold) {
                    const __m512 bi = _mm512_loadu_ps(biases + r * tileBlocks + 16 * b);
                    for (int i = 0; i < T; i++) af[r][i] = _mm512_fnmadd_ps(bi, _mm512_set1_ps(xds[o + i]), af[r][i]);
                }
            }
        }
        for (int i = 0; i < T; i++)
            for (int r = 0; r < R; r++) _mm512_mask_storeu_ps(out + (long)(t0 + i) * ldo + 16 * r, rowMask[r], af[r][i]);
    }
}

static void gemm_int8_avx512(int blockSize, int center, const uint8_t *packed, const float *scales, const float *biases,
                             int blocks, const int8_t *xq, const float *xd, const float *xds, const int32_t *xsums,
                             int tokens, float *out, long ldo, int nrows) {
#define GEMM_INT8(G, F) do { \
        if (nrows > 16 && tokens >= 6) gemm_int8_impl(G, 2, 6, F, center, packed, scales, biases, blocks, xq, xd, xds, xsums, tokens, out, ldo, nrows); \
        else if (nrows > 16) gemm_int8_impl(G, 2, 1, F, center, packed, scales, biases, blocks, xq, xd, xds, xsums, tokens, out, ldo, nrows); \
        else if (tokens >= 8) gemm_int8_impl(G, 1, 8, F, center, packed, scales, biases, blocks, xq, xd, xds, xsums, tokens, out, ldo, nrows); \
        else gemm_int8_impl(G, 1, 1, F, center, packed, scales, biases, blocks, xq, xd, xds, xsums, tokens, out, ldo, nrows); \
    } while (0)
    if (blockSize == 16) GEMM_INT8(4, 0);
    else if (center) GEMM_INT8(8, 1);
    else GEMM_INT8(8, 0);
#undef GEMM_INT8
}

// The K16 and K32 kernels' integer bias of a super-block for 8 tokens: per row lane,
// ms[i] = Σ_q pairs[q] · (token tk[i]'s activation sums 2q, 2q+1), one vpdpwssd per pair of
// sums; `pairs` holds `count` vectors of 16 rows' pairs, `xsums` the super-block's sums.
static inline __attribute__((always_inline)) void gemm_int8_pair_sums(__m512i ms[8], const int32_t *pairs,
                                                                       const int16_t *xsums, const int tk[8], long lds,
                                                                       const int count) {
    for (int i = 0; i < 8; i++) ms[i] = _mm512_setzero_si512();
    for (int q = 0; q < count; q++) {
        const __m512i bp = _mm512_loadu_si512((const void *)(pairs + 16 * q));
        for (int i = 0; i < 8; i++) {
            int32_t x2;
            memcpy(&x2, xsums + tk[i] * lds + 2 * q, 4);
            ms[i] = _mm512_dpwssd_epi32(ms[i], _mm512_set1_epi32(x2), bp);
        }
    }
}

// Q2_K, Q3_K and Q6_K (layout and sums in CKernels.h, `swiftllama_gemm_int8_k16`): per
// sub-block of 16 and token, four vpdpbusd give S_j in an int32 lane per row, and one
// vpdpwssd (S_j fits int16 for Q2_K and Q3_K, whose values are below 8; the scale lane's high
// half is zero) or vpmulld + vpaddd (Q6_K) adds sc_j·S_j; the float step is once per
// super-block. Eight tokens share each weight load, as in `gemm_int8_impl`.
static inline __attribute__((always_inline)) void gemm_int8_k16_impl(
    const int wide, const int offset, const uint8_t *packed, const int32_t *scales, const int32_t *pairs, const float *d, const float *dbias,
    int superblocks, const int8_t *xq, const float *xd, const int16_t *xsums, int tokens, float *out, long ldo, int nrows) {
    const long ldx = 256L * superblocks, lds = 16L * superblocks;
    const __mmask16 rowMask = (__mmask16)((1u << nrows) - 1);
    for (int t0 = 0; t0 < tokens; t0 += 8) {
        int tk[8];
        for (int i = 0; i < 8; i++) tk[i] = t0 + i < tokens ? t0 + i : tokens - 1;
        __m512 af[8];
        for (int i = 0; i < 8; i++) af[i] = _mm512_setzero_ps();
        for (int s = 0; s < superblocks; s++) {
            __m512i is[8];
            for (int i = 0; i < 8; i++) is[i] = _mm512_setzero_si512();
            const uint8_t *pb = packed + 4096L * s;
            for (int j = 0; j < 16; j++) {
                __m512i a[8];
                for (int i = 0; i < 8; i++)
                    a[i] = offset ? _mm512_set1_epi32(-offset * (int32_t)xsums[tk[i] * lds + 16L * s + j]) : _mm512_setzero_si512();
                for (int m = 0; m < 4; m++) {
                    const __m512i w = _mm512_loadu_si512((const void *)(pb + 256 * j + 64 * m));
                    for (int i = 0; i < 8; i++) {
                        int32_t x4;
                        memcpy(&x4, xq + tk[i] * ldx + 256L * s + 16 * j + 4 * m, 4);
                        a[i] = _mm512_dpbusd_epi32(a[i], w, _mm512_set1_epi32(x4));
                    }
                }
                const __m512i sc = _mm512_loadu_si512((const void *)(scales + 256L * s + 16 * j));
                for (int i = 0; i < 8; i++)
                    is[i] = wide ? _mm512_add_epi32(is[i], _mm512_mullo_epi32(a[i], sc)) : _mm512_dpwssd_epi32(is[i], a[i], sc);
            }
            const __m512 dv = _mm512_loadu_ps(d + 16L * s);
            if (offset) {
                for (int i = 0; i < 8; i++)
                    af[i] = _mm512_fmadd_ps(_mm512_mul_ps(dv, _mm512_cvtepi32_ps(is[i])),
                                            _mm512_set1_ps(xd[(long)tk[i] * superblocks + s]), af[i]);
                continue;
            }
            __m512i ms[8];
            gemm_int8_pair_sums(ms, pairs + 128L * s, xsums + 16L * s, tk, lds, 8);
            const __m512 bv = _mm512_loadu_ps(dbias + 16L * s);
            for (int i = 0; i < 8; i++) {
                const __m512 f = _mm512_fmsub_ps(dv, _mm512_cvtepi32_ps(is[i]), _mm512_mul_ps(bv, _mm512_cvtepi32_ps(ms[i])));
                af[i] = _mm512_fmadd_ps(f, _mm512_set1_ps(xd[(long)tk[i] * superblocks + s]), af[i]);
            }
        }
        for (int i = 0; i < 8 && t0 + i < tokens; i++) {
            _mm512_mask_storeu_ps(out + (long)(t0 + i) * ldo, rowMask, af[i]);
        }
    }
}

static void gemm_int8_k16_avx512(int type, const uint8_t *packed, const int32_t *scales, const int32_t *pairs,
                                 const float *d, const float *dbias, int superblocks,
                                 const int8_t *xq, const float *xd, const int16_t *xsums, int tokens,
                                 float *out, long ldo, int nrows) {
    // Q6_K's bias is 32·sc_j (dbias = d): each sub-block's int32 sum starts at −32·Σq, so it
    // needs no bias pairs (8% faster in bench/gemm_int8.sh). Q3_K (bias 4·sc_j) would allow the
    // same (7%), but its fixture's 100-token logits (KTypesModelTests) sit near their bar and
    // move across it under that rounding-only change (max error 0.232 → 0.259, bar 0.258):
    // Q3_K keeps the bias pairs.
    if (type == 14) {
        gemm_int8_k16_impl(1, 32, packed, scales, pairs, d, dbias, superblocks, xq, xd, xsums, tokens, out, ldo, nrows);
    } else {
        gemm_int8_k16_impl(0, 0, packed, scales, pairs, d, dbias, superblocks, xq, xd, xsums, tokens, out, ldo, nrows);
    }
}

// Q4_K, Q5_K and IQ4_XS ("K32": layout and sums in CKernels.h, `swiftllama_gemm_int8_k32`):
// the per-32 tile of `gemm_int8_impl` with activations quantized per 256, so each sub-block
// of 32 costs one float step (convert, one fma with the row's d·sc) into a per-super-block
// sum, and xd multiplies once per 256. The bias needs no float work per sub-block: IQ4_XS's
// (128·scale) starts the int32 sum at −128·Σq; Q4_K/Q5_K's mins m_j go through one vpdpwssd
// per two sub-blocks on the activations' sums of 32 and one fnmadd with dmin per super-block.
static inline __attribute__((always_inline)) void gemm_int8_k32_impl(
    const int mins, const uint8_t *packed, const float *scales, const int32_t *pairs, const float *dmin, int superblocks,
    const int8_t *xq, const float *xd, const int16_t *xsums, int tokens, float *out, long ldo, int nrows) {
    const long ldx = 256L * superblocks, lds = 8L * superblocks;
    const __mmask16 rowMask = (__mmask16)((1u << nrows) - 1);
    for (int t0 = 0; t0 < tokens; t0 += 8) {
        int tk[8];
        for (int i = 0; i < 8; i++) tk[i] = t0 + i < tokens ? t0 + i : tokens - 1;
        __m512 af[8];
        for (int i = 0; i < 8; i++) af[i] = _mm512_setzero_ps();
        for (int s = 0; s < superblocks; s++) {
            __m512 fs[8];
            for (int i = 0; i < 8; i++) fs[i] = _mm512_setzero_ps();
            for (int j = 0; j < 8; j++) {
                const long b = 8L * s + j;
                __m512i ai[8];
                for (int i = 0; i < 8; i++)
                    ai[i] = mins ? _mm512_setzero_si512() : _mm512_set1_epi32(-128 * (int32_t)xsums[tk[i] * lds + b]);
                const uint8_t *pb = packed + 512L * b;
                for (int m = 0; m < 8; m++) {
                    const __m512i w = _mm512_loadu_si512((const void *)(pb + 64 * m));
                    for (int i = 0; i < 8; i++) {
                        int32_t x4;
                        memcpy(&x4, xq + tk[i] * ldx + 32 * b + 4 * m, 4);
                        ai[i] = _mm512_dpbusd_epi32(ai[i], w, _mm512_set1_epi32(x4));
                    }
                }
                const __m512 sc = _mm512_loadu_ps(scales + 16 * b);
                for (int i = 0; i < 8; i++) fs[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai[i]), sc, fs[i]);
            }
            if (mins) {
                __m512i ms[8];
                gemm_int8_pair_sums(ms, pairs + 64L * s, xsums + 8L * s, tk, lds, 4);
                const __m512 dm = _mm512_loadu_ps(dmin + 16L * s);
                for (int i = 0; i < 8; i++) fs[i] = _mm512_fnmadd_ps(dm, _mm512_cvtepi32_ps(ms[i]), fs[i]);
            }
            for (int i = 0; i < 8; i++) af[i] = _mm512_fmadd_ps(fs[i], _mm512_set1_ps(xd[(long)tk[i] * superblocks + s]), af[i]);
        }
        for (int i = 0; i < 8 && t0 + i < tokens; i++) {
            _mm512_mask_storeu_ps(out + (long)(t0 + i) * ldo, rowMask, af[i]);
        }
    }
}

// The K32 kernel over two tiles of 16 rows (the second tile's packing right after the
// first's: packed + 512·8·superblocks, scales + 128·superblocks, pairs + 64·superblocks, dmin
// + 16·superblocks) and 4 consecutive tokens: 2 weight loads and 4 broadcasts per 8
// vpdpbusd (one tile by 8 tokens: 1 and 8 per 8), with its three sets of 8 accumulators
// (int32 per sub-block, float per super-block, float total) in registers. Same operations
// per output in the same order as `gemm_int8_k32_impl`.
static inline __attribute__((always_inline)) void gemm_int8_k32_pair(
    const int mins, const uint8_t *packed, const float *scales, const int32_t *pairs, const float *dmin, int superblocks,
    const int8_t *xq, const float *xd, const int16_t *xsums, int tokens, float *out, long ldo, int nrows) {
    enum { T = 4 };
    const long ldx = 256L * superblocks, lds = 8L * superblocks, blocks = 8L * superblocks;
    const long tileBytes = 512L * blocks, tileBlocks = 16L * blocks, tilePairs = 64L * superblocks, tileD = 16L * superblocks;
    const __mmask16 mask1 = (__mmask16)((1u << (nrows - 16)) - 1);
    for (int g = 0; g < tokens; g += T) {
        // The last group ends at the last token (tokens ≥ T): overlapping outputs are
        // recomputed with the same operations, so they get the same values.
        const int t0 = g + T > tokens ? tokens - T : g;
        const int8_t *x0 = xq + t0 * ldx;
        const int16_t *s0 = xsums + t0 * lds;
        __m512 af[2][T];
        for (int r = 0; r < 2; r++)
            for (int i = 0; i < T; i++) af[r][i] = _mm512_setzero_ps();
        for (int s = 0; s < superblocks; s++) {
            __m512 fs[2][T];
            for (int r = 0; r < 2; r++)
                for (int i = 0; i < T; i++) fs[r][i] = _mm512_setzero_ps();
            for (int j = 0; j < 8; j++) {
                const long b = 8L * s + j;
                __m512i ai[2][T];
                for (int i = 0; i < T; i++) {
                    const __m512i z = mins ? _mm512_setzero_si512() : _mm512_set1_epi32(-128 * (int32_t)s0[i * lds + b]);
                    ai[0][i] = z;
                    ai[1][i] = z;
                }
                const uint8_t *pb = packed + 512L * b;
                for (int m = 0; m < 8; m++) {
                    const __m512i w0 = _mm512_loadu_si512((const void *)(pb + 64 * m));
                    const __m512i w1 = _mm512_loadu_si512((const void *)(pb + tileBytes + 64 * m));
                    for (int i = 0; i < T; i++) {
                        int32_t x4;
                        memcpy(&x4, x0 + i * ldx + 32 * b + 4 * m, 4);
                        const __m512i xv = _mm512_set1_epi32(x4);
                        ai[0][i] = _mm512_dpbusd_epi32(ai[0][i], w0, xv);
                        ai[1][i] = _mm512_dpbusd_epi32(ai[1][i], w1, xv);
                    }
                }
                for (int r = 0; r < 2; r++) {
                    const __m512 sc = _mm512_loadu_ps(scales + r * tileBlocks + 16 * b);
                    for (int i = 0; i < T; i++) fs[r][i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ai[r][i]), sc, fs[r][i]);
                }
            }
            if (mins) {
                for (int r = 0; r < 2; r++) {
                    __m512i ms[T];
                    for (int i = 0; i < T; i++) ms[i] = _mm512_setzero_si512();
                    for (int q = 0; q < 4; q++) {
                        const __m512i bp = _mm512_loadu_si512((const void *)(pairs + r * tilePairs + 64L * s + 16 * q));
                        for (int i = 0; i < T; i++) {
                            int32_t x2;
                            memcpy(&x2, s0 + i * lds + 8L * s + 2 * q, 4);
                            ms[i] = _mm512_dpwssd_epi32(ms[i], _mm512_set1_epi32(x2), bp);
                        }
                    }
                    const __m512 dm = _mm512_loadu_ps(dmin + r * tileD + 16L * s);
                    for (int i = 0; i < T; i++) fs[r][i] = _mm512_fnmadd_ps(dm, _mm512_cvtepi32_ps(ms[i]), fs[r][i]);
                }
            }
            for (int i = 0; i < T; i++) {
                const __m512 d = _mm512_set1_ps(xd[(long)(t0 + i) * superblocks + s]);
                for (int r = 0; r < 2; r++) af[r][i] = _mm512_fmadd_ps(fs[r][i], d, af[r][i]);
            }
        }
        for (int i = 0; i < T; i++) {
            _mm512_storeu_ps(out + (long)(t0 + i) * ldo, af[0][i]);
            _mm512_mask_storeu_ps(out + (long)(t0 + i) * ldo + 16, mask1, af[1][i]);
        }
    }
}

static void gemm_int8_k32_avx512(int type, const uint8_t *packed, const float *scales, const int32_t *pairs,
                                 const float *dmin, int superblocks, const int8_t *xq, const float *xd,
                                 const int16_t *xsums, int tokens, float *out, long ldo, int nrows) {
    const int pair = nrows > 16 && tokens >= 4;
    if (type == 23) {
        if (pair) gemm_int8_k32_pair(0, packed, scales, pairs, dmin, superblocks, xq, xd, xsums, tokens, out, ldo, nrows);
        else gemm_int8_k32_impl(0, packed, scales, pairs, dmin, superblocks, xq, xd, xsums, tokens, out, ldo, nrows);
    } else {
        if (pair) gemm_int8_k32_pair(1, packed, scales, pairs, dmin, superblocks, xq, xd, xsums, tokens, out, ldo, nrows);
        else gemm_int8_k32_impl(1, packed, scales, pairs, dmin, superblocks, xq, xd, xsums, tokens, out, ldo, nrows);
    }
}
#endif

#if !K_AVX512
// ---- Int8 matrix-matrix product for prompt processing, AVX2 (vpmaddubsw + vpmaddwd) ----
// The AVX2 int8 kernels' inner product: ai[i] += the 8 rows' u8·s8 products over `groups`
// groups of 4 columns (64 bytes apart from `pb`; the half's 8 rows are the first 32 bytes)
// with token i's activations at xp[i] (4 per group). `run` groups' vpmaddubsw pair sums are
// added in int16, then widened once (vpmaddwd): exact while run·2·max u·127 < 2¹⁵. With
// `sign`, u is taken as s = u − 128 with its sign moved onto the activation (|s|·sign(q, s)).
static inline __attribute__((always_inline)) void avx2_u8s8_sums(const int T, const int groups, const int run,
                                                                 const int sign, const uint8_t *pb,
                                                                 const int8_t *const xp[8], __m256i ai[8]) {
    const __m256i ones = _mm256_set1_epi16(1), flip = _mm256_set1_epi8((char)0x80);
    for (int m0 = 0; m0 < groups; m0 += run) {
        __m256i s16[8];
        for (int m = m0; m < m0 + run; m++) {
            __m256i w = _mm256_loadu_si256((const __m256i *)(pb + 64 * m)), aw = w;
            if (sign) {
                w = _mm256_xor_si256(w, flip);
                aw = _mm256_abs_epi8(w);
            }
            for (int i = 0; i < T; i++) {
                int32_t x4;
                memcpy(&x4, xp[i] + 4 * m, 4);
                __m256i xv = _mm256_set1_epi32(x4);
                if (sign) xv = _mm256_sign_epi8(xv, w);
                const __m256i p = _mm256_maddubs_epi16(aw, xv);
                s16[i] = m == m0 ? p : _mm256_add_epi16(s16[i], p);
            }
        }
        for (int i = 0; i < T; i++) ai[i] = _mm256_add_epi32(ai[i], _mm256_madd_epi16(s16[i], ones));
    }
}

// The K16 and K32 kernels' integer bias of a super-block on AVX2 (as `gemm_int8_pair_sums`):
// ms[i] = Σ_q pairs[16·q…] · (token i's activation sums 2q, 2q+1 at xs[i]), one vpmaddwd each.
static inline __attribute__((always_inline)) void avx2_pair_sums(const int T, const int count, const int32_t *pairs,
                                                                 const int16_t *const xs[4], __m256i ms[4]) {
    for (int i = 0; i < T; i++) ms[i] = _mm256_setzero_si256();
    for (int q = 0; q < count; q++) {
        const __m256i bp = _mm256_loadu_si256((const __m256i *)(pairs + 16 * q));
        for (int i = 0; i < T; i++) {
            int32_t x2;
            memcpy(&x2, xs[i] + 2 * q, 4);
            ms[i] = _mm256_add_epi32(ms[i], _mm256_madd_epi16(_mm256_set1_epi32(x2), bp));
        }
    }
}

// The packed tiles and block-major activations of the AVX-512 kernel (CKernels.h). Each tile
// of 16 rows is taken as two halves of 8 rows (the first / second 32 bytes of every 64-byte
// group of 4 columns: one 256-bit vector), T tokens at a time, T int32 and T float
// accumulators in the 16 registers. vpmaddubsw adds two u8·s8 products in int16 with
// saturation: the unsigned values of Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K (≤ 31) keep each pair
// within 2·31·127; the centre-128 types (Q8_0, IQ4_NL, IQ4_XS: u up to 255) take s = u − 128
// with the sign moved onto the activation (|s|·sign(q, s): each pair within 2·128·127), whose
// int32 sums are exactly the fold's −128·Σq + Σu·q (8 tokens at a time there, the float
// accumulators living in memory between blocks: 1.17× 4 tokens for Q8_0; the others keep 4). Where u ≤ 15 (Q4_0) the 8 groups of a
// block are added in int16 before one vpmaddwd (8·2·15·127 < 2¹⁵), where u ≤ 31 (Q5_0, the
// unsigned types without a centre: Q4_1, Q5_1, Q4_K, Q5_K) 4 at a time, Q6_K's blocks of 16
// (u ≤ 63) 2, Q2_K's and Q3_K's (u ≤ 7) 4: exact, and fewer multiplies. The same int32 sums and float steps as the AVX-512 kernel, so the same bits.
static inline __attribute__((always_inline)) void gemm_int8_avx2_half(
    const int groups, const int T, const int run, const int fold, const int sign, const int center, const uint8_t *packed,
    const float *scales, const float *biases, int blocks, const int8_t *xq, const float *xd, const float *xds,
    const int32_t *xsums, int tokens, float *out, long ldo, int n) {
    const int size = 4 * groups;
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i rowMask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lanes);
    for (int g = 0; g < tokens; g += T) {
        // As the AVX-512 kernel: the last group ends at the last token (tokens ≥ T).
        const int t0 = g + T > tokens ? tokens - T : g;
        __m256 af[8];
        for (int i = 0; i < T; i++) af[i] = _mm256_setzero_ps();
        for (int b = 0; b < blocks; b++) {
            const long o = (long)b * tokens + t0;
            const int8_t *xb = xq + o * size;
            __m256i ai[8];
            for (int i = 0; i < T; i++) ai[i] = fold && !sign ? _mm256_set1_epi32(-center * xsums[o + i]) : _mm256_setzero_si256();
            const int8_t *xp[8];
            for (int i = 0; i < T; i++) xp[i] = xb + size * i;
            avx2_u8s8_sums(T, groups, run, sign, packed + 64L * groups * b, xp, ai);
            const __m256 sc = _mm256_loadu_ps(scales + 16 * b);
            for (int i = 0; i < T; i++)
                af[i] = _mm256_fmadd_ps(_mm256_mul_ps(sc, _mm256_cvtepi32_ps(ai[i])), _mm256_set1_ps(xd[o + i]), af[i]);
            if (!fold) {
                const __m256 bi = _mm256_loadu_ps(biases + 16 * b);
                for (int i = 0; i < T; i++) af[i] = _mm256_fnmadd_ps(bi, _mm256_set1_ps(xds[o + i]), af[i]);
            }
        }
        for (int i = 0; i < T; i++) _mm256_maskstore_ps(out + (long)(t0 + i) * ldo, rowMask, af[i]);
    }
}

// The fp32 GEMM's micro-kernel for 16 vector registers (contract in CKernelSet.h): the
// 32-row panel as two halves of 16 rows, each against T ≤ 6 tokens in 12 accumulators + 2
// weight vectors + 1 broadcast (Swift's 6 × 32 tile of 16-float vectors needs 24 256-bit
// registers here and spilled). Per sum the same fused multiply-adds in k order as Swift's.
static inline __attribute__((always_inline)) void gemm_f32_half(const int T, const float *panel, const float *x, long ldx,
                                                                float *out, long ldo, int kc, int rows, int accumulate) {
    __m256 c0[6], c1[6];
    for (int i = 0; i < T; i++) c0[i] = c1[i] = _mm256_setzero_ps();
    for (int k = 0; k < kc; k++) {
        const __m256 w0 = _mm256_loadu_ps(panel + 32L * k), w1 = _mm256_loadu_ps(panel + 32L * k + 8);
        for (int i = 0; i < T; i++) {
            const __m256 a = _mm256_broadcast_ss(x + i * ldx + k);
            c0[i] = _mm256_fmadd_ps(a, w0, c0[i]);
            c1[i] = _mm256_fmadd_ps(a, w1, c1[i]);
        }
    }
    for (int i = 0; i < T; i++) {
        float *o = out + i * ldo;
        if (rows >= 16) {
            if (accumulate) {
                c0[i] = _mm256_add_ps(_mm256_loadu_ps(o), c0[i]);
                c1[i] = _mm256_add_ps(_mm256_loadu_ps(o + 8), c1[i]);
            }
            _mm256_storeu_ps(o, c0[i]);
            _mm256_storeu_ps(o + 8, c1[i]);
        } else {
            float v[16];
            _mm256_storeu_ps(v, c0[i]);
            _mm256_storeu_ps(v + 8, c1[i]);
            for (int j = 0; j < rows; j++) o[j] = accumulate ? o[j] + v[j] : v[j];
        }
    }
}

static void gemm_f32_tile(const float *panel, const float *x, long ldx, float *out, long ldo, int kc, int tokens, int rows,
                          int accumulate) {
    for (int h = 0; h < 2 && rows - 16 * h > 0; h++) {
        const float *p = panel + 16 * h;
        float *o = out + 16 * h;
        const int n = rows - 16 * h;
        switch (tokens) {
        case 1: gemm_f32_half(1, p, x, ldx, o, ldo, kc, n, accumulate); break;
        case 2: gemm_f32_half(2, p, x, ldx, o, ldo, kc, n, accumulate); break;
        case 3: gemm_f32_half(3, p, x, ldx, o, ldo, kc, n, accumulate); break;
        case 4: gemm_f32_half(4, p, x, ldx, o, ldo, kc, n, accumulate); break;
        case 5: gemm_f32_half(5, p, x, ldx, o, ldo, kc, n, accumulate); break;
        default: gemm_f32_half(6, p, x, ldx, o, ldo, kc, n, accumulate); break;
        }
    }
}

// Q2_K, Q3_K and Q6_K on AVX2 (the K16 layout and sums of `gemm_int8_k16_impl`): per half
// of 8 rows and sub-block of 16, the four groups' vpmaddubsw pair sums added in int16 (Q6_K,
// u ≤ 63: two at a time; Q2_K and Q3_K, u ≤ 7: all four), widened by one vpmaddwd into S_j,
// then sc_j·S_j by vpmaddwd (S_j fits int16: the scale lane's high half is zero) or vpmulld
// (Q6_K); the bias pairs by vpmaddwd; one float step per super-block. The same int32 sums
// and float steps as the AVX-512 kernel: the same bits. 4 tokens at a time.
static inline __attribute__((always_inline)) void gemm_int8_k16_avx2_half(
    const int wide, const int offset, const int run, const uint8_t *packed, const int32_t *scales, const int32_t *pairs,
    const float *d, const float *dbias, int superblocks, const int8_t *xq, const float *xd, const int16_t *xsums,
    int tokens, float *out, long ldo, int nrows) {
    const int T = 4;
    const long ldx = 256L * superblocks, lds = 16L * superblocks;
    const __m256i rowMask = _mm256_cmpgt_epi32(_mm256_set1_epi32(nrows), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int t0 = 0; t0 < tokens; t0 += T) {
        int tk[4];
        for (int i = 0; i < T; i++) tk[i] = t0 + i < tokens ? t0 + i : tokens - 1;
        __m256 af[4];
        for (int i = 0; i < T; i++) af[i] = _mm256_setzero_ps();
        for (int s = 0; s < superblocks; s++) {
            __m256i is[4];
            for (int i = 0; i < T; i++) is[i] = _mm256_setzero_si256();
            const uint8_t *pb = packed + 4096L * s;
            for (int j = 0; j < 16; j++) {
                __m256i a[4];
                for (int i = 0; i < T; i++)
                    a[i] = offset ? _mm256_set1_epi32(-offset * (int32_t)xsums[tk[i] * lds + 16L * s + j]) : _mm256_setzero_si256();
                const int8_t *xp[8];
                for (int i = 0; i < T; i++) xp[i] = xq + tk[i] * ldx + 256L * s + 16 * j;
                avx2_u8s8_sums(T, 4, run, 0, pb + 256 * j, xp, a);
                const __m256i sc = _mm256_loadu_si256((const __m256i *)(scales + 256L * s + 16 * j));
                for (int i = 0; i < T; i++)
                    is[i] = _mm256_add_epi32(is[i], wide ? _mm256_mullo_epi32(a[i], sc) : _mm256_madd_epi16(a[i], sc));
            }
            const __m256 dv = _mm256_loadu_ps(d + 16L * s);
            if (offset) {
                for (int i = 0; i < T; i++)
                    af[i] = _mm256_fmadd_ps(_mm256_mul_ps(dv, _mm256_cvtepi32_ps(is[i])),
                                            _mm256_set1_ps(xd[(long)tk[i] * superblocks + s]), af[i]);
                continue;
            }
            __m256i ms[4];
            const int16_t *xs[4];
            for (int i = 0; i < T; i++) xs[i] = xsums + tk[i] * lds + 16L * s;
            avx2_pair_sums(T, 8, pairs + 128L * s, xs, ms);
            const __m256 bv = _mm256_loadu_ps(dbias + 16L * s);
            for (int i = 0; i < T; i++) {
                const __m256 f = _mm256_fmsub_ps(dv, _mm256_cvtepi32_ps(is[i]), _mm256_mul_ps(bv, _mm256_cvtepi32_ps(ms[i])));
                af[i] = _mm256_fmadd_ps(f, _mm256_set1_ps(xd[(long)tk[i] * superblocks + s]), af[i]);
            }
        }
        for (int i = 0; i < T && t0 + i < tokens; i++) _mm256_maskstore_ps(out + (long)(t0 + i) * ldo, rowMask, af[i]);
    }
}

static void gemm_int8_k16_avx2(int type, const uint8_t *packed, const int32_t *scales, const int32_t *pairs,
                               const float *d, const float *dbias, int superblocks,
                               const int8_t *xq, const float *xd, const int16_t *xsums, int tokens,
                               float *out, long ldo, int nrows) {
    // The tile's two halves: bytes 32h… of each 64-byte group, lanes 8h… of the per-row arrays.
    for (int h = 0; h < 2 && nrows - 8 * h > 0; h++) {
        const int n = nrows - 8 * h < 8 ? nrows - 8 * h : 8;
        const uint8_t *p = packed + 32 * h;
        const int32_t *sc = scales + 8 * h, *pr = pairs + 8 * h;
        const float *dd = d + 8 * h, *db = dbias + 8 * h;
        if (type == 14) gemm_int8_k16_avx2_half(1, 32, 2, p, sc, pr, dd, db, superblocks, xq, xd, xsums, tokens, out + 8 * h, ldo, n);
        else gemm_int8_k16_avx2_half(0, 0, 4, p, sc, pr, dd, db, superblocks, xq, xd, xsums, tokens, out + 8 * h, ldo, n);
    }
}

// Q4_K, Q5_K and IQ4_XS on AVX2 (the K32 layout and sums of `gemm_int8_k32_impl`): per half
// of 8 rows and sub-block of 32, the 8 groups' vpmaddubsw pair sums added in int16 (Q4_K,
// u ≤ 15: all 8; Q5_K, u ≤ 31: 4 at a time) or, for IQ4_XS (u = s + 128), |s|·sign(q, s)
// pairs widened one by one, whose sums are the fold's −128·Σq + Σu·q; then the VNNI kernel's
// float steps in its order: the same bits. 4 tokens at a time.
static inline __attribute__((always_inline)) void gemm_int8_k32_avx2_half(
    const int mins, const int sign, const int run, const uint8_t *packed, const float *scales, const int32_t *pairs,
    const float *dmin, int superblocks, const int8_t *xq, const float *xd, const int16_t *xsums, int tokens,
    float *out, long ldo, int nrows) {
    const int T = 4;
    const long ldx = 256L * superblocks, lds = 8L * superblocks;
    const __m256i rowMask = _mm256_cmpgt_epi32(_mm256_set1_epi32(nrows), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int t0 = 0; t0 < tokens; t0 += T) {
        int tk[4];
        for (int i = 0; i < T; i++) tk[i] = t0 + i < tokens ? t0 + i : tokens - 1;
        __m256 af[4];
        for (int i = 0; i < T; i++) af[i] = _mm256_setzero_ps();
        for (int s = 0; s < superblocks; s++) {
            __m256 fs[4];
            for (int i = 0; i < T; i++) fs[i] = _mm256_setzero_ps();
            for (int j = 0; j < 8; j++) {
                const long b = 8L * s + j;
                __m256i ai[4];
                for (int i = 0; i < T; i++) ai[i] = _mm256_setzero_si256();
                const int8_t *xp[8];
                for (int i = 0; i < T; i++) xp[i] = xq + tk[i] * ldx + 32 * b;
                avx2_u8s8_sums(T, 8, run, sign, packed + 512L * b, xp, ai);
                const __m256 sc = _mm256_loadu_ps(scales + 16 * b);
                for (int i = 0; i < T; i++) fs[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ai[i]), sc, fs[i]);
            }
            if (mins) {
                __m256i ms[4];
                const int16_t *xs[4];
                for (int i = 0; i < T; i++) xs[i] = xsums + tk[i] * lds + 8L * s;
                avx2_pair_sums(T, 4, pairs + 64L * s, xs, ms);
                const __m256 dm = _mm256_loadu_ps(dmin + 16L * s);
                for (int i = 0; i < T; i++) fs[i] = _mm256_fnmadd_ps(dm, _mm256_cvtepi32_ps(ms[i]), fs[i]);
            }
            for (int i = 0; i < T; i++) af[i] = _mm256_fmadd_ps(fs[i], _mm256_set1_ps(xd[(long)tk[i] * superblocks + s]), af[i]);
        }
        for (int i = 0; i < T && t0 + i < tokens; i++) _mm256_maskstore_ps(out + (long)(t0 + i) * ldo, rowMask, af[i]);
    }
}

static void gemm_int8_k32_avx2(int type, const uint8_t *packed, const float *scales, const int32_t *pairs,
                               const float *dmin, int superblocks, const int8_t *xq, const float *xd,
                               const int16_t *xsums, int tokens, float *out, long ldo, int nrows) {
    // Up to two tiles of 16 rows (the second right after the first), each as two 8-row halves.
    const long tileBytes = 4096L * superblocks, tileBlocks = 128L * superblocks, tilePairs = 64L * superblocks,
               tileD = 16L * superblocks;
    for (int j0 = 0; j0 < nrows; j0 += 8) {
        const long tile = j0 / 16, h = (j0 / 8) % 2;
        const int n = nrows - j0 < 8 ? nrows - j0 : 8;
        const uint8_t *p = packed + tile * tileBytes + 32 * h;
        const float *sc = scales + tile * tileBlocks + 8 * h, *dm = dmin + tile * tileD + 8 * h;
        const int32_t *pr = pairs + tile * tilePairs + 8 * h;
        if (type == 23) gemm_int8_k32_avx2_half(0, 1, 1, p, sc, pr, dm, superblocks, xq, xd, xsums, tokens, out + j0, ldo, n);
        else if (type == 12) gemm_int8_k32_avx2_half(1, 0, 8, p, sc, pr, dm, superblocks, xq, xd, xsums, tokens, out + j0, ldo, n);
        else gemm_int8_k32_avx2_half(1, 0, 4, p, sc, pr, dm, superblocks, xq, xd, xsums, tokens, out + j0, ldo, n);
    }
}

static void gemm_int8_avx2(int blockSize, int center, const uint8_t *packed, const float *scales, const float *biases,
                           int blocks, const int8_t *xq, const float *xd, const float *xds, const int32_t *xsums,
                           int tokens, float *out, long ldo, int nrows) {
    const long tileBytes = 16L * blockSize * blocks, tileBlocks = 16L * blocks;
    const int sign = center == 128;
    for (int j0 = 0; j0 < nrows; j0 += 8) {
        const long tile = j0 / 16, h = (j0 / 8) % 2;
        const int n = nrows - j0 < 8 ? nrows - j0 : 8;
        const uint8_t *p = packed + tile * tileBytes + 32 * h;
        const float *sc = scales + tile * tileBlocks + 8 * h, *bi = biases ? biases + tile * tileBlocks + 8 * h : NULL;
        float *o = out + j0;
#define GEMM_INT8_AVX2(G, U, F, S, T) \
        gemm_int8_avx2_half(G, T, U, F, S, center, p, sc, bi, blocks, xq, xd, xds, xsums, tokens, o, ldo, n)
#define GEMM_INT8_AVX2_T(G, U, F, S) do { \
            if (S && tokens >= 8) GEMM_INT8_AVX2(G, U, F, S, 8); \
            else if (tokens >= 4) GEMM_INT8_AVX2(G, U, F, S, 4); else GEMM_INT8_AVX2(G, U, F, S, 1); } while (0)
        if (blockSize == 16 && center == 32) GEMM_INT8_AVX2_T(4, 2, 0, 0);  // Q6_K: u ≤ 63, 2 groups
        else if (blockSize == 16) GEMM_INT8_AVX2_T(4, 4, 0, 0);            // Q2_K, Q3_K: u ≤ 7
        else if (sign) GEMM_INT8_AVX2_T(8, 1, 1, 1);
        else if (center == 8) GEMM_INT8_AVX2_T(8, 8, 1, 0);
        else if (center) GEMM_INT8_AVX2_T(8, 4, 1, 0);
        else GEMM_INT8_AVX2_T(8, 4, 0, 0);
#undef GEMM_INT8_AVX2_T
#undef GEMM_INT8_AVX2
    }
}
#endif


const swiftllama_kernel_set K_SET = {
    .name = K_NAME,
    .description = K_DESCRIPTION,
    .rowsPerCall = K_WIDE ? 2 : 1,
    .dot_q8_0 = swiftllama_dot_q8_0, .dot_q4_0 = swiftllama_dot_q4_0, .dot_q4_1 = swiftllama_dot_q4_1,
    .dot_q5_0 = swiftllama_dot_q5_0, .dot_q5_1 = swiftllama_dot_q5_1, .dot_iq4_nl = swiftllama_dot_iq4_nl,
    .dot2_q8_0 = swiftllama_dot2_q8_0, .dot2_q4_0 = swiftllama_dot2_q4_0, .dot2_q4_1 = swiftllama_dot2_q4_1,
    .dot2_q5_0 = swiftllama_dot2_q5_0, .dot2_q5_1 = swiftllama_dot2_q5_1, .dot2_iq4_nl = swiftllama_dot2_iq4_nl,
    .dot_q2_K = swiftllama_dot_q2_K, .dot_q3_K = swiftllama_dot_q3_K, .dot_q4_K = swiftllama_dot_q4_K,
    .dot_q5_K = swiftllama_dot_q5_K, .dot_q6_K = swiftllama_dot_q6_K, .dot_iq4_xs = swiftllama_dot_iq4_xs,
    .quantize_q8 = swiftllama_quantize_q8,
    .quantize_q8_K = swiftllama_quantize_q8_K,
    .matvec_f16 = matvec_f16,
    .matvec_bf16 = matvec_bf16,
    .matvec_q4_0_r8 = matvec_q4_0_r8,
    .matvec_q8_0_r8 = matvec_q8_0_r8,
    .matvec_q2_K_r8 = matvec_q2_K_r8, .matvec_q3_K_r8 = matvec_q3_K_r8,
    .matvec_q4_1_r8 = matvec_q4_1_r8, .matvec_q5_0_r8 = matvec_q5_0_r8, .matvec_q5_1_r8 = matvec_q5_1_r8,
    .matvec_iq4_nl_r8 = matvec_iq4_nl_r8, .matvec_iq4_xs_r8 = matvec_iq4_xs_r8,
    .matvec_q4_K_r8 = matvec_q4_K_r8, .matvec_q5_K_r8 = matvec_q5_K_r8, .matvec_q6_K_r8 = matvec_q6_K_r8,
#if K_AVX512
    .gemm_int8 = gemm_int8_avx512,
    .gemm_int8_k16 = gemm_int8_k16_avx512,
    .gemm_int8_k32 = gemm_int8_k32_avx512,
    .gemm_f32_tile = 0,
#else
    .gemm_int8 = gemm_int8_avx2,
    .gemm_int8_k16 = gemm_int8_k16_avx2,
    .gemm_int8_k32 = gemm_int8_k32_avx2,
    .gemm_f32_tile = gemm_f32_tile,
#endif
    .matvec_f16_r8 = matvec_f16_r8, .matvec_bf16_r8 = matvec_bf16_r8,
    .half_r8_panels = half_r8_panels,
};
