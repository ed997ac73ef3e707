#include "tl_ops.h"
#include "tl_linear.h"

#include <math.h>

// Keep multiplications and additions separately rounded, as PyTorch computes these ops.
#pragma clang fp contract(off)

void tl_rms_norm(const float *x, const float *weight, int64_t n, float eps, float *y, int path) {
    float mean_square = tl_dot(x, x, n, path) / (float)n;
    float inverse = 1.0f / sqrtf(mean_square + eps);
    for (int64_t i = 0; i < n; i++) {
        float normed = x[i] * inverse;
        y[i] = weight[i] * normed;
    }
}

void tl_rope(float *x, int heads, int head_dim, const float *cos_row, const float *sin_row) {
    int half = head_dim / 2;
    for (int h = 0; h < heads; h++) {
        float *v = x + (int64_t)h * head_dim;
        for (int i = 0; i < half; i++) {
            float a = v[i], b = v[i + half];
            float c = cos_row[i], s = sin_row[i];
            float ac = a * c, bs = b * s, bc = b * c, as = a * s;
            v[i] = ac - bs;
            v[i + half] = bc + as;
        }
    }
}

void tl_attention_row(const float *q, const float *keys, const float *values,
                      int64_t capacity, int heads, int kv_heads, int head_dim,
                      int64_t length, float scale, float *scores, float *out, int path) {
    int group = heads / kv_heads;
    for (int h = 0; h < heads; h++) {
        const float *qh = q + (int64_t)h * head_dim;
        const float *kh = keys + (int64_t)(h / group) * capacity * head_dim;
        const float *vh = values + (int64_t)(h / group) * capacity * head_dim;
        float *oh = out + (int64_t)h * head_dim;
        float maximum = -INFINITY;
        for (int64_t t = 0; t < length; t++) {
            float s = tl_dot(qh, kh + t * head_dim, head_dim, path) * scale;
            scores[t] = s;
            if (s > maximum) maximum = s;
        }
        float total = 0;
        for (int64_t t = 0; t < length; t++) {
            float e = expf(scores[t] - maximum);
            scores[t] = e;
            total += e;
        }
        for (int d = 0; d < head_dim; d++) oh[d] = 0;
        for (int64_t t = 0; t < length; t++) {
            float weight = scores[t] / total;
            const float *vt = vh + t * head_dim;
            // Each output lane accumulates over t in order; vectorising across d keeps that order.
            for (int d = 0; d < head_dim; d++) oh[d] = fmaf(weight, vt[d], oh[d]);
        }
    }
}

void tl_swiglu(const float *gate, const float *up, int64_t n, float *out) {
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        float silu = g / (1.0f + expf(-g));
        out[i] = silu * up[i];
    }
}
