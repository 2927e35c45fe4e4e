#include "nn/init.hpp"

#include <cmath>

#include "nn/check.hpp"

namespace nn::init {

namespace {
void require_contiguous(const Tensor& t) { ENSURE(t.is_contiguous(), "initialisers need a contiguous tensor"); }
}  // namespace

void uniform_(const Tensor& t, float lo, float hi, Rng& rng) {
    require_contiguous(t);
    float* p = t.data();
    for (int64_t i = 0, n = t.numel(); i < n; i++) p[i] = rng.uniform(lo, hi);
}

void normal_(const Tensor& t, float mean, float std, Rng& rng) {
    require_contiguous(t);
    float* p = t.data();
    for (int64_t i = 0, n = t.numel(); i < n; i++) p[i] = rng.normal(mean, std);
}

void constant_(const Tensor& t, float value) { t.fill_(value); }

int64_t fan_in(const Tensor& w) {
    ENSURE(w.ndim() >= 2, "fan_in needs a weight of rank >= 2, got ", w.shape());
    return w.numel() / w.size(0);
}

int64_t fan_out(const Tensor& w) {
    ENSURE(w.ndim() >= 2, "fan_out needs a weight of rank >= 2, got ", w.shape());
    return w.numel() / w.size(1);
}

float calculate_gain(const std::string& nl, float a) {
    if (nl == "linear" || nl == "sigmoid" || nl == "conv2d") return 1.0f;
    if (nl == "tanh") return 5.0f / 3.0f;
    if (nl == "relu") return std::sqrt(2.0f);
    if (nl == "leaky_relu") return std::sqrt(2.0f / (1.0f + a * a));
    RAISE("unknown nonlinearity '", nl, "' for calculate_gain");
}

void kaiming_normal_(const Tensor& w, Rng& rng, bool mode_fan_in, const std::string& nl, float a) {
    float fan = float(mode_fan_in ? fan_in(w) : fan_out(w));
    normal_(w, 0.0f, calculate_gain(nl, a) / std::sqrt(fan), rng);
}

void kaiming_uniform_(const Tensor& w, Rng& rng, bool mode_fan_in, const std::string& nl, float a) {
    float fan = float(mode_fan_in ? fan_in(w) : fan_out(w));
    float bound = std::sqrt(3.0f) * calculate_gain(nl, a) / std::sqrt(fan);
    uniform_(w, -bound, bound, rng);
}

void xavier_uniform_(const Tensor& w, Rng& rng, float gain) {
    float bound = gain * std::sqrt(6.0f / float(fan_in(w) + fan_out(w)));
    uniform_(w, -bound, bound, rng);
}

void xavier_normal_(const Tensor& w, Rng& rng, float gain) {
    normal_(w, 0.0f, gain * std::sqrt(2.0f / float(fan_in(w) + fan_out(w))), rng);
}

void pytorch_default_(const Tensor& weight, const Tensor& bias, Rng& rng) {
    kaiming_uniform_(weight, rng, true, "leaky_relu", std::sqrt(5.0f));
    if (bias.defined()) {
        float bound = 1.0f / std::sqrt(float(fan_in(weight)));
        uniform_(bias, -bound, bound, rng);
    }
}

}  // namespace nn::init
