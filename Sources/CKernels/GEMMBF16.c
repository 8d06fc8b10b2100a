// BF16-product matrix-matrix kernel for prompts over F16/BF16 weights (see GEMMBF16.h for
// the packed layout). Compiled with a target attribute (AVX-512 BF16) and called only when
// CPUID reports the instructions (swiftllama_bf16_gemm_width in CKernels.c); elsewhere the
// plain loops at the end compute the same sums.
//
// Micro-kernel: a tile of 32 rows against NT tokens, 2·NT (512-bit) or 4·NT (256-bit) fp32
// accumulators kept in registers over a block of column pairs; per pair, the tile's weight
// vectors are loaded once and each token's pair is broadcast from memory (embedded
// broadcast) into one vdpbf16ps per weight vector. A block of `BF16_KC` pairs (128 KiB of
// weights, in L2) is passed over by every token group of the batch; partial sums are added
// to `out` between blocks.
#include "GEMMBF16.h"
#include "kernel_common.h"
#include <string.h>
#include "bf16_common.h"

static inline float bf16_to_float(uint16_t h) {
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

// ---- Plain loops (any CPU) ----

static void pack_plain(int type, const void *rows, long rowBytes, int nrows, int cols, uint32_t *packed) {
    const int pairs = (cols + 1) / 2;
    for (int j = 0; j < SWIFTLLAMA_BF16_TILE_ROWS; j++) {
        const uint8_t *row = (const uint8_t *)rows + (long)j * rowBytes;
        for (int p = 0; p < pairs; p++) {
            uint16_t h[2] = {0, 0};
            if (j < nrows) {
                for (int k = 0; k < 2 && 2 * p + k < cols; k++) {
                    if (type == 30) {
                        memcpy(&h[k], row + 2 * (2 * p + k), 2);
                    } else {
                        h[k] = swiftllama_float_to_bf16(half_bits_to_float(row + 2 * (2 * p + k)));
                    }
                }
            }
            packed[(long)SWIFTLLAMA_BF16_TILE_ROWS * p + j] = (uint32_t)h[0] | ((uint32_t)h[1] << 16);
        }
    }
}

static void pack_r8_plain(int type, const void *w, int cols, long group0, int groups, uint32_t *packed) {
    const long pairs = cols / 2;
    for (int g = 0; g < SWIFTLLAMA_BF16_TILE_ROWS / 8; g++) {
        const uint8_t *src = (const uint8_t *)w + 32 * (group0 + g) * pairs;
        for (long p = 0; p < pairs; p++)
            for (int r = 0; r < 8; r++) {
                uint32_t word = 0;
                if (g < groups) {
                    memcpy(&word, src + 32 * p + 4 * r, 4);
                    if (type != 30)
                        word = (uint32_t)swiftllama_float_to_bf16(half_bits_to_float(src + 32 * p + 4 * r)) |
                               ((uint32_t)swiftllama_float_to_bf16(half_bits_to_float(src + 32 * p + 4 * r + 2)) << 16);
                }
                packed[(long)SWIFTLLAMA_BF16_TILE_ROWS * p + 8 * g + r] = word;
            }
    }
}

static void activations_plain(const float *x, long ldx, int tokens, int cols, uint32_t *xb, long ldb) {
    const int pairs = (cols + 1) / 2;
    for (int t = 0; t < tokens; t++) {
        for (int p = 0; p < pairs; p++) {
            const uint16_t lo = swiftllama_float_to_bf16(x[t * ldx + 2 * p]);
            const uint16_t hi = 2 * p + 1 < cols ? swiftllama_float_to_bf16(x[t * ldx + 2 * p + 1]) : 0;
            xb[t * ldb + p] = (uint32_t)lo | ((uint32_t)hi << 16);
        }
    }
}

static void gemm_plain(const uint32_t *packed, int pairs, const uint32_t *xb, long ldx, int tokens,
                       float *out, long ldo, int nrows) {
    for (int t = 0; t < tokens; t++) {
        for (int j = 0; j < nrows; j++) {
            float s = 0;
            for (int p = 0; p < pairs; p++) {
                const uint32_t w = packed[(long)SWIFTLLAMA_BF16_TILE_ROWS * p + j], x = xb[t * ldx + p];
                s += bf16_to_float((uint16_t)w) * bf16_to_float((uint16_t)x) +
                     bf16_to_float((uint16_t)(w >> 16)) * bf16_to_float((uint16_t)(x >> 16));
            }
            out[t * ldo + j] = s;
        }
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

#define BF16_TARGET "avx2,fma,f16c,bmi2,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16"
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target(BF16_TARGET))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,bmi2,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")
#endif

#define SWIFTLLAMA_BF16_VECTOR_HELPERS
#include "bf16_common.h"

/// Column pairs per block (see the top of the file). Measured on Zen 4 (one thread, 2048 ×
/// 2048 and 2048 × 8192 against 512 tokens, 256-bit): 64 pairs 187/166 GFLOP/s, 128 191/186,
/// 256 199/186, 512 203/200, 1024 208/201, no blocking 208/203: the weights streaming from
/// L2 (32 rows × 1024 pairs = 128 KiB) keep up with the products.
#ifndef BF16_KC
#define BF16_KC 1024
#endif
/// Tokens per micro-kernel call: 12 with 512-bit vectors (24 accumulators), 6 with 256-bit
/// ones (24 accumulators of 8 lanes). Measured on Zen 4 (2048 × 2048, 512 tokens, KC 128):
/// 256-bit with 4/5/6/8 tokens 186/185/191/157 GFLOP/s; 512-bit with 6/8/10/12 tokens
/// 189/189/184/176 (the 512-bit kernel is not the one Zen 4 uses).
#ifndef BF16_NT512
#define BF16_NT512 12
#endif
#ifndef BF16_NT256
#define BF16_NT256 6
#endif


static void pack_avx512(int type, const void *rows, long rowBytes, int nrows, int cols, uint32_t *packed) {
    // Blocks of 8 rows × 16 columns (8 pairs): each row's 16 values as bfloat16 in one
    // 256-bit vector, an 8 × 8 transpose of the 32-bit pairs, then one vector store per pair
    // (8 rows' words, contiguous in the tile).
    const int pairs = (cols + 1) / 2;
    for (int c = 0; c < cols; c += 16) {
        const int n = cols - c < 16 ? cols - c : 16, np = pairs - c / 2 < 8 ? pairs - c / 2 : 8;
        const __mmask16 m = (__mmask16)(n == 16 ? 0xFFFF : (1u << n) - 1);
        for (int j0 = 0; j0 < SWIFTLLAMA_BF16_TILE_ROWS; j0 += 8) {
            __m256i r[8];
            for (int i = 0; i < 8; i++) {
                const int j = j0 + i;
                const uint8_t *src = (const uint8_t *)rows + (long)j * rowBytes + 2L * c;
                if (j >= nrows) {
                    r[i] = _mm256_setzero_si256();
                } else if (type == 30) {
                    r[i] = _mm256_maskz_loadu_epi16(m, src);
                } else {
                    r[i] = swiftllama_bf16x16(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, src)));
                }
            }
            swiftllama_transpose8x8(r);
            uint32_t *dst = packed + (long)SWIFTLLAMA_BF16_TILE_ROWS * (c / 2) + j0;
            for (int q = 0; q < np; q++) _mm256_storeu_si256((__m256i *)(dst + (long)SWIFTLLAMA_BF16_TILE_ROWS * q), r[q]);
        }
    }
}

