// Sums and means, over everything or along one dimension. Sums accumulate in double in a fixed
// order, so a result never depends on the thread count.
#include <xsimd/xsimd.hpp>

#include "nn/check.hpp"
#include "nn/kernels.hpp"
#include "nn/ops.hpp"

namespace nn {

namespace kernels {

double sum_squares(const float* x, int64_t n) {
    // Blocks of 4096 are summed in float lanes (four independent accumulators), each block total
    // is added in double: accurate enough for norms, and as fast as memory allows.
    using batch = xsimd::batch<float>;
    constexpr int64_t L = int64_t(batch::size), kBlock = 4096;
    double total = 0.0;
    for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
        int64_t b1 = std::min(n, b0 + kBlock), i = b0;
        batch a0(0.0f), a1(0.0f), a2(0.0f), a3(0.0f);
        for (; i + 4 * L <= b1; i += 4 * L) {
            batch v0 = batch::load_unaligned(x + i), v1 = batch::load_unaligned(x + i + L);
            batch v2 = batch::load_unaligned(x + i + 2 * L), v3 = batch::load_unaligned(x + i + 3 * L);
            a0 = xsimd::fma(v0, v0, a0);
            a1 = xsimd::fma(v1, v1, a1);
            a2 = xsimd::fma(v2, v2, a2);
            a3 = xsimd::fma(v3, v3, a3);
        }
        float tail = 0.0f;
        for (; i < b1; i++) tail += x[i] * x[i];
        total += double(xsimd::hadd((a0 + a1) + (a2 + a3))) + double(tail);
    }
    return total;
}

float vector_sum(const float* x, int64_t n) {
    using batch = xsimd::batch<float>;
    constexpr int64_t L = int64_t(batch::size);
    int64_t i = 0;
    batch a0(0.0f), a1(0.0f);
    for (; i + 2 * L <= n; i += 2 * L) {
        a0 += batch::load_unaligned(x + i);
        a1 += batch::load_unaligned(x + i + L);
    }
    if (i + L <= n) {
        a0 += batch::load_unaligned(x + i);
        i += L;
    }
    float tail = 0.0f;
    for (; i < n; i++) tail += x[i];
    return xsimd::hadd(a0 + a1) + tail;
}

}  // namespace kernels

namespace {

// View x (contiguous) as (OUTER, D, INNER) around dimension `dim`.
void split_dims(const Shape& s, int dim, int64_t& outer, int64_t& D, int64_t& inner) {
    outer = inner = 1;
    for (int i = 0; i < dim; i++) outer *= s[i];
    D = s[dim];
    for (int i = dim + 1; i < s.size(); i++) inner *= s[i];
}

Tensor sum_all(const Tensor& x_in, float scale, const char* name) {
    Tensor x = x_in.contiguous();
    double acc = 0.0;
    const float* p = x.data();
    for (int64_t i = 0, n = x.numel(); i < n; i++) acc += p[i];
    Tensor y = Tensor::scalar(float(acc * scale));
    if (any_requires_grad({&x})) {
        attach_grad_fn(y, name, {x}, [x, scale](const Tensor& dy) {
            float g = dy.data()[0] * scale;
            float* gx = x.grad_data();
            for (int64_t i = 0, n = x.numel(); i < n; i++) gx[i] += g;
        });
    }
    return y;
}

Tensor sum_dim(const Tensor& x_in, int dim_in, bool keepdim, bool average, const char* name) {
    Tensor x = x_in.contiguous();
    int nd = x.ndim();
    int dim = dim_in < 0 ? dim_in + nd : dim_in;
    ENSURE(dim >= 0 && dim < nd, name, ": dimension ", dim_in, " out of range for ", x.shape());
    int64_t outer, D, inner;
    split_dims(x.shape(), dim, outer, D, inner);
    Shape out_shape;
    for (int i = 0; i < nd; i++) {
        if (i != dim) out_shape.push_back(x.size(i));
        else if (keepdim) out_shape.push_back(1);
    }
    float scale = average ? 1.0f / float(D) : 1.0f;
    Tensor y = Tensor::empty(out_shape);
    const float* px = x.data();
    float* py = y.data();
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < inner; i++) {
            double acc = 0.0;
            for (int64_t d = 0; d < D; d++) acc += px[(o * D + d) * inner + i];
            py[o * inner + i] = float(acc * scale);
        }
    if (any_requires_grad({&x})) {
        attach_grad_fn(y, name, {x}, [x, outer, D, inner, scale](const Tensor& dy) {
            float* gx = x.grad_data();
            const float* g = dy.data();
            for (int64_t o = 0; o < outer; o++)
                for (int64_t d = 0; d < D; d++)
                    for (int64_t i = 0; i < inner; i++) gx[(o * D + d) * inner + i] += g[o * inner + i] * scale;
        });
    }
    return y;
}

}  // namespace

Tensor sum(const Tensor& x) { return sum_all(x, 1.0f, "sum"); }
Tensor mean(const Tensor& x) {
    ENSURE(x.numel() > 0, "mean of an empty tensor");
    return sum_all(x, 1.0f / float(x.numel()), "mean");
}
Tensor sum(const Tensor& x, int dim, bool keepdim) { return sum_dim(x, dim, keepdim, false, "sum"); }
Tensor mean(const Tensor& x, int dim, bool keepdim) { return sum_dim(x, dim, keepdim, true, "mean"); }

}  // namespace nn
