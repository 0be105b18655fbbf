/* timbre's C kernels for hot CPU loops of training (see timbre/native/__init__.py for how they are built and called).
 *
 * Dropout draws: element i of a call keeps its value when a 32-bit hash of (seed, i) is at or above `threshold`
 * (= round(p * 2^32)) and is then scaled by `scale` (= 1 / (1 - p)). The hash is counter based: a draw can be made
 * again from the seed alone (backward), and every split of the work across threads gives the same result.
 *
 * Work is shared by `threads` OpenMP threads (in-process this is PyTorch's own OpenMP runtime, whose threads are
 * already up) over rows or fixed chunks; no result depends on the split.
 *
 * Built with -ffast-math for vectorised expf: no infinity or NaN is produced here; hidden keys are selected away.
 */
#include <math.h>
#include <stdint.h>

static inline uint32_t mix32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static inline uint32_t draw(uint32_t index, uint64_t seed) {
    return mix32(mix32(index ^ (uint32_t)seed) + (uint32_t)(seed >> 32));
}

#define CHUNK 4096

/* keep[i] = 1 where element i of n is kept. */
void timbre_dropout_keep(uint8_t *restrict keep, int64_t n, uint64_t seed, uint32_t threshold) {
    for (int64_t i = 0; i < n; i++) keep[i] = draw((uint32_t)i, seed) >= threshold;
}

/* y[i] = x[i] * scale where kept, else 0, for the n elements; forward and backward of dropout alike. */
void timbre_dropout(const float *restrict x, float *restrict y, int64_t n, uint64_t seed, uint32_t threshold,
                    float scale, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t c = 0; c < n; c += CHUNK) {
        int len = (int)(c + CHUNK < n ? CHUNK : n - c);
        uint32_t base = (uint32_t)c;  /* 32-bit lanes: the counter vectorises without 64-bit packing */
        const float *restrict xc = x + c;
        float *restrict yc = y + c;
        for (int j = 0; j < len; j++) yc[j] = draw(base + (uint32_t)j, seed) >= threshold ? xc[j] * scale : 0.0f;
    }
}

/* Attention forward over the rows of one block of queries: scores [BH, R, K] (row = bh * R + r) become
 * the probabilities in place (softmax over the keys `visible` [B, R, K] allows, 0 at the others; b = bh / heads),
 * and dropped = probabilities * dropout factor, the draw indexed by the element's position in the block. */
void timbre_attention_forward(float *restrict scores, float *restrict dropped, const uint8_t *restrict visible,
                              int64_t total_rows, int64_t heads, int64_t rows, int64_t keys, uint64_t seed,
                              uint32_t threshold, float scale, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t row = 0; row < total_rows; row++) {
        float *restrict s = scores + row * keys;
        float *restrict d = dropped + row * keys;
        const uint8_t *restrict m = visible + ((row / (heads * rows)) * rows + row % rows) * keys;
        uint32_t base = (uint32_t)(row * keys);
        float top = -3.0e38f;
        for (int64_t k = 0; k < keys; k++) {
            float x = m[k] ? s[k] : -3.0e38f;
            top = x > top ? x : top;
        }
        float total = 0.0f;
        for (int64_t k = 0; k < keys; k++) {
            float e = expf(m[k] ? s[k] - top : -100.0f);
            e = m[k] ? e : 0.0f;
            s[k] = e;
            total += e;
        }
        float inv = 1.0f / total;
        for (int k = 0; k < (int)keys; k++) {
            float p = s[k] * inv;
            s[k] = p;
            d[k] = draw(base + (uint32_t)k, seed) >= threshold ? p * scale : 0.0f;
        }
    }
}

/* Attention backward over the rows of one block: grad holds dL/d(dropped) and becomes dL/d(scores) in place. With
 * dropped = p * f: dL/ds = p * (g * f - sum(g * f * p)) = g * dropped - p * sum(g * dropped). (Where f is 0 but p
 * is not, dropped is 0 and so is g * dropped; where p is 0 the gradient is 0 whatever f is.) */
void timbre_attention_backward(float *restrict grad, const float *restrict dropped, const float *restrict probs,
                               int64_t total_rows, int64_t keys, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t row = 0; row < total_rows; row++) {
        float *restrict g = grad + row * keys;
        const float *restrict d = dropped + row * keys;
        const float *restrict p = probs + row * keys;
        float dot = 0.0f;
        for (int64_t k = 0; k < keys; k++) dot += g[k] * d[k];
        for (int64_t k = 0; k < keys; k++) g[k] = g[k] * d[k] - p[k] * dot;
    }
}

/* The feed-forward's ReLU and dropout in one pass: y[i] = x[i] * scale where x[i] > 0 and the draw keeps it, else 0
 * (the draw of `timbre_dropout`, so the result equals dropout(relu(x)) of the same seed). */
void timbre_relu_dropout(const float *restrict x, float *restrict y, int64_t n, uint64_t seed, uint32_t threshold,
                         float scale, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t c = 0; c < n; c += CHUNK) {
        int len = (int)(c + CHUNK < n ? CHUNK : n - c);
        uint32_t base = (uint32_t)c;
        const float *restrict xc = x + c;
        float *restrict yc = y + c;
        for (int j = 0; j < len; j++) {
            float v = xc[j];
            yc[j] = (v > 0.0f) & (draw(base + (uint32_t)j, seed) >= threshold) ? v * scale : 0.0f;
        }
    }
}

/* Its backward from its own result y: dx[i] = g[i] * scale where y[i] > 0, else 0 (y > 0 exactly where x > 0 and
 * the draw kept it), so neither the input nor the draw is needed. */
void timbre_relu_dropout_backward(const float *restrict g, const float *restrict y, float *restrict dx, int64_t n,
                                  float scale, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? g[i] * scale : 0.0f;
}
