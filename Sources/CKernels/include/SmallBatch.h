// Small-batch matrix-vector kernels: 2–8 tokens (the decode step of a few parallel
// sequences) against each weight row, the row unpacked once for all of them. The
// per-token kernels (CKernels.h) unpack a row again for every token, so at 4 tokens
// the unpacking, not the memory, bounds the step.
#ifndef SWIFTLLAMA_SMALLBATCH_H
#define SWIFTLLAMA_SMALLBATCH_H

#include <stdint.h>

/// Reorders the int8 activations of `blocks` blocks of 32 (one token, quantized by
/// `swiftllama_quantize_q8`) in place into the lane order `swiftllama_dot2xn_q4_0` reads
/// (pairs of blocks interleaved by 16); a trailing odd block stays as it is. A no-op when
/// the kernels were built without AVX-512 VNNI.
void swiftllama_q4_0_pair_order(int8_t *xq, int blocks);

/// For t < tokens (1…4): out[2t] = row w0 · token t, out[2t+1] = row w1 · token t, for
/// Q4_0 rows of `blocks` blocks and activations reordered by `swiftllama_q4_0_pair_order`
/// (token t's values at xq + 32·blocks·t, its scales at xd + blocks·t). The same sums in
/// the same order as `swiftllama_dot2_q4_0` on each token alone.
void swiftllama_dot2xn_q4_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks,
                            int tokens, float *out);

#endif
