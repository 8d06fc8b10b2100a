// Q4_K, Q5_K and Q6_K in the row-interleaved layouts described in repack_kquants.h: each
// row's plain super-block moved to (or back from) its place in the group with 32-bit word
// operations (4–5 GB/s per thread back, so the prompt GEMMs' packers that read plain rows out
// of the layout add little to a prompt). Repacking runs once at load. The generic set's
// matrix-vector product decodes the layout value by value.
#include "repack_kquants.h"
#include "kernel_common.h"
#include <string.h>

enum { KQ_Q4_K = 12, KQ_Q5_K = 13, KQ_Q6_K = 14 };

int swiftllama_kq_r8_bytes(int type) {
    return type == KQ_Q4_K ? 144 : type == KQ_Q5_K ? 176 : type == KQ_Q6_K ? 210 : 0;
}

// One row's super-block, decoded (the generic kernel): values q (0…15, 0…31 or 0…63: Q6_K's
// are stored + 32), 6-bit scales and mins of 8 sub-blocks (Q4_K, Q5_K) or 16 int8 scales
// (Q6_K), the f16 bits of d and dmin.
typedef struct {
    uint8_t q[256];
    int sc[16], mn[8];
    uint8_t d[2], dmin[2];
} kq_block;

// Element index (within 32) of nibble register i (0…7: low nibbles of words 0–3, then their
// high nibbles) and byte k of a row's 4-byte word: the Q4_0 R8 order.
static inline int nibble_element(int i, int k) { return i < 4 ? 4 * i + k : 16 + 4 * (i - 4) + k; }

// Row r's super-block out of the group's super-block at o.
static void read_group(int type, const uint8_t *o, int r, kq_block *b) {
    if (type == KQ_Q6_K) {
        memcpy(b->d, o + 2 * r, 2);
        for (int j = 0; j < 16; j++) b->sc[j] = (int8_t)o[16 + 8 * j + r];
        for (int c = 0; c < 8; c++) {
            const uint8_t *chunk = o + 144 + 192 * c;
            uint8_t *q = b->q + 32 * c;
            for (int i = 0; i < 4; i++)
                for (int k = 0; k < 4; k++) {
                    const uint8_t byte = chunk[32 * i + 4 * r + k];
                    q[4 * i + k] = byte & 0x0F;
                    q[16 + 4 * i + k] = byte >> 4;
                }
            for (int h = 0; h < 2; h++)
                for (int k = 0; k < 4; k++)
                    for (int s = 0; s < 4; s++)
                        q[nibble_element(4 * h + s, k)] |= (uint8_t)(((chunk[128 + 32 * h + 4 * r + k] >> (2 * s)) & 3) << 4);
        }
        return;
    }
    const int five = type == KQ_Q5_K, sub = five ? 160 : 128;
    memcpy(b->d, o + 2 * r, 2);
    memcpy(b->dmin, o + 16 + 2 * r, 2);
    for (int j = 0; j < 8; j++) {
        const int k = (8 * j + r) % 32, upper = j >= 4;
        b->sc[j] = ((o[32 + k] >> (upper ? 4 : 0)) & 15) | (((o[96 + k] >> (upper ? 2 : 0)) & 3) << 4);
        b->mn[j] = ((o[64 + k] >> (upper ? 4 : 0)) & 15) | (((o[96 + k] >> (upper ? 6 : 4)) & 3) << 4);
    }
    for (int j = 0; j < 8; j++) {
        const uint8_t *s = o + 128 + sub * j;
        uint8_t *q = b->q + 32 * j;
        for (int i = 0; i < 4; i++)
            for (int k = 0; k < 4; k++) {
                const uint8_t byte = s[32 * i + 4 * r + k];
                q[4 * i + k] = byte & 0x0F;
                q[16 + 4 * i + k] = byte >> 4;
            }
        if (five)
            for (int k = 0; k < 4; k++)
                for (int i = 0; i < 8; i++) q[nibble_element(i, k)] |= (uint8_t)(((s[128 + 4 * r + k] >> i) & 1) << 4);
    }
}


static inline uint32_t load32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline void store32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

// Plain bytes of a pair of sub-blocks (or Q6_K chunks) whose values are the low (a) and high
// (b) nibbles of the plain bytes: word i of a row is elements 4i… (low) and 16 + 4i… (high).
static inline void nibble_pair_back(const uint8_t *a, const uint8_t *b, int r, uint8_t *dst) {
    for (int i = 0; i < 4; i++) {
        const uint32_t wa = load32(a + 32 * i + 4 * r), wb = load32(b + 32 * i + 4 * r);
        store32(dst + 4 * i, (wa & 0x0F0F0F0Fu) | ((wb & 0x0F0F0F0Fu) << 4));
        store32(dst + 16 + 4 * i, ((wa >> 4) & 0x0F0F0F0Fu) | (wb & 0xF0F0F0F0u));
    }
}

