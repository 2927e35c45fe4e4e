// Finite-difference gradient checks for every differentiable op, plus the graph's semantics
// (accumulation, reuse, no-grad, release) and a few hand-computed forward values.
#include "helpers.hpp"
#include "nn/check.hpp"
#include "nn/kernels.hpp"
#include "nn/threads.hpp"

using nn::Shape;
using nn::Tensor;
using testing::gradcheck;
using testing::randn;
using V = std::vector<Tensor>;

TEST_CASE("gradcheck: matmul and linear", "[autograd][gradcheck]") {
    gradcheck([](const V& in) { return nn::matmul(in[0], in[1]); }, {randn({3, 4}, 1), randn({4, 5}, 2)});
    gradcheck([](const V& in) { return nn::matmul(in[0], in[1]); }, {randn({2, 3, 4}, 3), randn({2, 4, 2}, 4)});
    // single-row and single-column products take the sgemv route
    gradcheck([](const V& in) { return nn::matmul(in[0], in[1]); }, {randn({1, 4}, 5), randn({4, 3}, 6)});
    gradcheck([](const V& in) { return nn::matmul(in[0], in[1]); }, {randn({3, 4}, 7), randn({4, 1}, 8)});
    gradcheck([](const V& in) { return nn::linear(in[0], in[1], in[2]); },
              {randn({5, 4}, 9), randn({3, 4}, 10), randn({3}, 11)});
    gradcheck([](const V& in) { return nn::linear(in[0], in[1], Tensor()); }, {randn({1, 4}, 12), randn({3, 4}, 13)});
    gradcheck([](const V& in) { return nn::linear(in[0], in[1], in[2]); },
              {randn({2, 3, 4}, 14), randn({2, 4}, 15), randn({2}, 16)});
    // transposed (strided) operands go through contiguous()
    gradcheck([](const V& in) { return nn::matmul(in[0].transpose(0, 1), in[1]); }, {randn({4, 3}, 17), randn({4, 2}, 18)});
}

TEST_CASE("gradcheck: broadcasting binary ops", "[autograd][gradcheck]") {
    auto pos = [](const Shape& s, uint64_t seed) { return testing::uniform(s, seed, 0.5f, 2.0f); };
    for (auto op : {nn::add, nn::sub, nn::mul, nn::div}) {
        auto f = [op](const V& in) { return op(in[0], in[1]); };
        gradcheck(f, {randn({3, 4}, 1), pos({3, 4}, 2)});        // same shape
        gradcheck(f, {randn({3, 4}, 3), pos({4}, 4)});           // bias-style
        gradcheck(f, {randn({2, 1, 4}, 5), pos({3, 1}, 6)});     // both broadcast
        gradcheck(f, {randn({2, 3, 2, 2}, 7), pos({2, 1, 1, 2}, 8)});  // attention-mask-like
        gradcheck(f, {pos({4}, 9), pos({3, 4}, 10)});            // left operand broadcast
        gradcheck(f, {randn({3, 4}, 11), pos({}, 12)});          // scalar tensor
    }
    REQUIRE_THROWS_AS(nn::add(Tensor::zeros({3, 4}), Tensor::zeros({3})), nn::Error);
    REQUIRE(nn::broadcast_shapes({2, 1, 4}, {3, 1}) == Shape{2, 3, 4});
}

TEST_CASE("gradcheck: scalar ops and unary activations", "[autograd][gradcheck]") {
    // keep inputs away from relu's kink and log/sqrt's domain edge
    Tensor away = testing::uniform({4, 5}, 3, 0.2f, 2.0f);
    for (int64_t i = 0; i < away.numel(); i += 2) away.data()[i] *= -1.0f;
    gradcheck([](const V& in) { return nn::add(in[0], 3.0f); }, {randn({4, 5}, 1)});
    gradcheck([](const V& in) { return nn::mul(in[0], -2.5f); }, {randn({4, 5}, 1)});
    gradcheck([](const V& in) { return nn::neg(in[0]); }, {randn({4, 5}, 1)});
    gradcheck([](const V& in) { return nn::relu(in[0]); }, {away.clone()});
    gradcheck([](const V& in) { return nn::tanh(in[0]); }, {randn({4, 5}, 2)});
    gradcheck([](const V& in) { return nn::sigmoid(in[0]); }, {randn({4, 5}, 3)});
    gradcheck([](const V& in) { return nn::gelu(in[0]); }, {randn({4, 5}, 4, 2.0f)});
    gradcheck([](const V& in) { return nn::exp(in[0]); }, {randn({4, 5}, 5)});
    gradcheck([](const V& in) { return nn::log(in[0]); }, {testing::uniform({4, 5}, 6, 0.5f, 3.0f)});
    gradcheck([](const V& in) { return nn::sqrt(in[0]); }, {testing::uniform({4, 5}, 7, 0.5f, 3.0f)});
    gradcheck([](const V& in) { return nn::square(in[0]); }, {randn({4, 5}, 8)});
    // long vectors exercise the SIMD bodies and the scalar tails
    gradcheck([](const V& in) { return nn::gelu(in[0]); }, {randn({37}, 9)});
    gradcheck([](const V& in) { return nn::tanh(in[0]); }, {randn({37}, 10)});
}

