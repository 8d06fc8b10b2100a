// Why the worker pool gives each core a contiguous share of a loop's chunks: the
// row-interleaved Q4_0 kernel (the selected AVX-512 or AVX2 set) over a matrix much larger
// than the caches, two threads, each calling the kernel on chunks of `chunk` row groups
// (8 groups = 64 rows: the generation chunk), either taking every other chunk (what a shared
// counter hands out) or a contiguous half. Prints GB/s of weights (slowest thread's CPU time,
// best of 4). Built and run by bench/chunk_order.sh.
#include "CKernelSet.h"
#include "CKernels.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

enum { COLS = 2048, GROUP_BYTES = COLS / 32 * 18 * 8 };

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    const swiftllama_kernel_set *set;
    const uint8_t *w;
    int groups, worker, chunkGroups, contiguous;
    const int8_t *xq;
    const float *xd;
    const int32_t *xs;
    float *out;
    double seconds;
} Job;

static void *run(void *arg) {
    Job *j = arg;
    const double t0 = cpu_now();
    const int chunks = (j->groups + j->chunkGroups - 1) / j->chunkGroups;
    const int first = j->contiguous ? chunks * j->worker / 2 : j->worker;
    const int end = j->contiguous ? chunks * (j->worker + 1) / 2 : chunks;
    const int step = j->contiguous ? 1 : 2;
    for (int c = first; c < end; c += step) {
        const int g0 = c * j->chunkGroups, n = j->groups - g0 < j->chunkGroups ? j->groups - g0 : j->chunkGroups;
        j->set->matvec_q4_0_r8(j->w + (long)g0 * GROUP_BYTES, n, COLS / 32, j->xq, j->xd, j->xs, 1, j->out + 8L * g0, 8);
    }
    j->seconds = cpu_now() - t0;
    return NULL;
}

int main(int argc, char **argv) {
    const long mib = argc > 1 ? atol(argv[1]) : 512;
    const int chunkGroups = argc > 2 ? atoi(argv[2]) : 8;
    const int groups = (int)((mib << 20) / GROUP_BYTES);
    const size_t bytes = (size_t)groups * GROUP_BYTES;
    uint8_t *w = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (w == MAP_FAILED) { fprintf(stderr, "chunk_order: cannot map %ld MiB\n", mib); return 1; }
    madvise(w, bytes, MADV_HUGEPAGE);
    for (size_t i = 0; i < bytes; i++) w[i] = (uint8_t)(i * 7);
    int8_t xq[COLS];
    float xd[COLS / 32];
    int32_t xs[COLS / 32];
    for (int i = 0; i < COLS; i++) xq[i] = (int8_t)(i % 50 - 25);
    for (int i = 0; i < COLS / 32; i++) { xd[i] = 0.01f; xs[i] = 0; }
    float *out = malloc(sizeof(float) * (size_t)groups * 8);
    const swiftllama_kernel_set *set = swiftllama_kernels();
    printf("| set | chunk (rows) | order | 2 threads GB/s |\n| --- | ---: | --- | ---: |\n");
    for (int contiguous = 0; contiguous < 2; contiguous++) {
        double best = 0;
        for (int pass = 0; pass < 4; pass++) {
            pthread_t th[2];
            Job jobs[2];
            for (int t = 0; t < 2; t++) {
                jobs[t] = (Job){set, w, groups, t, chunkGroups, contiguous, xq, xd, xs, out, 0};
                pthread_create(&th[t], NULL, run, &jobs[t]);
            }
            for (int t = 0; t < 2; t++) pthread_join(th[t], NULL);
            const double slowest = jobs[0].seconds > jobs[1].seconds ? jobs[0].seconds : jobs[1].seconds;
            if (bytes / slowest / 1e9 > best) best = bytes / slowest / 1e9;
        }
        printf("| %s | %d | %s | %.1f |\n", set->name, 8 * chunkGroups, contiguous ? "contiguous halves" : "every other chunk", best);
    }
    return 0;
}
