// Prints the new types' dots (Q2_K, Q3_K, Q5_K, IQ4_XS, IQ4_NL one and two rows, Q4_1/Q5_0/Q5_1
// two rows over an odd block count, the row-interleaved Q4_0/Q8_0 kernels) on fixed pseudo-random blocks, for
// scripts/check_ckernel_paths.sh to compare across the portable, AVX2 and native builds.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "CKernels.h"
static unsigned long long s = 88172645463325252ULL;
static unsigned r(void) { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return (unsigned)s; }
int main(void) {
    enum { SB = 3, N = 256 * SB };
    int8_t xq[N]; float xd[N / 32]; int16_t xs[N / 16];
    for (int i = 0; i < N; i++) xq[i] = (int8_t)(r() % 255 - 127);
    for (int i = 0; i < N / 32; i++) xd[i] = 0.01f * (1 + i % 3);
    for (int g = 0; g < N / 16; g++) { int t = 0; for (int i = 0; i < 16; i++) t += xq[16 * g + i]; xs[g] = (int16_t)t; }
    uint8_t w[2][210 * SB];
    const int sizes[] = {84, 110, 176, 136};
    const int halfs[][2] = {{80, 82}, {108, -1}, {0, 2}, {0, -1}};
    for (int k = 0; k < 4; k++) {
        for (int i = 0; i < 210 * SB; i++) w[0][i] = (uint8_t)r();
        for (int b = 0; b < SB; b++) for (int h = 0; h < 2; h++) if (halfs[k][h] >= 0) { w[0][sizes[k] * b + halfs[k][h]] = 0x00; w[0][sizes[k] * b + halfs[k][h] + 1] = 0x20; }
        float xd256[SB] = {0.01f, 0.02f, 0.03f};
        float v = k == 0 ? swiftllama_dot_q2_K(w[0], xq, xd256, xs, SB) : k == 1 ? swiftllama_dot_q3_K(w[0], xq, xd256, xs, SB)
                : k == 2 ? swiftllama_dot_q5_K(w[0], xq, xd256, xs, SB) : swiftllama_dot_iq4_xs(w[0], xq, xd256, xs, SB);
        printf("k%d %.6g\n", k, v);
    }
    for (int i = 0; i < 18 * (N / 32); i++) { w[0][i] = (uint8_t)r(); w[1][i] = (uint8_t)r(); }
    for (int b = 0; b < N / 32; b++) { w[0][18 * b] = 0; w[0][18 * b + 1] = 0x20; w[1][18 * b] = 0; w[1][18 * b + 1] = 0x24; }
    float two[2];
    swiftllama_dot2_iq4_nl(w[0], w[1], xq, xd, N / 32 - 1, two);
    printf("nl %.6g %.6g %.6g\n", swiftllama_dot_iq4_nl(w[0], xq, xd, N / 32 - 1), two[0], two[1]);
    uint8_t q41[2][24 * N / 32];
    for (int t = 0; t < 3; t++) {
        const int size = t == 0 ? 20 : t == 1 ? 22 : 24;
        for (int i = 0; i < size * (N / 32); i++) { q41[0][i] = (uint8_t)r(); q41[1][i] = (uint8_t)r(); }
        for (int b = 0; b < N / 32; b++) for (int j = 0; j < 2; j++) { q41[j][size * b] = 0; q41[j][size * b + 1] = 0x20; if (t != 1) { q41[j][size * b + 2] = 0; q41[j][size * b + 3] = 0xA0; } }
        if (t == 0) swiftllama_dot2_q4_1(q41[0], q41[1], xq, xd, N / 32 - 1, two);
        if (t == 1) swiftllama_dot2_q5_0(q41[0], q41[1], xq, xd, N / 32 - 1, two);
        if (t == 2) swiftllama_dot2_q5_1(q41[0], q41[1], xq, xd, N / 32 - 1, two);
        printf("t%d %.6g %.6g\n", t, two[0], two[1]);
    }
    // Row-interleaved Q4_0 / Q8_0 (16 rows, 2 groups) against the same activations.
    for (int t = 0; t < 2; t++) {
        const int size = t == 0 ? 18 : 34, blocks = N / 32;
        static uint8_t plain[16 * 34 * (N / 32)], packed[16 * 34 * (N / 32)];
        for (int i = 0; i < 16 * size * blocks; i++) plain[i] = (uint8_t)r();
        for (int row = 0; row < 16; row++) for (int b = 0; b < blocks; b++) { plain[(row * blocks + b) * size] = 0; plain[(row * blocks + b) * size + 1] = 0x20; }
        swiftllama_repack_r8(t == 0 ? 2 : 8, plain, packed, 2, blocks);
        int32_t sums[N / 32];
        swiftllama_block_sums(xq, blocks, sums);
        float out[16];
        (t == 0 ? swiftllama_kernels()->matvec_q4_0_r8 : swiftllama_kernels()->matvec_q8_0_r8)(packed, 2, blocks, xq, xd, sums, 1, out, 16);
        printf("r8_%d", t);
        for (int row = 0; row < 16; row++) printf(" %.6g", out[row]);
        printf("\n");
    }
    return 0;
}