TEST_CASE("gradcheck: reductions", "[autograd][gradcheck]") {
    gradcheck([](const V& in) { return nn::sum(in[0]); }, {randn({3, 4}, 1)});
    gradcheck([](const V& in) { return nn::mean(in[0]); }, {randn({3, 4}, 2)});
    for (int dim : {0, 1, 2, -1})
        for (bool keep : {false, true}) {
            gradcheck([dim, keep](const V& in) { return nn::sum(in[0], dim, keep); }, {randn({2, 3, 4}, 3)});
            gradcheck([dim, keep](const V& in) { return nn::mean(in[0], dim, keep); }, {randn({2, 3, 4}, 4)});
        }
    REQUIRE(nn::sum(randn({2, 3, 4}, 1), 1, true).shape() == Shape{2, 1, 4});
    REQUIRE(nn::mean(randn({2, 3, 4}, 1), 1).shape() == Shape{2, 4});
}

TEST_CASE("gradcheck: views", "[autograd][gradcheck]") {
    gradcheck([](const V& in) { return in[0].reshape({4, 3}); }, {randn({3, 4}, 1)});
    gradcheck([](const V& in) { return in[0].transpose(0, 1).contiguous(); }, {randn({3, 4}, 2)});
    gradcheck([](const V& in) { return in[0].permute({2, 0, 1}).contiguous(); }, {randn({2, 3, 4}, 3)});
    gradcheck([](const V& in) { return in[0].narrow(1, 1, 2); }, {randn({2, 4, 3}, 4)});
    // a view of a view: narrow of a transpose, then reshape
    gradcheck([](const V& in) { return in[0].transpose(0, 2).narrow(1, 1, 2).reshape({-1}); }, {randn({2, 4, 3}, 5)});
    gradcheck([](const V& in) { return in[0].flatten(1); }, {randn({2, 3, 4}, 6)});
}

TEST_CASE("gradcheck: softmax family and losses", "[autograd][gradcheck]") {
    gradcheck([](const V& in) { return nn::softmax(in[0]); }, {randn({3, 5}, 1)});
    gradcheck([](const V& in) { return nn::softmax(in[0], 0); }, {randn({3, 5}, 2)});
    gradcheck([](const V& in) { return nn::log_softmax(in[0]); }, {randn({3, 5}, 3)});
    gradcheck([](const V& in) { return nn::log_softmax(in[0], 1); }, {randn({2, 3, 4}, 4)});
    nn::IntTensor target = nn::IntTensor::from_vector({2, 0, -100, 4}, {4});
    gradcheck([&](const V& in) { return nn::cross_entropy(in[0], target); }, {randn({4, 5}, 5)});
    nn::IntTensor target0 = nn::IntTensor::from_vector({2, 0, 1, 4}, {4});
    gradcheck([&](const V& in) { return nn::cross_entropy(in[0], target0, 0); }, {randn({4, 5}, 6)});  // row 1 ignored
    gradcheck([](const V& in) { return nn::mse_loss(in[0], in[1]); }, {randn({3, 4}, 7), randn({3, 4}, 8)});
    gradcheck([](const V& in) {
        nn::Rng r(5);  // same mask at every evaluation
        return nn::dropout(in[0], 0.4f, true, r);
    }, {randn({6, 7}, 9)});
}

