// Each generation kernel alone: every kernel set this CPU runs (LLAMA_KERNELS' names), every
// weight type, a matrix of 2048 columns and as many rows as fill the buffer (far larger than
// the caches), one and two threads; prints the GB/s of weights streamed, to compare with
// bench/bandwidth.sh. Times are each thread's CPU time (the slowest thread's), best of the
// passes. Then the BF16 prompt GEMM where the CPU has AVX512_BF16. Built and run by
// bench/kernels.sh against Sources/CKernels.
#include "CKernels.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { COLS = 2048 };

// Thread CPU time: on a machine shared with other jobs, wall-clock time counts the time the
// thread waited for a core; CPU time counts only the time it ran (stalls on memory included).
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    const char *name;
    int kind;  // 0: blocks of 32, 1: super-blocks of 256, 2: half matvec, 3: row-interleaved (R8) groups of 8 rows,
               // 4: row-interleaved F16 / BF16
    long rowBytes;
    int index;
} Type;

static const Type types[] = {
    {"q8_0", 0, COLS / 32 * 34, 0}, {"q4_0", 0, COLS / 32 * 18, 1}, {"q4_1", 0, COLS / 32 * 20, 2},
    {"q5_0", 0, COLS / 32 * 22, 3}, {"q5_1", 0, COLS / 32 * 24, 4}, {"iq4_nl", 0, COLS / 32 * 18, 5},
    {"q2_K", 1, COLS / 256 * 84, 0}, {"q3_K", 1, COLS / 256 * 110, 1}, {"q4_K", 1, COLS / 256 * 144, 2},
    {"q5_K", 1, COLS / 256 * 176, 3}, {"q6_K", 1, COLS / 256 * 210, 4}, {"iq4_xs", 1, COLS / 256 * 136, 5},
    {"f16", 2, COLS * 2, 0}, {"bf16", 2, COLS * 2, 1},
    {"q4_0 R8", 3, COLS / 32 * 18, 0}, {"q8_0 R8", 3, COLS / 32 * 34, 1},
    {"q2_K R8", 3, COLS / 256 * 84, 2}, {"q3_K R8", 3, COLS / 256 * 110, 3},
    {"q4_1 R8", 3, COLS / 32 * 20, 4}, {"q5_0 R8", 3, COLS / 32 * 22, 5}, {"q5_1 R8", 3, COLS / 32 * 24, 6},
    {"iq4_nl R8", 3, COLS / 32 * 18, 7}, {"iq4_xs R8", 3, COLS / 256 * 136, 8},
    {"q4_K R8", 3, COLS / 256 * 144, 9}, {"q5_K R8", 3, COLS / 256 * 176, 10}, {"q6_K R8", 3, COLS / 256 * 210, 11},
    {"f16 R8", 4, COLS * 2, 0}, {"bf16 R8", 4, COLS * 2, 1},
};

typedef struct {
    const swiftllama_kernel_set *set;
    const Type *type;
    const uint8_t *w;
    int row0, rows;
    const int8_t *xq;
    const float *xd, *x;
    const int16_t *xs;
    const int32_t *xs32;
    float *out;
    double seconds;
} Job;

static void *run(void *arg) {
    Job *j = arg;
    const double t0 = cpu_now();
    const swiftllama_kernel_set *s = j->set;
    const Type *t = j->type;
    const uint8_t *w = j->w + (long)j->row0 * t->rowBytes;
    float *out = j->out + j->row0;
    if (t->kind == 4) {
        (t->index ? s->matvec_bf16_r8 : s->matvec_f16_r8)(w, j->rows / 8, COLS, j->x, COLS, 1, out, j->rows);
    } else if (t->kind == 3) {
        swiftllama_matvec_r8_fn f[] = {s->matvec_q4_0_r8, s->matvec_q8_0_r8, s->matvec_q2_K_r8, s->matvec_q3_K_r8,
                                       s->matvec_q4_1_r8, s->matvec_q5_0_r8, s->matvec_q5_1_r8, s->matvec_iq4_nl_r8,
                                       s->matvec_iq4_xs_r8, s->matvec_q4_K_r8, s->matvec_q5_K_r8, s->matvec_q6_K_r8};
        f[t->index](w, j->rows / 8, COLS / 32, j->xq, j->xd, j->xs32, 1, out, j->rows);
    } else if (t->kind == 2) {
        (t->index ? s->matvec_bf16 : s->matvec_f16)(w, t->rowBytes, j->rows, COLS, j->x, COLS, 1, out, j->rows);
    } else if (t->kind == 1) {
        swiftllama_dot256_fn f[] = {s->dot_q2_K, s->dot_q3_K, s->dot_q4_K, s->dot_q5_K, s->dot_q6_K, s->dot_iq4_xs};
        for (int r = 0; r < j->rows; r++) out[r] = f[t->index](w + (long)r * t->rowBytes, j->xq, j->xd, j->xs, COLS / 256);
    } else {
        swiftllama_dot32_fn f[] = {s->dot_q8_0, s->dot_q4_0, s->dot_q4_1, s->dot_q5_0, s->dot_q5_1, s->dot_iq4_nl};
        swiftllama_dot2_fn f2[] = {s->dot2_q8_0, s->dot2_q4_0, s->dot2_q4_1, s->dot2_q5_0, s->dot2_q5_1, s->dot2_iq4_nl};
        int r = 0;
        if (s->rowsPerCall == 2)
            for (; r + 2 <= j->rows; r += 2) f2[t->index](w + (long)r * t->rowBytes, w + (long)(r + 1) * t->rowBytes, j->xq, j->xd, COLS / 32, out + r);
        for (; r < j->rows; r++) out[r] = f[t->index](w + (long)r * t->rowBytes, j->xq, j->xd, COLS / 32);
    }
    j->seconds = cpu_now() - t0;
    return NULL;
}

