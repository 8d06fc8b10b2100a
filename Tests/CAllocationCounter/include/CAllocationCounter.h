// Counts the calling thread's heap allocations, for the tests that check that a forward pass
// allocates nothing per token (AllocationTests). Linked into the test binary only.
#ifndef SWIFTLLAMA_ALLOCATION_COUNTER_H
#define SWIFTLLAMA_ALLOCATION_COUNTER_H

/// Starts (nonzero) or stops counting this thread's malloc, calloc, realloc, posix_memalign,
/// aligned_alloc and memalign calls; starting resets the count.
void allocation_counter_enable(int on);
/// This thread's allocations since counting started.
long allocation_counter_count(void);

#endif