TEST_CASE("forward golden values", "[autograd]") {
    Tensor logits = Tensor::from_vector({1, 2, 3}, {1, 3});
    // log(e^1 + e^2 + e^3) - 3
    REQUIRE(nn::cross_entropy(logits, nn::IntTensor::from_vector({2}, {1})).item() == Approx(0.40760596f).epsilon(1e-6));
    REQUIRE(nn::gelu(Tensor::scalar(1.0f)).item() == Approx(0.8413447f).epsilon(1e-6));
    REQUIRE(nn::sigmoid(Tensor::scalar(0.0f)).item() == 0.5f);
    Tensor sm = nn::softmax(Tensor::from_vector({0, std::log(3.0f)}, {1, 2}));
    REQUIRE(sm.at({0, 1}) == Approx(0.75f));
    // cross-entropy with every row ignored is 0 and has no graph
    REQUIRE(nn::cross_entropy(logits, nn::IntTensor::from_vector({-100}, {1})).item() == 0.0f);
    // targets outside [0, C) are rejected
    REQUIRE_THROWS_AS(nn::cross_entropy(logits, nn::IntTensor::from_vector({3}, {1})), nn::Error);
    // dropout keeps the expectation
    nn::Rng r(1);
    Tensor d = nn::dropout(Tensor::ones({100000}), 0.3f, true, r);
    REQUIRE(nn::mean(d).item() == Approx(1.0f).epsilon(0.01));
    REQUIRE(nn::dropout(Tensor::ones({10}), 0.3f, false).to_vector() == std::vector<float>(10, 1.0f));
}

TEST_CASE("autograd: accumulation, reuse, no-grad and graph release", "[autograd]") {
    Tensor x = Tensor::from_vector({1, 2, 3}, {3}).requires_grad_();
    // x used twice: d/dx sum(x*x + x) = 2x + 1
    nn::sum(nn::add(nn::mul(x, x), x)).backward();
    REQUIRE(x.grad().to_vector() == std::vector<float>{3, 5, 7});
    // a second backward accumulates
    nn::sum(x).backward();
    REQUIRE(x.grad().to_vector() == std::vector<float>{4, 6, 8});
    x.zero_grad();
    REQUIRE(x.grad().to_vector() == std::vector<float>{0, 0, 0});
    {
        nn::NoGradGuard ng;
        Tensor y = nn::mul(x, 2.0f);
        REQUIRE_FALSE(y.requires_grad());
        REQUIRE_THROWS_AS(nn::sum(y).backward(), nn::Error);
    }
    Tensor h = nn::relu(x);
    Tensor loss = nn::sum(h);
    REQUIRE(h.impl()->grad_fn != nullptr);
    loss.backward();
    REQUIRE(h.impl()->grad_fn == nullptr);      // graph released
    REQUIRE_FALSE(h.grad().defined());    // non-leaf gradient freed
    Tensor h2 = nn::relu(x).retain_grad();
    nn::sum(h2).backward();
    REQUIRE(h2.grad().defined());
}

TEST_CASE("autograd: a long chain does not overflow the stack", "[autograd]") {
    Tensor x = Tensor::ones({2}).requires_grad_();
    Tensor h = x;
    for (int i = 0; i < 20000; i++) h = nn::add(h, 0.0f);
    nn::sum(h).backward();
    REQUIRE(x.grad().to_vector() == std::vector<float>{1, 1});
}

TEST_CASE("gemm: threaded splits equal the single-thread result bit for bit per thread count", "[autograd][threads]") {
    Tensor a = randn({64, 33}, 1), b = randn({33, 17}, 2);
    nn::set_num_threads(1);
    auto one = nn::matmul(a, b).to_vector();
    nn::set_num_threads(2);
    auto two = nn::matmul(a, b).to_vector();
    auto two_again = nn::matmul(a, b).to_vector();
    nn::set_num_threads(1);
    REQUIRE(two == two_again);
    testing::require_close(two, one, 1e-5f, 1e-5f, "2 threads vs 1");
}

