// Convolutional layers: conv2d against a direct seven-loop reference on awkward geometries (and on 1
// and 2 threads), finite-difference gradient checks for conv, pooling and BatchNorm (training and
// eval mode, with and without the fused ReLU), golden values computed by hand (and checked with
// PyTorch), running statistics with PyTorch's momentum semantics, and bad inputs.
#include "helpers.hpp"
#include "nn/check.hpp"
#include "nn/conv.hpp"
#include "nn/kernels.hpp"
#include "nn/threads.hpp"

using nn::Shape;
using nn::Tensor;
using testing::gradcheck;
using testing::randn;
using V = std::vector<Tensor>;

namespace {

// y[b][o][oh][ow] = bias[o] + sum_{c,kh,kw} x[b][c][oh*s-p+kh][ow*s-p+kw] w[o][c][kh][kw], in double.
std::vector<float> conv_reference(const Tensor& x, const Tensor& w, const Tensor& b, int64_t s, int64_t p) {
    int64_t B = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    int64_t OC = w.size(0), KH = w.size(2), KW = w.size(3);
    int64_t OH = (H + 2 * p - KH) / s + 1, OW = (W + 2 * p - KW) / s + 1;
    std::vector<float> y;
    for (int64_t bi = 0; bi < B; bi++)
        for (int64_t o = 0; o < OC; o++)
            for (int64_t oh = 0; oh < OH; oh++)
                for (int64_t ow = 0; ow < OW; ow++) {
                    double acc = b.defined() ? b.at({o}) : 0.0;
                    for (int64_t c = 0; c < C; c++)
                        for (int64_t kh = 0; kh < KH; kh++)
                            for (int64_t kw = 0; kw < KW; kw++) {
                                int64_t ih = oh * s - p + kh, iw = ow * s - p + kw;
                                if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                                    acc += double(x.at({bi, c, ih, iw})) * double(w.at({o, c, kh, kw}));
                            }
                    y.push_back(float(acc));
                }
    return y;
}

// Winograd wherever it can apply (small test geometries have fewer tiles than the default minimum).
struct WinogradEverywhere {
    WinogradEverywhere() { nn::kernels::set_winograd(true, 0); }
    ~WinogradEverywhere() { nn::kernels::set_winograd(true); }
};

struct ConvCase {
    int64_t B, C, H, W, OC, K, stride, pad;
    bool bias;
};

// stride 1 and 2, padding 0 and 1 (and 2 for 5x5), 1x1 / 3x3 / 5x5 kernels, odd and non-square sizes.
const std::vector<ConvCase> kConvCases = {
    {2, 3, 5, 5, 4, 3, 1, 1, true},  {2, 3, 5, 5, 4, 3, 1, 0, false}, {3, 2, 7, 6, 3, 3, 2, 1, true},
    {1, 2, 7, 7, 3, 3, 2, 0, false}, {2, 4, 5, 3, 5, 1, 1, 0, true},  {3, 3, 6, 5, 2, 1, 2, 0, false},
    {2, 2, 7, 7, 3, 5, 1, 2, true},  {2, 1, 9, 8, 2, 5, 2, 1, false}, {1, 1, 3, 3, 1, 3, 1, 0, true},
    {5, 3, 4, 4, 7, 3, 1, 1, true},  {2, 1, 5, 5, 1, 1, 1, 1, false}, {3, 2, 1, 1, 3, 1, 1, 0, true},
    {2, 2, 4, 6, 3, 3, 1, 1, true},  {1, 3, 6, 4, 2, 5, 1, 1, false}, {2, 2, 3, 8, 2, 3, 1, 2, true},
    // enough input channels for the channel-last weight-gradient path; more than one row block of A
    {2, 9, 5, 5, 11, 3, 1, 1, true}, {2, 17, 4, 6, 5, 3, 1, 0, false}, {1, 16, 6, 6, 4, 5, 1, 2, true},
    {2, 40, 3, 3, 9, 1, 1, 0, true}, {2, 12, 5, 4, 3, 3, 2, 1, false},
    // images grouped in the weight gradient: incomplete groups (3 images on 2 threads), 3 row blocks
    {3, 8, 4, 4, 20, 3, 1, 1, true}, {5, 9, 3, 5, 17, 3, 2, 1, false},
    // with 8-lane vectors these pick the 6-row micro-tiles (2 and 1 vectors wide) in the forward
    {2, 5, 2, 14, 12, 3, 1, 1, true}, {2, 3, 1, 6, 6, 3, 1, 1, false},
    // 3x3 stride 1 with 8+ channels each way: Winograd in the forward and the input gradient
    {2, 8, 6, 5, 8, 3, 1, 0, true}, {1, 8, 3, 4, 9, 3, 1, 2, false},
    // a 7x7 kernel: the weight gradient by dot products one row of taps at a time
    {2, 2, 9, 8, 3, 7, 1, 3, true},
};

}  // namespace

