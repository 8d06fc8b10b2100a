// One set of generation kernels compiled for one instruction-set level. CKernels.c picks
// one set at startup from the CPU (CPUID) or from LLAMA_KERNELS; every set computes the
// same sums (up to the order of float additions), so any set can be forced for testing.
#ifndef SWIFTLLAMA_CKERNELSET_H
#define SWIFTLLAMA_CKERNELSET_H

#include <stdint.h>

typedef float (*swiftllama_dot32_fn)(const void *w, const int8_t *xq, const float *xd, int blocks);
typedef void (*swiftllama_dot2_fn)(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]);
typedef float (*swiftllama_dot256_fn)(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks);
/// out[t·ldo + r] = Σ_c W[r, c]·x[t·ldx + c] for r < rows, t < tokens: W is `rows` rows of
/// `cols` halves (F16) or bfloat16s, `rowBytes` apart.
typedef void (*swiftllama_matvec_half_fn)(const void *w, long rowBytes, int rows, int cols,
                                          const float *x, long ldx, int tokens, float *out, long ldo);
/// Row-interleaved matrix-vector product (the "R8" layouts of `swiftllama_repack_r8`):
/// out[t·ldo + 8·g + r] = row 8·g + r · token t for g < groups, r < 8, t < tokens (1…8).
/// Token t's activations: `xq + 32·blocks·t` (int8), scales `xd + blocks·t`, and the sum of
/// each block's quantized values `xs + blocks·t`. Each token's sums are computed in the same
/// order whatever `tokens` is: a token's results are bit for bit the same alone or batched.
typedef void (*swiftllama_matvec_r8_fn)(const void *w, int groups, int blocks, const int8_t *xq, const float *xd,
                                        const int32_t *xs, int tokens, float *out, long ldo);
/// Row-interleaved F16 / BF16 matrix-vector product (RepackHalf.h: per group of 8 rows and
/// column pair, the 8 rows' words): out[t·ldo + 8·g + r] = row 8·g + r · x[t·ldx …] for
/// g < groups, r < 8, t < tokens (any count), over `cols` (even) fp32 activations per token.
/// A token's results are bit for bit the same alone or batched.
typedef void (*swiftllama_matvec_half_r8_fn)(const void *w, int groups, int cols, const float *x, long ldx, int tokens,
                                             float *out, long ldo);
/// Columns k0 ..< k0 + kc (k0, kc even) of row groups group0 ..< group0 + groups of a
/// row-interleaved F16 (bf16 = 0) or BF16 (bf16 = 1) matrix of `cols` columns as fp32 panels
/// of 32 rows for the fp32 prompt GEMM: group i is rows 8·(i % 4) … of panel i / 4, panel q
/// at dst + q·32·kc, row j's column k0 + k at panel[32·k + j]; the rows of the last panel
/// past the groups are zeros. The conversions are exact (every set writes the same floats).
typedef void (*swiftllama_half_r8_panels_fn)(int bf16, const void *w, int cols, long group0, int groups, int k0, int kc,
                                             float *dst);
/// The fp32 prompt GEMM's micro-kernel (Kernels/GEMM.swift): out[t·ldo + j] (+)= Σ_k
/// panel[32·k + j]·x[t·ldx + k] for t < tokens (≤ 6), j < rows (≤ 32), k < kc, each sum one
/// fused multiply-add per k in k order (Swift's `gemmTile` order: the same bits); added to
/// what `out` holds when `accumulate`.
typedef void (*swiftllama_gemm_f32_tile_fn)(const float *panel, const float *x, long ldx, float *out, long ldo, int kc,
                                            int tokens, int rows, int accumulate);
typedef void (*swiftllama_gemm_int8_fn)(int blockSize, int center, const uint8_t *packed, const float *scales,
                                        const float *biases, int blocks, const int8_t *xq, const float *xd,
                                        const float *xds, const int32_t *xsums, int tokens, float *out, long ldo,
                                        int nrows);
