// Packers of the training model's bfloat16 products (`llama train --precision bf16`,
// TrainingBF16.c): fp32 operands of any stride rounded to bfloat16 pairs in the layouts that
// `swiftllama_gemm_bf16` (GEMMBF16.h) multiplies, so training reuses the prompt kernel's
// micro-kernels for C = A·B with A(i, p) = a[i·aRow + p·aCol] and B(p, j) = b[p·bRow + j·bCol]:
// A's rows are the kernel's "tokens", B's columns its "weight rows", p the summed index.
#ifndef SWIFTLLAMA_TRAININGBF16_H
#define SWIFTLLAMA_TRAININGBF16_H

#include <stdint.h>

/// Packs columns `j0 ..< j0 + ncols` (ncols ≤ 32; the rest of the tile is 0) of B (k × n,
/// B(p, j) at `b[p·bRow + j·bCol]`) as one tile of `swiftllama_gemm_bf16`: word `32·q + j`
/// holds B(2q, j0 + j) (low half) and B(2q + 1, j0 + j) as bfloat16 (0 past k), for
/// q < ⌈k/2⌉. Either `bRow` or `bCol` must be 1.
void swiftllama_train_pack_bf16_b(const float *b, long bRow, long bCol, int k, int j0, int ncols, uint32_t *packed);

/// Rows `i0 ..< i0 + m` of A (A(i, p) at `a[i·aRow + p·aCol]`, k columns) as bfloat16 pairs:
/// row i's pair q at `xb[(i − i0)·ldb + q]` (A(i, 2q) the low half; 0 past k). Either `aRow`
/// or `aCol` must be 1.
void swiftllama_train_bf16_a(const float *a, long aRow, long aCol, int i0, int m, int k, uint32_t *xb, long ldb);

#endif
