#include "CKernels.h"
#include "GEMMBF16.h"
#include "kernel_common.h"
#include "repack_k23.h"
#include "r8_legacy.h"
#include "repack_kquants.h"
#include "RepackHalf.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

void swiftllama_prefetch(const void *p, long bytes) {
#if defined(__x86_64__)
    for (long i = 0; i < bytes; i += 64) _mm_prefetch((const char *)p + i, _MM_HINT_T0);
#else
    for (long i = 0; i < bytes; i += 64) __builtin_prefetch((const char *)p + i);
#endif
}

// ---------------------------------------------------------------------------------------
// Kernel selection. The generation kernels exist in several sets (kernels_*.c), each
// compiled for one instruction-set level with target attributes, so one binary built for
// any x86-64 baseline runs the best set the CPU has. The choice is made once, from CPUID:
//   - AVX-512 F+BW+VL+VNNI, Intel (and any other vendor), and AMD from Zen 5 (family 0x1A
//     on, which executes 512-bit vectors whole): "avx512", two rows per call, two blocks per
//     512-bit instruction (measured fastest on an Intel Xeon; on Zen 5 its few-token R8
//     kernels 1.3–1.6× faster per thread at 4–8 tokens, the rest even, bench/kernels.sh);
//   - the same on AMD before Zen 5 (Zen 4, family 0x19, executes 512-bit vectors as two
//     256-bit halves): "avx512-256", 256-bit VNNI products one row per call (measured
//     1.2–1.9× faster per thread there than the two-row 512-bit kernels), still with the
//     512-bit int8 GEMM;
//   - AVX2+FMA+F16C: "avx2"; otherwise "generic" (plain loops).
// LLAMA_KERNELS=generic|avx2|avx512-256|avx512 overrides it (a set the CPU lacks is refused
// with a message on stderr, and the automatic choice stays).

typedef struct {
    int avx2, avx512, amd, intel;
    unsigned family, model;
    /// AVX-512 F+BW+VL with AVX512_BF16 (vdpbf16ps): the prompt GEMM of F16/BF16 weights.
    int bf16;
} cpu_features;

static cpu_features detect_cpu(void) {
    cpu_features f = {0, 0, 0, 0, 0, 0, 0};
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
    const unsigned maxLeaf = a;
    char vendor[13];
    memcpy(vendor, &b, 4);
    memcpy(vendor + 4, &d, 4);
    memcpy(vendor + 8, &c, 4);
    vendor[12] = 0;
    f.amd = strcmp(vendor, "AuthenticAMD") == 0 || strcmp(vendor, "HygonGenuine") == 0;
    f.intel = strcmp(vendor, "GenuineIntel") == 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    const unsigned baseFamily = (a >> 8) & 0xF;
    f.family = baseFamily == 0xF ? baseFamily + ((a >> 20) & 0xFF) : baseFamily;
    f.model = ((a >> 4) & 0xF) | (baseFamily >= 0x6 ? ((a >> 16) & 0xF) << 4 : 0);
    const int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx || maxLeaf < 7) return f;
    unsigned xlo, xhi;
    __asm__ volatile("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    const int ymm = (xlo & 0x6) == 0x6, zmm = (xlo & 0xE6) == 0xE6;
    __cpuid_count(7, 0, a, b, c, d);
    const int avx2 = (b >> 5) & 1, bmi2 = (b >> 8) & 1;
    const int avx512f = (b >> 16) & 1, avx512dq = (b >> 17) & 1, avx512bw = (b >> 30) & 1, avx512vl = (b >> 31) & 1;
    const int vnni = (c >> 11) & 1;
    f.avx2 = ymm && avx2 && fma && f16c && bmi2;
    f.avx512 = f.avx2 && zmm && avx512f && avx512dq && avx512bw && avx512vl && vnni;
    const unsigned maxSubleaf7 = a;
    if (maxSubleaf7 >= 1) {
        __cpuid_count(7, 1, a, b, c, d);
        f.bf16 = f.avx2 && zmm && avx512f && avx512dq && avx512bw && avx512vl && ((a >> 5) & 1);
    }
#endif
    return f;
}

static const swiftllama_kernel_set *const all_sets[] = {
    &swiftllama_set_generic,
#if defined(__x86_64__)
    &swiftllama_set_avx2, &swiftllama_set_avx512_256, &swiftllama_set_avx512,
#endif
};
static const int all_set_count = (int)(sizeof(all_sets) / sizeof(all_sets[0]));

static int cpu_runs(const swiftllama_kernel_set *s, cpu_features f) {
#if defined(__x86_64__)
    if (s == &swiftllama_set_avx2) return f.avx2;
    if (s == &swiftllama_set_avx512_256 || s == &swiftllama_set_avx512) return f.avx512;
#endif
    (void)f;
    return s == &swiftllama_set_generic;
}

/// AMD cores that execute 512-bit vectors whole: Zen 5 (family 0x1A) and later; Zen 4 splits
/// them into two 256-bit halves. (Zen 5's mobile parts are said to split them too; not
/// measured here, they get the full-width choices by family.)
static int amd_full_width(cpu_features f) { return f.family >= 0x1A; }

static const swiftllama_kernel_set *selected_set;
static char selection_reason[256];

