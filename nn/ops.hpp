// The differentiable operations. Each validates shapes, calls a forward kernel (kernels.hpp) and
// records a backward that calls its twin. Inputs may be strided views; outputs are contiguous.
// Gradient definitions are next to each forward, in ops_<family>.cpp.
#pragma once

#include <cstdint>

#include "nn/autograd.hpp"
#include "nn/rng.hpp"
#include "nn/tensor.hpp"

namespace nn {

// ---- linear algebra (ops_linalg.cpp) ----
// a [M,K] @ b [K,N] -> [M,N]; or batched a [..., M, K] @ b [..., K, N] with equal batch dims.
Tensor matmul(const Tensor& a, const Tensor& b);
// x [..., IN], weight [OUT, IN] (PyTorch layout), bias [OUT] or undefined -> [..., OUT]
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

// ---- element-wise with NumPy broadcasting (ops_elementwise.cpp) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, float s);
Tensor mul(const Tensor& a, float s);
Tensor neg(const Tensor& a);
Tensor relu(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor gelu(const Tensor& x);  // exact: x * Phi(x), as torch.nn.GELU()
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor square(const Tensor& x);
// Inverted dropout: zeroes each element with probability p and scales survivors by 1/(1-p);
// the identity when !training or p == 0. Draws from `rng`.
Tensor dropout(const Tensor& x, float p, bool training, Rng& rng = op_rng());

inline Tensor operator+(const Tensor& a, const Tensor& b) { return add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return div(a, b); }
inline Tensor operator+(const Tensor& a, float s) { return add(a, s); }
inline Tensor operator-(const Tensor& a, float s) { return add(a, -s); }
inline Tensor operator*(const Tensor& a, float s) { return mul(a, s); }
inline Tensor operator*(float s, const Tensor& a) { return mul(a, s); }
inline Tensor operator/(const Tensor& a, float s) { return mul(a, 1.0f / s); }
inline Tensor operator-(const Tensor& a) { return neg(a); }

// Shape of broadcasting a with b (NumPy rules); throws naming both shapes when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b);

// ---- reductions (ops_reduce.cpp) ----
Tensor sum(const Tensor& x);                                    // all elements -> scalar
Tensor mean(const Tensor& x);
Tensor sum(const Tensor& x, int dim, bool keepdim = false);     // along one dim
Tensor mean(const Tensor& x, int dim, bool keepdim = false);

// ---- convolution, pooling, normalisation (ops_conv.cpp, ops_pool.cpp, ops_batch_norm.cpp) ----
// x [B, C, H, W], weight [OC, C, KH, KW] (PyTorch layout), bias [OC] or undefined -> [B, OC, OH, OW]
// with OH = (H + 2 padding - KH) / stride + 1. relu = true fuses max(0, .) into the output (the same
// values and gradients as relu(conv2d(...)), one pass fewer over memory).
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t stride = 1, int64_t padding = 0,
              bool relu = false);
// Inference only: y = conv2d(x, weight) * scale + shift per output channel (scale, shift [OC]), then
// max(0, .) when relu, in one pass; used to fold an eval-mode BatchNorm (and a bias) into the
// convolution. Throws when grad mode is on and an input requires a gradient.
Tensor conv2d_affine(const Tensor& x, const Tensor& weight, const Tensor& scale, const Tensor& shift, int64_t stride,
                     int64_t padding, bool relu);
// Square windows; stride 0 means stride = kernel (PyTorch's default). Padding is at most kernel / 2.
Tensor max_pool2d(const Tensor& x, int64_t kernel, int64_t stride = 0, int64_t padding = 0);
Tensor avg_pool2d(const Tensor& x, int64_t kernel, int64_t stride = 0, int64_t padding = 0);  // count_include_pad
Tensor global_avg_pool2d(const Tensor& x);  // [B, C, H, W] -> [B, C, 1, 1], as adaptive_avg_pool2d(x, 1)
// torch.nn.functional.batch_norm for [B, C, H, W] with affine weight and bias [C]. In training it
// normalises with the batch statistics and updates the running ones in place (running = (1 -
// momentum) running + momentum batch, the variance unbiased) and adds 1 to num_batches_tracked (if
// defined); in eval it normalises with the running statistics. relu = true fuses a following ReLU.
Tensor batch_norm2d(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                    const Tensor& running_var, const Tensor& num_batches_tracked, bool training, float momentum = 0.1f,
                    float eps = 1e-5f, bool relu = false);

// ---- softmax family and losses (ops_loss.cpp) ----
Tensor softmax(const Tensor& x, int dim = -1);
Tensor log_softmax(const Tensor& x, int dim = -1);
// Mean cross-entropy of logits [N, C] against class ids [N]; rows whose target equals ignore_index
// are skipped (mean over the rest; 0 when all are ignored), as torch.nn.functional.cross_entropy.
Tensor cross_entropy(const Tensor& logits, const IntTensor& target, int64_t ignore_index = -100);
Tensor mse_loss(const Tensor& pred, const Tensor& target);     // mean squared error

// ---- layer normalisation (ops_layer_norm.cpp) ----
// Layer normalisation over the last dimension, as torch.nn.functional.layer_norm: weight, bias [C].
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, float eps = 1e-5f);

// ---- row gathers (ops_embedding.cpp) ----
// weight [N, C] rows picked by ids (any shape) -> [ids..., C], as torch.nn.functional.embedding:
// the row padding_idx (if >= 0) is looked up normally but never receives a gradient.
Tensor embedding(const IntTensor& ids, const Tensor& weight, int64_t padding_idx = -1);
// x [N, C] rows picked by rows [M] -> [M, C] (x[rows] in PyTorch); gradients scatter-add back.
Tensor index_rows(const Tensor& x, const IntTensor& rows);

// ---- attention (ops_attention.cpp) ----
// Multi-head scaled dot-product attention. q, k, v [B, T, H*D]: head h owns columns [h*D, (h+1)*D)
// (so head h of a projection [H*D, C] is its rows [h*D, (h+1)*D)). key_mask [B, T] holds 1 where a key
// may be attended and 0 at padding (empty: attend everywhere); masked keys get probability exactly 0
// and a query with no key left gets a zero output. head_mask [H] (or undefined) multiplies each head's
// output, as the head_mask of HF BERT: 0 switches a head off, and its gradient is the head-importance
// score of Michel et al. (2019). Dropout with probability dropout_p (when training) applies to the
// attention probabilities, drawing one seed from `rng`. Returns the context [B, T, H*D].
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t n_heads, const IntTensor& key_mask,
                 const Tensor& head_mask, float dropout_p, bool training, Rng& rng = op_rng());

// ---- non-differentiable helpers ----
IntTensor argmax_rows(const Tensor& x);                            // [N, C] -> [N]
int64_t count_correct(const Tensor& logits, const IntTensor& target, int64_t ignore_index = -100);

}  // namespace nn
