// The generic kernel set: plain loops, for CPUs without AVX2/FMA/F16C and other
// architectures (and, on x86, a reference any set can be compared with).
#include "kernel_common.h"
#include "repack_k23.h"
#include "r8_legacy.h"
#include "repack_kquants.h"
#include "RepackHalf.h"

static float swiftllama_dot_q8_0(const void *w, const int8_t *xq, const float *xd, int blocks);
static float swiftllama_dot_q4_0(const void *w, const int8_t *xq, const float *xd, int blocks);
static float swiftllama_dot_q4_1(const void *w, const int8_t *xq, const float *xd, int blocks);
static float swiftllama_dot_q5_0(const void *w, const int8_t *xq, const float *xd, int blocks);
static float swiftllama_dot_q5_1(const void *w, const int8_t *xq, const float *xd, int blocks);
static float swiftllama_dot_iq4_nl(const void *w, const int8_t *xq, const float *xd, int blocks);

// Portable fallback (non-x86 or a compiler without these extensions): plain loops.


static float swiftllama_dot_q8_0(const void *w, const int8_t *xq, const float *xd, int blocks) {
    const uint8_t *p = (const uint8_t *)w;
    float sum = 0;
    for (int b = 0; b < blocks; b++) {
        const int8_t *q = (const int8_t *)(p + 34 * b + 2);
        int s = 0;
        for (int j = 0; j < 32; j++) s += q[j] * xq[32 * b + j];
        sum += half_bits_to_float(p + 34 * b) * xd[b] * (float)s;
    }
    return sum;
}

static float swiftllama_dot_q4_0(const void *w, const int8_t *xq, const float *xd, int blocks) {
    const uint8_t *p = (const uint8_t *)w;
    float sum = 0;
    for (int b = 0; b < blocks; b++) {
        const uint8_t *q = p + 18 * b + 2;
        int s = 0;
        for (int j = 0; j < 16; j++) {
            s += ((q[j] & 0x0F) - 8) * xq[32 * b + j];
            s += ((q[j] >> 4) - 8) * xq[32 * b + j + 16];
        }
        sum += half_bits_to_float(p + 18 * b) * xd[b] * (float)s;
    }
    return sum;
}

static float swiftllama_dot_q4_1(const void *w, const int8_t *xq, const float *xd, int blocks) {
    const uint8_t *p = (const uint8_t *)w;
    float sum = 0;
    for (int b = 0; b < blocks; b++) {
        const uint8_t *q = p + 20 * b + 4;
        int s = 0, sx = 0;
        for (int j = 0; j < 16; j++) {
            s += (q[j] & 0x0F) * xq[32 * b + j] + (q[j] >> 4) * xq[32 * b + j + 16];
            sx += xq[32 * b + j] + xq[32 * b + j + 16];
        }
        sum += xd[b] * (half_bits_to_float(p + 20 * b) * (float)s + half_bits_to_float(p + 20 * b + 2) * (float)sx);
    }
    return sum;
}