static const swiftllama_kernel_set *automatic_set(cpu_features f, char *why, size_t n) {
#if defined(__x86_64__)
    if (f.avx512 && f.amd && !amd_full_width(f)) {
        snprintf(why, n, "AMD family 0x%X with AVX-512 VNNI: 512-bit vectors run as two 256-bit halves, one-row 256-bit kernels measured faster", f.family);
        return &swiftllama_set_avx512_256;
    }
    if (f.avx512 && f.amd) {
        snprintf(why, n, "AMD family 0x%X (Zen 5 or later) with AVX-512 VNNI: 512-bit vectors run whole, two-row 512-bit kernels", f.family);
        return &swiftllama_set_avx512;
    }
    if (f.avx512) {
        snprintf(why, n, "%s family 0x%X with AVX-512 BW+VL+VNNI: two-row 512-bit kernels", f.intel ? "Intel" : "x86", f.family);
        return &swiftllama_set_avx512;
    }
    if (f.avx2) {
        snprintf(why, n, "AVX2+FMA+F16C without AVX-512 VNNI");
        return &swiftllama_set_avx2;
    }
    snprintf(why, n, "no AVX2+FMA+F16C");
#else
    snprintf(why, n, "not x86-64");
#endif
    (void)f;
    return &swiftllama_set_generic;
}

static const swiftllama_kernel_set *select_set(void) {
    const swiftllama_kernel_set *s = __atomic_load_n(&selected_set, __ATOMIC_ACQUIRE);
    if (s) return s;
    const cpu_features f = detect_cpu();
    char why[200];
    s = automatic_set(f, why, sizeof why);
    const char *env = getenv("LLAMA_KERNELS");
    if (env && *env) {
        const swiftllama_kernel_set *forced = NULL;
        for (int i = 0; i < all_set_count; i++)
            if (strcmp(all_sets[i]->name, env) == 0) forced = all_sets[i];
        if (!forced) {
            fprintf(stderr, "LLAMA_KERNELS=%s is not a kernel set (generic, avx2, avx512-256, avx512); using %s\n", env, s->name);
        } else if (!cpu_runs(forced, f)) {
            fprintf(stderr, "LLAMA_KERNELS=%s: this CPU lacks its instructions; using %s\n", env, s->name);
        } else {
            s = forced;
            snprintf(why, sizeof why, "LLAMA_KERNELS=%s", env);
        }
    }
    // Two threads racing here compute the same answer; the first store wins.
    const swiftllama_kernel_set *expected = NULL;
    if (__atomic_compare_exchange_n(&selected_set, &expected, s, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        snprintf(selection_reason, sizeof selection_reason, "%s", why);
        return s;
    }
    return expected;
}

const swiftllama_kernel_set *swiftllama_kernels(void) { return select_set(); }

const char *swiftllama_kernels_reason(void) {
    select_set();
    return selection_reason;
}

int swiftllama_kernel_set_count(void) { return all_set_count; }

const swiftllama_kernel_set *swiftllama_kernel_set_at(int i) { return i >= 0 && i < all_set_count ? all_sets[i] : NULL; }

int swiftllama_kernel_set_runs_here(const swiftllama_kernel_set *s) { return s && cpu_runs(s, detect_cpu()); }

int swiftllama_cpu_has_bf16(void) {
    // Asked per packed tile: CPUID once (0 or 1 once known; racing threads store the same).
    static int known = -1;
    int v = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (v < 0) {
        v = detect_cpu().bf16;
        __atomic_store_n(&known, v, __ATOMIC_RELAXED);
    }
    return v;
}

// The BF16 prompt GEMM (GEMMBF16.c) runs when asked for (LLAMA_BF16_PRODUCTS=1: its
// bfloat16 activations move logits by up to ~3e-2 from fp32 math on the fixtures, past the
// 1e-4 that unquantized files are held to), where the CPU has AVX512_BF16 and the selected
// set is an AVX-512 one (LLAMA_KERNELS=avx2|generic keep prompts on the fp32 GEMM).
int swiftllama_bf16_gemm_width(void) {
#if defined(__x86_64__)
    const char *env = getenv("LLAMA_BF16_PRODUCTS");
    if (env && strcmp(env, "0") == 0) return 0;
    const swiftllama_kernel_set *s = select_set();
    const cpu_features f = detect_cpu();
    if (!f.bf16 || (s != &swiftllama_set_avx512 && s != &swiftllama_set_avx512_256)) return 0;
    // Zen 4: 256-bit measured as fast as 512-bit (its halves); Zen 5: 512-bit 1.8–1.9× the
    // 256-bit GFLOP/s (bench/kernels.sh), as on Intel.
    return f.amd && !amd_full_width(f) ? SWIFTLLAMA_BF16_256 : SWIFTLLAMA_BF16_512;
#else
    return 0;
#endif
}

// The fixed entry points, through the selected set.
float swiftllama_dot_q8_0(const void *w, const int8_t *xq, const float *xd, int blocks) { return select_set()->dot_q8_0(w, xq, xd, blocks); }
float swiftllama_dot_q4_0(const void *w, const int8_t *xq, const float *xd, int blocks) { return select_set()->dot_q4_0(w, xq, xd, blocks); }
float swiftllama_dot_q4_1(const void *w, const int8_t *xq, const float *xd, int blocks) { return select_set()->dot_q4_1(w, xq, xd, blocks); }
float swiftllama_dot_q5_0(const void *w, const int8_t *xq, const float *xd, int blocks) { return select_set()->dot_q5_0(w, xq, xd, blocks); }
float swiftllama_dot_q5_1(const void *w, const int8_t *xq, const float *xd, int blocks) { return select_set()->dot_q5_1(w, xq, xd, blocks); }
float swiftllama_dot_iq4_nl(const void *w, const int8_t *xq, const float *xd, int blocks) { return select_set()->dot_iq4_nl(w, xq, xd, blocks); }
void swiftllama_dot2_q8_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) { select_set()->dot2_q8_0(w0, w1, xq, xd, blocks, out); }
void swiftllama_dot2_q4_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) { select_set()->dot2_q4_0(w0, w1, xq, xd, blocks, out); }
void swiftllama_dot2_q4_1(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) { select_set()->dot2_q4_1(w0, w1, xq, xd, blocks, out); }
void swiftllama_dot2_q5_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) { select_set()->dot2_q5_0(w0, w1, xq, xd, blocks, out); }
void swiftllama_dot2_q5_1(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) { select_set()->dot2_q5_1(w0, w1, xq, xd, blocks, out); }
void swiftllama_dot2_iq4_nl(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) { select_set()->dot2_iq4_nl(w0, w1, xq, xd, blocks, out); }
float swiftllama_dot_q2_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) { return select_set()->dot_q2_K(w, xq, xd, xsums, superblocks); }
float swiftllama_dot_q3_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) { return select_set()->dot_q3_K(w, xq, xd, xsums, superblocks); }
float swiftllama_dot_q4_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) { return select_set()->dot_q4_K(w, xq, xd, xsums, superblocks); }
float swiftllama_dot_q5_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) { return select_set()->dot_q5_K(w, xq, xd, xsums, superblocks); }
float swiftllama_dot_q6_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) { return select_set()->dot_q6_K(w, xq, xd, xsums, superblocks); }
float swiftllama_dot_iq4_xs(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) { return select_set()->dot_iq4_xs(w, xq, xd, xsums, superblocks); }
void swiftllama_quantize_q8(const float *x, int8_t *q, float *d, int blocks) { select_set()->quantize_q8(x, q, d, blocks); }
void swiftllama_quantize_q8_K(const float *x, int8_t *q, float *d, int16_t *sums, int superblocks) { select_set()->quantize_q8_K(x, q, d, sums, superblocks); }

