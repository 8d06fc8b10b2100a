// Packers of the training model's bfloat16 products (see TrainingBF16.h): strided fp32
// operands rounded to bfloat16 (nearest even, as vcvtneps2bf16) in the layouts of the BF16
// prompt kernel (GEMMBF16.c), whose micro-kernels then multiply them. AVX-512 BF16 versions
// where CPUID reports it (the only CPUs the training path asks for bf16 on), plain loops
// computing the same words elsewhere (for tests).
#include "TrainingBF16.h"
#include "GEMMBF16.h"
#include <string.h>
#include "bf16_common.h"

static void pack_b_plain(const float *b, long bRow, long bCol, int k, int j0, int ncols, uint32_t *packed) {
    const int pairs = (k + 1) / 2;
    for (int q = 0; q < pairs; q++) {
        for (int j = 0; j < 32; j++) {
            uint32_t w = 0;
            if (j < ncols) {
                const float *col = b + (long)(j0 + j) * bCol;
                w = (uint32_t)swiftllama_float_to_bf16(col[(long)(2 * q) * bRow]);
                if (2 * q + 1 < k) w |= (uint32_t)swiftllama_float_to_bf16(col[(long)(2 * q + 1) * bRow]) << 16;
            }
            packed[32L * q + j] = w;
        }
    }
}

static void a_plain(const float *a, long aRow, long aCol, int i0, int m, int k, uint32_t *xb, long ldb) {
    const int pairs = (k + 1) / 2;
    for (int i = 0; i < m; i++) {
        const float *row = a + (long)(i0 + i) * aRow;
        for (int q = 0; q < pairs; q++) {
            uint32_t w = (uint32_t)swiftllama_float_to_bf16(row[(long)(2 * q) * aCol]);
            if (2 * q + 1 < k) w |= (uint32_t)swiftllama_float_to_bf16(row[(long)(2 * q + 1) * aCol]) << 16;
            xb[(long)i * ldb + q] = w;
        }
    }
}

#if defined(__x86_64__)
#include <immintrin.h>

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,bmi2,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,bmi2,avx512f,avx512bw,avx512vl,avx512dq,avx512bf16")
#endif

#define SWIFTLLAMA_BF16_VECTOR_HELPERS
#include "bf16_common.h"

static inline __mmask16 mask16(int n) { return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)(n > 0 ? (1u << n) - 1 : 0); }
static inline __mmask8 mask8(int n) { return n >= 8 ? (__mmask8)0xFF : (__mmask8)(n > 0 ? (1u << n) - 1 : 0); }


// Words lo[i] | hi[i] << 16 from two vectors of bfloat16s.
static inline __m512i pair16(__m256i lo, __m256i hi) {
    return _mm512_or_si512(_mm512_cvtepu16_epi32(lo), _mm512_slli_epi32(_mm512_cvtepu16_epi32(hi), 16));
}

static void pack_b_avx512(const float *b, long bRow, long bCol, int k, int j0, int ncols, uint32_t *packed) {
    const int pairs = (k + 1) / 2;
    if (bCol == 1) {
        // B's rows are contiguous in j: rows 2q and 2q+1, 16 columns at a time, interleaved
        // into the 16 words of those columns, stored in place.
        for (int q = 0; q < pairs; q++) {
            const float *r0 = b + (long)(2 * q) * bRow + j0;
            for (int jj = 0; jj < 32; jj += 16) {
                const __mmask16 m = mask16(ncols - jj);
                const __m256i lo = swiftllama_bf16x16(_mm512_maskz_loadu_ps(m, r0 + jj));
                const __m256i hi = 2 * q + 1 < k ? swiftllama_bf16x16(_mm512_maskz_loadu_ps(m, r0 + bRow + jj)) : _mm256_setzero_si256();
                _mm512_storeu_si512((void *)(packed + 32L * q + jj), pair16(lo, hi));
            }
        }
        return;
    }
    // B's columns are contiguous in p (a weight matrix's rows): 8 columns × 16 values (8
    // pairs) at a time, an 8 × 8 transpose of the pairs, one store per pair.
    for (int c = 0; c < k; c += 16) {
        const __mmask16 m = mask16(k - c);
        const int np = pairs - c / 2 < 8 ? pairs - c / 2 : 8;
        for (int jb = 0; jb < 32; jb += 8) {
            __m256i r[8];
            for (int i = 0; i < 8; i++) {
                const int j = jb + i;
                r[i] = j < ncols ? swiftllama_bf16x16(_mm512_maskz_loadu_ps(m, b + (long)(j0 + j) * bCol + c)) : _mm256_setzero_si256();
            }
            swiftllama_transpose8x8(r);
            uint32_t *dst = packed + 32L * (c / 2) + jb;
            for (int q = 0; q < np; q++) _mm256_storeu_si256((__m256i *)(dst + 32L * q), r[q]);
        }
    }
}

