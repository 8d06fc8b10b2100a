// The few kernels Swift cannot express well: int8 dot products of quantized weight blocks
// with 8-bit activations (matrix-vector and, with AVX-512 VNNI, matrix-matrix), the
// activation quantizers, and a prefetch. Built with -march=native: one vpdpbusd per 32 byte
// products where the CPU has VNNI.
//
// Why C: the same kernels written with Swift SIMD types (Sources/Llama/Kernels/Dot.swift,
// kept as the portable reference) compile to sign-extensions, vpmullw and 32-bit adds, and
// the Q4_0 nibble unpacking to vpinsrb/vpextrb element moves: no vpmaddubsw/vpmaddwd.
// Measured on the 1.24B model (2 threads): tg 5.8 tok/s for Q8_0 and 0.11 for Q4_0 with
// the Swift versions. Swift has no spelling for a pairwise multiply-add of bytes, so
// the dot products are intrinsics; the quantizers are too because Swift's SIMD max, select
// and narrowing conversions compile lane by lane (10-14% of a 512-token prompt), and Swift
// has no prefetch. Everything around them stays Swift.
#ifndef SWIFTLLAMA_CKERNELS_H
#define SWIFTLLAMA_CKERNELS_H

#include <stddef.h>
#include <stdint.h>
#include "CKernelSet.h"

/// The kernel set this process uses (chosen once, on first use, from CPUID or
/// LLAMA_KERNELS=generic|avx2|avx512-256|avx512), and why it was chosen.
const swiftllama_kernel_set *swiftllama_kernels(void);
const char *swiftllama_kernels_reason(void);
/// Every compiled set, whether or not this CPU runs it (`swiftllama_kernel_set_runs_here`);
/// tests call each set the CPU runs directly.
int swiftllama_kernel_set_count(void);
const swiftllama_kernel_set *swiftllama_kernel_set_at(int i);
int swiftllama_kernel_set_runs_here(const swiftllama_kernel_set *set);

// The entry points below call the selected set's kernels.

/// Σ over `blocks` blocks of 32: w_d · x_d · Σ w_q·x_q, for Q8_0 weight blocks (34 bytes:
/// f16 scale, 32 int8) at `w` and activations `xq` (int8) with one float scale per block.
float swiftllama_dot_q8_0(const void *w, const int8_t *xq, const float *xd, int blocks);

/// The same for Q4_0 weight blocks (18 bytes: f16 scale, 16 bytes of nibbles; byte j
/// holds element j low and element j+16 high; value = nibble − 8).
float swiftllama_dot_q4_0(const void *w, const int8_t *xq, const float *xd, int blocks);
/// Dot of a Q4_1 row (blocks of 20 bytes: d, m, nibbles) with activations quantized per 32.
float swiftllama_dot_q4_1(const void *w, const int8_t *xq, const float *xd, int blocks);
/// Dots of Q5_0 (22-byte blocks: d, qh, nibbles) and Q5_1 (24: d, m, qh, nibbles) rows.
float swiftllama_dot_q5_0(const void *w, const int8_t *xq, const float *xd, int blocks);
float swiftllama_dot_q5_1(const void *w, const int8_t *xq, const float *xd, int blocks);

/// `swiftllama_dot_q8_0` / `_q4_0` of two rows with the same activations, into out[0], out[1].
void swiftllama_dot2_q8_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]);
void swiftllama_dot2_q4_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]);
/// Two rows of Q4_1, Q5_0 or Q5_1 with the same activations.
void swiftllama_dot2_q4_1(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]);
void swiftllama_dot2_q5_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]);
void swiftllama_dot2_q5_1(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]);

/// Σ over `superblocks` super-blocks of 256 for Q4_K weights (144 bytes: d, dmin, 12 bytes
/// of 6-bit sub-block scales and mins, 128 bytes of nibbles) against activations quantized
/// per 256 (`xq` int8, one float scale `xd` per 256, `xsums` the int16 sum of each 16).
float swiftllama_dot_q4_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks);

/// The same for Q6_K weights (210 bytes: 128 low-nibble bytes, 64 bytes of high 2-bit
/// pairs, 16 int8 sub-block scales, f16 d; value = d·scale·(q − 32)).
float swiftllama_dot_q6_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks);

/// The same for Q2_K (84 bytes: 16 scale/min nibble pairs, 64 bytes of 2-bit values, d,
/// dmin), Q3_K (110 bytes: 32 bytes of high bits, 64 of 2-bit values, 12 of 6-bit scales, d),
/// Q5_K (176 bytes: Q4_K's with 32 bytes of fifth bits before the nibbles) and IQ4_XS (136
/// bytes: d, 16 bits of scale high bits, 4 bytes of scale nibbles, 128 of table indices).
float swiftllama_dot_q2_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks);
float swiftllama_dot_q3_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks);
float swiftllama_dot_q5_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks);
float swiftllama_dot_iq4_xs(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks);

