// Block-layout helpers shared by the kernel sets (private to CKernels).
#ifndef SWIFTLLAMA_KERNEL_COMMON_H
#define SWIFTLLAMA_KERNEL_COMMON_H

#include <stdint.h>
#include <string.h>
#include "CKernelSet.h"


// Scale and min of sub-block j of a Q4_K super-block (6 bits each, packed in 12 bytes):
// sub-blocks 0–3 use the low 6 bits of bytes j and j+4; 4–7 take their low 4 bits from
// byte j+4 and their top 2 bits from the spare bits of bytes j−4 / j.
static inline void q4_K_scale_min(int j, const uint8_t *q, int *scale, int *min) {
    if (j < 4) {
        *scale = q[j] & 63;
        *min = q[j + 4] & 63;
    } else {
        *scale = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4);
        *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// The IQ4_NL / IQ4_XS nibble values (ggml's kvalues_iq4nl), and the same plus 128 as
// unsigned bytes for the u8·s8 products.
static const int8_t iq4_values[16] __attribute__((unused)) = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
static const uint8_t iq4_unsigned[16] __attribute__((unused)) = {1, 24, 45, 63, 79, 93, 106, 118, 129, 141, 153, 166, 181, 197, 217, 241};

// The 6-bit scale (stored + 32) of sub-block j of a Q3_K super-block from its 12 bytes:
// low 4 bits in nibble j / 8 of byte j % 8, top 2 bits at bit 2·(j / 4) of byte 8 + j % 4.
static inline int q3_K_scale(int j, const uint8_t *q) {
    const int low = j < 8 ? (q[j] & 0x0F) : (q[j - 8] >> 4);
    return low | (((q[8 + j % 4] >> (2 * (j / 4))) & 3) << 4);
}

// The 6-bit scale (stored + 32) of block ib of an IQ4_XS super-block.
static inline int iq4_xs_scale(int ib, const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p + 2, 2);
    return ((p[4 + ib / 2] >> (4 * (ib % 2))) & 0x0F) | (((h >> (2 * ib)) & 3) << 4);
}
// fp16 bits → float without F16C (the generic set and the packers).
static inline float half_bits_to_float(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
    if (exp == 0) {
        float f = (float)mant / 16777216.0f;  // subnormal: mant · 2^-24
        return sign ? -f : f;
    } else if (exp == 31) {
        bits = sign | 0x7F800000u | (mant << 13);
    } else {
        bits = sign | ((exp + 112) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// One F16 (bf16 = 0) or BF16 (bf16 = 1) element as a float (the generic set and the packers).
static inline float half_value(const uint8_t *p, int bf16) {
    if (!bf16) return half_bits_to_float(p);
    uint16_t h;
    memcpy(&h, p, 2);
    const uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// Elements per packed block of each type: 32, or 16 for Q2_K, Q3_K and Q6_K, whose scales
// are per 16.
static inline int int8_block_size(int type) { return (type == 14 || type == 10 || type == 11) ? 16 : 32; }

// The unsigned values, scale and bias of block b of one row (weight = scale·u − bias), for
// the int8 packer and the generic dots (CKernels.c).
__attribute__((visibility("hidden"))) void swiftllama_int8_block(int type, const uint8_t *row, int b, uint8_t u[32], float *scale, float *bias);

// The sets (kernels_*.c); the x86 ones exist only on x86-64.
extern const swiftllama_kernel_set swiftllama_set_generic;
#if defined(__x86_64__)
extern const swiftllama_kernel_set swiftllama_set_avx2, swiftllama_set_avx512_256, swiftllama_set_avx512;
#endif

#endif
