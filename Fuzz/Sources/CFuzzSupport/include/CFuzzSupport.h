// C helpers for the harnesses: XXH3-64 (to recompute a stream's checks) and heap accounting.
#ifndef CFUZZSUPPORT_H
#define CFUZZSUPPORT_H

#include <stddef.h>
#include <stdint.h>

/// XXH3-64 of `size` bytes, as Replica's format uses it (docs/FORMAT.md).
uint64_t fuzz_xxh3_64(const void* bytes, size_t size);

/// LZ4_compress_default: the compressed size, or 0 when it does not fit.
int fuzz_lz4_compress(const void* source, int sourceSize, void* destination, int capacity);

/// Starts counting heap bytes through AddressSanitizer's malloc hook; 0 when the build has no ASan.
int fuzz_heap_install(void);
/// Bytes allocated and not yet freed, as the sanitizer's allocator counts them.
size_t fuzz_heap_live(void);
/// The highest fuzz_heap_live() seen by the malloc hook since fuzz_heap_reset_peak().
size_t fuzz_heap_peak(void);
/// Starts a new peak at the current live bytes.
void fuzz_heap_reset_peak(void);

#endif
