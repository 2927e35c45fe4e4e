// The model zoo, built by name. A spec is "name" or "name:key=value,key=value" (e.g. widths of a
// thinned model); the spec is stored in checkpoint metadata under "arch" so tools can rebuild the
// model from a file alone. All image models take [B, 1, 28, 28] and return [B, 10] logits.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nn/conv.hpp"
#include "nn/layers.hpp"
#include "nn/module.hpp"

namespace nn {

struct ModelSpec {
    std::string name;
    std::map<std::string, std::string> options;
    static ModelSpec parse(const std::string& spec);
    std::string str() const;  // canonical text: name[:k=v,...] with keys sorted
    // Option accessors; a missing key gives `fallback`, a malformed value throws naming the spec.
    std::vector<int64_t> ints(const std::string& key, const std::vector<int64_t>& fallback) const;
    double number(const std::string& key, double fallback) const;  // a finite decimal number
};

// Splits a comma-separated list of model specs, where a spec's own options also follow commas:
// "lenet300,vgg:hidden=16,widths=8-8" is {"lenet300", "vgg:hidden=16,widths=8-8"} (a part with '='
// and no ':' continues the previous spec).
std::vector<std::string> split_model_specs(const std::string& list);

struct ModelEntry {
    std::string name, description;
    std::shared_ptr<Module> (*build)(const ModelSpec& spec, Rng& rng);
};
const std::vector<ModelEntry>& model_registry();

// Builds a model from its spec, initialised from `seed`; unknown names list the known ones.
std::shared_ptr<Module> make_model(const std::string& spec, uint64_t seed);

// LeNet-300-100 (LeCun et al. 1998; the MLP of Han et al. 2015): 784-300-100-10 with ReLU.
// Option "hidden=300-100" changes the widths (used by thinned checkpoints).
class LeNet300 : public Module {
public:
    LeNet300(int64_t h1, int64_t h2, Rng& rng);
    Tensor forward(const Tensor& x) override;
    std::shared_ptr<Linear> fc1, fc2, fc3;
};

// ---- convolutional networks (models_cnn.cpp); all take [B, 1, 28, 28] and return [B, 10] ----

// LeNet-5 (LeCun et al. 1998) with ReLU and max pooling: conv1 6@5x5 (padding 2) -> pool -> conv2
// 16@5x5 -> pool -> fc1 120 -> fc2 84 -> fc3 10. Options "widths=6-16", "hidden=120-84".
class LeNet5 : public Module {
public:
    LeNet5(int64_t c1, int64_t c2, int64_t h1, int64_t h2, Rng& rng);
    Tensor forward(const Tensor& x) override;
    std::shared_ptr<Conv2d> conv1, conv2;
    std::shared_ptr<Linear> fc1, fc2, fc3;
};

// Plain stacks of 3x3 convolutions (padding 1) with ReLU, a 2x2 max pool after every pair, then a
// ReLU MLP: `features` and `classifier` are Sequentials (features.0.weight, classifier.0.weight, ...).
// Used for the lottery-ticket networks Conv-2/4/6 (Frankle & Carbin 2019: 64,64,pool | 128,128,pool
// | 256,256,pool, then fc 256, 256, 10; conv bias, no BatchNorm) and, with batch_norm = true (each
// conv without bias, followed by BatchNorm2d), for the small VGG (Simonyan & Zisserman 2015).
class ConvNet : public Module {
public:
    // widths: one per conv (even count; a pool after each pair); hidden: widths of the MLP's hidden layers.
    ConvNet(const std::vector<int64_t>& widths, const std::vector<int64_t>& hidden, bool batch_norm, Rng& rng);
    Tensor forward(const Tensor& x) override;
    std::shared_ptr<Sequential> features, classifier;
};

// ResNet for 28x28 inputs in the CIFAR style of He et al. 2016 (section 4.2): conv1 3x3 (16) + bn1,
// then three stages of `blocks` basic blocks (16, 32, 64 channels; the first block of stages 2 and 3
// has stride 2), global average pooling and fc. Shortcuts that change shape are a 1x1 convolution
// with stride + BatchNorm ("option B", torchvision's `downsample`), so that every channel of the
// network belongs to a prunable convolution. ResNet-20 has blocks = 3.
class BasicBlock : public Module {
public:
    BasicBlock(int64_t in, int64_t mid, int64_t out, int64_t stride, Rng& rng);
    Tensor forward(const Tensor& x) override;
    std::shared_ptr<Conv2d> conv1, conv2;
    std::shared_ptr<BatchNorm2d> bn1, bn2;
    std::shared_ptr<Sequential> downsample;  // null when the shortcut is the identity
};

class ResNet : public Module {
public:
    // stage_widths: output channels of the 3 stages; inner: conv1 width of each block (3*blocks values).
    ResNet(const std::vector<int64_t>& stage_widths, const std::vector<int64_t>& inner, int64_t blocks, Rng& rng);
    Tensor forward(const Tensor& x) override;
    std::shared_ptr<Conv2d> conv1;
    std::shared_ptr<BatchNorm2d> bn1;
    std::vector<std::shared_ptr<Sequential>> layers;  // layer1, layer2, layer3
    std::shared_ptr<Linear> fc;
};

// Builders registered in model_registry() (models_cnn.cpp).
std::shared_ptr<Module> build_lenet5(const ModelSpec& spec, Rng& rng);
std::shared_ptr<Module> build_conv_lt(const ModelSpec& spec, Rng& rng);  // conv2 / conv4 / conv6
std::shared_ptr<Module> build_vgg(const ModelSpec& spec, Rng& rng);
std::shared_ptr<Module> build_resnet20(const ModelSpec& spec, Rng& rng);

}  // namespace nn
