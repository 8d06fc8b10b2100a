// The decode attention kernels alone (CKernels/FlashAttention.c, Attention.c): one query row
// of `heads` query heads against one key/value head of a cache `depth` positions long, per
// cache type (f32, f16, q8_0), as a 1B-shaped model's decode step calls them per kv head
// (8 kv heads × 4 query heads × 64 per layer). Prints each thread's CPU time per layer (the
// kv heads one after another on one thread, the caches far larger than L2), best of the
// passes, for the flash kernel and the two-pass one (scores, scalar softmax, values). Built
// and run by bench/attention.sh against Sources/CKernels.
#include "Attention.h"
#include "FlashAttention.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    const int depth = argc > 1 ? atoi(argv[1]) : 4096;
    const int passes = argc > 2 ? atoi(argv[2]) : 5;
    enum { KV = 8, HEADS = 4, D = 64, STRIDE = KV * D };
    const long elements = (long)depth * STRIDE;
    float *f = malloc(sizeof(float) * elements), *g = malloc(sizeof(float) * elements);
    float q[HEADS * D], out[HEADS * D];
    if (!f || !g) return 1;
    for (long i = 0; i < elements; i++) f[i] = (float)((i * 7919) % 2001 - 1000) / 1000.0f, g[i] = (float)((i * 104729) % 2001 - 1000) / 1000.0f;
    for (int i = 0; i < HEADS * D; i++) q[i] = (float)((i * 31) % 201 - 100) / 50.0f;
    const char *names[] = {"f32", "f16", "q8_0"};
    const long scratchFloats = swiftllama_flash_scratch_floats(D);
    const long twoPassFloats = (long)HEADS * depth + 8L * D;
    float *scratch = malloc(sizeof(float) * (scratchFloats > twoPassFloats ? scratchFloats : twoPassFloats));
    printf("| cache | depth | flash ms per layer | two-pass ms per layer |\n| --- | ---: | ---: | ---: |\n");
    for (int type = 0; type < 3; type++) {
        void *k, *v;
        if (type == SWIFTLLAMA_CACHE_F32) {
            k = f, v = g;
        } else if (type == SWIFTLLAMA_CACHE_F16) {
            k = malloc(2 * elements), v = malloc(2 * elements);
            swiftllama_floats_to_halves(f, k, elements);
            swiftllama_floats_to_halves(g, v, elements);
        } else {
            k = malloc(34 * (elements / 32)), v = malloc(34 * (elements / 32));
            swiftllama_floats_to_q8_0(f, k, elements / 32);
            swiftllama_floats_to_q8_0(g, v, elements / 32);
        }
        const long bytesPerElement = type == SWIFTLLAMA_CACHE_F32 ? 4 : type == SWIFTLLAMA_CACHE_F16 ? 2 : 0;
        double best[2] = {1e30, 1e30};
        float sink = 0;
        for (int p = 0; p < passes; p++) {
            double t0 = cpu_now();
            for (int h = 0; h < KV; h++) {
                const void *kh = bytesPerElement ? (const char *)k + bytesPerElement * h * D : (const char *)k + 34 * (h * D / 32);
                const void *vh = bytesPerElement ? (const char *)v + bytesPerElement * h * D : (const char *)v + 34 * (h * D / 32);
                swiftllama_flash_attention(q, HEADS * D, 1, HEADS, kh, vh, type, STRIDE, D, depth - 1, 0, 0, depth, 0.125f, 0, out,
                                           HEADS * D, NULL, NULL, scratch);
                sink += out[0];
            }
            double dt = cpu_now() - t0;
            if (dt < best[0]) best[0] = dt;
            t0 = cpu_now();
            for (int h = 0; h < KV; h++) {
                const void *kh = bytesPerElement ? (const char *)k + bytesPerElement * h * D : (const char *)k + 34 * (h * D / 32);
                const void *vh = bytesPerElement ? (const char *)v + bytesPerElement * h * D : (const char *)v + 34 * (h * D / 32);
                float *att = scratch, *widened = scratch + (long)HEADS * depth;
                swiftllama_attention_scores(q, D, HEADS, kh, type, STRIDE, depth, D, 0.125f, att, depth, widened);
                for (int j = 0; j < HEADS; j++) {
                    float *s = att + (long)j * depth, m = -INFINITY, sum = 0;
                    for (int t = 0; t < depth; t++) m = s[t] > m ? s[t] : m;
                    for (int t = 0; t < depth; t++) sum += s[t] = expf(s[t] - m);
                    for (int t = 0; t < depth; t++) s[t] /= sum;
                }
                swiftllama_attention_values(att, depth, HEADS, vh, type, STRIDE, depth, D, out, D, widened);
                sink += out[0];
            }
            dt = cpu_now() - t0;
            if (dt < best[1]) best[1] = dt;
        }
        printf("| %s | %d | %.3f | %.3f |%s\n", names[type], depth, best[0] * 1e3, best[1] * 1e3, sink == 12345 ? " " : "");
    }
    return 0;
}
