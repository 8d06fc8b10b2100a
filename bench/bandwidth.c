// Read bandwidth of this machine: 1..N threads each sum their share of a buffer much larger
// than the caches with 256-bit loads (what a matrix-vector product over weights does), best
// of several passes. Built and run by bench/bandwidth.sh; the result is the ceiling for
// generation speed: tokens/s ≤ GB/s ÷ (GB of weights read per token).
// The buffer is on transparent huge pages where the kernel allows it, as the engine's weights
// are: on 4 KiB pages the TLB misses cost about a tenth of the rate (AMD EPYC Zen 4, 2
// threads, alternating runs: 67–70 GB/s on huge pages, 55–62 on 4 KiB pages). Reading 2 or 4
// interleaved streams per thread was slower there (49 and 53 GB/s), so one it is.
#include <immintrin.h>
#include <pthread.h>
#include <sys/mman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// Thread CPU time, so that time spent waiting for a core on a shared machine does not count
// (stalls on memory do).
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    const char *p;
    size_t bytes;
    double sink;
    pthread_barrier_t *barrier;
    double seconds;
} Job;

__attribute__((target("avx2")))
static double sum_bytes(const char *p, size_t bytes) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 128 <= bytes; i += 128) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(p + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(p + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(p + i + 96)));
    }
    __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    long long out[4];
    _mm256_storeu_si256((__m256i *)out, s);
    return (double)(out[0] + out[1] + out[2] + out[3]);
}

static void *worker(void *arg) {
    Job *j = arg;
    pthread_barrier_wait(j->barrier);
    const double t0 = now();
    j->sink += sum_bytes(j->p, j->bytes);
    j->seconds = now() - t0;
    pthread_barrier_wait(j->barrier);
    return NULL;
}

int main(int argc, char **argv) {
    const size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
    const int maxThreads = argc > 2 ? atoi(argv[2]) : 2;
    const int passes = argc > 3 ? atoi(argv[3]) : 5;
    const size_t bytes = mib << 20;
    char *buf = aligned_alloc(4096, bytes);
    if (!buf) { fprintf(stderr, "bandwidth: cannot allocate %zu MiB\n", mib); return 1; }
    madvise(buf, bytes, MADV_HUGEPAGE); // advice only: without THP the pages stay 4 KiB
    memset(buf, 1, bytes);
    printf("| threads | buffer | best GB/s | mean GB/s |\n| ---: | ---: | ---: | ---: |\n");
    for (int n = 1; n <= maxThreads; n++) {
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, (unsigned)n);
        double best = 0, total = 0;
        Job jobs[64];
        for (int pass = 0; pass < passes; pass++) {
            pthread_t th[64];
            const size_t share = (bytes / (size_t)n) & ~(size_t)4095;
            for (int k = 0; k < n; k++) {
                jobs[k] = (Job){buf + share * (size_t)k, share, 0, &barrier, 0};
                if (k > 0) pthread_create(&th[k], NULL, worker, &jobs[k]);
            }
            worker(&jobs[0]);
            double slowest = 0;
            for (int k = 1; k < n; k++) pthread_join(th[k], NULL);
            for (int k = 0; k < n; k++) if (jobs[k].seconds > slowest) slowest = jobs[k].seconds;
            const double gbs = (double)(share * (size_t)n) / slowest / 1e9;
            if (gbs > best) best = gbs;
            total += gbs;
        }
        pthread_barrier_destroy(&barrier);
        printf("| %d | %zu MiB | %.1f | %.1f |\n", n, mib, best, total / passes);
    }
    free(buf);
    return 0;
}
