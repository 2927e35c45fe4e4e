// sparse/: the differentiable sparse linear op (gradient checks), SparseLinear against a masked dense
// Linear, compile() on a model, training through sparse layers, and memory accounting.
#include <cmath>

#include "helpers.hpp"
#include "nn/check.hpp"
#include "nn/models.hpp"
#include "nn/optim.hpp"
#include "nn/threads.hpp"
#include "nn/transformer.hpp"
#include "sparse/modules.hpp"

using nn::Tensor;

namespace {

using testing::masked;
using testing::random_mask;

float max_abs(const std::vector<float>& v) {
    float m = 0;
    for (float x : v) m = std::max(m, std::fabs(x));
    return m;
}

// Within 1e-5 relative: |a - b| <= 1e-5 (|b| + max |b|), the criterion compile() promises.
void require_close_rel(const Tensor& a, const Tensor& b, const std::string& what) {
    std::vector<float> va = a.contiguous().to_vector(), vb = b.contiguous().to_vector();
    float scale = max_abs(vb);
    testing::require_close(va, vb, 1e-5f * scale + 1e-30f, 1e-5f, what);
}

}  // namespace

TEST_CASE("sparse linear: gradient check for x, values and bias", "[sparse]") {
    for (int64_t B : {1, 3, 17}) {
        Tensor mask = random_mask({5, 7}, 0.5, 10 + B);
        sparse::Csr w = sparse::from_dense(testing::randn({5, 7}, 20 + B), mask);
        auto pattern = sparse::CsrPattern::of(w, B % 2 == 1);
        testing::gradcheck(
            [&](const std::vector<Tensor>& in) { return sparse::linear(in[0], pattern, in[1], in[2]); },
            {testing::randn({B, 7}, 30 + B), w.values.clone(), testing::randn({5}, 40 + B)});
    }
    // Leading batch dimensions and no bias.
    Tensor mask = random_mask({4, 6}, 0.6, 3);
    sparse::Csr w = sparse::from_dense(testing::randn({4, 6}, 4), mask);
    auto pattern = sparse::CsrPattern::of(w, false);
    testing::gradcheck([&](const std::vector<Tensor>& in) { return sparse::linear(in[0], pattern, in[1], Tensor()); },
                       {testing::randn({2, 3, 6}, 5), w.values.clone()});
}

TEST_CASE("sparse linear: bad shapes are errors naming them", "[sparse]") {
    sparse::Csr w = sparse::from_dense(testing::randn({4, 6}, 4));
    auto pattern = sparse::CsrPattern::of(w, false);
    REQUIRE_THROWS_WITH(sparse::linear(testing::randn({2, 5}, 1), pattern, w.values, Tensor()),
                        Catch::Contains("does not end in 6 features"));
    REQUIRE_THROWS_WITH(sparse::linear(testing::randn({2, 6}, 1), pattern, Tensor::zeros({3}), Tensor()),
                        Catch::Contains("do not match the pattern's 24 entries"));
    REQUIRE_THROWS_WITH(sparse::linear(testing::randn({2, 6}, 1), pattern, w.values, Tensor::zeros({5})),
                        Catch::Contains("does not match 4 outputs"));
}

TEST_CASE("SparseLinear equals the masked dense Linear, forward and backward", "[sparse]") {
    int threads = GENERATE(1, 2);
    nn::set_num_threads(threads);
    for (double density : {0.0, 0.05, 0.3, 1.0})
        for (int64_t B : {1, 7, 64, 130}) {
            nn::Rng rng(5);
            nn::Linear dense(97, 33, true, rng);
            Tensor mask = random_mask({33, 97}, density, uint64_t(B * 100 + density * 10));
            {
                nn::NoGradGuard ng;
                dense.weight.copy_(masked(dense.weight, mask));
            }
            auto sp = sparse::SparseLinear::from_dense(dense.weight, dense.bias, mask);
            REQUIRE(sp->pattern->compact);  // 97 columns: 16-bit indices
            Tensor x = testing::randn({B, 97}, 7 + B), x2 = x.clone();
            x.requires_grad_(true);
            x2.requires_grad_(true);
            Tensor y = dense.forward(x), y2 = sp->forward(x2);
            std::string what = "density " + std::to_string(density) + " batch " + std::to_string(B);
            require_close_rel(y2, y, "forward, " + what);
            Tensor w = testing::randn(y.shape(), 9);
            nn::sum(nn::mul(y, w)).backward();
            nn::sum(nn::mul(y2, w)).backward();
            require_close_rel(x2.grad(), x.grad(), "dx, " + what);
            require_close_rel(sp->bias.grad(), dense.bias.grad(), "db, " + what);
            // The dense weight gradient at the pattern is the values' gradient.
            Tensor dw = dense.weight.grad();
            sparse::Csr g = sparse::from_dense(dw, mask);
            if (g.nnz() > 0) require_close_rel(sp->values.grad(), g.values, "dW at the pattern, " + what);
        }
    nn::set_num_threads(1);
}

