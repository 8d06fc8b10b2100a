// Per-thread scratch buffers for the forward pass (see CKernels.h): one grow-only buffer per
// thread and slot, freed when the thread ends. Swift's withUnsafeTemporaryAllocation takes
// the heap above 1 KiB on Linux, which a decode step's quantized activations (one token of
// 2048 columns: 2 KiB) and attention scores exceed: hundreds of mallocs per token.
#include "CKernels.h"
#include <pthread.h>
#include <stdlib.h>

enum { SLOTS = SWIFTLLAMA_SCRATCH_SLOTS };

typedef struct {
    void *buffer[SLOTS];
    size_t bytes[SLOTS];
} Scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;

static void scratch_free(void *p) {
    Scratch *s = p;
    for (int i = 0; i < SLOTS; i++) free(s->buffer[i]);
    free(s);
}

static void scratch_make_key(void) { scratch_key_ok = pthread_key_create(&scratch_key, scratch_free) == 0; }

void *swiftllama_scratch(int slot, size_t bytes) {
    if (slot < 0 || slot >= SLOTS) return NULL;
    pthread_once(&scratch_once, scratch_make_key);
    if (!scratch_key_ok) return NULL;
    Scratch *s = pthread_getspecific(scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return NULL;
        if (pthread_setspecific(scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    if (bytes > s->bytes[slot] || !s->buffer[slot]) {
        // Twice the largest request so far, whole cache lines: a longer sequence's attention
        // grows it a few times per thread, not once per position.
        size_t n = bytes > 2 * s->bytes[slot] ? bytes : 2 * s->bytes[slot];
        n = (n + 63) & ~(size_t)63;
        if (n == 0) n = 64;
        void *p = aligned_alloc(64, n);
        if (!p) return NULL;
        free(s->buffer[slot]);
        s->buffer[slot] = p;
        s->bytes[slot] = n;
    }
    return s->buffer[slot];
}
