#include "nn/optim.hpp"

#include <cmath>

#include "nn/autograd.hpp"
#include "nn/check.hpp"
#include "nn/threads.hpp"

namespace nn {

namespace {
constexpr int64_t kUpdateGrain = 1 << 15;
}

Optimizer::Optimizer(std::vector<NamedTensor> params) : params_(std::move(params)) {
    for (auto& [name, t] : params_) ENSURE(t.is_contiguous(), "optimizer: parameter ", name, " is not contiguous");
}

void Optimizer::zero_grad() {
    for (auto& [name, t] : params_) t.zero_grad();
}

std::vector<NamedTensor> Optimizer::state_dict() const {
    std::vector<NamedTensor> out;
    for (size_t i = 0; i < params_.size(); i++)
        for (auto& [buf, t] : param_state(i)) out.emplace_back(params_[i].first + "." + buf, t);
    return out;
}

void Optimizer::load_state_dict(const std::vector<NamedTensor>& state) {
    for (auto& [key, value] : state) {
        bool found = false;
        for (size_t i = 0; i < params_.size() && !found; i++) {
            const std::string& p = params_[i].first;
            if (key.size() > p.size() + 1 && key.compare(0, p.size(), p) == 0 && key[p.size()] == '.') {
                std::string buf = key.substr(p.size() + 1);
                if (buf.find('.') != std::string::npos) continue;  // belongs to a longer parameter name
                Tensor* dst = find_state(i, buf);
                ENSURE(dst != nullptr, "optimizer state '", key, "': unknown buffer '", buf, "'");
                ENSURE(dst->shape() == value.shape(), "optimizer state '", key, "' has shape ", value.shape(),
                       ", parameter has ", params_[i].second.shape());
                dst->copy_(value);
                found = true;
            }
        }
        ENSURE(found, "optimizer state '", key, "' matches no parameter of the model");
    }
}

// ---- SGD ----------------------------------------------------------------------------------------

SGD::SGD(std::vector<NamedTensor> params, SGDOptions opt)
    : Optimizer(std::move(params)), options(opt), momentum_(params_.size()) {
    ENSURE(opt.lr >= 0 && opt.momentum >= 0 && opt.weight_decay >= 0, "SGD: negative hyper-parameter");
    ENSURE(!opt.nesterov || (opt.momentum > 0 && opt.dampening == 0), "SGD: Nesterov needs momentum > 0 and dampening 0");
    lr = opt.lr;
}

void SGD::step() {
    NoGradGuard no_grad;
    const float mom = options.momentum, damp = options.dampening, wd = options.weight_decay, step_lr = lr;
    for (size_t i = 0; i < params_.size(); i++) {
        const Tensor& p = params_[i].second;
        if (!p.grad().defined()) continue;
        float* w = p.data();
        const float* g = p.grad().data();
        bool first = false;
        if (mom != 0.0f && !momentum_[i].defined()) {
            momentum_[i] = Tensor::empty(p.shape());
            first = true;
        }
        float* buf = mom != 0.0f ? momentum_[i].data() : nullptr;
        const bool nesterov = options.nesterov;
        // Separate loops per case so that each one vectorises.
        parallel_for(p.numel(), kUpdateGrain, [&](int64_t b, int64_t e) {
            if (!buf) {
                for (int64_t j = b; j < e; j++) w[j] -= step_lr * (g[j] + wd * w[j]);
            } else if (first) {
                for (int64_t j = b; j < e; j++) {
                    float d = g[j] + wd * w[j];
                    buf[j] = d;
                    w[j] -= step_lr * (nesterov ? d + mom * d : d);
                }
            } else if (nesterov) {
                for (int64_t j = b; j < e; j++) {
                    float d = g[j] + wd * w[j];
                    buf[j] = mom * buf[j] + (1.0f - damp) * d;
                    w[j] -= step_lr * (d + mom * buf[j]);
                }
            } else {
                for (int64_t j = b; j < e; j++) {
                    float d = g[j] + wd * w[j];
                    buf[j] = mom * buf[j] + (1.0f - damp) * d;
                    w[j] -= step_lr * buf[j];
                }
            }
        });
    }
    n_steps++;
}

std::vector<NamedTensor> SGD::param_state(size_t i) const {
    if (momentum_[i].defined()) return {{"momentum_buffer", momentum_[i]}};
    return {};
}

Tensor* SGD::find_state(size_t i, const std::string& buffer) {
    if (buffer != "momentum_buffer") return nullptr;
    if (!momentum_[i].defined()) momentum_[i] = Tensor::zeros(params_[i].second.shape());
    return &momentum_[i];
}

// ---- Adam / AdamW ---------------------------------------------------------------------------------

Adam::Adam(std::vector<NamedTensor> params, AdamOptions opt)
    : Optimizer(std::move(params)), options(opt), exp_avg_(params_.size()), exp_avg_sq_(params_.size()) {
    ENSURE(opt.lr >= 0 && opt.eps >= 0 && opt.weight_decay >= 0, "Adam: negative hyper-parameter");
    ENSURE(opt.beta1 >= 0 && opt.beta1 < 1 && opt.beta2 >= 0 && opt.beta2 < 1, "Adam: betas must be in [0, 1)");
    lr = opt.lr;
}

void Adam::step() {
    NoGradGuard no_grad;
    n_steps++;
    const float b1 = options.beta1, b2 = options.beta2, eps = options.eps, wd = options.weight_decay;
    const bool decoupled = options.decoupled;
    // NOTE: same order of operations as torch.optim.Adam(W) (single-tensor path) so that results
    // agree to rounding: denom = sqrt(v) / sqrt(bc2) + eps, step = lr / bc1.
    const float bc1 = 1.0f - std::pow(b1, float(n_steps));
    const float bc2 = 1.0f - std::pow(b2, float(n_steps));
    const float step_size = lr / bc1, bc2_sqrt = std::sqrt(bc2), step_lr = lr;
    for (size_t i = 0; i < params_.size(); i++) {
        const Tensor& p = params_[i].second;
        if (!p.grad().defined()) continue;
        if (!exp_avg_[i].defined()) {
            exp_avg_[i] = Tensor::zeros(p.shape());
            exp_avg_sq_[i] = Tensor::zeros(p.shape());
        }
        float* w = p.data();
        const float* g = p.grad().data();
        float *m = exp_avg_[i].data(), *v = exp_avg_sq_[i].data();
        parallel_for(p.numel(), kUpdateGrain, [&](int64_t b, int64_t e) {
            for (int64_t j = b; j < e; j++) {
                float gj = g[j];
                if (decoupled) w[j] *= 1.0f - step_lr * wd;
                else gj += wd * w[j];
                m[j] = b1 * m[j] + (1.0f - b1) * gj;
                v[j] = b2 * v[j] + (1.0f - b2) * gj * gj;
                float denom = std::sqrt(v[j]) / bc2_sqrt + eps;
                w[j] -= step_size * (m[j] / denom);
            }
        });
    }
}

std::vector<NamedTensor> Adam::param_state(size_t i) const {
    if (!exp_avg_[i].defined()) return {};
    return {{"exp_avg", exp_avg_[i]}, {"exp_avg_sq", exp_avg_sq_[i]}};
}

Tensor* Adam::find_state(size_t i, const std::string& buffer) {
    if (buffer != "exp_avg" && buffer != "exp_avg_sq") return nullptr;
    if (!exp_avg_[i].defined()) {
        exp_avg_[i] = Tensor::zeros(params_[i].second.shape());
        exp_avg_sq_[i] = Tensor::zeros(params_[i].second.shape());
    }
    return buffer == "exp_avg" ? &exp_avg_[i] : &exp_avg_sq_[i];
}

// ---- schedules -------------------------------------------------------------------------------------

float LRSchedule::factor(int64_t step) const {
    auto cosine = [&](int64_t s, int64_t horizon) {
        if (horizon <= 0) return 1.0f;
        double t = std::min(1.0, double(s) / double(horizon));
        return float(min_factor + (1.0 - min_factor) * 0.5 * (1.0 + std::cos(M_PI * t)));
    };
    switch (kind) {
        case Kind::Constant: return 1.0f;
        case Kind::Step: return step_size > 0 ? std::pow(gamma, float(step / step_size)) : 1.0f;
        case Kind::Cosine: return cosine(step, total_steps);
        case Kind::WarmupLinear:
            if (step < warmup_steps) return float(step + 1) / float(warmup_steps);
            if (total_steps <= warmup_steps) return 1.0f;
            return std::max(0.0f, float(total_steps - step) / float(total_steps - warmup_steps));
        case Kind::WarmupCosine:
            if (step < warmup_steps) return float(step + 1) / float(warmup_steps);
            return cosine(step - warmup_steps, total_steps - warmup_steps);
    }
    return 1.0f;
}

LRSchedule::Kind LRSchedule::parse(const std::string& s) {
    if (s == "constant") return Kind::Constant;
    if (s == "step") return Kind::Step;
    if (s == "cosine") return Kind::Cosine;
    if (s == "warmup-linear") return Kind::WarmupLinear;
    if (s == "warmup-cosine") return Kind::WarmupCosine;
    RAISE("unknown learning-rate schedule '", s, "' (expected constant, step, cosine, warmup-linear, warmup-cosine)");
}

std::string LRSchedule::name(Kind k) {
    switch (k) {
        case Kind::Constant: return "constant";
        case Kind::Step: return "step";
        case Kind::Cosine: return "cosine";
        case Kind::WarmupLinear: return "warmup-linear";
        case Kind::WarmupCosine: return "warmup-cosine";
    }
    return "?";
}

}  // namespace nn