static void pack_r8_avx512(int type, const void *w, int cols, long group0, int groups, uint32_t *packed) {
    const long pairs = cols / 2;
    for (int g = 0; g < SWIFTLLAMA_BF16_TILE_ROWS / 8; g++) {
        const uint8_t *src = (const uint8_t *)w + 32 * (group0 + g) * pairs;
        uint32_t *dst = packed + 8 * g;
        for (long p = 0; p < pairs; p++) {
            __m256i v = _mm256_setzero_si256();
            if (g < groups) {
                v = _mm256_loadu_si256((const __m256i *)(src + 32 * p));
                if (type != 30) v = swiftllama_bf16x16(_mm512_cvtph_ps(v));
            }
            _mm256_storeu_si256((__m256i *)(dst + (long)SWIFTLLAMA_BF16_TILE_ROWS * p), v);
        }
    }
}

static void activations_avx512(const float *x, long ldx, int tokens, int cols, uint32_t *xb, long ldb) {
    for (int t = 0; t < tokens; t++) {
        const float *src = x + t * ldx;
        uint16_t *dst = (uint16_t *)(xb + t * ldb);
        int c = 0;
        for (; c + 16 <= cols; c += 16) _mm256_storeu_si256((__m256i *)(dst + c), swiftllama_bf16x16(_mm512_loadu_ps(src + c)));
        if (c < cols) {
            const __mmask16 m = (__mmask16)((1u << (cols - c)) - 1);
            const __m256i v = swiftllama_bf16x16(_mm512_maskz_loadu_ps(m, src + c));
            _mm256_mask_storeu_epi16(dst + c, m, v);
        }
        if (cols & 1) dst[cols] = 0;
    }
}

