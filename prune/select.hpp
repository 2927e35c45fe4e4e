// Deciding masks: pure functions from scores and the current mask to a new mask that can only shrink.
// A Grouping splits a tensor into pruning units (elements, slices along a dim, blocks of slices such
// as attention heads, 2-D kernels, the whole tensor); units are scored by an Ln norm of element
// saliencies over the unit; the lowest-scoring *surviving* units are pruned, locally (per tensor) or
// globally (one ranking over many tensors, with optional per-layer normalisation and caps).
// A unit survives while any of its elements is unmasked (PyTorch's PruningContainer rule), so
// repeated pruning prunes only among survivors, and amounts are fractions of the survivors.
// The torch.nn.utils.prune functions (l1_unstructured, ln_structured, ...) are defined on top.
// Ties between equal scores are broken by position (the lower flat unit index is pruned first);
// PyTorch's topk leaves ties unspecified. Not here: where saliencies come from (scorers.hpp), which
// parameters take part (pruner.hpp), when to prune (schedule.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/rng.hpp"
#include "nn/tensor.hpp"
#include "prune/amount.hpp"

namespace prune {

// How a tensor's elements form pruning units. For a weight [d0, d1, ...]:
//   element  every element is a unit (unstructured)
//   slices   slice i along `dim` is unit i: Linear rows (neurons, dim 0) or columns (dim 1), Conv
//            filters (dim 0 of [OC, IC, KH, KW]), input channels (dim 1), embedding rows (dim 0)
//   heads    `n_blocks` equal blocks of consecutive slices along `dim`: attention heads are the
//            row blocks (dim 0) of the q/k/v weights [H*hd, D] and the column blocks (dim 1) of the
//            output projection [D, H*hd]
//   kernels  each (out, in) pair of a weight with >= 3 dims: the 2-D kernels of a Conv weight
//   tensor   the whole tensor is one unit (whole layers)
struct Grouping {
    enum class Kind { Element, Slices, Kernels, Tensor };
    Kind kind = Kind::Element;
    int dim = 0;           // Slices: negative counts from the end, like PyTorch
    int64_t n_blocks = 0;  // Slices: 0 = one unit per slice; H = H blocks (heads)

    static Grouping element() { return {}; }
    static Grouping slices(int dim) { return {Kind::Slices, dim, 0}; }
    static Grouping heads(int64_t n_heads, int dim) { return {Kind::Slices, dim, n_heads}; }
    static Grouping kernels() { return {Kind::Kernels, 0, 0}; }
    static Grouping tensor() { return {Kind::Tensor, 0, 0}; }
    bool structured() const { return kind != Kind::Element; }

