// Pooling over the (H,W) planes of NCHW tensors: max and average pooling kernels with their backward
// side by side, global average pooling, and the differentiable ops. Planes are independent, so every
// kernel splits them across the thread pool.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "nn/check.hpp"
#include "nn/kernels.hpp"
#include "nn/ops.hpp"
#include "nn/threads.hpp"

namespace nn {

namespace kernels {

PoolGeometry pool_geometry(int64_t P, int64_t H, int64_t W, int64_t KH, int64_t KW, int64_t stride, int64_t pad) {
    ENSURE(P >= 0 && H > 0 && W > 0 && KH > 0 && KW > 0 && stride > 0 && pad >= 0, "pooling: bad sizes: planes ", P,
           " of ", H, "x", W, ", window ", KH, "x", KW, ", stride ", stride, ", padding ", pad);
    ENSURE(2 * pad <= KH && 2 * pad <= KW, "pooling: padding ", pad, " must be at most half the window ", KH, "x", KW,
           " (as in PyTorch)");
    ENSURE(H + 2 * pad >= KH && W + 2 * pad >= KW, "pooling: window ", KH, "x", KW, " is larger than the padded input ",
           H + 2 * pad, "x", W + 2 * pad);
    PoolGeometry g;
    g.P = P, g.H = H, g.W = W, g.KH = KH, g.KW = KW, g.stride = stride, g.pad = pad;
    g.OH = (H + 2 * pad - KH) / stride + 1;
    g.OW = (W + 2 * pad - KW) / stride + 1;
    return g;
}

namespace {

// Planes per thread chunk: enough work to pay for a wake-up.
int64_t plane_grain(const PoolGeometry& g) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, g.H * g.W)); }

// Index (within the plane) of the maximal element of window (oh, ow) in row-major window order: a
// later element wins only when larger, or when it is NaN (PyTorch's rule: the first maximum, NaN
// propagates).
inline int64_t window_argmax(const float* xp, const PoolGeometry& g, int64_t oh, int64_t ow) {
    int64_t h0 = oh * g.stride - g.pad, w0 = ow * g.stride - g.pad;
    int64_t best = -1;
    float best_v = -std::numeric_limits<float>::infinity();
    for (int64_t kh = 0; kh < g.KH; kh++) {
        int64_t ih = h0 + kh;
        if (ih < 0 || ih >= g.H) continue;
        for (int64_t kw = 0; kw < g.KW; kw++) {
            int64_t iw = w0 + kw;
            if (iw < 0 || iw >= g.W) continue;
            float v = xp[ih * g.W + iw];
            if (best < 0 || v > best_v || std::isnan(v)) {
                best = ih * g.W + iw;
                best_v = v;
            }
        }
    }
    return best;
}

// The common case: 2x2 windows, stride 2, no padding.
inline bool is_2x2(const PoolGeometry& g) { return g.KH == 2 && g.KW == 2 && g.stride == 2 && g.pad == 0; }

// Which of the window (a b / c d) window_argmax picks, as 0..3 = a, b, c, d.
inline int max_pool_2x2_window(float a, float b, float c, float d) {
    int k = 0;
    float m = a;
    if (b > m || b != b) m = b, k = 1;
    if (c > m || c != c) m = c, k = 2;
    if (d > m || d != d) k = 3;
    return k;
}

// One output row of the 2x2 case: windows (a b / c d) with a = r0[2 ow], b = r0[2 ow + 1],
// c = r1[2 ow], d = r1[2 ow + 1], and window_argmax's rule in that order. With AVX-512, 8 windows
// per vector; with AVX2, 4; otherwise plain loops. All are checked against the generic path (the
// reference).
#if defined(__AVX512F__)
// Inside a vector every pair of lanes holds one window: blends copy a, b (from row 0) and c, d (from
// row 1) to both lanes of the pair, so the rule runs lane-wise; wb, wc, wd say whether b, c, d took over.
struct Window8 {
    __m512 m;                // the maximum, in both lanes of each pair
    __mmask16 wb, wc, wd;
};

