// Training recipes of the zoo's image models on Fashion-MNIST: whether augmentation is on by
// default, and the quick-profile hyper-parameters whose accuracy README quotes (the experiments'
// baselines start from them). Not here: the option table of the CLI (cli_train.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "data/dataset.hpp"
#include "nn/trainer.hpp"

namespace experiments {

// Augmentation for a model: mode "auto" turns random crops (zero padding `crop_padding`) and
// horizontal flips on for vgg and resnet20 and off for the others (the lottery-ticket nets and
// LeNets are trained without augmentation, as in their papers); "on" / "off" force it.
data::Augment default_augment(const std::string& model_spec, const std::string& mode, int crop_padding = 2);

struct TrainPreset {
    const char* model;
    int64_t epochs;        // what `secateurs train` runs
    int64_t suite_epochs;  // what the experiment suite's full profile runs (its reports were made so)
    const char* optimizer;  // sgd | adam
    float lr, weight_decay;
    bool augment;
};

// The quick-profile recipe of a model name (lenet300, lenet5, conv2/4/6, vgg, resnet20); throws
// for other names.
const TrainPreset& quick_preset(const std::string& model_name);
// The same, or nullptr for a model without a preset.
const TrainPreset* find_preset(const std::string& model_name);

// `secateurs train`'s defaults: sets cfg's epochs, optimizer, lr and weight decay from the preset of
// the spec's model name, each only where `given(option)` is false for its option name ("epochs",
// "optimizer", "lr", "weight-decay"), i.e. where the command line did not set it. Returns the
// preset, or nullptr (cfg untouched) for a model without one.
const TrainPreset* apply_preset(nn::TrainConfig& cfg, const std::string& model_spec,
                                const std::function<bool(const std::string&)>& given);

}  // namespace experiments
