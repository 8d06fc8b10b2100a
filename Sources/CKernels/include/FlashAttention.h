// Attention with an online softmax ("flash attention" on the CPU): a tile of queries against
// blocks of 32 cached keys at a time, the scores of a block in L1, a running max and sum per
// query, and the output rescaled as the max grows. No score row of the whole context is
// written. Cache element types as Attention.h.
#ifndef SWIFTLLAMA_FLASH_ATTENTION_H
#define SWIFTLLAMA_FLASH_ATTENTION_H

/// Keys per block (blocks start at positions that are multiples of it).
enum { SWIFTLLAMA_FLASH_KEYS = 32, SWIFTLLAMA_FLASH_QUERIES = 32 };

/// Floats of scratch `swiftllama_flash_attention` needs for heads of `headDim`.
long swiftllama_flash_scratch_floats(int headDim);

/// Attention of `rows` consecutive positions p0, p0+1, … of one sequence, for `heads` query
/// heads that share one key/value head, over positions [from, to) of the cache:
///   query (r, j) at q + r·qRowStride + j·headDim sees positions lo_r … p0+r, where
///   lo_r = window > 0 ? max(0, p0 + r + 1 − window) : 0, intersected with [from, to);
///   the cache's position t starts t·kvStride elements after `keys` (`values`), of `type`.
/// score = scale · q·k, then softCap · tanh(score / softCap) when softCap > 0.
/// When `partialMax` is NULL, out (same layout as q with oRowStride) gets the softmax-weighted
/// sum of the values. Otherwise the unnormalized state goes out for a later merge
/// (`swiftllama_flash_merge`): partialMax[v], partialSum[v] and out[v] = Σ exp(s − max)·value
/// for query v = r·heads + j (a query that sees no position gets max −∞, sum 0, out 0).
/// Each query's result depends only on its own row and the cache, not on `rows`, `heads` or
/// which other queries share the call. `scratch`: swiftllama_flash_scratch_floats floats.
void swiftllama_flash_attention(const float *q, long qRowStride, int rows, int heads, const void *keys, const void *values,
                                int type, long kvStride, int headDim, long p0, long window, long from, long to, float scale,
                                float softCap, float *out, long oRowStride, float *partialMax, float *partialSum,
                                float *scratch);

/// Merges `parts` partial states of `queries` queries in order 0, 1, …: part i of query v
/// has its output at o + i·partStride + v·headDim, its max at max[i·partStride + v] and its
/// sum at sum[i·partStride + v]. The normalized result goes to out + r·oRowStride + j·headDim
/// (v = r·heads + j).
void swiftllama_flash_merge(int parts, int queries, int heads, int headDim, const float *o, const float *max, const float *sum,
                            long partStride, float *out, long oRowStride);

#endif
