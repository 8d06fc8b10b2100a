// Q4_K, Q5_K and Q6_K in the row-interleaved layouts described in repack_kquants.h: each
// plain super-block is decoded to its 256 unsigned values and its scales, then written to
// (or read from) its row's place in the group. Repacking runs once at load; reading back
// serves embedding lookups and the prompt GEMMs' packers.
#include "repack_kquants.h"
#include "kernel_common.h"
#include <string.h>

enum { KQ_Q4_K = 12, KQ_Q5_K = 13, KQ_Q6_K = 14 };

int swiftllama_kq_r8_bytes(int type) {
    return type == KQ_Q4_K ? 144 : type == KQ_Q5_K ? 176 : type == KQ_Q6_K ? 210 : 0;
}

// One row's super-block, decoded: values q (0…15, 0…31 or 0…63: Q6_K's are stored + 32),
// 6-bit scales and mins of 8 sub-blocks (Q4_K, Q5_K) or 16 int8 scales (Q6_K), the f16 bits
// of d and dmin.
typedef struct {
    uint8_t q[256];
    int sc[16], mn[8];
    uint8_t d[2], dmin[2];
} kq_block;

static void decode_plain(int type, const uint8_t *p, kq_block *b) {
    if (type == KQ_Q6_K) {
        const uint8_t *ql = p, *qh = p + 128;
        for (int e = 0; e < 256; e++) {
            const int h = e / 128, quarter = (e % 128) / 32, l = e % 32;
            const uint8_t low = ql[64 * h + l + 32 * (quarter & 1)];
            b->q[e] = (uint8_t)(((quarter >= 2 ? low >> 4 : low) & 0x0F) | (((qh[32 * h + l] >> (2 * quarter)) & 3) << 4));
        }
        for (int j = 0; j < 16; j++) b->sc[j] = (int8_t)p[192 + j];
        memcpy(b->d, p + 208, 2);
        return;
    }
    memcpy(b->d, p, 2);
    memcpy(b->dmin, p + 2, 2);
    for (int j = 0; j < 8; j++) q4_K_scale_min(j, p + 4, &b->sc[j], &b->mn[j]);
    const uint8_t *qs = p + (type == KQ_Q5_K ? 48 : 16);
    for (int e = 0; e < 256; e++) {
        const int j = e / 32, l = e % 32;
        const uint8_t byte = qs[32 * (j / 2) + l];
        b->q[e] = (uint8_t)((j & 1) ? byte >> 4 : byte & 0x0F);
        if (type == KQ_Q5_K) b->q[e] |= (uint8_t)(((p[16 + l] >> j) & 1) << 4);
    }
}

static void encode_plain(int type, const kq_block *b, uint8_t *p) {
    if (type == KQ_Q6_K) {
        uint8_t *ql = p, *qh = p + 128;
        memset(p, 0, 192);
        for (int e = 0; e < 256; e++) {
            const int h = e / 128, quarter = (e % 128) / 32, l = e % 32;
            ql[64 * h + l + 32 * (quarter & 1)] |= (uint8_t)((b->q[e] & 0x0F) << (quarter >= 2 ? 4 : 0));
            qh[32 * h + l] |= (uint8_t)((b->q[e] >> 4) << (2 * quarter));
        }
        for (int j = 0; j < 16; j++) p[192 + j] = (uint8_t)(int8_t)b->sc[j];
        memcpy(p + 208, b->d, 2);
        return;
    }
    memcpy(p, b->d, 2);
    memcpy(p + 2, b->dmin, 2);
    uint8_t *s = p + 4;
    for (int j = 0; j < 4; j++) {
        s[j] = (uint8_t)((b->sc[j] & 63) | ((b->sc[j + 4] >> 4) << 6));
        s[j + 4] = (uint8_t)((b->mn[j] & 63) | ((b->mn[j + 4] >> 4) << 6));
        s[j + 8] = (uint8_t)((b->sc[j + 4] & 15) | ((b->mn[j + 4] & 15) << 4));
    }
    const int five = type == KQ_Q5_K;
    uint8_t *qs = p + (five ? 48 : 16);
    memset(qs, 0, 128);
    if (five) memset(p + 16, 0, 32);
    for (int e = 0; e < 256; e++) {
        const int j = e / 32, l = e % 32;
        qs[32 * (j / 2) + l] |= (uint8_t)((b->q[e] & 0x0F) << ((j & 1) ? 4 : 0));
        if (five) p[16 + l] |= (uint8_t)(((b->q[e] >> 4) & 1) << j);
    }
}