/// IQ4_NL (18-byte blocks of 32: d, 16 bytes of table indices laid out as Q4_0's nibbles)
/// against activations quantized per 32; one row, and two rows sharing the activations.
float swiftllama_dot_iq4_nl(const void *w, const int8_t *xq, const float *xd, int blocks);
void swiftllama_dot2_iq4_nl(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]);

/// Quantizes `32 × blocks` floats to int8 per block of 32: d[b] = max|x|/127, q = round(x/d),
/// ties to even.
void swiftllama_quantize_q8(const float *x, int8_t *q, float *d, int blocks);

/// The same per super-block of 256 (one scale each), with the sum of every 16 quantized
/// values in `sums` (16 per super-block).
void swiftllama_quantize_q8_K(const float *x, int8_t *q, float *d, int16_t *sums, int superblocks);

/// Asks for `bytes` at `p` to be brought into cache (one prefetch per 64-byte line): Swift
/// has no spelling for a prefetch, and generation's matrix-vector products read each row
/// once, so they request the next rows while computing the current ones.
void swiftllama_prefetch(const void *p, long bytes);

/// 1 when the selected set has the int8 matrix-matrix kernel (AVX-512 with VNNI); 0 when
/// `swiftllama_gemm_int8` is plain loops and callers should use the fp32 path.
int swiftllama_has_int8_gemm(void);

/// Elements per packed block for `type`: 16 (Q2_K, Q3_K, Q6_K) or 32 (the others).
int swiftllama_int8_block_size(int type);

/// Packs `nrows` (≤ 16) rows of Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K,
/// IQ4_NL or IQ4_XS weights (`type`: the GGML type id) of `blocks` blocks of `swiftllama_int8_block_size(type)` elements for
/// `swiftllama_gemm_int8`: per block, size/4 groups of 16 rows × 4 unsigned bytes (at
/// `packed + 16·size·b`), the 16 rows' scales at `scales + 16·b` and biases at
/// `biases + 16·b`, where weight = scale·u − bias. Rows past `nrows` are zero.
void swiftllama_pack_int8(int type, const void *rows, long rowBytes, int nrows, int blocks,
                          uint8_t *packed, float *scales, float *biases);

/// Tokens t0…t0+count−1 quantized per 32 (`rows`: count rows of 32·blocks int8, `scales`:
/// count rows of one per block) into `swiftllama_gemm_int8`'s block-major arrays for `tokens`
/// tokens (blockSize 32): their blocks, scales, sums of quantized values and sums times scales.
void swiftllama_int8_scatter_tokens(const int8_t *rows, const float *scales, int blocks, int tokens, int t0, int count,
                                    int8_t *xq, float *xd, float *xds, int32_t *xsums);

/// The c with bias = c·scale exactly for every block of `type` (Q8_0, IQ4_NL, IQ4_XS 128;
/// Q5_0 16; Q4_0 8; Q6_K 32; Q3_K 4), or 0 (a bias of its own: Q4_1, Q5_1, Q2_K, Q4_K, Q5_K).
int swiftllama_int8_center(int type);

/// out[t·ldo + j] = Σ_b Σ_i W[j, size·b+i]·x[t, size·b+i] for t < tokens, j < nrows (≤ 32),
/// from tiles packed by `swiftllama_pack_int8` (blocks of `blockSize` = 32 or 16): rows 0…15
/// at `packed`, `scales`, `biases`, and rows 16…31 (when nrows > 16) in a second tile right
/// after the first (`packed + 16·blockSize·blocks`, `scales + 16·blocks`, `biases + 16·blocks`).
/// Activations quantized to int8, block-major: token t's block b at `xq + (b·tokens + t)·size`
/// (size = blockSize bytes), and at `b·tokens + t` its scale `xd`, its sum of quantized values
/// `xsums` and that sum times the scale `xds`. With `center` = `swiftllama_int8_center(type)` > 0 the biases are center·scale and
/// go into the integer sums (−center·xsums): `biases` and `xds` are not read (may be NULL);
/// with 0, `xsums` is not read.
void swiftllama_gemm_int8(int blockSize, int center, const uint8_t *packed, const float *scales, const float *biases,
                          int blocks, const int8_t *xq, const float *xd, const float *xds, const int32_t *xsums,
                          int tokens, float *out, long ldo, int nrows);