// ---------------------------------------------------------------------------------------
// Int8 matrix-matrix product for prompt processing (AVX-512 VNNI, kernels_x86.h).
//
// A tile of 16 weight rows is packed so that one 64-byte vector holds, for 4 consecutive
// columns, the 16 rows' weights as unsigned bytes: vpdpbusd then multiplies it with 4
// activation bytes of one token broadcast to every lane and adds each row's 4 products to
// its own int32 lane, so no horizontal sums are needed. Each weight is scale·u − bias per
// block of 32 (Q8_0: u = q + 128, bias = 128·d; Q4_0: u = nibble, bias = 8·d; Q4_K: u =
// nibble, scale = d·sc, bias = dmin·m) or of 16 (Q6_K: u = q, scale = d·sc, bias = 32·d·sc),
// so per block and token
//   Σ_i w_i·x_i = xd·(scale·Σ u_i·q_i − bias·Σ q_i),
// with Σ q_i (times xd) precomputed per activation block. Eight tokens share each weight
// load; their int32 sums are turned into floats once per block.

// The unsigned values (32, or 16 for Q6_K), scale and bias of block b of one row.
static inline __attribute__((always_inline)) void int8_block(int type, const uint8_t *row, int b, uint8_t u[32], float *scale, float *bias) {
    if (type == 8) {  // Q8_0
        const uint8_t *p = row + 34 * b;
        const float d = half_bits_to_float(p);
        for (int i = 0; i < 32; i++) u[i] = (uint8_t)(p[2 + i] ^ 0x80);
        *scale = d;
        *bias = 128.0f * d;
    } else if (type == 2) {  // Q4_0
        const uint8_t *p = row + 18 * b;
        const float d = half_bits_to_float(p);
        for (int i = 0; i < 16; i++) {
            u[i] = p[2 + i] & 0x0F;
            u[i + 16] = p[2 + i] >> 4;
        }
        *scale = d;
        *bias = 8.0f * d;
    } else if (type == 3 || type == 6 || type == 7) {  // Q4_1, Q5_0, Q5_1
        const int size = type == 3 ? 20 : type == 6 ? 22 : 24, hasMin = type != 6, hasHigh = type != 3;
        const uint8_t *p = row + size * b;
        const float d = half_bits_to_float(p);
        const int qs = (hasMin ? 4 : 2) + (hasHigh ? 4 : 0);
        uint32_t qh = 0;
        if (hasHigh) memcpy(&qh, p + qs - 4, 4);
        for (int i = 0; i < 16; i++) {
            u[i] = (uint8_t)((p[qs + i] & 0x0F) | (((qh >> i) & 1) << 4));
            u[i + 16] = (uint8_t)((p[qs + i] >> 4) | (((qh >> (i + 16)) & 1) << 4));
        }
        *scale = d;
        // weight = d·u + m (bias −m), or d·(u − 16) for Q5_0.
        *bias = hasMin ? -half_bits_to_float(p + 2) : 16.0f * d;
    } else if (type == 10 || type == 11) {  // Q2_K, Q3_K: block b is sub-block b % 16 of super-block b / 16
        const int isQ3 = type == 11;
        const uint8_t *p = row + (isQ3 ? 110 : 84) * (b / 16);
        const int j = b % 16, h = j / 8, k = (j % 8) / 2, l0 = 16 * (j % 2);
        const uint8_t *qs = p + (isQ3 ? 32 : 16) + 32 * h;
        for (int i = 0; i < 16; i++) {
            const int low = (qs[l0 + i] >> (2 * k)) & 3;
            u[i] = (uint8_t)(isQ3 ? low | (((p[l0 + i] >> (4 * h + k)) & 1) << 2) : low);
        }
        if (isQ3) {  // d·(scale − 32)·(u − 4)
            *scale = half_bits_to_float(p + 108) * (float)(q3_K_scale(j, p + 96) - 32);
            *bias = 4.0f * *scale;
        } else {  // d·sc·u − dmin·m
            *scale = half_bits_to_float(p + 80) * (float)(p[j] & 0x0F);
            *bias = half_bits_to_float(p + 82) * (float)(p[j] >> 4);
        }
    } else if (type == 13) {  // Q5_K: Q4_K with the fifth bits
        const uint8_t *p = row + 176 * (b / 8);
        const int j = b % 8;
        int sc, m;
        q4_K_scale_min(j, p + 4, &sc, &m);
        const uint8_t *qs = p + 48 + 32 * (j / 2), *qh = p + 16;
        for (int i = 0; i < 32; i++) {
            const int low = (j % 2) ? (qs[i] >> 4) : (qs[i] & 0x0F);
            u[i] = (uint8_t)(low | (((qh[i] >> j) & 1) << 4));
        }
        *scale = half_bits_to_float(p) * (float)sc;
        *bias = half_bits_to_float(p + 2) * (float)m;
    } else if (type == 20 || type == 23) {  // IQ4_NL, IQ4_XS: u = table value + 128
        const uint8_t *p, *qs;
        float d;
        if (type == 20) {
            p = row + 18 * b;
            qs = p + 2;
            d = half_bits_to_float(p);
        } else {
            p = row + 136 * (b / 8);
            qs = p + 8 + 16 * (b % 8);
            d = half_bits_to_float(p) * (float)(iq4_xs_scale(b % 8, p) - 32);
        }
#if defined(__SSSE3__)
        // The table lookup of 32 nibbles as two byte shuffles.
        const __m128i table = _mm_loadu_si128((const __m128i *)iq4_unsigned), low4 = _mm_set1_epi8(0x0F);
        const __m128i q = _mm_loadu_si128((const __m128i *)qs);
        _mm_storeu_si128((__m128i *)u, _mm_shuffle_epi8(table, _mm_and_si128(q, low4)));
        _mm_storeu_si128((__m128i *)(u + 16), _mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(q, 4), low4)));
