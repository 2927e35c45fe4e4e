// sparse/: the sparse convolution (against the dense conv of the masked weight, gradient checks),
// SparseConv2d, and compile() on the CNN zoo (lenet5, conv4, vgg with eval-mode BatchNorm, resnet20):
// compiled outputs equal the masked dense model's within 1e-5 relative.
#include <cmath>

#include "helpers.hpp"
#include "nn/check.hpp"
#include "nn/conv.hpp"
#include "nn/models.hpp"
#include "nn/threads.hpp"
#include "sparse/modules.hpp"

using nn::Tensor;

namespace {

using testing::masked;
using testing::random_mask;

// |a - b| <= 1e-5 (|b| + max |b|): the criterion compile() promises.
void require_close_rel(const Tensor& a, const Tensor& b, const std::string& what) {
    std::vector<float> va = a.contiguous().to_vector(), vb = b.contiguous().to_vector();
    float scale = 0;
    for (float v : vb) scale = std::max(scale, std::fabs(v));
    REQUIRE(scale > 0.0f);
    testing::require_close(va, vb, 1e-5f * scale, 1e-5f, what);
}

struct ConvCase {
    int64_t B, C, H, W, OC, k, stride, pad;
    double density;
};

}  // namespace

TEST_CASE("sparse conv2d equals the dense conv of the masked weight", "[sparse][conv]") {
    const ConvCase cases[] = {
        {2, 3, 9, 9, 5, 3, 1, 1, 0.5},   {3, 4, 8, 7, 6, 3, 2, 1, 0.3},  {2, 5, 6, 6, 7, 1, 1, 0, 0.6},
        {1, 2, 7, 7, 3, 5, 1, 2, 0.2},   {2, 3, 5, 5, 4, 3, 1, 0, 0.0},  {4, 16, 7, 7, 33, 3, 1, 1, 0.1},
        {2, 2, 3, 3, 3, 3, 1, 0, 1.0},  // one output pixel
        // Layers run directly on the phase planes (the padded image at stride 1): no padding, a 1x1
        // image, several 64-column tiles, row lengths (OH * plane width) that are not whole vectors,
        // 1x1 with stride 2 (a resnet shortcut) and stride 3 with odd sizes.
        {2, 8, 5, 9, 17, 3, 1, 0, 0.3},  {2, 3, 1, 1, 4, 3, 1, 1, 0.5},  {1, 40, 14, 14, 24, 3, 1, 1, 0.1},
        {3, 6, 11, 13, 9, 5, 1, 2, 0.4}, {2, 16, 8, 8, 32, 1, 2, 0, 0.5}, {2, 4, 11, 10, 5, 3, 3, 1, 0.5},
        {1, 24, 16, 16, 40, 3, 2, 1, 0.2},
    };
    for (int threads : {1, 2}) {
        nn::set_num_threads(threads);
        for (const ConvCase& c : cases) {
            Tensor x = testing::randn({c.B, c.C, c.H, c.W}, 3);
            Tensor mask = random_mask({c.OC, c.C, c.k, c.k}, c.density, 5);
            Tensor w = masked(testing::randn({c.OC, c.C, c.k, c.k}, 4), mask);
            Tensor b = testing::randn({c.OC}, 6);
            auto layer = sparse::SparseConv2d::from_dense(w, b, c.stride, c.pad, mask);
            REQUIRE(layer->values.numel() == layer->pattern->nnz());
            testing::require_close(layer->dense_weight().to_vector(), w.to_vector(), 1e-30f, 0.0f, "dense_weight");
            Tensor want = nn::conv2d(x, w, b, c.stride, c.pad);
            std::string what = "conv " + nn::to_string(x.shape()) + " k" + std::to_string(c.k) + " s" +
                               std::to_string(c.stride) + " threads " + std::to_string(threads);
            testing::require_close(layer->forward(x).to_vector(), want.to_vector(), 1e-5f, 1e-5f, what);
            // The same pattern with 16-bit and with 32-bit column indices.
            for (bool compact : {false, true}) {
                auto pattern = sparse::CsrPattern::of(sparse::from_dense(w, mask), compact);
                testing::require_close(sparse::conv2d(x, pattern, layer->values, b, layer->shape).to_vector(),
                                       want.to_vector(), 1e-5f, 1e-5f, what + (compact ? " csr16" : " csr32"));
            }
            // The inference op with a per-channel affine and ReLU, against the dense one.
            Tensor scale = testing::randn({c.OC}, 7), shift = testing::randn({c.OC}, 8);
            nn::NoGradGuard ng;
            Tensor got = sparse::conv2d_affine(x, layer->pattern, layer->values, scale, shift, layer->shape, true);
            Tensor ref = nn::conv2d_affine(x, w, scale, shift, c.stride, c.pad, true);
            testing::require_close(got.to_vector(), ref.to_vector(), 1e-5f, 1e-5f, what + " affine");
        }
    }
    nn::set_num_threads(1);
}

