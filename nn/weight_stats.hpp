// Weight statistics for analysis (the seed's BERT claims C11 and C12): per-tensor near-zero fractions
// and magnitudes, per-row norms and sparsity of a matrix (embedding rows), and attention-head
// importance from weight norms. Read-only: nothing here changes a model. Pruning itself lives in prune/.
#pragma once

#include <string>
#include <vector>

#include "nn/module.hpp"
#include "nn/transformer.hpp"

namespace nn {

struct TensorStats {
    std::string name;
    Shape shape;
    int64_t numel = 0, n_zero = 0;   // exact zeros (pruned weights)
    double near_zero = 0;            // fraction with |w| < the absolute threshold
    double near_zero_rel = 0;        // fraction with |w| < rel_threshold * std of this tensor
    double mean_abs = 0, std = 0, max_abs = 0;
};

// Statistics of one tensor; thresholds as in TensorStats.
TensorStats tensor_stats(const std::string& name, const Tensor& t, float threshold, float rel_threshold);
// Every parameter of `m` with at least two dimensions (weight matrices, embeddings), in order.
std::vector<TensorStats> weight_stats(const Module& m, float threshold, float rel_threshold);

struct RowStats {
    double l1 = 0, l2 = 0, max_abs = 0;
    double near_zero = 0;  // fraction of the row with |w| < threshold
    int64_t n_zero = 0;
};
// One entry per row of a matrix [N, C].
std::vector<RowStats> row_stats(const Tensor& matrix, float threshold);

// Head importance from weight norms: the L2 norms of head h's rows [h*D, (h+1)*D) of the query, key
// and value weights and of its columns of attention.output.dense; total is the norm of all four.
struct HeadNorm {
    int64_t layer = 0, head = 0;
    double query = 0, key = 0, value = 0, output = 0, total = 0;
};
std::vector<HeadNorm> head_weight_norms(const BertModel& model);

}  // namespace nn
