/*
 * replica.h: the C interface of Replica, a content-defined deduplicating codec (see docs/C-API.md).
 *
 * The grammar follows zstd.h: one-shot calls, opaque contexts with create/free pairs (free accepts NULL),
 * streaming calls over {ptr, size, pos} buffers that advance pos, and size_t results that are either a size or an
 * error code, tested with replica_is_error() and named by replica_get_error_name().
 *
 * Safety: no call aborts the host process on bad input. NULL pointers, undersized destinations, truncated,
 * corrupt or hostile streams, misuse of a context's stage, and store failures all return an error code. What is
 * not checked (as in zstd): pointers that are not NULL but invalid, buffers smaller than the sizes given, handles
 * that were already freed, and one context used by two threads at once. Running out of memory ends the process,
 * as it does for any Swift code.
 *
 * Stability: everything in this header is stable from version 0.1.0 on; error code values never change.
 */
#ifndef REPLICA_H
#define REPLICA_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define REPLICA_VERSION_MAJOR 0
#define REPLICA_VERSION_MINOR 1
#define REPLICA_VERSION_RELEASE 0
#define REPLICA_VERSION_NUMBER (REPLICA_VERSION_MAJOR * 10000 + REPLICA_VERSION_MINOR * 100 + REPLICA_VERSION_RELEASE)

/** The library's version, REPLICA_VERSION_NUMBER of the build that made it. */
unsigned replica_version_number(void);

/* ------------------------------------------------------------------------------------------------------------ */
/* Errors                                                                                                         */
/* ------------------------------------------------------------------------------------------------------------ */

/**
 * Error codes. A size_t result r is an error when replica_is_error(r); then replica_get_error_code(r) is one of
 * these. Values are stable.
 */
typedef enum {
    replica_error_no_error = 0,
    replica_error_generic = 1,
    /* The input is not what it should be (from FormatError's codes). */
    replica_error_not_replica_stream = 10,  /* does not start with the magic bytes RPLC */
    replica_error_unsupported_version = 11,
    replica_error_unsupported_feature = 12,
    replica_error_corrupt = 13,             /* a frame that does not parse */
    replica_error_checksum_mismatch = 14,
    replica_error_truncated = 15,           /* the input ended before the trailer */
    replica_error_memory_limit = 16,        /* the stream needs more memory than the decoder's limit */
    replica_error_trailing_data = 17,       /* bytes follow the trailer */
    replica_error_missing_chunks = 18,      /* the store lacks chunks the stream references */
    replica_error_wrong_store = 19,         /* a store-backed stream given to a decoder without a store */
    replica_error_wrong_key = 20,
    /* The caller's arguments. */
    replica_error_null_pointer = 40,        /* a required pointer is NULL, or a buffer pointer is NULL with size > 0 */
    replica_error_dst_size_too_small = 41,  /* one-shot: the result does not fit dstCapacity */
    replica_error_parameter_unsupported = 42,
    replica_error_parameter_out_of_bound = 43, /* a level, size or parameter value outside its range */
    replica_error_buffer_position = 44,     /* a buffer's pos is larger than its size */
    replica_error_stage_wrong = 45,         /* for example pushing input after replica_end_stream */
    /* The library or the system. */
    replica_error_codec = 60,               /* a compression library failed */
    replica_error_store = 61,               /* the chunk store failed (I/O, full disk, in use, closed) */
    replica_error_max_code = 100            /* never returned: the bound replica_is_error() uses */
} replica_error_code;

/** 1 when `result` is an error code, 0 when it is a size. */
unsigned replica_is_error(size_t result);

/** The error code in `result`, or replica_error_no_error when `result` is a size. */
replica_error_code replica_get_error_code(size_t result);

/** A static string naming the error in `result` ("No error detected" for a size). Never NULL. */
const char* replica_get_error_name(size_t result);

/** A static string naming `code`. Never NULL. */
const char* replica_get_error_string(replica_error_code code);

/* ------------------------------------------------------------------------------------------------------------ */
/* One-shot calls                                                                                                 */
/* ------------------------------------------------------------------------------------------------------------ */

/** The largest level replica_compress() and REPLICA_c_level accept (zstd's 19); 0 means the default, 3. */
#define REPLICA_MAX_LEVEL 19
/** The smallest level: zstd's fast levels are negative. */
int replica_min_level(void);

