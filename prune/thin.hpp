// Structured pruning that really shrinks the model. A dependency group is a set of units (channels,
// neurons, attention heads) that must be removed together because several tensors index them:
//   conv -> BatchNorm -> ReLU/pool -> next conv      a filter, its bias and BN entries, and the next
//                                                    conv's input channel
//   last conv -> flatten -> first Linear             each channel owns a block of H*W input features
//   Linear -> Linear                                 a neuron (row + bias) and the next layer's column
//   residual adds (ResNet)                           every tensor added into a stage's stream shares its
//                                                    channels: the stem, each block's conv2/bn2 and the
//                                                    downsample conv/bn are one group with all readers
//   attention heads (BERT)                           q/k/v rows (+ biases) and output-projection columns
//   FFN hidden units (BERT)                          intermediate rows (+ bias) and output columns
// Groups are built from the zoo's module structure (nn/models.hpp, nn/transformer.hpp), keyed by the
// spec option that holds their width, so a thinned model is rebuilt from its spec string alone.
//
// A unit is removed when every producer weight (the rows that compute it) is zero under the masks;
// its companions (biases, BatchNorm weight, bias and running statistics) are dropped with it, and the
// readers' slices are cut. `complete_masks` masks those companions too: the masked model it gives has
// exactly the outputs of the thinned one (a BatchNorm shift of a zeroed filter is otherwise a
// constant channel). Params and MACs are counted per layer, dense and effective under masks.
// Not here: deciding which units to prune (pruner.hpp: group_targets gives decide_targets the groups).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "nn/module.hpp"
#include "prune/mask.hpp"
#include "prune/pruner.hpp"

namespace prune {

// Unit u of a group owns indices [u*block, (u+1)*block) of `param` along `dim`.
struct GroupSlice {
    std::string param;
    int dim = 0;
    int64_t block = 1;
};

struct Group {
    std::string name;  // the first producer's module, e.g. "features.0", "layer2 (residual)"
    std::string kind;  // "channels", "neurons" or "heads"
    int64_t units = 0;
    std::vector<GroupSlice> producers;   // weights computing the unit (decide whether it is removed)
    std::vector<GroupSlice> companions;  // biases, BatchNorm parameters and buffers: removed with it
    std::vector<GroupSlice> readers;     // inputs of the following layers: cut
    std::string spec_key;                // model spec option holding this width ("widths", "heads", ...)
    int spec_index = 0;
};

// The dependency groups of a zoo model (lenet300, lenet5, conv2/4/6, vgg, resnet20, bert-mlm,
// bert-cls); `spec` is its model spec. Other models throw naming the spec.
std::vector<Group> dependency_groups(const std::string& spec, nn::Module& model);

// Structured targets for decide_targets: one per group, its producer weights as members (units are
// dim-0 slices, or head blocks). With L1 magnitude scores this is Li et al.'s filter ranking (a tied
// residual group sums the L1 norms of all its filters).
std::vector<Target> group_targets(const std::vector<Group>& groups);

// Which units of each group survive (1) under `masks` (units whose producer weights are all zero are
// dead, whether by mask or by value).
std::vector<std::vector<uint8_t>> alive_units(const std::vector<Group>& groups, const nn::Module& model,
                                              const MaskSet& masks);

// `masks` plus masks that zero the producers and companions (biases, BatchNorm weight and bias) of
// every dead unit: applying the result makes the model compute what thin() computes.
MaskSet complete_masks(const std::vector<Group>& groups, const nn::Module& model, const MaskSet& masks);

struct ThinResult {
    std::string spec;                    // the smaller model's spec (store as "arch")
    std::shared_ptr<nn::Module> model;   // dense, with the surviving values of the masked model
    MaskSet masks;                       // element masks left inside the surviving slices (may be empty)
    std::vector<int64_t> units_before, units_after;  // per group
};

// A genuinely smaller dense model: every dead unit removed from its producers, companions and readers.
// The model is evaluated as masked (values times masks). A group that would lose all its units throws
// naming it.
ThinResult thin(const std::string& spec, nn::Module& model, const MaskSet& masks);

// ---- cost ---------------------------------------------------------------------------------------

// Parameters and multiply-accumulates of one layer (one weight) for one input example. Dense counts
// all its parameters (weight, bias, BatchNorm); effective counts what survives thinning and masks:
// weights that are unmasked, non-zero-unit and read from living inputs, plus the surviving biases and
// BatchNorm entries. MACs are weight MACs (conv: kept weights x output positions; Linear: kept
// weights x tokens), the usual convention; pooling, normalisation and activations are not counted.
struct LayerCost {
    std::string layer;  // the weight's name
    int64_t params = 0, macs = 0;
    int64_t params_effective = 0, macs_effective = 0;
};
struct CostTotals {
    int64_t params = 0, macs = 0, params_effective = 0, macs_effective = 0;
};

// Output positions per example of each weight: H_out * W_out for convolutions, tokens for BERT's
// linears (its max_position), 1 for image MLP layers. Every weight with >= 2 dims is listed,
// embeddings with 0.
std::vector<std::pair<std::string, int64_t>> weight_positions(const std::string& spec, nn::Module& model);

std::vector<LayerCost> layer_costs(const std::string& spec, nn::Module& model, const MaskSet& masks = {});
CostTotals total_costs(const std::vector<LayerCost>& layers);
// "Params: 1,234 → 567, MACs: 12,345 → 6,789" (dense → effective).
std::string cost_line(const CostTotals& t);
// A table: layer, params, MACs, effective params and MACs, with a total row.
std::string format_costs(const std::vector<LayerCost>& layers);

// Params and MACs of the model (params, macs) and after removing round(ratio * units) units of each
// group (params_effective, macs_effective); ratios by group index, missing = 0. For allocation
// without touching weights.
CostTotals thinned_costs(const std::string& spec, nn::Module& model, const std::vector<Group>& groups,
                         const std::vector<double>& ratios);

}  // namespace prune
