#include "sparse/ops.hpp"

#include <algorithm>
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
                  const nn::Tensor& bias, const kernels::LockstepPlan* lockstep) {
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
        p.lockstep = lockstep;
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

// How the products of one layer read the image. A 1x1 stride-1 unpadded convolution multiplies the
// image itself ([C, H*W] is its im2col matrix). Any other runs directly on nn's phase planes
// (nn::kernels::Phases: the zero-padded image itself at stride 1), in which row k = (c, kh, kw) of the
// im2col matrix is the planes read from offset tap(c, kh, kw) over virtual columns v = oh Wq + ow,
// those with ow >= OW dropped. So the pattern with each entry's tap offset as its column index and a
// row stride of 1 multiplies the planes without an im2col matrix; with dy widened by zeros into the
// dropped columns, the same offsets give dx (spmmt scatters into the planes' gradient) and dW (sddmm).
// The row length OH*Wq is rounded up to whole 16-float vectors (more dropped columns) so that no
// column runs scalar.
struct ConvLayout {
    nn::kernels::ConvGeometry g;
    bool direct;
    nn::kernels::Phases ph;
    int64_t wide_n, slack, padded;  // direct: row length, floats after the planes, floats of a planes buffer
    std::vector<int32_t> offsets;   // direct: each entry's tap offset

    ConvLayout(const CsrPattern& pattern, const nn::kernels::ConvGeometry& geometry)
        : g(geometry), direct(!g.pointwise()), ph(g), wide_n(direct ? (g.OH * ph.Wq + 15) / 16 * 16 : g.N()),
          slack(wide_n - g.OH * ph.Wq + ph.Wq + g.KW), padded(ph.planes(g) + slack) {
        if (!direct) return;
        ENSURE(ph.planes(g) < (int64_t(1) << 31), "sparse::conv2d: the padded input ", g.C, "x", g.H + 2 * g.pad, "x",
               g.W + 2 * g.pad, " is too large for 32-bit offsets");
        std::vector<int32_t> taps(size_t(g.K()));
        nn::kernels::phase_offsets(taps.data(), g, ph);
        offsets.resize(size_t(pattern.nnz()));
        for (size_t j = 0; j < offsets.size(); j++)
            offsets[j] = taps[pattern.compact ? size_t(pattern.col16[j]) : size_t(pattern.col32[j])];
    }
    // The operands of this layer's products over wide_n columns: W (with tap offsets when direct);
    // the operand indexed by W's columns (the image or planes: spmm's X, sddmm's X, spmmt's output)
    // has row stride 1 when direct, the one indexed by W's rows (y, dy) row stride wide_n.
    kernels::Operands operands(const CsrPattern& pattern, const float* values, kernels::Op op) const {
        kernels::Operands p;
        p.w = pattern.ref(values);
        if (direct) p.w.col_idx = offsets.data(), p.w.index = kernels::IndexWidth::i32;
        const int64_t image_stride = direct ? 1 : wide_n;
        p.N = wide_n;
        p.lda = op == kernels::Op::spmm ? image_stride : wide_n;
        p.ldb = image_stride;
        p.ldo = op == kernels::Op::spmmt ? image_stride : wide_n;
        return p;
    }
    void pad(float* dst, const float* x) const { nn::kernels::pad_phases(dst, x, g.C, g.H, g.W, g.pad, ph, slack); }
    void crop_add(float* dx, const float* src) const { nn::kernels::unphase_add(dx, src, g.C, g.H, g.W, g.pad, ph); }
    // y [OC, OH, OW] = the valid columns of wide [OC, wide_n].
    void crop(float* y, const float* wide) const {
        for (int64_t o = 0; o < g.OC; o++)
            for (int64_t h = 0; h < g.OH; h++)
                std::copy_n(wide + o * wide_n + h * ph.Wq, g.OW, y + (o * g.OH + h) * g.OW);
    }
    // wide [OC, wide_n] = y [OC, OH, OW] in its valid columns, zero in the dropped ones.
    void widen(float* wide, const float* y) const {
        for (int64_t o = 0; o < g.OC; o++) {
            float* w = wide + o * wide_n;
            std::fill(w, w + wide_n, 0.0f);
            for (int64_t h = 0; h < g.OH; h++) std::copy_n(y + (o * g.OH + h) * g.OW, g.OW, w + h * ph.Wq);
        }
    }
};

// y [B, OC, OH, OW] = W col(x_b) + bias per image, W = pattern with `values`.
void sparse_conv_forward(float* y, const float* x, const CsrPattern& pattern, const float* values, const float* bias,
                         const nn::kernels::ConvGeometry& g) {
    const ConvLayout layout(pattern, g);
    const int64_t per_x = g.C * g.H * g.W, per_y = g.OC * g.N();
    auto images = [&](int64_t b0, int64_t b1) {
        // Direct: the planes and the output over rows of the plane width [OC, wide_n].
        nn::Tensor planes = layout.direct ? nn::Tensor::empty({layout.padded}) : nn::Tensor();
        nn::Tensor wide = layout.direct ? nn::Tensor::empty({g.OC, layout.wide_n}) : nn::Tensor();
        kernels::Operands p = layout.operands(pattern, values, kernels::Op::spmm);
        p.bias = bias;
        for (int64_t b = b0; b < b1; b++) {
            const float* xb = x + b * per_x;
            float* yb = y + b * per_y;
            if (layout.direct) {
                layout.pad(planes.data(), xb);
                p.a = planes.data(), p.out = wide.data();
                kernels::run(kernels::Op::spmm, p);
                layout.crop(yb, wide.data());
            } else {
                p.a = xb, p.out = yb;
                kernels::run(p.N == 1 ? kernels::Op::spmv : kernels::Op::spmm, p);
            }
        }
    };
    if (nn::num_threads() > 1 && g.B >= nn::num_threads()) nn::parallel_for(g.B, 1, images);
    else images(0, g.B);
}

// The backward of conv2d for images [b0, b1): dx of those images, and dW and db added into dv and
// db (the caller's buffers: the gradients themselves or one thread's partial sums). Null outputs are
// skipped.
void sparse_conv_backward_images(const float* x, const float* v, const float* dy, const CsrPattern& pattern,
                                 const ConvLayout& layout, int64_t b0, int64_t b1, float* dx, float* dv, float* db) {
    const nn::kernels::ConvGeometry& g = layout.g;
    const int64_t N = g.N(), per_x = g.C * g.H * g.W, per_y = g.OC * N;
    // Direct: the planes (for dW), their gradient (for dx) and dy widened to [OC, wide_n].
    nn::Tensor planes = layout.direct && dv ? nn::Tensor::empty({layout.padded}) : nn::Tensor();
    nn::Tensor dplanes = layout.direct && dx ? nn::Tensor::empty({layout.padded}) : nn::Tensor();
    nn::Tensor dyw = layout.direct ? nn::Tensor::empty({g.OC, layout.wide_n}) : nn::Tensor();
    kernels::Operands qt = layout.operands(pattern, v, kernels::Op::spmmt);
    kernels::Operands qs = layout.operands(pattern, v, kernels::Op::sddmm);
    for (int64_t i = b0; i < b1; i++) {
        const float* dyb = dy + i * per_y;
        if (layout.direct) layout.widen(dyw.data(), dyb);
        qt.a = qs.a = layout.direct ? dyw.data() : dyb;
        if (dx) {  // dx_b += W^T dy_b, scattered into the planes' gradient when direct
            float* dxb = dx + i * per_x;
            if (layout.direct) {
                dplanes.zero_();
                qt.out = dplanes.data();
                kernels::run(kernels::Op::spmmt, qt);
                layout.crop_add(dxb, dplanes.data());
            } else {
                qt.out = dxb;
                kernels::run(kernels::Op::spmmt, qt);
            }
        }
        if (dv) {  // dW += dy_b col_b^T at the pattern
            const float* xb = x + i * per_x;
            if (layout.direct) layout.pad(planes.data(), xb);
            qs.b = layout.direct ? planes.data() : xb, qs.out = dv;
            kernels::run(kernels::Op::sddmm, qs);
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
    const ConvLayout layout(pattern, g);
    // Gradient buffers are created here, before any thread writes into them.
    float* dx = x.requires_grad() ? x.grad_data() : nullptr;
    float* dv_out = v.requires_grad() ? v.grad_data() : nullptr;
    float* db_out = b.defined() && b.requires_grad() ? b.grad_data() : nullptr;
    const bool want_dv = dv_out != nullptr, want_db = db_out != nullptr;
    const int T = nn::num_threads();
    if (T == 1 || g.B < T || nn::inside_parallel_region()) {
        sparse_conv_backward_images(x.data(), v.data(), dy.data(), pattern, layout, 0, g.B, dx, dv_out, db_out);
        return;
    }
    const int64_t nnz = pattern.nnz();
    std::vector<std::vector<float>> dv(static_cast<size_t>(T)), db(static_cast<size_t>(T));
    nn::parallel_run([&](int t) {
        int64_t b0, b1;
        nn::chunk_range(g.B, T, t, b0, b1);
        if (want_dv) dv[size_t(t)].assign(size_t(nnz), 0.0f);
        if (want_db) db[size_t(t)].assign(size_t(g.OC), 0.0f);
        sparse_conv_backward_images(x.data(), v.data(), dy.data(), pattern, layout, b0, b1, dx,
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