// Element index (within 32) of nibble register i (0…7: low nibbles of words 0–3, then their
// high nibbles) and byte k of a row's 4-byte word: the Q4_0 R8 order.
static inline int nibble_element(int i, int k) { return i < 4 ? 4 * i + k : 16 + 4 * (i - 4) + k; }

// The 8 rows' super-blocks b[0…7] into the group's super-block at o.
static void write_group(int type, const kq_block *b, uint8_t *o) {
    if (type == KQ_Q6_K) {
        for (int r = 0; r < 8; r++) {
            memcpy(o + 2 * r, b[r].d, 2);
            for (int j = 0; j < 16; j++) o[16 + 8 * j + r] = (uint8_t)(int8_t)b[r].sc[j];
        }
        for (int c = 0; c < 8; c++) {
            uint8_t *chunk = o + 144 + 192 * c;
            for (int r = 0; r < 8; r++) {
                const uint8_t *q = b[r].q + 32 * c;
                for (int i = 0; i < 4; i++)
                    for (int k = 0; k < 4; k++)
                        chunk[32 * i + 4 * r + k] = (uint8_t)((q[4 * i + k] & 0x0F) | ((q[16 + 4 * i + k] & 0x0F) << 4));
                for (int h = 0; h < 2; h++)
                    for (int k = 0; k < 4; k++) {
                        uint8_t bits = 0;
                        for (int s = 0; s < 4; s++) bits |= (uint8_t)((q[nibble_element(4 * h + s, k)] >> 4) << (2 * s));
                        chunk[128 + 32 * h + 4 * r + k] = bits;
                    }
            }
        }
        return;
    }
    const int five = type == KQ_Q5_K, sub = five ? 160 : 128;
    memset(o + 32, 0, 96);
    for (int r = 0; r < 8; r++) {
        memcpy(o + 2 * r, b[r].d, 2);
        memcpy(o + 16 + 2 * r, b[r].dmin, 2);
        for (int j = 0; j < 8; j++) {
            const int k = (8 * j + r) % 32, upper = j >= 4;
            o[32 + k] |= (uint8_t)((b[r].sc[j] & 15) << (upper ? 4 : 0));
            o[64 + k] |= (uint8_t)((b[r].mn[j] & 15) << (upper ? 4 : 0));
            o[96 + k] |= (uint8_t)(((b[r].sc[j] >> 4) << (upper ? 2 : 0)) | ((b[r].mn[j] >> 4) << (upper ? 6 : 4)));
        }
        for (int j = 0; j < 8; j++) {
            uint8_t *s = o + 128 + sub * j;
            const uint8_t *q = b[r].q + 32 * j;
            for (int i = 0; i < 4; i++)
                for (int k = 0; k < 4; k++) s[32 * i + 4 * r + k] = (uint8_t)((q[4 * i + k] & 0x0F) | ((q[16 + 4 * i + k] & 0x0F) << 4));
            if (five)
                for (int k = 0; k < 4; k++) {
                    uint8_t bits = 0;
                    for (int i = 0; i < 8; i++) bits |= (uint8_t)(((q[nibble_element(i, k)] >> 4) & 1) << i);
                    s[128 + 4 * r + k] = bits;
                }
        }
    }
}

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

void swiftllama_kq_repack_r8(int type, const void *src, void *dst, int groups, int superblocks) {
    const int bb = swiftllama_kq_r8_bytes(type);
    const long rowBytes = (long)bb * superblocks;
    kq_block b[8];
    for (long g = 0; g < groups; g++) {
        for (int s = 0; s < superblocks; s++) {
            for (int r = 0; r < 8; r++) decode_plain(type, (const uint8_t *)src + (8 * g + r) * rowBytes + (long)bb * s, &b[r]);
            write_group(type, b, (uint8_t *)dst + (g * superblocks + s) * 8 * bb);
        }
    }
}

void swiftllama_kq_r8_block(int type, const void *packed, int superblocks, long row, int b, uint8_t *dst) {
    const int bb = swiftllama_kq_r8_bytes(type);
    kq_block block;
    read_group(type, (const uint8_t *)packed + (row / 8 * superblocks + b) * 8 * bb, (int)(row % 8), &block);
    encode_plain(type, &block, dst);
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