TEST_CASE("SparseLinear trains: loss falls and pruned weights stay pruned", "[sparse]") {
    nn::Rng rng(1);
    nn::Linear l1(20, 16, true, rng), l2(16, 4, true, rng);
    auto s1 = sparse::SparseLinear::from_dense(l1.weight, l1.bias, random_mask({16, 20}, 0.3, 2));
    auto s2 = sparse::SparseLinear::from_dense(l2.weight, l2.bias, random_mask({4, 16}, 0.5, 3));
    nn::Sequential net;
    net.add(s1).add(nn::ReLU()).add(s2);
    REQUIRE(net.named_parameters().size() == 4);
    REQUIRE(net.named_parameters()[0].first == "0.weight_values");
    Tensor x = testing::randn({32, 20}, 4);
    nn::IntTensor y(nn::Shape{32});
    for (int64_t i = 0; i < 32; i++) y.values[size_t(i)] = i % 4;
    Tensor pattern1 = sparse::pattern_mask(s1->weight_csr());
    nn::SGD opt(net.named_parameters(), nn::SGDOptions{0.1f, 0.9f, 0.0f, 0.0f, false});
    float first = 0, last = 0;
    for (int step = 0; step < 60; step++) {
        opt.zero_grad();
        Tensor loss = nn::cross_entropy(net.forward(x), y);
        loss.backward();
        opt.step();
        (step == 0 ? first : last) = loss.item();
    }
    REQUIRE(last < 0.5f * first);
    Tensor w1 = s1->dense_weight();
    for (int64_t i = 0; i < w1.numel(); i++)
        if (pattern1.data()[i] == 0.0f) REQUIRE(w1.data()[i] == 0.0f);
}

TEST_CASE("compile: sparse layers where density is low, equal outputs, dense fallback for training", "[sparse]") {
    auto model = nn::make_model("lenet300", 3);
    std::map<std::string, Tensor> masks;
    const double densities[] = {0.05, 0.2, 0.9};
    const char* names[] = {"fc1.weight", "fc2.weight", "fc3.weight"};
    for (int i = 0; i < 3; i++) {
        Tensor w = model->parameter(names[i]);
        masks[names[i]] = random_mask(w.shape(), densities[i], uint64_t(i + 1));
        nn::NoGradGuard ng;
        w.copy_(masked(w, masks[names[i]]));
    }
    Tensor x = testing::randn({128, 1, 28, 28}, 8);
    Tensor want;
    {
        nn::NoGradGuard ng;
        want = model->forward(x);
    }
    sparse::CompileOptions opt;
    opt.masks = masks;
    auto decisions = sparse::compile(*model, opt);
    REQUIRE(decisions.size() == 3);
    REQUIRE(decisions[0].name == "fc1");
    REQUIRE(decisions[0].sparse);
    REQUIRE(decisions[1].sparse);
    REQUIRE_FALSE(decisions[2].sparse);  // 0.9 dense: above the crossover
    REQUIRE(decisions[0].nnz == int64_t(masks["fc1.weight"].to_vector().size()) - [&] {
        int64_t z = 0;
        for (float v : masks["fc1.weight"].to_vector()) z += v == 0.0f;
        return z;
    }());
    auto* fc1 = dynamic_cast<nn::Linear*>(model->submodule("fc1"));
    REQUIRE(fc1->executor != nullptr);
    for (int threads : {1, 2}) {
        nn::set_num_threads(threads);
        nn::NoGradGuard ng;
        require_close_rel(model->forward(x), want, "compiled lenet300, threads " + std::to_string(threads));
        require_close_rel(model->forward(x.narrow(0, 0, 1)), want.narrow(0, 0, 1), "batch of one");
    }
    nn::set_num_threads(1);
    // With autograd recording, the layer runs dense and the dense weight gets its gradient.
    model->zero_grad();
    nn::sum(model->forward(x)).backward();
    REQUIRE(model->parameter("fc1.weight").grad().defined());
    // A mask that disagrees with the weight's shape is an error naming the layer.
    sparse::CompileOptions bad;
    bad.masks["fc2.weight"] = Tensor::ones({3, 3});
    REQUIRE_THROWS_WITH(sparse::compile(*model, bad), Catch::Contains("fc2.weight"));
    sparse::uncompile(*model);
    REQUIRE(fc1->executor == nullptr);
}