inline Window8 window8(__m512 r0, __m512 r1) {
    const __mmask16 odd = 0xAAAA;
    __m512 r0s = _mm512_permute_ps(r0, 0xB1), r1s = _mm512_permute_ps(r1, 0xB1);  // swap lanes of each pair
    __m512 a = _mm512_mask_blend_ps(odd, r0, r0s), b = _mm512_mask_blend_ps(odd, r0s, r0);
    __m512 c = _mm512_mask_blend_ps(odd, r1, r1s), d = _mm512_mask_blend_ps(odd, r1s, r1);
    Window8 w;
    w.wb = _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ) | _mm512_cmp_ps_mask(b, b, _CMP_UNORD_Q);
    w.m = _mm512_mask_blend_ps(w.wb, a, b);
    w.wc = _mm512_cmp_ps_mask(c, w.m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(c, c, _CMP_UNORD_Q);
    w.m = _mm512_mask_blend_ps(w.wc, w.m, c);
    w.wd = _mm512_cmp_ps_mask(d, w.m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(d, d, _CMP_UNORD_Q);
    w.m = _mm512_mask_blend_ps(w.wd, w.m, d);
    return w;
}

inline __mmask16 lanes(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << n) - 1); }

void max_pool_2x2_row(float* y, const float* r0, const float* r1, int64_t OW) {
    const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    for (int64_t ow = 0; ow < OW; ow += 16) {
        const int64_t n = std::min<int64_t>(16, OW - ow);  // windows in this step
        __m512 m[2];
        for (int h = 0; h < 2; h++) {
            const int64_t wn = std::clamp<int64_t>(n - 8 * h, 0, 8);
            const __mmask16 k = lanes(2 * wn);
            const int64_t col = 2 * (ow + 8 * h);
            m[h] = window8(_mm512_maskz_loadu_ps(k, r0 + col), _mm512_maskz_loadu_ps(k, r1 + col)).m;
        }
        _mm512_mask_storeu_ps(y + ow, lanes(n), _mm512_permutex2var_ps(m[0], evens, m[1]));
    }
}

void max_pool_2x2_row_backward(float* d0, float* d1, const float* dy, const float* r0, const float* r1, int64_t OW) {
    const __m512i pairs = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const __mmask16 odd = 0xAAAA, even = 0x5555;
    for (int64_t ow = 0; ow < OW; ow += 8) {
        const int64_t wn = std::min<int64_t>(8, OW - ow);
        const __mmask16 k = lanes(2 * wn);
        const int64_t col = 2 * ow;
        Window8 w = window8(_mm512_maskz_loadu_ps(k, r0 + col), _mm512_maskz_loadu_ps(k, r1 + col));
        const __mmask16 a_wins = __mmask16(~w.wb & ~w.wc & ~w.wd), b_wins = __mmask16(w.wb & ~w.wc & ~w.wd);
        const __mmask16 c_wins = __mmask16(w.wc & ~w.wd), d_wins = w.wd;
        const __mmask16 row0 = __mmask16(((a_wins & even) | (b_wins & odd)) & k);
        const __mmask16 row1 = __mmask16(((c_wins & even) | (d_wins & odd)) & k);
        __m512 g = _mm512_permutexvar_ps(pairs, _mm512_castps256_ps512(_mm256_maskz_loadu_ps(__mmask8(lanes(wn)), dy + ow)));
        __m512 v0 = _mm512_maskz_loadu_ps(k, d0 + col), v1 = _mm512_maskz_loadu_ps(k, d1 + col);
        _mm512_mask_storeu_ps(d0 + col, k, _mm512_mask_add_ps(v0, row0, v0, g));
        _mm512_mask_storeu_ps(d1 + col, k, _mm512_mask_add_ps(v1, row1, v1, g));
    }
}
#elif defined(__AVX2__)
// The same with 4 windows per AVX vector: pairs of lanes hold one window, and the outcome of each
// comparison is a lane mask (all ones where b, c or d took over). Windows past the last multiple of
// 4 go through the scalar rule (max_pool_2x2_window).
struct Window4 {
    __m256 m;  // the maximum, in both lanes of each pair
    __m256 wb, wc, wd;
};