#else
        for (int i = 0; i < 16; i++) {
            u[i] = iq4_unsigned[qs[i] & 0x0F];
            u[i + 16] = iq4_unsigned[qs[i] >> 4];
        }
#endif
        *scale = d;
        *bias = 128.0f * d;
    } else if (type == 12) {  // Q4_K: block b is sub-block b % 8 of super-block b / 8
        const uint8_t *p = row + 144 * (b / 8);
        const int j = b % 8;
        int sc, m;
        q4_K_scale_min(j, p + 4, &sc, &m);
        const uint8_t *qs = p + 16 + 32 * (j / 2);
#if defined(__AVX2__)
        const __m256i q = _mm256_loadu_si256((const __m256i *)qs), low4 = _mm256_set1_epi8(0x0F);
        _mm256_storeu_si256((__m256i *)u, _mm256_and_si256((j % 2) ? _mm256_srli_epi16(q, 4) : q, low4));
#else
        for (int i = 0; i < 32; i++) u[i] = (j % 2) ? (qs[i] >> 4) : (qs[i] & 0x0F);
#endif
        *scale = half_bits_to_float(p) * (float)sc;
        *bias = half_bits_to_float(p + 2) * (float)m;
    } else {  // Q6_K: block b is the 16 elements of scale j = b % 16 in super-block b / 16
        const uint8_t *p = row + 210 * (b / 16);
        const int j = b % 16;
        // Elements 16j…16j+15: half h = j/8 (128 elements), quarter k of it (32 elements),
        // the low or high 16 of that quarter.
        const int h = j / 8, k = (j % 8) / 2, l0 = 16 * (j % 2);
        const uint8_t *ql = p + 64 * h + (k % 2) * 32, *qh = p + 128 + 32 * h;
        for (int i = 0; i < 16; i++) {
            const int l = l0 + i;
            const int low = k < 2 ? (ql[l] & 0x0F) : (ql[l] >> 4);
            u[i] = (uint8_t)(low | (((qh[l] >> (2 * k)) & 3) << 4));
        }
        const float ds = half_bits_to_float(p + 208) * (float)(int8_t)p[192 + j];
        *scale = ds;
        *bias = 32.0f * ds;
    }
}

void swiftllama_int8_block(int type, const uint8_t *row, int b, uint8_t u[32], float *scale, float *bias) {
    int8_block(type, row, b, u, scale, bias);
}

// `swiftllama_pack_int8` for one type, inlined with the type constant so each type's
// unpacking compiles to its own straight loops.
static inline __attribute__((always_inline)) void pack_int8_type(int type, const void *rows, long rowBytes, int nrows, int blocks,
                                                                 uint8_t *packed, float *scales, float *biases) {
    const int size = int8_block_size(type), groups = size / 4;
    if (nrows < 16) {
        memset(packed, 0, (size_t)blocks * 16 * size);
        memset(scales, 0, (size_t)blocks * 16 * sizeof(float));
        memset(biases, 0, (size_t)blocks * 16 * sizeof(float));
    }
    uint8_t u[32];
    for (int r = 0; r < nrows; r++) {
        const uint8_t *row = (const uint8_t *)rows + (long)r * rowBytes;
        for (int b = 0; b < blocks; b++) {
            int8_block(type, row, b, u, &scales[16 * b + r], &biases[16 * b + r]);
            uint8_t *dst = packed + (long)16 * size * b + 4 * r;
            for (int m = 0; m < groups; m++) memcpy(dst + 64 * m, u + 4 * m, 4);
        }
    }
}

void swiftllama_pack_int8(int type, const void *rows, long rowBytes, int nrows, int blocks,
                          uint8_t *packed, float *scales, float *biases) {
#define PACK_CASE(t) case t: pack_int8_type(t, rows, rowBytes, nrows, blocks, packed, scales, biases); break;
    switch (type) {
        PACK_CASE(8) PACK_CASE(2) PACK_CASE(3) PACK_CASE(6) PACK_CASE(7) PACK_CASE(10)
        PACK_CASE(11) PACK_CASE(12) PACK_CASE(13) PACK_CASE(14) PACK_CASE(20) PACK_CASE(23)
        default: pack_int8_type(type, rows, rowBytes, nrows, blocks, packed, scales, biases); break;
    }
#undef PACK_CASE
}

