#include "nn/layers.hpp"

#include "nn/check.hpp"
#include "nn/init.hpp"

namespace nn {

Linear::Linear(int64_t in, int64_t out, bool with_bias, Rng& rng)
    : Module("Linear"), in_features(in), out_features(out) {
    ENSURE(in > 0 && out > 0, "Linear(", in, ", ", out, "): sizes must be positive");
    weight = register_parameter("weight", Tensor::empty({out, in}));
    if (with_bias) bias = register_parameter("bias", Tensor::empty({out}));
    init::pytorch_default_(weight, bias, rng);
}

std::shared_ptr<Module> ReLU() { return std::make_shared<Lambda>("ReLU", [](const Tensor& x) { return relu(x); }); }
std::shared_ptr<Module> Tanh() { return std::make_shared<Lambda>("Tanh", [](const Tensor& x) { return tanh(x); }); }
std::shared_ptr<Module> GELU() { return std::make_shared<Lambda>("GELU", [](const Tensor& x) { return gelu(x); }); }
std::shared_ptr<Module> Sigmoid() {
    return std::make_shared<Lambda>("Sigmoid", [](const Tensor& x) { return sigmoid(x); });
}
std::shared_ptr<Module> Identity() { return std::make_shared<Lambda>("Identity", [](const Tensor& x) { return x; }); }
std::shared_ptr<Module> Flatten(int start_dim) {
    return std::make_shared<Lambda>("Flatten", [start_dim](const Tensor& x) { return x.flatten(start_dim); });
}

}  // namespace nn