TEST_CASE("sparse conv2d gradients (finite differences) in x, values and bias", "[sparse][conv]") {
    // Direct on the phase planes (strides 1, 2, 3; 3x3, 5x5 and a strided 1x1) and the image itself
    // (1x1, stride 1).
    const ConvCase cases[] = {{2, 3, 6, 6, 4, 3, 1, 1, 0.5}, {2, 2, 7, 6, 3, 3, 2, 1, 0.6}, {2, 3, 4, 4, 5, 1, 1, 0, 0.7},
                              {1, 2, 5, 4, 3, 3, 1, 0, 0.6}, {2, 2, 5, 5, 3, 5, 1, 2, 0.5}, {2, 3, 6, 5, 4, 1, 2, 0, 0.6},
                              {2, 2, 8, 7, 3, 3, 3, 1, 0.6}};
    for (int threads : {1, 2})
    for (const ConvCase& c : cases) {
        nn::set_num_threads(threads);
        Tensor mask = random_mask({c.OC, c.C, c.k, c.k}, c.density, 11);
        Tensor w = masked(testing::randn({c.OC, c.C, c.k, c.k}, 12), mask);
        auto pattern = sparse::CsrPattern::of(sparse::from_dense(w, mask), false);
        sparse::SparseConvShape shape{c.C, c.k, c.stride, c.pad};
        Tensor values = sparse::from_dense(w, mask).values;
        testing::gradcheck(
            [&](const std::vector<Tensor>& in) { return sparse::conv2d(in[0], pattern, in[1], in[2], shape); },
            {testing::randn({c.B, c.C, c.H, c.W}, 13), values, testing::randn({c.OC}, 14)});
    }
    nn::set_num_threads(1);
}

TEST_CASE("sparse conv2d: bad inputs are errors naming the problem", "[sparse][conv]") {
    Tensor w = testing::randn({4, 3, 3, 3}, 1);
    auto layer = sparse::SparseConv2d::from_dense(w, Tensor(), 1, 1);
    REQUIRE_THROWS_WITH(layer->forward(testing::randn({2, 2, 5, 5}, 2)), Catch::Contains("is not [B, 3, H, W]"));
    REQUIRE_THROWS_WITH(layer->forward(testing::randn({2, 3, 5}, 2)), Catch::Contains("is not [B, 3, H, W]"));
    REQUIRE_THROWS_WITH(sparse::SparseConv2d(sparse::from_dense(w), Tensor(), 2, 3, 1, 1),
                        Catch::Contains("27 columns"));
    REQUIRE_THROWS_WITH(sparse::SparseConv2d::from_dense(testing::randn({4, 3, 3}, 1), Tensor(), 1, 1),
                        Catch::Contains("[out, in, k, k]"));
    // A kernel larger than the padded image.
    auto big = sparse::SparseConv2d::from_dense(testing::randn({2, 1, 5, 5}, 1), Tensor(), 1, 0);
    REQUIRE_THROWS_WITH(big->forward(testing::randn({1, 1, 3, 3}, 2)), Catch::Contains("larger than the padded input"));
    // The affine inference op refuses to run where autograd records.
    Tensor x = testing::randn({1, 3, 5, 5}, 3);
    x.requires_grad_(true);
    REQUIRE_THROWS_WITH(sparse::conv2d_affine(x, layer->pattern, layer->values, Tensor(), Tensor(), layer->shape, false),
                        Catch::Contains("NoGradGuard"));
}

