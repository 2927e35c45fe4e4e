// The differentiable sparse linear op: y = x W^T + b with W [OUT, IN] stored as a fixed CSR pattern
// and a values tensor, so a sparse layer trains like a dense one (gradients for x, the stored values
// and b; pruned positions have no value to update, so they stay pruned).
// Layout: our activations are [B, IN] (batch-major) while the kernels run SIMD along the batch. The
// forward is one spmm in batch-major mode (the kernel transposes tiles of x and y in cache; bias
// fused). The backward transposes dy and x to [F, B] once each (padded to whole vectors) and runs
// dx^T = W^T dy^T (spmmt), dW at the pattern = dy^T x (sddmm), db = row sums of dy^T. A batch of 1
// needs no transposes (spmv).
#pragma once

#include <memory>
#include <vector>

#include "nn/tensor.hpp"
#include "sparse/csr.hpp"
#include "sparse/kernels.hpp"

namespace sparse {

// The index part of a CSR matrix: fixed once built, shared by a layer, its copies and its gradient
// closures. Column indices are 16-bit ("compact") when chosen and the column count allows.
struct CsrPattern {
    int64_t rows = 0, cols = 0;
    std::vector<int32_t> row_ptr{0};
    std::vector<int32_t> col32;   // when !compact
    std::vector<uint16_t> col16;  // when compact
    bool compact = false;

    int64_t nnz() const { return row_ptr.back(); }
    int64_t bytes() const;  // row pointers + column indices (values not included)
    kernels::CsrRef ref(const float* values) const;
    // The pattern of m; compact = 16-bit indices (requires m.cols <= kCsr16MaxCols).
    static std::shared_ptr<const CsrPattern> of(const Csr& m, bool compact);
    Csr to_csr(const nn::Tensor& values) const;  // a Csr with a copy of the indices, sharing `values`
};

// x [..., IN], values [nnz] (W = pattern with these values, [OUT, IN]), bias [OUT] or undefined
// -> [..., OUT]. Differentiable in x, values and bias.
nn::Tensor linear(const nn::Tensor& x, const std::shared_ptr<const CsrPattern>& pattern, const nn::Tensor& values,
                  const nn::Tensor& bias);

}  // namespace sparse
