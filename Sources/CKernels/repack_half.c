// The row-interleaved layout of F16 and BF16 weights (RepackHalf.h): repacking at load and
// plain halves back for the readers of rows (embedding lookups, the prompt GEMMs' packers).
#include "RepackHalf.h"
#include "kernel_common.h"
#include <string.h>

int swiftllama_half_r8_supports(int type) { return type == 1 || type == 30; }

void swiftllama_half_r8_repack(const void *src, void *dst, int groups, int cols) {
    const long pairs = cols / 2, rowWords = pairs;
    for (long g = 0; g < groups; g++) {
        // Byte copies of 4: the checkpoint's rows need not be 4-byte aligned (safetensors).
        const uint8_t *rows = (const uint8_t *)src + 32 * g * rowWords;
        uint8_t *o = (uint8_t *)dst + 32 * g * rowWords;
        for (long p = 0; p < pairs; p++)
            for (int r = 0; r < 8; r++) memcpy(o + 4 * (8 * p + r), rows + 4 * (r * rowWords + p), 4);
    }
}

void swiftllama_half_r8_row(const void *packed, int cols, long row, int c0, int count, uint8_t *dst) {
    const long pairs = cols / 2, g = row / 8;
    const int r = (int)(row % 8);
    const uint8_t *base = (const uint8_t *)packed + 32 * g * pairs;
    if (c0 % 2 == 0 && count % 2 == 0) {
        // Whole words: one 4-byte copy per column pair.
        const uint8_t *w = base + 4 * (8 * (c0 / 2) + r);
        for (int i = 0; i < count / 2; i++) memcpy(dst + 4 * i, w + 32L * i, 4);
        return;
    }
    for (int i = 0; i < count; i++) {
        const long c = c0 + i;
        memcpy(dst + 2 * i, base + 2 * (2 * (8 * (c / 2) + r) + (c & 1)), 2);
    }
}

// The generic set's kernels: plain loops, each token's 8 row sums in pair order.
static void matvec_half_r8_generic(int bf16, const void *w, int groups, int cols, const float *x, long ldx, int tokens,
                                   float *out, long ldo) {
    const long pairs = cols / 2;
    for (long g = 0; g < groups; g++) {
        const uint8_t *p = (const uint8_t *)w + 32 * g * pairs;
        for (int t = 0; t < tokens; t++) {
            const float *xt = x + ldx * t;
            float acc[8] = {0};
            for (long k = 0; k < pairs; k++)
                for (int r = 0; r < 8; r++) {
                    const uint8_t *v = p + 32 * k + 4 * r;
                    acc[r] += half_value(v, bf16) * xt[2 * k] + half_value(v + 2, bf16) * xt[2 * k + 1];
                }
            for (int r = 0; r < 8; r++) out[ldo * t + 8 * g + r] = acc[r];
        }
    }
}

void swiftllama_matvec_f16_r8_generic(const void *w, int groups, int cols, const float *x, long ldx, int tokens,
                                      float *out, long ldo) {
    matvec_half_r8_generic(0, w, groups, cols, x, ldx, tokens, out, ldo);
}

void swiftllama_matvec_bf16_r8_generic(const void *w, int groups, int cols, const float *x, long ldx, int tokens,
                                       float *out, long ldo) {
    matvec_half_r8_generic(1, w, groups, cols, x, ldx, tokens, out, ldo);
}

void swiftllama_half_r8_panels_generic(int bf16, const void *w, int cols, long group0, int groups, int k0, int kc,
                                       float *dst) {
    const long pairs = cols / 2;
    const int panels = (groups + 3) / 4;
    for (int g = 0; g < 4 * panels; g++) {
        float *o = dst + (long)(g / 4) * 32 * kc + 8 * (g % 4);
        const uint8_t *src = (const uint8_t *)w + 32 * (group0 + g) * pairs + 16L * k0;
        for (int k = 0; k < kc; k++)
            for (int r = 0; r < 8; r++)
                o[32L * k + r] = g < groups ? half_value(src + 32L * (k / 2) + 4 * r + 2 * (k & 1), bf16) : 0.0f;
    }
}