namespace {

// Prunes every conv and linear weight of `model` to a random mask (density 0.1, except `dense_name`
// at 0.9), randomises BatchNorm statistics and affine parameters, switches to eval mode, and checks
// that the compiled model's outputs equal the masked dense model's at batch 5 and 1, on 1 and 2
// threads. Returns the decisions.
std::vector<sparse::LayerDecision> check_compiled(const std::string& spec, const std::string& dense_name) {
    auto model = nn::make_model(spec, 3);
    std::map<std::string, Tensor> masks;
    uint64_t seed = 1;
    for (auto& [name, p] : model->named_parameters()) {
        if (p.ndim() < 2) continue;
        masks[name] = random_mask(p.shape(), name == dense_name ? 0.9 : 0.1, seed++);
        nn::NoGradGuard ng;
        p.copy_(masked(p, masks[name]));
    }
    for (auto& [name, m] : model->named_modules())
        if (auto* bn = dynamic_cast<nn::BatchNorm2d*>(m)) {
            nn::NoGradGuard ng;
            const int64_t C = bn->num_features;
            bn->running_mean.copy_(testing::randn({C}, seed++, 0.1f));
            bn->running_var.copy_(testing::uniform({C}, seed++, 0.75f, 1.25f));
            bn->weight.copy_(testing::uniform({C}, seed++, 0.75f, 1.25f));
            bn->bias.copy_(testing::randn({C}, seed++, 0.1f));
        }
    model->eval();
    Tensor x = testing::randn({5, 1, 28, 28}, 9);
    Tensor want;
    {
        nn::NoGradGuard ng;
        want = model->forward(x);
    }
    sparse::CompileOptions opt;
    opt.masks = masks;
    auto decisions = sparse::compile(*model, opt);
    for (int threads : {1, 2}) {
        nn::set_num_threads(threads);
        nn::NoGradGuard ng;
        require_close_rel(model->forward(x), want, spec + " compiled, threads " + std::to_string(threads));
        Tensor one = model->forward(x.narrow(0, 0, 1));
        require_close_rel(one, want.narrow(0, 0, 1), spec + " compiled, batch of one");
    }
    nn::set_num_threads(1);
    sparse::uncompile(*model);
    for (auto& [name, m] : model->named_modules())
        if (auto* c = dynamic_cast<nn::Conv2d*>(m)) REQUIRE(c->executor == nullptr);
    return decisions;
}

int count_sparse(const std::vector<sparse::LayerDecision>& d, const std::string& type) {
    int n = 0;
    for (auto& x : d) n += x.type == type && x.sparse;
    return n;
}

}  // namespace

TEST_CASE("compile converts conv layers: lenet5, conv4, vgg (eval BatchNorm), resnet20", "[sparse][conv]") {
    auto d = check_compiled("lenet5", "conv1.weight");
    REQUIRE(count_sparse(d, "Conv2d") == 1);  // conv1 at 0.9 stays dense
    REQUIRE(count_sparse(d, "Linear") == 3);
    for (auto& x : d)
        if (x.name == "conv1") REQUIRE_FALSE(x.sparse);
    d = check_compiled("conv4", "features.0.weight");
    REQUIRE(count_sparse(d, "Conv2d") == 3);
    d = check_compiled("vgg", "");
    REQUIRE(count_sparse(d, "Conv2d") == 6);
    d = check_compiled("resnet20", "layer2.0.downsample.0.weight");
    REQUIRE(count_sparse(d, "Conv2d") == 20);  // 19 3x3 + 2 1x1 shortcuts, one left dense
}

TEST_CASE("compiled conv layers fall back to the dense op when autograd records", "[sparse][conv]") {
    auto model = nn::make_model("conv2", 3);
    std::map<std::string, Tensor> masks;
    for (auto& [name, p] : model->named_parameters())
        if (p.ndim() == 4) {
            masks[name] = random_mask(p.shape(), 0.1, 2);
            nn::NoGradGuard ng;
            p.copy_(masked(p, masks[name]));
        }
    sparse::CompileOptions opt;
    opt.masks = masks;
    sparse::compile(*model, opt);
    Tensor x = testing::randn({2, 1, 28, 28}, 4);
    model->zero_grad();
    nn::sum(model->forward(x)).backward();
    REQUIRE(model->parameter("features.0.weight").grad().defined());
    // A mask of the wrong shape names the layer.
    sparse::CompileOptions bad;
    bad.masks["features.0.weight"] = Tensor::ones({3, 3});
    REQUIRE_THROWS_WITH(sparse::compile(*model, bad), Catch::Contains("features.0.weight"));
}
