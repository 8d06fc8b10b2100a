// Attention over a KV cache: the scores of a few query heads that share one key/value head
// against the cached keys, and the probability-weighted sum of the cached values.
#ifndef SWIFTLLAMA_ATTENTION_H
#define SWIFTLLAMA_ATTENTION_H

#include <stdint.h>

/// Element types of cached keys and values.
enum { SWIFTLLAMA_CACHE_F32 = 0, SWIFTLLAMA_CACHE_F16 = 1 };

/// att[j·attStride + t] = scale · Σ_d q[j·qStride + d] · key_t[d] for j < heads, t < count,
/// where key_t starts `t·kStride` elements after `keys` (fp32 or IEEE half). Each score is
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

/// `count` floats to IEEE halves (round to nearest even), and back.
void swiftllama_floats_to_halves(const float *x, uint16_t *h, long count);
void swiftllama_halves_to_floats(const uint16_t *h, float *x, long count);

#endif