int swiftllama_int8_block_size(int type) { return int8_block_size(type); }

// One super-block of one row for `swiftllama_pack_int8_k16` (layout in CKernels.h): the 256
// unsigned values in element order, the 16 sub-block scales sc_j and biases b_j, d and dbias.
static void k16_superblock(int type, const uint8_t *p, uint8_t u[256], int sc[16], int bias[16], float *d, float *dbias) {
    // Elements 128·n + 32·k + l (n < 2 halves, k < 4 quarters, l < 32).
    if (type == 10) {  // Q2_K: scales[16], qs[64], d, dmin
        for (int n = 0; n < 2; n++)
            for (int k = 0; k < 4; k++)
                for (int l = 0; l < 32; l++) u[128 * n + 32 * k + l] = (uint8_t)((p[16 + 32 * n + l] >> (2 * k)) & 3);
        for (int j = 0; j < 16; j++) {
            sc[j] = p[j] & 0x0F;
            bias[j] = p[j] >> 4;
        }
        *d = half_bits_to_float(p + 80);
        *dbias = half_bits_to_float(p + 82);
    } else if (type == 11) {  // Q3_K: hmask[32], qs[64], scales[12], d
        for (int n = 0; n < 2; n++)
            for (int k = 0; k < 4; k++)
                for (int l = 0; l < 32; l++)
                    u[128 * n + 32 * k + l] = (uint8_t)(((p[32 + 32 * n + l] >> (2 * k)) & 3) | (((p[l] >> (4 * n + k)) & 1) << 2));
        for (int j = 0; j < 16; j++) {
            sc[j] = q3_K_scale(j, p + 96) - 32;
            bias[j] = 4 * sc[j];
        }
        *d = *dbias = half_bits_to_float(p + 108);
    } else {  // Q6_K: ql[128], qh[64], scales[16] (int8), d
        for (int n = 0; n < 2; n++)
            for (int k = 0; k < 4; k++) {
                const uint8_t *ql = p + 64 * n + (k % 2) * 32, *qh = p + 128 + 32 * n;
                for (int l = 0; l < 32; l++) {
                    const int low = k < 2 ? (ql[l] & 0x0F) : (ql[l] >> 4);
                    u[128 * n + 32 * k + l] = (uint8_t)(low | (((qh[l] >> (2 * k)) & 3) << 4));
                }
            }
        for (int j = 0; j < 16; j++) {
            sc[j] = (int8_t)p[192 + j];
            bias[j] = 32 * sc[j];
        }
        *d = *dbias = half_bits_to_float(p + 208);
    }
}