/**
 * The most bytes replica_compress() can produce for `srcSize` bytes of input, or an error code
 * (replica_error_parameter_out_of_bound) when that bound does not fit a size_t.
 */
size_t replica_compress_bound(size_t srcSize);

/**
 * Compresses `src` into one self-contained stream (zstd at `level`, 0 for the default) in `dst`.
 *
 * @return the stream's size, or an error code: replica_error_dst_size_too_small when it does not fit
 *         (dstCapacity >= replica_compress_bound(srcSize) always fits), replica_error_parameter_out_of_bound
 *         for a bad level, replica_error_null_pointer.
 */
size_t replica_compress(void* dst, size_t dstCapacity, const void* src, size_t srcSize, int level);

/**
 * Decompresses one whole self-contained stream. Every block is verified before its bytes are written; nothing
 * past dstCapacity is ever written, whatever the stream claims. The decoder's memory limit is the default
 * (REPLICA_DEFAULT_MEMORY_LIMIT); use a replica_dctx to choose another.
 *
 * @return the decompressed size, or an error code: replica_error_dst_size_too_small when the content does not
 *         fit, replica_error_truncated, replica_error_corrupt, replica_error_checksum_mismatch, ...
 *         On an error, dst holds undefined bytes.
 */
size_t replica_decompress(void* dst, size_t dstCapacity, const void* src, size_t srcSize);

/* ------------------------------------------------------------------------------------------------------------ */
/* Chunk stores: cross-transfer deduplication                                                                     */
/* ------------------------------------------------------------------------------------------------------------ */

/**
 * An opaque chunk store shared by encoder and decoder contexts. An encoder with a store sends chunks the store
 * holds as 16-byte references and adds new chunks; a decoder with a store resolves them and learns new chunks,
 * so two stores fed the same streams stay in step. Contexts keep the store alive while they use it.
 */
typedef struct replica_store_s replica_store;

/** A bounded in-memory LRU store of at most `capacity` bytes of chunks. NULL when capacity is 0. */
replica_store* replica_store_create_memory(size_t capacity);

/**
 * Opens (creating when missing) the persistent store in `directory`, of at most `capacity` bytes (0 for the
 * store's recorded or default capacity). One process at a time may hold a store open.
 *
 * @param error when not NULL, receives 0 or the error code (replica_error_store: not a store, in use, I/O;
 *        replica_error_parameter_out_of_bound: a capacity below 1 MiB; replica_error_null_pointer).
 * @return the store, or NULL on failure.
 */
replica_store* replica_store_open_disk(const char* directory, unsigned long long capacity, size_t* error);

/** Writes a disk store's buffered records to disk (fsync). @return 0 or an error code. */
size_t replica_store_flush(replica_store* store);

/** The number of chunks the store holds. */
unsigned long long replica_store_chunk_count(const replica_store* store);

/**
 * Releases the caller's handle. A disk store is closed here (its index written, its lock released): free every
 * context that uses it first, since they get replica_error_store afterwards. Accepts NULL.
 *
 * @return 0, or an error code when closing a disk store failed (the store stays recoverable).
 */
size_t replica_store_free(replica_store* store);

/* ------------------------------------------------------------------------------------------------------------ */
/* Streaming                                                                                                      */
/* ------------------------------------------------------------------------------------------------------------ */

/** Input: the call reads src[pos..<size] and advances pos past what it consumed. */
typedef struct {
    const void* src;
    size_t size;
    size_t pos;
} replica_in_buffer;

/** Output: the call writes dst[pos..<size] and advances pos past what it wrote. */
typedef struct {
    void* dst;
    size_t size;
    size_t pos;
} replica_out_buffer;

/** The input size that keeps a streaming call efficient (any size works). */
size_t replica_stream_in_size(void);
/** An output size that holds at least one whole block (any size works). */
size_t replica_stream_out_size(void);

/* -- Encoder ---------------------------------------------------------------------------------------------- */

/** An encoder context, for one stream at a time. Not thread-safe. */
typedef struct replica_cctx_s replica_cctx;

/** Parameters set before the first push (replica_error_stage_wrong afterwards). */
typedef enum {
    REPLICA_c_codec = 100,         /* replica_codec; default REPLICA_codec_zstd */
    REPLICA_c_level = 101,         /* the codec's level: zstd replica_min_level()..19 (0: 3), lz4 1..12 */
    REPLICA_c_window_log = 102,    /* the reference window, 1 << value bytes, 10..40; 0 disables it; default 28 */
    REPLICA_c_chunk_size_log = 103 /* the average chunk size, 1 << value bytes, 8..22; default 13 */
} replica_c_parameter;

