#include "sparse/ops.hpp"

#include <algorithm>
#include <optional>
#include <vector>

#include "nn/autograd.hpp"
#include "nn/check.hpp"
#include "nn/kernels.hpp"
#include "nn/threads.hpp"

namespace sparse {

int64_t CsrPattern::bytes() const {
    return int64_t(row_ptr.size()) * 4 + (compact ? int64_t(col16.size()) * 2 : int64_t(col32.size()) * 4);
}

kernels::CsrRef CsrPattern::ref(const float* values) const {
    kernels::CsrRef r;
    r.rows = rows;
    r.cols = cols;
    r.row_ptr = row_ptr.data();
    r.col_idx = compact ? static_cast<const void*>(col16.data()) : static_cast<const void*>(col32.data());
    r.index = compact ? kernels::IndexWidth::u16 : kernels::IndexWidth::i32;
    r.values = values;
    return r;
}

std::shared_ptr<const CsrPattern> CsrPattern::of(const Csr& m, bool compact) {
    ENSURE(!compact || m.cols <= kCsr16MaxCols, "CsrPattern: ", m.cols, " columns do not fit 16-bit indices");
    auto p = std::make_shared<CsrPattern>();
    p->rows = m.rows;
    p->cols = m.cols;
    p->row_ptr = m.row_ptr;
    p->compact = compact;
    if (compact) p->col16.assign(m.col_idx.begin(), m.col_idx.end());
    else p->col32 = m.col_idx;
    return p;
}

Csr CsrPattern::to_csr(const nn::Tensor& values) const {
    Csr m;
    m.rows = rows;
    m.cols = cols;
    m.row_ptr = row_ptr;
    if (compact) m.col_idx.assign(col16.begin(), col16.end());
    else m.col_idx = col32;
    m.values = values;
    return m;
}

namespace {

// Activations move between [B, F] (ours) and [F, ldb] with the batch padded to whole vectors; the
// padding columns are zero so every kernel runs on full vectors and padding never leaks into sums.
int64_t padded_batch(int64_t B) { return (B + 15) / 16 * 16; }

// dst [F, ldb] = src [B, F]^T, padding columns zeroed.
void to_feature_major(float* dst, int64_t ldb, const float* src, int64_t B, int64_t F) {
    kernels::transpose(dst, ldb, src, F, B, F);
    if (ldb > B)
        for (int64_t f = 0; f < F; f++)
            for (int64_t b = B; b < ldb; b++) dst[f * ldb + b] = 0.0f;
}

}  // namespace

nn::Tensor linear(const nn::Tensor& x_in, const std::shared_ptr<const CsrPattern>& pattern, const nn::Tensor& values,
                  const nn::Tensor& bias) {
    ENSURE(pattern != nullptr, "sparse::linear: no pattern");
    const int64_t OUT = pattern->rows, IN = pattern->cols;
    ENSURE(values.defined() && values.ndim() == 1 && values.numel() == pattern->nnz(), "sparse::linear: values ",
           values.defined() ? nn::to_string(values.shape()) : std::string("undefined"), " do not match the pattern's ",
           pattern->nnz(), " entries");
    ENSURE(x_in.ndim() >= 1 && x_in.size(-1) == IN, "sparse::linear: input ", x_in.shape(), " does not end in ", IN,
           " features (weight [", OUT, ", ", IN, "])");
    ENSURE(!bias.defined() || (bias.ndim() == 1 && bias.size(0) == OUT), "sparse::linear: bias ", bias.shape(),
           " does not match ", OUT, " outputs");
    nn::Tensor x = x_in.contiguous(), v = values.contiguous();
    nn::Tensor b = bias.defined() ? bias.contiguous() : nn::Tensor();
    const int64_t B = x.numel() / IN;
    nn::Shape out_shape = x.shape();
    out_shape[out_shape.size() - 1] = OUT;
    nn::Tensor y = nn::Tensor::empty(out_shape);
    kernels::Operands p;
    p.w = pattern->ref(v.data());
    p.bias = b.defined() ? b.data() : nullptr;
    if (B == 1) {
        p.N = 1, p.a = x.data(), p.out = y.data();
        kernels::run(kernels::Op::spmv, p);
    } else if (B > 1) {  // our layout as it is: the kernel transposes tiles in cache
        p.N = B, p.a = x.data(), p.lda = IN, p.out = y.data(), p.ldo = OUT, p.batch_major = true;
        kernels::run(kernels::Op::spmm, p);
    }
    const int64_t ldb = B == 1 ? 1 : padded_batch(B);
    if (nn::any_requires_grad({&x, &v, &b})) {
        nn::attach_grad_fn(y, "sparse_linear", {x, v, b}, [x, v, b, pattern, B, IN, OUT, ldb](const nn::Tensor& dy) {
            if (B == 0) return;
            kernels::Operands q;
            q.w = pattern->ref(v.data());
            // The backward kernels take the batch contiguous: dy^T [OUT, ldb] and x^T [IN, ldb] (for
            // B == 1 the same memory as dy and x).
            nn::Tensor dyt = dy, xt = x;
            if (B > 1) {
                dyt = nn::Tensor::empty({OUT, ldb});
                to_feature_major(dyt.data(), ldb, dy.data(), B, OUT);
                if (v.requires_grad()) {
                    xt = nn::Tensor::empty({IN, ldb});
                    to_feature_major(xt.data(), ldb, x.data(), B, IN);
                }
            }
            q.N = ldb, q.a = dyt.data(), q.lda = ldb;
            if (x.requires_grad()) {  // dx^T += W^T dy^T
                nn::Tensor dxt = nn::Tensor::zeros({IN, ldb});
                q.out = dxt.data(), q.ldo = ldb;
                kernels::run(kernels::Op::spmmt, q);
                float* dx = x.grad_data();
                if (B == 1) {
                    for (int64_t i = 0; i < IN; i++) dx[i] += dxt.data()[i];
                } else {
                    nn::Tensor t = nn::Tensor::empty({B, IN});
                    kernels::transpose(t.data(), IN, dxt.data(), ldb, IN, B);
                    const float* tp = t.data();
                    for (int64_t i = 0; i < B * IN; i++) dx[i] += tp[i];
                }
            }
            if (v.requires_grad()) {  // dW += dy^T x at the pattern
                q.b = xt.data(), q.ldb = ldb, q.out = v.grad_data();
                kernels::run(kernels::Op::sddmm, q);
            }
            if (b.defined() && b.requires_grad()) {  // db += sum over the batch
                float* db = b.grad_data();
                const float* g = dyt.data();
                for (int64_t o = 0; o < OUT; o++) {
                    float s = 0.0f;
                    for (int64_t n = 0; n < B; n++) s += g[o * ldb + n];
                    db[o] += s;
                }
            }
        });
    }
    return y;
}

}  // namespace sparse