TEST_CASE("compile: BERT's decoder tied to a pruned word embedding runs sparse, equal logits", "[sparse][bert]") {
    auto model = nn::make_model("bert-mlm:vocab=700,hidden=32,layers=1,heads=2,ffn=64,seq=16", 4);
    auto* mlm = dynamic_cast<nn::BertForMaskedLM*>(model.get());
    REQUIRE(mlm != nullptr);
    model->eval();
    const std::string emb = "bert.embeddings.word_embeddings.weight";
    sparse::CompileOptions opt;
    opt.masks[emb] = random_mask(model->parameter(emb).shape(), 0.1, 7);
    {
        nn::NoGradGuard ng;
        model->parameter(emb).copy_(masked(model->parameter(emb), opt.masks[emb]));
    }
    std::vector<int64_t> ids_v(3 * 16), pos_v;
    for (size_t i = 0; i < ids_v.size(); i++) ids_v[i] = int64_t((i * 37 + 5) % 700);
    for (int64_t p = 0; p < 3 * 16; p += 2) pos_v.push_back(p);  // 24 predicted positions
    nn::IntTensor ids = nn::IntTensor::from_vector(ids_v, {3, 16});
    nn::IntTensor pos = nn::IntTensor::from_vector(pos_v, {int64_t(pos_v.size())});
    Tensor want, want_head, h = testing::randn({24, 32}, 3);
    {
        nn::NoGradGuard ng;
        want = mlm->forward_positions(ids, pos);
        want_head = mlm->cls->predictions->forward(h);
    }
    auto decisions = sparse::compile(*model, opt);
    const sparse::LayerDecision* dec = nullptr;
    for (auto& d : decisions)
        if (d.type == "Decoder") dec = &d;
    REQUIRE(dec != nullptr);
    REQUIRE(dec->name == "cls.predictions");
    REQUIRE(dec->weight == emb);  // found under the embedding's name, so its mask applied
    REQUIRE(dec->sparse);
    REQUIRE(dec->shape == nn::Shape{700, 32});
    REQUIRE(dec->nnz < 700 * 32 / 5);
    REQUIRE(mlm->cls->predictions->executor != nullptr);
    for (int threads : {1, 2}) {
        nn::set_num_threads(threads);
        nn::NoGradGuard ng;
        Tensor got = mlm->forward_positions(ids, pos);
        require_close_rel(got, want, "compiled decoder, threads " + std::to_string(threads));
    }
    nn::set_num_threads(1);
    {
        // The head alone on fixed inputs gives the dense logits, and still does after the embedding is
        // doubled: it runs the executor's snapshot, not the dense product.
        nn::NoGradGuard ng;
        auto& head = *mlm->cls->predictions;
        Tensor w = model->parameter(emb), saved = w.clone();
        require_close_rel(head.forward(h), want_head, "the compiled head");
        w.copy_(nn::mul(saved, Tensor::full(w.shape(), 2.0f)));
        require_close_rel(head.forward(h), want_head, "the snapshot, not the changed embedding");
        w.copy_(saved);
    }
    // Denser than the crossover: the decoder stays dense.
    sparse::CompileOptions dense_opt;
    dense_opt.masks[emb] = Tensor::ones(model->parameter(emb).shape());
    for (auto& d : sparse::compile(*model, dense_opt))
        if (d.type == "Decoder") REQUIRE_FALSE(d.sparse);
    REQUIRE(mlm->cls->predictions->executor == nullptr);
    // A wrong-shaped mask under the embedding's name is an error naming it.
    sparse::CompileOptions bad;
    bad.masks[emb] = Tensor::ones({3, 3});
    REQUIRE_THROWS_WITH(sparse::compile(*model, bad), Catch::Contains(emb));
    sparse::compile(*model, opt);
    sparse::uncompile(*model);
    REQUIRE(mlm->cls->predictions->executor == nullptr);
}

