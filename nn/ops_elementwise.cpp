// Element-wise ops. Binary ops broadcast like NumPy; their backward reduces the gradient back to each
// operand's shape. Unary kernels use xsimd where a transcendental function is involved (g++ does not
// vectorise libm calls without -ffast-math).
#include <cmath>
#include <cstring>
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
constexpr int64_t kGrain = 1 << 15;  // elements per thread chunk below which we stay serial

// y[i] = f(x[i]) with a SIMD body and a scalar tail, split across threads for large n.
template <class SimdFn, class ScalarFn>
void map_unary(float* y, const float* x, int64_t n, SimdFn simd, ScalarFn scalar) {
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
        int64_t i = b;
        for (; i + kLanes <= e; i += kLanes) simd(batch::load_unaligned(x + i)).store_unaligned(y + i);
        for (; i < e; i++) y[i] = scalar(x[i]);
    });
}

// dx[i] += f(dy[i], v[i]) where v is the saved input or output.
template <class SimdFn, class ScalarFn>
void map_backward(float* dx, const float* dy, const float* v, int64_t n, SimdFn simd, ScalarFn scalar) {
    parallel_for(n, kGrain, [&](int64_t b, int64_t e) {
        int64_t i = b;
        for (; i + kLanes <= e; i += kLanes) {
            batch r = batch::load_unaligned(dx + i) + simd(batch::load_unaligned(dy + i), batch::load_unaligned(v + i));
            r.store_unaligned(dx + i);
        }
        for (; i < e; i++) dx[i] += scalar(dy[i], v[i]);
    });
}

constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;

}  // namespace

const char* simd_arch_name() { return xsimd::default_arch::name(); }

// NOTE: written as "v <= 0 ? 0 : v" so that NaN passes through as in torch.relu; max(v, 0) would turn
// NaN into 0 and hide a diverging run from the trainer's non-finite checks.
void relu_forward(float* y, const float* x, int64_t n) {
    map_unary(y, x, n, [](batch v) { return xsimd::select(v <= batch(0.0f), batch(0.0f), v); },
              [](float v) { return v <= 0.0f ? 0.0f : v; });
}
void relu_backward(float* dx, const float* dy, const float* y, int64_t n) {
    map_backward(dx, dy, y, n, [](batch d, batch v) { return xsimd::select(v > batch(0.0f), d, batch(0.0f)); },
                 [](float d, float v) { return v > 0.0f ? d : 0.0f; });
}

void tanh_forward(float* y, const float* x, int64_t n) {
    map_unary(y, x, n, [](batch v) { return xsimd::tanh(v); }, [](float v) { return std::tanh(v); });
}
void tanh_backward(float* dx, const float* dy, const float* y, int64_t n) {
    map_backward(dx, dy, y, n, [](batch d, batch v) { return d * (batch(1.0f) - v * v); },
                 [](float d, float v) { return d * (1.0f - v * v); });
}

void sigmoid_forward(float* y, const float* x, int64_t n) {
    map_unary(y, x, n, [](batch v) { return batch(1.0f) / (batch(1.0f) + xsimd::exp(-v)); },
              [](float v) { return 1.0f / (1.0f + std::exp(-v)); });
}
void sigmoid_backward(float* dx, const float* dy, const float* y, int64_t n) {
    map_backward(dx, dy, y, n, [](batch d, batch v) { return d * v * (batch(1.0f) - v); },
                 [](float d, float v) { return d * v * (1.0f - v); });
}

