// Attention over a KV cache: the scores of a few query heads that share one key/value head
// against the cached keys, and the probability-weighted sum of the cached values.
#ifndef SWIFTLLAMA_ATTENTION_H
#define SWIFTLLAMA_ATTENTION_H

#include <stdint.h>

/// Element types of cached keys and values: fp32, IEEE half, or llama.cpp's Q8_0 blocks (34
/// bytes per 32 elements: an IEEE-half scale d, then 32 int8s q; the element is d·q). Strides
/// and offsets count elements whatever the type; for Q8_0 they and headDim are multiples of
/// 32, element e living in block e/32.
enum { SWIFTLLAMA_CACHE_F32 = 0, SWIFTLLAMA_CACHE_F16 = 1, SWIFTLLAMA_CACHE_Q8_0 = 2 };

/// att[j·attStride + t] = scale · Σ_d q[j·qStride + d] · key_t[d] for j < heads, t < count,
/// where key_t starts `t·kStride` elements after `keys` (any cache type; half and Q8_0 keys
/// are widened to fp32 first, so a Q8_0 score is q · (d·q_key) summed like an fp32 one). Each score is
/// summed the same way whatever `heads` and `count` are (eight-lane FMA chains over d, then
/// one fixed reduction), so a query scores the same alone or with its group. `scratch`
/// holds 8·headDim floats (half keys are widened there once for all the heads).
void swiftllama_attention_scores(const float *q, long qStride, int heads, const void *keys, int keyType, long kStride,
                                 int count, int headDim, float scale, float *att, long attStride, float *scratch);

/// out[j·oStride + d] = Σ_t att[j·attStride + t] · value_t[d] for j < heads, d < headDim,
/// each output an FMA chain over t in order (value_t as key_t above). `scratch` holds
/// 8·headDim floats.
void swiftllama_attention_values(const float *att, long attStride, int heads, const void *values, int valueType, long vStride,
                                 int count, int headDim, float *out, long oStride, float *scratch);

/// `32·blocks` floats to Q8_0 blocks as llama.cpp's quantize_row_q8_0_ref does: per block
/// d = max|x|/127, q = round-half-away(x·(1/d)) (0 when d is 0), d stored as an IEEE half.
void swiftllama_floats_to_q8_0(const float *x, void *blocks, long blocks32);

/// `count` floats to IEEE halves (round to nearest even), and back.
void swiftllama_floats_to_halves(const float *x, uint16_t *h, long count);
void swiftllama_halves_to_floats(const uint16_t *h, float *x, long count);

#endif