// The BF16 prompt GEMM (GEMMBF16.c) alone, one thread: a 2048 × 2048 F16 or BF16 matrix
// against 512 tokens, tiles packed as the engine packs them (packing included), in GFLOP/s
// (2·rows·cols·tokens over the thread's CPU time, best of the passes), per width.
static void gemm_bf16_table(int passes) {
    enum { R = 2048, C = 2048, T = 512, P = C / 2 };
    if (!swiftllama_cpu_has_bf16()) {
        printf("\nBF16 GEMM: this CPU has no AVX512_BF16\n");
        return;
    }
    uint16_t *w = malloc(sizeof(uint16_t) * R * C);
    float *x = malloc(sizeof(float) * T * C), *out = malloc(sizeof(float) * T * R);
    uint32_t *xb = malloc(sizeof(uint32_t) * T * P), *tile = malloc(sizeof(uint32_t) * 32 * P);
    if (!w || !x || !out || !xb || !tile) return;
    for (long i = 0; i < (long)T * C; i++) x[i] = (float)((i * 7919) % 255 - 127) / 127.0f;
    printf("\n| BF16 GEMM (%d×%d × %d tokens) | width | 1 thread GFLOP/s |\n| --- | --- | ---: |\n", R, C, T);
    const char *names[] = {"f16", "bf16"};
    const int typeIDs[] = {1, 30}, widths[] = {SWIFTLLAMA_BF16_256, SWIFTLLAMA_BF16_512};
    for (int ti = 0; ti < 2; ti++) {
        // Values in ±[0.5, 2): normal in both formats.
        for (long i = 0; i < (long)R * C; i++) w[i] = ti == 0 ? (uint16_t)(0x3800 + i % 2048) ^ (uint16_t)((i & 1) << 15) : (uint16_t)(0x3F00 + i % 256);
        swiftllama_bf16_activations(x, C, T, C, xb, P);
        for (int wi = 0; wi < 2; wi++) {
            double best = 0;
            for (int p = 0; p < passes; p++) {
                const double t0 = cpu_now();
                for (int r0 = 0; r0 < R; r0 += 32) {
                    swiftllama_pack_bf16(typeIDs[ti], w + (long)r0 * C, 2L * C, 32, C, tile);
                    swiftllama_gemm_bf16(widths[wi], tile, P, xb, P, T, out + r0, R, 32);
                }
                const double g = 2.0 * R * C * T / (cpu_now() - t0) / 1e9;
                if (g > best) best = g;
            }
            printf("| %s | %d-bit | %.1f |\n", names[ti], widths[wi], best);
        }
    }
    free(w); free(x); free(out); free(xb); free(tile);
}