inline __m256 takes_over(__m256 v, __m256 m) {
    return _mm256_or_ps(_mm256_cmp_ps(v, m, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

inline Window4 window4(__m256 r0, __m256 r1) {
    __m256 r0s = _mm256_permute_ps(r0, 0xB1), r1s = _mm256_permute_ps(r1, 0xB1);  // swap lanes of each pair
    __m256 a = _mm256_blend_ps(r0, r0s, 0xAA), b = _mm256_blend_ps(r0s, r0, 0xAA);
    __m256 c = _mm256_blend_ps(r1, r1s, 0xAA), d = _mm256_blend_ps(r1s, r1, 0xAA);
    Window4 w;
    w.wb = takes_over(b, a);
    w.m = _mm256_blendv_ps(a, b, w.wb);
    w.wc = takes_over(c, w.m);
    w.m = _mm256_blendv_ps(w.m, c, w.wc);
    w.wd = takes_over(d, w.m);
    w.m = _mm256_blendv_ps(w.m, d, w.wd);
    return w;
}

void max_pool_2x2_row(float* y, const float* r0, const float* r1, int64_t OW) {
    int64_t ow = 0;
    for (; ow + 4 <= OW; ow += 4) {
        __m256 m = window4(_mm256_loadu_ps(r0 + 2 * ow), _mm256_loadu_ps(r1 + 2 * ow)).m;
        // lanes 0, 2, 4, 6 hold the four maxima
        __m256 packed = _mm256_permutevar8x32_ps(m, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
        _mm_storeu_ps(y + ow, _mm256_castps256_ps128(packed));
    }
    for (; ow < OW; ow++) {
        const float v[4] = {r0[2 * ow], r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]};
        y[ow] = v[max_pool_2x2_window(v[0], v[1], v[2], v[3])];
    }
}

void max_pool_2x2_row_backward(float* d0, float* d1, const float* dy, const float* r0, const float* r1, int64_t OW) {
    const __m256i pairs = _mm256_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3);
    int64_t ow = 0;
    for (; ow + 4 <= OW; ow += 4) {
        const int64_t col = 2 * ow;
        Window4 w = window4(_mm256_loadu_ps(r0 + col), _mm256_loadu_ps(r1 + col));
        // the winner: d where wd; else c where wc; else b where wb; else a
        __m256 not_d = _mm256_andnot_ps(w.wd, _mm256_castsi256_ps(_mm256_set1_epi32(-1)));
        __m256 c_wins = _mm256_and_ps(w.wc, not_d);
        __m256 ab = _mm256_andnot_ps(w.wc, not_d);  // neither c nor d
        __m256 b_wins = _mm256_and_ps(w.wb, ab), a_wins = _mm256_andnot_ps(w.wb, ab);
        // even lanes stand for a (row 0) or c (row 1), odd lanes for b or d
        __m256 row0 = _mm256_blend_ps(a_wins, b_wins, 0xAA), row1 = _mm256_blend_ps(c_wins, w.wd, 0xAA);
        __m256 g = _mm256_permutevar8x32_ps(_mm256_castps128_ps256(_mm_loadu_ps(dy + ow)), pairs);
        __m256 v0 = _mm256_loadu_ps(d0 + col), v1 = _mm256_loadu_ps(d1 + col);
        _mm256_storeu_ps(d0 + col, _mm256_blendv_ps(v0, _mm256_add_ps(v0, g), row0));
        _mm256_storeu_ps(d1 + col, _mm256_blendv_ps(v1, _mm256_add_ps(v1, g), row1));
    }
    for (; ow < OW; ow++) {
        int k = max_pool_2x2_window(r0[2 * ow], r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]);
        (k < 2 ? d0 : d1)[2 * ow + (k & 1)] += dy[ow];
    }
}
#else
void max_pool_2x2_row(float* __restrict y, const float* __restrict r0, const float* __restrict r1, int64_t OW) {
    for (int64_t ow = 0; ow < OW; ow++) {
        const float v[4] = {r0[2 * ow], r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]};
        y[ow] = v[max_pool_2x2_window(v[0], v[1], v[2], v[3])];
    }
}

