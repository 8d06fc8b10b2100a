// The row-interleaved layouts of Q4_1, Q5_0, Q5_1, IQ4_NL and IQ4_XS (r8_legacy.h): repacking
// at load, plain blocks back for the readers of rows, and the generic set's plain loops.
#include "r8_legacy.h"
#include "kernel_common.h"
#include <string.h>
#if defined(__BMI2__)
#include <immintrin.h>
#endif

// The shape of a type's block: `halves` f16 fields, `words` 4-byte fields, `quants` nibble
// bytes (per row), `elements` per block.
typedef struct { int halves, words, quants, elements; } r8_shape;

static int r8_shape_of(int type, r8_shape *s) {
    switch (type) {
    case 3: *s = (r8_shape){2, 0, 16, 32}; return 1;    // Q4_1: d, m, qs
    case 6: *s = (r8_shape){1, 1, 16, 32}; return 1;    // Q5_0: d, qh, qs
    case 7: *s = (r8_shape){2, 1, 16, 32}; return 1;    // Q5_1: d, m, qh, qs
    case 20: *s = (r8_shape){1, 0, 16, 32}; return 1;   // IQ4_NL: d, qs
    case 23: *s = (r8_shape){2, 1, 128, 256}; return 1; // IQ4_XS: d, scales_h, scales_l, qs
    default: return 0;
    }
}

static int r8_bytes(r8_shape s) { return 2 * s.halves + 4 * s.words + s.quants; }

int swiftllama_r8_legacy_supports(int type) {
    r8_shape s;
    return r8_shape_of(type, &s);
}

int swiftllama_r8_legacy_block_bytes(int type) {
    r8_shape s;
    return r8_shape_of(type, &s) ? r8_bytes(s) : 0;
}

// Q5 high bits: bit e of the plain word is element e's; bit k of byte j of the stored word
// is element 4k + j's (byte j gathers every 4th bit from bit j). `back` undoes it.
static inline uint32_t q5_high_bits(uint32_t h, int back) {
    uint32_t o = 0;
#if defined(__BMI2__)
    for (int j = 0; j < 4; j++) {
        if (back) o |= _pdep_u32((h >> (8 * j)) & 0xFF, 0x11111111u << j);
        else o |= _pext_u32(h, 0x11111111u << j) << (8 * j);
    }
#else
    for (int k = 0; k < 8; k++) {
        for (int j = 0; j < 4; j++) {
            const int e = 4 * k + j, t = 8 * j + k;
            if (back) o |= ((h >> t) & 1u) << e;
            else o |= ((h >> e) & 1u) << t;
        }
    }
#endif
    return o;
}

static void put_block(int type, r8_shape s, const uint8_t *plain, uint8_t *o, int r) {
    for (int f = 0; f < s.halves; f++) memcpy(o + 16 * f + 2 * r, plain + 2 * f, 2);
    const uint8_t *w = plain + 2 * s.halves;
    uint8_t *wo = o + 16 * s.halves;
    for (int f = 0; f < s.words; f++) {
        uint32_t v;
        memcpy(&v, w + 4 * f, 4);
        if (type == 6 || type == 7) v = q5_high_bits(v, 0);
        memcpy(wo + 32 * f + 4 * r, &v, 4);
    }
    const uint8_t *q = w + 4 * s.words;
    uint8_t *qo = wo + 32 * s.words;
    for (int i = 0; i < s.quants / 4; i++) memcpy(qo + 32 * i + 4 * r, q + 4 * i, 4);
}

void swiftllama_r8_legacy_repack(int type, const void *src, void *dst, int groups, int blocks) {
    r8_shape s;
    if (!r8_shape_of(type, &s)) return;
    const int bb = r8_bytes(s);
    const long rowBytes = (long)bb * blocks;
    for (long g = 0; g < groups; g++)
        for (int b = 0; b < blocks; b++)
            for (int r = 0; r < 8; r++)
                put_block(type, s, (const uint8_t *)src + (8 * g + r) * rowBytes + (long)bb * b,
                          (uint8_t *)dst + (g * blocks + b) * 8 * bb, r);
}

void swiftllama_r8_legacy_block(int type, const void *packed, int blocks, long row, int b, uint8_t *dst) {
    r8_shape s;
    if (!r8_shape_of(type, &s)) return;
    const int bb = r8_bytes(s), r = (int)(row % 8);
    const uint8_t *p = (const uint8_t *)packed + ((row / 8) * blocks + b) * 8 * bb;
    for (int f = 0; f < s.halves; f++) memcpy(dst + 2 * f, p + 16 * f + 2 * r, 2);
    uint8_t *w = dst + 2 * s.halves;
    const uint8_t *wp = p + 16 * s.halves;
    for (int f = 0; f < s.words; f++) {
        uint32_t v;
        memcpy(&v, wp + 32 * f + 4 * r, 4);
        if (type == 6 || type == 7) v = q5_high_bits(v, 1);
        memcpy(w + 4 * f, &v, 4);
    }
    uint8_t *q = w + 4 * s.words;
    const uint8_t *qp = wp + 32 * s.words;
    for (int i = 0; i < s.quants / 4; i++) memcpy(q + 4 * i, qp + 32 * i + 4 * r, 4);
}

