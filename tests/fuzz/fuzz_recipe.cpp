// Fuzz target: pruning recipes (prune::parse_recipe). An accepted recipe has steps; each step is then
// resolved against the parameter names of a small model (selectors that match nothing are errors),
// and the steps a weights file alone can serve (magnitude and random methods, one-shot or iterative)
// decide masks offline, one after another. Masks must keep their parameter's shape, hold only 0 and
// 1, and never revive a unit an earlier step pruned.
#include <stdexcept>
#include <string>
#include <vector>

#include "nn/check.hpp"
#include "nn/rng.hpp"
#include "prune/mask.hpp"
#include "prune/recipe.hpp"
#include "prune/schedule.hpp"
#include "targets.hpp"

namespace {

// A linear layer, a convolution and a head-shaped projection; values from a fixed seed (some tied).
const std::vector<nn::NamedTensor>& model_params() {
    static const std::vector<nn::NamedTensor> params = [] {
        std::vector<nn::NamedTensor> p;
        nn::Rng rng(7);
        auto add = [&](const std::string& name, nn::Shape shape) {
            nn::Tensor t = nn::Tensor::zeros(shape);
            for (int64_t i = 0; i < t.numel(); i++) t.data()[i] = float(int64_t(rng.below(9)) - 4) * 0.25f;
            p.emplace_back(name, t);
        };
        add("conv.weight", {4, 2, 3, 3});
        add("conv.bias", {4});
        add("fc1.weight", {6, 8});
        add("fc1.bias", {6});
        add("attn.out.weight", {8, 8});
        add("fc2.weight", {3, 6});
        return p;
    }();
    return params;
}

void check_masks(const prune::MaskSet& before, const prune::MaskSet& after) {
    const auto& params = model_params();
    for (auto& [name, m] : after.masks()) {
        const nn::Tensor* p = nullptr;
        for (auto& [n, t] : params)
            if (n == name) p = &t;
        if (!p) throw std::logic_error("recipe: a mask for '" + name + "', which is not a parameter");
        if (!(m.shape() == p->shape())) throw std::logic_error("recipe: mask of '" + name + "' changed shape");
        const nn::Tensor* old = before.find(name);
        for (int64_t i = 0; i < m.numel(); i++) {
            float v = m.data()[i];
            if (v != 0.0f && v != 1.0f) throw std::logic_error("recipe: mask of '" + name + "' holds a value other than 0, 1");
            if (old && old->data()[i] == 0.0f && v != 0.0f) throw std::logic_error("recipe: '" + name + "' revived a unit");
        }
    }
}

}  // namespace

int fuzz::recipe(const uint8_t* data, size_t n) {
    const auto& params = model_params();
    std::vector<std::string> names;
    for (auto& [name, t] : params) names.push_back(name);
    try {
        prune::Recipe r = prune::parse_recipe(std::string(reinterpret_cast<const char*>(data), n), "<fuzz input>");
        if (r.steps.empty()) throw std::logic_error("recipe: accepted a recipe without steps");
        prune::MaskSet masks;
        for (auto& step : r.steps) {
            prune::ScheduledStep s = prune::to_scheduled(r, step, names);
            if (s.params.empty()) throw std::logic_error("recipe: a resolved step prunes no parameter");
            // Offline pruning needs no model or data; bound the rounds so one input stays fast.
            if (step.saliency != prune::Saliency::None || s.schedule.rounds > 16) continue;
            prune::MaskSet next = prune::offline_masks(s, params, masks);
            check_masks(masks, next);
            masks = next;
        }
    } catch (const nn::Error&) {
    }
    return 0;
}

FUZZ_ENTRY(recipe)
