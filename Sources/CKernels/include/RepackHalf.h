// The row-interleaved layout of F16 (type 1) and BF16 (type 30) weights (CKernels/repack_half.c;
// kernels in kernels_r8_half.h).
// A group of 8 rows of `cols` columns (cols even) is `cols / 2` steps of 32 bytes: step p holds
// the 32-bit words of rows 0…7 in order, row r's word being its columns 2p (low half) and
// 2p+1 as stored. A group takes exactly the bytes of its 8 plain rows. This is also the
// packed layout of the BF16 prompt GEMM (GEMMBF16.h) for 8 of its 32 rows. Here a "block"
// is one column (the types' block size), so `blocks` = columns.
#ifndef SWIFTLLAMA_REPACK_HALF_H
#define SWIFTLLAMA_REPACK_HALF_H

#include <stdint.h>

/// 1 for F16 and BF16.
int swiftllama_half_r8_supports(int type);
/// Repacks `groups` groups of 8 plain rows of `cols` (even) halves at `src` into `dst`.
void swiftllama_half_r8_repack(const void *src, void *dst, int groups, int cols);
/// `count` halves of row `row` from column `c0` of a repacked matrix of `cols` columns, as
/// plain halves at `dst`.
void swiftllama_half_r8_row(const void *packed, int cols, long row, int c0, int count, uint8_t *dst);
/// The generic kernel set's row-interleaved F16 / BF16 products (plain loops; the contract
/// of `swiftllama_matvec_half_r8_fn`).
void swiftllama_matvec_f16_r8_generic(const void *w, int groups, int cols, const float *x, long ldx, int tokens,
                                      float *out, long ldo);
void swiftllama_matvec_bf16_r8_generic(const void *w, int groups, int cols, const float *x, long ldx, int tokens,
                                       float *out, long ldo);

/// The generic set's `half_r8_panels` (plain loops; the contract of `swiftllama_half_r8_panels_fn`).
void swiftllama_half_r8_panels_generic(int bf16, const void *w, int cols, long group0, int groups, int k0, int kc,
                                       float *dst);

#endif
