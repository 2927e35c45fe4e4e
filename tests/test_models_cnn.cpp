// The CNN model zoo: output shapes, PyTorch state-dict names and shapes, spec options (widths of
// thinned models), checkpoint round trips with BatchNorm buffers, and one "overfit one batch" test
// per model family (tiny batch, few steps).
#include <cstdlib>
#include <filesystem>

#include "experiments/args.hpp"
#include "experiments/presets.hpp"
#include "helpers.hpp"
#include "subprocess.hpp"
#include "nn/check.hpp"
#include "nn/checkpoint.hpp"
#include "nn/models.hpp"
#include "nn/optim.hpp"
#include "nn/threads.hpp"

using nn::Shape;
using nn::Tensor;

namespace {

std::map<std::string, Shape> shapes_of(const nn::Module& m) {
    std::map<std::string, Shape> out;
    for (auto& [n, t] : m.state_dict()) out[n] = t.shape();
    return out;
}

// Trains `model` on one fixed batch of 16 random images with random labels; returns the final
// training-mode loss and the eval-mode accuracy on that batch.
std::pair<float, double> overfit(nn::Module& model, int steps, float lr, bool adam) {
    Tensor x = testing::randn({16, 1, 28, 28}, 5);
    nn::IntTensor y(Shape{16});
    nn::Rng rng(6);
    for (auto& v : y.values) v = int64_t(rng.below(10));
    std::unique_ptr<nn::Optimizer> opt;
    if (adam) opt = std::make_unique<nn::Adam>(model.named_parameters(), nn::AdamOptions{lr});
    else opt = std::make_unique<nn::SGD>(model.named_parameters(), nn::SGDOptions{lr, 0.9f});
    model.train();
    float loss_value = 0;
    for (int s = 0; s < steps; s++) {
        opt->zero_grad();
        Tensor loss = nn::cross_entropy(model.forward(x), y);
        loss_value = loss.item();
        loss.backward();
        opt->step();
    }
    model.eval();
    nn::NoGradGuard ng;
    double acc = double(nn::count_correct(model.forward(x), y)) / 16.0;
    return {loss_value, acc};
}

}  // namespace

TEST_CASE("CNN models: output shapes and parameter counts", "[cnn][models]") {
    // counts from the PyTorch definitions in experiments/reference/torch_bench.py
    const std::vector<std::pair<std::string, int64_t>> expected = {
        {"lenet5", 61706},  {"conv2", 3317450}, {"conv4", 1933258},
        {"conv6", 1802698}, {"vgg", 584618},    {"resnet20", 272186},
    };
    Tensor x = testing::randn({2, 1, 28, 28}, 1);
    for (auto& [spec, n_params] : expected) {
        INFO(spec);
        auto m = nn::make_model(spec, 1);
        REQUIRE(m->num_parameters() == n_params);
        nn::NoGradGuard ng;
        m->eval();
        REQUIRE(m->forward(x).shape() == Shape{2, 10});
    }
}

