// Pruning recipes: a small, strict text format listing pruning steps, read by a hand-written parser.
//
//   # '#' starts a comment; blank lines are ignored; keys are lower case.
//   [step hidden]                  # a step, with an optional name
//   params      = fc1.weight, fc2.*   # selectors: exact names or globs (* any run, ? one character)
//   ignore      = fc3.*               # optional selectors to leave out
//   method      = l1_unstructured     # l1_unstructured random_unstructured ln_structured
//                                     # random_structured magnitude random taylor snip movement
//   amount      = 0.5                 # PyTorch semantics: fraction of survivors (0.5) or count (100);
//                                     # for iterative / agp schedules: the target sparsity (fraction)
//   granularity = element             # element rows cols filters channels kernels heads layer dim
//   dim         = 1                   # with granularity dim or heads, and ln/random_structured
//   heads       = 8                   # with granularity heads
//   n           = 2                   # norm order of unit scores: 1, 2, inf (fro = 2)
//   normalize   = true                # divide unit scores by unit size^(1/n)
//   scope       = global              # local (default) or global
//   layer_normalize = true            # global: scale each layer's scores by their mean
//   min_sparsity = 0.1                # global: per-layer floor ...
//   max_sparsity = 0.98               # ... and cap
//   layer_amount = fc3.weight 0.1     # per-layer table entry GLOB AMOUNT (repeatable)
//   schedule    = agp                 # oneshot (default) iterative agp
//   rounds      = 5                   # iterative
//   start = 100 / end = 2000 / every = 100   # training steps (one key per line)
//   initial     = 0.0                 # agp: initial sparsity
//   seed        = 1                   # random scores
//   batches     = 4                   # taylor: batches of gradient; snip uses one
//   batch_size  = 128                 # taylor / snip
//
// Strict: an unknown key, a repeated key, a bad value, a key that does not apply to the method or
// schedule, a missing params/method/amount, an empty recipe, and (at resolution) a selector that
// matches no parameter are errors naming the source and the line. parse_recipe takes text, so fuzz
// targets can call it directly; it only ever throws nn::Error.
#pragma once

#include <string>
#include <vector>

#include "nn/tensor.hpp"
#include "prune/pruner.hpp"
#include "prune/schedule.hpp"
#include "prune/scorers.hpp"

namespace prune {

struct RecipeStep {
    std::string name;
    int line = 0;  // of the [step] header
    std::vector<std::string> params, ignore;
    int params_line = 0, ignore_line = 0;
    std::string method;
    PruneSpec spec;
    std::vector<int> layer_amount_lines;  // one per spec.layer_amounts entry
    Saliency saliency = Saliency::None;
    Schedule schedule;
    int64_t batches = 1, batch_size = 128;
};

struct Recipe {
    std::string source;
    std::vector<RecipeStep> steps;
};

Recipe parse_recipe(const std::string& text, const std::string& source_name);
Recipe load_recipe(const std::string& path);

// The parameters a step prunes among `names` (params minus ignore); each selector, including the
// layer_amount globs, must match, or the error names source:line.
std::vector<std::string> resolve_params(const Recipe& recipe, const RecipeStep& step,
                                        const std::vector<std::string>& names);
// A step ready for training or offline use (saliency provider left to the caller).
ScheduledStep to_scheduled(const Recipe& recipe, const RecipeStep& step, const std::vector<std::string>& names);

}  // namespace prune