// out rows of one token: 16 (or 8) lanes `v` at `o`, the first `n` of them, added to what
// is there when `accumulate`.
static inline __attribute__((always_inline)) void store16(float *o, __m512 v, int n, int accumulate) {
    const __mmask16 m = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n > 0 ? n : 0)) - 1);
    if (accumulate) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, o));
    _mm512_mask_storeu_ps(o, m, v);
}
static inline __attribute__((always_inline)) void store8(float *o, __m256 v, int n, int accumulate) {
    const __mmask8 m = n >= 8 ? (__mmask8)0xFF : (__mmask8)((1u << (n > 0 ? n : 0)) - 1);
    if (accumulate) v = _mm256_add_ps(v, _mm256_maskz_loadu_ps(m, o));
    _mm256_mask_storeu_ps(o, m, v);
}

// 32 rows × nt tokens over `pairs` pairs, 512-bit.
static inline __attribute__((always_inline)) void tile512(const int nt, const uint32_t *w, int pairs, const uint32_t *x, long ldx,
                                                          float *out, long ldo, int nrows, int accumulate) {
    __m512 a0[BF16_NT512], a1[BF16_NT512];
    for (int i = 0; i < nt; i++) a0[i] = a1[i] = _mm512_setzero_ps();
    for (int p = 0; p < pairs; p++) {
        const __m512bh w0 = (__m512bh)_mm512_loadu_si512((const void *)(w + 32L * p));
        const __m512bh w1 = (__m512bh)_mm512_loadu_si512((const void *)(w + 32L * p + 16));
        for (int i = 0; i < nt; i++) {
            const __m512bh b = (__m512bh)_mm512_set1_epi32((int)x[i * ldx + p]);
            a0[i] = _mm512_dpbf16_ps(a0[i], w0, b);
            a1[i] = _mm512_dpbf16_ps(a1[i], w1, b);
        }
    }
    for (int i = 0; i < nt; i++) {
        store16(out + i * ldo, a0[i], nrows, accumulate);
        store16(out + i * ldo + 16, a1[i], nrows - 16, accumulate);
    }
}

// 32 rows × nt tokens over `pairs` pairs, 256-bit.
static inline __attribute__((always_inline)) void tile256(const int nt, const uint32_t *w, int pairs, const uint32_t *x, long ldx,
                                                          float *out, long ldo, int nrows, int accumulate) {
    __m256 a0[BF16_NT256], a1[BF16_NT256], a2[BF16_NT256], a3[BF16_NT256];
    for (int i = 0; i < nt; i++) a0[i] = a1[i] = a2[i] = a3[i] = _mm256_setzero_ps();
    for (int p = 0; p < pairs; p++) {
        const uint32_t *wp = w + 32L * p;
        const __m256bh w0 = (__m256bh)_mm256_loadu_si256((const __m256i *)wp);
        const __m256bh w1 = (__m256bh)_mm256_loadu_si256((const __m256i *)(wp + 8));
        const __m256bh w2 = (__m256bh)_mm256_loadu_si256((const __m256i *)(wp + 16));
        const __m256bh w3 = (__m256bh)_mm256_loadu_si256((const __m256i *)(wp + 24));
        for (int i = 0; i < nt; i++) {
            const __m256bh b = (__m256bh)_mm256_set1_epi32((int)x[i * ldx + p]);
            a0[i] = _mm256_dpbf16_ps(a0[i], w0, b);
            a1[i] = _mm256_dpbf16_ps(a1[i], w1, b);
            a2[i] = _mm256_dpbf16_ps(a2[i], w2, b);
            a3[i] = _mm256_dpbf16_ps(a3[i], w3, b);
        }
    }
    for (int i = 0; i < nt; i++) {
        float *o = out + i * ldo;
        store8(o, a0[i], nrows, accumulate);
        store8(o + 8, a1[i], nrows - 8, accumulate);
        store8(o + 16, a2[i], nrows - 16, accumulate);
        store8(o + 24, a3[i], nrows - 24, accumulate);
    }
}