// ---- convolution ------------------------------------------------------------------------------------

namespace sparse {

namespace {

nn::kernels::ConvGeometry sparse_conv_geometry(const nn::Tensor& x, const CsrPattern& pattern, const nn::Tensor& values,
                                               const SparseConvShape& s, const char* what) {
    const int64_t KH = s.kernel_size, C = s.in_channels;
    ENSURE(C > 0 && KH > 0, what, ": in_channels ", C, " and kernel_size ", KH, " must be positive");
    ENSURE(pattern.cols == C * KH * KH, what, ": the pattern has ", pattern.cols, " columns but in_channels ", C,
           " x kernel ", KH, "x", KH, " needs ", C * KH * KH);
    ENSURE(values.defined() && values.ndim() == 1 && values.numel() == pattern.nnz(), what, ": values ",
           values.defined() ? nn::to_string(values.shape()) : std::string("undefined"), " do not match the pattern's ",
           pattern.nnz(), " entries");
    ENSURE(x.ndim() == 4 && x.size(1) == C, what, ": input ", x.shape(), " is not [B, ", C, ", H, W]");
    return nn::kernels::conv_geometry(x.size(0), C, x.size(2), x.size(3), pattern.rows, KH, KH, s.stride, s.padding);
}

// Whether a convolution runs directly on the zero-padded image instead of on its im2col matrix: a
// stride-1 layer (not 1x1 unpadded, which needs neither) whose padded image fits int32 offsets.
bool runs_direct(const nn::kernels::ConvGeometry& g) {
    const int64_t Hp = g.H + 2 * g.pad, Wp = g.W + 2 * g.pad;
    return g.stride == 1 && !g.pointwise() && g.C * Hp * Wp + Hp * Wp < (int64_t(1) << 31);
}

// The direct convolution: with the output computed over rows of the padded width Wp (OW valid columns,
// then KW - 1 that are discarded), the im2col row of entry (c, kh, kw) is the padded image itself,
// shifted by c*Hp*Wp + kh*Wp + kw. So the pattern with those offsets as column indices and a row
// stride of 1 multiplies the image without expanding it KH*KW times; with the discarded columns of dy
// set to zero, the same offsets give dx (spmmt scatters into the padded gradient) and dW (sddmm). The
// row length OH*Wp is rounded up to whole 16-float vectors (more discarded columns) so that no column
// runs scalar; the padded buffers carry zeros after the image for those columns to read.
struct DirectConv {
    nn::kernels::ConvGeometry g;
    int64_t Hp, Wp, wide_n, padded;  // padded: floats of a padded-image buffer
    std::vector<int32_t> offsets;

