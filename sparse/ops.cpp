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
    return g.stride == 1 && !g.pointwise() && g.C * Hp * Wp + Wp < (int64_t(1) << 31);
}

// The direct convolution: with the output computed over rows of the padded width Wp (OW valid columns,
// then KW - 1 that are discarded), the im2col row of entry (c, kh, kw) is the padded image itself,
// shifted by c*Hp*Wp + kh*Wp + kw. So the pattern with those offsets as column indices and a row
// stride of 1 multiplies the image without expanding it KH*KW times. The output row length OH*Wp is
// rounded up to whole 16-float vectors (more discarded columns) so that no column runs scalar.
std::vector<int32_t> direct_offsets(const CsrPattern& pattern, const nn::kernels::ConvGeometry& g) {
    const int64_t Hp = g.H + 2 * g.pad, Wp = g.W + 2 * g.pad, taps = g.KH * g.KW;
    std::vector<int32_t> off(size_t(pattern.nnz()));
    for (size_t j = 0; j < off.size(); j++) {
        const int64_t k = pattern.compact ? pattern.col16[j] : pattern.col32[j];
        const int64_t c = k / taps, r = k % taps;
        off[j] = int32_t(c * Hp * Wp + (r / g.KW) * Wp + r % g.KW);
    }
    return off;
}

// y [B, OC, N] = W col(x_b) + bias per image, W = pattern with `values`.
void sparse_conv_forward(float* y, const float* x, const CsrPattern& pattern, const float* values, const float* bias,
                         const nn::kernels::ConvGeometry& g) {
    const int64_t K = g.K(), N = g.N(), per_x = g.C * g.H * g.W, per_y = g.OC * N;
    const bool direct = runs_direct(g);
    const int64_t Hp = g.H + 2 * g.pad, Wp = g.W + 2 * g.pad, wide_n = (g.OH * Wp + 15) / 16 * 16;
    const std::vector<int32_t> offsets = direct ? direct_offsets(pattern, g) : std::vector<int32_t>();
    auto images = [&](int64_t b0, int64_t b1) {
        // im2col: col [K, N]. Direct: the padded image [C, Hp, Wp] and zeros after it for the last
        // discarded columns to read, and the output over padded rows [OC, wide_n].
        nn::Tensor col = g.pointwise() ? nn::Tensor()
                         : direct      ? nn::Tensor::zeros({g.C * Hp * Wp + wide_n - g.OH * Wp + Wp})
                                       : nn::Tensor::empty({K, N});
        nn::Tensor wide = direct ? nn::Tensor::empty({g.OC, wide_n}) : nn::Tensor();
        kernels::Operands p;
        p.w = pattern.ref(values);
        p.N = N, p.lda = N, p.ldo = N, p.bias = bias;
        if (direct) {
            p.w.col_idx = offsets.data(), p.w.index = kernels::IndexWidth::i32;
            p.N = wide_n, p.lda = 1, p.ldo = wide_n;
        }
        for (int64_t b = b0; b < b1; b++) {
            const float* xb = x + b * per_x;
            float* yb = y + b * per_y;
            if (direct) {
                for (int64_t c = 0; c < g.C; c++)
                    for (int64_t h = 0; h < g.H; h++)
                        std::copy_n(xb + (c * g.H + h) * g.W, g.W, col.data() + (c * Hp + h + g.pad) * Wp + g.pad);
                p.a = col.data(), p.out = wide.data();
                kernels::run(kernels::Op::spmm, p);
                for (int64_t o = 0; o < g.OC; o++)
                    for (int64_t h = 0; h < g.OH; h++)
                        std::copy_n(wide.data() + o * wide_n + h * Wp, g.OW, yb + (o * g.OH + h) * g.OW);
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
            nn::Tensor dy = dy_in.contiguous();
            const int64_t K = g.K(), N = g.N(), per_x = g.C * g.H * g.W, per_y = g.OC * N;
            const bool need_col = !g.pointwise();
            nn::Tensor col = need_col ? nn::Tensor::empty({K, N}) : nn::Tensor();
            nn::Tensor dcol = x.requires_grad() ? nn::Tensor::empty({K, N}) : nn::Tensor();
            kernels::Operands q;
            q.w = pattern->ref(v.data());
            q.N = N, q.lda = N, q.ldb = N, q.ldo = N;
            for (int64_t i = 0; i < g.B; i++) {
                const float* dyb = dy.data() + i * per_y;
                q.a = dyb;
                if (x.requires_grad()) {  // dx_b += col2im(W^T dy_b)
                    float* dxb = x.grad_data() + i * per_x;
                    if (need_col) {
                        dcol.zero_();
                        q.out = dcol.data();
                        kernels::run(kernels::Op::spmmt, q);
                        nn::kernels::col2im_add(dxb, dcol.data(), g);
                    } else {
                        q.out = dxb;
                        kernels::run(kernels::Op::spmmt, q);
                    }
                }
                if (v.requires_grad()) {  // dW += dy_b col_b^T at the pattern
                    const float* xb = x.data() + i * per_x;
                    if (need_col) {
                        nn::kernels::im2col(col.data(), xb, g);
                        xb = col.data();
                    }
                    q.b = xb, q.out = v.grad_data();
                    kernels::run(kernels::Op::sddmm, q);
                }
                if (b.defined() && b.requires_grad()) {
                    float* db = b.grad_data();
                    for (int64_t o = 0; o < g.OC; o++) {
                        float s = 0.0f;
                        for (int64_t n = 0; n < N; n++) s += dyb[o * N + n];
                        db[o] += s;
                    }
                }
            }
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
