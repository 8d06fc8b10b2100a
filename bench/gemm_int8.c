// The int8 prompt GEMM alone, per weight type: packing (`swiftllama_pack_int8`) and the
// multiply (`swiftllama_gemm_int8`) of a 2048 × 2048 matrix by 512 tokens, one thread, CPU
// time, best of the passes; prints ns per weight for each and the whole product in GMAC/s
// (multiply-adds of weights × tokens per second), and the same for the K16 layout (Q2_K, Q3_K,
// Q6_K) and the K32 kernel (Q4_K, Q5_K, IQ4_XS), checked against the per-block path.
// Built and run by bench/gemm_int8.sh.
#include "CKernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ROWS = 2048, COLS = 2048, TOKENS = 512 };

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct { const char *name; int id; long rowBytes; } Type;

// The largest |out − ref| over n values, and the largest |ref| in *maxRef.
static double max_diff(const float *out, const float *ref, int n, double *maxRef) {
    double maxDiff = 0;
    *maxRef = 0;
    for (int i = 0; i < n; i++) {
        const double e = out[i] > ref[i] ? out[i] - ref[i] : ref[i] - out[i], a = ref[i] > 0 ? ref[i] : -ref[i];
        if (e > maxDiff) maxDiff = e;
        if (a > *maxRef) *maxRef = a;
    }
    return maxDiff;
}

static const Type types[] = {
    {"q8_0", 8, COLS / 32 * 34}, {"q4_0", 2, COLS / 32 * 18}, {"q4_1", 3, COLS / 32 * 20},
    {"q5_0", 6, COLS / 32 * 22}, {"q5_1", 7, COLS / 32 * 24}, {"iq4_nl", 20, COLS / 32 * 18},
    {"q2_K", 10, COLS / 256 * 84}, {"q3_K", 11, COLS / 256 * 110}, {"q4_K", 12, COLS / 256 * 144},
    {"q5_K", 13, COLS / 256 * 176}, {"q6_K", 14, COLS / 256 * 210}, {"iq4_xs", 23, COLS / 256 * 136},
};