void max_pool_2x2_row_backward(float* __restrict d0, float* __restrict d1, const float* __restrict dy,
                                      const float* __restrict r0, const float* __restrict r1, int64_t OW) {
    for (int64_t ow = 0; ow < OW; ow++) {
        int k = max_pool_2x2_window(r0[2 * ow], r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]);
        (k < 2 ? d0 : d1)[2 * ow + (k & 1)] += dy[ow];
    }
}

#endif

}  // namespace

void max_pool2d_forward(float* y, const float* x, const PoolGeometry& g) {
    parallel_for(g.P, plane_grain(g), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; p++) {
            const float* xp = x + p * g.H * g.W;
            float* yp = y + p * g.OH * g.OW;
            if (is_2x2(g)) {
                for (int64_t oh = 0; oh < g.OH; oh++)
                    max_pool_2x2_row(yp + oh * g.OW, xp + 2 * oh * g.W, xp + (2 * oh + 1) * g.W, g.OW);
                continue;
            }
            for (int64_t oh = 0; oh < g.OH; oh++)
                for (int64_t ow = 0; ow < g.OW; ow++) yp[oh * g.OW + ow] = xp[window_argmax(xp, g, oh, ow)];
        }
    });
}

void max_pool2d_backward(float* dx, const float* dy, const float* x, const PoolGeometry& g) {
    parallel_for(g.P, plane_grain(g), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; p++) {
            const float* xp = x + p * g.H * g.W;
            const float* dyp = dy + p * g.OH * g.OW;
            float* dxp = dx + p * g.H * g.W;
            if (is_2x2(g)) {
                for (int64_t oh = 0; oh < g.OH; oh++)
                    max_pool_2x2_row_backward(dxp + 2 * oh * g.W, dxp + (2 * oh + 1) * g.W, dyp + oh * g.OW,
                                              xp + 2 * oh * g.W, xp + (2 * oh + 1) * g.W, g.OW);
                continue;
            }
            for (int64_t oh = 0; oh < g.OH; oh++)
                for (int64_t ow = 0; ow < g.OW; ow++) dxp[window_argmax(xp, g, oh, ow)] += dyp[oh * g.OW + ow];
        }
    });
}

void max_pool2d_forward_reference(float* y, const float* x, const PoolGeometry& g) {
    for (int64_t p = 0; p < g.P; p++)
        for (int64_t oh = 0; oh < g.OH; oh++)
            for (int64_t ow = 0; ow < g.OW; ow++)
                y[(p * g.OH + oh) * g.OW + ow] = x[p * g.H * g.W + window_argmax(x + p * g.H * g.W, g, oh, ow)];
}

void max_pool2d_backward_reference(float* dx, const float* dy, const float* x, const PoolGeometry& g) {
    for (int64_t p = 0; p < g.P; p++)
        for (int64_t oh = 0; oh < g.OH; oh++)
            for (int64_t ow = 0; ow < g.OW; ow++)
                dx[p * g.H * g.W + window_argmax(x + p * g.H * g.W, g, oh, ow)] += dy[(p * g.OH + oh) * g.OW + ow];
}

void avg_pool2d_forward(float* y, const float* x, const PoolGeometry& g) {
    const float scale = 1.0f / float(g.KH * g.KW);
    parallel_for(g.P, plane_grain(g), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; p++) {
            const float* xp = x + p * g.H * g.W;
            float* yp = y + p * g.OH * g.OW;
            for (int64_t oh = 0; oh < g.OH; oh++)
                for (int64_t ow = 0; ow < g.OW; ow++) {
                    float s = 0.0f;
                    for (int64_t kh = 0; kh < g.KH; kh++) {
                        int64_t ih = oh * g.stride - g.pad + kh;
                        if (ih < 0 || ih >= g.H) continue;
                        for (int64_t kw = 0; kw < g.KW; kw++) {
                            int64_t iw = ow * g.stride - g.pad + kw;
                            if (iw >= 0 && iw < g.W) s += xp[ih * g.W + iw];
                        }
                    }
                    yp[oh * g.OW + ow] = s * scale;
                }
        }
    });
}