/// The int8 matrix-matrix kernel for Q2_K, Q3_K and Q6_K (sub-blocks of 16 with integer
/// scales): see `swiftllama_gemm_int8_k16` in CKernels.h.
typedef void (*swiftllama_gemm_int8_k16_fn)(int type, const uint8_t *packed, const int32_t *scales, const int32_t *pairs,
                                            const float *d, const float *dbias, int superblocks,
                                            const int8_t *xq, const float *xd, const int16_t *xsums, int tokens,
                                            float *out, long ldo, int nrows);
/// The int8 matrix-matrix kernel for Q4_K, Q5_K and IQ4_XS with activations per 256: see
/// `swiftllama_gemm_int8_k32` in CKernels.h.
typedef void (*swiftllama_gemm_int8_k32_fn)(int type, const uint8_t *packed, const float *scales, const int32_t *pairs,
                                            const float *dmin, int superblocks, const int8_t *xq, const float *xd,
                                            const int16_t *xsums, int tokens, float *out, long ldo, int nrows);

typedef struct swiftllama_kernel_set {
    /// "generic", "avx2", "avx512-256" or "avx512".
    const char *name;
    /// What the set needs and how it computes, for `llama --version`.
    const char *description;
    /// 2 when the two-row dots (`dot2_*`) are faster than two one-row calls (512-bit
    /// kernels that load two blocks per instruction); 1 when rows are best taken one by one.
    int rowsPerCall;
    swiftllama_dot32_fn dot_q8_0, dot_q4_0, dot_q4_1, dot_q5_0, dot_q5_1, dot_iq4_nl;
    swiftllama_dot2_fn dot2_q8_0, dot2_q4_0, dot2_q4_1, dot2_q5_0, dot2_q5_1, dot2_iq4_nl;
    swiftllama_dot256_fn dot_q2_K, dot_q3_K, dot_q4_K, dot_q5_K, dot_q6_K, dot_iq4_xs;
    void (*quantize_q8)(const float *x, int8_t *q, float *d, int blocks);
    void (*quantize_q8_K)(const float *x, int8_t *q, float *d, int16_t *sums, int superblocks);
    swiftllama_matvec_half_fn matvec_f16, matvec_bf16;
    /// Q4_0 and Q8_0 in the row-interleaved layout (groups of 8 rows).
    swiftllama_matvec_r8_fn matvec_q4_0_r8, matvec_q8_0_r8;
    /// Q2_K and Q3_K in their row-interleaved layouts (repack_k23.h).
    swiftllama_matvec_r8_fn matvec_q2_K_r8, matvec_q3_K_r8;
    /// Q4_1, Q5_0, Q5_1, IQ4_NL and IQ4_XS in their row-interleaved layouts (r8_legacy.h).
    swiftllama_matvec_r8_fn matvec_q4_1_r8, matvec_q5_0_r8, matvec_q5_1_r8, matvec_iq4_nl_r8, matvec_iq4_xs_r8;
    /// Q4_K, Q5_K and Q6_K in their row-interleaved layouts (repack_kquants.h), or NULL.
    swiftllama_matvec_r8_fn matvec_q4_K_r8, matvec_q5_K_r8, matvec_q6_K_r8;
    /// The int8 matrix-matrix kernel of prompt processing, or NULL (then prompts of
    /// quantized weights take the fp32 GEMM).
    swiftllama_gemm_int8_fn gemm_int8;
    /// The same for the K-quants with sub-blocks of 16, or NULL (set exactly when `gemm_int8` is).
    swiftllama_gemm_int8_k16_fn gemm_int8_k16;
    /// The same for Q4_K, Q5_K and IQ4_XS with activations per 256, or NULL (set exactly when `gemm_int8` is).
    swiftllama_gemm_int8_k32_fn gemm_int8_k32;
    /// F16 and BF16 in their row-interleaved layout (RepackHalf.h), or NULL.
    swiftllama_matvec_half_r8_fn matvec_f16_r8, matvec_bf16_r8;
    /// Their columns as fp32 GEMM panels (the prompts' packer).
    swiftllama_half_r8_panels_fn half_r8_panels;
    /// The fp32 GEMM's micro-kernel where Swift's (16-float vectors, 12 accumulators: made
    /// for 32 vector registers) would spill, or NULL (Swift's `gemmTile`).
    swiftllama_gemm_f32_tile_fn gemm_f32_tile;
} swiftllama_kernel_set;

#endif
