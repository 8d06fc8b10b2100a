// Row-interleaved layouts of Q2_K and Q3_K (layouts in repack_k23.h): the repacking at load,
// the plain super-blocks back, and the generic set's plain-loop kernels.
#include "repack_k23.h"
#include "kernel_common.h"
#include <string.h>

int swiftllama_k23_block_bytes(int type) { return type == 10 ? 84 : type == 11 ? 110 : 0; }

// One super-block of one row between its plain bytes `p` and its place in the group's
// interleaved super-block `o` (row r): `toPlain` picks the direction.
static void k23_move(int type, uint8_t *p, uint8_t *o, int r, int toPlain) {
#define MOVE(plain, packed, n) (toPlain ? memcpy((plain), (packed), (n)) : memcpy((packed), (plain), (n)))
    if (type == 10) {
        MOVE(p + 80, o + 2 * r, 2);
        MOVE(p + 82, o + 16 + 2 * r, 2);
        for (int c = 0; c < 8; c++) MOVE(p + 2 * c, o + 32 + 16 * c + 2 * r, 2);
        for (int i = 0; i < 16; i++) MOVE(p + 16 + 4 * i, o + 160 + 32 * i + 4 * r, 4);
    } else {
        MOVE(p + 108, o + 2 * r, 2);
        for (int m = 0; m < 12; m++) MOVE(p + 96 + m, o + 16 + 8 * m + r, 1);
        for (int i = 0; i < 8; i++) MOVE(p + 4 * i, o + 112 + 32 * i + 4 * r, 4);
        for (int i = 0; i < 16; i++) MOVE(p + 32 + 4 * i, o + 368 + 32 * i + 4 * r, 4);
    }
#undef MOVE
}

void swiftllama_k23_repack(int type, const void *src, void *dst, int groups, int blocks) {
    const int bb = swiftllama_k23_block_bytes(type);
    const long rowBytes = (long)bb * blocks;
    for (long g = 0; g < groups; g++)
        for (int b = 0; b < blocks; b++) {
            uint8_t *o = (uint8_t *)dst + (g * blocks + b) * 8 * bb;
            for (int r = 0; r < 8; r++) k23_move(type, (uint8_t *)src + (8 * g + r) * rowBytes + (long)bb * b, o, r, 0);
        }
}

void swiftllama_k23_block(int type, const void *packed, int blocks, long row, int b, uint8_t *dst) {
    const int bb = swiftllama_k23_block_bytes(type);
    const uint8_t *o = (const uint8_t *)packed + ((row / 8) * blocks + b) * 8 * bb;
    k23_move(type, dst, (uint8_t *)o, (int)(row % 8), 1);
}

// The kernels in plain loops over the plain super-blocks read back: the same integer sums as
// the x86 kernels (per block of 32 c: Σ over its two sub-blocks j of scale_j·Σ u·x, and
// Q2_K's Σ min_j·Σ x), the float steps in the same order per token.
static void matvec_k23_generic(int type, const void *w, int groups, int blocks, const int8_t *xq, const float *xd,
                               int tokens, float *out, long ldo) {
    const int superblocks = blocks / 8, isQ3 = type == 11;
    uint8_t p[110];
    for (int g = 0; g < groups; g++)
        for (int r = 0; r < 8; r++)
            for (int t = 0; t < tokens; t++) {
                float acc = 0;
                for (int s = 0; s < superblocks; s++) {
                    swiftllama_k23_block(type, w, superblocks, 8L * g + r, s, p);
                    const int8_t *x = xq + 32L * blocks * t + 256 * s;
                    const float *xds = xd + (long)blocks * t + 8 * s;
                    float fd = 0, fm = 0;
                    for (int c = 0; c < 8; c++) {
                        const int n = c / 4, k = c % 4;
                        int32_t isum = 0, msum = 0;
                        for (int e = 0; e < 2; e++) {
                            const int j = 2 * c + e;
                            int32_t dot = 0, sum = 0;
                            for (int l = 16 * e; l < 16 * e + 16; l++) {
                                int u = (p[(isQ3 ? 32 : 16) + 32 * n + l] >> (2 * k)) & 3;
                                if (isQ3) u |= ((p[l] >> (4 * n + k)) & 1) << 2;
                                dot += u * x[32 * c + l];
                                sum += x[32 * c + l];
                            }
                            if (isQ3) {
                                isum += (q3_K_scale(j, p + 96) - 32) * (dot - 4 * sum);
                            } else {
                                isum += (p[j] & 0x0F) * dot;
                                msum += (p[j] >> 4) * sum;
                            }
                        }
                        fd += (float)isum * xds[c];
                        fm += (float)msum * xds[c];
                    }
                    acc += half_bits_to_float(p + (isQ3 ? 108 : 80)) * fd;
                    if (!isQ3) acc -= half_bits_to_float(p + 82) * fm;
                }
                out[ldo * t + 8L * g + r] = acc;
            }
}

void swiftllama_matvec_q2_K_r8_generic(const void *w, int groups, int blocks, const int8_t *xq, const float *xd,
                                       const int32_t *xs, int tokens, float *out, long ldo) {
    (void)xs;
    matvec_k23_generic(10, w, groups, blocks, xq, xd, tokens, out, ldo);
}

void swiftllama_matvec_q3_K_r8_generic(const void *w, int groups, int blocks, const int8_t *xq, const float *xd,
                                       const int32_t *xs, int tokens, float *out, long ldo) {
    (void)xs;
    matvec_k23_generic(11, w, groups, blocks, xq, xd, tokens, out, ldo);
}