static void a_avx512(const float *a, long aRow, long aCol, int i0, int m, int k, uint32_t *xb, long ldb) {
    const int pairs = (k + 1) / 2;
    if (aCol == 1) {
        // Rows contiguous in p: 16 values → 8 pairs, stored in place.
        for (int i = 0; i < m; i++) {
            const float *src = a + (long)(i0 + i) * aRow;
            uint16_t *dst = (uint16_t *)(xb + (long)i * ldb);
            int c = 0;
            for (; c + 16 <= k; c += 16) _mm256_storeu_si256((__m256i *)(dst + c), swiftllama_bf16x16(_mm512_loadu_ps(src + c)));
            if (c < k) _mm256_mask_storeu_epi16(dst + c, mask16(k - c), swiftllama_bf16x16(_mm512_maskz_loadu_ps(mask16(k - c), src + c)));
            if (k & 1) dst[k] = 0;
        }
        return;
    }
    // Columns contiguous in i (a transposed operand): 16 rows × 8 pairs at a time, each
    // pair's 16 words from two columns, then two 8 × 8 transposes (rows 0…7 and 8…15), one
    // store per row.
    for (int i = 0; i < m; i += 16) {
        const int mi = m - i < 16 ? m - i : 16;
        const __mmask16 mr = mask16(mi);
        const float *base = a + (long)(i0 + i) * aRow;
        for (int q0 = 0; q0 < pairs; q0 += 8) {
            const int np = pairs - q0 < 8 ? pairs - q0 : 8;
            __m256i lo8[8], hi8[8];
            for (int q = 0; q < 8; q++) {
                const int p = 2 * (q0 + q);
                if (q >= np) { lo8[q] = hi8[q] = _mm256_setzero_si256(); continue; }
                const __m256i lo = swiftllama_bf16x16(_mm512_maskz_loadu_ps(mr, base + (long)p * aCol));
                const __m256i hi = p + 1 < k ? swiftllama_bf16x16(_mm512_maskz_loadu_ps(mr, base + (long)(p + 1) * aCol)) : _mm256_setzero_si256();
                const __m512i w = pair16(lo, hi);
                lo8[q] = _mm512_castsi512_si256(w);
                hi8[q] = _mm512_extracti64x4_epi64(w, 1);
            }
            swiftllama_transpose8x8(lo8);
            swiftllama_transpose8x8(hi8);
            const __mmask8 mq = mask8(np);
            for (int ii = 0; ii < mi; ii++) {
                _mm256_mask_storeu_epi32((void *)(xb + (long)(i + ii) * ldb + q0), mq, ii < 8 ? lo8[ii] : hi8[ii - 8]);
            }
        }
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif  // __x86_64__

void swiftllama_train_pack_bf16_b(const float *b, long bRow, long bCol, int k, int j0, int ncols, uint32_t *packed) {
#if defined(__x86_64__)
    if (swiftllama_cpu_has_bf16() && (bRow == 1 || bCol == 1)) {
        pack_b_avx512(b, bRow, bCol, k, j0, ncols, packed);
        return;
    }
#endif
    pack_b_plain(b, bRow, bCol, k, j0, ncols, packed);
}

void swiftllama_train_bf16_a(const float *a, long aRow, long aCol, int i0, int m, int k, uint32_t *xb, long ldb) {
#if defined(__x86_64__)
    if (swiftllama_cpu_has_bf16() && (aRow == 1 || aCol == 1)) {
        a_avx512(a, aRow, aCol, i0, m, k, xb, ldb);
        return;
    }
#endif
    a_plain(a, aRow, aCol, i0, m, k, xb, ldb);
}