// The R8 kernels against 1, 2, 4 and 8 tokens, one thread, weights far larger than the caches
// (a decode step of several sequences reads each matrix once for all its rows): GB/s of
// weights and the CPU time per 8-row block and token (ns; F16 / BF16: per 8 rows × 32 columns,
// the work of a block of 32), per kernel set. A kernel whose per-token work is small runs at
// nearly the same GB/s for 4 tokens as for 1. The `avx512` set's F16 / BF16 rows at 2+
// tokens are its 512-bit kernel, the `avx512-256` set's the 256-bit one.
static void r8_tokens_table(const uint8_t *buf, size_t bytes, float *out, int passes) {
    enum { TMAX = 8 };
    static int8_t xq[TMAX * COLS];
    static float xd[TMAX * COLS / 32], xf[TMAX * COLS];
    static int32_t xs[TMAX * COLS / 32];
    for (int t = 0; t < TMAX; t++) {
        float *x = xf + (long)COLS * t;
        for (int i = 0; i < COLS; i++) x[i] = (float)((i * 7919 + 131 * t) % 255 - 127) / 127.0f;
        swiftllama_quantize_q8(x, xq + (long)COLS * t, xd + COLS / 32 * t, COLS / 32);
        swiftllama_block_sums(xq + (long)COLS * t, COLS / 32, xs + COLS / 32 * t);
    }
    printf("\n| set | type | tokens | 1 thread GB/s | ns per block·token |\n| --- | --- | ---: | ---: | ---: |\n");
    for (int si = 0; si < swiftllama_kernel_set_count(); si++) {
        const swiftllama_kernel_set *s = swiftllama_kernel_set_at(si);
        if (!swiftllama_kernel_set_runs_here(s) || strcmp(s->name, "generic") == 0) continue;
        for (int ti = 0; ti < 4; ti++) {
            const long rowBytes = ti >= 2 ? COLS * 2 : ti ? COLS / 32 * 34 : COLS / 32 * 18;
            const int groups = (int)(bytes / (size_t)rowBytes) / 8;
            const int tokens[] = {1, 2, 4, 8};
            for (int k = 0; k < 4; k++) {
                double best = 1e30;
                for (int p = 0; p < passes; p++) {
                    const double t0 = cpu_now();
                    if (ti >= 2)
                        (ti == 3 ? s->matvec_bf16_r8 : s->matvec_f16_r8)(buf, groups, COLS, xf, COLS, tokens[k], out, 8L * groups);
                    else
                        (ti ? s->matvec_q8_0_r8 : s->matvec_q4_0_r8)(buf, groups, COLS / 32, xq, xd, xs, tokens[k], out, 8L * groups);
                    const double dt = cpu_now() - t0;
                    if (dt < best) best = dt;
                }
                const char *names[] = {"q4_0", "q8_0", "f16", "bf16"};
                printf("| %s | %s R8 | %d | %.1f | %.2f |\n", s->name, names[ti], tokens[k],
                       (double)groups * 8 * rowBytes / best / 1e9, best * 1e9 / ((double)groups * COLS / 32 * tokens[k]));
            }
        }
    }
}

int main(int argc, char **argv) {
    const size_t bytes = (size_t)(argc > 1 ? atoi(argv[1]) : 512) << 20;
    const int passes = argc > 2 ? atoi(argv[2]) : 3;
    const int r8Only = argc > 3 && strcmp(argv[3], "r8") == 0;
    uint8_t *buf = aligned_alloc(4096, bytes);
    // 8 token rows of outputs for the R8 token table; more than enough for one row per matrix row.
    float *out = malloc(sizeof(float) * 8 * (bytes / (COLS / 256 * 84) + 1));
    int8_t xq[COLS];
    float xd[COLS / 32], x[COLS];
    int16_t xs[COLS / 16];
    int32_t xs32[COLS / 32];
    if (!buf || !out) return 1;
    // 0x11 everywhere: small normal f16 scales and values, no denormals or NaNs.
    memset(buf, 0x11, bytes);
    for (int i = 0; i < COLS; i++) { x[i] = (float)((i * 7919) % 255 - 127) / 127.0f; }
    swiftllama_quantize_q8(x, xq, xd, COLS / 32);
    swiftllama_block_sums(xq, COLS / 32, xs32);
    float d256[COLS / 256];
    swiftllama_quantize_q8_K(x, xq, d256, xs, COLS / 256);
    if (r8Only) {
        r8_tokens_table(buf, bytes, out, passes);
        return 0;
    }
    printf("| set | type | 1 thread GB/s | 2 threads GB/s |\n| --- | --- | ---: | ---: |\n");
    for (int si = 0; si < swiftllama_kernel_set_count(); si++) {
        const swiftllama_kernel_set *s = swiftllama_kernel_set_at(si);
        if (!swiftllama_kernel_set_runs_here(s) || strcmp(s->name, "generic") == 0) continue;
        for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
            const Type *t = &types[ti];
            const int rows = (int)(bytes / (size_t)t->rowBytes) / 16 * 16;  // whole groups of 8 per thread
            double gbs[2] = {0, 0};
            for (int threads = 1; threads <= 2; threads++) {
                for (int p = 0; p < passes; p++) {
                    Job jobs[2];
                    pthread_t th;
                    for (int k = 0; k < threads; k++) {
                        const int r0 = rows * k / threads, r1 = rows * (k + 1) / threads;
                        jobs[k] = (Job){s, t, buf, r0, r1 - r0, xq, t->kind == 1 ? d256 : xd, x, xs, xs32, out, 0};
                    }
                    if (threads == 2) pthread_create(&th, NULL, run, &jobs[1]);
                    run(&jobs[0]);
                    if (threads == 2) pthread_join(th, NULL);
                    const double slowest = threads == 2 && jobs[1].seconds > jobs[0].seconds ? jobs[1].seconds : jobs[0].seconds;
                    const double g = (double)rows * (double)t->rowBytes / slowest / 1e9;
                    if (g > gbs[threads - 1]) gbs[threads - 1] = g;
                }
            }
            printf("| %s | %s | %.1f | %.1f |\n", s->name, t->name, gbs[0], gbs[1]);
        }
    }
    r8_tokens_table(buf, bytes, out, passes);
    gemm_bf16_table(passes);
    return 0;
}
