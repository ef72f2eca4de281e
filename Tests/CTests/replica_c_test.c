/*
 * The C ABI's test program: compiled with cc against include/replica.h, linked to libreplica, run by `make test`
 * (make c-test). Every check prints on failure; the last line counts checks passed and failed.
 */
#define _DEFAULT_SOURCE /* mkdtemp */
#include "replica.h"

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned passed, failed;

#define CHECK(cond, ...)                                                   \
    do {                                                                   \
        if (cond) {                                                        \
            passed++;                                                      \
        } else {                                                           \
            failed++;                                                      \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                  \
            fputc('\n', stderr);                                           \
        }                                                                  \
    } while (0)

#define CHECK_CODE(result, code) \
    CHECK(replica_get_error_code(result) == (code), "got %s (%zu), expected %s", replica_get_error_name(result), \
          (size_t)(result), replica_get_error_string(code))

/* SplitMix64: seeded, repeatable data. */
static uint64_t next_random(uint64_t* state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static unsigned char* random_bytes(size_t size, uint64_t seed) {
    unsigned char* bytes = malloc(size ? size : 1);
    for (size_t i = 0; i < size; i++) bytes[i] = (unsigned char)next_random(&seed);
    return bytes;
}

/* Text-like data with long repeats: random words from a small vocabulary. */
static unsigned char* redundant_bytes(size_t size, uint64_t seed) {
    static const char* words[] = {"replica ", "chunk ", "store ", "stream ", "block ", "zstd ", "lz4 ", "window\n"};
    unsigned char* bytes = malloc(size ? size : 1);
    size_t i = 0;
    while (i < size) {
        const char* word = words[next_random(&seed) % 8];
        for (size_t j = 0; word[j] && i < size; j++) bytes[i++] = (unsigned char)word[j];
    }
    return bytes;
}

/* One-shot compress; returns the stream (caller frees) and its size. */
static unsigned char* compress_all(const void* src, size_t size, size_t* out_size) {
    size_t bound = replica_compress_bound(size);
    unsigned char* dst = malloc(bound);
    size_t written = replica_compress(dst, bound, src, size, 0);
    CHECK(!replica_is_error(written), "compress %zu bytes: %s", size, replica_get_error_name(written));
    *out_size = replica_is_error(written) ? 0 : written;
    return dst;
}

static void test_errors(void) {
    CHECK(replica_version_number() == REPLICA_VERSION_NUMBER, "version %u", replica_version_number());
    CHECK(!replica_is_error(0) && !replica_is_error(12345), "sizes are not errors");
    CHECK(replica_get_error_code(7) == replica_error_no_error, "a size has no code");
    CHECK(strcmp(replica_get_error_name(0), "No error detected") == 0, "%s", replica_get_error_name(0));
    size_t corrupt = (size_t)-replica_error_corrupt;
    CHECK(replica_is_error(corrupt), "-corrupt is an error");
    CHECK(replica_get_error_code(corrupt) == replica_error_corrupt, "code round trip");
    CHECK(strlen(replica_get_error_string(replica_error_store)) > 0, "every code has a name");
    CHECK(strlen(replica_get_error_string((replica_error_code)99)) > 0, "unknown codes have a name");
    CHECK(replica_is_error(replica_compress_bound((size_t)-1)), "a bound past size_t is an error");
    CHECK(replica_min_level() < 0, "zstd has fast levels");
}

static void check_one_shot(const unsigned char* data, size_t size, const char* what) {
    size_t stream_size = 0;
    unsigned char* stream = compress_all(data, size, &stream_size);
    CHECK(stream_size <= replica_compress_bound(size), "%s: %zu > bound", what, stream_size);
    unsigned char* back = malloc(size + 1);
    size_t got = replica_decompress(back, size, stream, stream_size);
    CHECK(got == size, "%s: decompressed %zu of %zu: %s", what, got, size, replica_get_error_name(got));
    CHECK(got != size || memcmp(back, data, size) == 0, "%s: content differs", what);
    if (size > 0) {
        got = replica_decompress(back, size - 1, stream, stream_size);
        CHECK_CODE(got, replica_error_dst_size_too_small);
        unsigned char* short_stream = malloc(stream_size - 1);
        got = replica_compress(short_stream, stream_size - 1, data, size, 0);
        CHECK_CODE(got, replica_error_dst_size_too_small);
        free(short_stream);
    }
    free(back);
    free(stream);
}

static void test_one_shot(void) {
    static const size_t sizes[] = {0, 1, 2, 1000, 65536, 300000};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        unsigned char* data = random_bytes(sizes[i], i);
        check_one_shot(data, sizes[i], "random");
        free(data);
        data = redundant_bytes(sizes[i], i);
        check_one_shot(data, sizes[i], "redundant");
        free(data);
    }
    /* A stream far smaller than its content: 4 MiB of one repeated chunk. */
    size_t big = 4 << 20;
    unsigned char* data = malloc(big);
    unsigned char* block = random_bytes(4096, 7);
    for (size_t i = 0; i < big; i++) data[i] = block[i % 4096];
    size_t stream_size = 0;
    unsigned char* stream = compress_all(data, big, &stream_size);
    CHECK(stream_size < big / 100, "4 MiB of repeats took %zu bytes", stream_size);
    unsigned char* back = malloc(big);
    CHECK(replica_decompress(back, big, stream, stream_size) == big && memcmp(back, data, big) == 0, "repeats");
    /* The content is 4 MiB: a 64 KiB destination is refused, and nothing past it is written. */
    unsigned char* small = malloc(65536 + 64);
    memset(small + 65536, 0xAB, 64);
    CHECK_CODE(replica_decompress(small, 65536, stream, stream_size), replica_error_dst_size_too_small);
    int intact = 1;
    for (int i = 0; i < 64; i++) intact &= small[65536 + i] == 0xAB;
    CHECK(intact, "bytes past dstCapacity were written");
    free(small);
    free(back);
    free(stream);
    free(data);
    free(block);

    unsigned char level_data[1000];
    memset(level_data, 'x', sizeof level_data);
    unsigned char out[4096];
    CHECK_CODE(replica_compress(out, sizeof out, level_data, sizeof level_data, 20),
               replica_error_parameter_out_of_bound);
    CHECK_CODE(replica_compress(out, sizeof out, level_data, sizeof level_data, -1000000),
               replica_error_parameter_out_of_bound);
    size_t fast = replica_compress(out, sizeof out, level_data, sizeof level_data, replica_min_level());
    CHECK(!replica_is_error(fast), "fastest level: %s", replica_get_error_name(fast));
    size_t best = replica_compress(out, sizeof out, level_data, sizeof level_data, REPLICA_MAX_LEVEL);
    CHECK(!replica_is_error(best), "best level: %s", replica_get_error_name(best));
}

