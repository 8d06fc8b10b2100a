// The test binary's own malloc family: each call goes to glibc's allocator (its __libc_*
// entry points, so free and malloc_usable_size stay glibc's) after counting it on the calling
// thread when that thread asked. Symbols an executable defines take precedence over libc's for
// every library it loads (the Swift runtime's swift_slowAlloc included), so this sees every
// heap allocation the thread makes. Linux/glibc only; elsewhere the counter never counts and
// the test that uses it fails loudly (its own allocation must be seen).
#include "CAllocationCounter.h"
#include <errno.h>
#include <stddef.h>

static _Thread_local int counting;
static _Thread_local long counted;

void allocation_counter_enable(int on) {
    counting = on != 0;
    if (counting) counted = 0;
}

long allocation_counter_count(void) { return counted; }

#if defined(__linux__) && defined(__GLIBC__)
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

void *malloc(size_t n) {
    if (counting) counted++;
    return __libc_malloc(n);
}

void *calloc(size_t count, size_t size) {
    if (counting) counted++;
    return __libc_calloc(count, size);
}

void *realloc(void *p, size_t n) {
    if (counting) counted++;
    return __libc_realloc(p, n);
}

void *memalign(size_t alignment, size_t n) {
    if (counting) counted++;
    return __libc_memalign(alignment, n);
}

void *aligned_alloc(size_t alignment, size_t n) {
    if (counting) counted++;
    return __libc_memalign(alignment, n);
}

int posix_memalign(void **out, size_t alignment, size_t n) {
    if (counting) counted++;
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *p = __libc_memalign(alignment, n);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
#endif