TEST_CASE("CNN models: PyTorch state-dict names and layouts", "[cnn][models]") {
    auto lenet = shapes_of(*nn::make_model("lenet5", 1));
    REQUIRE(lenet.at("conv1.weight") == Shape{6, 1, 5, 5});
    REQUIRE(lenet.at("conv2.bias") == Shape{16});
    REQUIRE(lenet.at("fc1.weight") == Shape{120, 400});
    REQUIRE(lenet.at("fc3.weight") == Shape{10, 84});

    auto conv4 = shapes_of(*nn::make_model("conv4", 1));
    REQUIRE(conv4.at("features.0.weight") == Shape{64, 1, 3, 3});
    REQUIRE(conv4.at("features.2.weight") == Shape{64, 64, 3, 3});
    REQUIRE(conv4.at("features.5.weight") == Shape{128, 64, 3, 3});  // after ReLU, ReLU, MaxPool at 1, 3, 4
    REQUIRE(conv4.at("classifier.0.weight") == Shape{256, 6272});
    REQUIRE(conv4.at("classifier.4.weight") == Shape{10, 256});
    REQUIRE(conv4.size() == 14);

    auto vgg_model = nn::make_model("vgg", 1);
    auto vgg = shapes_of(*vgg_model);
    REQUIRE(vgg.at("features.0.weight") == Shape{32, 1, 3, 3});
    REQUIRE(vgg.count("features.0.bias") == 0);  // conv before BatchNorm has no bias
    REQUIRE(vgg.at("features.1.running_var") == Shape{32});
    REQUIRE(vgg.at("features.1.num_batches_tracked") == Shape{});
    REQUIRE(vgg_model->is_integer_buffer("features.1.num_batches_tracked"));
    REQUIRE(vgg.at("features.3.weight") == Shape{32, 32, 3, 3});
    REQUIRE(vgg.at("features.7.weight") == Shape{64, 32, 3, 3});  // after the pool at 6
    REQUIRE(vgg.at("classifier.0.weight") == Shape{256, 1152});
    REQUIRE(vgg.at("classifier.2.weight") == Shape{10, 256});

    auto res = shapes_of(*nn::make_model("resnet20", 1));
    REQUIRE(res.at("conv1.weight") == Shape{16, 1, 3, 3});
    REQUIRE(res.at("bn1.running_mean") == Shape{16});
    REQUIRE(res.at("layer1.2.conv2.weight") == Shape{16, 16, 3, 3});
    REQUIRE(res.count("layer1.0.downsample.0.weight") == 0);  // identity shortcut
    REQUIRE(res.at("layer2.0.conv1.weight") == Shape{32, 16, 3, 3});
    REQUIRE(res.at("layer2.0.downsample.0.weight") == Shape{32, 16, 1, 1});
    REQUIRE(res.at("layer2.0.downsample.1.weight") == Shape{32});
    REQUIRE(res.at("layer3.2.bn2.num_batches_tracked") == Shape{});
    REQUIRE(res.at("fc.weight") == Shape{10, 64});
}

TEST_CASE("CNN models: width options rebuild thinned models; bad specs are errors", "[cnn][models]") {
    auto thin_vgg = shapes_of(*nn::make_model("vgg:widths=16-32-32-64-64-100,hidden=50", 1));
    REQUIRE(thin_vgg.at("features.0.weight") == Shape{16, 1, 3, 3});
    REQUIRE(thin_vgg.at("features.3.weight") == Shape{32, 16, 3, 3});
    REQUIRE(thin_vgg.at("classifier.0.weight") == Shape{50, 900});
    auto thin_res = shapes_of(*nn::make_model("resnet20:widths=8-16-32,inner=4-5-6-7-8-9-10-11-12", 1));
    REQUIRE(thin_res.at("layer1.0.conv1.weight") == Shape{4, 8, 3, 3});
    REQUIRE(thin_res.at("layer1.0.conv2.weight") == Shape{8, 4, 3, 3});
    REQUIRE(thin_res.at("layer3.2.conv1.weight") == Shape{12, 32, 3, 3});
    REQUIRE(thin_res.at("fc.weight") == Shape{10, 32});
    auto deep_res = shapes_of(*nn::make_model("resnet20:blocks=5", 1));  // ResNet-32
    REQUIRE(deep_res.count("layer3.4.bn2.weight") == 1);
    auto thin_conv = shapes_of(*nn::make_model("conv2:widths=10-20,hidden=30-40", 1));
    REQUIRE(thin_conv.at("classifier.0.weight") == Shape{30, 20 * 14 * 14});
    auto thin_lenet = shapes_of(*nn::make_model("lenet5:widths=3-8,hidden=20-10", 1));
    REQUIRE(thin_lenet.at("fc1.weight") == Shape{20, 200});
    Tensor x = testing::randn({2, 1, 28, 28}, 1);
    REQUIRE(nn::make_model("resnet20:widths=8-16-32,inner=4-5-6-7-8-9-10-11-12", 1)->forward(x).shape() == Shape{2, 10});

    REQUIRE_THROWS_WITH(nn::make_model("vgg:widths=32-32", 1), Catch::Contains("6 conv widths"));
    REQUIRE_THROWS_WITH(nn::make_model("vgg:depth=3", 1), Catch::Contains("unknown option 'depth'"));
    REQUIRE_THROWS_WITH(nn::make_model("resnet20:inner=1-2", 1), Catch::Contains("9 widths"));
    REQUIRE_THROWS_WITH(nn::make_model("conv4:widths=1-2-0-4", 1), Catch::Contains("positive integers"));
    REQUIRE_THROWS_WITH(nn::make_model("lenet5:hidden=3", 1), Catch::Contains("two widths"));
}