void gelu_forward(float* y, const float* x, int64_t n) {
    map_unary(y, x, n, [](batch v) { return batch(0.5f) * v * (batch(1.0f) + xsimd::erf(v * batch(kInvSqrt2))); },
              [](float v) { return 0.5f * v * (1.0f + std::erf(v * kInvSqrt2)); });
}
void gelu_backward(float* dx, const float* dy, const float* x, int64_t n) {
    // d/dx [x Phi(x)] = Phi(x) + x phi(x)
    map_backward(
        dx, dy, x, n,
        [](batch d, batch v) {
            batch cdf = batch(0.5f) * (batch(1.0f) + xsimd::erf(v * batch(kInvSqrt2)));
            batch pdf = batch(kInvSqrt2Pi) * xsimd::exp(batch(-0.5f) * v * v);
            return d * (cdf + v * pdf);
        },
        [](float d, float v) {
            float cdf = 0.5f * (1.0f + std::erf(v * kInvSqrt2));
            float pdf = kInvSqrt2Pi * std::exp(-0.5f * v * v);
            return d * (cdf + v * pdf);
        });
}

void exp_forward(float* y, const float* x, int64_t n) {
    map_unary(y, x, n, [](batch v) { return xsimd::exp(v); }, [](float v) { return std::exp(v); });
}
void log_forward(float* y, const float* x, int64_t n) {
    map_unary(y, x, n, [](batch v) { return xsimd::log(v); }, [](float v) { return std::log(v); });
}

}  // namespace kernels

// ---- broadcasting binary ops --------------------------------------------------------------------

Shape broadcast_shapes(const Shape& a, const Shape& b) {
    int n = std::max(a.size(), b.size());
    Shape out;
    for (int i = 0; i < n; i++) {
        int ia = a.size() - n + i, ib = b.size() - n + i;
        int64_t da = ia >= 0 ? a[ia] : 1, db = ib >= 0 ? b[ib] : 1;
        ENSURE(da == db || da == 1 || db == 1, "shapes ", a, " and ", b, " cannot be broadcast together");
        out.push_back(da == 1 ? db : da);
    }
    return out;
}

