// The transformer's ops: layer_norm, embedding (padding_idx), index_rows and fused multi-head
// attention (padding mask, head mask, dropout). Finite-difference gradient checks, forward values
// computed with PyTorch 1.13 (float64) on inputs given by formulas, and the fully-masked edge case.
#include <cmath>

#include "helpers.hpp"
#include "nn/check.hpp"
#include "nn/threads.hpp"

using nn::IntTensor;
using nn::Shape;
using nn::Tensor;
using testing::gradcheck;
using testing::randn;
using V = std::vector<Tensor>;

namespace {

Tensor formula(const Shape& s, float a, float b, bool cosine = false) {
    Tensor t = Tensor::empty(s);
    for (int64_t i = 0; i < t.numel(); i++) t.data()[i] = cosine ? std::cos(a * float(i) + b) : std::sin(a * float(i) + b);
    return t;
}

}  // namespace

TEST_CASE("layer_norm matches PyTorch and passes gradcheck", "[transformer][gradcheck]") {
    Tensor x = formula({3, 4}, 0.7f, 0.0f) * 3.0f + 1.0f;
    Tensor w = Tensor::from_vector({1.0f, 0.5f, -1.0f, 2.0f}, {4});
    Tensor b = Tensor::from_vector({0.0f, 0.1f, 0.2f, 0.3f}, {4});
    // torch.nn.functional.layer_norm(x, (4,), w, b, 1e-5)
    std::vector<float> want = {-1.639974f, 0.127628f, -0.753194f, 1.563047f, 1.539984f, 0.211954f,
                               0.975553f,  -1.676678f, -1.432053f, -0.09401f, -0.443275f, 2.653594f};
    testing::require_close(nn::layer_norm(x, w, b, 1e-5f).to_vector(), want, 1e-5f, 1e-5f, "layer_norm");

    auto f = [](const V& in) { return nn::layer_norm(in[0], in[1], in[2], 1e-5f); };
    gradcheck(f, {randn({5, 7}, 1), randn({7}, 2), randn({7}, 3)});
    gradcheck(f, {randn({2, 3, 33}, 4), randn({33}, 5), randn({33}, 6)});
    // a row far from zero: the shifted variance must not cancel
    Tensor far = randn({2, 6}, 7) + 1000.0f;
    auto out = nn::layer_norm(far, Tensor::ones({6}), Tensor::zeros({6})).to_vector();
    double s = 0, ss = 0;
    for (int i = 0; i < 6; i++) s += out[size_t(i)], ss += double(out[size_t(i)]) * out[size_t(i)];
    REQUIRE(std::fabs(s / 6) < 1e-3);
    REQUIRE(std::fabs(ss / 6 - 1.0) < 1e-2);
    REQUIRE_THROWS_AS(nn::layer_norm(randn({2, 5}, 1), Tensor::ones({4}), Tensor::zeros({4})), nn::Error);
}

TEST_CASE("layer_norm backward is the same on 1 and 2 threads", "[transformer]") {
    auto grads = [](int threads) {
        nn::set_num_threads(threads);
        Tensor x = randn({64, 48}, 1).requires_grad_(), g = randn({48}, 2).requires_grad_(),
               b = randn({48}, 3).requires_grad_();
        nn::sum(nn::mul(nn::layer_norm(x, g, b), randn({64, 48}, 4))).backward();
        nn::set_num_threads(1);
        return std::vector<std::vector<float>>{x.grad().to_vector(), g.grad().to_vector(), b.grad().to_vector()};
    };
    auto one = grads(1), two = grads(2);
    testing::require_equal(one[0], two[0], "dx");
    testing::require_close(one[1], two[1], 1e-5f, 1e-5f, "dgamma");
    testing::require_close(one[2], two[2], 1e-5f, 1e-5f, "dbeta");
}

TEST_CASE("embedding gathers rows and skips the padding row in backward", "[transformer][gradcheck]") {
    Tensor w = randn({6, 5}, 1);
    IntTensor ids = IntTensor::from_vector({3, 0, 3, 5, 1, 0}, {2, 3});
    Tensor e = nn::embedding(ids, w, 0);
    REQUIRE(e.shape() == Shape{2, 3, 5});
    for (int64_t c = 0; c < 5; c++) {
        REQUIRE(e.at({0, 0, c}) == w.at({3, c}));
        REQUIRE(e.at({1, 2, c}) == w.at({0, c}));  // the padding row is looked up as it is
    }
    // gradient: repeated ids accumulate, padding_idx gets nothing, unused rows stay zero
    w.requires_grad_();
    nn::sum(nn::embedding(ids, w, 0)).backward();
    for (int64_t c = 0; c < 5; c++) {
        REQUIRE(w.grad().at({0, c}) == 0.0f);
        REQUIRE(w.grad().at({3, c}) == 2.0f);
        REQUIRE(w.grad().at({5, c}) == 1.0f);
        REQUIRE(w.grad().at({2, c}) == 0.0f);
    }
    gradcheck([ids](const V& in) { return nn::embedding(ids, in[0]); }, {randn({6, 5}, 2)});
    // wide rows exercise the column blocks of the parallel scatter
    IntTensor many = IntTensor::from_vector({1, 2, 1, 1, 0, 2, 2}, {7});
    gradcheck([many](const V& in) { return nn::embedding(many, in[0]); }, {randn({3, 37}, 3)});
    REQUIRE_THROWS_AS(nn::embedding(IntTensor::from_vector({6}, {1}), w), nn::Error);
    REQUIRE_THROWS_AS(nn::embedding(IntTensor::from_vector({-1}, {1}), w), nn::Error);
    REQUIRE_THROWS_AS(nn::embedding(ids, w, 6), nn::Error);
}