static float dot_q5(const uint8_t *p, const int8_t *xq, const float *xd, int blocks, int hasMin) {
    const int size = hasMin ? 24 : 22, qhAt = hasMin ? 4 : 2;
    float sum = 0;
    for (int b = 0; b < blocks; b++, p += size) {
        uint32_t qh;
        memcpy(&qh, p + qhAt, 4);
        const uint8_t *q = p + qhAt + 4;
        int s = 0, sx = 0;
        for (int j = 0; j < 16; j++) {
            const int v0 = (q[j] & 0x0F) | (((qh >> j) & 1) << 4), v1 = (q[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
            s += v0 * xq[32 * b + j] + v1 * xq[32 * b + j + 16];
            sx += xq[32 * b + j] + xq[32 * b + j + 16];
        }
        sum += hasMin ? xd[b] * (half_bits_to_float(p) * (float)s + half_bits_to_float(p + 2) * (float)sx)
                      : xd[b] * half_bits_to_float(p) * (float)(s - 16 * sx);
    }
    return sum;
}

static float swiftllama_dot_q5_0(const void *w, const int8_t *xq, const float *xd, int blocks) {
    return dot_q5((const uint8_t *)w, xq, xd, blocks, 0);
}

static float swiftllama_dot_q5_1(const void *w, const int8_t *xq, const float *xd, int blocks) {
    return dot_q5((const uint8_t *)w, xq, xd, blocks, 1);
}

static float swiftllama_dot_q4_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
    const uint8_t *p = (const uint8_t *)w;
    float sum = 0;
    (void)xsums;
    for (int b = 0; b < superblocks; b++, p += 144) {
        const float d = half_bits_to_float(p), dmin = half_bits_to_float(p + 2);
        const int8_t *x = xq + 256 * b;
        int dots = 0, mins = 0;
        for (int j = 0; j < 8; j++) {
            int sc, m;
            q4_K_scale_min(j, p + 4, &sc, &m);
            const uint8_t *qs = p + 16 + 32 * (j / 2);
            int s = 0, sx = 0;
            for (int l = 0; l < 32; l++) {
                const int q = (j % 2) ? (qs[l] >> 4) : (qs[l] & 0x0F);
                s += q * x[32 * j + l];
                sx += x[32 * j + l];
            }
            dots += sc * s;
            mins += m * sx;
        }
        sum += xd[b] * (d * (float)dots - dmin * (float)mins);
    }
    return sum;
}

static float swiftllama_dot_q6_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
    const uint8_t *p = (const uint8_t *)w;
    float sum = 0;
    (void)xsums;
    for (int b = 0; b < superblocks; b++, p += 210) {
        const uint8_t *ql = p, *qh = p + 128;
        const int8_t *sc = (const int8_t *)(p + 192);
        const int8_t *x = xq + 256 * b;
        int total = 0;
        for (int h = 0; h < 2; h++) {
            for (int l = 0; l < 32; l++) {
                const int q1 = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) - 32;
                const int q2 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                const int s = l / 16;
                total += sc[s] * q1 * x[128 * h + l] + sc[s + 2] * q2 * x[128 * h + l + 32]
                       + sc[s + 4] * q3 * x[128 * h + l + 64] + sc[s + 6] * q4 * x[128 * h + l + 96];
            }
            ql += 64;
            qh += 32;
            sc += 8;
        }
        sum += half_bits_to_float(p + 208) * xd[b] * (float)total;
    }
    return sum;
}
static void swiftllama_dot2_q8_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    out[0] = swiftllama_dot_q8_0(w0, xq, xd, blocks);
    out[1] = swiftllama_dot_q8_0(w1, xq, xd, blocks);
}

static void swiftllama_dot2_q4_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    out[0] = swiftllama_dot_q4_0(w0, xq, xd, blocks);
    out[1] = swiftllama_dot_q4_0(w1, xq, xd, blocks);
}
static void swiftllama_dot2_q4_1(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    out[0] = swiftllama_dot_q4_1(w0, xq, xd, blocks);
    out[1] = swiftllama_dot_q4_1(w1, xq, xd, blocks);
}
static void swiftllama_dot2_q5_0(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    out[0] = swiftllama_dot_q5_0(w0, xq, xd, blocks);
    out[1] = swiftllama_dot_q5_0(w1, xq, xd, blocks);
}
static void swiftllama_dot2_q5_1(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    out[0] = swiftllama_dot_q5_1(w0, xq, xd, blocks);
    out[1] = swiftllama_dot_q5_1(w1, xq, xd, blocks);
}
static void swiftllama_dot2_iq4_nl(const void *w0, const void *w1, const int8_t *xq, const float *xd, int blocks, float out[2]) {
    out[0] = swiftllama_dot_iq4_nl(w0, xq, xd, blocks);
    out[1] = swiftllama_dot_iq4_nl(w1, xq, xd, blocks);
}
// The new block types through the int8 packer's per-block decoding (plain loops).
static float dot_generic(int type, const void *w, const int8_t *xq, const float *xd, int perScale, int n) {
    const int size = (type == 14 || type == 10 || type == 11) ? 16 : 32;
    float sum = 0;
    uint8_t u[32];
    for (int b = 0; b < n / size; b++) {
        float scale, bias;
        swiftllama_int8_block(type, (const uint8_t *)w, b, u, &scale, &bias);
        int s = 0, sx = 0;
        for (int i = 0; i < size; i++) {
            s += u[i] * xq[size * b + i];
            sx += xq[size * b + i];
        }
        sum += xd[size * b / perScale] * (scale * (float)s - bias * (float)sx);
    }
    return sum;
}
static float swiftllama_dot_q2_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
    (void)xsums;
    return dot_generic(10, w, xq, xd, 256, 256 * superblocks);
}
static float swiftllama_dot_q3_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
    (void)xsums;
    return dot_generic(11, w, xq, xd, 256, 256 * superblocks);
}
static float swiftllama_dot_q5_K(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
    (void)xsums;
    return dot_generic(13, w, xq, xd, 256, 256 * superblocks);
}
static float swiftllama_dot_iq4_xs(const void *w, const int8_t *xq, const float *xd, const int16_t *xsums, int superblocks) {
    (void)xsums;
    return dot_generic(23, w, xq, xd, 256, 256 * superblocks);
}
static float swiftllama_dot_iq4_nl(const void *w, const int8_t *xq, const float *xd, int blocks) {
    return dot_generic(20, w, xq, xd, 32, 32 * blocks);
}
#include <math.h>