static void test_null_pointers(void) {
    unsigned char buffer[256];
    CHECK_CODE(replica_compress(NULL, 100, "abc", 3, 0), replica_error_null_pointer);
    CHECK_CODE(replica_compress(buffer, sizeof buffer, NULL, 3, 0), replica_error_null_pointer);
    CHECK_CODE(replica_compress(NULL, 0, "abc", 3, 0), replica_error_dst_size_too_small);
    size_t empty = replica_compress(buffer, sizeof buffer, NULL, 0, 0);
    CHECK(!replica_is_error(empty), "NULL with size 0 is empty input: %s", replica_get_error_name(empty));
    CHECK(replica_decompress(NULL, 0, buffer, empty) == 0, "an empty stream into NULL, 0");
    CHECK_CODE(replica_decompress(buffer, sizeof buffer, NULL, 10), replica_error_null_pointer);
    CHECK_CODE(replica_decompress(NULL, 10, buffer, empty), replica_error_null_pointer);
    CHECK_CODE(replica_decompress(buffer, sizeof buffer, NULL, 0), replica_error_truncated);

    CHECK(replica_free_cctx(NULL) == 0 && replica_free_dctx(NULL) == 0 && replica_store_free(NULL) == 0, "free NULL");
    replica_out_buffer out = {buffer, sizeof buffer, 0};
    replica_in_buffer in = {"abc", 3, 0};
    CHECK_CODE(replica_compress_stream(NULL, &out, &in), replica_error_null_pointer);
    CHECK_CODE(replica_flush_stream(NULL, &out), replica_error_null_pointer);
    CHECK_CODE(replica_end_stream(NULL, &out), replica_error_null_pointer);
    CHECK_CODE(replica_cctx_set_parameter(NULL, REPLICA_c_level, 1), replica_error_null_pointer);
    CHECK_CODE(replica_decompress_stream(NULL, &out, &in), replica_error_null_pointer);
    CHECK_CODE(replica_decompress_flush(NULL, &out), replica_error_null_pointer);
    CHECK_CODE(replica_decompress_end(NULL, &out), replica_error_null_pointer);
    CHECK_CODE(replica_dctx_set_memory_limit(NULL, 1), replica_error_null_pointer);
    CHECK(replica_cctx_get_error_message(NULL) != NULL && replica_dctx_get_error_message(NULL) != NULL, "messages");

    replica_cctx* cctx = replica_create_cctx();
    CHECK_CODE(replica_compress_stream(cctx, NULL, &in), replica_error_null_pointer);
    CHECK_CODE(replica_compress_stream(cctx, &out, NULL), replica_error_null_pointer);
    replica_in_buffer null_src = {NULL, 5, 0};
    CHECK_CODE(replica_compress_stream(cctx, &out, &null_src), replica_error_null_pointer);
    replica_in_buffer past = {"abc", 3, 4};
    CHECK_CODE(replica_compress_stream(cctx, &out, &past), replica_error_buffer_position);
    CHECK(strlen(replica_cctx_get_error_message(cctx)) > 0, "the message names the problem");
    replica_out_buffer null_dst = {NULL, 5, 0};
    CHECK_CODE(replica_end_stream(cctx, &null_dst), replica_error_null_pointer);
    replica_free_cctx(cctx);

    replica_dctx* dctx = replica_create_dctx();
    CHECK_CODE(replica_decompress_stream(dctx, NULL, &in), replica_error_null_pointer);
    CHECK_CODE(replica_decompress_stream(dctx, &out, &null_src), replica_error_null_pointer);
    CHECK_CODE(replica_decompress_end(dctx, NULL), replica_error_null_pointer);
    replica_free_dctx(dctx);

    size_t error = 0;
    CHECK(replica_store_open_disk(NULL, 0, &error) == NULL, "NULL directory");
    CHECK_CODE(error, replica_error_null_pointer);
    CHECK(replica_store_open_disk(NULL, 0, NULL) == NULL, "NULL error pointer");
    CHECK(replica_store_create_memory(0) == NULL, "a store of 0 bytes");
    CHECK_CODE(replica_store_flush(NULL), replica_error_null_pointer);
    CHECK(replica_store_chunk_count(NULL) == 0, "NULL store has no chunks");
}

