// Pooling over the (H,W) planes of NCHW tensors: max and average pooling kernels with their backward
// side by side, global average pooling, and the differentiable ops. Planes are independent, so every
// kernel splits them across the thread pool.
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

// Index (within the plane) of the first maximal element of window (oh, ow); NaN wins like PyTorch.
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
                if (std::isnan(v)) return best;
            }
        }
    }
    return best;
}

// The common case: 2x2 windows, stride 2, no padding.
inline bool is_2x2(const PoolGeometry& g) { return g.KH == 2 && g.KW == 2 && g.stride == 2 && g.pad == 0; }

}  // namespace

void max_pool2d_forward(float* y, const float* x, const PoolGeometry& g) {
    parallel_for(g.P, plane_grain(g), [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; p++) {
            const float* xp = x + p * g.H * g.W;
            float* yp = y + p * g.OH * g.OW;
            if (is_2x2(g)) {
                for (int64_t oh = 0; oh < g.OH; oh++) {
                    const float* r0 = xp + 2 * oh * g.W;
                    const float* r1 = r0 + g.W;
                    for (int64_t ow = 0; ow < g.OW; ow++) {
                        // The rule of window_argmax: a later element wins when larger or NaN.
                        float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
                        float m = (b > a || b != b) ? b : a;
                        m = (c > m || c != c) ? c : m;
                        m = (d > m || d != d) ? d : m;
                        yp[oh * g.OW + ow] = m;
                    }
                }
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
            if (is_2x2(g)) {  // the forward's rule inline: a later element wins when larger or NaN
                for (int64_t oh = 0; oh < g.OH; oh++) {
                    const float* r0 = xp + 2 * oh * g.W;
                    const float* r1 = r0 + g.W;
                    float* d0 = dxp + 2 * oh * g.W;
                    float* d1 = d0 + g.W;
                    for (int64_t ow = 0; ow < g.OW; ow++) {
                        float a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
                        float m = a;
                        int k = 0;
                        if (b > m || b != b) m = b, k = 1;
                        if (c > m || c != c) m = c, k = 2;
                        if (d > m || d != d) m = d, k = 3;
                        float v = dyp[oh * g.OW + ow];
                        (k < 2 ? d0 : d1)[2 * ow + (k & 1)] += v;
                    }
                }
                continue;
            }
            for (int64_t oh = 0; oh < g.OH; oh++)
                for (int64_t ow = 0; ow < g.OW; ow++) dxp[window_argmax(xp, g, oh, ow)] += dyp[oh * g.OW + ow];
        }
    });
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
