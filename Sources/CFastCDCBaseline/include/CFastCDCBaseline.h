// CFastCDCBaseline: a plain C FastCDC, one byte per step (2016) or one pair per step (2020), exactly as the papers
// and nlfiedler/fastcdc-rs write the loop. It exists only as replica-bench's baseline: the package builds it
// without special flags, and `make bench` also builds the same file with `cc -O3 -march=native` as a shared
// object that replica-bench loads, so Replica's chunker is compared with what a C compiler makes of the plain loop.
// ReplicaCore does not use it.
#ifndef C_FASTCDC_BASELINE_H
#define C_FASTCDC_BASELINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The tables and parameters of one configuration; fill it with replica_fastcdc_baseline_init.
typedef struct replica_fastcdc_baseline {
    uint64_t gear[256];
    uint64_t gear_ls[256];
    uint64_t mask_s;
    uint64_t mask_l;
    uint64_t mask_s_ls;
    uint64_t mask_l_ls;
    size_t min_size;
    size_t avg_size;
    size_t max_size;
    int variant;
} replica_fastcdc_baseline;

/// Fills `state` for FastCDC `variant` (2016 or 2020) with the given sizes, normalisation level and seed
/// (GEAR[i] ^= seed). Returns 0, or -1 when a value is outside what Replica's ChunkerConfiguration accepts.
int replica_fastcdc_baseline_init(
    replica_fastcdc_baseline *state, int variant, size_t min_size, size_t avg_size, size_t max_size,
    int normalization, uint64_t seed);

/// The length of the chunk that starts at src[0] (len bytes remain); stores the Gear hash at the cut in *hash.
size_t replica_fastcdc_baseline_cut(
    const replica_fastcdc_baseline *state, const uint8_t *src, size_t len, uint64_t *hash);

/// Cuts all of src[0..<len] and writes the chunk lengths, at most `capacity` of them, to `lengths`.
/// Returns the number of chunks (which may exceed `capacity`; only the first `capacity` are written).
size_t replica_fastcdc_baseline_chunk(
    const replica_fastcdc_baseline *state, const uint8_t *src, size_t len, uint32_t *lengths, size_t capacity);

#ifdef __cplusplus
}
#endif

#endif
