// Element saliencies that need data or training, for PruneSpec's Saliency scorer (magnitude and
// random need nothing and live in select.hpp / pruner.hpp):
//   Taylor    |w * dL/dw|, the gradient summed over a few batches (first-order Taylor expansion of
//             the loss change; Molchanov et al. 2017, 2019)
//   SNIP      |w * dL/dw| on one batch at initialisation, normalised to sum 1 over the scored
//             tensors (Lee et al. 2019, "SNIP: single-shot network pruning")
//   movement  S = -sum_t w_t * g_t accumulated over training steps (Sanh et al. 2020); signed, so
//             groups are scored with Reduce::signed_sum
// Each leaves the model's gradients zeroed. Masks (if given) are applied to the gradients first, so
// pruned weights score 0.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "nn/module.hpp"
#include "nn/tensor.hpp"
#include "prune/mask.hpp"

namespace prune {

enum class Saliency { None, Taylor, Snip, Movement };
std::string saliency_name(Saliency s);

// |w * g| for `params` (names; all parameters with >= 2 dims when empty) with g summed over the
// first `n_batches` batches of a loader over `ds` shuffled with `seed`.
std::map<std::string, nn::Tensor> taylor_saliency(nn::Module& model, const data::Dataset& ds,
                                                  const std::vector<std::string>& params, int64_t batch_size,
                                                  int64_t n_batches, uint64_t seed, const MaskSet* masks = nullptr);
// SNIP: taylor_saliency over one batch, each score divided by the sum of all scores.
std::map<std::string, nn::Tensor> snip_saliency(nn::Module& model, const data::Dataset& ds,
                                                const std::vector<std::string>& params, int64_t batch_size,
                                                uint64_t seed, const MaskSet* masks = nullptr);

// Accumulates per-step saliencies during training: call accumulate() while the step's gradients
// exist (e.g. from Trainer::after_step). Taylor: running sum of |w * g|; movement: -sum w * g.
class SaliencyTracker {
public:
    SaliencyTracker(Saliency kind, std::vector<nn::NamedTensor> params);
    void accumulate();
    void reset();
    const std::map<std::string, nn::Tensor>& scores() const { return scores_; }
    int64_t steps() const { return steps_; }

private:
    Saliency kind_;
    std::vector<nn::NamedTensor> params_;
    std::map<std::string, nn::Tensor> scores_;
    int64_t steps_ = 0;
};

}  // namespace prune
