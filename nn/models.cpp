#include "nn/models.hpp"

#include <cmath>
#include <sstream>

#include "nn/check.hpp"
#include "nn/io.hpp"
#include "nn/ops.hpp"
#include "nn/transformer.hpp"

namespace nn {

ModelSpec ModelSpec::parse(const std::string& spec) {
    ModelSpec s;
    size_t colon = spec.find(':');
    s.name = spec.substr(0, colon);
    ENSURE(!s.name.empty(), "empty model name in spec '", spec, "'");
    if (colon == std::string::npos) return s;
    std::stringstream rest(spec.substr(colon + 1));
    std::string item;
    while (std::getline(rest, item, ',')) {
        size_t eq = item.find('=');
        ENSURE(eq != std::string::npos && eq > 0, "model spec '", spec, "': option '", item, "' is not key=value");
        s.options[item.substr(0, eq)] = item.substr(eq + 1);
    }
    return s;
}

std::string ModelSpec::str() const {
    std::string out = name;
    bool first = true;
    for (auto& [k, v] : options) {
        out += (first ? ":" : ",") + k + "=" + v;
        first = false;
    }
    return out;
}

std::vector<int64_t> ModelSpec::ints(const std::string& key, const std::vector<int64_t>& fallback) const {
    auto it = options.find(key);
    if (it == options.end()) return fallback;
    std::vector<int64_t> out;
    std::stringstream ss(it->second);
    std::string part;
    while (std::getline(ss, part, '-')) {
        size_t used = 0;
        long long v = 0;
        try {
            v = std::stoll(part, &used);
        } catch (...) {
            used = 0;
        }
        ENSURE(used == part.size() && !part.empty() && v > 0, "model spec '", str(), "': option ", key, "='",
               it->second, "' must be positive integers joined by '-'");
        out.push_back(v);
    }
    return out;
}

double ModelSpec::number(const std::string& key, double fallback) const {
    auto it = options.find(key);
    if (it == options.end()) return fallback;
    size_t used = 0;
    double v = 0;
    try {
        v = std::stod(it->second, &used);
    } catch (...) {
        used = 0;
    }
    ENSURE(used == it->second.size() && used > 0 && std::isfinite(v), "model spec '", str(), "': option ", key, "='",
           it->second, "' is not a number");
    return v;
}

LeNet300::LeNet300(int64_t h1, int64_t h2, Rng& rng) : Module("LeNet300") {
    fc1 = register_module("fc1", std::make_shared<Linear>(784, h1, true, rng));
    fc2 = register_module("fc2", std::make_shared<Linear>(h1, h2, true, rng));
    fc3 = register_module("fc3", std::make_shared<Linear>(h2, 10, true, rng));
}

Tensor LeNet300::forward(const Tensor& x) {
    Tensor h = x.reshape({x.size(0), -1});
    h = relu(fc1->forward(h));
    h = relu(fc2->forward(h));
    return fc3->forward(h);
}

namespace {

std::shared_ptr<Module> build_lenet300(const ModelSpec& spec, Rng& rng) {
    auto hidden = spec.ints("hidden", {300, 100});
    ENSURE(hidden.size() == 2, "lenet300: option hidden needs two widths, got '", spec.options.at("hidden"), "'");
    return std::make_shared<LeNet300>(hidden[0], hidden[1], rng);
}

}  // namespace

std::vector<std::string> split_model_specs(const std::string& list) {
    std::vector<std::string> out;
    for (const std::string& part : io::split(list, ',')) {
        if (!out.empty() && part.find('=') != std::string::npos && part.find(':') == std::string::npos)
            out.back() += "," + part;
        else if (!part.empty())
            out.push_back(part);
    }
    return out;
}

const std::vector<ModelEntry>& model_registry() {
    static const std::vector<ModelEntry> registry = {
        {"lenet300", "MLP 784-300-100-10, ReLU (LeNet-300-100)", build_lenet300},
        {"lenet5", "LeNet-5: conv 6@5x5, pool, conv 16@5x5, pool, fc 120-84-10 (options widths, hidden)", build_lenet5},
        {"conv2", "Conv-2 (lottery ticket): conv 64,64, pool, fc 256-256-10 (options widths, hidden)", build_conv_lt},
        {"conv4", "Conv-4 (lottery ticket): conv 64,64, pool, 128,128, pool, fc 256-256-10", build_conv_lt},
        {"conv6", "Conv-6 (lottery ticket): conv 64,64, pool, 128,128, pool, 256,256, pool, fc 256-256-10", build_conv_lt},
        {"vgg", "small VGG with BatchNorm: conv 32,32, pool, 64,64, pool, 128,128, pool, fc 256-10 "
                "(options widths=32-32-64-64-128-128, hidden=256)", build_vgg},
        {"resnet20", "ResNet-20 (CIFAR style, 1x1-conv shortcuts): 3 stages x 3 basic blocks, 16/32/64 channels "
                     "(options widths=16-32-64, inner=<9 widths>, blocks=3)", build_resnet20},
        {"bert-mlm", "mini-BERT for masked-language modelling (decoder tied to the word embedding)", build_bert_mlm},
        {"bert-cls", "mini-BERT with a [CLS] classification head (option classes=N)", build_bert_cls},
    };
    return registry;
}

std::shared_ptr<Module> make_model(const std::string& spec_text, uint64_t seed) {
    ModelSpec spec = ModelSpec::parse(spec_text);
    std::string known;
    for (auto& e : model_registry()) {
        if (e.name == spec.name) {
            Rng rng(seed);
            return e.build(spec, rng);
        }
        known += (known.empty() ? "" : ", ") + e.name;
    }
    RAISE("unknown model '", spec.name, "' (known: ", known, ")");
}

}  // namespace nn