TEST_CASE("gemm: rows, columns and depth splits against a naive product, transposes and beta", "[autograd][threads]") {
    using nn::kernels::GemmSplit;
    // Shapes of the mini-BERT's products that pick each split on 2 threads.
    REQUIRE(nn::kernels::choose_gemm_split(2048, 1024, 256, 2) == GemmSplit::rows);      // FFN forward
    REQUIRE(nn::kernels::choose_gemm_split(290, 8000, 256, 2) == GemmSplit::columns);    // vocabulary logits
    REQUIRE(nn::kernels::choose_gemm_split(256, 256, 2048, 2) == GemmSplit::depth);      // attention dW
    REQUIRE(nn::kernels::choose_gemm_split(32, 32, 64, 2) == GemmSplit::none);           // too small to share
    REQUIRE(nn::kernels::choose_gemm_split(2048, 1024, 256, 1) == GemmSplit::none);
    struct Case { int64_t M, N, K; GemmSplit split; };
    for (Case c : {Case{67, 33, 129, GemmSplit::rows}, Case{9, 301, 61, GemmSplit::columns},
                   Case{12, 70, 300, GemmSplit::columns}, Case{21, 19, 1031, GemmSplit::depth}}) {
        REQUIRE(nn::kernels::choose_gemm_split(c.M, c.N, c.K, 2) == c.split);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                std::vector<float> A = randn({c.M * c.K}, 1 + ta).to_vector(), B = randn({c.K * c.N}, 3 + tb).to_vector();
                std::vector<float> C0 = randn({c.M * c.N}, 5).to_vector(), want(C0);
                const int64_t lda = ta ? c.M : c.K, ldb = tb ? c.K : c.N;
                const float alpha = 0.5f, beta = 0.25f;
                for (int64_t m = 0; m < c.M; m++)
                    for (int64_t n = 0; n < c.N; n++) {
                        double acc = 0;
                        for (int64_t k = 0; k < c.K; k++)
                            acc += double(ta ? A[k * lda + m] : A[m * lda + k]) * double(tb ? B[n * ldb + k] : B[k * ldb + n]);
                        want[m * c.N + n] = float(alpha * acc + beta * C0[m * c.N + n]);
                    }
                auto product = [&](int threads) {
                    nn::set_num_threads(threads);
                    std::vector<float> C(C0);
                    nn::kernels::gemm(ta, tb, c.M, c.N, c.K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), c.N);
                    return C;
                };
                auto one = product(1), two = product(2), again = product(2);
                // The same product from inside a parallel region runs whole on its thread.
                std::vector<float> nested(C0);
                nn::parallel_run([&](int t) {
                    if (t == 0)
                        nn::kernels::gemm(ta, tb, c.M, c.N, c.K, alpha, A.data(), lda, B.data(), ldb, beta, nested.data(), c.N);
                });
                nn::set_num_threads(1);
                INFO(c.M << "x" << c.N << "x" << c.K << " ta " << ta << " tb " << tb);
                REQUIRE(two == again);
                REQUIRE(nested == one);
                testing::require_close(one, want, 1e-4f, 1e-4f, "1 thread vs naive");
                testing::require_close(two, want, 1e-4f, 1e-4f, "2 threads vs naive");
            }
    }
}

TEST_CASE("linear_forward: 2 to 32 rows of a large product (the few-row kernel) against a naive product", "[autograd][threads]") {
    // Widths with a scalar tail after the vectors and a last group of rows of w narrower than the
    // kernel's, each product above kSkinnyMinMultiplyAdds; 8 to 32 rows in passes of 4 to 7 (8 = 4 + 4,
    // 15 = 5 + 5 + 5, 32 = 6 + 6 + 7 + 6 + 7); 33 rows and a small product go to gemm and must agree
    // as well.
    struct Case { int64_t B, IN, OUT; };
    for (Case c : {Case{2, 1037, 513}, Case{3, 1031, 517}, Case{4, 785, 331}, Case{5, 1029, 203}, Case{6, 400, 421},
                   Case{7, 1025, 151}, Case{8, 1037, 513}, Case{15, 301, 333}, Case{32, 130, 271}, Case{33, 1037, 513},
                   Case{3, 50, 40}}) {
        INFO(c.B << " rows, " << c.IN << " -> " << c.OUT);
        REQUIRE((c.B * c.IN * c.OUT > nn::kernels::kSkinnyMinMultiplyAdds) == (c.IN > 50));
        std::vector<float> x = randn({c.B * c.IN}, 11).to_vector(), w = randn({c.OUT * c.IN}, 12).to_vector();
        std::vector<float> b = randn({c.OUT}, 13).to_vector();
        for (bool bias : {true, false}) {
            std::vector<float> want(size_t(c.B * c.OUT));
            for (int64_t i = 0; i < c.B; i++)
                for (int64_t o = 0; o < c.OUT; o++) {
                    double acc = bias ? b[size_t(o)] : 0.0;
                    for (int64_t k = 0; k < c.IN; k++) acc += double(x[size_t(i * c.IN + k)]) * double(w[size_t(o * c.IN + k)]);
                    want[size_t(i * c.OUT + o)] = float(acc);
                }
            auto run = [&](int threads) {
                nn::set_num_threads(threads);
                std::vector<float> y(size_t(c.B * c.OUT), std::nanf(""));
                nn::kernels::linear_forward(y.data(), x.data(), w.data(), bias ? b.data() : nullptr, c.B, c.IN, c.OUT);
                return y;
            };
            auto one = run(1), two = run(2);
            nn::set_num_threads(1);
            testing::require_close(one, want, 1e-4f, 1e-4f, bias ? "1 thread, bias" : "1 thread");
            if (c.B <= nn::kernels::kFewRowsMax) REQUIRE(two == one);  // one sum per output, in a fixed order
            else testing::require_close(two, want, 1e-4f, 1e-4f, "2 threads");
        }
    }
}
