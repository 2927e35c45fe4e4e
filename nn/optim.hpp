// Optimizers with PyTorch's update rules (torch.optim.SGD, Adam, AdamW, same operation order) and
// step-based learning-rate schedules. Per-parameter state tensors are exposed by name so that pruning
// can zero them under a mask and checkpoints can save them.
#pragma once

#include <string>
#include <vector>

#include "nn/tensor.hpp"

namespace nn {

class Optimizer {
public:
    explicit Optimizer(std::vector<NamedTensor> params);
    virtual ~Optimizer() = default;

    virtual void step() = 0;  // one update from the accumulated gradients (no-grad inside)
    void zero_grad();

    // State tensors of parameter i, as (buffer name, tensor), e.g. ("momentum_buffer", t). Buffers
    // that do not exist yet (lazily created at the first step) are not listed.
    virtual std::vector<NamedTensor> param_state(size_t i) const = 0;
    // Every state tensor as "<param name>.<buffer name>" plus scalars (step count) for checkpoints.
    std::vector<NamedTensor> state_dict() const;
    // Restores what state_dict() produced; missing buffers stay lazily uninitialised.
    void load_state_dict(const std::vector<NamedTensor>& state);

    const std::vector<NamedTensor>& params() const { return params_; }
    float lr = 0.0f;       // current learning rate; schedules set it before each step
    int64_t n_steps = 0;   // updates taken so far

protected:
    virtual Tensor* find_state(size_t i, const std::string& buffer) = 0;  // creates if needed
    std::vector<NamedTensor> params_;
};

struct SGDOptions {
    float lr = 0.1f, momentum = 0.0f, dampening = 0.0f, weight_decay = 0.0f;
    bool nesterov = false;
};

class SGD : public Optimizer {
public:
    SGD(std::vector<NamedTensor> params, SGDOptions opt);
    void step() override;
    std::vector<NamedTensor> param_state(size_t i) const override;
    SGDOptions options;

protected:
    Tensor* find_state(size_t i, const std::string& buffer) override;

private:
    std::vector<Tensor> momentum_;  // undefined until the first step (PyTorch starts buf = d_p)
};

struct AdamOptions {
    float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f;
    bool decoupled = false;  // true: AdamW (decay applied to the weights, not added to the gradient)
};

class Adam : public Optimizer {
public:
    Adam(std::vector<NamedTensor> params, AdamOptions opt);
    void step() override;
    std::vector<NamedTensor> param_state(size_t i) const override;
    AdamOptions options;

protected:
    Tensor* find_state(size_t i, const std::string& buffer) override;

private:
    std::vector<Tensor> exp_avg_, exp_avg_sq_;
};

// Learning-rate multiplier as a function of the optimizer step (0-based).
struct LRSchedule {
    enum class Kind { Constant, Step, Cosine, WarmupLinear, WarmupCosine };
    Kind kind = Kind::Constant;
    int64_t total_steps = 0;   // cosine / linear decay horizon
    int64_t warmup_steps = 0;  // linear ramp from 0 (WarmupLinear, WarmupCosine)
    int64_t step_size = 0;     // Step: multiply by gamma every step_size steps
    float gamma = 0.1f;
    float min_factor = 0.0f;   // cosine floor

    float factor(int64_t step) const;
    // "constant", "step", "cosine", "warmup-linear", "warmup-cosine"
    static Kind parse(const std::string& name);
    static std::string name(Kind k);
};

}  // namespace nn