TEST_CASE("embedding backward is identical on 1 and 2 threads", "[transformer]") {
    IntTensor ids(Shape{300});
    nn::Rng rng(3);
    for (auto& v : ids.values) v = int64_t(rng.below(20));
    auto grad = [&](int threads) {
        nn::set_num_threads(threads);
        Tensor w = randn({20, 64}, 1).requires_grad_();
        nn::sum(nn::mul(nn::embedding(ids, w, 4), randn({300, 64}, 2))).backward();
        nn::set_num_threads(1);
        return w.grad().to_vector();
    };
    testing::require_equal(grad(1), grad(2), "embedding gradient");
}

TEST_CASE("index_rows picks rows and scatters gradients back", "[transformer][gradcheck]") {
    IntTensor rows = IntTensor::from_vector({4, 0, 4, 2}, {4});
    gradcheck([rows](const V& in) { return nn::index_rows(in[0], rows); }, {randn({5, 3}, 1)});
    REQUIRE_THROWS_AS(nn::index_rows(randn({5, 3}, 1), IntTensor::from_vector({5}, {1})), nn::Error);
    REQUIRE_THROWS_AS(nn::index_rows(randn({5, 3}, 1), IntTensor::from_vector({1, 2}, {1, 2})), nn::Error);
}

TEST_CASE("attention matches PyTorch with a padding mask", "[transformer]") {
    const int64_t B = 2, T = 5, NH = 2, D = 3, A = NH * D;
    Tensor q = formula({B, T, A}, 0.37f, 0.0f), k = formula({B, T, A}, 0.11f, 0.0f, true),
           v = formula({B, T, A}, 0.05f, 1.0f);
    IntTensor mask = IntTensor::from_vector({1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, {B, T});
    // scores.masked_fill(mask == 0, -inf).softmax(-1) @ v in PyTorch (float64), heads as column blocks
    std::vector<float> want = {
        0.913246f, 0.918998f, 0.922453f, 0.935207f, 0.944727f, 0.951886f, 0.913513f, 0.922011f, 0.928204f,
        0.855097f, 0.835232f, 0.813279f, 0.872182f, 0.851091f, 0.827873f, 0.866471f, 0.849401f, 0.830209f,
        0.909333f, 0.920609f, 0.929585f, 0.935284f, 0.944353f, 0.951062f, 0.915088f, 0.916529f, 0.91568f,
        0.833642f, 0.809875f, 0.784083f, 0.440164f, 0.395995f, 0.350837f, 0.180574f, 0.1327f,   0.084495f,
        0.191843f, 0.143757f, 0.095312f, 0.04761f,  -0.001217f, -0.050042f, 0.357712f, 0.312147f, 0.265802f,
        0.338296f, 0.291893f, 0.244761f, 0.4134f,   0.368758f, 0.323194f, 0.113188f, 0.064799f, 0.016248f,
        0.180617f, 0.132375f, 0.083803f, 0.093413f, 0.044892f, -0.003742f};
    Tensor out = nn::attention(q, k, v, NH, mask, Tensor(), 0.0f, false);
    testing::require_close(out.to_vector(), want, 1e-5f, 1e-5f, "attention");
    // masking a key is the same as deleting it: batch 1 with T = 3
    Tensor out3 = nn::attention(q.narrow(0, 1, 1).narrow(1, 0, 3), k.narrow(0, 1, 1).narrow(1, 0, 3),
                                v.narrow(0, 1, 1).narrow(1, 0, 3), NH, IntTensor(), Tensor(), 0.0f, false);
    testing::require_close(out3.to_vector(), out.narrow(0, 1, 1).narrow(1, 0, 3).contiguous().to_vector(), 1e-6f,
                           1e-6f, "masked vs removed keys");
}

TEST_CASE("attention gradcheck: padding mask, head mask, dropout", "[transformer][gradcheck]") {
    const int64_t B = 2, T = 5, NH = 2, D = 3;
    IntTensor mask = IntTensor::from_vector({1, 1, 1, 1, 1, 1, 0, 1, 1, 0}, {B, T});
    Shape s{B, T, NH * D};
    gradcheck([mask](const V& in) { return nn::attention(in[0], in[1], in[2], 2, mask, Tensor(), 0.0f, false); },
              {randn(s, 1), randn(s, 2), randn(s, 3)});
    // head mask: its gradient is sum(dout * head output); 0.5 and 0 gates (a pruned head still gets one)
    gradcheck([mask](const V& in) { return nn::attention(in[0], in[1], in[2], 2, mask, in[3], 0.0f, false); },
              {randn(s, 4), randn(s, 5), randn(s, 6), Tensor::from_vector({0.5f, 0.0f}, {2})});
    // dropout: the same seed every evaluation, so the finite differences see one fixed mask
    gradcheck(
        [mask](const V& in) {
            nn::Rng rng(42);
            return nn::attention(in[0], in[1], in[2], 2, mask, Tensor(), 0.3f, true, rng);
        },
        {randn(s, 7), randn(s, 8), randn(s, 9)});
    // one head of width 17, longer sequence (SIMD body + tail of the softmax)
    IntTensor long_mask(Shape{1, 19}, 1);
    long_mask.values[3] = long_mask.values[18] = 0;
    Shape l{1, 19, 17};
    gradcheck([long_mask](const V& in) { return nn::attention(in[0], in[1], in[2], 1, long_mask, Tensor(), 0.0f, false); },
              {randn(l, 10, 0.5f), randn(l, 11, 0.5f), randn(l, 12, 0.5f)});
}

TEST_CASE("attention: fully masked rows give zeros, pruned heads give zeros", "[transformer]") {
    Shape s{2, 4, 6};
    IntTensor mask = IntTensor::from_vector({0, 0, 0, 0, 1, 1, 0, 1}, {2, 4});
    Tensor q = randn(s, 1).requires_grad_(), k = randn(s, 2).requires_grad_(), v = randn(s, 3).requires_grad_();
    Tensor out = nn::attention(q, k, v, 2, mask, Tensor(), 0.0f, true);
    for (int64_t t = 0; t < 4; t++)
        for (int64_t c = 0; c < 6; c++) REQUIRE(out.at({0, t, c}) == 0.0f);
    nn::sum(out).backward();
    for (float g : q.grad().to_vector()) REQUIRE(std::isfinite(g));
    for (float g : k.grad().to_vector()) REQUIRE(std::isfinite(g));
    // no gradient reaches the masked key of batch 1 (position 2) through k or v
    for (int64_t c = 0; c < 6; c++) {
        REQUIRE(k.grad().at({1, 2, c}) == 0.0f);
        REQUIRE(v.grad().at({1, 2, c}) == 0.0f);
    }
    Tensor gated = nn::attention(q.detach(), k.detach(), v.detach(), 2, IntTensor(),
                                 Tensor::from_vector({1.0f, 0.0f}, {2}), 0.0f, false);
    Tensor full = nn::attention(q.detach(), k.detach(), v.detach(), 2, IntTensor(), Tensor(), 0.0f, false);
    for (int64_t b = 0; b < 2; b++)
        for (int64_t t = 0; t < 4; t++)
            for (int64_t c = 0; c < 3; c++) {
                REQUIRE(gated.at({b, t, c}) == full.at({b, t, c}));
                REQUIRE(gated.at({b, t, c + 3}) == 0.0f);
            }
}

TEST_CASE("attention is deterministic across thread counts, dropout included", "[transformer]") {
    Shape s{3, 9, 8};
    IntTensor mask(Shape{3, 9}, 1);
    mask.values[20] = 0;
    auto run = [&](int threads) {
        nn::set_num_threads(threads);
        Tensor q = randn(s, 1).requires_grad_(), k = randn(s, 2).requires_grad_(), v = randn(s, 3).requires_grad_();
        nn::Rng rng(9);
        Tensor out = nn::attention(q, k, v, 2, mask, Tensor(), 0.2f, true, rng);
        nn::sum(nn::mul(out, randn(s, 4))).backward();
        nn::set_num_threads(1);
        return std::vector<std::vector<float>>{out.to_vector(), q.grad().to_vector(), k.grad().to_vector(),
                                               v.grad().to_vector()};
    };
    auto a = run(1), b = run(2);
    for (size_t i = 0; i < a.size(); i++) testing::require_equal(a[i], b[i], "attention output/gradient " + std::to_string(i));
}

TEST_CASE("attention rejects bad shapes and masks", "[transformer]") {
    Tensor x = randn({2, 3, 4}, 1);
    REQUIRE_THROWS_AS(nn::attention(x, x, x, 3, IntTensor(), Tensor(), 0.0f, false), nn::Error);  // 4 % 3
    REQUIRE_THROWS_AS(nn::attention(x, x, randn({2, 3, 2}, 2), 2, IntTensor(), Tensor(), 0.0f, false), nn::Error);
    REQUIRE_THROWS_AS(nn::attention(x, x, x, 2, IntTensor(Shape{2, 2}, 1), Tensor(), 0.0f, false), nn::Error);
    REQUIRE_THROWS_AS(nn::attention(x, x, x, 2, IntTensor(Shape{2, 3}, 2), Tensor(), 0.0f, false), nn::Error);
    REQUIRE_THROWS_AS(nn::attention(x, x, x, 2, IntTensor(), Tensor::ones({3}), 0.0f, false), nn::Error);
    REQUIRE_THROWS_AS(nn::attention(x, x, x, 2, IntTensor(), Tensor(), 1.0f, true), nn::Error);
}
