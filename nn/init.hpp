// Parameter initialisers with PyTorch's formulas (torch.nn.init), drawing from our Rng. Fans follow
// PyTorch: for a weight [out, in, *kernel], fan_in = in * prod(kernel), fan_out = out * prod(kernel).
#pragma once

#include <string>

#include "nn/rng.hpp"
#include "nn/tensor.hpp"

namespace nn::init {

void uniform_(const Tensor& t, float lo, float hi, Rng& rng);
void normal_(const Tensor& t, float mean, float std, Rng& rng);
void constant_(const Tensor& t, float value);

int64_t fan_in(const Tensor& weight);
int64_t fan_out(const Tensor& weight);
// gain for a nonlinearity name ("linear", "relu", "leaky_relu" with slope a, "tanh", "sigmoid").
float calculate_gain(const std::string& nonlinearity, float a = 0.0f);

// std = gain / sqrt(fan), gain from `nonlinearity` (default: He init for ReLU).
void kaiming_normal_(const Tensor& w, Rng& rng, bool mode_fan_in = true, const std::string& nonlinearity = "relu",
                     float a = 0.0f);
void kaiming_uniform_(const Tensor& w, Rng& rng, bool mode_fan_in = true, const std::string& nonlinearity = "relu",
                      float a = 0.0f);
void xavier_uniform_(const Tensor& w, Rng& rng, float gain = 1.0f);
void xavier_normal_(const Tensor& w, Rng& rng, float gain = 1.0f);

// PyTorch's default for Linear and Conv: kaiming_uniform_(a = sqrt(5)) on the weight, i.e.
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and the bias (if defined) from the same bound.
void pytorch_default_(const Tensor& weight, const Tensor& bias, Rng& rng);

}  // namespace nn::init
