// Batch normalisation over NCHW tensors (Ioffe & Szegedy 2015, as torch.nn.BatchNorm2d): statistics,
// the normalising forward (optionally fused with the ReLU that usually follows) and its backward, side
// by side, then the differentiable op that also updates the running statistics. Channels are
// independent, so the kernels split channels across the thread pool; one channel's data (B planes)
// stays in L2 between the passes over it.
#include <cmath>
#include <xsimd/xsimd.hpp>

#include "nn/check.hpp"
#include "nn/kernels.hpp"
#include "nn/ops.hpp"
#include "nn/threads.hpp"

namespace nn {

namespace kernels {

namespace {

using batch = xsimd::batch<float>;
constexpr int64_t kLanes = int64_t(batch::size);

int64_t channel_grain(int64_t B, int64_t HW) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, B * HW)); }

// sum of (p[i] - m)^2 over one plane.
float plane_sq_dev(const float* p, int64_t n, float m) {
    batch acc(0.0f), vm(m);
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        batch d = batch::load_unaligned(p + i) - vm;
        acc = xsimd::fma(d, d, acc);
    }
    float tail = 0.0f;
    for (; i < n; i++) tail += (p[i] - m) * (p[i] - m);
    return xsimd::hadd(acc) + tail;
}

// sum of g and of g (p - m) over one plane, g = d masked by yr > 0 when yr is given.
void plane_grad_sums(const float* d, const float* p, const float* yr, int64_t n, float m, float& sg, float& sgx) {
    batch ag(0.0f), agx(0.0f), vm(m), zero(0.0f);
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        batch g = batch::load_unaligned(d + i);
        if (yr) g = xsimd::select(batch::load_unaligned(yr + i) > zero, g, zero);
        ag += g;
        agx = xsimd::fma(g, batch::load_unaligned(p + i) - vm, agx);
    }
    float tg = 0.0f, tgx = 0.0f;
    for (; i < n; i++) {
        float g = (!yr || yr[i] > 0.0f) ? d[i] : 0.0f;
        tg += g;
        tgx += g * (p[i] - m);
    }
    sg = xsimd::hadd(ag) + tg;
    sgx = xsimd::hadd(agx) + tgx;
}

}  // namespace

void batch_norm_stats(float* mean, float* var, const float* x, int64_t B, int64_t C, int64_t HW) {
    // NOTE: two passes (mean, then the mean of squared deviations), each plane summed in float lanes
    // and the plane sums in double: no cancellation from E[x^2] - E[x]^2, and the order is fixed. The
    // B planes of one channel stay in L2 for the second pass.
    const double inv_n = 1.0 / double(B * HW);
    parallel_for(C, channel_grain(B, HW), [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; c++) {
            double s = 0.0;
            for (int64_t b = 0; b < B; b++) s += vector_sum(x + (b * C + c) * HW, HW);
            const float m = float(s * inv_n);
            double q = 0.0;
            for (int64_t b = 0; b < B; b++) q += plane_sq_dev(x + (b * C + c) * HW, HW, m);
            mean[c] = m;
            var[c] = float(q * inv_n);
        }
    });
}

void batch_norm_forward(float* y, const float* x, const float* mean, const float* invstd, const float* gamma,
                        const float* beta, int64_t B, int64_t C, int64_t HW, bool relu) {
    parallel_for(C, channel_grain(B, HW), [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; c++) {
            const float scale = invstd[c] * gamma[c], shift = beta[c] - mean[c] * scale;
            for (int64_t b = 0; b < B; b++) {
                const float* __restrict p = x + (b * C + c) * HW;
                float* __restrict q = y + (b * C + c) * HW;
                if (relu)
                    for (int64_t i = 0; i < HW; i++) {
                        float v = p[i] * scale + shift;
                        q[i] = v > 0.0f ? v : 0.0f;
                    }
                else
                    for (int64_t i = 0; i < HW; i++) q[i] = p[i] * scale + shift;
            }
        }
    });
}

