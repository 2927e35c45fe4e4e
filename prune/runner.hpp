// A recipe driving pruning inside training: each step fires on its schedule (one-shot, iterative
// rounds, AGP) from the trainer's before_step hook, with saliencies computed when it fires (Taylor
// over `batches` batches, SNIP on one batch) or accumulated over the steps since the last pruning
// (movement). Masks are enforced after every optimizer step and saved in checkpoints.
#pragma once

#include <memory>
#include <vector>

#include "data/dataset.hpp"
#include "nn/module.hpp"
#include "nn/trainer.hpp"
#include "prune/mask.hpp"
#include "prune/recipe.hpp"
#include "prune/scorers.hpp"

namespace prune {

class RecipeRunner {
public:
    // Resolves every step's selectors against the model (errors name the recipe line).
    RecipeRunner(const Recipe& recipe, nn::Module& model, const data::Dataset& train, uint64_t seed);
    RecipeRunner(const RecipeRunner&) = delete;
    RecipeRunner& operator=(const RecipeRunner&) = delete;

    // Wires masks and schedule into the trainer; the runner must outlive it.
    void attach(nn::Trainer& trainer);
    MaskSet& masks() { return masks_; }
    // Target sparsity per pruned parameter at the end of the recipe (for reports).
    std::map<std::string, double> final_targets() const;

private:
    Recipe recipe_;
    nn::Module& model_;
    const data::Dataset& train_;
    uint64_t seed_;
    MaskSet masks_;
    std::vector<ScheduledStep> steps_;
    std::vector<std::unique_ptr<SaliencyTracker>> trackers_;  // movement steps, in step order
};

}  // namespace prune