TEST_CASE("CNN models: checkpoints round-trip, BatchNorm buffers included", "[cnn][models]") {
    auto dir = std::filesystem::temp_directory_path() / "secateurs_test_models_cnn";
    std::filesystem::create_directories(dir);
    std::string path = (dir / "vgg.safetensors").string();
    auto a = nn::make_model("vgg", 1);
    overfit(*a, 2, 0.01f, false);  // moves weights and running statistics
    nn::save_model(path, *a, {{"arch", "vgg"}});
    auto b = nn::make_model("vgg", 2);
    nn::load_model(path, *b);
    auto sa = a->state_dict(), sb = b->state_dict();
    REQUIRE(sa.size() == sb.size());
    for (size_t i = 0; i < sa.size(); i++) {
        REQUIRE(sa[i].first == sb[i].first);
        testing::require_equal(sb[i].second.to_vector(), sa[i].second.to_vector(), sa[i].first);
    }
    nn::st::File f = nn::st::File::read(path);
    REQUIRE(f.find("features.1.num_batches_tracked")->dtype == nn::st::DType::I64);
    REQUIRE(f.int_tensor("features.1.num_batches_tracked").values == std::vector<int64_t>{2});
    Tensor x = testing::randn({3, 1, 28, 28}, 9);
    a->eval(), b->eval();
    nn::NoGradGuard ng;
    testing::require_equal(a->forward(x).to_vector(), b->forward(x).to_vector(), "logits");
    // a checkpoint of another width does not load
    auto thin = nn::make_model("vgg:widths=16-32-64-64-128-128", 1);
    REQUIRE_THROWS_WITH(nn::load_model(path, *thin), Catch::Contains("features.0.weight"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("overfit one batch: lenet5", "[cnn][models][overfit]") {
    auto m = nn::make_model("lenet5", 1);
    auto [loss, acc] = overfit(*m, 60, 2e-3f, true);
    REQUIRE(loss < 0.05f);
    REQUIRE(acc == 1.0);
}

TEST_CASE("overfit one batch: conv2 / conv4 / conv6", "[cnn][models][overfit]") {
    for (const char* spec : {"conv2", "conv4", "conv6"}) {
        INFO(spec);
        auto m = nn::make_model(std::string(spec) + ":widths=" + (std::string(spec) == "conv2"   ? "16-16"
                                                               : std::string(spec) == "conv4" ? "16-16-32-32"
                                                                                              : "16-16-32-32-32-32"),
                                1);
        auto [loss, acc] = overfit(*m, 40, 1e-3f, true);
        REQUIRE(loss < 0.05f);
        REQUIRE(acc == 1.0);
    }
}

TEST_CASE("overfit one batch: vgg", "[cnn][models][overfit]") {
    auto m = nn::make_model("vgg:widths=8-8-16-16-32-32,hidden=32", 1);
    auto [loss, acc] = overfit(*m, 40, 0.05f, false);
    REQUIRE(loss < 0.05f);
    REQUIRE(acc == 1.0);  // in eval mode, i.e. with the running statistics
}

TEST_CASE("overfit one batch: resnet20", "[cnn][models][overfit]") {
    auto m = nn::make_model("resnet20:widths=8-8-16", 1);
    auto [loss, acc] = overfit(*m, 40, 0.05f, false);
    REQUIRE(loss < 0.05f);
    REQUIRE(acc == 1.0);
}

TEST_CASE("augmentation defaults: on for vgg and resnet20, off for the others, overridable", "[cnn][augment]") {
    using experiments::default_augment;
    for (const char* spec : {"vgg", "resnet20", "vgg:widths=8-8-16-16-32-32"}) {
        data::Augment a = default_augment(spec, "auto");
        REQUIRE(a.enabled());
        REQUIRE(a.crop_padding == 2);
        REQUIRE(a.hflip);
    }
    for (const char* spec : {"lenet300", "lenet5", "conv2", "conv4", "conv6"}) REQUIRE_FALSE(default_augment(spec, "auto").enabled());
    REQUIRE(default_augment("conv4", "on", 3).crop_padding == 3);
    REQUIRE_FALSE(default_augment("vgg", "off").enabled());
    REQUIRE_THROWS_WITH(default_augment("vgg", "maybe"), Catch::Contains("--augment"));
    REQUIRE_THROWS_WITH(default_augment("vgg", "on", 28), Catch::Contains("--crop-padding"));
    REQUIRE(experiments::quick_preset("vgg").augment);
    REQUIRE_FALSE(experiments::quick_preset("conv4").augment);
    REQUIRE_THROWS_AS(experiments::quick_preset("alexnet"), nn::Error);
}

TEST_CASE("secateurs train: the model's preset fills the options the command line leaves out", "[cnn][presets]") {
    auto run = [](std::vector<std::string> argv) {
        nn::TrainConfig cfg;
        cfg.epochs = 10, cfg.optimizer = "adam", cfg.lr = 0.5f, cfg.weight_decay = 0.0f;
        std::string model = "lenet300";
        experiments::Args args("train", "test");
        args.add("model", &model, "m").add("epochs", &cfg.epochs, "e").add("optimizer", &cfg.optimizer, "o");
        args.add("lr", &cfg.lr, "lr").add("weight-decay", &cfg.weight_decay, "wd");
        REQUIRE(args.parse(argv));
        const experiments::TrainPreset* p =
            experiments::apply_preset(cfg, model, [&](const std::string& o) { return args.given(o); });
        return std::make_pair(cfg, p);
    };
    auto [vgg, p] = run({"--model", "vgg"});
    REQUIRE(p == &experiments::quick_preset("vgg"));
    REQUIRE(vgg.epochs == 12);
    REQUIRE(vgg.optimizer == "sgd");
    REQUIRE(vgg.lr == 0.1f);
    REQUIRE(vgg.weight_decay == 5e-4f);
    // a given flag wins, even when it equals the built-in default; specs with options use their name's preset
    auto [lenet5, p5] = run({"--model", "lenet5:widths=3-8", "--epochs", "10", "--lr", "0.01"});
    REQUIRE(p5 == &experiments::quick_preset("lenet5"));
    REQUIRE(lenet5.epochs == 10);
    REQUIRE(lenet5.lr == 0.01f);
    REQUIRE(lenet5.optimizer == "sgd");
    auto [resnet, pr] = run({"--optimizer", "adamw", "--model", "resnet20", "--weight-decay", "0.05"});
    REQUIRE(resnet.optimizer == "adamw");
    REQUIRE(resnet.weight_decay == 0.05f);
    REQUIRE(resnet.epochs == experiments::quick_preset("resnet20").epochs);
    // a model without a preset keeps the command line's defaults
    auto [mlp, pm] = run({"--model", "bert-cls"});
    REQUIRE(pm == nullptr);
    REQUIRE(mlp.epochs == 10);
    REQUIRE(mlp.optimizer == "adam");
    REQUIRE(mlp.lr == 0.5f);
}

TEST_CASE("secateurs eval --dump-logits writes the images and the logits PyTorch is compared on", "[cnn][cli]") {
    auto dir = std::filesystem::temp_directory_path() / "secateurs_test_dump_logits";
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::string d = dir.string(), log;
    REQUIRE(testing::run_secateurs({"train", "--model", "lenet5", "--max-steps", "2", "--epochs", "1", "--val", "100",
                                    "--out", d}, log, d + "/train.log") == 0);
    REQUIRE(testing::run_secateurs({"eval", "--ckpt", d + "/model.safetensors", "--dump-logits",
                                    d + "/logits.safetensors", "--dump-n", "5"}, log, d + "/eval.log") == 0);
    nn::st::File f = nn::st::File::read(d + "/logits.safetensors");
    REQUIRE(f.tensor("input").shape() == Shape{5, 1, 28, 28});
    REQUIRE(f.tensor("logits").shape() == Shape{5, 10});
    REQUIRE(f.metadata.at("arch") == "lenet5");
    // the logits are those of the checkpoint's model on those images
    auto m = nn::make_model("lenet5", 0);
    nn::load_model(d + "/model.safetensors", *m);
    m->eval();
    nn::NoGradGuard ng;
    testing::require_close(m->forward(f.tensor("input")).to_vector(), f.tensor("logits").to_vector(), 1e-6f, 1e-6f,
                           "logits");
    REQUIRE(testing::run_secateurs({"train", "--model", "vgg", "--augment", "sometimes"}, log, d + "/bad.log") == 1);
    std::filesystem::remove_all(dir);
}
