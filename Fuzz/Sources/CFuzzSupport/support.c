// XXH3-64 from Debian's libxxhash, LZ4 block compression from liblz4, and a peak-heap counter on the sanitizer allocator's malloc hook (the
// memory-limit harness fails when decoding needs more than the decoder's limit).
//
// This file is compiled without -fsanitize=address (SwiftPM passes -Xswiftc flags to Swift only), so the sanitizer
// interface is declared weak: with the ASan runtime linked (swiftc -sanitize=address) the calls resolve to it,
// without it fuzz_heap_install() returns 0.
#include "CFuzzSupport.h"

#include <lz4.h>
#include <xxhash.h>

uint64_t fuzz_xxh3_64(const void* bytes, size_t size) { return XXH3_64bits(bytes, size); }

int fuzz_lz4_compress(const void* source, int sourceSize, void* destination, int capacity) {
    return LZ4_compress_default(source, destination, sourceSize, capacity);
}

int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*, size_t),
                                              void (*free_hook)(const volatile void*)) __attribute__((weak));
size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

static size_t peak;

size_t fuzz_heap_live(void) {
    return __sanitizer_get_current_allocated_bytes ? __sanitizer_get_current_allocated_bytes() : 0;
}

static void on_malloc(const volatile void* pointer, size_t size) {
    (void)pointer;
    (void)size;
    size_t live = fuzz_heap_live();
    if (live > peak) peak = live;
}

static void on_free(const volatile void* pointer) { (void)pointer; }

int fuzz_heap_install(void) {
    if (!__sanitizer_install_malloc_and_free_hooks || !__sanitizer_get_current_allocated_bytes) return 0;
    return __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
}

size_t fuzz_heap_peak(void) { return peak; }
void fuzz_heap_reset_peak(void) { peak = fuzz_heap_live(); }
