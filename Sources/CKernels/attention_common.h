// What the attention kernels (Attention.c, FlashAttention.c) share about the cache's layouts.
#ifndef SWIFTLLAMA_ATTENTION_COMMON_H
#define SWIFTLLAMA_ATTENTION_COMMON_H

#include "Attention.h"

// Element `at` of a cache of `type` (fp32, IEEE half, or Q8_0 blocks of 32: an fp16 scale and
// 32 int8s) as a float: the plain loops' and the widening steps' one reader.
static inline float swiftllama_cache_element(const void *base, int type, long at) {
    if (type == SWIFTLLAMA_CACHE_Q8_0) {
        const uint8_t *b = (const uint8_t *)base + (at >> 5) * 34;
        uint16_t h = (uint16_t)(b[0] | (b[1] << 8));
        float d;
        swiftllama_halves_to_floats(&h, &d, 1);
        return d * (float)(int8_t)b[2 + (at & 31)];
    }
    if (type == SWIFTLLAMA_CACHE_F16) {
        uint16_t h = ((const uint16_t *)base)[at];
        float f;
        swiftllama_halves_to_floats(&h, &f, 1);
        return f;
    }
    return ((const float *)base)[at];
}

#endif