/* Decodes `stream` and checks the result is an error, or exactly `original` (never other bytes). */
static int decodes_to_original_or_fails(const unsigned char* stream, size_t size, const unsigned char* original,
                                        size_t original_size, unsigned char* scratch, size_t scratch_size) {
    size_t got = replica_decompress(scratch, scratch_size, stream, size);
    if (replica_is_error(got)) return 1;
    return got == original_size && memcmp(scratch, original, got) == 0;
}

static void test_bad_input(void) {
    size_t size = 20000;
    unsigned char* data = redundant_bytes(size, 3);
    unsigned char* tail = random_bytes(size / 2, 4);
    memcpy(data + size / 2, tail, size / 2);
    size_t stream_size = 0;
    unsigned char* stream = compress_all(data, size, &stream_size);
    unsigned char* scratch = malloc(size * 2);

    /* Every truncation is refused. */
    unsigned truncations_refused = 0;
    for (size_t cut = 0; cut < stream_size; cut++) {
        size_t got = replica_decompress(scratch, size * 2, stream, cut);
        truncations_refused += replica_is_error(got);
    }
    CHECK(truncations_refused == stream_size, "%u of %zu truncations refused", truncations_refused, stream_size);
    CHECK_CODE(replica_decompress(scratch, size * 2, stream, stream_size - 1), replica_error_truncated);

    /* Every single flipped byte: an error, never different content. */
    unsigned char* copy = malloc(stream_size);
    unsigned wrong = 0, accepted = 0;
    for (size_t at = 0; at < stream_size; at++) {
        memcpy(copy, stream, stream_size);
        copy[at] ^= 0x20;
        size_t got = replica_decompress(scratch, size * 2, copy, stream_size);
        if (!replica_is_error(got)) accepted++;
        if (!decodes_to_original_or_fails(copy, stream_size, data, size, scratch, size * 2)) wrong++;
    }
    CHECK(wrong == 0, "%u flipped bytes gave wrong content", wrong);
    CHECK(accepted == 0, "%u flipped bytes were accepted", accepted);
    memcpy(copy, stream, stream_size);
    copy[stream_size / 2] ^= 1;
    size_t flipped = replica_decompress(scratch, size * 2, copy, stream_size);
    CHECK(replica_get_error_code(flipped) == replica_error_checksum_mismatch ||
              replica_get_error_code(flipped) == replica_error_corrupt,
          "a flipped body bit: %s", replica_get_error_name(flipped));

    /* Garbage, and garbage behind a valid header. */
    for (uint64_t seed = 0; seed < 200; seed++) {
        size_t garbage_size = (size_t)(seed * 37 % 5000);
        unsigned char* garbage = random_bytes(garbage_size, seed + 100);
        if (seed % 2 && garbage_size > 64) memcpy(garbage, stream, 64);
        size_t got = replica_decompress(scratch, size * 2, garbage, garbage_size);
        CHECK(replica_is_error(got), "garbage %llu decoded to %zu bytes", (unsigned long long)seed, got);
        free(garbage);
    }
    CHECK_CODE(replica_decompress(scratch, size * 2, "not a stream at all", 19), replica_error_not_replica_stream);

    /* Bytes after the trailer. */
    unsigned char* longer = malloc(stream_size + 3);
    memcpy(longer, stream, stream_size);
    memcpy(longer + stream_size, "xyz", 3);
    CHECK_CODE(replica_decompress(scratch, size * 2, longer, stream_size + 3), replica_error_trailing_data);

    /* The streaming decoder refuses the same truncation at its end call, and names the offset. */
    replica_dctx* dctx = replica_create_dctx();
    replica_in_buffer in = {stream, stream_size - 10, 0};
    replica_out_buffer out = {scratch, size * 2, 0};
    size_t hint = replica_decompress_stream(dctx, &out, &in);
    CHECK(!replica_is_error(hint) && hint > 0, "a truncated stream is not complete: %zu", hint);
    CHECK_CODE(replica_decompress_end(dctx, &out), replica_error_truncated);
    CHECK(strstr(replica_dctx_get_error_message(dctx), "offset") != NULL, "%s", replica_dctx_get_error_message(dctx));
    CHECK_CODE(replica_decompress_stream(dctx, &out, &in), replica_error_truncated);
    replica_free_dctx(dctx);

    /* A decode error is final: every later call returns it, even with a good stream behind it. */
    dctx = replica_create_dctx();
    in = (replica_in_buffer){"not a stream at all", 19, 0};
    out = (replica_out_buffer){scratch, size * 2, 0};
    CHECK_CODE(replica_decompress_stream(dctx, &out, &in), replica_error_not_replica_stream);
    in = (replica_in_buffer){stream, stream_size, 0};
    CHECK_CODE(replica_decompress_stream(dctx, &out, &in), replica_error_not_replica_stream);
    CHECK(out.pos == 0, "nothing delivered after the error: %zu", out.pos);
    CHECK_CODE(replica_decompress_end(dctx, &out), replica_error_not_replica_stream);
    replica_free_dctx(dctx);

    free(longer);
    free(copy);
    free(scratch);
    free(stream);
    free(tail);
    free(data);
}

