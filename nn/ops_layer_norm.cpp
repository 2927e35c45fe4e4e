// Layer normalisation over the last dimension (Ba, Kiros & Hinton 2016), as torch.nn.LayerNorm:
// y = (x - mean) / sqrt(var + eps) * gamma + beta with the biased variance. One pass over each row
// saves mean and rstd; backward reuses them instead of recomputing the statistics.
#include <cmath>
#include <vector>

#include "nn/check.hpp"
#include "nn/kernels.hpp"
#include "nn/ops.hpp"
#include "nn/threads.hpp"

namespace nn {

namespace kernels {

void layer_norm_forward(float* y, float* mean, float* rstd, const float* x, const float* gamma, const float* beta,
                        int64_t R, int64_t C, float eps) {
    parallel_for(R, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, C)), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; r++) {
            const float* xr = x + r * C;
            float* yr = y + r * C;
            // NOTE: two passes over a row that sits in L1: the shifted variance avoids the
            // cancellation of E[x^2] - E[x]^2 when |mean| >> std.
            float s = 0.0f;
            for (int64_t c = 0; c < C; c++) s += xr[c];
            float m = s / float(C);
            float v = 0.0f;
            for (int64_t c = 0; c < C; c++) v += (xr[c] - m) * (xr[c] - m);
            float rs = 1.0f / std::sqrt(v / float(C) + eps);
            mean[r] = m;
            rstd[r] = rs;
            for (int64_t c = 0; c < C; c++) yr[c] = (xr[c] - m) * rs * gamma[c] + beta[c];
        }
    });
}

void layer_norm_backward(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                         const float* rstd, const float* gamma, int64_t R, int64_t C) {
    // dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = dy * gamma;
    // dgamma = sum_r dy * xhat, dbeta = sum_r dy. The parameter sums are taken per thread chunk
    // and added in chunk order, so they depend on the thread count only through the chunking.
    int n_chunks = int(std::min<int64_t>(num_threads(), std::max<int64_t>(1, R / 16)));
    std::vector<float> partial(dgamma || dbeta ? size_t(2 * n_chunks * C) : 0, 0.0f);
    parallel_run([&](int t) {
        if (t >= n_chunks) return;
        int64_t r0, r1;
        chunk_range(R, n_chunks, t, r0, r1);
        float* pg = partial.empty() ? nullptr : partial.data() + 2 * t * C;
        float* pb = pg ? pg + C : nullptr;
        for (int64_t r = r0; r < r1; r++) {
            const float *xr = x + r * C, *dyr = dy + r * C;
            const float m = mean[r], rs = rstd[r];
            float sum_g = 0.0f, sum_gx = 0.0f;
            for (int64_t c = 0; c < C; c++) {
                float xhat = (xr[c] - m) * rs, g = dyr[c] * gamma[c];
                sum_g += g;
                sum_gx += g * xhat;
                if (pg) {
                    pg[c] += dyr[c] * xhat;
                    pb[c] += dyr[c];
                }
            }
            if (!dx) continue;
            float mg = sum_g / float(C), mgx = sum_gx / float(C);
            float* dxr = dx + r * C;
            for (int64_t c = 0; c < C; c++) {
                float xhat = (xr[c] - m) * rs;
                dxr[c] += rs * (dyr[c] * gamma[c] - mg - xhat * mgx);
            }
        }
    });
    for (int t = 0; t < n_chunks && !partial.empty(); t++) {
        const float* pg = partial.data() + 2 * t * C;
        for (int64_t c = 0; c < C; c++) {
            if (dgamma) dgamma[c] += pg[c];
            if (dbeta) dbeta[c] += pg[C + c];
        }
    }
}

}  // namespace kernels

Tensor layer_norm(const Tensor& x_in, const Tensor& weight, const Tensor& bias, float eps) {
    ENSURE(x_in.ndim() >= 1, "layer_norm: input must have at least one dimension");
    int64_t C = x_in.size(-1);
    ENSURE(weight.ndim() == 1 && weight.size(0) == C && bias.ndim() == 1 && bias.size(0) == C,
           "layer_norm: weight ", weight.shape(), " and bias ", bias.shape(), " must be [", C, "] for input ",
           x_in.shape());
    ENSURE(eps > 0.0f, "layer_norm: eps must be positive, got ", eps);
    Tensor x = x_in.contiguous(), g = weight.contiguous(), b = bias.contiguous();
    int64_t R = C > 0 ? x.numel() / C : 0;
    Tensor y = Tensor::empty(x.shape());
    Tensor stats = Tensor::empty({2, R});  // mean, rstd
    kernels::layer_norm_forward(y.data(), stats.data(), stats.data() + R, x.data(), g.data(), b.data(), R, C, eps);
    if (any_requires_grad({&x, &g, &b})) {
        attach_grad_fn(y, "layer_norm", {x, g, b}, [x, g, b, stats, R, C](const Tensor& dy) {
            kernels::layer_norm_backward(x.requires_grad() ? x.grad_data() : nullptr,
                                         g.requires_grad() ? g.grad_data() : nullptr,
                                         b.requires_grad() ? b.grad_data() : nullptr, dy.data(), x.data(),
                                         stats.data(), stats.data() + R, g.data(), R, C);
        });
    }
    return y;
}

}  // namespace nn
