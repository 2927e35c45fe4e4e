// 2-D convolution: im2col + gemm kernels (forward and backward side by side) and the differentiable
// conv2d op. A 1x1 stride-1 convolution skips im2col (the image is its own column matrix). The ReLU
// that follows most convolutions can be fused in: it is applied while the output is still in cache,
// and its backward masks dy image by image inside the convolution's backward.
#include <cstring>

#include "nn/check.hpp"
#include "nn/kernels.hpp"
#include "nn/ops.hpp"
#include "nn/threads.hpp"

namespace nn {

namespace kernels {

ConvGeometry conv_geometry(int64_t B, int64_t C, int64_t H, int64_t W, int64_t OC, int64_t KH, int64_t KW,
                           int64_t stride, int64_t pad) {
    ENSURE(B >= 0 && C > 0 && H > 0 && W > 0 && OC > 0 && KH > 0 && KW > 0, "conv2d: bad sizes: input [", B, ", ",
           C, ", ", H, ", ", W, "], weight [", OC, ", ", C, ", ", KH, ", ", KW, "]");
    ENSURE(stride > 0 && pad >= 0, "conv2d: stride must be positive and padding non-negative, got stride ", stride,
           ", padding ", pad);
    ENSURE(H + 2 * pad >= KH && W + 2 * pad >= KW, "conv2d: kernel ", KH, "x", KW, " is larger than the padded input ",
           H + 2 * pad, "x", W + 2 * pad);
    ConvGeometry g;
    g.B = B, g.C = C, g.H = H, g.W = W, g.OC = OC, g.KH = KH, g.KW = KW, g.stride = stride, g.pad = pad;
    g.OH = (H + 2 * pad - KH) / stride + 1;
    g.OW = (W + 2 * pad - KW) / stride + 1;
    return g;
}

namespace {

// The output columns [lo, hi) whose input column ow*stride - pad + kw lies inside [0, W).
inline void valid_range(int64_t k, int64_t stride, int64_t pad, int64_t in, int64_t out, int64_t& lo, int64_t& hi) {
    // ow*stride >= pad - k  and  ow*stride <= in - 1 + pad - k
    int64_t a = pad - k, b = in - 1 + pad - k;
    lo = a <= 0 ? 0 : (a + stride - 1) / stride;
    hi = b < 0 ? 0 : b / stride + 1;
    if (hi > out) hi = out;
    if (lo > hi) lo = hi;
}

}  // namespace

namespace {

// im2col for stride 1 with "same" output size (OH = H, OW = W): row (c, kh, kw) is plane c shifted
// by (dh, dw) = (kh - pad, kw - pad), i.e. out[j] = xc[j + dh W + dw] over the valid rows, which is
// one contiguous copy; the columns that wrapped around a row edge are zeroed afterwards.
void im2col_same(float* __restrict col, const float* __restrict x, const ConvGeometry& g) {
    const int64_t H = g.H, W = g.W, N = g.N();
    for (int64_t c = 0; c < g.C; c++) {
        const float* xc = x + c * H * W;
        for (int64_t kh = 0; kh < g.KH; kh++)
            for (int64_t kw = 0; kw < g.KW; kw++) {
                float* __restrict row = col + ((c * g.KH + kh) * g.KW + kw) * N;
                const int64_t dh = kh - g.pad, dw = kw - g.pad;
                const int64_t oh_lo = std::max<int64_t>(0, -dh), oh_hi = std::min<int64_t>(H, H - dh);
                const int64_t j0 = oh_lo * W, j1 = oh_hi * W, shift = dh * W + dw;
                std::memset(row, 0, size_t(j0) * sizeof(float));
                // the first/last element of the block may fall outside the plane when dw != 0
                const int64_t c0 = std::max(j0, -shift), c1 = std::min(j1, H * W - shift);
                for (int64_t j = j0; j < c0; j++) row[j] = 0.0f;
                if (c1 > c0) std::memcpy(row + c0, xc + c0 + shift, size_t(c1 - c0) * sizeof(float));
                for (int64_t j = std::max(c1, c0); j < j1; j++) row[j] = 0.0f;
                std::memset(row + j1, 0, size_t(N - j1) * sizeof(float));
                // columns whose source column ow + dw left the row: ow < -dw or ow >= W - dw
                for (int64_t oh = oh_lo; oh < oh_hi; oh++) {
                    float* r = row + oh * W;
                    for (int64_t ow = 0; ow < -dw; ow++) r[ow] = 0.0f;
                    for (int64_t ow = W - dw; ow < W; ow++) r[ow] = 0.0f;
                }
            }
    }
}

}  // namespace

// NOTE: rows are short (OW = 28, 14, 7 here); the common stride-1 "same" case copies whole shifted
// planes instead (im2col_same).
void im2col(float* __restrict col, const float* __restrict x, const ConvGeometry& g) {
    const int64_t H = g.H, W = g.W, OH = g.OH, OW = g.OW, S = g.stride, P = g.pad, N = g.N();
    if (S == 1 && OH == H && OW == W) return im2col_same(col, x, g);
    for (int64_t c = 0; c < g.C; c++)
        for (int64_t kh = 0; kh < g.KH; kh++)
            for (int64_t kw = 0; kw < g.KW; kw++) {
                float* __restrict row = col + ((c * g.KH + kh) * g.KW + kw) * N;
                int64_t lo, hi;
                valid_range(kw, S, P, W, OW, lo, hi);
                for (int64_t oh = 0; oh < OH; oh++) {
                    float* __restrict out = row + oh * OW;
                    int64_t ih = oh * S - P + kh;
                    if (ih < 0 || ih >= H) {
                        for (int64_t ow = 0; ow < OW; ow++) out[ow] = 0.0f;
                        continue;
                    }
                    const float* __restrict src = x + (c * H + ih) * W - P + kw;  // src[ow*S] is column ow
                    for (int64_t ow = 0; ow < lo; ow++) out[ow] = 0.0f;
                    if (S == 1)
                        for (int64_t ow = lo; ow < hi; ow++) out[ow] = src[ow];
                    else
                        for (int64_t ow = lo; ow < hi; ow++) out[ow] = src[ow * S];
                    for (int64_t ow = hi; ow < OW; ow++) out[ow] = 0.0f;
                }
            }
}

void col2im_add(float* __restrict dx, const float* __restrict dcol, const ConvGeometry& g) {
    const int64_t H = g.H, W = g.W, OH = g.OH, OW = g.OW, S = g.stride, P = g.pad, N = g.N();
    for (int64_t c = 0; c < g.C; c++)
        for (int64_t kh = 0; kh < g.KH; kh++)
            for (int64_t kw = 0; kw < g.KW; kw++) {
                const float* __restrict row = dcol + ((c * g.KH + kh) * g.KW + kw) * N;
                int64_t lo, hi;
                valid_range(kw, S, P, W, OW, lo, hi);
                for (int64_t oh = 0; oh < OH; oh++) {
                    int64_t ih = oh * S - P + kh;
                    if (ih < 0 || ih >= H) continue;
                    const float* __restrict in = row + oh * OW;
                    float* __restrict dst = dx + (c * H + ih) * W - P + kw;
                    if (S == 1)
                        for (int64_t ow = lo; ow < hi; ow++) dst[ow] += in[ow];
                    else
                        for (int64_t ow = lo; ow < hi; ow++) dst[ow * S] += in[ow];
                }
            }
}

namespace {

// Whether to split the batch across threads (one image stream per thread, serial gemm) or to run
// images in order with each gemm split across the pool.
bool split_images(const ConvGeometry& g) { return num_threads() > 1 && g.B >= num_threads(); }

inline void relu_inplace(float* y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
}

}  // namespace

int64_t conv2d_forward_workspace(const ConvGeometry& g, int n_threads) {
    return g.pointwise() ? 0 : int64_t(n_threads) * g.K() * g.N();
}

namespace {

// The input gradient of a stride-1 convolution is itself a convolution: dx = conv(dy, w') with
// w'[c][o][kh][kw] = w[o][c][KH-1-kh][KW-1-kw] and padding KH-1-pad. Computing it that way (im2col
// of dy, then a gemm that accumulates straight into dx) replaces the scatter-add of col2im.
bool dx_by_transposed_conv(const ConvGeometry& g) {
    return g.stride == 1 && g.KH == g.KW && g.pad <= g.KH - 1 && !g.pointwise();
}

ConvGeometry transposed_geometry(const ConvGeometry& g) {
    return conv_geometry(1, g.OC, g.OH, g.OW, g.C, g.KH, g.KW, 1, g.KH - 1 - g.pad);
}

// Per-thread scratch of the backward: col (K,N), a second column buffer (the dcol of col2im, or the
// im2col of dy), masked dy (OC,N), partial dw (OC,K) and partial db (OC).
struct BackwardScratch {
    int64_t col, col2, masked, dw, db, total;
    explicit BackwardScratch(const ConvGeometry& g) {
        col = g.K() * g.N();
        col2 = dx_by_transposed_conv(g) ? g.OC * g.KH * g.KW * g.H * g.W : g.K() * g.N();
        masked = g.OC * g.N();
        dw = g.OC * g.K();
        db = g.OC;
        total = col + col2 + masked + dw + db;
    }
};

}  // namespace

int64_t conv2d_backward_workspace(const ConvGeometry& g, int n_threads) {
    // the flipped weights w' (shared), then one BackwardScratch per thread
    return g.OC * g.K() + int64_t(n_threads) * BackwardScratch(g).total;
}

void conv2d_forward(float* y, const float* x, const float* w, const float* b, const ConvGeometry& g, bool relu,
                    float* workspace) {
    const int64_t K = g.K(), N = g.N(), OC = g.OC, in_size = g.C * g.H * g.W;
    // One image: y_b (OC,N) = w (OC,K) col_b (K,N) + b, then the ReLU while y_b is in cache.
    auto one_image = [&](int64_t i, float* col) {
        const float* xb = x + i * in_size;
        float* yb = y + i * OC * N;
        const float* cb = xb;
        if (!g.pointwise()) {
            im2col(col, xb, g);
            cb = col;
        }
        if (b)
            for (int64_t o = 0; o < OC; o++)
                for (int64_t n = 0; n < N; n++) yb[o * N + n] = b[o];
        gemm(false, false, OC, N, K, 1.0f, w, K, cb, N, b ? 1.0f : 0.0f, yb, N);
        if (relu) relu_inplace(yb, OC * N);
    };
    if (split_images(g)) {
        parallel_run([&](int t) {
            int64_t i0, i1;
            chunk_range(g.B, num_threads(), t, i0, i1);
            for (int64_t i = i0; i < i1; i++) one_image(i, workspace + t * K * N);
        });
    } else {
        for (int64_t i = 0; i < g.B; i++) one_image(i, workspace);
    }
}

void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* y_relu, const float* x,
                     const float* w, const ConvGeometry& g, float* workspace) {
    const int64_t K = g.K(), N = g.N(), OC = g.OC, C = g.C, in_size = g.C * g.H * g.W;
    const BackwardScratch sc(g);
    const bool transposed = dx && dx_by_transposed_conv(g);
    const ConvGeometry gt = transposed ? transposed_geometry(g) : g;
    float* wflip = workspace;  // (C, OC*KH*KW)
    if (transposed) {
        const int64_t KK = g.KH * g.KW;
        for (int64_t o = 0; o < OC; o++)
            for (int64_t c = 0; c < C; c++)
                for (int64_t k = 0; k < KK; k++) wflip[(c * OC + o) * KK + k] = w[(o * C + c) * KK + (KK - 1 - k)];
    }
    // One image into (dw_acc, db_acc): dw += dy_b col_b^T; db += row sums of dy_b; dx_b += conv^T(dy_b).
    auto one_image = [&](int64_t i, float* ws, float* dw_acc, float* db_acc) {
        float* col = ws;
        float* col2 = ws + sc.col;
        float* masked = col2 + sc.col2;
        const float* xb = x + i * in_size;
        const float* dyb = dy + i * OC * N;
        if (y_relu) {
            const float* yb = y_relu + i * OC * N;
            for (int64_t j = 0; j < OC * N; j++) masked[j] = yb[j] > 0.0f ? dyb[j] : 0.0f;
            dyb = masked;
        }
        if (db_acc)
            for (int64_t o = 0; o < OC; o++) db_acc[o] += vector_sum(dyb + o * N, N);
        if (dw_acc) {
            const float* cb = xb;
            if (!g.pointwise()) {
                im2col(col, xb, g);
                cb = col;
            }
            gemm(false, true, OC, K, N, 1.0f, dyb, N, cb, N, 1.0f, dw_acc, K);
        }
        if (dx) {
            float* dxb = dx + i * in_size;
            if (g.pointwise()) {  // dx_b (C,N) += w^T (C,OC) dy_b (OC,N)
                gemm(true, false, K, N, OC, 1.0f, w, K, dyb, N, 1.0f, dxb, N);
            } else if (transposed) {  // dx_b (C,HW) += w' (C, OC KH KW) im2col(dy_b)
                im2col(col2, dyb, gt);
                gemm(false, false, C, gt.N(), gt.K(), 1.0f, wflip, gt.K(), col2, gt.N(), 1.0f, dxb, gt.N());
            } else {  // dcol (K,N) = w^T dy_b, scattered back with col2im
                gemm(true, false, K, N, OC, 1.0f, w, K, dyb, N, 0.0f, col2, N);
                col2im_add(dxb, col2, g);
            }
        }
    };
    float* per_thread = workspace + OC * K;
    if (split_images(g)) {
        const int T = num_threads();
        parallel_run([&](int t) {
            float* ws = per_thread + t * sc.total;
            float* dw_acc = dw;
            float* db_acc = db;
            if (t > 0) {  // partial sums, added to dw/db in thread order below
                dw_acc = dw ? ws + sc.col + sc.col2 + sc.masked : nullptr;
                db_acc = db ? ws + sc.col + sc.col2 + sc.masked + sc.dw : nullptr;
                if (dw_acc) std::memset(dw_acc, 0, size_t(sc.dw) * sizeof(float));
                if (db_acc) std::memset(db_acc, 0, size_t(sc.db) * sizeof(float));
            }
            int64_t i0, i1;
            chunk_range(g.B, T, t, i0, i1);
            for (int64_t i = i0; i < i1; i++) one_image(i, ws, dw_acc, db_acc);
        });
        for (int t = 1; t < T; t++) {
            const float* ws = per_thread + t * sc.total;
            if (dw) {
                const float* part = ws + sc.col + sc.col2 + sc.masked;
                for (int64_t j = 0; j < sc.dw; j++) dw[j] += part[j];
            }
            if (db) {
                const float* part = ws + sc.col + sc.col2 + sc.masked + sc.dw;
                for (int64_t o = 0; o < OC; o++) db[o] += part[o];
            }
        }
    } else {
        for (int64_t i = 0; i < g.B; i++) one_image(i, per_thread, dw, db);
    }
}

}  // namespace kernels

