// A small driver around llama.cpp's own row quantizers (ggml-quants.c of the llama.cpp tree
// that bench/llamacpp.sh fetches), for making test fixtures: the blocks llama-quantize
// writes for a tensor without an importance matrix (quantize_<type>(src, dst, rows,
// columns, NULL)). Compiled by scripts/make_kquant_quantize_fixture.sh and
// scripts/make_ktypes_fixture.sh against that source; never linked into SwiftLlama.
//
//   driver TYPE COLUMNS IN.f32 OUT.bin     TYPE: q2_K q3_K q4_K q5_K q6_K iq4_nl iq4_xs
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include "ggml.h"

// ggml-quants.c's few references into ggml.c.
void ggml_abort(const char *file, int line, const char *fmt, ...) {
    (void)fmt;
    fprintf(stderr, "ggml abort at %s:%d\n", file, line);
    exit(1);
}
static const struct { enum ggml_type type; const char *name; int block, bytes; } types[] = {
    {GGML_TYPE_Q2_K, "q2_K", 256, 84},   {GGML_TYPE_Q3_K, "q3_K", 256, 110}, {GGML_TYPE_Q4_K, "q4_K", 256, 144},
    {GGML_TYPE_Q5_K, "q5_K", 256, 176},  {GGML_TYPE_Q6_K, "q6_K", 256, 210}, {GGML_TYPE_IQ4_NL, "iq4_nl", 32, 18},
    {GGML_TYPE_IQ4_XS, "iq4_xs", 256, 136},
};
static int find(enum ggml_type t) {
    for (int i = 0; i < (int)(sizeof types / sizeof types[0]); i++) if (types[i].type == t) return i;
    fprintf(stderr, "type %d not in the driver's table\n", (int)t);
    exit(1);
}
size_t ggml_row_size(enum ggml_type t, int64_t ne) { const int i = find(t); return (size_t)(ne / types[i].block * types[i].bytes); }
size_t ggml_type_size(enum ggml_type t) { return (size_t)types[find(t)].bytes; }
const char *ggml_type_name(enum ggml_type t) { return types[find(t)].name; }

size_t quantize_q2_K(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
size_t quantize_q3_K(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
size_t quantize_q4_K(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
size_t quantize_q5_K(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
size_t quantize_q6_K(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
size_t quantize_iq4_nl(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);
size_t quantize_iq4_xs(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *imatrix);

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s TYPE COLUMNS IN.f32 OUT.bin\n", argv[0]);
        return 2;
    }
    size_t (*quantize)(const float *, void *, int64_t, int64_t, const float *) = NULL;
    int bytes = 0, block = 0;
    const char *name = argv[1];
    if (!strcmp(name, "q2_K")) quantize = quantize_q2_K;
    if (!strcmp(name, "q3_K")) quantize = quantize_q3_K;
    if (!strcmp(name, "q4_K")) quantize = quantize_q4_K;
    if (!strcmp(name, "q5_K")) quantize = quantize_q5_K;
    if (!strcmp(name, "q6_K")) quantize = quantize_q6_K;
    if (!strcmp(name, "iq4_nl")) quantize = quantize_iq4_nl;
    if (!strcmp(name, "iq4_xs")) quantize = quantize_iq4_xs;
    for (int i = 0; i < (int)(sizeof types / sizeof types[0]); i++)
        if (!strcmp(types[i].name, name)) { bytes = types[i].bytes; block = types[i].block; }
    if (!quantize) { fprintf(stderr, "unknown type %s\n", name); return 2; }
    const long cols = atol(argv[2]);
    FILE *f = fopen(argv[3], "rb");
    if (!f) { perror(argv[3]); return 1; }
    fseek(f, 0, SEEK_END);
    const long n = ftell(f) / 4;
    fseek(f, 0, SEEK_SET);
    float *x = malloc((size_t)n * 4);
    if (fread(x, 4, (size_t)n, f) != (size_t)n) { fprintf(stderr, "short read\n"); return 1; }
    fclose(f);
    if (cols <= 0 || cols % block != 0 || n % cols != 0) { fprintf(stderr, "%ld values do not make rows of %ld (block %d)\n", n, cols, block); return 1; }
    const size_t size = (size_t)(n / block) * bytes;
    char *y = calloc(size, 1);
    quantize(x, y, n / cols, cols, NULL);
    f = fopen(argv[4], "wb");
    if (!f || fwrite(y, 1, size, f) != size) { perror(argv[4]); return 1; }
    fclose(f);
    return 0;
}