void swiftllama_pack_int8_k16(int type, const void *rows, long rowBytes, int nrows, int superblocks,
                              uint8_t *packed, int32_t *scales, int32_t *pairs, float *d, float *dbias) {
    if (nrows < 16) {
        memset(packed, 0, (size_t)superblocks * 4096);
        memset(scales, 0, (size_t)superblocks * 256 * sizeof(int32_t));
        memset(pairs, 0, (size_t)superblocks * 128 * sizeof(int32_t));
        memset(d, 0, (size_t)superblocks * 16 * sizeof(float));
        memset(dbias, 0, (size_t)superblocks * 16 * sizeof(float));
    }
    const int blockBytes = type == 10 ? 84 : type == 11 ? 110 : 210;
    uint8_t u[256];
    int sc[16], bias[16];
    for (int r = 0; r < nrows; r++) {
        const uint8_t *row = (const uint8_t *)rows + (long)r * rowBytes;
        for (int s = 0; s < superblocks; s++) {
            k16_superblock(type, row + (long)blockBytes * s, u, sc, bias, &d[16 * s + r], &dbias[16 * s + r]);
            uint32_t *dst = (uint32_t *)(packed + 4096L * s) + r;
            for (int g = 0; g < 64; g++) memcpy(dst + 16 * g, u + 4 * g, 4);
            for (int j = 0; j < 16; j++) scales[256 * s + 16 * j + r] = type == 14 ? sc[j] : (int32_t)(uint16_t)sc[j];
            for (int q = 0; q < 8; q++)
                pairs[128 * s + 16 * q + r] = (int32_t)((uint32_t)(uint16_t)bias[2 * q] | ((uint32_t)(uint16_t)bias[2 * q + 1] << 16));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Row-interleaved layouts (CKernels.h): the repacking at load, and the plain blocks back
// for the readers that want rows (embedding lookups, the prompt GEMMs' packing).

// Quantized bytes per block of one row: 16 (Q4_0), 32 (Q8_0), 0 (no such layout).
static int r8_quant_bytes(int type) { return type == 2 ? 16 : type == 8 ? 32 : 0; }

int swiftllama_r8_supports(int type) {
    return r8_quant_bytes(type) != 0 || swiftllama_kq_r8_bytes(type) != 0 || swiftllama_k23_block_bytes(type) != 0 ||
           swiftllama_r8_legacy_supports(type) || swiftllama_half_r8_supports(type);
}

void swiftllama_repack_r8(int type, const void *src, void *dst, int groups, int blocks) {
    if (swiftllama_half_r8_supports(type)) return swiftllama_half_r8_repack(src, dst, groups, blocks);
    if (swiftllama_kq_r8_bytes(type)) return swiftllama_kq_repack_r8(type, src, dst, groups, blocks);
    if (swiftllama_k23_block_bytes(type)) return swiftllama_k23_repack(type, src, dst, groups, blocks);
    if (swiftllama_r8_legacy_supports(type)) return swiftllama_r8_legacy_repack(type, src, dst, groups, blocks);
    const int qb = r8_quant_bytes(type), bb = 2 + qb;
    const uint8_t flip = type == 8 ? 0x80 : 0;
    const long rowBytes = (long)bb * blocks;
    for (long g = 0; g < groups; g++) {
        for (int b = 0; b < blocks; b++) {
            uint8_t *o = (uint8_t *)dst + (g * blocks + b) * 8 * bb;
            for (int r = 0; r < 8; r++) {
                const uint8_t *p = (const uint8_t *)src + (8 * g + r) * rowBytes + (long)bb * b;
                memcpy(o + 2 * r, p, 2);
                for (int i = 0; i < qb / 4; i++)
                    for (int k = 0; k < 4; k++) o[16 + 32 * i + 4 * r + k] = p[2 + 4 * i + k] ^ flip;
            }
        }
    }
}

void swiftllama_r8_block(int type, const void *packed, int blocks, long row, int b, uint8_t *dst) {
    if (swiftllama_half_r8_supports(type)) return swiftllama_half_r8_row(packed, blocks, row, b, 1, dst);
    if (swiftllama_kq_r8_bytes(type)) return swiftllama_kq_r8_block(type, packed, blocks, row, b, dst);
    if (swiftllama_k23_block_bytes(type)) return swiftllama_k23_block(type, packed, blocks, row, b, dst);
    if (swiftllama_r8_legacy_supports(type)) return swiftllama_r8_legacy_block(type, packed, blocks, row, b, dst);
    const int qb = r8_quant_bytes(type), bb = 2 + qb;
    const uint8_t flip = type == 8 ? 0x80 : 0;
    const long g = row / 8;
    const int r = (int)(row % 8);
    const uint8_t *p = (const uint8_t *)packed + (g * blocks + b) * 8 * bb;
    memcpy(dst, p + 2 * r, 2);
    for (int i = 0; i < qb / 4; i++)
        for (int k = 0; k < 4; k++) dst[2 + 4 * i + k] = p[16 + 32 * i + 4 * r + k] ^ flip;
}

void swiftllama_r8_row(int type, const void *packed, int blocks, long row, int b0, int count, uint8_t *dst) {
    if (swiftllama_half_r8_supports(type)) return swiftllama_half_r8_row(packed, blocks, row, b0, count, dst);
    if (swiftllama_r8_legacy_supports(type)) return swiftllama_r8_legacy_row(type, packed, blocks, row, b0, count, dst);
    const int bb = swiftllama_kq_r8_bytes(type)      ? swiftllama_kq_r8_bytes(type)
                   : swiftllama_k23_block_bytes(type) ? swiftllama_k23_block_bytes(type)
                                                      : 2 + r8_quant_bytes(type);
    for (int b = 0; b < count; b++) swiftllama_r8_block(type, packed, blocks, row, b0 + b, dst + (long)bb * b);
}

void swiftllama_block_sums(const int8_t *xq, int blocks, int32_t *sums) {
    for (int b = 0; b < blocks; b++) {
        int32_t s = 0;
        for (int i = 0; i < 32; i++) s += xq[32 * b + i];
        sums[b] = s;
    }
}

void swiftllama_pack_int8_r8(int type, const void *packed, long row0, int nrows, int blocks,
                             uint8_t *tile, float *scales, float *biases) {
    // Straight from the interleaved words: a group of 8 rows holds, for 4 consecutive
    // elements, the 8 rows' 4 bytes side by side, which is half of a tile's 64-byte group.
    // Q8_0 is stored as u = q + 128 already; Q4_0's word i holds elements 4i… (low nibbles)
    // and 16 + 4i… (high nibbles).
    const int isQ8 = type == 8, size = 32, bb = isQ8 ? 34 : 18;
    if (nrows < 16) {
        memset(tile, 0, (size_t)blocks * 16 * size);
        memset(scales, 0, (size_t)blocks * 16 * sizeof(float));
        memset(biases, 0, (size_t)blocks * 16 * sizeof(float));
    }
    for (int h = 0; h < nrows / 8; h++) {
        const long g = row0 / 8 + h;
        for (int b = 0; b < blocks; b++) {
            const uint8_t *src = (const uint8_t *)packed + (g * blocks + b) * 8 * bb;
            uint8_t *dst = tile + (long)16 * size * b + 32 * h;
#if defined(__AVX2__) && defined(__F16C__)
            // The 8 rows' f16 scales in one conversion and the nibbles 32 bytes at a time (the
            // scalar conversion per row was a third of this packer's time).
            const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)src));
            _mm256_storeu_ps(scales + 16 * b + 8 * h, d);
            _mm256_storeu_ps(biases + 16 * b + 8 * h, _mm256_mul_ps(d, _mm256_set1_ps(isQ8 ? 128.0f : 8.0f)));
            if (isQ8) {
                for (int m = 0; m < 8; m++) _mm256_storeu_si256((__m256i *)(dst + 64 * m), _mm256_loadu_si256((const __m256i *)(src + 16 + 32 * m)));
            } else {
                const __m256i low4 = _mm256_set1_epi8(0x0F);
                for (int m = 0; m < 4; m++) {
                    const __m256i w = _mm256_loadu_si256((const __m256i *)(src + 16 + 32 * m));
                    _mm256_storeu_si256((__m256i *)(dst + 64 * m), _mm256_and_si256(w, low4));
                    _mm256_storeu_si256((__m256i *)(dst + 64 * (m + 4)), _mm256_and_si256(_mm256_srli_epi16(w, 4), low4));
                }
            }
#else
            for (int r = 0; r < 8; r++) {
                const float d = half_bits_to_float(src + 2 * r);
                scales[16 * b + 8 * h + r] = d;
                biases[16 * b + 8 * h + r] = (isQ8 ? 128.0f : 8.0f) * d;
            }
            if (isQ8) {
                for (int m = 0; m < 8; m++) memcpy(dst + 64 * m, src + 16 + 32 * m, 32);
            } else {
                for (int m = 0; m < 4; m++) {
                    const uint8_t *w = src + 16 + 32 * m;
                    uint8_t *lo = dst + 64 * m, *hi = dst + 64 * (m + 4);
                    for (int k = 0; k < 32; k++) {
                        lo[k] = w[k] & 0x0F;
                        hi[k] = w[k] >> 4;
                    }
                }
            }
#endif
        }
    }
    // Rows of a last partial group (R8 matrices have whole groups; kept for any caller).
    uint8_t u[32], block[34];
    for (int r = nrows / 8 * 8; r < nrows; r++) {
        for (int b = 0; b < blocks; b++) {
            swiftllama_r8_block(type, packed, blocks, row0 + r, b, block);
            int8_block(type, block, 0, u, &scales[16 * b + r], &biases[16 * b + r]);
            uint8_t *dst = tile + (long)16 * size * b + 4 * r;
            for (int m = 0; m < 8; m++) memcpy(dst + 64 * m, u + 4 * m, 4);
        }
    }
}