namespace {

// Strides (in elements of a contiguous operand of shape `s`) aligned to `out`, 0 where broadcast.
Shape broadcast_strides(const Shape& s, const Shape& out) {
    Shape cs = contiguous_strides(s), st;
    int off = out.size() - s.size();
    for (int i = 0; i < out.size(); i++) {
        int j = i - off;
        st.push_back(j < 0 || s[j] == 1 ? 0 : cs[j]);
    }
    return st;
}

// Calls fn(i, ia, ib) for every flat output index i with the matching operand offsets. The last
// dimension is the inner loop; fn is inlined.
template <class Fn>
void broadcast_loop(const Shape& out, const Shape& sa, const Shape& sb, Fn fn) {
    int nd = out.size();
    int64_t total = out.numel();
    if (total == 0) return;
    if (nd == 0) {
        fn(0, 0, 0);
        return;
    }
    int64_t inner = out[nd - 1], a_in = sa[nd - 1], b_in = sb[nd - 1];
    int64_t idx[kMaxDims] = {};
    int64_t oa = 0, ob = 0;
    for (int64_t base = 0; base < total; base += inner) {
        for (int64_t i = 0; i < inner; i++) fn(base + i, oa + i * a_in, ob + i * b_in);
        for (int k = nd - 2; k >= 0; k--) {
            if (++idx[k] < out[k]) {
                oa += sa[k];
                ob += sb[k];
                break;
            }
            oa -= sa[k] * (out[k] - 1);
            ob -= sb[k] * (out[k] - 1);
            idx[k] = 0;
        }
    }
}

enum class BinOp { Add, Sub, Mul, Div };

Tensor binary(const Tensor& a_in, const Tensor& b_in, BinOp op, const char* name) {
    Tensor a = a_in.contiguous(), b = b_in.contiguous();
    Shape out_shape = broadcast_shapes(a.shape(), b.shape());
    Tensor y = Tensor::empty(out_shape);
    const float *pa = a.data(), *pb = b.data();
    float* py = y.data();
    auto apply = [op](float u, float v) {
        switch (op) {
            case BinOp::Add: return u + v;
            case BinOp::Sub: return u - v;
            case BinOp::Mul: return u * v;
            case BinOp::Div: return u / v;
        }
        return 0.0f;
    };
    if (a.shape() == b.shape()) {
        int64_t n = y.numel();
        switch (op) {  // separate loops so each vectorises
            case BinOp::Add: for (int64_t i = 0; i < n; i++) py[i] = pa[i] + pb[i]; break;
            case BinOp::Sub: for (int64_t i = 0; i < n; i++) py[i] = pa[i] - pb[i]; break;
            case BinOp::Mul: for (int64_t i = 0; i < n; i++) py[i] = pa[i] * pb[i]; break;
            case BinOp::Div: for (int64_t i = 0; i < n; i++) py[i] = pa[i] / pb[i]; break;
        }
    } else {
        Shape sa = broadcast_strides(a.shape(), out_shape), sb = broadcast_strides(b.shape(), out_shape);
        broadcast_loop(out_shape, sa, sb, [&](int64_t i, int64_t ia, int64_t ib) { py[i] = apply(pa[ia], pb[ib]); });
    }
    if (any_requires_grad({&a, &b})) {
        attach_grad_fn(y, name, {a, b}, [a, b, op, out_shape](const Tensor& dy) {
            Shape sa = broadcast_strides(a.shape(), out_shape), sb = broadcast_strides(b.shape(), out_shape);
            const float *pa = a.data(), *pb = b.data(), *d = dy.data();
            float* ga = a.requires_grad() ? a.grad_data() : nullptr;
            float* gb = b.requires_grad() ? b.grad_data() : nullptr;
            broadcast_loop(out_shape, sa, sb, [&](int64_t i, int64_t ia, int64_t ib) {
                float g = d[i];
                switch (op) {
                    case BinOp::Add:
                        if (ga) ga[ia] += g;
                        if (gb) gb[ib] += g;
                        break;
                    case BinOp::Sub:
                        if (ga) ga[ia] += g;
                        if (gb) gb[ib] -= g;
                        break;
                    case BinOp::Mul:
                        if (ga) ga[ia] += g * pb[ib];
                        if (gb) gb[ib] += g * pa[ia];
                        break;
                    case BinOp::Div:
                        if (ga) ga[ia] += g / pb[ib];
                        if (gb) gb[ib] -= g * pa[ia] / (pb[ib] * pb[ib]);
                        break;
                }
            });
        });
    }
    return y;
}

// y = f(x) for the unary ops; `uses_output` says whether backward needs y (else x).
using UnaryKernel = void (*)(float*, const float*, int64_t);
using UnaryBackward = void (*)(float*, const float*, const float*, int64_t);

Tensor unary(const Tensor& x_in, UnaryKernel fwd, UnaryBackward bwd, bool uses_output, const char* name) {
    Tensor x = x_in.contiguous();
    Tensor y = Tensor::empty(x.shape());
    fwd(y.data(), x.data(), x.numel());
    if (any_requires_grad({&x})) {
        Tensor saved = uses_output ? y.detach() : x;
        attach_grad_fn(y, name, {x}, [x, saved, bwd](const Tensor& dy) {
            bwd(x.grad_data(), dy.data(), saved.data(), x.numel());
        });
    }
    return y;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary(a, b, BinOp::Add, "add"); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(a, b, BinOp::Sub, "sub"); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(a, b, BinOp::Mul, "mul"); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(a, b, BinOp::Div, "div"); }

Tensor add(const Tensor& a_in, float s) {
    Tensor a = a_in.contiguous();
    Tensor y = Tensor::empty(a.shape());
    const float* pa = a.data();
    float* py = y.data();
    for (int64_t i = 0, n = a.numel(); i < n; i++) py[i] = pa[i] + s;
    if (any_requires_grad({&a})) {
        attach_grad_fn(y, "add_scalar", {a}, [a](const Tensor& dy) {
            float* g = a.grad_data();
            const float* d = dy.data();
            for (int64_t i = 0, n = dy.numel(); i < n; i++) g[i] += d[i];
        });
    }
    return y;
}

Tensor mul(const Tensor& a_in, float s) {
    Tensor a = a_in.contiguous();
    Tensor y = Tensor::empty(a.shape());
    const float* pa = a.data();
    float* py = y.data();
    for (int64_t i = 0, n = a.numel(); i < n; i++) py[i] = pa[i] * s;
    if (any_requires_grad({&a})) {
        attach_grad_fn(y, "mul_scalar", {a}, [a, s](const Tensor& dy) {
            float* g = a.grad_data();
            const float* d = dy.data();
            for (int64_t i = 0, n = dy.numel(); i < n; i++) g[i] += s * d[i];
        });
    }
    return y;
}

Tensor neg(const Tensor& a) { return mul(a, -1.0f); }

Tensor relu(const Tensor& x) { return unary(x, kernels::relu_forward, kernels::relu_backward, true, "relu"); }
Tensor tanh(const Tensor& x) { return unary(x, kernels::tanh_forward, kernels::tanh_backward, true, "tanh"); }
Tensor sigmoid(const Tensor& x) {
    return unary(x, kernels::sigmoid_forward, kernels::sigmoid_backward, true, "sigmoid");
}
Tensor gelu(const Tensor& x) { return unary(x, kernels::gelu_forward, kernels::gelu_backward, false, "gelu"); }

Tensor exp(const Tensor& x) {
    // d exp(x) = exp(x) dx: backward multiplies by the saved output.
    return unary(
        x, kernels::exp_forward,
        [](float* dx, const float* dy, const float* y, int64_t n) {
            for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * y[i];
        },
        true, "exp");
}

Tensor log(const Tensor& x) {
    return unary(
        x, kernels::log_forward,
        [](float* dx, const float* dy, const float* xv, int64_t n) {
            for (int64_t i = 0; i < n; i++) dx[i] += dy[i] / xv[i];
        },
        false, "log");
}

Tensor sqrt(const Tensor& x) {
    return unary(
        x,
        [](float* y, const float* xv, int64_t n) {
            for (int64_t i = 0; i < n; i++) y[i] = std::sqrt(xv[i]);
        },
        [](float* dx, const float* dy, const float* y, int64_t n) {
            for (int64_t i = 0; i < n; i++) dx[i] += dy[i] * 0.5f / y[i];
        },
        true, "sqrt");
}

Tensor square(const Tensor& x) {
    return unary(
        x,
        [](float* y, const float* xv, int64_t n) {
            for (int64_t i = 0; i < n; i++) y[i] = xv[i] * xv[i];
        },
        [](float* dx, const float* dy, const float* xv, int64_t n) {
            for (int64_t i = 0; i < n; i++) dx[i] += 2.0f * xv[i] * dy[i];
        },
        false, "square");
}

Tensor dropout(const Tensor& x_in, float p, bool training, Rng& rng) {
    ENSURE(p >= 0.0f && p < 1.0f, "dropout probability must be in [0, 1), got ", p);
    if (!training || p == 0.0f) return x_in;
    Tensor x = x_in.contiguous();
    Tensor mask = Tensor::empty(x.shape());  // 0 or 1/(1-p), kept for backward
    Tensor y = Tensor::empty(x.shape());
    float scale = 1.0f / (1.0f - p);
    float* m = mask.data();
    const float* px = x.data();
    float* py = y.data();
    for (int64_t i = 0, n = x.numel(); i < n; i++) {
        m[i] = rng.uniform() >= p ? scale : 0.0f;
        py[i] = px[i] * m[i];
    }
    if (any_requires_grad({&x})) {
        attach_grad_fn(y, "dropout", {x}, [x, mask](const Tensor& dy) {
            float* g = x.grad_data();
            const float *d = dy.data(), *mm = mask.data();
            for (int64_t i = 0, n = dy.numel(); i < n; i++) g[i] += d[i] * mm[i];
        });
    }
    return y;
}

}  // namespace nn