    DirectConv(const CsrPattern& pattern, const nn::kernels::ConvGeometry& geometry)
        : g(geometry), Hp(g.H + 2 * g.pad), Wp(g.W + 2 * g.pad), wide_n((g.OH * Wp + 15) / 16 * 16),
          padded(g.C * Hp * Wp + wide_n - g.OH * Wp + Wp), offsets(size_t(pattern.nnz())) {
        const int64_t taps = g.KH * g.KW;
        for (size_t j = 0; j < offsets.size(); j++) {
            const int64_t k = pattern.compact ? pattern.col16[j] : pattern.col32[j];
            const int64_t c = k / taps, r = k % taps;
            offsets[j] = int32_t(c * Hp * Wp + (r / g.KW) * Wp + r % g.KW);
        }
    }
    kernels::CsrRef ref(const CsrPattern& pattern, const float* values) const {
        kernels::CsrRef r = pattern.ref(values);
        r.col_idx = offsets.data(), r.index = kernels::IndexWidth::i32;
        return r;
    }
    // The interior of a zeroed padded buffer = x [C, H, W] (the borders stay zero).
    void pad(float* dst, const float* x) const {
        for (int64_t c = 0; c < g.C; c++)
            for (int64_t h = 0; h < g.H; h++)
                std::copy_n(x + (c * g.H + h) * g.W, g.W, dst + (c * Hp + h + g.pad) * Wp + g.pad);
    }
    // dx [C, H, W] += the interior of a padded gradient.
    void crop_add(float* dx, const float* src) const {
        for (int64_t c = 0; c < g.C; c++)
            for (int64_t h = 0; h < g.H; h++) {
                const float* s = src + (c * Hp + h + g.pad) * Wp + g.pad;
                float* d = dx + (c * g.H + h) * g.W;
                for (int64_t w = 0; w < g.W; w++) d[w] += s[w];
            }
    }
    // y [OC, OH, OW] = the valid columns of wide [OC, wide_n].
    void crop(float* y, const float* wide) const {
        for (int64_t o = 0; o < g.OC; o++)
            for (int64_t h = 0; h < g.OH; h++) std::copy_n(wide + o * wide_n + h * Wp, g.OW, y + (o * g.OH + h) * g.OW);
    }
    // wide [OC, wide_n] = y [OC, OH, OW] in its valid columns, zero in the discarded ones.
    void widen(float* wide, const float* y) const {
        for (int64_t o = 0; o < g.OC; o++) {
            float* w = wide + o * wide_n;
            std::fill(w, w + wide_n, 0.0f);
            for (int64_t h = 0; h < g.OH; h++) std::copy_n(y + (o * g.OH + h) * g.OW, g.OW, w + h * Wp);
        }
    }
};

// y [B, OC, N] = W col(x_b) + bias per image, W = pattern with `values`.
void sparse_conv_forward(float* y, const float* x, const CsrPattern& pattern, const float* values, const float* bias,
                         const nn::kernels::ConvGeometry& g) {
    const int64_t K = g.K(), N = g.N(), per_x = g.C * g.H * g.W, per_y = g.OC * N;
    const std::optional<DirectConv> direct = runs_direct(g) ? std::optional<DirectConv>(std::in_place, pattern, g)
                                                            : std::nullopt;
    auto images = [&](int64_t b0, int64_t b1) {
        // im2col: col [K, N]. Direct: the padded image and the output over padded rows [OC, wide_n].
        nn::Tensor col = g.pointwise() ? nn::Tensor()
                         : direct      ? nn::Tensor::zeros({direct->padded})
                                       : nn::Tensor::empty({K, N});
        nn::Tensor wide = direct ? nn::Tensor::empty({g.OC, direct->wide_n}) : nn::Tensor();
        kernels::Operands p;
        p.w = direct ? direct->ref(pattern, values) : pattern.ref(values);
        p.N = N, p.lda = N, p.ldo = N, p.bias = bias;
        if (direct) p.N = direct->wide_n, p.lda = 1, p.ldo = direct->wide_n;
        for (int64_t b = b0; b < b1; b++) {
            const float* xb = x + b * per_x;
            float* yb = y + b * per_y;
            if (direct) {
                direct->pad(col.data(), xb);
                p.a = col.data(), p.out = wide.data();
                kernels::run(kernels::Op::spmm, p);
                direct->crop(yb, wide.data());
                continue;
            }
            if (!g.pointwise()) {
                nn::kernels::im2col(col.data(), xb, g);
                xb = col.data();
            }
            p.a = xb, p.out = yb;
            kernels::run(N == 1 ? kernels::Op::spmv : kernels::Op::spmm, p);
        }
    };
    if (nn::num_threads() > 1 && g.B >= nn::num_threads()) nn::parallel_for(g.B, 1, images);
    else images(0, g.B);
}

// The backward of conv2d for images [b0, b1): dx of those images, and dW and db added into dv and
// db (the caller's buffers: the gradients themselves or one thread's partial sums). Null outputs are
// skipped.
void sparse_conv_backward_images(const float* x, const float* v, const float* dy, const CsrPattern& pattern,
                                 const nn::kernels::ConvGeometry& g, const DirectConv* direct, int64_t b0, int64_t b1,
                                 float* dx, float* dv, float* db) {
    const int64_t K = g.K(), N = g.N(), per_x = g.C * g.H * g.W, per_y = g.OC * N;
    // Scratch. im2col: col and dcol [K, N]. Direct: the padded image, its gradient and dy over padded
    // rows [OC, wide_n] (zero in the discarded columns, so they add nothing).
    const bool need_col = !g.pointwise() && dv;
    const int64_t col_floats = direct ? direct->padded : K * N;
    nn::Tensor col = need_col ? (direct ? nn::Tensor::zeros({col_floats}) : nn::Tensor::empty({col_floats})) : nn::Tensor();
    nn::Tensor dcol = !g.pointwise() && dx ? nn::Tensor::empty({col_floats}) : nn::Tensor();
    nn::Tensor dyw = direct ? nn::Tensor::empty({g.OC, direct->wide_n}) : nn::Tensor();
    kernels::Operands q;
    q.w = direct ? direct->ref(pattern, v) : pattern.ref(v);
    q.N = N, q.lda = N, q.ldb = N, q.ldo = N;
    if (direct) q.N = direct->wide_n, q.lda = direct->wide_n, q.ldb = 1, q.ldo = 1;
    for (int64_t i = b0; i < b1; i++) {
        const float* dyb = dy + i * per_y;
        q.a = dyb;
        if (direct) {
            direct->widen(dyw.data(), dyb);
            q.a = dyw.data();
        }
        if (dx) {  // dx_b += col2im(W^T dy_b), or the interior of the padded gradient
            float* dxb = dx + i * per_x;
            if (g.pointwise()) {
                q.out = dxb;
                kernels::run(kernels::Op::spmmt, q);
            } else {
                dcol.zero_();
                q.out = dcol.data();
                kernels::run(kernels::Op::spmmt, q);
                if (direct) direct->crop_add(dxb, dcol.data());
                else nn::kernels::col2im_add(dxb, dcol.data(), g);
            }
        }
        if (dv) {  // dW += dy_b col_b^T at the pattern
            const float* xb = x + i * per_x;
            if (direct) direct->pad(col.data(), xb);
            else if (need_col) nn::kernels::im2col(col.data(), xb, g);
            q.b = need_col ? col.data() : xb, q.out = dv;
            kernels::run(kernels::Op::sddmm, q);
        }
        if (db)
            for (int64_t o = 0; o < g.OC; o++) {
                float s = 0.0f;
                for (int64_t n = 0; n < N; n++) s += dyb[o * N + n];
                db[o] += s;
            }
    }
}

// With at least as many images as threads, each thread takes a range of images and sums dW and db
// into its own buffers, added in thread order (results depend on the thread count, not on timing);
// otherwise images run one after another and each product is split across the threads.
void sparse_conv_backward(const nn::Tensor& x, const nn::Tensor& v, const nn::Tensor& b, const nn::Tensor& dy,
                          const CsrPattern& pattern, const nn::kernels::ConvGeometry& g) {
    const std::optional<DirectConv> direct =
        runs_direct(g) ? std::optional<DirectConv>(std::in_place, pattern, g) : std::nullopt;
    const DirectConv* d = direct ? &*direct : nullptr;
    // Gradient buffers are created here, before any thread writes into them.
    float* dx = x.requires_grad() ? x.grad_data() : nullptr;
    float* dv_out = v.requires_grad() ? v.grad_data() : nullptr;
    float* db_out = b.defined() && b.requires_grad() ? b.grad_data() : nullptr;
    const bool want_dv = dv_out != nullptr, want_db = db_out != nullptr;
    const int T = nn::num_threads();
    if (T == 1 || g.B < T || nn::inside_parallel_region()) {
        sparse_conv_backward_images(x.data(), v.data(), dy.data(), pattern, g, d, 0, g.B, dx, dv_out, db_out);
        return;
    }
    const int64_t nnz = pattern.nnz();
    std::vector<std::vector<float>> dv(static_cast<size_t>(T)), db(static_cast<size_t>(T));
    nn::parallel_run([&](int t) {
        int64_t b0, b1;
        nn::chunk_range(g.B, T, t, b0, b1);
        if (want_dv) dv[size_t(t)].assign(size_t(nnz), 0.0f);
        if (want_db) db[size_t(t)].assign(size_t(g.OC), 0.0f);
        sparse_conv_backward_images(x.data(), v.data(), dy.data(), pattern, g, d, b0, b1, dx,
                                    want_dv ? dv[size_t(t)].data() : nullptr, want_db ? db[size_t(t)].data() : nullptr);
    });
    for (int t = 0; t < T; t++) {
        if (want_dv)
            for (int64_t j = 0; j < nnz; j++) dv_out[j] += dv[size_t(t)][size_t(j)];
        if (want_db)
            for (int64_t o = 0; o < g.OC; o++) db_out[o] += db[size_t(t)][size_t(o)];
    }
}

}  // namespace

nn::Tensor conv2d(const nn::Tensor& x_in, const std::shared_ptr<const CsrPattern>& pattern, const nn::Tensor& values,
                  const nn::Tensor& bias, const SparseConvShape& shape) {
    ENSURE(pattern != nullptr, "sparse::conv2d: no pattern");
    nn::Tensor x = x_in.contiguous(), v = values.contiguous();
    const nn::kernels::ConvGeometry g = sparse_conv_geometry(x, *pattern, v, shape, "sparse::conv2d");
    ENSURE(!bias.defined() || (bias.ndim() == 1 && bias.size(0) == g.OC), "sparse::conv2d: bias ", bias.shape(),
           " does not match ", g.OC, " output channels");
    nn::Tensor b = bias.defined() ? bias.contiguous() : nn::Tensor();
    nn::Tensor y = nn::Tensor::empty({g.B, g.OC, g.OH, g.OW});
    sparse_conv_forward(y.data(), x.data(), *pattern, v.data(), b.defined() ? b.data() : nullptr, g);
    if (nn::any_requires_grad({&x, &v, &b})) {
        nn::attach_grad_fn(y, "sparse_conv2d", {x, v, b}, [x, v, b, pattern, g](const nn::Tensor& dy_in) {
            sparse_conv_backward(x, v, b, dy_in.contiguous(), *pattern, g);
        });
    }
    return y;
}

nn::Tensor conv2d_affine(const nn::Tensor& x_in, const std::shared_ptr<const CsrPattern>& pattern,
                         const nn::Tensor& values, const nn::Tensor& scale, const nn::Tensor& shift,
                         const SparseConvShape& shape, bool relu) {
    ENSURE(pattern != nullptr, "sparse::conv2d_affine: no pattern");
    nn::Tensor x = x_in.contiguous(), v = values.contiguous();
    const nn::kernels::ConvGeometry g = sparse_conv_geometry(x, *pattern, v, shape, "sparse::conv2d_affine");
    ENSURE(!scale.defined() || (scale.ndim() == 1 && scale.size(0) == g.OC), "sparse::conv2d_affine: scale ",
           scale.shape(), " does not match ", g.OC, " output channels");
    ENSURE(!shift.defined() || (shift.ndim() == 1 && shift.size(0) == g.OC), "sparse::conv2d_affine: shift ",
           shift.shape(), " does not match ", g.OC, " output channels");
    ENSURE(!nn::any_requires_grad({&x, &v, &scale, &shift}),
           "sparse::conv2d_affine is for inference: run it under NoGradGuard (train with sparse::conv2d)");
    nn::Tensor sh = shift.defined() ? shift.contiguous() : nn::Tensor();
    if (scale.defined()) {  // values of row o times scale[o]
        nn::Tensor sc = scale.contiguous(), scaled = nn::Tensor::empty({pattern->nnz()});
        const float* s = sc.data();
        const float* src = v.data();
        float* dst = scaled.data();
        for (int64_t o = 0; o < pattern->rows; o++)
            for (int32_t j = pattern->row_ptr[size_t(o)]; j < pattern->row_ptr[size_t(o) + 1]; j++) dst[j] = src[j] * s[o];
        v = scaled;
    }
    nn::Tensor y = nn::Tensor::empty({g.B, g.OC, g.OH, g.OW});
    sparse_conv_forward(y.data(), x.data(), *pattern, v.data(), sh.defined() ? sh.data() : nullptr, g);
    if (relu) {
        float* p = y.data();
        const int64_t n = y.numel();
        nn::parallel_for(n, 1 << 16, [p](int64_t i0, int64_t i1) {
            for (int64_t i = i0; i < i1; i++) p[i] = p[i] > 0.0f ? p[i] : 0.0f;
        });
    }
    return y;
}

}  // namespace sparse
