// glibc's mallopt for the tunnel daemon (Sources/ReplicaCLI/Daemon/HeapTuning.swift). Swift's Glibc module does
// not import <malloc.h>, so this shim names the two calls the daemon makes; elsewhere they report failure.
#ifndef C_HEAP_TUNING_H
#define C_HEAP_TUNING_H

#if defined(__GLIBC__) || (defined(__linux__) && !defined(__ANDROID__) && __has_include(<malloc.h>))
#include <malloc.h>
#endif

/// Sets glibc's mmap threshold in bytes; returns 1 on success, 0 on failure or without glibc.
static inline int CHeapTuning_setMmapThreshold(int bytes) {
#ifdef M_MMAP_THRESHOLD
    return mallopt(M_MMAP_THRESHOLD, bytes);
#else
    (void)bytes;
    return 0;
#endif
}

/// Sets glibc's trim threshold in bytes; returns 1 on success, 0 on failure or without glibc.
static inline int CHeapTuning_setTrimThreshold(int bytes) {
#ifdef M_TRIM_THRESHOLD
    return mallopt(M_TRIM_THRESHOLD, bytes);
#else
    (void)bytes;
    return 0;
#endif
}

#endif