void batch_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* y_relu, const float* x,
                         const float* mean, const float* invstd, const float* gamma, int64_t B, int64_t C, int64_t HW,
                         bool training) {
    const double inv_n = 1.0 / double(B * HW);
    parallel_for(C, channel_grain(B, HW), [&](int64_t c0, int64_t c1) {
        for (int64_t c = c0; c < c1; c++) {
            const float m = mean[c], is = invstd[c];
            // g = dy masked by the fused ReLU (y > 0); sums of g and g * xhat over the channel.
            double sum_g = 0.0, sum_gx = 0.0;
            for (int64_t b = 0; b < B; b++) {
                const int64_t off = (b * C + c) * HW;
                float sg, sgx;
                plane_grad_sums(dy + off, x + off, y_relu ? y_relu + off : nullptr, HW, m, sg, sgx);
                sum_g += sg;
                sum_gx += sgx;
            }
            sum_gx *= is;  // sum of g * xhat
            if (dgamma) dgamma[c] += float(sum_gx);
            if (dbeta) dbeta[c] += float(sum_g);
            if (!dx) continue;
            const float k = gamma[c] * is;
            // training: dx = k (g - mean(g) - xhat mean(g xhat)) = k g + cx (x - m) + c0
            const float mean_g = training ? float(sum_g * inv_n) : 0.0f;
            const float mean_gx = training ? float(sum_gx * inv_n) : 0.0f;
            const float cx = -k * mean_gx * is, c0v = -k * mean_g;
            for (int64_t b = 0; b < B; b++) {
                const int64_t off = (b * C + c) * HW;
                const float* __restrict d = dy + off;
                const float* __restrict p = x + off;
                float* __restrict o = dx + off;
                if (y_relu) {
                    const float* __restrict yr = y_relu + off;
                    for (int64_t i = 0; i < HW; i++) {
                        float gi = yr[i] > 0.0f ? d[i] : 0.0f;
                        o[i] += k * gi + cx * (p[i] - m) + c0v;
                    }
                } else {
                    for (int64_t i = 0; i < HW; i++) o[i] += k * d[i] + cx * (p[i] - m) + c0v;
                }
            }
        }
    });
}

}  // namespace kernels

Tensor batch_norm2d(const Tensor& x_in, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                    const Tensor& running_var, const Tensor& num_batches_tracked, bool training, float momentum,
                    float eps, bool relu) {
    ENSURE(x_in.ndim() == 4, "batch_norm2d: input must be [B, C, H, W], got ", x_in.shape());
    const int64_t B = x_in.size(0), C = x_in.size(1), HW = x_in.size(2) * x_in.size(3);
    for (const Tensor* t : {&weight, &bias, &running_mean, &running_var})
        ENSURE(t->defined() && t->ndim() == 1 && t->size(0) == C && t->is_contiguous(), "batch_norm2d: input ",
               x_in.shape(), " has ", C, " channels but a parameter or statistic has shape ",
               t->defined() ? to_string(t->shape()) : "undefined");
    ENSURE(eps > 0.0f && momentum >= 0.0f && momentum <= 1.0f, "batch_norm2d: eps must be positive and momentum in "
           "[0, 1], got eps ", eps, ", momentum ", momentum);
    Tensor x = x_in.contiguous();
    Tensor mean = Tensor::empty({C}), invstd = Tensor::empty({C});
    if (training) {
        ENSURE(B * HW > 1, "batch_norm2d: training needs more than one value per channel, got input ", x.shape());
        Tensor var = Tensor::empty({C});
        kernels::batch_norm_stats(mean.data(), var.data(), x.data(), B, C, HW);
        // PyTorch's running statistics: r = (1 - momentum) r + momentum s, with the unbiased variance.
        const float unbias = float(double(B * HW) / double(B * HW - 1));
        float *rm = running_mean.data(), *rv = running_var.data();
        for (int64_t c = 0; c < C; c++) {
            rm[c] = (1.0f - momentum) * rm[c] + momentum * mean.data()[c];
            rv[c] = (1.0f - momentum) * rv[c] + momentum * var.data()[c] * unbias;
            invstd.data()[c] = 1.0f / std::sqrt(var.data()[c] + eps);
        }
        if (num_batches_tracked.defined()) num_batches_tracked.data()[0] += 1.0f;
    } else {
        mean.copy_(running_mean);
        for (int64_t c = 0; c < C; c++) invstd.data()[c] = 1.0f / std::sqrt(running_var.data()[c] + eps);
    }
    Tensor w = weight.contiguous(), b = bias.contiguous();
    Tensor y = Tensor::empty(x.shape());
    kernels::batch_norm_forward(y.data(), x.data(), mean.data(), invstd.data(), w.data(), b.data(), B, C, HW, relu);
    if (any_requires_grad({&x, &w, &b})) {
        Tensor y_saved = relu ? y.detach() : Tensor();
        attach_grad_fn(y, relu ? "batch_norm2d_relu" : "batch_norm2d", {x, w, b},
                       [x, w, b, mean, invstd, y_saved, B, C, HW, training](const Tensor& dy) {
                           kernels::batch_norm_backward(x.requires_grad() ? x.grad_data() : nullptr,
                                                        w.requires_grad() ? w.grad_data() : nullptr,
                                                        b.requires_grad() ? b.grad_data() : nullptr, dy.data(),
                                                        y_saved.defined() ? y_saved.data() : nullptr, x.data(),
                                                        mean.data(), invstd.data(), w.data(), B, C, HW, training);
                       });
    }
    return y;
}

}  // namespace nn