/** Codecs for literal blocks. */
typedef enum { REPLICA_codec_none = 0, REPLICA_codec_lz4 = 1, REPLICA_codec_zstd = 2 } replica_codec;

/** An encoder at the default settings (zstd level 3), or NULL when memory is short. */
replica_cctx* replica_create_cctx(void);

/** An encoder that references and fills `store` (which may be NULL: then as replica_create_cctx()). */
replica_cctx* replica_create_cctx_with_store(replica_store* store);

/** Frees an encoder. Accepts NULL. @return 0. */
size_t replica_free_cctx(replica_cctx* cctx);

/** Sets a parameter before the first push. @return 0 or an error code. */
size_t replica_cctx_set_parameter(replica_cctx* cctx, replica_c_parameter parameter, int value);

/**
 * Push: consumes input (as much as the output has room for) and writes whatever encoded bytes are ready.
 * Output is produced a block at a time, so a call may consume input and write nothing.
 *
 * @return the number of encoded bytes still held in the context (write them out with more calls), or an error.
 */
size_t replica_compress_stream(replica_cctx* cctx, replica_out_buffer* output, replica_in_buffer* input);

/**
 * Flush: closes the pending block so the decoder can deliver everything pushed so far, and writes it.
 * The forced cut is not content-defined: flush only when latency matters more than deduplication.
 *
 * @return 0 when everything is written, the bytes still held (call again with more room), or an error.
 */
size_t replica_flush_stream(replica_cctx* cctx, replica_out_buffer* output);

/**
 * End: writes the last block and the trailer. Afterwards the context takes no more input.
 *
 * @return 0 when the stream is completely written, the bytes still held (call again), or an error.
 */
size_t replica_end_stream(replica_cctx* cctx, replica_out_buffer* output);

/** The last error's message for this context, naming offsets and sizes; "" when none. Valid until the next call. */
const char* replica_cctx_get_error_message(const replica_cctx* cctx);

/* -- Decoder ---------------------------------------------------------------------------------------------- */

/** The decoder's default memory limit: 1 GiB. */
#define REPLICA_DEFAULT_MEMORY_LIMIT ((size_t)1 << 30)

/** A decoder context, for one stream. Not thread-safe. */
typedef struct replica_dctx_s replica_dctx;

/** A decoder for self-contained streams, or NULL when memory is short. */
replica_dctx* replica_create_dctx(void);

/** A decoder that resolves store references against `store` and adds new chunks to it (NULL: no store). */
replica_dctx* replica_create_dctx_with_store(replica_store* store);

/** Frees a decoder. Accepts NULL. @return 0. */
size_t replica_free_dctx(replica_dctx* dctx);

/**
 * Sets the most memory the decoder may need before the first push: a stream whose header asks for more is refused
 * with replica_error_memory_limit. @return 0 or an error code.
 */
size_t replica_dctx_set_memory_limit(replica_dctx* dctx, size_t bytes);

/**
 * Push: consumes input and writes verified content. Output is held back until its block's checksums are
 * verified, and the context holds at most about one block of decoded content that did not fit the output.
 *
 * @return 0 when the stream is complete (trailer verified) and all content written; otherwise a hint > 0
 *         (more input is expected, or content is held: call again with more room), or an error. Errors are final.
 */
size_t replica_decompress_stream(replica_dctx* dctx, replica_out_buffer* output, replica_in_buffer* input);

/** Flush: writes held content without new input. @return as replica_decompress_stream(). */
size_t replica_decompress_flush(replica_dctx* dctx, replica_out_buffer* output);

/**
 * End: declares the end of input and writes any held content.
 *
 * @return 0 when the stream was complete and everything is written; a hint > 0 when content is still held (call
 *         again with more room); replica_error_truncated when the input stopped before the trailer,
 *         replica_error_missing_chunks when the store lacked referenced chunks.
 */
size_t replica_decompress_end(replica_dctx* dctx, replica_out_buffer* output);

/** The last error's message for this context, naming offsets and sizes; "" when none. Valid until the next call. */
const char* replica_dctx_get_error_message(const replica_dctx* dctx);

#ifdef __cplusplus
}
#endif

#endif /* REPLICA_H */
