// Shared test helpers: random tensors, closeness checks, and the finite-difference gradient check
// every differentiable op goes through.
#pragma once

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "nn/autograd.hpp"
#include "nn/ops.hpp"
#include "nn/rng.hpp"
#include "nn/tensor.hpp"

namespace testing {

// Files or directories a test writes in the working directory, removed when the guard is built
// (leftovers of an interrupted run) and when it goes out of scope, also when a REQUIRE fails.
class RemoveOnExit {
public:
    RemoveOnExit(std::initializer_list<std::string> paths) : paths_(paths) { remove(); }
    ~RemoveOnExit() { remove(); }
    RemoveOnExit(const RemoveOnExit&) = delete;
    RemoveOnExit& operator=(const RemoveOnExit&) = delete;

private:
    void remove() const {
        std::error_code ec;
        for (const auto& p : paths_) std::filesystem::remove_all(p, ec);
    }
    std::vector<std::string> paths_;
};

inline nn::Tensor randn(const nn::Shape& s, uint64_t seed, float scale = 1.0f) {
    nn::Rng rng(seed);
    nn::Tensor t = nn::Tensor::empty(s);
    for (int64_t i = 0; i < t.numel(); i++) t.data()[i] = scale * rng.normal();
    return t;
}

inline nn::Tensor uniform(const nn::Shape& s, uint64_t seed, float lo, float hi) {
    nn::Rng rng(seed);
    nn::Tensor t = nn::Tensor::empty(s);
    for (int64_t i = 0; i < t.numel(); i++) t.data()[i] = rng.uniform(lo, hi);
    return t;
}

// A 0/1 mask: each entry 1 with probability `density`.
inline nn::Tensor random_mask(const nn::Shape& s, double density, uint64_t seed) {
    nn::Rng rng(seed);
    nn::Tensor m = nn::Tensor::empty(s);
    for (int64_t i = 0; i < m.numel(); i++) m.data()[i] = rng.uniform() < density ? 1.0f : 0.0f;
    return m;
}

// w * mask as a fresh contiguous tensor outside the graph.
inline nn::Tensor masked(const nn::Tensor& w, const nn::Tensor& mask) {
    nn::NoGradGuard ng;
    return nn::mul(w, mask).contiguous();
}

// Bit-for-bit equality of two float vectors, reporting the first differing element (not the whole
// vectors: they can hold a model's worth of weights).
inline void require_equal(const std::vector<float>& a, const std::vector<float>& b, const std::string& what = "") {
    REQUIRE(a.size() == b.size());
    size_t i = 0;
    while (i < a.size() && std::memcmp(&a[i], &b[i], sizeof(float)) == 0) i++;
    INFO(what << ": first difference at element " << i << " of " << a.size());
    REQUIRE(i == a.size());
}

// Max |a - b| / (atol + rtol |b|) <= 1 element-wise, reporting the worst element.
inline void require_close(const std::vector<float>& a, const std::vector<float>& b, float atol, float rtol,
                          const std::string& what = "") {
    REQUIRE(a.size() == b.size());
    size_t worst = 0;
    double worst_ratio = 0.0;
    for (size_t i = 0; i < a.size(); i++) {
        double r = std::fabs(double(a[i]) - double(b[i])) / (atol + rtol * std::fabs(double(b[i])));
        if (!(r <= worst_ratio)) {
            worst_ratio = r;
            worst = i;
        }
    }
    INFO(what << ": worst element " << worst << ": " << (a.empty() ? 0.f : a[worst]) << " vs "
              << (b.empty() ? 0.f : b[worst]));
    REQUIRE(worst_ratio <= 1.0);
}

// Checks the autograd gradient of every input against central differences of
// L = sum(f(inputs) * W) with a fixed random W (so every output element matters differently).
inline void gradcheck(const std::function<nn::Tensor(const std::vector<nn::Tensor>&)>& f,
                      std::vector<nn::Tensor> inputs, float eps = 1e-2f, float atol = 2e-3f, float rtol = 2e-2f) {
    for (auto& x : inputs) x.requires_grad_(true);
    nn::Tensor out = f(inputs);
    nn::Tensor w = randn(out.shape(), 999);
    nn::Tensor loss = nn::sum(nn::mul(out, w));
    loss.backward();
    auto eval = [&]() {
        nn::NoGradGuard ng;
        nn::Tensor o = f(inputs).contiguous();
        double s = 0.0;
        for (int64_t i = 0; i < o.numel(); i++) s += double(o.data()[i]) * double(w.data()[i]);
        return s;
    };
    for (size_t k = 0; k < inputs.size(); k++) {
        nn::Tensor x = inputs[k];
        REQUIRE(x.grad().defined());
        std::vector<float> analytic = x.grad().to_vector(), numeric(size_t(x.numel()));
        float* p = x.data();
        for (int64_t i = 0; i < x.numel(); i++) {
            float orig = p[i];
            p[i] = orig + eps;
            double up = eval();
            p[i] = orig - eps;
            double down = eval();
            p[i] = orig;
            numeric[size_t(i)] = float((up - down) / (2.0 * eps));
        }
        require_close(analytic, numeric, atol, rtol, "gradient of input " + std::to_string(k));
    }
}

}  // namespace testing
