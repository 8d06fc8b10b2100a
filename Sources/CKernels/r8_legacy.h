// Row-interleaved ("R8") layouts of Q4_1, Q5_0, Q5_1, IQ4_NL and IQ4_XS: the repacking and
// the plain blocks back (repack_legacy.c), and the plain-loop kernels of the generic set.
//
// Each type block of a group of 8 rows keeps the bytes of the 8 plain blocks: first the 8
// rows' f16 fields side by side (field f of row r at 16·f + 2·r: d, then m for Q4_1/Q5_1,
// scales_h for IQ4_XS), then the 8 rows' 4-byte words (Q5_0/Q5_1's high bits, IQ4_XS's
// scales_l) at 16·F + 32·w + 4·r, then the nibbles interleaved as Q4_0's: word i of row r
// at Q + 32·i + 4·r (IQ4_XS: 32 words, 4 per sub-block of 32). In every nibble word, the
// low nibbles are elements 4i…4i+3 of the block of 32 and the high nibbles 16+4i…: the
// kernels' register k (k < 8) holds elements 4k…4k+3 of each row.
// The Q5 high bits are transposed within each row's 32-bit word so that bit k of byte j is
// element 4k + j's: register k's high bits are one AND with 1 << k and one shift away.
#ifndef SWIFTLLAMA_R8_LEGACY_H
#define SWIFTLLAMA_R8_LEGACY_H

#include <stdint.h>

/// True (1) for Q4_1 (3), Q5_0 (6), Q5_1 (7), IQ4_NL (20), IQ4_XS (23).
int swiftllama_r8_legacy_supports(int type);
/// Plain bytes of one block of the type (20, 22, 24, 18, 136), 0 for other types.
int swiftllama_r8_legacy_block_bytes(int type);
void swiftllama_r8_legacy_repack(int type, const void *src, void *dst, int groups, int blocks);
void swiftllama_r8_legacy_block(int type, const void *packed, int blocks, long row, int b, uint8_t *dst);
/// `count` plain blocks from block `b0` of `row` (the readers of rows: one type dispatch per call).
void swiftllama_r8_legacy_row(int type, const void *packed, int blocks, long row, int b0, int count, uint8_t *dst);

/// The plain-loop kernels (`swiftllama_matvec_r8_fn`) of the generic set.
void swiftllama_matvec_q4_1_r8_generic(const void *w, int groups, int blocks, const int8_t *xq, const float *xd,
                                       const int32_t *xs, int tokens, float *out, long ldo);
void swiftllama_matvec_q5_0_r8_generic(const void *w, int groups, int blocks, const int8_t *xq, const float *xd,
                                       const int32_t *xs, int tokens, float *out, long ldo);
void swiftllama_matvec_q5_1_r8_generic(const void *w, int groups, int blocks, const int8_t *xq, const float *xd,
                                       const int32_t *xs, int tokens, float *out, long ldo);
void swiftllama_matvec_iq4_nl_r8_generic(const void *w, int groups, int blocks, const int8_t *xq, const float *xd,
                                         const int32_t *xs, int tokens, float *out, long ldo);
void swiftllama_matvec_iq4_xs_r8_generic(const void *w, int groups, int blocks, const int8_t *xq, const float *xd,
                                         const int32_t *xs, int tokens, float *out, long ldo);

#endif
