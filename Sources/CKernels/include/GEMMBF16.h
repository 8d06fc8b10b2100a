// BF16-product matrix-matrix kernel for prompts over F16 and BF16 weights (GEMMBF16.c):
// weights and activations rounded to bfloat16, products summed in fp32 by vdpbf16ps
// (AVX-512 BF16), two products per fp32 lane per instruction.
//
// Layout. A tile of 32 weight rows is packed so that the 32-bit word `packed[32·p + j]`
// holds row j's columns 2p and 2p+1 as two bfloat16s (the low half is column 2p); a
// column past the row's end is 0. One 64-byte vector then holds a column pair of 16 rows,
// and vdpbf16ps with one token's pair broadcast to every lane adds each row's two products
// to its own fp32 lane: no horizontal sums. Activations are packed the same way, one token
// per `ldx` words.
#ifndef SWIFTLLAMA_GEMMBF16_H
#define SWIFTLLAMA_GEMMBF16_H

#include <stdint.h>

/// Rows per packed tile.
enum { SWIFTLLAMA_BF16_TILE_ROWS = 32 };

/// Vector widths of the kernel: 512-bit (16 rows per instruction) or 256-bit (8 rows: what
/// AMD Zen 4 executes per half of a 512-bit instruction), and the plain loops used where
/// the CPU has no AVX-512 BF16 (same sums, for tests; callers take the fp32 path there).
enum { SWIFTLLAMA_BF16_PLAIN = 0, SWIFTLLAMA_BF16_256 = 256, SWIFTLLAMA_BF16_512 = 512 };

/// 1 when this CPU has AVX-512 F+BW+VL and AVX512_BF16 (CPUID leaf 7 subleaf 1, EAX bit 5).
int swiftllama_cpu_has_bf16(void);

/// The width prompts use where they take BF16 products (which products do is Swift's choice,
/// Kernels/GEMMBF16.swift): 0 when the environment has LLAMA_BF16_PRODUCTS=0 (fp32 products
/// forced), when the CPU lacks AVX512_BF16, or when the selected kernel set is not an AVX-512
/// one (LLAMA_KERNELS=avx2 or generic keep the fp32 GEMM); else the width measured fastest
/// for this CPU (256 on AMD, 512 elsewhere).
int swiftllama_bf16_gemm_width(void);

/// Packs rows `0..<nrows` (≤ 32; rows past `nrows` are zero) of F16 (`type` 1) or BF16
/// (`type` 30) weights, `rowBytes` apart, columns `0..<cols`, into `packed`
/// (32·⌈cols/2⌉ words). F16 values are rounded to the nearest bfloat16 (7-bit mantissa).
void swiftllama_pack_bf16(int type, const void *rows, long rowBytes, int nrows, int cols, uint32_t *packed);

/// The same tile from row groups `group0 ..< group0 + groups` (≤ 4) of a row-interleaved
/// matrix of `cols` (even) columns (RepackHalf.h): each group's 8 words per pair are already
/// the tile's words of its 8 rows, so BF16 is a copy and F16 one conversion per 16 values.
void swiftllama_pack_bf16_r8(int type, const void *w, int cols, long group0, int groups, uint32_t *packed);

/// Rounds `tokens` rows of `cols` floats (`ldx` apart) to bfloat16 pairs: token t's pair p
/// at `xb[t·ldb + p]` (⌈cols/2⌉ words; a missing last column is 0).
void swiftllama_bf16_activations(const float *x, long ldx, int tokens, int cols, uint32_t *xb, long ldb);

/// out[t·ldo + j] = Σ_p Σ_{h<2} W[j, 2p+h]·x[t, 2p+h] for t < tokens, j < nrows (≤ 32),
/// from a tile packed by `swiftllama_pack_bf16` (`pairs` = ⌈cols/2⌉) and activations of
/// `swiftllama_bf16_activations` (`ldx` words per token). `width`: one of the widths above
/// (a width the CPU cannot run falls back to the plain loops).
void swiftllama_gemm_bf16(int width, const uint32_t *packed, int pairs, const uint32_t *xb, long ldx, int tokens,
                          float *out, long ldo, int nrows);

#endif
