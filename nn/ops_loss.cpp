// Softmax, log-softmax and the losses. Cross-entropy is fused (log-softmax + NLL) so its gradient
// is the well-conditioned softmax - onehot rather than a product of two Jacobians.
#include <cmath>
#include <vector>
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

// p[c] = exp(x[c] - mx) for c < C; returns their sum (float lanes, then the tail).
float exp_shifted(float* p, const float* x, float mx, int64_t C) {
    batch vsum(0.0f), vmx(mx);
    int64_t c = 0;
    for (; c + kLanes <= C; c += kLanes) {
        batch e = xsimd::exp(batch::load_unaligned(x + c) - vmx);
        e.store_unaligned(p + c);
        vsum += e;
    }
    float s = xsimd::hadd(vsum);
    for (; c < C; c++) s += (p[c] = std::exp(x[c] - mx));
    return s;
}

}  // namespace

void softmax_forward(float* y, const float* x, int64_t R, int64_t C) {
    parallel_for(R, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, C)), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; r++) {
            const float* xr = x + r * C;
            float* yr = y + r * C;
            float mx = -INFINITY;
            for (int64_t c = 0; c < C; c++) mx = std::max(mx, xr[c]);
            // NOTE: a row that is all -inf (fully masked) would give NaN; we give zeros instead.
            if (mx == -INFINITY) {
                for (int64_t c = 0; c < C; c++) yr[c] = 0.0f;
                continue;
            }
            float inv = 1.0f / exp_shifted(yr, xr, mx, C);
            for (int64_t c = 0; c < C; c++) yr[c] *= inv;
        }
    });
}

void softmax_backward(float* dx, const float* dy, const float* y, int64_t R, int64_t C) {
    // dx = y * (dy - sum(dy * y))
    parallel_for(R, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, C)), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; r++) {
            const float *dyr = dy + r * C, *yr = y + r * C;
            float dot = 0.0f;
            for (int64_t c = 0; c < C; c++) dot += dyr[c] * yr[c];
            for (int64_t c = 0; c < C; c++) dx[r * C + c] += yr[c] * (dyr[c] - dot);
        }
    });
}

void log_softmax_forward(float* y, const float* x, int64_t R, int64_t C) {
    for (int64_t r = 0; r < R; r++) {
        const float* xr = x + r * C;
        float* yr = y + r * C;
        float mx = -INFINITY;
        for (int64_t c = 0; c < C; c++) mx = std::max(mx, xr[c]);
        double s = 0.0;
        for (int64_t c = 0; c < C; c++) s += std::exp(double(xr[c] - mx));
        float lse = mx + float(std::log(s));
        for (int64_t c = 0; c < C; c++) yr[c] = xr[c] - lse;
    }
}

void log_softmax_backward(float* dx, const float* dy, const float* y, int64_t R, int64_t C) {
    // dx = dy - softmax * sum(dy)
    for (int64_t r = 0; r < R; r++) {
        const float *dyr = dy + r * C, *yr = y + r * C;
        float s = 0.0f;
        for (int64_t c = 0; c < C; c++) s += dyr[c];
        for (int64_t c = 0; c < C; c++) dx[r * C + c] += dyr[c] - std::exp(yr[c]) * s;
    }
}

double cross_entropy_forward(float* probs, int64_t* n_counted, const float* logits, const int64_t* target,
                             int64_t N, int64_t C, int64_t ignore_index) {
    // One pass per row: max, exp and sum, normalise; -log p_t = log-sum-exp - x_t is taken from the
    // logits (not log(probs)) so that tiny probabilities stay finite. Per-row losses are summed in
    // row order afterwards, so the total does not depend on the thread count.
    std::vector<double> row_loss(size_t(N), 0.0);
    parallel_for(N, std::max<int64_t>(1, 4096 / std::max<int64_t>(1, C)), [&](int64_t r0, int64_t r1) {
        for (int64_t i = r0; i < r1; i++) {
            const float* xr = logits + i * C;
            float* pr = probs + i * C;
            float mx = -INFINITY;
            for (int64_t c = 0; c < C; c++) mx = std::max(mx, xr[c]);
            float s = exp_shifted(pr, xr, mx, C);
            float inv = 1.0f / s;
            for (int64_t c = 0; c < C; c++) pr[c] *= inv;
            int64_t t = target[i];
            if (t != ignore_index) row_loss[size_t(i)] = double(mx) + std::log(double(s)) - double(xr[t]);
        }
    });
    double loss = 0.0;
    int64_t count = 0;
    for (int64_t i = 0; i < N; i++) {
        if (target[i] == ignore_index) continue;
        loss += row_loss[size_t(i)];
        count++;
    }
    *n_counted = count;
    return loss;
}