#define TILE_CASE(f, n) case n: f(n, w, kc, xt, ldx, ot, ldo, nrows, acc); break;

// The blocked driver of one width: blocks of BF16_KC pairs, NT tokens per micro-kernel call,
// the last call's token count a compile-time constant (CASES).
#define BF16_GEMM_DRIVER(name, tile, NT, CASES) \
static void name(const uint32_t *packed, int pairs, const uint32_t *xb, long ldx, int tokens, \
                 float *out, long ldo, int nrows) { \
    for (int k0 = 0; k0 < pairs; k0 += BF16_KC) { \
        const int kc = pairs - k0 < BF16_KC ? pairs - k0 : BF16_KC, acc = k0 > 0; \
        const uint32_t *w = packed + 32L * k0; \
        for (int t0 = 0; t0 < tokens; t0 += NT) { \
            const uint32_t *xt = xb + t0 * ldx + k0; \
            float *ot = out + t0 * ldo; \
            switch (tokens - t0 < NT ? tokens - t0 : NT) { \
                CASES \
                default: tile(NT, w, kc, xt, ldx, ot, ldo, nrows, acc); break; \
            } \
        } \
    } \
}

BF16_GEMM_DRIVER(gemm_avx512, tile512, BF16_NT512,
    TILE_CASE(tile512, 1) TILE_CASE(tile512, 2) TILE_CASE(tile512, 3) TILE_CASE(tile512, 4)
    TILE_CASE(tile512, 5) TILE_CASE(tile512, 6) TILE_CASE(tile512, 7) TILE_CASE(tile512, 8)
    TILE_CASE(tile512, 9) TILE_CASE(tile512, 10) TILE_CASE(tile512, 11))

BF16_GEMM_DRIVER(gemm_avx256, tile256, BF16_NT256,
    TILE_CASE(tile256, 1) TILE_CASE(tile256, 2) TILE_CASE(tile256, 3) TILE_CASE(tile256, 4)
    TILE_CASE(tile256, 5))

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif  // __x86_64__

// ---- Entry points ----

void swiftllama_pack_bf16(int type, const void *rows, long rowBytes, int nrows, int cols, uint32_t *packed) {
#if defined(__x86_64__)
    if (swiftllama_cpu_has_bf16()) {
        pack_avx512(type, rows, rowBytes, nrows, cols, packed);
        return;
    }
#endif
    pack_plain(type, rows, rowBytes, nrows, cols, packed);
}

void swiftllama_pack_bf16_r8(int type, const void *w, int cols, long group0, int groups, uint32_t *packed) {
#if defined(__x86_64__)
    if (swiftllama_cpu_has_bf16()) {
        pack_r8_avx512(type, w, cols, group0, groups, packed);
        return;
    }
#endif
    pack_r8_plain(type, w, cols, group0, groups, packed);
}

void swiftllama_bf16_activations(const float *x, long ldx, int tokens, int cols, uint32_t *xb, long ldb) {
#if defined(__x86_64__)
    if (swiftllama_cpu_has_bf16()) {
        activations_avx512(x, ldx, tokens, cols, xb, ldb);
        return;
    }
#endif
    activations_plain(x, ldx, tokens, cols, xb, ldb);
}

void swiftllama_gemm_bf16(int width, const uint32_t *packed, int pairs, const uint32_t *xb, long ldx, int tokens,
                          float *out, long ldo, int nrows) {
#if defined(__x86_64__)
    if (width != SWIFTLLAMA_BF16_PLAIN && swiftllama_cpu_has_bf16()) {
        (width == SWIFTLLAMA_BF16_512 ? gemm_avx512 : gemm_avx256)(packed, pairs, xb, ldx, tokens, out, ldo, nrows);
        return;
    }
#endif
    gemm_plain(packed, pairs, xb, ldx, tokens, out, ldo, nrows);
}
