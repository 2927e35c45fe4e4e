// Layers of convolutional networks: Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d (global average),
// BatchNorm2d — thin modules over the ops in ops.hpp with PyTorch's names, layouts and defaults, so
// their state dicts load into the torch.nn modules of the same name. Also forward_fused, which runs a
// Sequential and fuses each Conv2d or BatchNorm2d with the ReLU module right after it.
// Not here: the models built from them (models.hpp).
#pragma once

#include "nn/layers.hpp"
#include "nn/module.hpp"
#include "nn/ops.hpp"

namespace nn {

// Another way to run a Conv2d for inference, installed by a compiler pass (sparse::compile puts a CSR
// product here): returns conv(x) * scale + shift per output channel, then max(0, .) when relu. scale
// undefined means 1; shift undefined means 0 (shift is the bias, or an eval-mode BatchNorm folded in).
// Called only where autograd records nothing.
class ConvExecutor {
public:
    virtual ~ConvExecutor() = default;
    virtual Tensor run(const Tensor& x, const Tensor& scale, const Tensor& shift, bool relu) = 0;
};

// weight [out, in, k, k], bias [out]; PyTorch's default initialisation (kaiming_uniform, a = sqrt(5)).
class Conv2d : public Module {
public:
    Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, int64_t stride, int64_t padding, bool bias,
           Rng& rng);
    Tensor forward(const Tensor& x) override { return run(x, false); }
    Tensor forward_relu(const Tensor& x) { return run(x, true); }
    // The executor when one is installed and autograd records nothing (NoGradGuard, or no tensor
    // requires a gradient); null otherwise (then the dense op runs).
    ConvExecutor* inference_executor(const Tensor& x) const {
        return executor && !any_requires_grad({&x, &weight, &bias}) ? executor.get() : nullptr;
    }
    int64_t in_channels, out_channels, kernel_size, stride, padding;
    Tensor weight, bias;  // bias undefined when disabled
    // Null runs the dense op. Not a child module: names and parameters of the model are unchanged.
    std::shared_ptr<ConvExecutor> executor;

private:
    Tensor run(const Tensor& x, bool relu) {
        if (ConvExecutor* e = inference_executor(x)) return e->run(x, Tensor(), bias, relu);
        return conv2d(x, weight, bias, stride, padding, relu);
    }
};

class MaxPool2d : public Module {
public:
    explicit MaxPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0)
        : Module("MaxPool2d"), kernel_size(kernel_size), stride(stride), padding(padding) {}
    Tensor forward(const Tensor& x) override { return max_pool2d(x, kernel_size, stride, padding); }
    int64_t kernel_size, stride, padding;
};

class AvgPool2d : public Module {
public:
    explicit AvgPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0)
        : Module("AvgPool2d"), kernel_size(kernel_size), stride(stride), padding(padding) {}
    Tensor forward(const Tensor& x) override { return avg_pool2d(x, kernel_size, stride, padding); }
    int64_t kernel_size, stride, padding;
};

// torch.nn.AdaptiveAvgPool2d(1): [B, C, H, W] -> [B, C, 1, 1]. Other output sizes are not supported.
class AdaptiveAvgPool2d : public Module {
public:
    AdaptiveAvgPool2d() : Module("AdaptiveAvgPool2d") {}
    Tensor forward(const Tensor& x) override { return global_avg_pool2d(x); }
};

// weight (ones) and bias (zeros) [C]; buffers running_mean (zeros), running_var (ones) [C] and
// num_batches_tracked (an integer scalar, saved as I64). Training mode uses and updates batch
// statistics; eval mode uses the running ones (Module::train / eval switch).
class BatchNorm2d : public Module {
public:
    explicit BatchNorm2d(int64_t num_features, float eps = 1e-5f, float momentum = 0.1f);
    Tensor forward(const Tensor& x) override { return run(x, false); }
    Tensor forward_relu(const Tensor& x) { return run(x, true); }
    int64_t num_features;
    float eps, momentum;
    Tensor weight, bias, running_mean, running_var, num_batches_tracked;

private:
    Tensor run(const Tensor& x, bool relu) {
        return batch_norm2d(x, weight, bias, running_mean, running_var, num_batches_tracked, training(), momentum, eps,
                            relu);
    }
};

// bn(conv(x)), then ReLU when relu. In eval mode with no gradient needed (evaluation, benchmarks) the
// BatchNorm is folded into the convolution's output pass (conv2d_affine); otherwise the two ops run
// with the ReLU fused into the BatchNorm. Same values either way, up to rounding.
Tensor conv_bn(Conv2d& conv, BatchNorm2d& bn, const Tensor& x, bool relu);

// Calls the children of `seq` in order, except that Conv2d + BatchNorm2d (+ ReLU) runs as conv_bn,
// and a Conv2d or BatchNorm2d directly followed by a ReLU module runs as one fused op (same values
// and gradients, fewer passes over memory).
Tensor forward_fused(const Sequential& seq, const Tensor& x);

// True when `m` is the parameter-free ReLU module made by nn::ReLU().
bool is_relu(const Module& m);

}  // namespace nn
