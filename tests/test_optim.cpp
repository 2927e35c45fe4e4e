// Optimizers against one- and two-step values computed by hand, and the LR schedules.
#include "helpers.hpp"
#include "nn/check.hpp"
#include "nn/optim.hpp"

using nn::Tensor;

namespace {
// One scalar parameter with gradient g.
nn::NamedTensor scalar_param(float w) {
    Tensor p = Tensor::from_vector({w}, {1});
    p.requires_grad_(true);
    return {"w", p};
}
void set_grad(const nn::NamedTensor& p, float g) { p.second.set_grad(Tensor::from_vector({g}, {1})); }
float value(const nn::NamedTensor& p) { return p.second.data()[0]; }
}  // namespace

TEST_CASE("SGD: momentum and weight decay match hand-computed steps", "[optim]") {
    auto p = scalar_param(1.0f);
    nn::SGDOptions o;
    o.lr = 0.1f;
    o.momentum = 0.9f;
    o.weight_decay = 0.01f;
    nn::SGD opt({p}, o);
    set_grad(p, 0.5f);
    opt.step();
    // d = 0.5 + 0.01*1 = 0.51; buf = d (first step); w = 1 - 0.1*0.51
    REQUIRE(value(p) == Approx(0.949f).epsilon(1e-6));
    set_grad(p, 0.5f);
    opt.step();
    // d = 0.5 + 0.01*0.949 = 0.50949; buf = 0.9*0.51 + 0.50949 = 0.96849; w = 0.949 - 0.096849
    REQUIRE(value(p) == Approx(0.852151f).epsilon(1e-6));
    REQUIRE(opt.param_state(0).size() == 1);
    REQUIRE(opt.param_state(0)[0].second.data()[0] == Approx(0.96849f).epsilon(1e-6));
}

TEST_CASE("SGD: Nesterov and plain steps", "[optim]") {
    auto p = scalar_param(1.0f);
    nn::SGDOptions o;
    o.lr = 0.1f;
    o.momentum = 0.9f;
    o.nesterov = true;
    nn::SGD opt({p}, o);
    set_grad(p, 0.5f);
    opt.step();
    // buf = 0.5; d = 0.5 + 0.9*0.5 = 0.95; w = 1 - 0.095
    REQUIRE(value(p) == Approx(0.905f).epsilon(1e-6));

    auto q = scalar_param(2.0f);
    nn::SGD plain({q}, nn::SGDOptions{0.5f, 0.0f, 0.0f, 0.0f, false});
    set_grad(q, 1.0f);
    plain.step();
    REQUIRE(value(q) == 1.5f);
    REQUIRE(plain.param_state(0).empty());
    REQUIRE_THROWS_AS(nn::SGD({q}, nn::SGDOptions{0.1f, 0.0f, 0.0f, 0.0f, true}), nn::Error);
}

TEST_CASE("Adam and AdamW: first steps by hand", "[optim]") {
    nn::AdamOptions o;
    o.lr = 0.1f;
    auto p = scalar_param(1.0f);
    nn::Adam adam({p}, o);
    set_grad(p, 0.5f);
    adam.step();
    // m = 0.05, v = 0.00025; m_hat = 0.5, sqrt(v_hat) = 0.5 -> w = 1 - 0.1 * 1
    REQUIRE(value(p) == Approx(0.9f).epsilon(1e-6));
    set_grad(p, -0.25f);
    adam.step();
    // m = 0.9*0.05 - 0.1*0.25 = 0.02; v = 0.999*0.00025 + 0.001*0.0625 = 0.00031225
    // m_hat = 0.02/0.19; sqrt(v_hat) = sqrt(0.00031225/0.001999)
    double m_hat = 0.02 / 0.19, v_hat = 0.00031225 / (1 - 0.999 * 0.999);
    REQUIRE(value(p) == Approx(0.9 - 0.1 * m_hat / std::sqrt(v_hat)).epsilon(1e-5));

    o.weight_decay = 0.1f;
    o.decoupled = true;
    auto q = scalar_param(1.0f);
    nn::Adam adamw({q}, o);
    set_grad(q, 0.5f);
    adamw.step();
    // decay first: 1 * (1 - 0.1*0.1) = 0.99, then the Adam step of 0.1
    REQUIRE(value(q) == Approx(0.89f).epsilon(1e-6));

    o.decoupled = false;  // L2: the decay joins the gradient, and Adam normalises it away on step 1
    auto r = scalar_param(1.0f);
    nn::Adam adam_l2({r}, o);
    set_grad(r, 0.5f);
    adam_l2.step();
    REQUIRE(value(r) == Approx(0.9f).epsilon(1e-6));
}

TEST_CASE("optimizer state round-trips through state_dict", "[optim]") {
    auto p = scalar_param(1.0f);
    nn::Adam a({p}, nn::AdamOptions{});
    set_grad(p, 0.5f);
    a.step();
    auto state = a.state_dict();
    REQUIRE(state.size() == 2);
    REQUIRE(state[0].first == "w.exp_avg");
    auto p2 = scalar_param(1.0f);
    nn::Adam b({p2}, nn::AdamOptions{});
    b.load_state_dict(state);
    REQUIRE(b.param_state(0)[1].second.data()[0] == state[1].second.data()[0]);
    REQUIRE_THROWS_AS(b.load_state_dict({{"w.nonsense", Tensor::zeros({1})}}), nn::Error);
    REQUIRE_THROWS_AS(b.load_state_dict({{"v.exp_avg", Tensor::zeros({1})}}), nn::Error);
    REQUIRE_THROWS_AS(b.load_state_dict({{"w.exp_avg", Tensor::zeros({2})}}), nn::Error);
}

TEST_CASE("learning-rate schedules", "[optim]") {
    nn::LRSchedule s;
    s.kind = nn::LRSchedule::Kind::Cosine;
    s.total_steps = 100;
    REQUIRE(s.factor(0) == 1.0f);
    REQUIRE(s.factor(50) == Approx(0.5f));
    REQUIRE(s.factor(100) == Approx(0.0f).margin(1e-7));
    s.kind = nn::LRSchedule::Kind::Step;
    s.step_size = 10;
    s.gamma = 0.5f;
    REQUIRE(s.factor(9) == 1.0f);
    REQUIRE(s.factor(10) == 0.5f);
    REQUIRE(s.factor(25) == 0.25f);
    s.kind = nn::LRSchedule::Kind::WarmupLinear;
    s.warmup_steps = 10;
    s.total_steps = 110;
    REQUIRE(s.factor(0) == Approx(0.1f));
    REQUIRE(s.factor(9) == 1.0f);
    REQUIRE(s.factor(60) == Approx(0.5f));
    REQUIRE(s.factor(110) == 0.0f);
    s.kind = nn::LRSchedule::Kind::WarmupCosine;
    REQUIRE(s.factor(4) == Approx(0.5f));
    REQUIRE(s.factor(60) == Approx(0.5f));
    REQUIRE(nn::LRSchedule::parse("warmup-cosine") == nn::LRSchedule::Kind::WarmupCosine);
    REQUIRE_THROWS_AS(nn::LRSchedule::parse("exponential"), nn::Error);
}