// ---- The int8 GEMM for the K-quants with sub-blocks of 16 (Q2_K, Q3_K, Q6_K) ----
// Their 16 sub-block scales are small integers under one fp16 scale per super-block of 256,
// so the product of a super-block stays in int32: per sub-block j, S_j = Σ u·q (vpdpbusd,
// u the unsigned stored value, q the activation quantized per 256 as Q8_K), then
// I = Σ_j sc_j·S_j (vpdpwssd, or vpmulld for Q6_K whose S_j exceed int16) and
// M = Σ_j b_j·Σq_j (vpdpwssd on pairs of sub-blocks, Σq_j the activation's sums of 16),
// and one float step per super-block and token: xd·(d·I − dbias·M). The weights are
// d·sc_j·u − dbias·b_j: Q2_K sc_j, b_j = the 4-bit scale and min (dbias = dmin);
// Q3_K sc_j = scale − 32, b_j = 4·sc_j (dbias = d); Q6_K sc_j = the int8 scale, b_j = 32·sc_j
// (dbias = d). Exact in the weights; one float rounding per super-block instead of per 16.

/// Packs `nrows` (≤ 16) rows of `superblocks` super-blocks of Q2_K (10), Q3_K (11) or Q6_K (14)
/// for `swiftllama_gemm_int8_k16`. Per super-block s: the unsigned values at
/// `packed + 4096·s` as 64 groups of 16 rows × 4 bytes (elements 4g…4g+3 of row r at
/// 64·g + 4·r); the sub-block scales at `scales + 256·s + 16·j` (row r in lane r; as the low
/// int16 of the lane with a zero high half, except Q6_K: the int32); the bias pairs at
/// `pairs + 128·s + 16·p` (lane r: b_{2p} in the low int16, b_{2p+1} in the high); `d` and
/// `dbias` at `16·s + r`. Rows past `nrows` are zero.
void swiftllama_pack_int8_k16(int type, const void *rows, long rowBytes, int nrows, int superblocks,
                              uint8_t *packed, int32_t *scales, int32_t *pairs, float *d, float *dbias);

/// out[t·ldo + j] = Σ_c W[j, c]·x[t, c] for t < tokens, j < nrows (≤ 16), from a tile packed
/// by `swiftllama_pack_int8_k16` and activations quantized per 256 (`swiftllama_quantize_q8_K`:
/// `xq` tokens × 256·superblocks, `xd` tokens × superblocks, `xsums` tokens × 16·superblocks).
void swiftllama_gemm_int8_k16(int type, const uint8_t *packed, const int32_t *scales, const int32_t *pairs,
                              const float *d, const float *dbias, int superblocks,
                              const int8_t *xq, const float *xd, const int16_t *xsums, int tokens,
                              float *out, long ldo, int nrows);

// ---- The int8 GEMM for Q4_K, Q5_K and IQ4_XS with activations per 256 ("K32") ----
// The tile of `swiftllama_pack_int8` (blocks of 32: the unsigned values and the float scale
// d·sc_j per row; its float biases are not read), with the activations quantized per 256
// (`swiftllama_quantize_q8_K`), so the float step is one fma per sub-block of 32 into a sum
// per super-block, multiplied by xd once per 256. Biases in integers: IQ4_XS's weight is
// scale·(u − 128), so the sub-block's int32 sum starts at −128·Σq; Q4_K/Q5_K's is
// d·sc_j·u − dmin·m_j, so M = Σ_j m_j·Σq_j (vpdpwssd on pairs of sub-blocks) and one
// xd·dmin·M per super-block. Exact in the weights.

/// The mins of Q4_K (12) / Q5_K (13) rows for `swiftllama_gemm_int8_k32`: per super-block s
/// and row r < nrows (≤ 16), `pairs[64·s + 16·q + r]` = m_{2q} in the low int16 and m_{2q+1}
/// in the high, and `dmin[16·s + r]`. Rows past `nrows` are zero. Other types: nothing.
void swiftllama_pack_int8_k32_mins(int type, const void *rows, long rowBytes, int nrows, int superblocks,
                                   int32_t *pairs, float *dmin);

/// out[t·ldo + j] = Σ_c W[j, c]·x[t, c] for t < tokens, j < nrows (≤ 32), W of type Q4_K (12),
/// Q5_K (13) or IQ4_XS (23) packed by `swiftllama_pack_int8` (`packed`, `scales`) and, for
/// Q4_K/Q5_K, `swiftllama_pack_int8_k32_mins` (`pairs`, `dmin`; unused for IQ4_XS): rows 0…15,
/// and rows 16…31 (nrows > 16) in a second tile right after the first (`packed + 4096·S`,
/// `scales + 128·S`, `pairs + 64·S`, `dmin + 16·S` for S = superblocks); and
/// activations quantized per 256: `xq` tokens × 256·superblocks, `xd` tokens × superblocks,
/// `xsums` the sums of each 32 quantized values, tokens × 8·superblocks.
void swiftllama_gemm_int8_k32(int type, const uint8_t *packed, const float *scales, const int32_t *pairs,
                              const float *dmin, int superblocks, const int8_t *xq, const float *xd,
                              const int16_t *xsums, int tokens, float *out, long ldo, int nrows);

