// Row-interleaved ("R8") layouts of Q2_K and Q3_K (private to CKernels): repacking at load,
// plain super-blocks back, and the plain-loop kernel of the generic set. Layouts:
//
// Q2_K, per super-block of a group of 8 rows (672 bytes = 8 × 84, the plain size):
//   0    d of the 8 rows (f16 × 8)
//   16   dmin of the 8 rows (f16 × 8)
//   32   scale|min bytes by block of 32 c < 8, row r, then sub-block 2c / 2c + 1:
//        byte 32 + 16·c + 2·r + e = scales[2c + e] of row r (one 16-byte load widens to the
//        8 rows' (sub-block 2c, 2c + 1) pairs as int16 pairs, the operands of vpmaddwd)
//   160  qs as 4-byte words interleaved by row: word i < 16 of row r at 160 + 32·i + 4·r
// Q3_K, per super-block of a group of 8 rows (880 bytes = 8 × 110):
//   0    d of the 8 rows (f16 × 8)
//   16   the 12 packed 6-bit scale bytes by byte index m < 12, then row: 16 + 8·m + r (three
//        32-byte loads decode all 16 scales of the 8 rows at once)
//   112  hmask words (i < 8) interleaved by row: 112 + 32·i + 4·r
//   368  qs words (i < 16) interleaved by row: 368 + 32·i + 4·r
// In both, element 128·n + 32·k + l (n < 2, k < 4, l < 32) of a row is bits 2k…2k+1 of qs
// byte 32·n + l (and, for Q3_K, bit 4·n + k of hmask byte l), so one word load of 8 rows
// gives, shift by shift, the 2-bit values of the 4 blocks of 32 k = 0…3.
#ifndef SWIFTLLAMA_REPACK_K23_H
#define SWIFTLLAMA_REPACK_K23_H

#include <stdint.h>

#define K23_HIDDEN __attribute__((visibility("hidden")))

/// Plain bytes of one super-block (84 for Q2_K, 110 for Q3_K); 0 for other types.
K23_HIDDEN int swiftllama_k23_block_bytes(int type);
/// `swiftllama_repack_r8` for Q2_K (10) and Q3_K (11); `blocks` counts super-blocks.
K23_HIDDEN void swiftllama_k23_repack(int type, const void *src, void *dst, int groups, int blocks);
/// `swiftllama_r8_block` for Q2_K and Q3_K: super-block `b` of row `row`, plain, at `dst`.
K23_HIDDEN void swiftllama_k23_block(int type, const void *packed, int blocks, long row, int b, uint8_t *dst);
/// The generic set's kernels (the `swiftllama_matvec_r8_fn` contract: `blocks` counts blocks
/// of 32 of the activations).
K23_HIDDEN void swiftllama_matvec_q2_K_r8_generic(const void *w, int groups, int blocks, const int8_t *xq, const float *xd,
                                                  const int32_t *xs, int tokens, float *out, long ldo);
K23_HIDDEN void swiftllama_matvec_q3_K_r8_generic(const void *w, int groups, int blocks, const int8_t *xq, const float *xd,
                                                  const int32_t *xs, int tokens, float *out, long ldo);

#endif