int swiftllama_has_int8_gemm(void) { return select_set()->gemm_int8 != NULL; }

// Plain loops over the packed layout, for sets without the AVX-512 kernel (callers normally
// take the fp32 path there; this keeps the function correct everywhere).
static void gemm_int8_plain(int blockSize, int center, const uint8_t *packed, const float *scales, const float *biases,
                            int blocks, const int8_t *xq, const float *xd, const float *xds, const int32_t *xsums,
                            int tokens, float *out, long ldo, int nrows) {
    const int groups = blockSize / 4;
    for (int t = 0; t < tokens; t++) {
        for (int j = 0; j < nrows; j++) {
            // Row j is lane j % 16 of tile j / 16.
            const long tile = j / 16, lane = j % 16;
            const uint8_t *p = packed + tile * 16L * blockSize * blocks;
            const float *sc = scales + tile * 16L * blocks, *bi = biases ? biases + tile * 16L * blocks : NULL;
            float s = 0;
            for (int b = 0; b < blocks; b++) {
                const long o = (long)b * tokens + t;
                int acc = center ? -center * xsums[o] : 0;
                for (int m = 0; m < groups; m++)
                    for (int k = 0; k < 4; k++)
                        acc += p[64L * groups * b + 64 * m + 4 * lane + k] * xq[o * blockSize + 4 * m + k];
                s += sc[16 * b + lane] * (float)acc * xd[o];
                if (!center) s -= bi[16 * b + lane] * xds[o];
            }
            out[(long)t * ldo + j] = s;
        }
    }
}

void swiftllama_int8_scatter_tokens(const int8_t *rows, const float *scales, int blocks, int tokens, int t0, int count,
                                    int8_t *xq, float *xd, float *xds, int32_t *xsums) {
    // Block by block, so each block's `count` tokens are written side by side (the block-major
    // destination is strided by tokens·32 bytes between blocks).
    for (int b = 0; b < blocks; b++) {
        for (int i = 0; i < count; i++) {
            const long o = (long)b * tokens + t0 + i;
            const int8_t *q = rows + (long)i * 32 * blocks + 32 * b;
            const float d = scales[(long)i * blocks + b];
            int32_t sum = 0;
            for (int k = 0; k < 32; k++) sum += q[k];
            memcpy(xq + 32 * o, q, 32);
            xd[o] = d;
            xsums[o] = sum;
            xds[o] = d * (float)sum;
        }
    }
}

int swiftllama_int8_center(int type) {
    switch (type) {
        case 8: case 20: case 23: return 128;  // Q8_0, IQ4_NL, IQ4_XS
        case 6: return 16;                     // Q5_0
        case 2: return 8;                      // Q4_0
        case 14: return 32;                    // Q6_K
        case 11: return 4;                     // Q3_K
        default: return 0;
    }
}

void swiftllama_gemm_int8(int blockSize, int center, const uint8_t *packed, const float *scales, const float *biases,
                          int blocks, const int8_t *xq, const float *xd, const float *xds, const int32_t *xsums,
                          int tokens, float *out, long ldo, int nrows) {
    const swiftllama_gemm_int8_fn f = select_set()->gemm_int8;
    (f ? f : gemm_int8_plain)(blockSize, center, packed, scales, biases, blocks, xq, xd, xds, xsums, tokens, out, ldo, nrows);
}

// Plain loops over the K16 layout (the same integer sums as the AVX-512 kernel).
static void gemm_int8_k16_plain(int type, const uint8_t *packed, const int32_t *scales, const int32_t *pairs,
                                const float *d, const float *dbias, int superblocks,
                                const int8_t *xq, const float *xd, const int16_t *xsums, int tokens,
                                float *out, long ldo, int nrows) {
    for (int t = 0; t < tokens; t++) {
        for (int r = 0; r < nrows; r++) {
            float sum = 0;
            for (int s = 0; s < superblocks; s++) {
                const int8_t *x = xq + (long)t * 256 * superblocks + 256 * s;
                const int16_t *xs = xsums + (long)t * 16 * superblocks + 16 * s;
                int32_t isum = 0, msum = 0;
                for (int j = 0; j < 16; j++) {
                    int32_t acc = 0;
                    for (int i = 0; i < 16; i++) acc += packed[4096L * s + 64 * (4 * j + i / 4) + 4 * r + i % 4] * x[16 * j + i];
                    const int32_t lane = scales[256 * s + 16 * j + r];
                    isum += acc * (type == 14 ? lane : (int16_t)lane);
                }
                for (int q = 0; q < 8; q++) {
                    const int32_t lane = pairs[128 * s + 16 * q + r];
                    msum += (int16_t)(lane & 0xFFFF) * xs[2 * q] + (int16_t)((uint32_t)lane >> 16) * xs[2 * q + 1];
                }
                sum += xd[(long)t * superblocks + s] * (d[16 * s + r] * (float)isum - dbias[16 * s + r] * (float)msum);
            }
            out[(long)t * ldo + r] = sum;
        }
    }
}