/* Streams `data` through a cctx in pieces of `in_step` with an output buffer of `out_step` bytes. */
static unsigned char* stream_compress(replica_cctx* cctx, const unsigned char* data, size_t size, size_t in_step,
                                      size_t out_step, size_t* out_size) {
    size_t capacity = replica_compress_bound(size) * 2 + 4096, written = 0;
    unsigned char* stream = malloc(capacity);
    size_t offset = 0, result = 0;
    unsigned calls = 0;
    while (offset < size) {
        size_t piece = size - offset < in_step ? size - offset : in_step;
        replica_in_buffer in = {data + offset, piece, 0};
        while (in.pos < in.size) {
            replica_out_buffer out = {stream + written, out_step, 0};
            result = replica_compress_stream(cctx, &out, &in);
            written += out.pos;
            if (replica_is_error(result) || ++calls > 100000000) goto fail;
        }
        offset += piece;
    }
    do {
        replica_out_buffer out = {stream + written, out_step, 0};
        result = replica_end_stream(cctx, &out);
        written += out.pos;
        if (replica_is_error(result)) goto fail;
    } while (result != 0);
    *out_size = written;
    return stream;
fail:
    CHECK(0, "stream compress: %s: %s", replica_get_error_name(result), replica_cctx_get_error_message(cctx));
    *out_size = 0;
    return stream;
}

