// How much to prune, with torch.nn.utils.prune's semantics: a fraction in [0, 1] of the units that
// are still unpruned (rounded like Python's round(), half to even), or an integer count of units.
// Validation and error texts follow PyTorch's _validate_pruning_amount_init / _validate_pruning_amount.
// Not here: which units are pruned (select.hpp).
#pragma once

#include <cstdint>
#include <string>

namespace prune {

// Python's round(x) for a double: nearest integer, ties to even (round(2.5) == 2, round(3.5) == 4).
int64_t round_half_even(double x);

class Amount {
public:
    Amount() = default;  // fraction 0: prunes nothing
    // Throw nn::Error like PyTorch's _validate_pruning_amount_init: a fraction outside [0, 1] (or
    // NaN) and a negative count are rejected.
    static Amount fraction(double f);
    static Amount count(int64_t n);
    // Text as a Python literal would read: "0.3", "1.0", "5e-1" are fractions; "3" is a count.
    // `what` names the option or file:line in errors.
    static Amount parse(const std::string& text, const std::string& what);

    bool is_count() const { return is_count_; }
    double value() const { return is_count_ ? double(count_) : fraction_; }
    // Units to prune among n_units unpruned ones: count, or round(fraction * n_units); a count
    // larger than n_units throws (PyTorch's "should be smaller than the number of parameters to
    // prune"). `what` names the tensor in the error.
    int64_t units_to_prune(int64_t n_units, const std::string& what = "") const;
    std::string str() const;  // "0.3" or "3", round-trips through parse

private:
    bool is_count_ = false;
    double fraction_ = 0.0;
    int64_t count_ = 0;
};

}  // namespace prune
