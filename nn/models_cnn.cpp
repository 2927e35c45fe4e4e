// The convolutional models of the zoo: LeNet-5, the lottery-ticket Conv-2/4/6, the small VGG and the
// CIFAR-style ResNet-20, with their spec options (per-layer widths, so that structurally thinned
// models can be rebuilt from checkpoint metadata). Module names follow the PyTorch definitions in
// experiments/reference/torch_bench.py, so state dicts move between the two unchanged.
#include "nn/check.hpp"
#include "nn/init.hpp"
#include "nn/models.hpp"

namespace nn {

namespace {

constexpr int64_t kImage = 28, kClasses = 10;

// He et al. 2015 initialisation for convolutions followed by ReLU (fan_out mode, as torchvision's
// ResNet and VGG): keeps activations at unit scale through deep stacks.
void kaiming_conv_(Conv2d& c, Rng& rng) {
    init::kaiming_normal_(c.weight, rng, false, "relu");
    if (c.bias.defined()) c.bias.zero_();
}

std::string option_text(const ModelSpec& spec, const std::string& key) {
    auto it = spec.options.find(key);
    return it == spec.options.end() ? "" : it->second;
}

void check_known_options(const ModelSpec& spec, std::initializer_list<const char*> known) {
    for (auto& [k, v] : spec.options) {
        bool ok = false;
        std::string list;
        for (const char* name : known) {
            ok = ok || k == name;
            list += (list.empty() ? "" : ", ") + std::string(name);
        }
        ENSURE(ok, "model spec '", spec.str(), "': unknown option '", k, "' (", spec.name, " takes: ", list, ")");
    }
}

}  // namespace

// ---- LeNet-5 ------------------------------------------------------------------------------------

LeNet5::LeNet5(int64_t c1, int64_t c2, int64_t h1, int64_t h2, Rng& rng) : Module("LeNet5") {
    conv1 = register_module("conv1", std::make_shared<Conv2d>(1, c1, 5, 1, 2, true, rng));
    conv2 = register_module("conv2", std::make_shared<Conv2d>(c1, c2, 5, 1, 0, true, rng));
    fc1 = register_module("fc1", std::make_shared<Linear>(c2 * 5 * 5, h1, true, rng));
    fc2 = register_module("fc2", std::make_shared<Linear>(h1, h2, true, rng));
    fc3 = register_module("fc3", std::make_shared<Linear>(h2, kClasses, true, rng));
}

Tensor LeNet5::forward(const Tensor& x) {
    Tensor h = max_pool2d(conv1->forward_relu(x), 2);  // [B, c1, 14, 14]
    h = max_pool2d(conv2->forward_relu(h), 2);         // [B, c2, 5, 5]
    h = relu(fc1->forward(h.flatten(1)));
    h = relu(fc2->forward(h));
    return fc3->forward(h);
}

std::shared_ptr<Module> build_lenet5(const ModelSpec& spec, Rng& rng) {
    check_known_options(spec, {"widths", "hidden"});
    auto w = spec.ints("widths", {6, 16});
    auto h = spec.ints("hidden", {120, 84});
    ENSURE(w.size() == 2, "lenet5: option widths needs two conv widths, got '", option_text(spec, "widths"), "'");
    ENSURE(h.size() == 2, "lenet5: option hidden needs two widths, got '", option_text(spec, "hidden"), "'");
    return std::make_shared<LeNet5>(w[0], w[1], h[0], h[1], rng);
}

// ---- ConvNet: Conv-2/4/6 and the small VGG --------------------------------------------------------

ConvNet::ConvNet(const std::vector<int64_t>& widths, const std::vector<int64_t>& hidden, bool batch_norm, Rng& rng)
    : Module(batch_norm ? "VGG" : "ConvNet") {
    ENSURE(!widths.empty() && widths.size() % 2 == 0, "ConvNet: needs an even number of conv widths, got ",
           widths.size());
    features = register_module("features", std::make_shared<Sequential>());
    int64_t in = 1, side = kImage;
    for (size_t i = 0; i < widths.size(); i++) {
        auto conv = std::make_shared<Conv2d>(in, widths[i], 3, 1, 1, !batch_norm, rng);
        kaiming_conv_(*conv, rng);
        features->add(conv);
        if (batch_norm) features->add(std::make_shared<BatchNorm2d>(widths[i]));
        features->add(ReLU());
        if (i % 2 == 1) {
            features->add(std::make_shared<MaxPool2d>(2));
            side /= 2;
        }
        in = widths[i];
    }
    ENSURE(side >= 1, "ConvNet: ", widths.size() / 2, " pooling stages shrink a ", kImage, "x", kImage, " image to nothing");
    classifier = register_module("classifier", std::make_shared<Sequential>());
    int64_t flat = in * side * side;
    for (int64_t hdim : hidden) {
        classifier->add(std::make_shared<Linear>(flat, hdim, true, rng));
        classifier->add(ReLU());
        flat = hdim;
    }
    classifier->add(std::make_shared<Linear>(flat, kClasses, true, rng));
}

Tensor ConvNet::forward(const Tensor& x) {
    Tensor h = forward_fused(*features, x);
    return classifier->forward(h.flatten(1));
}

std::shared_ptr<Module> build_conv_lt(const ModelSpec& spec, Rng& rng) {
    check_known_options(spec, {"widths", "hidden"});
    std::vector<int64_t> def;
    if (spec.name == "conv2") def = {64, 64};
    else if (spec.name == "conv4") def = {64, 64, 128, 128};
    else def = {64, 64, 128, 128, 256, 256};
    auto w = spec.ints("widths", def);
    auto h = spec.ints("hidden", {256, 256});
    ENSURE(w.size() == def.size(), spec.name, ": option widths needs ", def.size(), " conv widths, got '",
           option_text(spec, "widths"), "'");
    return std::make_shared<ConvNet>(w, h, false, rng);
}

std::shared_ptr<Module> build_vgg(const ModelSpec& spec, Rng& rng) {
    check_known_options(spec, {"widths", "hidden"});
    auto w = spec.ints("widths", {32, 32, 64, 64, 128, 128});
    auto h = spec.ints("hidden", {256});
    ENSURE(w.size() == 6, "vgg: option widths needs 6 conv widths (3 pairs, each followed by a pool), got '",
           option_text(spec, "widths"), "'");
    return std::make_shared<ConvNet>(w, h, true, rng);
}

// ---- ResNet -------------------------------------------------------------------------------------

BasicBlock::BasicBlock(int64_t in, int64_t mid, int64_t out, int64_t stride, Rng& rng) : Module("BasicBlock") {
    conv1 = register_module("conv1", std::make_shared<Conv2d>(in, mid, 3, stride, 1, false, rng));
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(mid));
    conv2 = register_module("conv2", std::make_shared<Conv2d>(mid, out, 3, 1, 1, false, rng));
    bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(out));
    kaiming_conv_(*conv1, rng);
    kaiming_conv_(*conv2, rng);
    if (stride != 1 || in != out) {
        downsample = register_module("downsample", std::make_shared<Sequential>());
        auto sc = std::make_shared<Conv2d>(in, out, 1, stride, 0, false, rng);
        kaiming_conv_(*sc, rng);
        downsample->add(sc);
        downsample->add(std::make_shared<BatchNorm2d>(out));
    }
}

