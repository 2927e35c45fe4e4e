// The per-layer sparsity table (after Distiller's weights_sparsity_summary, extended): for each
// tensor its shape, size, non-zeros, achieved sparsity against a target, mask zeros against value
// zeros (a value can be zero without a mask, and a masked value should be zero), and the fully zero
// slices along dims 0 and 1 (rows and columns of a Linear, filters and input channels of a Conv).
// Printed as an aligned table and written as CSV, each with a total row.
#pragma once

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "nn/tensor.hpp"
#include "prune/mask.hpp"

namespace prune {

struct LayerRow {
    std::string name;
    nn::Shape shape;
    int64_t params = 0;
    int64_t nnz = 0;          // elements non-zero after masking
    double target = NAN;      // target sparsity when known
    bool has_mask = false;
    int64_t mask_zeros = 0;   // zeros of the mask (0 without one)
    int64_t value_zeros = 0;  // zeros among the stored values
    int64_t zero_dim0 = 0, n_dim0 = 0;  // slices along dim 0 that are entirely zero (ndim >= 2)
    int64_t zero_dim1 = 0, n_dim1 = 0;  // along dim 1
    double sparsity() const { return params ? 1.0 - double(nnz) / double(params) : 0.0; }
};

struct Report {
    std::vector<LayerRow> rows;
    LayerRow total;  // sums over rows (target: the parameter-weighted mean of known targets)
};

Report make_report(const std::vector<nn::NamedTensor>& tensors, const MaskSet& masks,
                   const std::map<std::string, double>& targets = {});
std::string format_report(const Report& r);
std::string report_csv(const Report& r);

}  // namespace prune