static int8_t round_q(float v) { return (int8_t)nearbyintf(v); }

static void swiftllama_quantize_q8(const float *x, int8_t *q, float *d, int blocks) {
    for (int b = 0; b < blocks; b++) {
        float m = 0;
        for (int i = 0; i < 32; i++) m = fabsf(x[32 * b + i]) > m ? fabsf(x[32 * b + i]) : m;
        d[b] = m / 127.0f;
        const float inv = m > 0 ? 127.0f / m : 0.0f;
        for (int i = 0; i < 32; i++) q[32 * b + i] = round_q(x[32 * b + i] * inv);
    }
}

static void swiftllama_quantize_q8_K(const float *x, int8_t *q, float *d, int16_t *sums, int superblocks) {
    for (int b = 0; b < superblocks; b++) {
        float m = 0;
        for (int i = 0; i < 256; i++) m = fabsf(x[256 * b + i]) > m ? fabsf(x[256 * b + i]) : m;
        d[b] = m / 127.0f;
        const float inv = m > 0 ? 127.0f / m : 0.0f;
        for (int g = 0; g < 16; g++) {
            int s = 0;
            for (int i = 0; i < 16; i++) {
                const int8_t v = round_q(x[256 * b + 16 * g + i] * inv);
                q[256 * b + 16 * g + i] = v;
                s += v;
            }
            sums[16 * b + g] = (int16_t)s;
        }
    }
}

// F16 / BF16 rows against fp32 activations, one row at a time.
static void matvec_half(int bf16, const void *w, long rowBytes, int rows, int cols, const float *x, long ldx, int tokens, float *out, long ldo) {
    for (int r = 0; r < rows; r++) {
        const uint8_t *row = (const uint8_t *)w + (long)r * rowBytes;
        for (int t = 0; t < tokens; t++) {
            float s = 0;
            for (int c = 0; c < cols; c++) s += half_value(row + 2L * c, bf16) * x[(long)t * ldx + c];
            out[(long)t * ldo + r] = s;
        }
    }
}

static void matvec_f16(const void *w, long rowBytes, int rows, int cols, const float *x, long ldx, int tokens, float *out, long ldo) {
    matvec_half(0, w, rowBytes, rows, cols, x, ldx, tokens, out, ldo);
}

static void matvec_bf16(const void *w, long rowBytes, int rows, int cols, const float *x, long ldx, int tokens, float *out, long ldo) {
    matvec_half(1, w, rowBytes, rows, cols, x, ldx, tokens, out, ldo);
}

// The row-interleaved layouts (CKernels.h) in plain loops: the reference the x86 sets are
// tested against, and the kernels when a test forces this set on a repacked matrix.
static void matvec_r8(int type, const void *w, int groups, int blocks, const int8_t *xq, const float *xd,
                      const int32_t *xs, int tokens, float *out, long ldo) {
    const int qb = type == 8 ? 32 : 16, bb = 8 * (2 + qb), offset = type == 8 ? 128 : 8;
    for (int g = 0; g < groups; g++) {
        for (int t = 0; t < tokens; t++) {
            const int8_t *x = xq + 32L * blocks * t;
            float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (int b = 0; b < blocks; b++) {
                const uint8_t *p = (const uint8_t *)w + ((long)g * blocks + b) * bb;
                for (int r = 0; r < 8; r++) {
                    int s = -offset * xs[(long)blocks * t + b];
                    for (int i = 0; i < qb / 4; i++) {
                        for (int k = 0; k < 4; k++) {
                            const uint8_t q = p[16 + 32 * i + 4 * r + k];
                            if (type == 8) {
                                s += q * x[32 * b + 4 * i + k];
                            } else {
                                s += (q & 0x0F) * x[32 * b + 4 * i + k] + (q >> 4) * x[32 * b + 16 + 4 * i + k];
                            }
                        }
                    }
                    acc[r] += (float)s * (half_bits_to_float(p + 2 * r) * xd[(long)blocks * t + b]);
                }
            }
            for (int r = 0; r < 8; r++) out[ldo * t + 8L * g + r] = acc[r];
        }
    }
}