// Row r's plain super-block p into its place in the group's super-block at o, with 32-bit
// word operations (the inverse of swiftllama_kq_r8_block below).
static void write_row(int type, const uint8_t *p, int r, uint8_t *o) {
    if (type == KQ_Q6_K) {
        const uint8_t *ql = p, *qh = p + 128;
        memcpy(o + 2 * r, p + 208, 2);
        for (int j = 0; j < 16; j++) o[16 + 8 * j + r] = p[192 + j];
        for (int c = 0; c < 8; c++) {
            const int h = c / 4, quarter = c % 4;
            uint8_t *chunk = o + 144 + 192 * c;
            if (quarter < 2) {
                const uint8_t *src = ql + 64 * h + 32 * quarter;
                for (int i = 0; i < 4; i++) {
                    const uint32_t lo = load32(src + 4 * i), hi = load32(src + 16 + 4 * i);
                    store32(chunk + 32 * i + 4 * r, (lo & 0x0F0F0F0Fu) | ((hi & 0x0F0F0F0Fu) << 4));
                    store32(chunk + 384 + 32 * i + 4 * r, ((lo >> 4) & 0x0F0F0F0Fu) | (hi & 0xF0F0F0F0u));
                }
            }
            uint32_t h0 = 0, h1 = 0;
            for (int s = 0; s < 4; s++) {
                h0 |= ((load32(qh + 32 * h + 4 * s) >> (2 * quarter)) & 0x03030303u) << (2 * s);
                h1 |= ((load32(qh + 32 * h + 16 + 4 * s) >> (2 * quarter)) & 0x03030303u) << (2 * s);
            }
            store32(chunk + 128 + 4 * r, h0);
            store32(chunk + 160 + 4 * r, h1);
        }
        return;
    }
    const int five = type == KQ_Q5_K, sub = five ? 160 : 128;
    memcpy(o + 2 * r, p, 2);
    memcpy(o + 16 + 2 * r, p + 2, 2);
    for (int j = 0; j < 8; j++) {
        int sc, mn;
        q4_K_scale_min(j, p + 4, &sc, &mn);
        const int k = (8 * j + r) % 32, upper = j >= 4;
        // Each byte belongs to one row: the first sub-block to reach it (j < 4) sets it.
        const uint8_t low = (uint8_t)((sc & 15) << (upper ? 4 : 0)), lowm = (uint8_t)((mn & 15) << (upper ? 4 : 0));
        const uint8_t top = (uint8_t)(((sc >> 4) << (upper ? 2 : 0)) | ((mn >> 4) << (upper ? 6 : 4)));
        o[32 + k] = upper ? (uint8_t)(o[32 + k] | low) : low;
        o[64 + k] = upper ? (uint8_t)(o[64 + k] | lowm) : lowm;
        o[96 + k] = upper ? (uint8_t)(o[96 + k] | top) : top;
    }
    const uint8_t *qs = p + (five ? 48 : 16);
    for (int g = 0; g < 4; g++) {
        uint8_t *a = o + 128 + sub * 2 * g, *b = o + 128 + sub * (2 * g + 1);
        for (int i = 0; i < 4; i++) {
            const uint32_t lo = load32(qs + 32 * g + 4 * i), hi = load32(qs + 32 * g + 16 + 4 * i);
            store32(a + 32 * i + 4 * r, (lo & 0x0F0F0F0Fu) | ((hi & 0x0F0F0F0Fu) << 4));
            store32(b + 32 * i + 4 * r, ((lo >> 4) & 0x0F0F0F0Fu) | (hi & 0xF0F0F0F0u));
        }
    }
    if (five) {
        for (int j = 0; j < 8; j++) {
            uint32_t hb = 0;
            for (int i = 0; i < 8; i++) hb |= ((load32(p + 16 + 4 * i) >> j) & 0x01010101u) << i;
            store32(o + 128 + sub * j + 128 + 4 * r, hb);
        }
    }
}

void swiftllama_kq_repack_r8(int type, const void *src, void *dst, int groups, int superblocks) {
    const int bb = swiftllama_kq_r8_bytes(type);
    const long rowBytes = (long)bb * superblocks;
    for (long g = 0; g < groups; g++)
        for (int s = 0; s < superblocks; s++)
            for (int r = 0; r < 8; r++)
                write_row(type, (const uint8_t *)src + (8 * g + r) * rowBytes + (long)bb * s, r,
                          (uint8_t *)dst + (g * superblocks + s) * 8 * bb);
}