static size_t stream_decompress(replica_dctx* dctx, const unsigned char* stream, size_t size, size_t in_step,
                                size_t out_step, unsigned char* dst, size_t capacity) {
    size_t written = 0, offset = 0, result = 1;
    while (offset < size) {
        size_t piece = size - offset < in_step ? size - offset : in_step;
        replica_in_buffer in = {stream + offset, piece, 0};
        do {
            size_t room = capacity - written < out_step ? capacity - written : out_step;
            replica_out_buffer out = {dst + written, room, 0};
            result = replica_decompress_stream(dctx, &out, &in);
            written += out.pos;
            if (replica_is_error(result)) return result;
        } while (in.pos < in.size || (result != 0 && result != 1));
        offset += piece;
    }
    do {
        size_t room = capacity - written < out_step ? capacity - written : out_step;
        replica_out_buffer out = {dst + written, room, 0};
        result = replica_decompress_end(dctx, &out);
        written += out.pos;
        if (replica_is_error(result)) return result;
    } while (result != 0);
    return written;
}

static void test_streaming(void) {
    size_t size = 600000;
    unsigned char* data = redundant_bytes(size, 11);
    unsigned char* noise = random_bytes(100000, 12);
    memcpy(data + 250000, noise, 100000);
    memcpy(data + 450000, noise, 100000); /* a repeat for the window */
    unsigned char* back = malloc(size);
    const size_t steps[][4] = {
        /* in, out (encoder), in, out (decoder) */
        {size, 1 << 20, size, 1 << 20}, {1, 7, 1, 1}, {4096, 1, 999, 333}, {100000, 64, 1 << 20, 5000}};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++) {
        replica_cctx* cctx = replica_create_cctx();
        CHECK(cctx != NULL, "create cctx");
        size_t stream_size = 0;
        unsigned char* stream = stream_compress(cctx, data, size, steps[i][0], steps[i][1], &stream_size);
        size_t one_shot_check = replica_decompress(back, size, stream, stream_size);
        CHECK(one_shot_check == size && memcmp(back, data, size) == 0, "steps %zu: one-shot decode %s", i,
              replica_get_error_name(one_shot_check));
        memset(back, 0, size);
        replica_dctx* dctx = replica_create_dctx();
        size_t got = stream_decompress(dctx, stream, stream_size, steps[i][2], steps[i][3], back, size);
        CHECK(got == size && memcmp(back, data, size) == 0, "steps %zu: streamed %s (%s)", i,
              replica_get_error_name(got), replica_dctx_get_error_message(dctx));
        replica_free_dctx(dctx);
        /* After the end call a context takes no input, but answers 0 again. */
        replica_in_buffer in = {data, 10, 0};
        unsigned char scratch[64];
        replica_out_buffer out = {scratch, sizeof scratch, 0};
        CHECK_CODE(replica_compress_stream(cctx, &out, &in), replica_error_stage_wrong);
        CHECK(replica_end_stream(cctx, &out) == 0, "end twice");
        replica_free_cctx(cctx);
        free(stream);
    }

    /* Flush: everything pushed so far decodes before the end. */
    replica_cctx* cctx = replica_create_cctx();
    unsigned char* wire = malloc(1 << 20);
    replica_in_buffer in = {data, 5000, 0};
    replica_out_buffer out = {wire, 1 << 20, 0};
    CHECK(replica_compress_stream(cctx, &out, &in) == 0 && in.pos == 5000, "push");
    size_t remaining = replica_flush_stream(cctx, &out);
    CHECK(remaining == 0, "flush: %s", replica_get_error_name(remaining));
    replica_dctx* dctx = replica_create_dctx();
    replica_in_buffer wire_in = {wire, out.pos, 0};
    replica_out_buffer content = {back, size, 0};
    size_t hint = replica_decompress_stream(dctx, &content, &wire_in);
    CHECK(hint == 1 && content.pos == 5000 && memcmp(back, data, 5000) == 0, "flushed data decodes: %zu, %zu", hint,
          content.pos);
    CHECK(replica_decompress_flush(dctx, &content) == 1, "nothing more held");
    replica_free_dctx(dctx);
    /* Parameters are set before the first push. */
    CHECK_CODE(replica_cctx_set_parameter(cctx, REPLICA_c_level, 5), replica_error_stage_wrong);
    replica_free_cctx(cctx);
    free(wire);

    /* Every codec and a few parameters round trip; bad values are refused. */
    static const int codecs[][2] = {{REPLICA_codec_none, 0}, {REPLICA_codec_lz4, 1}, {REPLICA_codec_lz4, 9},
                                    {REPLICA_codec_zstd, 1}, {REPLICA_codec_zstd, -5}};
    for (size_t i = 0; i < sizeof codecs / sizeof codecs[0]; i++) {
        cctx = replica_create_cctx();
        CHECK(replica_cctx_set_parameter(cctx, REPLICA_c_codec, codecs[i][0]) == 0, "codec");
        CHECK(replica_cctx_set_parameter(cctx, REPLICA_c_level, codecs[i][1]) == 0, "level");
        CHECK(replica_cctx_set_parameter(cctx, REPLICA_c_window_log, i == 0 ? 0 : 20) == 0, "window");
        CHECK(replica_cctx_set_parameter(cctx, REPLICA_c_chunk_size_log, 10 + (int)i) == 0, "chunk size");
        size_t stream_size = 0;
        unsigned char* stream = stream_compress(cctx, data, size, 70000, 1 << 20, &stream_size);
        size_t got = replica_decompress(back, size, stream, stream_size);
        CHECK(got == size && memcmp(back, data, size) == 0, "codec %d level %d: %s", codecs[i][0], codecs[i][1],
              replica_get_error_name(got));
        replica_free_cctx(cctx);
        free(stream);
    }
    cctx = replica_create_cctx();
    CHECK_CODE(replica_cctx_set_parameter(cctx, REPLICA_c_codec, 3), replica_error_parameter_out_of_bound);
    CHECK_CODE(replica_cctx_set_parameter(cctx, REPLICA_c_window_log, 5), replica_error_parameter_out_of_bound);
    CHECK_CODE(replica_cctx_set_parameter(cctx, REPLICA_c_window_log, 41), replica_error_parameter_out_of_bound);
    CHECK_CODE(replica_cctx_set_parameter(cctx, REPLICA_c_chunk_size_log, 30), replica_error_parameter_out_of_bound);
    CHECK_CODE(replica_cctx_set_parameter(cctx, (replica_c_parameter)7, 1), replica_error_parameter_unsupported);
    CHECK(replica_cctx_set_parameter(cctx, REPLICA_c_codec, REPLICA_codec_lz4) == 0, "lz4");
    CHECK(replica_cctx_set_parameter(cctx, REPLICA_c_level, 15) == 0, "the level is checked at the first push");
    in = (replica_in_buffer){data, 100, 0};
    unsigned char scratch[256];
    out = (replica_out_buffer){scratch, sizeof scratch, 0};
    CHECK_CODE(replica_compress_stream(cctx, &out, &in), replica_error_parameter_out_of_bound);
    CHECK(strstr(replica_cctx_get_error_message(cctx), "lz4") != NULL, "%s", replica_cctx_get_error_message(cctx));
    CHECK(replica_cctx_set_parameter(cctx, REPLICA_c_level, 12) == 0, "a refused level can be fixed");
    CHECK(replica_compress_stream(cctx, &out, &in) == 0 && in.pos == 100, "then the push works");
    replica_free_cctx(cctx);

    /* The memory limit: a stream with a 1 MiB window and 256 KiB blocks needs 144 MB by ReplicaCore's accounting. */
    cctx = replica_create_cctx();
    replica_cctx_set_parameter(cctx, REPLICA_c_window_log, 20);
    size_t stream_size = 0;
    unsigned char* stream = stream_compress(cctx, data, 1000, 1000, 4096, &stream_size);
    replica_free_cctx(cctx);
    dctx = replica_create_dctx();
    CHECK(replica_dctx_set_memory_limit(dctx, 1 << 20) == 0, "set limit");
    size_t limited = stream_decompress(dctx, stream, stream_size, stream_size, 4096, back, size);
    CHECK_CODE(limited, replica_error_memory_limit);
    CHECK_CODE(replica_dctx_set_memory_limit(dctx, 1 << 30), replica_error_stage_wrong);
    replica_free_dctx(dctx);
    dctx = replica_create_dctx();
    CHECK(replica_dctx_set_memory_limit(dctx, 256 << 20) == 0, "set limit"); /* the header needs 144 MB */
    size_t within = stream_decompress(dctx, stream, stream_size, 100, 100, back, size);
    CHECK(within == 1000, "within the limit: %s (%s)", replica_get_error_name(within), replica_dctx_get_error_message(dctx));
    replica_free_dctx(dctx);
    free(stream);

    free(back);
    free(noise);
    free(data);
}

