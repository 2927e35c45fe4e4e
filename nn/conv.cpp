#include "nn/conv.hpp"

#include <cmath>

#include "nn/check.hpp"
#include "nn/init.hpp"

namespace nn {

Conv2d::Conv2d(int64_t in, int64_t out, int64_t k, int64_t s, int64_t p, bool with_bias, Rng& rng)
    : Module("Conv2d"), in_channels(in), out_channels(out), kernel_size(k), stride(s), padding(p) {
    ENSURE(in > 0 && out > 0 && k > 0 && s > 0 && p >= 0, "Conv2d(", in, ", ", out, ", kernel ", k, ", stride ", s,
           ", padding ", p, "): sizes must be positive (padding non-negative)");
    weight = register_parameter("weight", Tensor::empty({out, in, k, k}));
    if (with_bias) bias = register_parameter("bias", Tensor::empty({out}));
    init::pytorch_default_(weight, bias, rng);
}

BatchNorm2d::BatchNorm2d(int64_t n, float eps_, float momentum_)
    : Module("BatchNorm2d"), num_features(n), eps(eps_), momentum(momentum_) {
    ENSURE(n > 0, "BatchNorm2d(", n, "): the number of features must be positive");
    weight = register_parameter("weight", Tensor::ones({n}));
    bias = register_parameter("bias", Tensor::zeros({n}));
    running_mean = register_buffer("running_mean", Tensor::zeros({n}));
    running_var = register_buffer("running_var", Tensor::ones({n}));
    num_batches_tracked = register_buffer("num_batches_tracked", Tensor::zeros(Shape{}), true);
}

bool is_relu(const Module& m) { return m.type_name() == "ReLU" && m.children().empty(); }

Tensor conv_bn(Conv2d& conv, BatchNorm2d& bn, const Tensor& x, bool relu) {
    if (bn.training() || any_requires_grad({&x, &conv.weight, &conv.bias, &bn.weight, &bn.bias})) {
        Tensor h = conv.forward(x);
        return relu ? bn.forward_relu(h) : bn.forward(h);
    }
    // y = (conv(x) + b - mean) * gamma / sqrt(var + eps) + beta = conv(x) * scale + shift
    const int64_t C = bn.num_features;
    Tensor scale = Tensor::empty({C}), shift = Tensor::empty({C});
    const float *g = bn.weight.data(), *beta = bn.bias.data(), *rm = bn.running_mean.data(), *rv = bn.running_var.data();
    for (int64_t c = 0; c < C; c++) {
        float s = g[c] / std::sqrt(rv[c] + bn.eps);
        float b = conv.bias.defined() ? conv.bias.data()[c] : 0.0f;
        scale.data()[c] = s;
        shift.data()[c] = beta[c] + (b - rm[c]) * s;
    }
    if (ConvExecutor* e = conv.inference_executor(x)) return e->run(x, scale, shift, relu);
    return conv2d_affine(x, conv.weight, scale, shift, conv.stride, conv.padding, relu);
}

Tensor forward_fused(const Sequential& seq, const Tensor& x) {
    Tensor h = x;
    const size_t n = seq.size();
    for (size_t i = 0; i < n; i++) {
        Module& m = seq.at(i);
        if (auto* c = dynamic_cast<Conv2d*>(&m); c && i + 1 < n) {
            if (auto* bn = dynamic_cast<BatchNorm2d*>(&seq.at(i + 1))) {
                bool relu = i + 2 < n && is_relu(seq.at(i + 2));
                h = conv_bn(*c, *bn, h, relu);
                i += relu ? 2 : 1;
                continue;
            }
        }
        bool next_relu = i + 1 < n && is_relu(seq.at(i + 1));
        if (next_relu) {
            if (auto* c = dynamic_cast<Conv2d*>(&m)) {
                h = c->forward_relu(h);
                i++;
                continue;
            }
            if (auto* bn = dynamic_cast<BatchNorm2d*>(&m)) {
                h = bn->forward_relu(h);
                i++;
                continue;
            }
        }
        h = m.forward(h);
    }
    return h;
}

}  // namespace nn