TEST_CASE("compile: lockstep plans for wide layers, the same outputs as without, their bytes reported", "[sparse]") {
    // fc1 [300, 784] at density 0.3 gets a plan (512 columns or more); fc2 [100, 300] does not.
    auto model = nn::make_model("lenet300", 4);
    std::map<std::string, Tensor> masks;
    for (auto [name, density] : {std::pair{"fc1.weight", 0.3}, std::pair{"fc2.weight", 0.3}}) {
        Tensor w = model->parameter(name);
        masks[name] = random_mask(w.shape(), density, 7);
        nn::NoGradGuard ng;
        w.copy_(masked(w, masks[name]));
    }
    const bool avx512 = sparse::kernels::isa_available(sparse::kernels::Isa::avx512);
    // Batches with whole tiles of 64, a tile padded from 60, and a narrow tail.
    for (int64_t batch : {130, 60, 49, 48}) {
        Tensor x = testing::randn({batch, 1, 28, 28}, uint64_t(batch));
        Tensor want;
        {
            nn::NoGradGuard ng;
            want = model->forward(x);
        }
        std::vector<Tensor> got;
        for (bool lockstep : {true, false}) {
            sparse::CompileOptions opt;
            opt.masks = masks;
            opt.lockstep = lockstep;
            auto decisions = sparse::compile(*model, opt);
            REQUIRE(decisions[0].sparse);
            REQUIRE(decisions[1].sparse);
            REQUIRE((decisions[0].plan_bytes > 0) == (lockstep && avx512));
            REQUIRE(decisions[1].plan_bytes == 0);
            for (int threads : {1, 2}) {
                nn::set_num_threads(threads);
                nn::NoGradGuard ng;
                got.push_back(model->forward(x));
                require_close_rel(got.back(), want, "batch " + std::to_string(batch) + (lockstep ? " lockstep" : "") +
                                                        ", threads " + std::to_string(threads));
            }
            nn::set_num_threads(1);
        }
        // With and without plans, one or two threads: the same products summed in different orders.
        for (size_t i = 1; i < got.size(); i++) require_close_rel(got[i], got[0], "lockstep against nr64");
    }
    sparse::uncompile(*model);
}

TEST_CASE("compile: few rows run a masked dense copy above the small-batch density, the CSR below", "[sparse]") {
    // Two lenet300s from one seed: `masked_model` holds the masked weights, `model` the unmasked ones
    // with the masks passed to compile(), so that its copies must be masked to agree.
    auto model = nn::make_model("lenet300", 5), masked_model = nn::make_model("lenet300", 5);
    std::map<std::string, Tensor> masks;
    for (auto [name, density] : {std::pair{"fc1.weight", 0.3}, std::pair{"fc2.weight", 0.25}, std::pair{"fc3.weight", 0.35}}) {
        masks[name] = random_mask(model->parameter(name).shape(), density, 9);
        nn::NoGradGuard ng;
        Tensor w = masked_model->parameter(name);
        w.copy_(masked(w, masks[name]));
    }
    auto forward = [](nn::Module& m, const Tensor& x) {
        nn::NoGradGuard ng;
        return m.forward(x).to_vector();
    };
    sparse::CompileOptions opt;
    opt.masks = masks;
    auto decisions = sparse::compile(*model, opt);
    for (auto& d : decisions) {
        REQUIRE(d.sparse);
        REQUIRE(d.dense_copy_bytes == d.shape[0] * d.shape[1] * int64_t(sizeof(float)));
    }
    for (int64_t batch : {1, 3, 7, 8, 9}) {
        Tensor x = testing::randn({batch, 1, 28, 28}, uint64_t(batch));
        INFO("batch " << batch);
        std::vector<float> want = forward(*masked_model, x), got = forward(*model, x);
        if (batch < sparse::kSmallBatchRows) REQUIRE(got == want);  // the same dense products, bit for bit
        else require_close_rel(Tensor::from_vector(got, {batch, 10}), Tensor::from_vector(want, {batch, 10}), "CSR");
    }
    // Without copies, a batch of 3 runs the CSR kernels: close to the dense products, not equal.
    opt.small_batch_density = 1.0;
    for (auto& d : sparse::compile(*model, opt)) REQUIRE(d.dense_copy_bytes == 0);
    Tensor x3 = testing::randn({3, 1, 28, 28}, 3);
    std::vector<float> want = forward(*masked_model, x3), got = forward(*model, x3);
    REQUIRE(got != want);
    require_close_rel(Tensor::from_vector(got, {3, 10}), Tensor::from_vector(want, {3, 10}), "CSR, batch 3");
    // A layer at kSmallBatchDensity or below keeps no copy; one between that and
    // kFewRowsDensityScale times it runs its copy below kFewRows rows only.
    opt.small_batch_density = sparse::kSmallBatchDensity;
    opt.masks["fc1.weight"] = random_mask(model->parameter("fc1.weight").shape(), 0.05, 4);
    const double between = sparse::kSmallBatchDensity * (1 + sparse::kFewRowsDensityScale) / 2;
    opt.masks["fc2.weight"] = random_mask(model->parameter("fc2.weight").shape(), between, 5);
    decisions = sparse::compile(*model, opt);
    REQUIRE(decisions[0].dense_copy_bytes == 0);
    REQUIRE(decisions[0].dense_copy_rows == 0);
    REQUIRE(decisions[1].dense_copy_bytes > 0);
    REQUIRE(decisions[1].dense_copy_rows == sparse::kFewRows);
    REQUIRE(decisions[2].dense_copy_rows == sparse::kSmallBatchRows);
    // fc2 alone sparse: its copy's product equals the masked dense one bit for bit, the CSR's is close.
    for (const char* name : {"fc1.weight", "fc3.weight"}) opt.masks.erase(name);
    opt.max_density = between * 1.01;
    decisions = sparse::compile(*model, opt);
    REQUIRE((!decisions[0].sparse && decisions[1].sparse && !decisions[2].sparse));
    for (const char* name : {"fc1.weight", "fc3.weight"}) {  // the dense layers as masked_model's
        nn::NoGradGuard ng;
        model->parameter(name).copy_(masked_model->parameter(name));
    }
    {
        nn::NoGradGuard ng;
        Tensor w = masked_model->parameter("fc2.weight");
        w.copy_(masked(model->parameter("fc2.weight"), opt.masks["fc2.weight"]));
    }
    for (int64_t batch : {sparse::kFewRows - 1, sparse::kFewRows}) {
        Tensor x = testing::randn({batch, 1, 28, 28}, uint64_t(batch + 20));
        INFO("batch " << batch);
        std::vector<float> want = forward(*masked_model, x), got = forward(*model, x);
        if (batch < sparse::kFewRows) REQUIRE(got == want);
        else REQUIRE(got != want);
        require_close_rel(Tensor::from_vector(got, {batch, 10}), Tensor::from_vector(want, {batch, 10}), "fc2");
    }
    sparse::uncompile(*model);
}