/* Sends two versions of a file from one store to another; returns the second stream's size. */
static void check_store_transfer(replica_store* sender, replica_store* receiver, const char* what) {
    size_t size = 400000;
    unsigned char* first = random_bytes(size, 21);
    unsigned char* second = malloc(size);
    memcpy(second, first, size);
    memcpy(second + 200000, "an edit in the middle", 21);
    unsigned char* back = malloc(size);
    size_t sizes[2] = {0, 0};
    for (int version = 0; version < 2; version++) {
        const unsigned char* data = version == 0 ? first : second;
        replica_cctx* cctx = replica_create_cctx_with_store(sender);
        unsigned char* stream = stream_compress(cctx, data, size, 65536, 1 << 16, &sizes[version]);
        replica_free_cctx(cctx);
        replica_dctx* dctx = replica_create_dctx_with_store(receiver);
        size_t got = stream_decompress(dctx, stream, sizes[version], 30000, 1 << 20, back, size);
        CHECK(got == size && memcmp(back, data, size) == 0, "%s version %d: %s (%s)", what, version,
              replica_get_error_name(got), replica_dctx_get_error_message(dctx));
        replica_free_dctx(dctx);
        if (version == 1) {
            /* Store-backed streams need a store, and the right one. */
            CHECK_CODE(replica_decompress(back, size, stream, sizes[1]), replica_error_wrong_store);
            replica_store* empty = replica_store_create_memory(64 << 20);
            dctx = replica_create_dctx_with_store(empty);
            got = stream_decompress(dctx, stream, sizes[1], sizes[1], 1 << 20, back, size);
            CHECK_CODE(got, replica_error_missing_chunks);
            replica_free_dctx(dctx);
            replica_store_free(empty);
        }
        free(stream);
    }
    CHECK(sizes[1] < sizes[0] / 10, "%s: the second version took %zu bytes, the first %zu", what, sizes[1], sizes[0]);
    CHECK(replica_store_chunk_count(sender) > 10 && replica_store_chunk_count(sender) ==
          replica_store_chunk_count(receiver), "%s: stores in step", what);
    free(back);
    free(second);
    free(first);
}