// ---- Row-interleaved ("R8") layouts, made once at model load (Kernels/Repack.swift) ----
// Rows are taken 8 at a time. For each block index b of a group of 8 rows: the 8 rows' f16
// scales (16 bytes), then the quantized bytes as 4-byte words interleaved by row: word i of
// row r (its bytes 4i…4i+3) at 16 + 32·i + 4·r. One 256-bit load then holds 4 consecutive
// bytes of each of the 8 rows, and one 4-byte activation broadcast feeds one u8·s8 product
// for all 8 rows, each row's sum in its own int32 lane. Q4_0 (type 2): 16 nibble bytes per
// row (low nibbles: elements 4i…4i+3, high: 16+4i…), stored as they are (value + 8). Q8_0
// (type 8): 32 bytes per row stored as q + 128 (unsigned). A group takes exactly the bytes
// of its 8 plain rows, at the same offset.
// Q4_K, Q5_K, Q6_K (types 12–14): per super-block of 256 and group, the 8 rows' f16 scales,
// their 6-bit (or int8) sub-block scales gathered per sub-block, then per 32 columns the
// same 4-byte words of nibbles as Q4_0 plus the fifth / top two bits (repack_kquants.h).

/// True (1) for the types with a row-interleaved layout: Q4_0, Q8_0 (here); Q4_1, Q5_0, Q5_1,
/// IQ4_NL, IQ4_XS (r8_legacy.h); Q4_K, Q5_K, Q6_K (repack_kquants.h); Q2_K, Q3_K (repack_k23.h).
int swiftllama_r8_supports(int type);
/// Repacks `groups` groups of 8 plain rows of `blocks` blocks (at `src`, rows contiguous)
/// into the row-interleaved layout at `dst` (the same number of bytes). Here and below,
/// `blocks` and block indices count the type's own blocks: 32 elements (Q4_0, Q8_0, Q4_1,
/// Q5_0, Q5_1, IQ4_NL), 256 (the K-quants, IQ4_XS). Each type with a layout adds its case to
/// `swiftllama_r8_supports`, `swiftllama_repack_r8` and `swiftllama_r8_block`
/// (CKernels.c): readers that want plain rows (embedding lookups, the prompt GEMMs' packers)
/// get them back through `swiftllama_r8_row`.
void swiftllama_repack_r8(int type, const void *src, void *dst, int groups, int blocks);
/// Block `b` of row `row` of a row-interleaved matrix of `blocks` blocks per row, as the
/// plain block bytes (18 for Q4_0, 34 for Q8_0) at `dst`.
void swiftllama_r8_block(int type, const void *packed, int blocks, long row, int b, uint8_t *dst);
/// `count` plain blocks from block `b0` of row `row` of a row-interleaved matrix, at `dst`.
void swiftllama_r8_row(int type, const void *packed, int blocks, long row, int b0, int count, uint8_t *dst);
/// The sum of each block's 32 int8 values: sums[b] = Σ xq[32·b + i].
void swiftllama_block_sums(const int8_t *xq, int blocks, int32_t *sums);
/// `swiftllama_pack_int8` for `nrows` (≤ 16) rows from row `row0` (a multiple of 8) of a
/// row-interleaved matrix of `blocks` blocks per row.
void swiftllama_pack_int8_r8(int type, const void *packed, long row0, int nrows, int blocks,
                             uint8_t *tile, float *scales, float *biases);

/// The instruction-set extensions the target's baseline was compiled for (the kernel sets
/// add theirs per function), space-separated
/// (" AVX2 FMA F16C AVX512F …"), for `llama --version`.
const char *swiftllama_compiled_features(void);

/// Slots of `swiftllama_scratch`: each caller that may be running on a thread while another
/// holds its buffer takes its own slot (Sources/Llama/Kernels/Scratch.swift names them).
#define SWIFTLLAMA_SCRATCH_SLOTS 4
/// A buffer of at least `bytes` bytes (64-byte aligned) owned by the calling thread and
/// `slot`, kept for the next call (contents not preserved when it grows) and freed when the
/// thread ends; NULL if memory runs out or `slot` is out of range.
void *swiftllama_scratch(int slot, size_t bytes);

// The attention kernels live in their own file.
#include "Attention.h"
#include "FlashAttention.h"
// So does the BF16 prompt GEMM.
#include "GEMMBF16.h"
// And the row-interleaved F16 / BF16 layout.
#include "RepackHalf.h"
// And the packers of the training model's bf16 products.
#include "TrainingBF16.h"

#endif