TEST_CASE("memory accounting: golden bytes and totals", "[sparse]") {
    // [300, 784] at 10 % density: 23,520 entries.
    sparse::TensorMemory t = sparse::tensor_memory("fc1.weight", {300, 784}, 23520);
    REQUIRE(t.dense_bytes == 940800);
    REQUIRE(t.csr_bytes == 23520 * 8 + 301 * 4);
    REQUIRE(t.csr16_bytes == 23520 * 6 + 301 * 4);
    sparse::TensorMemory b = sparse::tensor_memory("fc1.bias", {300}, 300);
    REQUIRE(b.csr_bytes == 1200);
    REQUIRE_FALSE(b.candidate);
    sparse::TensorMemory wide = sparse::tensor_memory("emb", {2, 70000}, 10);
    REQUIRE(wide.csr16_bytes == -1);
    auto totals = sparse::memory_totals({t, b, wide});
    REQUIRE(totals.dense == 940800 + 1200 + 560000);
    REQUIRE(totals.csr == t.csr_bytes + 1200 + wide.csr_bytes);
    REQUIRE(totals.csr16 == t.csr16_bytes + 1200 + wide.csr_bytes);
    REQUIRE(totals.best == t.csr16_bytes + 1200 + wide.csr_bytes);
    // From a module, with a mask.
    nn::Rng rng(1);
    nn::Linear lin(10, 4, true, rng);
    Tensor mask = Tensor::zeros({4, 10});
    for (int i = 0; i < 7; i++) mask.data()[i * 5] = 1.0f;
    auto rep = sparse::memory_report(lin, {{"weight", mask}});
    REQUIRE(rep.size() == 2);
    REQUIRE(rep[0].nnz == 7);
    REQUIRE(rep[0].csr_bytes == 7 * 8 + 5 * 4);
    REQUIRE(rep[1].nnz == 4);
    std::string text = sparse::format_memory_report(rep);
    REQUIRE(text.find("weight") != std::string::npos);
    REQUIRE(text.find("total: dense 176 B") != std::string::npos);
}