static void test_stores(void) {
    replica_store* sender = replica_store_create_memory(64 << 20);
    replica_store* receiver = replica_store_create_memory(64 << 20);
    CHECK(sender && receiver, "memory stores");
    check_store_transfer(sender, receiver, "memory");
    replica_store_free(sender);
    replica_store_free(receiver);

    char directory[] = "/dev/shm/replica-c-test-XXXXXX";
    if (mkdtemp(directory) == NULL) {
        memcpy(directory, "/tmp/replica-c-test-XXXXXX", sizeof "/tmp/replica-c-test-XXXXXX");
        CHECK(mkdtemp(directory) != NULL, "mkdtemp");
    }
    char sender_path[128], receiver_path[128];
    snprintf(sender_path, sizeof sender_path, "%s/sender", directory);
    snprintf(receiver_path, sizeof receiver_path, "%s/receiver", directory);
    size_t error = 1;
    sender = replica_store_open_disk(sender_path, 64 << 20, &error);
    CHECK(sender != NULL && error == 0, "open %s: %s", sender_path, replica_get_error_name(error));
    receiver = replica_store_open_disk(receiver_path, 0, &error);
    CHECK(receiver != NULL && error == 0, "open %s: %s", receiver_path, replica_get_error_name(error));
    if (sender && receiver) check_store_transfer(sender, receiver, "disk");
    CHECK(replica_store_flush(sender) == 0, "flush");
    /* One process at a time: a second open of the same store is refused, by name. */
    CHECK(replica_store_open_disk(sender_path, 0, &error) == NULL, "second open");
    CHECK_CODE(error, replica_error_store);
    unsigned long long chunks = replica_store_chunk_count(sender);
    CHECK(replica_store_free(sender) == 0, "close sender");
    CHECK(replica_store_free(receiver) == 0, "close receiver");
    /* Reopened, the store still holds its chunks. */
    sender = replica_store_open_disk(sender_path, 0, &error);
    CHECK(sender != NULL && replica_store_chunk_count(sender) == chunks, "reopen: %llu chunks, had %llu",
          replica_store_chunk_count(sender), chunks);
    replica_store_free(sender);
    /* Not a store: a regular file, and a capacity below the minimum. */
    char file_path[160];
    snprintf(file_path, sizeof file_path, "%s/file", directory);
    FILE* file = fopen(file_path, "w");
    fputs("not a store", file);
    fclose(file);
    CHECK(replica_store_open_disk(file_path, 0, &error) == NULL, "a file is not a store");
    CHECK_CODE(error, replica_error_store);
    CHECK(replica_store_open_disk(receiver_path, 1000, &error) == NULL, "capacity 1000");
    CHECK_CODE(error, replica_error_parameter_out_of_bound);
    char command[256];
    snprintf(command, sizeof command, "rm -rf '%s'", directory);
    CHECK(system(command) == 0, "clean up");
}