void swiftllama_r8_legacy_row(int type, const void *packed, int blocks, long row, int b0, int count, uint8_t *dst) {
    r8_shape s;
    if (!r8_shape_of(type, &s)) return;
    const int bb = r8_bytes(s), r = (int)(row % 8), q5 = type == 6 || type == 7;
    const uint8_t *p = (const uint8_t *)packed + ((row / 8) * blocks + b0) * 8 * bb;
    for (int b = 0; b < count; b++, p += 8 * bb, dst += bb) {
        for (int f = 0; f < s.halves; f++) memcpy(dst + 2 * f, p + 16 * f + 2 * r, 2);
        uint8_t *w = dst + 2 * s.halves;
        const uint8_t *wp = p + 16 * s.halves;
        for (int f = 0; f < s.words; f++) {
            uint32_t v;
            memcpy(&v, wp + 32 * f + 4 * r, 4);
            if (q5) v = q5_high_bits(v, 1);
            memcpy(w + 4 * f, &v, 4);
        }
        uint8_t *q = w + 4 * s.words;
        const uint8_t *qp = wp + 32 * s.words + 4 * r;
        if (s.quants == 16) {
            for (int i = 0; i < 4; i++) memcpy(q + 4 * i, qp + 32 * i, 4);
        } else {
            for (int i = 0; i < s.quants / 4; i++) memcpy(q + 4 * i, qp + 32 * i, 4);
        }
    }
}

// ---- The generic set's kernels: each row's plain block read back, then the plain sums ----

// Σ q·x of the 32 quantized values of block `j` (of 32) of plain block `p` with `x` (32
// int8), where q is what the kernels multiply: the nibble (Q4_1), the 5-bit value (Q5_0,
// Q5_1: q − 16 for Q5_0 is the caller's −16·Σx), the table value (IQ4_NL, IQ4_XS).
static int block_sum(int type, const uint8_t *p, int j, const int8_t *x) {
    int s = 0;
    switch (type) {
    case 3:
        for (int i = 0; i < 16; i++) s += (p[4 + i] & 0x0F) * x[i] + (p[4 + i] >> 4) * x[16 + i];
        break;
    case 6:
    case 7: {
        const int o = type == 6 ? 2 : 4;
        uint32_t h;
        memcpy(&h, p + o, 4);
        for (int i = 0; i < 16; i++) {
            s += ((p[o + 4 + i] & 0x0F) | (int)(((h >> i) & 1) << 4)) * x[i];
            s += ((p[o + 4 + i] >> 4) | (int)(((h >> (16 + i)) & 1) << 4)) * x[16 + i];
        }
        break;
    }
    case 20:
        for (int i = 0; i < 16; i++) s += iq4_values[p[2 + i] & 0x0F] * x[i] + iq4_values[p[2 + i] >> 4] * x[16 + i];
        break;
    case 23: {
        const uint8_t *q = p + 8 + 16 * j;
        for (int i = 0; i < 16; i++) s += iq4_values[q[i] & 0x0F] * x[i] + iq4_values[q[i] >> 4] * x[16 + i];
        break;
    }
    }
    return s;
}

static void matvec_legacy_r8(int type, const void *w, int groups, int blocks, const int8_t *xq, const float *xd,
                             const int32_t *xs, int tokens, float *out, long ldo) {
    r8_shape s;
    if (!r8_shape_of(type, &s)) return;
    const int per = s.elements / 32, typeBlocks = blocks / per;
    uint8_t plain[136];
    for (int g = 0; g < groups; g++) {
        for (int r = 0; r < 8; r++) {
            const long row = 8L * g + r;
            for (int t = 0; t < tokens; t++) {
                const int8_t *x = xq + 32L * blocks * t;
                const float *dx = xd + (long)blocks * t;
                const int32_t *sx = xs + (long)blocks * t;
                float acc = 0;
                for (int b = 0; b < typeBlocks; b++) {
                    swiftllama_r8_legacy_block(type, w, typeBlocks, row, b, plain);
                    const float d = half_bits_to_float(plain);
                    for (int j = 0; j < per; j++) {
                        const long k = (long)per * b + j;
                        int sum = block_sum(type, plain, j, x + 32 * k);
                        if (type == 6) sum -= 16 * sx[k];
                        const float scale = type == 23 ? d * (float)(iq4_xs_scale(j, plain) - 32) : d;
                        acc += (float)sum * (scale * dx[k]);
                        if (type == 3 || type == 7) acc += half_bits_to_float(plain + 2) * (dx[k] * (float)sx[k]);
                    }
                }
                out[ldo * t + row] = acc;
            }
        }
    }
}

void swiftllama_matvec_q4_1_r8_generic(const void *w, int groups, int blocks, const int8_t *xq, const float *xd,
                                       const int32_t *xs, int tokens, float *out, long ldo) {
    matvec_legacy_r8(3, w, groups, blocks, xq, xd, xs, tokens, out, ldo);
}
void swiftllama_matvec_q5_0_r8_generic(const void *w, int groups, int blocks, const int8_t *xq, const float *xd,
                                       const int32_t *xs, int tokens, float *out, long ldo) {
    matvec_legacy_r8(6, w, groups, blocks, xq, xd, xs, tokens, out, ldo);
}
void swiftllama_matvec_q5_1_r8_generic(const void *w, int groups, int blocks, const int8_t *xq, const float *xd,
                                       const int32_t *xs, int tokens, float *out, long ldo) {
    matvec_legacy_r8(7, w, groups, blocks, xq, xd, xs, tokens, out, ldo);
}
void swiftllama_matvec_iq4_nl_r8_generic(const void *w, int groups, int blocks, const int8_t *xq, const float *xd,
                                         const int32_t *xs, int tokens, float *out, long ldo) {
    matvec_legacy_r8(20, w, groups, blocks, xq, xd, xs, tokens, out, ldo);
}
void swiftllama_matvec_iq4_xs_r8_generic(const void *w, int groups, int blocks, const int8_t *xq, const float *xd,
                                         const int32_t *xs, int tokens, float *out, long ldo) {
    matvec_legacy_r8(23, w, groups, blocks, xq, xd, xs, tokens, out, ldo);
}