    // Resolved against a shape. group_of(flat index) is the unit of an element.
    struct Layout {
        Kind kind = Kind::Element;
        int64_t n_groups = 0, group_size = 0;  // units, elements per unit
        int64_t inner = 1, extent = 1, block = 1;
        int64_t group_of(int64_t i) const {
            switch (kind) {
                case Kind::Element: return i;
                case Kind::Slices: return (i / inner) % extent / block;
                case Kind::Kernels: return i / inner;
                case Kind::Tensor: return 0;
            }
            return 0;
        }
    };
    // Validates like PyTorch (slices need >= 2 dims and dim < ndim; heads need the extent divisible
    // by n_blocks; kernels need >= 3 dims); errors name `what`.
    Layout layout(const nn::Shape& shape, const std::string& what) const;
};

// Scores of the units of one target (a tensor, or tensors coupled unit by unit) and which survive.
struct UnitScores {
    std::vector<double> score;
    std::vector<uint8_t> alive;  // 1 while any element of the unit is unmasked
    int64_t n_alive() const;
};

// Reduction of element saliencies over a unit: the Ln norm (p = 1, 2, ..., or infinity),
// optionally divided by group_size^(1/p) (a power mean, comparable across unit sizes).
// `signed_sum` sums raw (possibly negative) saliencies instead, for movement scores.
struct Reduce {
    double p = 1.0;
    bool normalize = false;
    bool signed_sum = false;
};

// One tensor taking part in a target: its element saliencies, its current mask (undefined = all
// ones) and its layout. Masked elements count as saliency 0 (they are zero weights).
struct Member {
    nn::Tensor saliency;
    nn::Tensor mask;
    Grouping::Layout layout;
};

// Unit scores of a target; all members must have the same number of units (coupled units, e.g.
// a head across q, k, v and out). Non-finite saliencies throw naming `what`.
UnitScores group_scores(const std::vector<Member>& members, const Reduce& reduce, const std::string& what);
// Survival of each unit of one tensor from its mask (undefined = all survive).
std::vector<uint8_t> unit_alive(const nn::Tensor& mask, const Grouping::Layout& layout);
// Random scores (uniform) for units, with survival from the members' masks.
UnitScores random_scores(const std::vector<Member>& members, nn::Rng& rng);

// The new survival flags after pruning `amount` of the surviving units with the lowest scores.
std::vector<uint8_t> decide_local(const UnitScores& units, const Amount& amount, const std::string& what = "");

struct GlobalOptions {
    bool layer_normalize = false;  // divide each target's scores by the mean score of its survivors
    double min_sparsity = 0.0;     // after the step each target has at least this fraction of its
    double max_sparsity = 1.0;     // units pruned and at most this fraction (floor / ceil to units)
};
// One ranking over all targets: `amount` of all surviving units together (PyTorch's
// global_unstructured when every target is element-grouped). Caps are honoured first (each target
// prunes its lowest units up to min_sparsity), then the globally lowest units are pruned, skipping
// targets at max_sparsity; caps that cannot be met with this amount throw, naming the target.
std::vector<std::vector<uint8_t>> decide_global(const std::vector<UnitScores>& targets, const Amount& amount,
                                                const GlobalOptions& options, const std::vector<std::string>& names);

// The element mask: old mask (undefined = ones) times the survival of each element's unit.
nn::Tensor expand_mask(const nn::Tensor& old_mask, const nn::Shape& shape, const Grouping::Layout& layout,
                       const std::vector<uint8_t>& alive);

// ---- torch.nn.utils.prune, as pure functions on tensors ----------------------------------------
// Each returns the new mask of `w` given its current mask (undefined = never pruned); weights are
// not modified. `n` is the norm order (1, 2, INFINITY); `dim` may be negative.
nn::Tensor l1_unstructured(const nn::Tensor& w, const Amount& amount, const nn::Tensor& mask = {});
nn::Tensor random_unstructured(const nn::Tensor& w, const Amount& amount, nn::Rng& rng, const nn::Tensor& mask = {});
nn::Tensor ln_structured(const nn::Tensor& w, const Amount& amount, double n, int dim, const nn::Tensor& mask = {});
nn::Tensor random_structured(const nn::Tensor& w, const Amount& amount, int dim, nn::Rng& rng,
                             const nn::Tensor& mask = {});
// Local per-row magnitude pruning of a matrix [N, C] (e.g. an embedding: every word keeps the same
// share of its vector): each row on its own, as l1_unstructured of that row with `amount`.
nn::Tensor row_unstructured(const nn::Tensor& w, const Amount& amount, const nn::Tensor& mask = {});
// One ranking of |w| over all tensors; masks may be empty (never pruned) or one per tensor.
std::vector<nn::Tensor> global_unstructured(const std::vector<nn::Tensor>& ws, const Amount& amount,
                                            const std::vector<nn::Tensor>& masks = {});

// ---- selecting parameters by name ----------------------------------------------------------------
// Glob match of a whole name: '*' any run of characters (dots included), '?' one character.
bool glob_match(const std::string& pattern, const std::string& name);
// Splits "a,b , c" into {"a", "b", "c"}; empty items are dropped.
std::vector<std::string> split_list(const std::string& text);

}  // namespace prune
