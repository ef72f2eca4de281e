/*
 * Compresses a file with Replica's streaming API, decompresses it again, and checks the round trip.
 *
 *   cc roundtrip.c $(pkg-config --cflags --libs replica) -o roundtrip
 *   ./roundtrip INPUT [STORE_DIR]
 *
 * Writes INPUT.rpl and INPUT.out beside INPUT. With STORE_DIR, both sides use a disk store there (created when
 * missing): run it twice on the same file and the second stream is mostly 16-byte references.
 */
#include <replica.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char* what, size_t code, const char* detail) {
    fprintf(stderr, "roundtrip: %s: %s%s%s\n", what, replica_get_error_name(code), detail ? ": " : "",
            detail ? detail : "");
    return 1;
}

/* Streams `in` through the encoder into `out`. */
static int compress_file(FILE* in, FILE* out, replica_store* store) {
    size_t in_size = replica_stream_in_size(), out_size = replica_stream_out_size();
    unsigned char* in_buffer = malloc(in_size);
    unsigned char* out_buffer = malloc(out_size);
    replica_cctx* cctx = replica_create_cctx_with_store(store);
    int status = 0;
    size_t read, result;
    while ((read = fread(in_buffer, 1, in_size, in)) > 0) {
        replica_in_buffer input = {in_buffer, read, 0};
        while (input.pos < input.size) {
            replica_out_buffer output = {out_buffer, out_size, 0};
            result = replica_compress_stream(cctx, &output, &input);
            if (replica_is_error(result)) { status = fail("compress", result, replica_cctx_get_error_message(cctx)); goto done; }
            fwrite(out_buffer, 1, output.pos, out);
        }
    }
    do {
        replica_out_buffer output = {out_buffer, out_size, 0};
        result = replica_end_stream(cctx, &output);
        if (replica_is_error(result)) { status = fail("end", result, replica_cctx_get_error_message(cctx)); goto done; }
        fwrite(out_buffer, 1, output.pos, out);
    } while (result != 0);
done:
    replica_free_cctx(cctx);
    free(out_buffer);
    free(in_buffer);
    return status;
}

/* Streams `in` through the decoder into `out`; every byte written has been verified. */
static int decompress_file(FILE* in, FILE* out, replica_store* store) {
    size_t in_size = replica_stream_in_size(), out_size = replica_stream_out_size();
    unsigned char* in_buffer = malloc(in_size);
    unsigned char* out_buffer = malloc(out_size);
    replica_dctx* dctx = replica_create_dctx_with_store(store);
    replica_dctx_set_memory_limit(dctx, 512u << 20);
    int status = 0;
    size_t read, result = 1;
    while ((read = fread(in_buffer, 1, in_size, in)) > 0) {
        replica_in_buffer input = {in_buffer, read, 0};
        do {
            replica_out_buffer output = {out_buffer, out_size, 0};
            result = replica_decompress_stream(dctx, &output, &input);
            if (replica_is_error(result)) { status = fail("decompress", result, replica_dctx_get_error_message(dctx)); goto done; }
            fwrite(out_buffer, 1, output.pos, out);
        } while (input.pos < input.size || result > 1);
    }
    do {
        replica_out_buffer output = {out_buffer, out_size, 0};
        result = replica_decompress_end(dctx, &output);
        if (replica_is_error(result)) { status = fail("decompress", result, replica_dctx_get_error_message(dctx)); goto done; }
        fwrite(out_buffer, 1, output.pos, out);
    } while (result != 0);
done:
    replica_free_dctx(dctx);
    free(out_buffer);
    free(in_buffer);
    return status;
}

static int same_files(const char* a, const char* b) {
    FILE* fa = fopen(a, "rb");
    FILE* fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb) same = 0;
        if (ca == EOF || cb == EOF) break;
    }
    if (fa) fclose(fa);
    if (fb) fclose(fb);
    return same;
}

int main(int argc, char** argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: roundtrip INPUT [STORE_DIR]\n");
        return 2;
    }
    const char* input = argv[1];
    size_t length = strlen(input) + 8;
    char* encoded = malloc(length);
    char* decoded = malloc(length);
    snprintf(encoded, length, "%s.rpl", input);
    snprintf(decoded, length, "%s.out", input);
    /* One store serves both sides here, as on one machine; across a link each side opens its own, and the
       streams keep the two in step. */
    replica_store* store = NULL;
    if (argc == 3) {
        size_t error = 0;
        store = replica_store_open_disk(argv[2], 0, &error);
        if (!store) return fail(argv[2], error, NULL);
    }
    FILE* in = fopen(input, "rb");
    FILE* out = fopen(encoded, "wb");
    if (!in || !out) { perror(input); return 1; }
    int status = compress_file(in, out, store);
    fclose(in);
    fclose(out);
    long encoded_size = 0;
    if (status == 0) {
        in = fopen(encoded, "rb");
        out = fopen(decoded, "wb");
        if (!in || !out) { perror(encoded); return 1; }
        fseek(in, 0, SEEK_END);
        encoded_size = ftell(in);
        rewind(in);
        status = decompress_file(in, out, store);
        fclose(in);
        fclose(out);
    }
    if (status == 0 && !same_files(input, decoded)) {
        fprintf(stderr, "roundtrip: %s and %s differ\n", input, decoded);
        status = 1;
    }
    if (status == 0) printf("roundtrip: %s -> %ld bytes -> %s: identical\n", input, encoded_size, decoded);
    if (replica_is_error(replica_store_free(store))) status = 1;
    free(encoded);
    free(decoded);
    return status;
}