/*
 * Regression for issue 12 (found again by Fuzz/FuzzDecoderMemory): a hand-made stream of 400 lz4 blocks, each a
 * 1-byte literal and 16,383 window references to it, 46 KB in all (Fuzz/Corpus/memory/lz4-window-pinning). Its
 * header asks for a 4 KiB window. Before ReplicaCore's fix each 1-byte literal kept its whole 16 KB block body
 * alive in the window: 7.0 MB of heap for this stream, growing with its length. Now the decoder may hold its
 * window, a block or two and their bookkeeping: far below 2 MiB here, whatever limit the header needs.
 */
/* Under ASan (make c-test) its allocator replaces malloc and mallinfo2 reports nothing; ask it instead. */
size_t __sanitizer_get_current_allocated_bytes(void) __attribute__((weak));

static size_t heap_in_use(void) {
    if (__sanitizer_get_current_allocated_bytes) return __sanitizer_get_current_allocated_bytes();
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

static void test_memory_limit_holds(const char* fixtures) {
    char path[512];
    snprintf(path, sizeof path, "%s/window-pinning.rpl", fixtures);
    FILE* file = fopen(path, "rb");
    CHECK(file != NULL, "open %s", path);
    if (!file) return;
    static unsigned char stream[1 << 20];
    size_t size = fread(stream, 1, sizeof stream, file);
    fclose(file);
    size_t limit = 32 << 20; /* above what the header needs (22.3 MB: zstd history is always counted) */
    replica_dctx* dctx = replica_create_dctx();
    CHECK(replica_dctx_set_memory_limit(dctx, limit) == 0, "limit");
    unsigned char* out = malloc(1 << 16);
    size_t before = heap_in_use(), peak = before, written = 0, result = 1;
    replica_in_buffer in = {stream, size, 0};
    while (!replica_is_error(result) && (in.pos < in.size || result > 1)) {
        replica_out_buffer output = {out, 1 << 16, 0};
        result = replica_decompress_stream(dctx, &output, &in);
        written += output.pos;
        size_t now = heap_in_use();
        if (now > peak) peak = now;
    }
    CHECK(!replica_is_error(result) && written == 400u * 16384u, "the stream decodes: %s, %zu bytes",
          replica_get_error_name(result), written);
    size_t used = peak - before;
    CHECK(used < (2 << 20), "decoding a 46 KB stream with a 4 KiB window held %zu heap bytes", used);
    replica_free_dctx(dctx);
    free(out);
}

int main(int argc, char** argv) {
    const char* fixtures = argc > 1 ? argv[1] : "Tests/CTests/fixtures";
    test_errors();
    test_one_shot();
    test_null_pointers();
    test_bad_input();
    test_streaming();
    test_stores();
    test_memory_limit_holds(fixtures);
    printf("c-test: %u passed, %u failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