Tensor conv2d(const Tensor& x_in, const Tensor& weight, const Tensor& bias, int64_t stride, int64_t padding, bool relu) {
    ENSURE(x_in.ndim() == 4, "conv2d: input must be [B, C, H, W], got ", x_in.shape());
    ENSURE(weight.ndim() == 4, "conv2d: weight must be [out, in, kh, kw], got ", weight.shape());
    ENSURE(x_in.size(1) == weight.size(1), "conv2d: input ", x_in.shape(), " has ", x_in.size(1),
           " channels but the weight ", weight.shape(), " expects ", weight.size(1));
    ENSURE(!bias.defined() || (bias.ndim() == 1 && bias.size(0) == weight.size(0)), "conv2d: bias ", bias.shape(),
           " does not match ", weight.size(0), " output channels");
    kernels::ConvGeometry g = kernels::conv_geometry(x_in.size(0), x_in.size(1), x_in.size(2), x_in.size(3),
                                                     weight.size(0), weight.size(2), weight.size(3), stride, padding);
    Tensor x = x_in.contiguous(), w = weight.contiguous();
    Tensor b = bias.defined() ? bias.contiguous() : Tensor();
    Tensor y = Tensor::empty({g.B, g.OC, g.OH, g.OW});
    {
        Tensor ws = Tensor::empty({kernels::conv2d_forward_workspace(g, num_threads())});
        kernels::conv2d_forward(y.data(), x.data(), w.data(), b.defined() ? b.data() : nullptr, g, relu, ws.data());
    }
    if (any_requires_grad({&x, &w, &b})) {
        Tensor y_saved = relu ? y.detach() : Tensor();
        attach_grad_fn(y, relu ? "conv2d_relu" : "conv2d", {x, w, b}, [x, w, b, g, y_saved](const Tensor& dy) {
            Tensor ws = Tensor::empty({kernels::conv2d_backward_workspace(g, num_threads())});
            kernels::conv2d_backward(x.requires_grad() ? x.grad_data() : nullptr,
                                     w.requires_grad() ? w.grad_data() : nullptr,
                                     b.defined() && b.requires_grad() ? b.grad_data() : nullptr, dy.data(),
                                     y_saved.defined() ? y_saved.data() : nullptr, x.data(), w.data(), g, ws.data());
        });
    }
    return y;
}

}  // namespace nn