void swiftllama_gemm_int8_k16(int type, const uint8_t *packed, const int32_t *scales, const int32_t *pairs,
                              const float *d, const float *dbias, int superblocks,
                              const int8_t *xq, const float *xd, const int16_t *xsums, int tokens,
                              float *out, long ldo, int nrows) {
    const swiftllama_gemm_int8_k16_fn f = select_set()->gemm_int8_k16;
    (f ? f : gemm_int8_k16_plain)(type, packed, scales, pairs, d, dbias, superblocks, xq, xd, xsums, tokens, out, ldo, nrows);
}

void swiftllama_pack_int8_k32_mins(int type, const void *rows, long rowBytes, int nrows, int superblocks,
                                   int32_t *pairs, float *dmin) {
    if (type != 12 && type != 13) return;
    if (nrows < 16) {
        memset(pairs, 0, (size_t)superblocks * 64 * sizeof(int32_t));
        memset(dmin, 0, (size_t)superblocks * 16 * sizeof(float));
    }
    const int blockBytes = type == 12 ? 144 : 176;
    for (int r = 0; r < nrows; r++) {
        const uint8_t *row = (const uint8_t *)rows + (long)r * rowBytes;
        for (int s = 0; s < superblocks; s++) {
            const uint8_t *p = row + (long)blockBytes * s;
            int m[8];
            for (int j = 0; j < 8; j++) {
                int sc;
                q4_K_scale_min(j, p + 4, &sc, &m[j]);
            }
            for (int q = 0; q < 4; q++) pairs[64L * s + 16 * q + r] = (int32_t)((uint32_t)m[2 * q] | ((uint32_t)m[2 * q + 1] << 16));
            dmin[16L * s + r] = half_bits_to_float(p + 2);
        }
    }
}

// Plain loops over the K32 tile (the same integer sums as the AVX-512 kernel).
static void gemm_int8_k32_plain(int type, const uint8_t *packed0, const float *scales0, const int32_t *pairs0,
                                const float *dmin0, int superblocks, const int8_t *xq, const float *xd,
                                const int16_t *xsums, int tokens, float *out, long ldo, int nrows) {
    const int mins = type != 23;
    for (int t = 0; t < tokens; t++) {
        for (int row = 0; row < nrows; row++) {
            // Row `row` is lane r of tile row / 16 (CKernels.h).
            const long tile = row / 16;
            const int r = row % 16;
            const uint8_t *packed = packed0 + tile * 4096L * superblocks;
            const float *scales = scales0 + tile * 128L * superblocks, *dmin = dmin0 + tile * 16L * superblocks;
            const int32_t *pairs = pairs0 + tile * 64L * superblocks;
            float sum = 0;
            for (int s = 0; s < superblocks; s++) {
                const int8_t *x = xq + (long)t * 256 * superblocks + 256 * s;
                const int16_t *xs = xsums + (long)t * 8 * superblocks + 8 * s;
                float fs = 0;
                for (int j = 0; j < 8; j++) {
                    const long b = 8L * s + j;
                    int32_t acc = mins ? 0 : -128 * xs[j];
                    for (int i = 0; i < 32; i++) acc += packed[512 * b + 64 * (i / 4) + 4 * r + i % 4] * x[32 * j + i];
                    fs += (float)acc * scales[16 * b + r];
                }
                if (mins) {
                    int32_t msum = 0;
                    for (int q = 0; q < 4; q++) {
                        const int32_t lane = pairs[64L * s + 16 * q + r];
                        msum += (int16_t)(lane & 0xFFFF) * xs[2 * q] + (int16_t)((uint32_t)lane >> 16) * xs[2 * q + 1];
                    }
                    fs -= dmin[16L * s + r] * (float)msum;
                }
                sum += fs * xd[(long)t * superblocks + s];
            }
            out[(long)t * ldo + row] = sum;
        }
    }
}

void swiftllama_gemm_int8_k32(int type, const uint8_t *packed, const float *scales, const int32_t *pairs,
                              const float *dmin, int superblocks, const int8_t *xq, const float *xd,
                              const int16_t *xsums, int tokens, float *out, long ldo, int nrows) {
    const swiftllama_gemm_int8_k32_fn f = select_set()->gemm_int8_k32;
    (f ? f : gemm_int8_k32_plain)(type, packed, scales, pairs, dmin, superblocks, xq, xd, xsums, tokens, out, ldo, nrows);
}

// The instruction-set extensions the baseline of this target was compiled for (the
// compiler's predefined macros: Package.swift's -march), for `llama --version`; the kernel
// sets add theirs with target attributes.
const char *swiftllama_compiled_features(void) {
    return ""
#if defined(__AVX2__)
        " AVX2"
#endif
#if defined(__FMA__)
        " FMA"
#endif
#if defined(__F16C__)
        " F16C"
#endif
#if defined(__AVX512F__)
        " AVX512F"
#endif
#if defined(__AVX512BW__)
        " AVX512BW"
#endif
#if defined(__AVX512VL__)
        " AVX512VL"
#endif
#if defined(__AVX512VNNI__)
        " AVX512_VNNI"
#endif
#if defined(__AVX512BF16__)
        " AVX512_BF16"
#endif
#if defined(__AVXVNNI__)
        " AVX_VNNI"
#endif
        "";
}
