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

// ---- softmax family and losses (ops_loss.cpp) ----
Tensor softmax(const Tensor& x, int dim = -1);
Tensor log_softmax(const Tensor& x, int dim = -1);
// Mean cross-entropy of logits [N, C] against class ids [N]; rows whose target equals ignore_index
// are skipped (mean over the rest; 0 when all are ignored), as torch.nn.functional.cross_entropy.
Tensor cross_entropy(const Tensor& logits, const IntTensor& target, int64_t ignore_index = -100);
Tensor mse_loss(const Tensor& pred, const Tensor& target);     // mean squared error

// ---- normalisation (ops_norm.cpp) ----
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