Tensor BasicBlock::forward(const Tensor& x) {
    Tensor h = conv_bn(*conv1, *bn1, x, true);
    h = conv_bn(*conv2, *bn2, h, false);
    Tensor shortcut = downsample ? forward_fused(*downsample, x) : x;
    return relu(add(h, shortcut));
}

ResNet::ResNet(const std::vector<int64_t>& stage_widths, const std::vector<int64_t>& inner, int64_t blocks, Rng& rng)
    : Module("ResNet") {
    ENSURE(stage_widths.size() == 3, "ResNet: needs 3 stage widths, got ", stage_widths.size());
    ENSURE(blocks >= 1 && int64_t(inner.size()) == 3 * blocks, "ResNet: needs ", 3 * blocks, " inner widths, got ",
           inner.size());
    conv1 = register_module("conv1", std::make_shared<Conv2d>(1, stage_widths[0], 3, 1, 1, false, rng));
    kaiming_conv_(*conv1, rng);
    bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(stage_widths[0]));
    int64_t in = stage_widths[0];
    for (int s = 0; s < 3; s++) {
        auto layer = register_module("layer" + std::to_string(s + 1), std::make_shared<Sequential>());
        for (int64_t b = 0; b < blocks; b++) {
            int64_t stride = (s > 0 && b == 0) ? 2 : 1;
            layer->add(std::make_shared<BasicBlock>(in, inner[size_t(s * blocks + b)], stage_widths[size_t(s)], stride, rng));
            in = stage_widths[size_t(s)];
        }
        layers.push_back(layer);
    }
    fc = register_module("fc", std::make_shared<Linear>(in, kClasses, true, rng));
}

Tensor ResNet::forward(const Tensor& x) {
    Tensor h = conv_bn(*conv1, *bn1, x, true);
    for (auto& layer : layers) h = layer->forward(h);
    return fc->forward(global_avg_pool2d(h).flatten(1));
}

std::shared_ptr<Module> build_resnet20(const ModelSpec& spec, Rng& rng) {
    check_known_options(spec, {"widths", "inner", "blocks"});
    auto w = spec.ints("widths", {16, 32, 64});
    auto nb = spec.ints("blocks", {3});
    ENSURE(w.size() == 3, "resnet20: option widths needs 3 stage widths, got '", option_text(spec, "widths"), "'");
    ENSURE(nb.size() == 1, "resnet20: option blocks is one number, got '", option_text(spec, "blocks"), "'");
    std::vector<int64_t> def;
    for (int s = 0; s < 3; s++)
        for (int64_t b = 0; b < nb[0]; b++) def.push_back(w[size_t(s)]);
    auto inner = spec.ints("inner", def);
    ENSURE(int64_t(inner.size()) == 3 * nb[0], "resnet20: option inner needs ", 3 * nb[0], " widths (one per block), got '",
           option_text(spec, "inner"), "'");
    return std::make_shared<ResNet>(w, inner, nb[0], rng);
}

}  // namespace nn
