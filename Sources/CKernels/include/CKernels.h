// Int8 dot products of quantized weight blocks with 8-bit quantized activations.
//
// Why C: the same kernels written with Swift SIMD types (Sources/Llama/Kernels/Dot.swift,
// kept as the portable reference) compile to sign-extensions, vpmullw and 32-bit adds, and
// the Q4_0 nibble unpacking to vpinsrb/vpextrb element moves: no vpmaddubsw/vpmaddwd.
// Measured on the 1.24B model (2 threads): tg 5.8 tok/s for Q8_0 and 0.11 for Q4_0 with
// the Swift versions. Swift has no spelling for a pairwise multiply-add of bytes, so
// these two functions are intrinsics; everything around them stays Swift.
#ifndef SWIFTLLAMA_CKERNELS_H
#define SWIFTLLAMA_CKERNELS_H

#include <stdint.h>

/// Σ over `blocks` blocks of 32: w_d · x_d · Σ w_q·x_q, for Q8_0 weight blocks (34 bytes:
/// f16 scale, 32 int8) at `w` and activations `xq` (int8) with one float scale per block.
float swiftllama_dot_q8_0(const void *w, const int8_t *xq, const float *xd, int blocks);

/// The same for Q4_0 weight blocks (18 bytes: f16 scale, 16 bytes of nibbles; byte j
/// holds element j low and element j+16 high; value = nibble − 8).
float swiftllama_dot_q4_0(const void *w, const int8_t *xq, const float *xd, int blocks);

#endif