int main(int argc, char **argv) {
    const int passes = argc > 1 ? atoi(argv[1]) : 2;
    const char *only = argc > 2 ? argv[2] : NULL;
    uint8_t *w = malloc((size_t)ROWS * (COLS / 32 * 34));
    int8_t *xq = malloc((size_t)TOKENS * COLS);
    float *xd = malloc(sizeof(float) * TOKENS * COLS / 16), *xds = malloc(sizeof(float) * TOKENS * COLS / 16);
    float *out = malloc(sizeof(float) * TOKENS * ROWS);
    // Two tiles of 16 rows (the 32-row step of GEMM.swift's `gemmInt8`).
    uint8_t *packed = malloc((size_t)32 * COLS);
    float *scales = malloc(sizeof(float) * 2 * COLS), *biases = malloc(sizeof(float) * 2 * COLS);
    // The same activations block-major for `swiftllama_gemm_int8`.
    int8_t *xqb = malloc((size_t)TOKENS * COLS);
    float *xdb = malloc(sizeof(float) * TOKENS * COLS / 16), *xdsb = malloc(sizeof(float) * TOKENS * COLS / 16);
    int32_t *xsumsb = malloc(sizeof(int32_t) * TOKENS * COLS / 16);
    unsigned s = 1;
    for (size_t i = 0; i < (size_t)ROWS * (COLS / 32 * 34); i++) { s = s * 1103515245u + 12345u; w[i] = (uint8_t)(s >> 16); }
    // Small normal f16 scales where the formats keep them: every byte's high bits cleared of NaN/inf
    // patterns by masking to 0x3B (a half between 0 and 1 for any pair).
    for (size_t i = 0; i < (size_t)ROWS * (COLS / 32 * 34); i++) if ((i & 1) == 1) w[i] &= 0x3B;
    for (size_t i = 0; i < (size_t)TOKENS * COLS; i++) { s = s * 1103515245u + 12345u; xq[i] = (int8_t)((s >> 16) % 255 - 127); }
    // One activation scale for every block, so both layouts compute the same sums: per 16
    // (the per-block path's xds) and per 256 (the K16 path's xsums).
    int16_t *xsums = malloc(sizeof(int16_t) * TOKENS * COLS / 16);
    float *xd256 = malloc(sizeof(float) * TOKENS * COLS / 256);
    float *ref = malloc(sizeof(float) * TOKENS * ROWS);
    int32_t *kscales = malloc(sizeof(int32_t) * COLS), *kpairs = malloc(sizeof(int32_t) * COLS / 2);
    float *kd = malloc(sizeof(float) * COLS / 16), *kdb = malloc(sizeof(float) * COLS / 16);
    for (int i = 0; i < TOKENS * COLS / 16; i++) {
        int sum = 0;
        for (int k = 0; k < 16; k++) sum += xq[16 * i + k];
        xsums[i] = (int16_t)sum;
        xd[i] = 0.01f;
    }
    for (int i = 0; i < TOKENS * COLS / 256; i++) xd256[i] = 0.01f;
    int16_t *xsums32 = malloc(sizeof(int16_t) * TOKENS * COLS / 32);
    for (int i = 0; i < TOKENS * COLS / 32; i++) xsums32[i] = (int16_t)(xsums[2 * i] + xsums[2 * i + 1]);
    int32_t *mpairs = malloc(sizeof(int32_t) * COLS / 2);
    float *dmin = malloc(sizeof(float) * COLS / 8);
    printf("kernel set: %s\n| type | pack ns/weight | multiply ns/weight | GMAC/s |\n| --- | ---: | ---: | ---: |\n", swiftllama_kernels()->name);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const Type *t = &types[ti];
        if (only && strcmp(only, t->name) != 0) continue;
        const int size = swiftllama_int8_block_size(t->id), blocks = COLS / size;
        const int center = swiftllama_int8_center(t->id);
        const long tile = (long)16 * size * blocks;
        for (int i = 0; i < TOKENS * blocks; i++) {
            int sum = 0;
            for (int k = 0; k < size; k++) sum += xq[size * i + k];
            xds[i] = 0.01f * (float)sum;
            const int t = i / blocks, b = i % blocks;
            memcpy(xqb + ((long)b * TOKENS + t) * size, xq + (long)size * i, size);
            xdb[b * TOKENS + t] = xd[i];
            xdsb[b * TOKENS + t] = xds[i];
            xsumsb[b * TOKENS + t] = sum;
        }
        double bestPack = 1e9, bestMul = 1e9;
        for (int p = 0; p < passes; p++) {
            double pack = 0, mul = 0;
            for (int r0 = 0; r0 < ROWS; r0 += 32) {
                double t0 = cpu_now();
                for (int h = 0; h < 2; h++)
                    swiftllama_pack_int8(t->id, w + (long)(r0 + 16 * h) * t->rowBytes, t->rowBytes, 16, blocks,
                                         packed + h * tile, scales + h * 16 * blocks, biases + h * 16 * blocks);
                double t1 = cpu_now();
                swiftllama_gemm_int8(size, center, packed, scales, biases, blocks, xqb, xdb, xdsb, xsumsb, TOKENS, out + r0, ROWS, 32);
                double t2 = cpu_now();
                pack += t1 - t0;
                mul += t2 - t1;
            }
            if (pack < bestPack) bestPack = pack;
            if (mul < bestMul) bestMul = mul;
        }
        const double n = (double)ROWS * COLS;
        printf("| %s | %.2f | %.2f | %.1f |\n", t->name, bestPack / n * 1e9, bestMul / n * 1e9,
               n * TOKENS / (bestPack + bestMul) / 1e9);
        if (t->id == 2 || t->id == 8) {
            // The row-interleaved layout of the same matrix (Q4_0 and Q8_0 as loaded): packing only.
            uint8_t *r8 = malloc((size_t)ROWS * t->rowBytes);
            swiftllama_repack_r8(t->id, w, r8, ROWS / 8, blocks);
            bestPack = 1e9;
            for (int p = 0; p < passes; p++) {
                double pack = 0;
                for (int r0 = 0; r0 < ROWS; r0 += 16) {
                    double t0 = cpu_now();
                    swiftllama_pack_int8_r8(t->id, r8, r0, 16, blocks, packed, scales, biases);
                    pack += cpu_now() - t0;
                }
                if (pack < bestPack) bestPack = pack;
            }
            // Same tiles as the plain rows: the product must not change.
            memcpy(ref, out, sizeof(float) * TOKENS * ROWS);
            for (int h = 0; h < 2; h++)
                swiftllama_pack_int8_r8(t->id, r8, ROWS - 32 + 16 * h, 16, blocks, packed + h * tile, scales + h * 16 * blocks,
                                        biases + h * 16 * blocks);
            swiftllama_gemm_int8(size, center, packed, scales, biases, blocks, xqb, xdb, xdsb, xsumsb, TOKENS, out + ROWS - 32, ROWS, 32);
            printf("| %s R8 | %.2f | | | (last tile %s)\n", t->name, bestPack / n * 1e9,
                   memcmp(ref, out, sizeof(float) * TOKENS * ROWS) == 0 ? "identical" : "DIFFERS");
            free(r8);
        }
        if (t->id == 12 || t->id == 13 || t->id == 23) {
            // The K32 kernel of the same tiles (activations per 256; one scale everywhere here).
            memcpy(ref, out, sizeof(float) * TOKENS * ROWS);
            bestPack = bestMul = 1e9;
            for (int p = 0; p < passes; p++) {
                double pack = 0, mul = 0;
                for (int r0 = 0; r0 < ROWS; r0 += 32) {
                    double t0 = cpu_now();
                    for (int h = 0; h < 2; h++) {
                        const uint8_t *rows = w + (long)(r0 + 16 * h) * t->rowBytes;
                        swiftllama_pack_int8(t->id, rows, t->rowBytes, 16, blocks, packed + h * tile, scales + h * 16 * blocks, biases);
                        swiftllama_pack_int8_k32_mins(t->id, rows, t->rowBytes, 16, COLS / 256, mpairs + h * 64 * (COLS / 256),
                                                      dmin + h * 16 * (COLS / 256));
                    }
                    double t1 = cpu_now();
                    swiftllama_gemm_int8_k32(t->id, packed, scales, mpairs, dmin, COLS / 256, xq, xd256, xsums32, TOKENS, out + r0, ROWS, 32);
                    double t2 = cpu_now();
                    pack += t1 - t0;
                    mul += t2 - t1;
                }
                if (pack < bestPack) bestPack = pack;
                if (mul < bestMul) bestMul = mul;
            }
            double maxRef;
            const double maxDiff = max_diff(out, ref, TOKENS * ROWS, &maxRef);
            printf("| %s K32 | %.2f | %.2f | %.1f |  (max |diff| %.3g of max |out| %.3g)\n", t->name, bestPack / n * 1e9,
                   bestMul / n * 1e9, n * TOKENS / (bestPack + bestMul) / 1e9, maxDiff, maxRef);
        }
        if (size != 16) continue;
        // The K16 layout and kernel of the same type, checked against the per-16 path.
        memcpy(ref, out, sizeof(float) * TOKENS * ROWS);
        bestPack = bestMul = 1e9;
        for (int p = 0; p < passes; p++) {
            double pack = 0, mul = 0;
            for (int r0 = 0; r0 < ROWS; r0 += 16) {
                double t0 = cpu_now();
                swiftllama_pack_int8_k16(t->id, w + (long)r0 * t->rowBytes, t->rowBytes, 16, COLS / 256, packed, kscales, kpairs, kd, kdb);
                double t1 = cpu_now();
                swiftllama_gemm_int8_k16(t->id, packed, kscales, kpairs, kd, kdb, COLS / 256, xq, xd256, xsums, TOKENS, out + r0, ROWS, 16);
                double t2 = cpu_now();
                pack += t1 - t0;
                mul += t2 - t1;
            }
            if (pack < bestPack) bestPack = pack;
            if (mul < bestMul) bestMul = mul;
        }
        double maxRef;
        const double maxDiff = max_diff(out, ref, TOKENS * ROWS, &maxRef);
        printf("| %s K16 | %.2f | %.2f | %.1f |  (max |diff| %.3g of max |out| %.3g)\n", t->name, bestPack / n * 1e9, bestMul / n * 1e9,
               n * TOKENS / (bestPack + bestMul) / 1e9, maxDiff, maxRef);
    }
    return 0;
}