// Row r's plain super-block out of the group's super-block at o, with 32-bit word
// operations (the prompt GEMMs' packers read every row this way once per pass).
void swiftllama_kq_r8_block(int type, const void *packed, int superblocks, long row, int b, uint8_t *dst) {
    const int bb = swiftllama_kq_r8_bytes(type), r = (int)(row % 8);
    const uint8_t *o = (const uint8_t *)packed + (row / 8 * superblocks + b) * 8 * bb;
    if (type == KQ_Q6_K) {
        uint8_t *ql = dst, *qh = dst + 128;
        memset(qh, 0, 64);
        for (int c = 0; c < 8; c++) {
            const int h = c / 4, quarter = c % 4;
            const uint8_t *chunk = o + 144 + 192 * c;
            // Chunks c and c + 2 share their plain low-bit bytes (low and high nibbles).
            if (quarter < 2) nibble_pair_back(chunk, chunk + 384, r, ql + 64 * h + 32 * quarter);
            const uint32_t h0 = load32(chunk + 128 + 4 * r), h1 = load32(chunk + 160 + 4 * r);
            for (int s = 0; s < 4; s++) {
                uint8_t *w0 = qh + 32 * h + 4 * s, *w1 = qh + 32 * h + 16 + 4 * s;
                store32(w0, load32(w0) | (((h0 >> (2 * s)) & 0x03030303u) << (2 * quarter)));
                store32(w1, load32(w1) | (((h1 >> (2 * s)) & 0x03030303u) << (2 * quarter)));
            }
        }
        for (int j = 0; j < 16; j++) dst[192 + j] = o[16 + 8 * j + r];
        memcpy(dst + 208, o + 2 * r, 2);
        return;
    }
    const int five = type == KQ_Q5_K, sub = five ? 160 : 128;
    kq_block scales;
    memcpy(scales.d, o + 2 * r, 2);
    memcpy(scales.dmin, o + 16 + 2 * r, 2);
    for (int j = 0; j < 8; j++) {
        const int k = (8 * j + r) % 32, upper = j >= 4;
        scales.sc[j] = ((o[32 + k] >> (upper ? 4 : 0)) & 15) | (((o[96 + k] >> (upper ? 2 : 0)) & 3) << 4);
        scales.mn[j] = ((o[64 + k] >> (upper ? 4 : 0)) & 15) | (((o[96 + k] >> (upper ? 6 : 4)) & 3) << 4);
    }
    memcpy(dst, scales.d, 2);
    memcpy(dst + 2, scales.dmin, 2);
    uint8_t *s = dst + 4;
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)((scales.sc[j] & 63) | ((scales.sc[j + 4] >> 4) << 6));
        s[j + 4] = (uint8_t)((scales.mn[j] & 63) | ((scales.mn[j + 4] >> 4) << 6));
        s[j + 8] = (uint8_t)((scales.sc[j + 4] & 15) | ((scales.mn[j + 4] & 15) << 4));
    }
    uint8_t *qs = dst + (five ? 48 : 16);
    for (int g = 0; g < 4; g++) nibble_pair_back(o + 128 + sub * 2 * g, o + 128 + sub * (2 * g + 1), r, qs + 32 * g);
    if (five) {
        // Plain qh[l] holds bit j for element l of sub-block j; the layout's fifth-bit word of
        // sub-block j holds bit i for the element of nibble register i, i.e. plain word i.
        uint32_t qh[8] = {0, 0, 0, 0, 0, 0, 0, 0};
        for (int j = 0; j < 8; j++) {
            const uint32_t hb = load32(o + 128 + sub * j + 128 + 4 * r);
            for (int i = 0; i < 8; i++) qh[i] |= ((hb >> i) & 0x01010101u) << j;
        }
        for (int i = 0; i < 8; i++) store32(dst + 16 + 4 * i, qh[i]);
    }
}

void swiftllama_kq_matvec_r8_generic(int type, const void *w, int groups, int blocks, const int8_t *xq, const float *xd,
                                     const int32_t *xs, int tokens, float *out, long ldo) {
    const int superblocks = blocks / 8, bb = swiftllama_kq_r8_bytes(type);
    kq_block b;
    for (int g = 0; g < groups; g++) {
        float acc[8][8] = {{0}};
        for (int s = 0; s < superblocks; s++) {
            const uint8_t *o = (const uint8_t *)w + ((long)g * superblocks + s) * 8 * bb;
            for (int r = 0; r < 8; r++) {
                read_group(type, o, r, &b);
                const float d = half_bits_to_float(b.d), dmin = type == KQ_Q6_K ? 0 : half_bits_to_float(b.dmin);
                for (int t = 0; t < tokens; t++) {
                    for (int j = 0; j < 8; j++) {
                        const long blk = (long)blocks * t + 8 * s + j;
                        const int8_t *x = xq + 32 * blk;
                        const uint8_t *q = b.q + 32 * j;
                        if (type == KQ_Q6_K) {
                            int h0 = 0, h1 = 0;
                            for (int i = 0; i < 16; i++) {
                                h0 += (q[i] - 32) * x[i];
                                h1 += (q[16 + i] - 32) * x[16 + i];
                            }
                            acc[t][r] += (float)(b.sc[2 * j] * h0 + b.sc[2 * j + 1] * h1) * (d * xd[blk]);
                        } else {
                            int sum = 0;
                            for (int i = 0; i < 32; i++) sum += q[i] * x[i];
                            acc[t][r] += (float)sum * (d * (float)b.sc[j] * xd[blk]) - dmin * (float)b.mn[j] * (xd[blk] * (float)xs[blk]);
                        }
                    }
                }
            }
        }
        for (int t = 0; t < tokens; t++)
            for (int r = 0; r < 8; r++) out[ldo * t + 8L * g + r] = acc[t][r];
    }
}
