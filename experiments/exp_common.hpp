// Pieces the experiment programs share: loading a cached baseline into a model, pruning and
// fine-tuning it with masks enforced, and turning result tables into mean ± std curves and tables.
// Experiments stay wiring; anything two of them need lives here (or lower, in prune/ and nn/).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "experiments/harness.hpp"
#include "experiments/plot.hpp"
#include "nn/module.hpp"
#include "prune/mask.hpp"
#include "prune/pruner.hpp"

namespace experiments {

// A fresh model with the cached baseline's weights (trained on first use).
std::shared_ptr<nn::Module> load_baseline(Context& ctx, const std::string& spec, uint64_t seed,
                                          Context::Baseline* info = nullptr);

// The weights pruning acts on: every parameter with >= 2 dims, optionally without the output layer.
std::vector<nn::NamedTensor> prunable_weights(const nn::Module& model, bool with_output_layer);

// Trains `model` with `masks` enforced after every step (prune::attach_masks); returns the trainer's
// result. Evaluates the test set at the end. With `model_spec`, training uses that model's default
// augmentation (Context::train_set), as its baseline did.
nn::TrainResult train_masked(Context& ctx, nn::Module& model, prune::MaskSet& masks, const nn::TrainConfig& cfg,
                             const std::string& model_spec = "");

// A fine-tuning recipe: `epochs` of SGD with momentum at `lr`, cosine decay, the baseline's batch.
// A fractional `epochs` (e.g. 0.5) stops after that share of the steps of an epoch over
// `train_examples` images, the cosine ending there.
nn::TrainConfig finetune_config(const Context& ctx, double epochs, float lr, uint64_t seed, int64_t train_examples = 0);

// Kept fraction of the elements of `params` under `masks` (1 for unmasked tensors).
double density_of(const std::vector<nn::NamedTensor>& params, const prune::MaskSet& masks);

// "1,2,3" -> {1, 2, 3}; errors name `what`.
std::vector<double> parse_doubles(const std::string& text, const std::string& what);
std::vector<uint64_t> seed_list(int n_seeds);  // 1 .. n

// Point costs for the ETA. One unit is a training epoch of lenet300 over 55,000 images (about a
// second on two cores); other models scale by their weight MACs per image, which tracks measured
// epoch times (vgg has 109x lenet300's MACs and took 110x its time per epoch).
double train_cost(const std::string& model_spec, double epochs, double images = 55000);
// Forward passes only (evaluation, sensitivity grids): a third of a training pass per image.
double eval_cost(const std::string& model_spec, double images);
// The cost of a training run given its forward MACs over all examples (models outside the zoo).
double macs_cost(double forward_macs);

// Curves: rows grouped by `series_col`, x from `x_col`, mean ± std of `y_col` (times `scale`) over
// the rows sharing (series, x), sorted by x.
std::vector<plot::Series> mean_curves(const Table& t, const std::string& series_col, const std::string& x_col,
                                      const std::string& y_col, double scale = 1.0);
// The same numbers as a report table: one row per x, one "mean ± std" column per series.
Table mean_table(const Table& t, const std::string& series_col, const std::string& x_col, const std::string& y_col,
                 double scale, int decimals, const std::string& x_header);
// The numeric values of one column.
std::vector<double> column_values(const Table& t, const std::string& col);
// Mean of y over the rows where series == s and x == x (NaN when none).
Stats cell_stats(const Table& t, const std::string& series_col, const std::string& s, const std::string& x_col,
                 double x, const std::string& y_col);

}  // namespace experiments
