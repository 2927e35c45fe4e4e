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

// A convolution with a CSR weight: W [OC, C*KH*KW] (the Conv2d weight [OC, C, KH, KW] viewed as a
// matrix). Per image: y_b [OC, OH*OW] = W col(x_b) (one spmm along the output
// pixels, bias fused), without writing that matrix: a 1x1 stride-1 unpadded convolution multiplies
// the image itself, any other runs directly on nn's phase planes of the image (the zero-padded image
// at stride 1), forward and backward: each entry's column index becomes its tap's offset into the
// planes, and the output is computed over rows of the plane width and cropped. Images are split
// across threads when the batch has at least as many images as threads (the backward then sums dW
// and db per thread, added in thread order); otherwise each product is.
struct SparseConvShape {
    int64_t in_channels = 0, kernel_size = 1, stride = 1, padding = 0;
};

// x [B, C, H, W], values [nnz], bias [OC] or undefined -> [B, OC, OH, OW]. Differentiable in x,
// values and bias: dx by spmmt scattering W^T dy_b into the planes' gradient, dW at the pattern by
// sddmm of dy_b with the planes, db = sums of dy.
nn::Tensor conv2d(const nn::Tensor& x, const std::shared_ptr<const CsrPattern>& pattern, const nn::Tensor& values,
                  const nn::Tensor& bias, const SparseConvShape& shape);
// Inference only (nothing is recorded): conv(x) * scale + shift per output channel, then max(0, .) when
// relu. scale undefined means 1, shift undefined means 0. The scale is folded into the weight values
// (an eval-mode BatchNorm costs nothing per pixel).
nn::Tensor conv2d_affine(const nn::Tensor& x, const std::shared_ptr<const CsrPattern>& pattern,
                         const nn::Tensor& values, const nn::Tensor& scale, const nn::Tensor& shift,
                         const SparseConvShape& shape, bool relu);

// x [..., IN], values [nnz] (W = pattern with these values, [OUT, IN]), bias [OUT] or undefined
// -> [..., OUT]. Differentiable in x, values and bias. With `lockstep` (W's plan, whose values it
// holds: a snapshot of `values`) the forward product of a batch runs the lockstep kernel.
nn::Tensor linear(const nn::Tensor& x, const std::shared_ptr<const CsrPattern>& pattern, const nn::Tensor& values,
                  const nn::Tensor& bias, const kernels::LockstepPlan* lockstep = nullptr);

}  // namespace sparse