static void matvec_q4_0_r8(const void *w, int groups, int blocks, const int8_t *xq, const float *xd, const int32_t *xs,
                           int tokens, float *out, long ldo) {
    matvec_r8(2, w, groups, blocks, xq, xd, xs, tokens, out, ldo);
}

static void matvec_q8_0_r8(const void *w, int groups, int blocks, const int8_t *xq, const float *xd, const int32_t *xs,
                           int tokens, float *out, long ldo) {
    matvec_r8(8, w, groups, blocks, xq, xd, xs, tokens, out, ldo);
}

static void matvec_q4_K_r8(const void *w, int groups, int blocks, const int8_t *xq, const float *xd, const int32_t *xs,
                           int tokens, float *out, long ldo) {
    swiftllama_kq_matvec_r8_generic(12, w, groups, blocks, xq, xd, xs, tokens, out, ldo);
}

static void matvec_q5_K_r8(const void *w, int groups, int blocks, const int8_t *xq, const float *xd, const int32_t *xs,
                           int tokens, float *out, long ldo) {
    swiftllama_kq_matvec_r8_generic(13, w, groups, blocks, xq, xd, xs, tokens, out, ldo);
}

static void matvec_q6_K_r8(const void *w, int groups, int blocks, const int8_t *xq, const float *xd, const int32_t *xs,
                           int tokens, float *out, long ldo) {
    swiftllama_kq_matvec_r8_generic(14, w, groups, blocks, xq, xd, xs, tokens, out, ldo);
}

const swiftllama_kernel_set swiftllama_set_generic = {
    .name = "generic",
    .description = "plain C loops",
    .rowsPerCall = 1,
    .dot_q8_0 = swiftllama_dot_q8_0, .dot_q4_0 = swiftllama_dot_q4_0, .dot_q4_1 = swiftllama_dot_q4_1,
    .dot_q5_0 = swiftllama_dot_q5_0, .dot_q5_1 = swiftllama_dot_q5_1, .dot_iq4_nl = swiftllama_dot_iq4_nl,
    .dot2_q8_0 = swiftllama_dot2_q8_0, .dot2_q4_0 = swiftllama_dot2_q4_0, .dot2_q4_1 = swiftllama_dot2_q4_1,
    .dot2_q5_0 = swiftllama_dot2_q5_0, .dot2_q5_1 = swiftllama_dot2_q5_1, .dot2_iq4_nl = swiftllama_dot2_iq4_nl,
    .dot_q2_K = swiftllama_dot_q2_K, .dot_q3_K = swiftllama_dot_q3_K, .dot_q4_K = swiftllama_dot_q4_K,
    .dot_q5_K = swiftllama_dot_q5_K, .dot_q6_K = swiftllama_dot_q6_K, .dot_iq4_xs = swiftllama_dot_iq4_xs,
    .quantize_q8 = swiftllama_quantize_q8,
    .quantize_q8_K = swiftllama_quantize_q8_K,
    .matvec_f16 = matvec_f16,
    .matvec_bf16 = matvec_bf16,
    .matvec_q4_0_r8 = matvec_q4_0_r8,
    .matvec_q8_0_r8 = matvec_q8_0_r8,
    .matvec_q2_K_r8 = swiftllama_matvec_q2_K_r8_generic, .matvec_q3_K_r8 = swiftllama_matvec_q3_K_r8_generic,
    .matvec_q4_1_r8 = swiftllama_matvec_q4_1_r8_generic, .matvec_q5_0_r8 = swiftllama_matvec_q5_0_r8_generic,
    .matvec_q5_1_r8 = swiftllama_matvec_q5_1_r8_generic, .matvec_iq4_nl_r8 = swiftllama_matvec_iq4_nl_r8_generic,
    .matvec_iq4_xs_r8 = swiftllama_matvec_iq4_xs_r8_generic,
    .matvec_q4_K_r8 = matvec_q4_K_r8, .matvec_q5_K_r8 = matvec_q5_K_r8, .matvec_q6_K_r8 = matvec_q6_K_r8,
    .gemm_int8 = 0,
    .matvec_f16_r8 = swiftllama_matvec_f16_r8_generic, .matvec_bf16_r8 = swiftllama_matvec_bf16_r8_generic,
    .half_r8_panels = swiftllama_half_r8_panels_generic,
};