void cross_entropy_backward(float* dlogits, const float* probs, const int64_t* target, int64_t N, int64_t C,
                            int64_t ignore_index, float scale) {
    parallel_for(N, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, C)), [&](int64_t r0, int64_t r1) {
        for (int64_t i = r0; i < r1; i++) {
            int64_t t = target[i];
            if (t == ignore_index) continue;
            float* d = dlogits + i * C;
            const float* p = probs + i * C;
            for (int64_t c = 0; c < C; c++) d[c] += scale * p[c];
            d[t] -= scale;
        }
    });
}

}  // namespace kernels

namespace {

// Row-wise softmax-like op over the last dim; other dims go through a transpose.
template <class Fwd, class Bwd>
Tensor rowwise(const Tensor& x_in, int dim, Fwd fwd, Bwd bwd, const char* name) {
    int nd = x_in.ndim();
    int d = dim < 0 ? dim + nd : dim;
    ENSURE(nd >= 1 && d >= 0 && d < nd, name, ": dimension ", dim, " out of range for ", x_in.shape());
    if (d != nd - 1) return rowwise(x_in.transpose(d, nd - 1), -1, fwd, bwd, name).transpose(d, nd - 1);
    Tensor x = x_in.contiguous();
    int64_t C = x.size(-1), R = x.numel() / std::max<int64_t>(C, 1);
    Tensor y = Tensor::empty(x.shape());
    fwd(y.data(), x.data(), R, C);
    if (any_requires_grad({&x})) {
        Tensor saved = y.detach();
        attach_grad_fn(y, name, {x}, [x, saved, R, C, bwd](const Tensor& dy) {
            bwd(x.grad_data(), dy.data(), saved.data(), R, C);
        });
    }
    return y;
}

}  // namespace

Tensor softmax(const Tensor& x, int dim) {
    return rowwise(x, dim, kernels::softmax_forward, kernels::softmax_backward, "softmax");
}

Tensor log_softmax(const Tensor& x, int dim) {
    return rowwise(x, dim, kernels::log_softmax_forward, kernels::log_softmax_backward, "log_softmax");
}

Tensor cross_entropy(const Tensor& logits_in, const IntTensor& target, int64_t ignore_index) {
    ENSURE(logits_in.ndim() == 2, "cross_entropy: logits must be [N, C], got ", logits_in.shape());
    int64_t N = logits_in.size(0), C = logits_in.size(1);
    ENSURE(target.numel() == N, "cross_entropy: ", target.numel(), " targets for ", N, " rows");
    for (int64_t i = 0; i < N; i++) {
        int64_t t = target[i];
        ENSURE(t == ignore_index || (t >= 0 && t < C), "cross_entropy: target ", t, " at row ", i,
               " is outside [0, ", C, ")");
    }
    Tensor logits = logits_in.contiguous();
    Tensor probs = Tensor::empty(logits.shape());
    int64_t count = 0;
    double total = kernels::cross_entropy_forward(probs.data(), &count, logits.data(), target.data(), N, C,
                                                  ignore_index);
    Tensor loss = Tensor::scalar(count > 0 ? float(total / double(count)) : 0.0f);
    if (any_requires_grad({&logits}) && count > 0) {
        attach_grad_fn(loss, "cross_entropy", {logits}, [logits, probs, target, ignore_index, count, N, C](const Tensor& dl) {
            float scale = dl.data()[0] / float(count);
            kernels::cross_entropy_backward(logits.grad_data(), probs.data(), target.data(), N, C, ignore_index, scale);
        });
    }
    return loss;
}

Tensor mse_loss(const Tensor& pred, const Tensor& target) {
    ENSURE(pred.shape() == target.shape(), "mse_loss: prediction ", pred.shape(), " vs target ", target.shape());
    return mean(square(sub(pred, target)));
}

IntTensor argmax_rows(const Tensor& x_in) {
    ENSURE(x_in.ndim() == 2, "argmax_rows: expects [N, C], got ", x_in.shape());
    Tensor x = x_in.contiguous();
    int64_t N = x.size(0), C = x.size(1);
    IntTensor out(Shape{N});
    const float* p = x.data();
    for (int64_t i = 0; i < N; i++) {
        int64_t best = 0;
        for (int64_t c = 1; c < C; c++)
            if (p[i * C + c] > p[i * C + best]) best = c;
        out.values[size_t(i)] = best;
    }
    return out;
}

int64_t count_correct(const Tensor& logits, const IntTensor& target, int64_t ignore_index) {
    IntTensor pred = argmax_rows(logits);
    ENSURE(pred.numel() == target.numel(), "count_correct: ", pred.numel(), " predictions for ",
           target.numel(), " targets");
    int64_t n = 0;
    for (int64_t i = 0; i < pred.numel(); i++) n += target[i] != ignore_index && pred[i] == target[i];
    return n;
}

}  // namespace nn
