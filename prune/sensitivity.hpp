// Sensitivity analysis and per-layer ratio allocation (Li et al. 2017, "Pruning filters for efficient
// ConvNets", section 3.2; Han et al. 2015). For each prunable layer and each ratio of a grid, prune
// that layer alone (by L1 magnitude: elements, or the units of its dependency group — filters,
// neurons, heads), evaluate on a validation split, restore. No retraining. The curves then choose
// per-layer ratios: (a) the largest ratio whose accuracy drop is <= delta; (b) for a parameter or
// MAC budget, the common drop threshold found by bisection; (c) optionally one ratio per stage
// (layers with the same output size), the smallest of its layers'.
// Evaluation runs on the thread pool (threads inside); --shard K/N runs every N-th grid point, and
// merge_sensitivity combines the shards' rows into the unsharded result (canonical order).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "data/dataset.hpp"
#include "nn/module.hpp"
#include "prune/thin.hpp"

namespace prune {

struct SensitivityRow {
    std::string parameter;    // the pruned weight (filter: its group's first producer); "dense" for the baseline
    std::string granularity;  // element | filter
    double ratio = 0, accuracy = 0, loss = 0;
};

struct SensitivityOptions {
    std::string granularity = "filter";  // element, or filter (channels / neurons / heads of the groups)
    std::vector<double> ratios;          // empty: default_ratios(granularity)
    std::vector<std::string> params;     // globs of the layers to analyse (empty: all)
    int shard_index = 0, shard_count = 1;
    int64_t batch_size = 512;
    std::function<void(const std::string&)> progress;  // one line per finished point (may be null)
};

// 0.1 ... 0.9, plus 0.95 and 0.99 for element granularity.
std::vector<double> default_ratios(const std::string& granularity);

// The analysed layers, in model order: every weight with >= 2 dims except the output layer
// (element), or the first producer of every dependency group (filter).
std::vector<std::string> sensitivity_layers(const std::string& spec, nn::Module& model, const std::string& granularity);

// Rows of this shard (the dense row belongs to shard 1), in canonical order. The model's values are
// restored after every point. `model` must be in eval mode-independent state: it is evaluated with
// nn::evaluate (eval mode) and left in eval mode.
std::vector<SensitivityRow> sensitivity(const std::string& spec, nn::Module& model, const data::Dataset& val,
                                        const SensitivityOptions& options);

std::string sensitivity_csv(const std::vector<SensitivityRow>& rows);  // header parameter,granularity,ratio,accuracy,loss
std::vector<SensitivityRow> parse_sensitivity_csv(const std::string& text, const std::string& source);
// Union of the shards' rows in canonical order ("dense" first, then natural order of parameter
// names, then ratio). A (parameter, ratio) pair present twice with different values is an error.
std::vector<SensitivityRow> merge_sensitivity(const std::vector<std::vector<SensitivityRow>>& shards);

// ---- allocation ---------------------------------------------------------------------------------

struct SensitivityTable {
    std::string granularity;
    double dense_accuracy = 0;
    std::vector<std::string> layers;                                  // canonical order
    std::map<std::string, std::vector<std::pair<double, double>>> curve;  // ratio -> accuracy, sorted
};
// Needs exactly one "dense" row and one granularity; errors name `source`.
SensitivityTable make_table(const std::vector<SensitivityRow>& rows, const std::string& source);

// (a) Per layer, the largest grid ratio whose accuracy drop (dense - accuracy) is <= max_drop (0 when
// none). With `stage_of` (layer -> stage label, e.g. its output size), (c): each stage gets the
// smallest ratio among its layers.
std::map<std::string, double> ratios_for_drop(const SensitivityTable& table, double max_drop,
                                              const std::map<std::string, std::string>& stage_of = {});

struct Allocation {
    std::map<std::string, double> ratios;
    double drop = 0;     // the accuracy-drop threshold that gave them
    double removed = 0;  // fraction of the budgeted quantity removed
};
// (b) The smallest drop threshold whose ratios remove at least `target` (a fraction) of the quantity
// measured by removed_fraction (params or MACs), by bisection over [0, largest drop in the table].
// Throws when even the largest ratios fall short, saying how much they remove.
Allocation allocate_budget(const SensitivityTable& table, double target,
                           const std::function<double(const std::map<std::string, double>&)>& removed_fraction,
                           const std::map<std::string, std::string>& stage_of = {});

// Fraction of params (or MACs when `macs`) removed by per-layer ratios: filter granularity thins
// whole groups (their readers shrink too), element granularity removes ratio x the layer's weights.
double removed_fraction(const std::string& spec, nn::Module& model, const std::string& granularity,
                        const std::map<std::string, double>& ratios, bool macs);

// Stage of each analysed layer: its output positions (layers of equal feature-map size share one).
std::map<std::string, std::string> stages_by_size(const std::string& spec, nn::Module& model,
                                                  const std::vector<std::string>& layers);

// A recipe `secateurs prune` accepts: one L1 step per layer with a non-zero ratio (element:
// l1_unstructured; filter: magnitude over filters / neurons, or heads).
std::string allocation_recipe(const std::string& spec, nn::Module& model, const std::string& granularity,
                              const std::map<std::string, double>& ratios, const std::string& comment);

// The masks of per-layer ratios applied by L1 magnitude, as sensitivity() prunes (filter: whole
// groups with their companions, so the masked model equals its thinned version).
MaskSet masks_for_ratios(const std::string& spec, nn::Module& model, const std::string& granularity,
                         const std::map<std::string, double>& ratios);

}  // namespace prune
