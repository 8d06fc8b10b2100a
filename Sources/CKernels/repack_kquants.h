// Row-interleaved ("R8") layouts of Q4_K, Q5_K and Q6_K (private to CKernels): the repacking
// at load, the plain super-blocks back, and the plain-C matrix-vector product of the generic
// set. The layouts, per group of 8 rows and super-block of 256 columns (exactly the bytes of
// the 8 plain super-blocks, 8 × 144 / 176 / 210):
//
// Q4_K, Q5_K: [0, 16) the 8 rows' d (f16), [16, 32) their dmin, [32, 128) the 6-bit scales
//   and mins, numbered k = 8·j + r (sub-block j of 32, row r): [32, 64) byte k holds scale k's
//   low 4 bits (low nibble) and scale k + 32's (high nibble), [64, 96) the same for the mins,
//   [96, 128) byte k the top 2 bits of scale k (bits 0–1), scale k + 32 (2–3), min k (4–5),
//   min k + 32 (6–7). So three 32-byte loads and a few masks give the 8 rows' scales (or
//   mins) of sub-blocks 0–3 and 4–7 as bytes. Then sub-block j at 128 + 128·j (Q4_K) or
//   128 + 160·j (Q5_K): 4 × 32 bytes where byte 32·i + 4·r + k holds element 4·i + k of row r
//   (low nibble) and element 16 + 4·i + k (high nibble), the Q4_0 R8 order; Q5_K follows with
//   32 bytes of fifth bits: bit i of byte 4·r + k is the fifth bit of the element in the low
//   (i < 4) or high (i ≥ 4) nibble of byte 32·(i mod 4) + 4·r + k.
// Q6_K: [0, 16) the 8 rows' d, [16, 144) the int8 scales of the 16 sub-blocks of 16, byte
//   16 + 8·j + r, then 8 chunks of 32 columns (one activation block each) at 144 + 192·c:
//   4 × 32 bytes of low 4 bits as Q4_K's sub-blocks, and 2 × 32 bytes of top 2 bits: bits
//   2·s, 2·s + 1 of byte 128 + 32·h + 4·r + k are those of the element in the low (h = 0)
//   or high (h = 1) nibble of byte 32·s + 4·r + k. Values are stored q + 32 (0…63), as in
//   the plain block.
#ifndef SWIFTLLAMA_REPACK_KQUANTS_H
#define SWIFTLLAMA_REPACK_KQUANTS_H

#include <stdint.h>

// Bytes of one row's super-block for the types with a layout here (144, 176, 210), else 0.
__attribute__((visibility("hidden"))) int swiftllama_kq_r8_bytes(int type);
__attribute__((visibility("hidden"))) void swiftllama_kq_repack_r8(int type, const void *src, void *dst, int groups, int superblocks);
__attribute__((visibility("hidden"))) void swiftllama_kq_r8_block(int type, const void *packed, int superblocks, long row, int b,
                                                                 uint8_t *dst);
// swiftllama_matvec_r8_fn of the generic set for these types (`blocks` counts blocks of 32).
__attribute__((visibility("hidden"))) void swiftllama_kq_matvec_r8_generic(int type, const void *w, int groups, int blocks,
                                                                          const int8_t *xq, const float *xd, const int32_t *xs,
                                                                          int tokens, float *out, long ldo);

#endif
