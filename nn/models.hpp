// The model zoo, built by name. A spec is "name" or "name:key=value,key=value" (e.g. widths of a
// thinned model); the spec is stored in checkpoint metadata under "arch" so tools can rebuild the
// model from a file alone. All image models take [B, 1, 28, 28] and return [B, 10] logits.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

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

}  // namespace nn
