// One pruning step over named parameters: which tensors take part (globs, ignore lists), how their
// units are scored (magnitude, random, or given saliencies such as Taylor, SNIP, movement), grouped
// (granularity) and ranked (local, per-layer table, global with caps). decide_masks is pure: it
// returns the new MaskSet and touches no weight. Applying it is MaskSet::apply / enforce.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "nn/tensor.hpp"
#include "prune/amount.hpp"
#include "prune/mask.hpp"
#include "prune/select.hpp"

namespace prune {

enum class Scorer {
    Magnitude,  // |w| (grouped by the Ln norm: L1 is PyTorch's l1_unstructured / ln_structured)
    Random,     // uniform random unit scores (PyTorch's random_unstructured / random_structured)
    Saliency,   // element scores given by the caller (scorers.hpp: Taylor |w*g|, SNIP, movement)
};

struct PruneSpec {
    Scorer scorer = Scorer::Magnitude;
    Grouping granularity;  // element by default
    Reduce reduce;         // Ln norm order over a unit (p = 1), normalisation by unit size
    bool global = false;   // one ranking over all targets (else each target on its own)
    GlobalOptions global_options;
    Amount amount;
    // Per-layer amounts (glob -> amount), first match wins. A matched target is always pruned on its
    // own with this amount, also in a global step (e.g. the output layer at a lower rate).
    std::vector<std::pair<std::string, Amount>> layer_amounts;
    uint64_t seed = 0;  // random scores: each target draws from a stream of (seed, its name)
};

// A target is the unit of a local decision: one tensor, or several whose units are coupled (an
// attention head spans the rows of q, k, v and the columns of the output projection).
struct TargetMember {
    std::string param;
    Grouping grouping;
};
struct Target {
    std::string name;
    std::vector<TargetMember> members;
};

// New masks for the targets' parameters (looked up in `params`), starting from `current`. The result
// holds every mask of `current` (unchanged when not a target) plus the new ones; new masks are
// current * keep, so they only shrink. `saliency` must hold an element-score tensor per parameter
// when spec.scorer is Saliency.
MaskSet decide_targets(const std::vector<Target>& targets, const std::vector<nn::NamedTensor>& params,
                       const MaskSet& current, const PruneSpec& spec,
                       const std::map<std::string, nn::Tensor>& saliency = {});
// The common case: every parameter of `params` is its own target with spec.granularity.
MaskSet decide_masks(const std::vector<nn::NamedTensor>& params, const MaskSet& current, const PruneSpec& spec,
                     const std::map<std::string, nn::Tensor>& saliency = {});

// Coupled attention-head targets, one per attention block: `rows` are the q, k, v weights (and
// biases) whose dim 0 is split into n_heads blocks, `cols` the output projection weight whose dim 1
// is. Units are heads; a head's score is the Ln norm over all its weights.
struct AttentionBlock {
    std::string name;
    std::vector<std::string> rows, cols;
    int64_t n_heads = 0;
};
std::vector<Target> attention_head_targets(const std::vector<AttentionBlock>& blocks);
// The attention blocks of a BERT encoder whose parameters are named "<prefix>encoder.layer.<i>.attention.
// {self.query, self.key, self.value, output.dense}" (prefix "bert." in the task models): q, k, v
// weights and biases as rows, the output weight as columns, `heads[i]` heads in layer i.
std::vector<AttentionBlock> bert_attention_blocks(const std::vector<int64_t>& heads, const std::string& prefix = "bert.");
// Names of the Q/K/V/O and FFN weight matrices of such an encoder, layer by layer (what unstructured
// transformer pruning acts on; the embedding and the heads stay out).
std::vector<std::string> bert_encoder_weights(int64_t n_layers, const std::string& prefix = "bert.");

// ---- choosing parameters -------------------------------------------------------------------------
// Names of `all` matched by any `include` glob and by no `ignore` glob. Every glob must match at least
// one name of `all`, or the error names it and `where` (a selection never silently does nothing).
std::vector<std::string> select_names(const std::vector<std::string>& all, const std::vector<std::string>& include,
                                      const std::vector<std::string>& ignore, const std::string& where);
// Parameters pruned when none are named: every weight with >= 2 dims (Linear, Conv, Embedding);
// biases and normalisation parameters stay dense.
std::vector<std::string> default_prunable(const std::vector<nn::NamedTensor>& params);
// The output layer: the last parameter with >= 2 dims, in registration order ("" when none).
std::string output_layer(const std::vector<nn::NamedTensor>& params);
std::vector<nn::NamedTensor> pick(const std::vector<nn::NamedTensor>& params, const std::vector<std::string>& names);

}  // namespace prune