void avg_pool2d_backward(float* dx, const float* dy, const PoolGeometry& g) {
    const float scale = 1.0f / float(g.KH * g.KW);
    parallel_for(g.P, plane_grain(g), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; p++) {
            const float* dyp = dy + p * g.OH * g.OW;
            float* dxp = dx + p * g.H * g.W;
            for (int64_t oh = 0; oh < g.OH; oh++)
                for (int64_t ow = 0; ow < g.OW; ow++) {
                    float d = dyp[oh * g.OW + ow] * scale;
                    for (int64_t kh = 0; kh < g.KH; kh++) {
                        int64_t ih = oh * g.stride - g.pad + kh;
                        if (ih < 0 || ih >= g.H) continue;
                        for (int64_t kw = 0; kw < g.KW; kw++) {
                            int64_t iw = ow * g.stride - g.pad + kw;
                            if (iw >= 0 && iw < g.W) dxp[ih * g.W + iw] += d;
                        }
                    }
                }
        }
    });
}

}  // namespace kernels

namespace {

enum class PoolKind { Max, Avg };

Tensor pool2d(const Tensor& x_in, int64_t kernel, int64_t stride, int64_t padding, PoolKind kind, const char* name) {
    ENSURE(x_in.ndim() == 4, name, ": input must be [B, C, H, W], got ", x_in.shape());
    if (stride == 0) stride = kernel;  // PyTorch's default: stride = kernel size
    Tensor x = x_in.contiguous();
    int64_t B = x.size(0), C = x.size(1);
    kernels::PoolGeometry g = kernels::pool_geometry(B * C, x.size(2), x.size(3), kernel, kernel, stride, padding);
    Tensor y = Tensor::empty({B, C, g.OH, g.OW});
    if (kind == PoolKind::Max) kernels::max_pool2d_forward(y.data(), x.data(), g);
    else kernels::avg_pool2d_forward(y.data(), x.data(), g);
    if (any_requires_grad({&x})) {
        attach_grad_fn(y, name, {x}, [x, g, kind](const Tensor& dy) {
            if (kind == PoolKind::Max) kernels::max_pool2d_backward(x.grad_data(), dy.data(), x.data(), g);
            else kernels::avg_pool2d_backward(x.grad_data(), dy.data(), g);
        });
    }
    return y;
}

}  // namespace

Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
    return pool2d(x, kernel, stride, padding, PoolKind::Max, "max_pool2d");
}

Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride, int64_t padding) {
    return pool2d(x, kernel, stride, padding, PoolKind::Avg, "avg_pool2d");
}

Tensor global_avg_pool2d(const Tensor& x_in) {
    ENSURE(x_in.ndim() == 4, "global_avg_pool2d: input must be [B, C, H, W], got ", x_in.shape());
    Tensor x = x_in.contiguous();
    int64_t B = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
    Tensor y = Tensor::empty({B, C, 1, 1});
    const float scale = 1.0f / float(HW);
    const float* px = x.data();
    float* py = y.data();
    for (int64_t p = 0; p < B * C; p++) {
        float s = 0.0f;
        for (int64_t i = 0; i < HW; i++) s += px[p * HW + i];
        py[p] = s * scale;
    }
    if (any_requires_grad({&x})) {
        attach_grad_fn(y, "global_avg_pool2d", {x}, [x, B, C, HW, scale](const Tensor& dy) {
            float* gx = x.grad_data();
            const float* d = dy.data();
            for (int64_t p = 0; p < B * C; p++) {
                float v = d[p] * scale;
                for (int64_t i = 0; i < HW; i++) gx[p * HW + i] += v;
            }
        });
    }
    return y;
}

}  // namespace nn