TEST_CASE("conv2d: hand-computed golden values", "[cnn][conv]") {
    // x = 1..9 in a 3x3 image, w = [[1, 0], [-1, 2]]:
    //   y[0][0] = 1*1 + 2*0 + 4*(-1) + 5*2 + bias 0.5 = 7.5, and so on (PyTorch agrees).
    Tensor x = Tensor::from_vector({1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
    Tensor w = Tensor::from_vector({1, 0, -1, 2}, {1, 1, 2, 2});
    Tensor b = Tensor::from_vector({0.5f}, {1});
    REQUIRE(nn::conv2d(x, w, b).to_vector() == std::vector<float>{7.5f, 9.5f, 13.5f, 15.5f});
    // stride 2, padding 1: windows at (-1,-1), (-1,1), (1,-1), (1,1) of the zero-padded image, e.g.
    //   top-left sees only x[0][0] under w[1][1]: 2*1 = 2; bottom-right: 5 - 8 + 2*9 = 15.
    Tensor y = nn::conv2d(x, w, Tensor(), 2, 1);
    REQUIRE(y.shape() == Shape{1, 1, 2, 2});
    REQUIRE(y.to_vector() == std::vector<float>{2, 4, 14, 15});
    // fused ReLU
    REQUIRE(nn::conv2d(x, nn::mul(w, -1.0f), Tensor(), 2, 1, true).to_vector() == std::vector<float>{0, 0, 0, 0});
}

TEST_CASE("conv2d matches a direct reference on awkward geometries, 1 and 2 threads", "[cnn][conv]") {
    WinogradEverywhere winograd;
    uint64_t seed = 1;
    for (const ConvCase& k : kConvCases) {
        Tensor x = randn({k.B, k.C, k.H, k.W}, seed++);
        Tensor w = randn({k.OC, k.C, k.K, k.K}, seed++);
        Tensor b = k.bias ? randn({k.OC}, seed++) : Tensor();
        std::vector<float> ref = conv_reference(x, w, b, k.stride, k.pad);
        for (int threads : {1, 2}) {
            nn::set_num_threads(threads);
            INFO("B " << k.B << " C " << k.C << " " << k.H << "x" << k.W << " OC " << k.OC << " k " << k.K << " s "
                      << k.stride << " p " << k.pad << " threads " << threads);
            testing::require_close(nn::conv2d(x, w, b, k.stride, k.pad).to_vector(), ref, 1e-4f, 1e-4f, "conv2d");
        }
    }
    nn::set_num_threads(1);
}

TEST_CASE("gradcheck: conv2d (stride, padding, kernel sizes, bias)", "[cnn][conv][gradcheck]") {
    WinogradEverywhere winograd;
    uint64_t seed = 100;
    for (const ConvCase& k : kConvCases) {
        INFO("B " << k.B << " C " << k.C << " " << k.H << "x" << k.W << " OC " << k.OC << " k " << k.K << " s "
                  << k.stride << " p " << k.pad << " bias " << k.bias);
        int64_t s = k.stride, p = k.pad;
        V in = {randn({k.B, k.C, k.H, k.W}, seed++), randn({k.OC, k.C, k.K, k.K}, seed++)};
        if (k.bias) in.push_back(randn({k.OC}, seed++));
        gradcheck([s, p](const V& v) { return nn::conv2d(v[0], v[1], v.size() > 2 ? v[2] : Tensor(), s, p); }, in);
    }
}

TEST_CASE("conv2d gradients on 2 threads equal those on 1 thread", "[cnn][conv][threads]") {
    WinogradEverywhere winograd;
    uint64_t seed = 300;
    for (const ConvCase& k : kConvCases) {
        INFO("B " << k.B << " C " << k.C << " " << k.H << "x" << k.W << " OC " << k.OC << " k " << k.K << " s "
                  << k.stride << " p " << k.pad);
        Tensor x = randn({k.B, k.C, k.H, k.W}, seed++), w = randn({k.OC, k.C, k.K, k.K}, seed++);
        Tensor b = randn({k.OC}, seed++);
        Tensor y_grad = randn({k.B, k.OC, (k.H + 2 * k.pad - k.K) / k.stride + 1, (k.W + 2 * k.pad - k.K) / k.stride + 1},
                              seed++);
        std::vector<std::vector<float>> grads[2];
        for (int threads : {1, 2}) {
            nn::set_num_threads(threads);
            for (const Tensor* t : {&x, &w, &b}) t->requires_grad_(), t->zero_grad();
            nn::run_backward(nn::conv2d(x, w, b, k.stride, k.pad, true), y_grad);
            for (const Tensor* t : {&x, &w, &b}) grads[threads - 1].push_back(t->grad().to_vector());
        }
        testing::require_close(grads[1][0], grads[0][0], 1e-4f, 1e-4f, "dx");
        testing::require_close(grads[1][1], grads[0][1], 1e-4f, 1e-4f, "dw");
        testing::require_close(grads[1][2], grads[0][2], 1e-4f, 1e-4f, "db");
    }
    nn::set_num_threads(1);
}

TEST_CASE("gradcheck: conv2d on 2 threads (images split across the pool)", "[cnn][conv][gradcheck][threads]") {
    nn::set_num_threads(2);
    gradcheck([](const V& v) { return nn::conv2d(v[0], v[1], v[2], 1, 1); },
              {randn({5, 3, 5, 4}, 1), randn({4, 3, 3, 3}, 2), randn({4}, 3)});
    gradcheck([](const V& v) { return nn::conv2d(v[0], v[1], v[2], 2, 0); },
              {randn({3, 2, 5, 5}, 4), randn({3, 2, 1, 1}, 5), randn({3}, 6)});
    gradcheck([](const V& v) { return nn::conv2d(v[0], v[1], v[2]); },
              {randn({4, 3, 4, 4}, 7), randn({2, 3, 1, 1}, 8), randn({2}, 9)});
    nn::set_num_threads(1);
}

TEST_CASE("conv2d with fused ReLU equals relu(conv2d) in values and gradients", "[cnn][conv]") {
    for (int threads : {1, 2}) {
        nn::set_num_threads(threads);
        Tensor x = randn({3, 2, 6, 5}, 1).requires_grad_(), w = randn({4, 2, 3, 3}, 2).requires_grad_();
        Tensor b = randn({4}, 3).requires_grad_();
        Tensor dy = randn({3, 4, 6, 5}, 4);
        Tensor y1 = nn::relu(nn::conv2d(x, w, b, 1, 1));
        nn::sum(nn::mul(y1, dy)).backward();
        auto g1 = std::vector<std::vector<float>>{x.grad().to_vector(), w.grad().to_vector(), b.grad().to_vector()};
        x.zero_grad(), w.zero_grad(), b.zero_grad();
        Tensor y2 = nn::conv2d(x, w, b, 1, 1, true);
        nn::sum(nn::mul(y2, dy)).backward();
        testing::require_equal(y2.to_vector(), y1.to_vector(), "values");
        testing::require_close(x.grad().to_vector(), g1[0], 1e-5f, 1e-5f, "dx");
        testing::require_close(w.grad().to_vector(), g1[1], 1e-5f, 1e-5f, "dw");
        testing::require_close(b.grad().to_vector(), g1[2], 1e-5f, 1e-5f, "db");
        // small eps: the finite differences must not step across the ReLU's kink
        gradcheck([](const V& v) { return nn::conv2d(v[0], v[1], v[2], 1, 1, true); },
                  {randn({2, 2, 4, 4}, 5), randn({3, 2, 3, 3}, 6), randn({3}, 7)}, 1e-3f);
    }
    nn::set_num_threads(1);
}

TEST_CASE("conv2d: gradients accumulate and batch-1 images use the threaded gemm", "[cnn][conv]") {
    nn::set_num_threads(2);
    Tensor x = randn({1, 3, 6, 6}, 1), w = randn({5, 3, 3, 3}, 2);
    std::vector<float> ref = conv_reference(x, w, Tensor(), 1, 1);
    testing::require_close(nn::conv2d(x, w, Tensor(), 1, 1).to_vector(), ref, 1e-4f, 1e-4f, "batch 1");
    nn::set_num_threads(1);
    w.requires_grad_();
    nn::sum(nn::conv2d(x, w, Tensor(), 1, 1)).backward();
    auto once = w.grad().to_vector();
    nn::sum(nn::conv2d(x, w, Tensor(), 1, 1)).backward();
    auto twice = w.grad().to_vector();
    for (size_t i = 0; i < once.size(); i++) REQUIRE(twice[i] == Approx(2 * once[i]).margin(1e-4));
}

TEST_CASE("conv2d: bad inputs", "[cnn][conv][errors]") {
    Tensor w = randn({4, 3, 3, 3}, 1);
    REQUIRE_THROWS_WITH(nn::conv2d(randn({2, 2, 5, 5}, 2), w, Tensor()), Catch::Contains("channels"));
    REQUIRE_THROWS_WITH(nn::conv2d(randn({2, 3, 5}, 2), w, Tensor()), Catch::Contains("[B, C, H, W]"));
    REQUIRE_THROWS_WITH(nn::conv2d(randn({2, 3, 2, 2}, 2), w, Tensor()), Catch::Contains("larger than"));
    REQUIRE_THROWS_WITH(nn::conv2d(randn({2, 3, 5, 5}, 2), w, randn({3}, 3)), Catch::Contains("bias"));
    REQUIRE_THROWS_WITH(nn::conv2d(randn({2, 3, 5, 5}, 2), w, Tensor(), 0), Catch::Contains("stride"));
    REQUIRE_THROWS_WITH(nn::conv2d(randn({2, 3, 5, 5}, 2), w, Tensor(), 1, -1), Catch::Contains("padding"));
    nn::Rng rng(1);
    REQUIRE_THROWS_AS(nn::Conv2d(0, 4, 3, 1, 1, true, rng), nn::Error);
}

TEST_CASE("pooling: golden values", "[cnn][pool]") {
    Tensor x = Tensor::from_vector({1, 5, 2, 0,  //
                                    3, 4, 8, 1,  //
                                    0, 0, 7, 6,  //
                                    2, 9, 3, 3},
                                   {1, 1, 4, 4});
    REQUIRE(nn::max_pool2d(x, 2).to_vector() == std::vector<float>{5, 8, 9, 7});
    REQUIRE(nn::avg_pool2d(x, 2).to_vector() == std::vector<float>{13.f / 4, 11.f / 4, 11.f / 4, 19.f / 4});
    // 3x3 windows, stride 2, padding 1: max ignores padding; avg counts it (divisor 9)
    REQUIRE(nn::max_pool2d(x, 3, 2, 1).to_vector() == std::vector<float>{5, 8, 9, 9});
    REQUIRE(nn::avg_pool2d(x, 3, 2, 1).at({0, 0, 0, 0}) == Approx(13.f / 9));
    REQUIRE(nn::global_avg_pool2d(x).to_vector() == std::vector<float>{54.f / 16});
    REQUIRE(nn::global_avg_pool2d(x).shape() == Shape{1, 1, 1, 1});
    // the gradient of a max goes to the first maximal element of its window
    Tensor t = Tensor::from_vector({2, 2, 1, 2}, {1, 1, 2, 2}).requires_grad_();
    nn::sum(nn::max_pool2d(t, 2)).backward();
    REQUIRE(t.grad().to_vector() == std::vector<float>{1, 0, 0, 0});
    // odd sizes drop the last row/column like PyTorch (floor)
    REQUIRE(nn::max_pool2d(randn({2, 3, 7, 5}, 1), 2).shape() == Shape{2, 3, 3, 2});
}

TEST_CASE("max pooling: fast paths equal the reference on ties, NaN and awkward widths", "[cnn][pool]") {
    for (int threads : {1, 2}) {
        nn::set_num_threads(threads);
        for (int64_t W : {1, 2, 3, 7, 14, 15, 16, 17, 31, 32, 33, 37})
            for (int64_t K : {2, 3}) {
                if (W < K) continue;
                INFO("W " << W << " window " << K << " threads " << threads);
                // values from a small set, so that windows tie often; a few NaNs
                Tensor x = testing::uniform({3, 2, 5, W}, uint64_t(W * 10 + K), 0.0f, 3.0f);
                float* p = x.data();
                for (int64_t i = 0; i < x.numel(); i++) p[i] = std::floor(p[i]);
                p[3] = NAN;
                p[x.numel() - 2] = NAN;
                for (int64_t i = 7; i < x.numel(); i += 11) p[i] = -p[i];
                auto g = nn::kernels::pool_geometry(6, 5, W, K, K, K == 2 ? 2 : 1, 0);
                std::vector<float> fast(size_t(g.P * g.OH * g.OW)), ref(fast.size());
                nn::kernels::max_pool2d_forward(fast.data(), p, g);
                nn::kernels::max_pool2d_forward_reference(ref.data(), p, g);
                testing::require_equal(fast, ref, "forward");
                Tensor dy = randn({6 * g.OH * g.OW}, 3);
                std::vector<float> dfast(size_t(x.numel()), 0.5f), dref(dfast);
                nn::kernels::max_pool2d_backward(dfast.data(), dy.data(), p, g);
                nn::kernels::max_pool2d_backward_reference(dref.data(), dy.data(), p, g);
                testing::require_equal(dfast, dref, "backward");
            }
    }
    nn::set_num_threads(1);
    // NaN propagates through the max (as in PyTorch)
    Tensor t = Tensor::from_vector({1, NAN, 3, 0}, {1, 1, 2, 2});
    REQUIRE(std::isnan(nn::max_pool2d(t, 2).item()));
}

TEST_CASE("gradcheck: pooling", "[cnn][pool][gradcheck]") {
    // Max pooling is piecewise linear; random normal inputs keep every window's maximum well apart
    // from the runner-up relative to eps, except with tiny probability (fixed seeds).
    gradcheck([](const V& v) { return nn::max_pool2d(v[0], 2); }, {randn({2, 3, 6, 6}, 1)}, 1e-3f);
    gradcheck([](const V& v) { return nn::max_pool2d(v[0], 2); }, {randn({2, 2, 7, 5}, 2)}, 1e-3f);
    gradcheck([](const V& v) { return nn::max_pool2d(v[0], 3, 2, 1); }, {randn({2, 2, 7, 7}, 3)}, 1e-3f);
    gradcheck([](const V& v) { return nn::max_pool2d(v[0], 3, 1); }, {randn({1, 2, 5, 6}, 4)}, 1e-3f);
    gradcheck([](const V& v) { return nn::avg_pool2d(v[0], 2); }, {randn({2, 3, 6, 5}, 5)});
    gradcheck([](const V& v) { return nn::avg_pool2d(v[0], 3, 2, 1); }, {randn({2, 2, 7, 7}, 6)});
    gradcheck([](const V& v) { return nn::global_avg_pool2d(v[0]); }, {randn({3, 4, 5, 3}, 7)});
    REQUIRE_THROWS_WITH(nn::max_pool2d(randn({1, 1, 4, 4}, 1), 2, 2, 2), Catch::Contains("half the window"));
    REQUIRE_THROWS_WITH(nn::max_pool2d(randn({1, 4, 4}, 1), 2), Catch::Contains("[B, C, H, W]"));
    REQUIRE_THROWS_WITH(nn::avg_pool2d(randn({1, 1, 1, 1}, 1), 2), Catch::Contains("larger than"));
}

TEST_CASE("batch_norm2d: golden values and PyTorch's running statistics", "[cnn][bn]") {
    // B=2, C=2, H=1, W=2. Channel 0 holds 1, 2, 3, 4: mean 2.5, biased var 1.25, unbiased 5/3.
    // Channel 1 holds 0, -1, 2, 5: mean 1.5, biased var 5.25, unbiased 7.
    Tensor x = Tensor::from_vector({1, 2, 0, -1, 3, 4, 2, 5}, {2, 2, 1, 2});
    nn::BatchNorm2d bn(2);
    Tensor y = bn.forward(x);
    // (x - mean) / sqrt(var + 1e-5); PyTorch: -1.34163535, -0.44721174, -0.65465307, -1.09108841, ...
    testing::require_close(y.to_vector(),
                           {-1.34163535f, -0.44721174f, -0.65465307f, -1.09108841f, 0.44721186f, 1.34163547f,
                            0.21821767f, 1.52752376f},
                           1e-6f, 1e-5f, "normalised");
    // running = 0.9 running + 0.1 batch (variance unbiased): mean 0.25, 0.15; var 0.9 + 0.1*5/3, 0.9 + 0.7
    testing::require_close(bn.running_mean.to_vector(), {0.25f, 0.15f}, 1e-7f, 1e-6f, "running_mean");
    testing::require_close(bn.running_var.to_vector(), {1.0666666f, 1.6f}, 1e-7f, 1e-6f, "running_var");
    REQUIRE(bn.num_batches_tracked.item() == 1.0f);
    bn.forward(nn::mul(x, 2.0f));  // PyTorch: mean 0.725, 0.435; var 1.62666655, 4.23999977
    testing::require_close(bn.running_mean.to_vector(), {0.725f, 0.435f}, 1e-7f, 1e-6f, "running_mean 2");
    testing::require_close(bn.running_var.to_vector(), {1.62666655f, 4.23999977f}, 1e-7f, 1e-6f, "running_var 2");
    REQUIRE(bn.num_batches_tracked.item() == 2.0f);
    // eval mode normalises with the running statistics and leaves them alone
    bn.eval();
    testing::require_close(bn.forward(x).to_vector(),
                           {0.21561652f, 0.99967670f, -0.21125442f, -0.69689679f, 1.78373694f, 2.56779718f,
                            0.76003027f, 2.21695733f},
                           1e-6f, 1e-5f, "eval");
    REQUIRE(bn.num_batches_tracked.item() == 2.0f);
    REQUIRE(bn.running_mean.to_vector() == std::vector<float>{0.725f, 0.435f});
    // the module's state dict has PyTorch's names, with num_batches_tracked an integer scalar buffer
    std::vector<std::string> names;
    for (auto& [n, t] : bn.state_dict()) names.push_back(n);
    REQUIRE(names == std::vector<std::string>{"weight", "bias", "running_mean", "running_var", "num_batches_tracked"});
    REQUIRE(bn.is_integer_buffer("num_batches_tracked"));
    REQUIRE(bn.num_batches_tracked.shape() == Shape{});
}

TEST_CASE("gradcheck: batch_norm2d in training and eval mode, with and without fused ReLU", "[cnn][bn][gradcheck]") {
    for (bool training : {true, false})
        for (bool relu : {false, true}) {
            INFO("training " << training << " relu " << relu);
            Tensor rm = randn({3}, 10, 0.3f), rv = testing::uniform({3}, 11, 0.5f, 2.0f);
            auto f = [&, training, relu](const V& v) {
                // fresh copies each call: training mode updates the running statistics in place
                return nn::batch_norm2d(v[0], v[1], v[2], rm.clone(), rv.clone(), Tensor(), training, 0.1f, 1e-5f, relu);
            };
            // with the fused ReLU, a small eps keeps the finite differences off its kink
            gradcheck(f, {randn({4, 3, 3, 2}, 1, 2.0f), testing::uniform({3}, 2, 0.5f, 1.5f), randn({3}, 3)},
                      relu ? 1e-3f : 1e-2f, 3e-3f, 3e-2f);
        }
    // shifted data: the backward keeps its precision when |mean| >> std
    Tensor x = nn::add(randn({3, 2, 4, 4}, 4, 0.5f), 20.0f);
    Tensor rm = Tensor::zeros({2}), rv = Tensor::ones({2});
    gradcheck([&](const V& v) { return nn::batch_norm2d(v[0], v[1], v[2], rm, rv, Tensor(), true); },
              {x, testing::uniform({2}, 5, 0.5f, 1.5f), randn({2}, 6)}, 1e-2f, 3e-3f, 3e-2f);
    // on two threads (channels split across the pool)
    nn::set_num_threads(2);
    gradcheck([&](const V& v) { return nn::batch_norm2d(v[0], v[1], v[2], rm, rv, Tensor(), true, 0.1f, 1e-5f, true); },
              {randn({8, 2, 3, 3}, 7), testing::uniform({2}, 8, 0.5f, 1.5f), randn({2}, 9)}, 1e-3f, 3e-3f, 3e-2f);
    nn::set_num_threads(1);
}

TEST_CASE("batch_norm2d: bad inputs", "[cnn][bn][errors]") {
    nn::BatchNorm2d bn(3);
    REQUIRE_THROWS_WITH(bn.forward(randn({2, 4, 3, 3}, 1)), Catch::Contains("channels"));
    REQUIRE_THROWS_WITH(bn.forward(randn({2, 3, 3}, 1)), Catch::Contains("[B, C, H, W]"));
    REQUIRE_THROWS_WITH(bn.forward(randn({1, 3, 1, 1}, 1)), Catch::Contains("more than one value"));
    bn.eval();
    REQUIRE(bn.forward(randn({1, 3, 1, 1}, 1)).shape() == Shape{1, 3, 1, 1});  // fine in eval mode
    REQUIRE_THROWS_AS(nn::BatchNorm2d(0), nn::Error);
}

TEST_CASE("forward_fused runs Conv2d/BatchNorm2d + ReLU pairs fused, with the same results", "[cnn]") {
    nn::Rng rng(3);
    nn::Sequential seq;
    seq.add(std::make_shared<nn::Conv2d>(2, 4, 3, 1, 1, false, rng))
        .add(std::make_shared<nn::BatchNorm2d>(4))
        .add(nn::ReLU())
        .add(std::make_shared<nn::Conv2d>(4, 3, 3, 1, 0, true, rng))
        .add(nn::ReLU())
        .add(std::make_shared<nn::MaxPool2d>(2));
    Tensor x = randn({3, 2, 6, 6}, 4);
    Tensor a = seq.forward(x), b = nn::forward_fused(seq, x);
    testing::require_close(b.to_vector(), a.to_vector(), 1e-6f, 1e-6f, "fused vs unfused");
    REQUIRE(nn::is_relu(seq.at(2)));
    REQUIRE_FALSE(nn::is_relu(seq.at(1)));

    // eval mode without gradients folds the BatchNorm (running statistics moved by the two training
    // passes above) into the convolution, here also with a conv bias and without the ReLU
    seq.eval();
    nn::NoGradGuard ng;
    testing::require_close(nn::forward_fused(seq, x).to_vector(), seq.forward(x).to_vector(), 1e-5f, 1e-5f, "folded");
    nn::Conv2d conv(2, 3, 3, 2, 1, true, rng);
    nn::BatchNorm2d bn(3);
    bn.running_mean.copy_(randn({3}, 5)), bn.running_var.copy_(testing::uniform({3}, 6, 0.5f, 2.0f));
    bn.weight.copy_(randn({3}, 7)), bn.bias.copy_(randn({3}, 8));
    bn.eval();
    testing::require_close(nn::conv_bn(conv, bn, x, false).to_vector(), bn.forward(conv.forward(x)).to_vector(), 1e-5f,
                           1e-5f, "conv_bn with bias, stride 2");
}

TEST_CASE("conv2d_affine: values, and it refuses to run where a gradient is needed", "[cnn][conv]") {
    Tensor x = randn({2, 3, 5, 5}, 1), w = randn({4, 3, 3, 3}, 2);
    Tensor scale = randn({4}, 3), shift = randn({4}, 4);
    Tensor ref = nn::relu(nn::add(nn::mul(nn::conv2d(x, w, Tensor(), 1, 1), scale.reshape({4, 1, 1})),
                                  shift.reshape({4, 1, 1})));
    testing::require_close(nn::conv2d_affine(x, w, scale, shift, 1, 1, true).to_vector(), ref.to_vector(), 1e-5f,
                           1e-5f, "affine");
    w.requires_grad_();
    REQUIRE_THROWS_WITH(nn::conv2d_affine(x, w, scale, shift, 1, 1, true), Catch::Contains("inference-only"));
    nn::NoGradGuard ng;
    REQUIRE(nn::conv2d_affine(x, w, scale, shift, 1, 1, true).shape() == Shape{2, 4, 5, 5});
}

namespace {

// Runs conv2d (with the fused ReLU) forward and backward with Winograd on or off; returns y, dx, dw, db.
std::vector<std::vector<float>> conv_run(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& dy,
                                         int64_t pad, bool winograd) {
    nn::kernels::set_winograd(winograd, 0);
    for (const Tensor* t : {&x, &w, &b}) t->requires_grad_(), t->zero_grad();
    Tensor y = nn::conv2d(x, w, b, 1, pad, true);
    nn::run_backward(y, dy);
    nn::kernels::set_winograd(true, 0);
    return {y.to_vector(), x.grad().to_vector(), w.grad().to_vector(), b.grad().to_vector()};
}

}  // namespace

TEST_CASE("conv2d: Winograd F(2x2,3x3) equals the direct convolution, forward and input gradient", "[cnn][conv]") {
    WinogradEverywhere winograd;
    struct Case {
        int64_t B, C, H, W, OC, pad;
    };
    // odd and even sizes (a last tile half outside the output), 1-pixel images, padding 0..2, blocks
    // of tile rows that span images (200 + 64 channels: a block holds few tile rows), 1 image
    const std::vector<Case> cases = {{2, 8, 7, 7, 8, 1},     {3, 9, 6, 9, 10, 1},  {1, 8, 1, 1, 8, 1},
                                     {2, 12, 5, 4, 8, 0},    {2, 8, 4, 5, 11, 2},  {3, 200, 9, 7, 64, 1},
                                     {1, 16, 28, 28, 16, 1}, {2, 64, 14, 14, 24, 1}};
    uint64_t seed = 900;
    for (const Case& k : cases) {
        const auto g = nn::kernels::conv_geometry(k.B, k.C, k.H, k.W, k.OC, 3, 3, 1, k.pad);
        REQUIRE(nn::kernels::uses_winograd(g));
        Tensor x = randn({k.B, k.C, k.H, k.W}, seed++), w = randn({k.OC, k.C, 3, 3}, seed++), b = randn({k.OC}, seed++);
        Tensor dy = randn({k.B, k.OC, g.OH, g.OW}, seed++);
        const std::vector<float> ref = conv_reference(x, w, b, 1, k.pad);
        for (int threads : {1, 2}) {
            nn::set_num_threads(threads);
            INFO("B " << k.B << " C " << k.C << " " << k.H << "x" << k.W << " OC " << k.OC << " p " << k.pad
                      << " threads " << threads);
            const auto wino = conv_run(x, w, b, dy, k.pad, true), direct = conv_run(x, w, b, dy, k.pad, false);
            // the reference before the ReLU; compare where it is clearly away from the kink
            std::vector<float> y_ref(ref.size());
            for (size_t i = 0; i < ref.size(); i++) y_ref[i] = std::max(ref[i], 0.0f);
            const float tol = 2e-5f * float(k.C);
            testing::require_close(wino[0], y_ref, tol, 1e-4f, "y against the reference");
            testing::require_close(wino[0], direct[0], tol, 1e-4f, "y");
            // dx and dw go through the fused ReLU's mask (y > 0): the two paths' masks agree unless some
            // y lies within rounding of 0, which these seeded inputs do not hit; dw and db then come
            // from the same direct code and must be equal
            testing::require_close(wino[1], direct[1], tol, 1e-4f, "dx");
            testing::require_equal(wino[2], direct[2], "dw (the same direct gemm)");
            testing::require_equal(wino[3], direct[3], "db");
        }
    }
    nn::set_num_threads(1);
    SECTION("eval-mode affine (folded BatchNorm) and turning it off") {
        Tensor x = randn({2, 16, 7, 7}, 1), w = randn({8, 16, 3, 3}, 2), scale = randn({8}, 3), shift = randn({8}, 4);
        nn::NoGradGuard ng;
        const auto on = nn::conv2d_affine(x, w, scale, shift, 1, 1, false).to_vector();
        REQUIRE(nn::kernels::uses_winograd(nn::kernels::conv_geometry(2, 16, 7, 7, 8, 3, 3, 1, 1)));
        nn::kernels::set_winograd(false, 0);
        REQUIRE_FALSE(nn::kernels::uses_winograd(nn::kernels::conv_geometry(2, 16, 7, 7, 8, 3, 3, 1, 1)));
        const auto off = nn::conv2d_affine(x, w, scale, shift, 1, 1, false).to_vector();
        nn::kernels::set_winograd(true, 0);
        testing::require_close(on, off, 1e-4f, 1e-4f, "affine");
    }
    SECTION("not used where it cannot apply or would not pay") {
        using nn::kernels::conv_geometry;
        using nn::kernels::uses_winograd;
        CHECK_FALSE(uses_winograd(conv_geometry(1, 8, 8, 8, 8, 3, 3, 2, 1)));   // stride 2
        CHECK_FALSE(uses_winograd(conv_geometry(1, 8, 8, 8, 8, 5, 5, 1, 2)));   // 5x5
        CHECK_FALSE(uses_winograd(conv_geometry(1, 1, 8, 8, 32, 3, 3, 1, 1)));  // one input channel
        CHECK_FALSE(uses_winograd(conv_geometry(1, 32, 8, 8, 4, 3, 3, 1, 1)));  // 4 output channels
        CHECK_FALSE(uses_winograd(conv_geometry(1, 8, 8, 8, 8, 3, 3, 1, 3)));   // padding 3
        CHECK(uses_winograd(conv_geometry(1, 8, 8, 8, 8, 3, 3, 1, 1)));
        // by default, only batches with enough tiles to pay for transforming the weights
        nn::kernels::set_winograd(true);
        CHECK_FALSE(uses_winograd(conv_geometry(1, 64, 14, 14, 64, 3, 3, 1, 1)));  // 49 tiles
        CHECK(uses_winograd(conv_geometry(128, 64, 14, 14, 64, 3, 3, 1, 1)));
    }
}
