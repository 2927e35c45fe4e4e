#include "experiments/presets.hpp"

#include "nn/check.hpp"
#include "nn/models.hpp"

namespace experiments {

data::Augment default_augment(const std::string& model_spec, const std::string& mode, int crop_padding) {
    ENSURE(mode == "auto" || mode == "on" || mode == "off", "--augment must be auto, on or off, got '", mode, "'");
    ENSURE(crop_padding >= 0 && crop_padding < 28, "--crop-padding must be in 0..27, got ", crop_padding);
    std::string name = nn::ModelSpec::parse(model_spec).name;
    bool on = mode == "on" || (mode == "auto" && (name == "vgg" || name == "resnet20"));
    data::Augment a;
    if (on) {
        a.crop_padding = crop_padding;
        a.hflip = true;
    }
    return a;
}

const TrainPreset* find_preset(const std::string& name) {
    // SGD has momentum 0.9 and a cosine schedule; batch 128 (the CLI's defaults).
    static const TrainPreset presets[] = {
        // vgg: 8 epochs reach 92.72 % (three seeds 92.96 +- 0.21 %), 12 reach 93.63 %; the suite
        // keeps 8, which its committed baselines and reports were trained with
        {"lenet300", 10, 10, "sgd", 0.05f, 5e-4f, false},
        {"lenet5", 8, 8, "sgd", 0.05f, 5e-4f, false},
        {"conv2", 4, 4, "sgd", 0.02f, 5e-4f, false},
        {"conv4", 8, 8, "sgd", 0.02f, 5e-4f, false},
        {"conv6", 4, 4, "sgd", 0.02f, 5e-4f, false},
        {"vgg", 12, 8, "sgd", 0.1f, 5e-4f, true},
        {"resnet20", 8, 8, "sgd", 0.1f, 5e-4f, true},
    };
    for (const TrainPreset& p : presets)
        if (name == p.model) return &p;
    return nullptr;
}

const TrainPreset& quick_preset(const std::string& name) {
    const TrainPreset* p = find_preset(name);
    ENSURE(p, "no training preset for model '", name, "'");
    return *p;
}

const TrainPreset* apply_preset(nn::TrainConfig& cfg, const std::string& model_spec,
                                const std::function<bool(const std::string&)>& given) {
    const TrainPreset* p = find_preset(nn::ModelSpec::parse(model_spec).name);
    if (!p) return nullptr;
    if (!given("epochs")) cfg.epochs = p->epochs;
    if (!given("optimizer")) cfg.optimizer = p->optimizer;
    if (!given("lr")) cfg.lr = p->lr;
    if (!given("weight-decay")) cfg.weight_decay = p->weight_decay;
    return p;
}

}  // namespace experiments
