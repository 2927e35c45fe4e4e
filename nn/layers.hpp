// Basic layers: Linear, activations, Flatten, Dropout, Identity. Each is a thin Module over the
// ops in ops.hpp. Convolution, normalisation and attention layers have their own headers.
#pragma once

#include "nn/module.hpp"
#include "nn/ops.hpp"

namespace nn {

// y = x W^T + b with weight [out, in] (PyTorch layout), PyTorch's default initialisation.
class Linear : public Module {
public:
    Linear(int64_t in_features, int64_t out_features, bool bias, Rng& rng);
    Tensor forward(const Tensor& x) override { return executor ? executor->forward(x) : linear(x, weight, bias); }
    int64_t in_features, out_features;
    Tensor weight, bias;  // bias undefined when disabled
    // Another way to compute this layer, installed by a compiler pass (sparse::compile puts a CSR
    // product here); null runs the dense product. Not a child module: names and parameters of the
    // model are unchanged.
    std::shared_ptr<Module> executor;
};

// Wraps a parameter-free tensor function (ReLU, Tanh, GELU, Flatten, ...) under a PyTorch type name.
class Lambda : public Module {
public:
    Lambda(std::string type_name, std::function<Tensor(const Tensor&)> fn)
        : Module(std::move(type_name)), fn_(std::move(fn)) {}
    Tensor forward(const Tensor& x) override { return fn_(x); }

private:
    std::function<Tensor(const Tensor&)> fn_;
};

std::shared_ptr<Module> ReLU();
std::shared_ptr<Module> Tanh();
std::shared_ptr<Module> GELU();
std::shared_ptr<Module> Sigmoid();
std::shared_ptr<Module> Identity();
std::shared_ptr<Module> Flatten(int start_dim = 1);

class Dropout : public Module {
public:
    explicit Dropout(float p) : Module("Dropout"), p(p) {}
    Tensor forward(const Tensor& x) override { return dropout(x, p, training()); }
    float p;
};

}  // namespace nn
